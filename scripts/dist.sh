#!/usr/bin/env bash
# `make dist`: release archives for every supported target, cross-built on one Linux or macOS
# machine with cargo-zigbuild (zig as the C compiler and linker), then checked and checksummed.
#
#   target/dist/codex-claude-proxy-<version>-<target>.tar.gz   (.zip for Windows)
#   target/dist/SHA256SUMS
#
# Each archive holds one directory with the binary, README.md and LICENSE. What it needs is
# installed without root: rustup targets, cargo-zigbuild (`cargo install --locked`) and zig (the
# `ziglang` PyPI package in a private venv), the last two under $CCP_TOOLS (see
# scripts/tools.sh). Environment: DIST_TARGETS (space-separated subset), CCP_TOOLS, CARGO.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl aarch64-apple-darwin x86_64-apple-darwin x86_64-pc-windows-gnu"
TARGETS=${DIST_TARGETS:-$ALL_TARGETS}
OUT=target/dist
NAME=codex-claude-proxy

WHO=dist
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || die "no version in Cargo.toml"
for t in $TARGETS; do
  case " $ALL_TARGETS " in
  *" $t "*) ;;
  *) die "unsupported target '$t' (supported: $ALL_TARGETS)" ;;
  esac
done
command -v file >/dev/null || die "the 'file' command is needed to check the binaries (apt-get install file)"
command -v python3 >/dev/null || die "python3 is needed (zig comes from PyPI, archives are zipped with it)"

# --- checks ------------------------------------------------------------------------------------
# What `file` must say about each binary: format and CPU; Linux builds must be fully static.
expected_file() {
  case $1 in
  x86_64-unknown-linux-musl) echo 'ELF 64-bit LSB .*x86-64.*(statically linked|static-pie linked)' ;;
  aarch64-unknown-linux-musl) echo 'ELF 64-bit LSB .*ARM aarch64.*(statically linked|static-pie linked)' ;;
  aarch64-apple-darwin) echo 'Mach-O 64-bit .*arm64' ;;
  x86_64-apple-darwin) echo 'Mach-O 64-bit .*x86_64' ;;
  x86_64-pc-windows-gnu) echo 'PE32\+ executable .*x86-64.*MS Windows' ;;
  esac
}

