#!/usr/bin/env bash
# Service proxy and cluster DNS benchmark (issue 7, item 5), as root.
#
# 1. Rule sync (examples/bench_proxy.rs, in a throwaway network namespace): the table for
#    1,000 Services x 10 endpoints applied whole, then one endpoint change among them (only
#    that Service port re-rendered, one `nft -f -` transaction); render and apply times. Then
#    TCP throughput over loopback directly and through a ClusterIP.
# 2. From a pod (unless --no-pods): a throwaway `kedge server` (its own data dir, the agent
#    on, the busybox test image) runs a sink pod behind a Service and a client pod; inside the
#    client pod's network namespace (nsenter --net), examples/bench_dns.rs measures the
#    cluster DNS (queries/s, p99) and bench_proxy TCP connections/s and throughput to the
#    sink pod directly and through its ClusterIP. The last line holds `ratio R` (ClusterIP /
#    direct throughput between pods).
#
# Step 2 uses the network namespace it runs in (bridge cni0, 10.42.0.0/24, the proxy's table,
# the cluster DNS address 10.43.0.10) and removes them afterwards: run it where no other kedge
# runs, or in a private network namespace.
#
# Goals (issue 7): one change applied in <= 100 ms, ratio >= 0.95, >= 20,000 DNS queries/s.
#
# Usage: sudo scripts/bench-services.sh [--services N] [--endpoints M] [--iterations I] [--no-pods]
# Environment: KEDGE_BENCH_PROFILE=dev for a debug build (a quick check; lower figures),
#   KEDGE_BENCH_DIR: a directory with kedge and examples/bench_{proxy,dns} (nothing is built),
#   KUBECTL (default: kubectl on PATH, else the test tools' kubectl.1.35).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-services: needs root (network namespaces, nftables, pods)" >&2
  exit 1
fi
command -v nft >/dev/null || { echo "bench-services: needs the nft command (apt-get install nftables)" >&2; exit 1; }
pods=yes
args=()
for arg in "$@"; do
  if [ "$arg" = --no-pods ]; then pods=no; else args+=("$arg"); fi
done
target="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -n "${KEDGE_BENCH_DIR:-}" ]; then
  bin="$KEDGE_BENCH_DIR"
elif [ "${KEDGE_BENCH_PROFILE:-release}" = dev ]; then
  cargo build --quiet --bin kedge --example bench_proxy --example bench_dns
  bin="$target/debug"
else
  cargo build --release --quiet --bin kedge --example bench_proxy --example bench_dns
  bin="$target/release"
fi

"$bin/examples/bench_proxy" "${args[@]}"
[ "$pods" = yes ] || exit 0

kubectl="${KUBECTL:-$(command -v kubectl || echo "${KEDGE_TEST_TOOLS:-$HOME/.cache/kedge-test-tools}/kubectl.1.35")}"
[ -x "$kubectl" ] || { echo "bench-services: needs kubectl (scripts/test-tools.sh installs one)" >&2; exit 1; }
work=$(mktemp -d)
mkdir -p "$work/data/agent/images"
scripts/build-test-image.sh "$work/image" >/dev/null
cp "$work/image/busybox-docker.tar" "$work/data/agent/images/"
"$bin/kedge" server --config /dev/null --data-dir "$work/data" \
  --write-kubeconfig "$work/kubeconfig.yaml" --https-listen-port 16443 \
  >"$work/server.log" 2>&1 &
server=$!
sink=""
k() { "$kubectl" --kubeconfig "$work/kubeconfig.yaml" "$@"; }
cleanup() {
  [ -z "$sink" ] || kill "$sink" 2>/dev/null || true
  # The pods first (their sandboxes outlive a stopped server by design), then the server,
  # then the node's network and tables it leaves for running pods.
  k delete pod bench-sink bench-client --grace-period=0 --wait=true >/dev/null 2>&1 || true
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  ip link del cni0 2>/dev/null || true
  ip link del kedge-dns 2>/dev/null || true
  for table in "inet kedge" "ip kedge-proxy"; do
    # shellcheck disable=SC2086 # family and name
    nft delete table $table 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 150); do
  grep -q "kedge server is ready" "$work/server.log" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done

k apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: bench-sink, labels: {app: bench-sink}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: "kedge.test/busybox:1", imagePullPolicy: IfNotPresent, command: ["/bin/busybox", "sleep", "36001"]}
---
apiVersion: v1
kind: Pod
metadata: {name: bench-client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: "kedge.test/busybox:1", imagePullPolicy: IfNotPresent, command: ["/bin/busybox", "sleep", "36002"]}
---
apiVersion: v1
kind: Service
metadata: {name: bench-sink}
spec:
  selector: {app: bench-sink}
  ports: [{port: 80, targetPort: 8080}]
EOF
k wait --for=condition=Ready pod/bench-sink pod/bench-client --timeout=180s >/dev/null

# The pods' processes, by their unique command lines: their network namespaces are the pods'.
pid_of() {
  local p
  for p in /proc/[0-9]*; do
    if [ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "/bin/busybox sleep $1 " ]; then
      echo "${p#/proc/}"
      return
    fi
  done
  echo "bench-services: no process of the pod sleeping $1" >&2
  exit 1
}
sink_pid=$(pid_of 36001)
client_pid=$(pid_of 36002)
pod_ip=$(k get pod bench-sink -o 'jsonpath={.status.podIP}')
cluster_ip=$(k get service bench-sink -o 'jsonpath={.spec.clusterIP}')
nsenter --net="/proc/$sink_pid/ns/net" "$bin/examples/bench_proxy" --sink 0.0.0.0:8080 &
sink=$!
for _ in $(seq 1 150); do
  nft list table ip kedge-proxy 2>/dev/null | grep -q "dnat to $pod_ip:8080" && break
  sleep 0.2
done

echo "from pod bench-client ($(k get pod bench-client -o 'jsonpath={.status.podIP}')), sink pod $pod_ip, ClusterIP $cluster_ip:"
nsenter --net="/proc/$client_pid/ns/net" "$bin/examples/bench_dns" --server 10.43.0.10:53 \
  --name kubernetes.default.svc.cluster.local.
nsenter --net="/proc/$client_pid/ns/net" "$bin/examples/bench_proxy" \
  --direct "$pod_ip:8080" --cluster-ip "$cluster_ip:80"
