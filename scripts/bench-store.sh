#!/usr/bin/env bash
# Benchmarks kedge's embedded datastore against etcd under one workload, side by side in one
# run, and prints writes/s, p50/p99 latency, list time, disk bytes written, and
# "ratio R" = kedge writes/s / etcd writes/s (goal: R >= 2).
#
# Usage: scripts/bench-store.sh [--count N] [--writers W] [--lists L]
# Installs Debian's etcd-server if it is missing. Runs etcd on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcd >/dev/null; then
  echo "installing etcd-server (Debian package)..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
fi
if ! command -v protoc >/dev/null; then
  # etcd-client generates its gRPC code at build time.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
fi

export CARGO_TARGET_DIR="$PWD/target/bench-store"
cargo build --release --quiet --manifest-path scripts/bench-store/Cargo.toml

work=$(mktemp -d /tmp/kedge-bench-store.XXXXXX)
etcd_pid=""
cleanup() {
  if [ -n "$etcd_pid" ]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Ports away from the defaults so a running etcd or kedge is left alone.
client_url=http://127.0.0.1:23790
etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls "$client_url" --advertise-client-urls "$client_url" \
  --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster bench=http://127.0.0.1:23800 --log-level error >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 100); do
  if ETCDCTL_API=3 etcdctl --endpoints "$client_url" endpoint health >/dev/null 2>&1; then break; fi
  sleep 0.1
done

"$CARGO_TARGET_DIR/release/bench-store" --kedge-dir "$work/kedge" --etcd "$client_url" --etcd-pid "$etcd_pid" "$@"
