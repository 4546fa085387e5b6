#!/usr/bin/env bash
# Runs every test of kedge. On a fresh machine it first installs what the tests need (none
# beyond the Rust toolchain yet), so it is the one command a newcomer, and CI through
# .ci/run, runs.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --all-targets "$@"
