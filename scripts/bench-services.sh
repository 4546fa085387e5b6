#!/usr/bin/env bash
# Service proxy benchmark (issue 7, item 5), as root: the rule sync time for 1,000 Services x
# 10 endpoints and for one endpoint change among them, rendered by kedge's service proxy and
# applied with `nft -f -` in a throwaway network namespace (examples/bench_proxy.rs); then TCP
# throughput in that namespace to 127.0.0.2 directly and through a ClusterIP DNAT'd to it,
# ending with `ratio R` (ClusterIP / direct). Loopback makes per-packet NAT costs look larger
# than on a pod's veth.
#
# Not measured yet: DNS queries/s and p99 (cluster DNS), connections/s, and the ratio between
# real pods (which needs a running node).
#
# Usage: sudo scripts/bench-services.sh [--services N] [--endpoints M] [--iterations I]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-services: needs root (a network namespace, nftables)" >&2
  exit 1
fi
command -v nft >/dev/null || { echo "bench-services: needs the nft command (apt-get install nftables)" >&2; exit 1; }
cargo run --release --quiet --example bench_proxy -- "$@"
