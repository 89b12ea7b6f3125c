#!/bin/sh
# Installs the prebuilt codex-claude-proxy binary for this OS and CPU, checked against the
# release's SHA256SUMS; never needs root. POSIX sh (dash, bash, busybox sh). Usage: see usage().
set -eu

DEFAULT_REPO=codex-claude-proxy/codex-claude-proxy
NAME=codex-claude-proxy

say() { printf '%s\n' "$*"; }
die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<EOF
Installs the prebuilt codex-claude-proxy binary for this OS and CPU into ~/.local/bin (or
another directory), after checking its SHA-256 against the release's SHA256SUMS. Never needs
root.

  curl -fsSL https://github.com/$DEFAULT_REPO/releases/latest/download/install.sh | sh
  curl -fsSL …/install.sh | sh -s -- --version 0.2.0 --dir ~/bin
  sh install.sh --archive codex-claude-proxy-0.2.0-x86_64-unknown-linux-musl.tar.gz

Options (or environment variables):
  --version V     release to install (CCP_VERSION; default: the latest)
  --dir DIR       where to put the binary (CCP_INSTALL_DIR; default: ~/.local/bin)
  --archive FILE  install this local archive instead of downloading one
  --checksums F   SHA256SUMS for --archive (default: SHA256SUMS beside the archive)
  --repo O/N      GitHub repository to download from (CCP_REPO; default: $DEFAULT_REPO)
  CCP_RELEASES_URL  base URL of the releases (default: https://github.com/REPO/releases)
EOF
  exit 0
}

# The Rust target triple of the prebuilt binary for this machine.
detect_target() {
  os=$(uname -s)
  cpu=$(uname -m)
  case $cpu in
  x86_64 | amd64) cpu=x86_64 ;;
  aarch64 | arm64) cpu=aarch64 ;;
  *) die "no prebuilt binary for the CPU '$cpu'; build from source: cargo install --git https://github.com/$REPO" ;;
  esac
  case $os in
  Linux) echo "$cpu-unknown-linux-musl" ;;
  Darwin)
    # A shell running under Rosetta reports x86_64 on an Apple silicon Mac: take the native one.
    if [ "$cpu" = x86_64 ] && [ "$(sysctl -n hw.optional.arm64 2>/dev/null || echo 0)" = 1 ]; then
      cpu=aarch64
    fi
    echo "$cpu-apple-darwin"
    ;;
  MINGW* | MSYS* | CYGWIN*)
    [ "$cpu" = x86_64 ] || die "no prebuilt binary for Windows on '$cpu'"
    echo "x86_64-pc-windows-gnu"
    ;;
  *) die "no prebuilt binary for '$os'; build from source: cargo install --git https://github.com/$REPO" ;;
  esac
}

# fetch URL FILE: downloads URL to FILE (curl or wget), failing on HTTP errors.
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl --proto '=https,http' -fsSL -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "neither curl nor wget is installed; download the archive yourself and use --archive"
  fi
}

# The version of the latest release, from where .../releases/latest redirects to (.../tag/vX).
latest_version() {
  if command -v curl >/dev/null 2>&1; then
    url=$(curl --proto '=https,http' -fsSLI -o /dev/null -w '%{url_effective}' "$RELEASES/latest") ||
      die "cannot reach $RELEASES/latest"
  elif command -v wget >/dev/null 2>&1; then
    url=$(wget -q -S --spider "$RELEASES/latest" 2>&1 | sed -n 's/^ *[Ll]ocation: *//p' | tail -n 1 | tr -d '\r')
  else
    die "neither curl nor wget is installed; download the archive yourself and use --archive"
  fi
  v=${url##*/tag/}
  v=${v#v}
  case $v in
  '' | */* | *' '*) die "cannot tell the latest version from $RELEASES/latest (got '$url'); pass --version" ;;
  esac
  echo "$v"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
  else
    die "no sha256sum, shasum or openssl to verify the download with"
  fi
}

# verify ARCHIVE SUMS: the archive's SHA-256 must be the one SUMS lists for its name.
verify() {
  base=$(basename "$1")
  want=$(awk -v f="$base" '$2 == f || $2 == "*" f { print $1; exit }' "$2")
  [ -n "$want" ] || die "$2 has no checksum for $base; nothing installed"
  got=$(sha256_of "$1")
  [ "$got" = "$want" ] || die "checksum mismatch for $base (expected $want, got $got): the file is corrupt or not the release; nothing installed"
}

# How to put DIR on PATH for the user's shell, if it is not there.
path_hint() {
  case ":$PATH:" in
  *":$1:"*) return ;;
  esac
  shown=$1
  case $1 in "$HOME"/*) shown="\$HOME${1#"$HOME"}" ;; esac
  say ""
  say "$1 is not on your PATH. Add it:"
  case ${SHELL:-} in
  */fish) say "  fish_add_path $shown" ;;
  */zsh) say "  echo 'export PATH=\"$shown:\$PATH\"' >> ~/.zshrc && exec zsh" ;;
  */bash) say "  echo 'export PATH=\"$shown:\$PATH\"' >> ~/.bashrc && exec bash" ;;
  *) say "  echo 'export PATH=\"$shown:\$PATH\"' >> ~/.profile   (then log in again)" ;;
  esac
}

