#!/usr/bin/env bash
# Pod start latency and idle cost of `kedge server` (issue 6): one pod, then 100 pods created
# at once (p50/p99 creation-to-Running and -Ready), then the server's CPU, RSS and bytes
# written per minute when idle with 0 and with 50 pods, each beside its goal and the
# published k3s figure (scripts/bench-pods.py says how). Runs as root, on a machine where no
# other kedge runs (it uses the node's pod network, cni0 and kedge's nftables tables, and
# removes them afterwards). Before the server starts, the same burst of containers through runc
# alone (examples/bench_runtime --burst) gives the floor container creation sets on this
# machine, and the burst's ratio to it. Takes about four minutes.
#
# Usage: sudo scripts/bench-pods.sh [--pods 100] [--idle-pods 50] [--idle 60] [--server-log FILE]
# Environment: KEDGE_BIN (default: a release build, target/release/kedge, built if missing);
# BENCH_RUNTIME_BIN (default: the release build of examples/bench_runtime, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-pods: needs root (kedge server runs pods)" >&2
  exit 1
fi
bin="${KEDGE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin kedge
  bin="$PWD/target/release/kedge"
fi
if ! command -v runc >/dev/null || ! dpkg -s busybox-static >/dev/null 2>&1; then
  scripts/test-tools.sh >/dev/null
fi
busybox=$(dpkg -L busybox-static | grep '/bin/busybox$' | head -n1)
runtime_bench="${BENCH_RUNTIME_BIN:-}"
if [ -z "$runtime_bench" ]; then
  cargo build --release --quiet --example bench_runtime
  runtime_bench="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/bench_runtime"
fi
python3 -c 'import kubernetes' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check kubernetes >&2
images=$(mktemp -d)
trap 'rm -rf "$images"' EXIT
scripts/build-test-image.sh "$images" >/dev/null
python3 scripts/bench-pods.py --kedge "$bin" --image-archive "$images/busybox-docker.tar" \
  --runtime-bench "$runtime_bench" --busybox "$busybox" "$@"
