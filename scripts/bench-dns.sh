#!/usr/bin/env bash
# Benchmarks the cluster DNS: queries/s and p50/p99 latency of A lookups of a cluster name,
# from the host, against a node's DNS (examples/bench_dns.rs: threads with a window of UDP
# queries in flight). Goal (issue 7): >= 20,000 queries/s.
#
# Against a running node (what scripts/bench-services.sh does with its own cluster):
#   scripts/bench-dns.sh [--server 10.43.0.10:53] [--name kubernetes.default.svc.cluster.local.]
#                        [--seconds 5] [--threads 2] [--window 64]
# With --start, as root, it first starts a throwaway `kedge server` (its own data dir, the
# agent on) and stops it afterwards; the name defaults to the `kubernetes` Service.
#
# Release builds unless KEDGE_BENCH_PROFILE=dev (a quick check; debug figures are lower).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
start=no
args=()
for arg in "$@"; do
  if [ "$arg" = --start ]; then start=yes; else args+=("$arg"); fi
done

if [ "${KEDGE_BENCH_PROFILE:-release}" = dev ]; then
  cargo build --quiet --bin kedge --example bench_dns
  bin="$target/debug"
else
  cargo build --release --quiet --bin kedge --example bench_dns
  bin="$target/release"
fi

if [ "$start" = yes ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench-dns: --start needs root (the node agent and port 53)" >&2
    exit 1
  fi
  work=$(mktemp -d)
  "$bin/kedge" server --config /dev/null --data-dir "$work/data" \
    --write-kubeconfig "$work/kubeconfig.yaml" --https-listen-port 16443 \
    >"$work/server.log" 2>&1 &
  server=$!
  cleanup() {
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
  }
  trap cleanup EXIT
  for _ in $(seq 1 100); do
    grep -q "cluster DNS is serving" "$work/server.log" && break
    if ! kill -0 "$server" 2>/dev/null; then
      cat "$work/server.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  # The first lists may still be on their way: bench_dns probes once more before measuring.
  sleep 1
fi

"$bin/examples/bench_dns" "${args[@]}"