main() {
  VERSION=${CCP_VERSION:-}
  DIR=${CCP_INSTALL_DIR:-}
  REPO=${CCP_REPO:-$DEFAULT_REPO}
  ARCHIVE=
  SUMS=
  while [ $# -gt 0 ]; do
    case $1 in
    -h | --help) usage ;;
    --version | --dir | --archive | --checksums | --repo)
      [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"
      case $1 in
      --version) VERSION=$2 ;;
      --dir) DIR=$2 ;;
      --archive) ARCHIVE=$2 ;;
      --checksums) SUMS=$2 ;;
      --repo) REPO=$2 ;;
      esac
      shift 2
      ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
  done
  if [ -z "$DIR" ]; then
    [ -n "${HOME:-}" ] || die "HOME is not set; pass --dir"
    DIR=$HOME/.local/bin
  fi
  RELEASES=${CCP_RELEASES_URL:-https://github.com/$REPO/releases}
  RELEASES=${RELEASES%/}

  tmp=$(mktemp -d 2>/dev/null || mktemp -d -t ccp-install)
  partial=
  trap 'rm -rf "$tmp"; [ -z "$partial" ] || rm -f "$partial"' EXIT
  trap 'exit 130' INT TERM

  if [ -n "$ARCHIVE" ]; then
    [ -f "$ARCHIVE" ] || die "no such archive: $ARCHIVE"
    [ -n "$SUMS" ] || SUMS=$(dirname "$ARCHIVE")/SHA256SUMS
    [ -f "$SUMS" ] || die "no checksums file $SUMS to verify $ARCHIVE with; pass --checksums FILE"
    file=$ARCHIVE
  else
    target=$(detect_target)
    ext=tar.gz
    case $target in *windows*) ext=zip ;; esac
    if [ -z "$VERSION" ]; then
      VERSION=$(latest_version)
    fi
    VERSION=${VERSION#v}
    base=$NAME-$VERSION-$target.$ext
    say "Downloading $base"
    fetch "$RELEASES/download/v$VERSION/$base" "$tmp/$base" ||
      die "cannot download $RELEASES/download/v$VERSION/$base (is $VERSION a released version?)"
    fetch "$RELEASES/download/v$VERSION/SHA256SUMS" "$tmp/SHA256SUMS" ||
      die "cannot download $RELEASES/download/v$VERSION/SHA256SUMS"
    file=$tmp/$base
    SUMS=$tmp/SHA256SUMS
  fi

  verify "$file" "$SUMS"
  mkdir "$tmp/x"
  case $file in
  *.zip)
    command -v unzip >/dev/null 2>&1 || die "unzip is needed to unpack $file"
    unzip -q "$file" -d "$tmp/x"
    ;;
  *.tar.gz | *.tgz) tar -xzf "$file" -C "$tmp/x" ;;
  *) die "$file is neither a .tar.gz nor a .zip" ;;
  esac
  exe=$NAME
  case $file in *.zip) exe=$NAME.exe ;; esac
  bin=
  for f in "$tmp"/x/*/"$exe" "$tmp/x/$exe"; do
    if [ -f "$f" ]; then
      bin=$f
      break
    fi
  done
  [ -n "$bin" ] || die "$file holds no $exe"

  mkdir -p "$DIR" || die "cannot create $DIR; pick another with --dir"
  # Copy next to the target, then rename over it: a running proxy keeps its old file intact.
  partial=$DIR/.$exe.new.$$
  cp "$bin" "$partial" || die "cannot write to $DIR; pick another with --dir"
  chmod 755 "$partial"
  mv -f "$partial" "$DIR/$exe" || die "cannot replace $DIR/$exe"
  partial=
  say "Installed $DIR/$exe"
  if v=$("$DIR/$exe" --version 2>/dev/null); then
    say "  $v"
  fi
  path_hint "$DIR"
}

main "$@"
