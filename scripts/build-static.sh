#!/usr/bin/env bash
# Builds kedge as static, stripped release binaries for x86_64 and aarch64 (musl), and the
# release files install.sh downloads: dist/kedge (amd64), dist/kedge-arm64, and
# dist/sha256sum-<arch>.txt. Prints each binary's size and the time its build took.
#
# On a fresh machine it first installs what it needs: the rustup targets, Zig (PyPI's
# `ziglang`) as the C compiler and linker for both targets (the bundled SQLite and ring's C
# and assembly), and cargo-zigbuild (PyPI's prebuilt `cargo-zigbuild`, else `cargo install`).
#
# Usage: scripts/build-static.sh [amd64|arm64 ...]   (default: both)
# Environment: CARGO_TARGET_DIR (default target/), KEDGE_DIST_DIR (default dist/),
#              KEDGE_MAX_SIZE_MB (default 40: a larger binary fails the build).
set -euo pipefail
cd "$(dirname "$0")/.."

dist="${KEDGE_DIST_DIR:-dist}"
target_dir="${CARGO_TARGET_DIR:-target}"
max_mb="${KEDGE_MAX_SIZE_MB:-40}"
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)

triple() {
  case "$1" in
    amd64) echo x86_64-unknown-linux-musl ;;
    arm64) echo aarch64-unknown-linux-musl ;;
    *) echo "unknown architecture $1 (use amd64 or arm64)" >&2; exit 2 ;;
  esac
}

# The asset name install.sh asks for: `kedge` for amd64, `kedge-<arch>` otherwise (as k3s).
asset() {
  if [ "$1" = amd64 ]; then echo kedge; else echo "kedge-$1"; fi
}

# --- tools ---
for arch in "${arches[@]}"; do
  t=$(triple "$arch")
  if ! rustup target list --installed | grep -qx "$t"; then
    echo "installing the rustup target $t" >&2
    rustup target add "$t" >&2
  fi
done
if ! python3 -m ziglang version >/dev/null 2>&1; then
  echo "installing Zig (PyPI ziglang)" >&2
  python3 -m pip install --quiet --disable-pip-version-check ziglang >&2
fi
if ! command -v cargo-zigbuild >/dev/null; then
  echo "installing cargo-zigbuild" >&2
  python3 -m pip install --quiet --disable-pip-version-check cargo-zigbuild >&2 ||
    cargo install --locked cargo-zigbuild >&2
fi
hash -r

# --- build ---
mkdir -p "$dist"
for arch in "${arches[@]}"; do
  t=$(triple "$arch")
  name=$(asset "$arch")
  echo "building $t ..." >&2
  start=$(date +%s)
  cargo zigbuild --release --locked --target "$t" --bin kedge
  seconds=$(( $(date +%s) - start ))
  built="$target_dir/$t/release/kedge"
  # The release profile strips already; strip again in case a profile override keeps symbols.
  if command -v llvm-strip >/dev/null; then llvm-strip "$built" 2>/dev/null || true; fi
  install -m 0755 "$built" "$dist/$name"
  (cd "$dist" && sha256sum "$name" >"sha256sum-$arch.txt")
  bytes=$(stat -c %s "$dist/$name")
  mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
  echo "$dist/$name: $t, $bytes bytes ($mb MiB), built in ${seconds}s"
  file "$dist/$name" 2>/dev/null || true
  if [ "$bytes" -gt $(( max_mb * 1048576 )) ]; then
    echo "$dist/$name is larger than $max_mb MiB" >&2
    exit 1
  fi
done