check_binary() {
  local target=$1 bin=$2 desc
  desc=$(file -b "$bin")
  grep -Eq "$(expected_file "$target")" <<<"$desc" || die "$bin is not what $target needs: $desc"
  if grep -Eq 'dynamically linked|interpreter' <<<"$desc"; then
    die "$bin is not statically linked: $desc"
  fi
  if [ "$target" = aarch64-apple-darwin ]; then
    check_signature "$bin"
  fi
  # Run it where this machine can: natively, or through qemu-user for the other Linux CPU.
  local run=()
  case "$target/$(uname -s)/$(uname -m)" in
  x86_64-unknown-linux-musl/Linux/x86_64 | aarch64-unknown-linux-musl/Linux/aarch64) run=("$bin") ;;
  aarch64-apple-darwin/Darwin/arm64 | x86_64-apple-darwin/Darwin/x86_64) run=("$bin") ;;
  aarch64-unknown-linux-musl/Linux/*)
    if command -v qemu-aarch64-static >/dev/null; then
      run=(qemu-aarch64-static "$bin")
    elif command -v qemu-aarch64 >/dev/null; then
      run=(qemu-aarch64 "$bin")
    fi
    ;;
  esac
  if [ ${#run[@]} -gt 0 ]; then
    local v
    v=$("${run[@]}" --version) || die "$bin --version failed"
    case $v in
    "$NAME $version (commit "*", $target)") say "  runs: $v" ;;
    *) die "$bin --version says '$v', expected version $version and target $target" ;;
    esac
  fi
}

# macOS on Apple silicon kills arm64 code without a valid signature. The linker signs ad hoc;
# check that the signature is there and that every page hash matches what was shipped.
check_signature() {
  python3 - "$1" <<'EOF' || die "$1 has no valid code signature: macOS would refuse to run it"
import hashlib, struct, sys
data = open(sys.argv[1], "rb").read()
ncmds = struct.unpack_from("<I", data, 16)[0]
off, sig = 32, None
for _ in range(ncmds):
    cmd, size = struct.unpack_from("<II", data, off)
    if cmd == 0x1D:  # LC_CODE_SIGNATURE
        sig = struct.unpack_from("<II", data, off + 8)
    off += size
if sig is None:
    sys.exit("no LC_CODE_SIGNATURE")
blob = data[sig[0] : sig[0] + sig[1]]
_, _, count = struct.unpack_from(">III", blob, 0)
for i in range(count):
    _, at = struct.unpack_from(">II", blob, 12 + 8 * i)
    if struct.unpack_from(">I", blob, at)[0] != 0xFADE0C02:  # CodeDirectory
        continue
    fields = struct.unpack_from(">IIIIIIIIIBBBB", blob, at)
    hash_off, n_code, limit, hash_size, hash_type, page_bits = (
        fields[4], fields[7], fields[8], fields[9], fields[10], fields[12])
    if hash_type != 2 or limit != sig[0]:  # SHA-256 over everything before the signature
        sys.exit("unexpected code directory")
    page = 1 << page_bits
    for n in range(n_code):
        got = hashlib.sha256(data[n * page : min((n + 1) * page, limit)]).digest()[:hash_size]
        want = blob[at + hash_off + n * hash_size : at + hash_off + (n + 1) * hash_size]
        if got != want:
            sys.exit(f"page {n} does not match its hash")
    sys.exit(0)
sys.exit("no code directory")
EOF
  say "  code signature: valid (ad hoc)"
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

sha256_check() {
  if command -v sha256sum >/dev/null; then sha256sum -c --quiet "$@"; else shasum -a 256 -c --quiet "$@"; fi
}

# --- archives ----------------------------------------------------------------------------------
# Same inputs, same bytes: fixed owner, order and timestamps (the commit's time).
stamp=$(git log -1 --format=%ct 2>/dev/null || echo 315532800)

make_archive() {
  local stage=$1 archive=$2
  case $archive in
  *.zip)
    python3 - "$OUT" "$(basename "$stage")" "$archive" "$stamp" <<'EOF'
import os, sys, time, zipfile
out, top, archive, stamp = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
when = time.gmtime(max(stamp, 315532800))[:6]
with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for name in sorted(os.listdir(os.path.join(out, top))):
        path = os.path.join(out, top, name)
        info = zipfile.ZipInfo(f"{top}/{name}", date_time=when)
        info.external_attr = (os.stat(path).st_mode & 0o777 | 0o100000) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as f:
            z.writestr(info, f.read())
EOF
    ;;
  *)
    local opts=()
    if tar --version 2>/dev/null | grep -q GNU; then
      opts=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$stamp")
    else
      opts=(--uid 0 --gid 0)
    fi
    tar -C "$OUT" "${opts[@]}" -cf - "$(basename "$stage")" | gzip -9n >"$archive"
    ;;
  esac
}

# The names inside an archive, one a line, sorted.
archive_names() {
  case $1 in
  *.zip) python3 -c 'import sys, zipfile; print("\n".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))' "$1" ;;
  *) tar -tzf "$1" | grep -v '/$' | sort ;;
  esac
}

# --- main --------------------------------------------------------------------------------------
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  say "warning: uncommitted changes; --version will name commit $(git rev-parse --short=12 HEAD) all the same"
fi
# shellcheck disable=SC2086 # one word per target
ensure_targets $TARGETS
ensure_zig
ensure_zigbuild

rm -rf "$OUT"
mkdir -p "$OUT"
summary=()
for t in $TARGETS; do
  exe=$NAME
  ext=tar.gz
  case $t in *windows*)
    exe=$NAME.exe
    ext=zip
    ;;
  esac
  say "building $t"
  start=$SECONDS
  "$ZIGBUILD" zigbuild --release --locked --target "$t" --quiet
  secs=$((SECONDS - start))
  bin=target/$t/release/$exe
  check_binary "$t" "$bin"
  stage=$OUT/$NAME-$version-$t
  mkdir -p "$stage"
  cp "$bin" "$stage/$exe"
  cp README.md LICENSE "$stage/"
  archive=$OUT/$NAME-$version-$t.$ext
  make_archive "$stage" "$archive"
  rm -rf "$stage"
  top=$NAME-$version-$t
  want=$(printf '%s\n' "$top/$exe" "$top/LICENSE" "$top/README.md" | sort)
  [ "$(archive_names "$archive")" = "$want" ] || die "$archive does not hold exactly $exe, README.md and LICENSE"
  summary+=("$(printf '%-28s %6.2f MiB binary  %6.2f MiB archive  %4d s' "$t" \
    "$(awk -v b="$(wc -c <"$bin")" 'BEGIN { print b / 1048576 }')" \
    "$(awk -v b="$(wc -c <"$archive")" 'BEGIN { print b / 1048576 }')" "$secs")")
done

(
  cd "$OUT"
  shopt -s nullglob
  sha256 -- *.tar.gz *.zip >SHA256SUMS
)
(cd "$OUT" && sha256_check SHA256SUMS) || die "SHA256SUMS does not verify"
say "done: $OUT"
printf '%s\n' "${summary[@]}"
printf 'SHA256SUMS:\n'
cat "$OUT/SHA256SUMS"
