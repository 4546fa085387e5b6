#!/usr/bin/env bash
# Image import time (issue 5, item 5): builds a ~100 MB test image (scripts/build-test-image.sh
# with a 100 MiB layer of random data) and times the image store importing it as a
# docker-save archive, a gzip OCI archive and a zstd OCI archive, in a release build.
#
# Usage: scripts/bench-image-import.sh [MiB]   (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
export KEDGE_BENCH_IMPORT_MB="${1:-100}"
cargo test --release --test images -- --ignored --nocapture --exact import_benchmark 2>&1 | grep -E "^import |test result"
