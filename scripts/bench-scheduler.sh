#!/usr/bin/env bash
# Benchmarks kedge's scheduler over HTTPS: 1,000 nodes (Leases renewed every 10 s), 10,000
# pods created by 32 clients, a light simulated kubelet marking bound pods Running and
# Ready; prints pods scheduled per second, placement quality (pods per node max - min, nodes
# over their allocatable), the server's CPU time and RSS, and — when this build has a
# Deployment controller — the time for a 1,000-replica Deployment to become available.
#
# Goal (issue 4): >= 1,000 pods/s scheduled with 1,000 nodes (upstream's scheduler
# throughput threshold is 100 pods/s).
#
# Usage: scripts/bench-scheduler.sh [--nodes N] [--pods P] [--clients C]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
CARGO_TARGET_DIR="$target" cargo build --release --quiet
CARGO_TARGET_DIR="$target/bench-scheduler" cargo build --release --quiet --manifest-path scripts/bench-scheduler/Cargo.toml
"$target/bench-scheduler/release/bench-scheduler" --kedge "$target/release/kedge" "$@"
