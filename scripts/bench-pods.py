#!/usr/bin/env python3
"""Pod start and idle-cost benchmark for `kedge server` (issue 6, item 6); run it through
scripts/bench-pods.sh, which builds what it needs and runs this as root.

It starts a throwaway `kedge server` (agent on, its own data dir, the busybox test image
placed in agent/images so nothing is pulled) and measures, from a watch with the official
Python client:
  - one pod: creation-to-Running and creation-to-Ready;
  - 100 pods created at once (concurrent POSTs): p50 and p99 of the same;
  - the server process's CPU (% of one core over --idle seconds) and RSS when idle with 0 and
    with 50 running pods, and the bytes it writes to storage per minute at idle
    (/proc/<pid>/io write_bytes: the datastore and its WAL, logs of the server itself);
and prints each figure beside its goal and the published peer figure it is judged against
(k3s server+agent idle: 5% of a core and 1,428 MB; upstream pod-startup SLO p99 <= 5 s). k3s
itself cannot run here (no network to fetch it), so the peer column is its published figure.

With --runtime-bench (examples/bench_runtime) and --busybox, it first measures the floor that
container creation alone sets on this machine: the same number of containers started at once
through runc (`runc run -d` on an overlay of busybox, no API server, kubelet or pod network; 4
at a time, which is faster than all at once on 2 cores), and prints the burst's ratio to it.
"""

import re

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from kubernetes import client, config, watch

IMAGE = "kedge.test/busybox:1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pod_manifest(name, labels):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "c",
                "image": IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/busybox", "sleep", "100000"],
            }],
        },
    }


class Watcher:
    """Records the first time each pod is seen bound to the node, Running and Ready. It reads
    the watch's JSON lines itself: the client's model classes cost milliseconds per event,
    which would be counted in the pods' latency."""

    def __init__(self, api, namespace):
        self.scheduled, self.running, self.ready = {}, {}, {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.api, self.namespace = api, namespace
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                stream = self.api.list_namespaced_pod(
                    self.namespace, watch=True, timeout_seconds=5, _preload_content=False)
                for line in stream:
                    now = time.monotonic()
                    pod = json.loads(line)["object"]
                    name = pod["metadata"]["name"]
                    status = pod.get("status", {})
                    with self.lock:
                        if pod.get("spec", {}).get("nodeName"):
                            self.scheduled.setdefault(name, now)
                        if status.get("phase") == "Running":
                            self.running.setdefault(name, now)
                        if any(c["type"] == "Ready" and c["status"] == "True"
                               for c in status.get("conditions") or []):
                            self.ready.setdefault(name, now)
                    if self.stop.is_set():
                        break
            except Exception:  # a dropped watch is reopened
                time.sleep(0.1)

    def wait_for(self, names, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(n in self.ready and n in self.running for n in names):
                    return
            time.sleep(0.02)
        raise SystemExit(f"bench-pods: pods not Ready within {timeout} s")


def shims(state_dir):
    """The pids of the `kedge shim` processes running pods of this data dir."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[1:2] == [b"shim"] and state_dir.encode() in argv:
            pids.append(int(entry))
    return pids


def percentile(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def create_at_once(api, namespace, names, labels):
    sent = {}

    def create(name):
        sent[name] = time.monotonic()
        api.create_namespaced_pod(namespace, pod_manifest(name, labels), _preload_content=False)

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(create, names))
    return sent


def proc_sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    written = 0
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                written = int(line.split()[1])
    return ticks, rss, written


def idle(pid, seconds):
    hz = os.sysconf("SC_CLK_TCK")
    t0, _, w0 = proc_sample(pid)
    start = time.monotonic()
    time.sleep(seconds)
    t1, rss, w1 = proc_sample(pid)
    elapsed = time.monotonic() - start
    cpu = (t1 - t0) / hz / elapsed * 100
    per_minute = (w1 - w0) / elapsed * 60
    return cpu, rss, per_minute


def runc_floor(runtime_bench, kedge, busybox, pods):
    """p50 and p99 (ms) of `pods` runc containers started at once, from bench_runtime --burst."""
    out = subprocess.run(
        [runtime_bench, "--kedge", kedge, "--busybox", busybox, "--burst", str(pods),
         "--parallel", "4"],
        check=True, capture_output=True, text=True).stdout
    found = re.search(r"^runc\s+p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms", out, re.M)
    if not found:
        raise SystemExit("bench-pods: no runc figures in bench_runtime's output:\n" + out)
    return float(found.group(1)), float(found.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kedge", required=True)
    ap.add_argument("--image-archive", required=True)
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--idle-pods", type=int, default=50)
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of each idle measurement")
    ap.add_argument("--server-log", help="keep the server's log here (with KEDGE_LOG="
                    "info,kedge::agent::kubelet=debug it has each pod's start, step by step)")
    ap.add_argument("--runtime-bench", help="examples/bench_runtime, for the runc floor")
    ap.add_argument("--busybox", help="a static busybox, for the runc floor")
    args = ap.parse_args()

    floor = None
    if args.runtime_bench and args.busybox:
        floor = runc_floor(args.runtime_bench, args.kedge, args.busybox, args.pods)

    work = tempfile.mkdtemp(prefix="bench-pods-")
    data = os.path.join(work, "data")
    os.makedirs(os.path.join(data, "agent", "images"))
    shutil.copy(args.image_archive, os.path.join(data, "agent", "images"))
    kubeconfig = os.path.join(work, "kubeconfig")
    port = free_port()
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen(
        [args.kedge, "server", "--config", "/dev/null", "--data-dir", data,
         "--write-kubeconfig", kubeconfig, "--https-listen-port", str(port)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(kubeconfig):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench-pods: the server did not start; see " + log.name)
            time.sleep(0.05)
        config.load_kube_config(kubeconfig)
        api = client.CoreV1Api()
        while True:
            nodes = api.list_node().items
            if nodes and any(c.type == "Ready" and c.status == "True" for c in nodes[0].status.conditions or []):
                break
            time.sleep(0.2)
        ns = "bench"
        api.create_namespace({"metadata": {"name": ns}})
        while True:  # the namespace's service account, which admission waits for
            try:
                api.read_namespaced_service_account("default", ns)
                break
            except client.ApiException:
                time.sleep(0.05)
        watcher = Watcher(api, ns)
        time.sleep(0.5)

        # Warm-up (first pod sets up the pod network), then one pod alone.
        create_at_once(api, ns, ["warm"], {"set": "warm"})
        watcher.wait_for(["warm"])
        sent = create_at_once(api, ns, ["one"], {"set": "one"})
        watcher.wait_for(["one"])
        one_running = (watcher.running["one"] - sent["one"]) * 1000
        one_ready = (watcher.ready["one"] - sent["one"]) * 1000
        api.delete_collection_namespaced_pod(ns, label_selector="set in (warm,one)", grace_period_seconds=0)

        names = [f"burst-{i}" for i in range(args.pods)]
        ticks0 = proc_sample(server.pid)[0]
        sent = create_at_once(api, ns, names, {"set": "burst"})
        watcher.wait_for(names, timeout=300)
        burst_cpu = (proc_sample(server.pid)[0] - ticks0) / os.sysconf("SC_CLK_TCK") * 1000
        scheduled = [(watcher.scheduled[n] - sent[n]) * 1000 for n in names]
        running = [(watcher.running[n] - sent[n]) * 1000 for n in names]
        ready = [(watcher.ready[n] - sent[n]) * 1000 for n in names]
        api.delete_collection_namespaced_pod(ns, label_selector="set=burst", grace_period_seconds=0)
        deadline = time.monotonic() + 120
        while api.list_namespaced_pod(ns).items and time.monotonic() < deadline:
            time.sleep(0.5)
        watcher.stop.set()

        time.sleep(5)
        cpu0, rss0, w0 = idle(server.pid, args.idle)
        names = [f"idle-{i}" for i in range(args.idle_pods)]
        watcher = Watcher(api, ns)
        create_at_once(api, ns, names, {"set": "idle"})
        watcher.wait_for(names, timeout=300)
        watcher.stop.set()
        time.sleep(10)
        cpu50, rss50, w50 = idle(server.pid, args.idle)

        print(f"pods: 1 pod: creation-to-Running {one_running:.0f} ms, creation-to-Ready {one_ready:.0f} ms")
        print(f"pods: {args.pods} at once: creation-to-Running p50 {statistics.median(running):.0f} ms "
              f"p99 {percentile(running, 99):.0f} ms; creation-to-Ready p50 {statistics.median(ready):.0f} ms "
              f"p99 {percentile(ready, 99):.0f} ms (goals: p50 <= 150 ms, p99 <= 1000 ms; upstream SLO p99 <= 5000 ms)")
        if floor:
            print(f"floor (runc alone, {args.pods} containers started at once, 4 at a time, no API server, "
                  f"kubelet or pod network): p50 {floor[0]:.0f} ms p99 {floor[1]:.0f} ms; "
                  f"ratio creation-to-Running / floor: p50 {statistics.median(running) / floor[0]:.2f} "
                  f"p99 {percentile(running, 99) / floor[1]:.2f}")
        print(f"pods: {args.pods} at once: creation-to-scheduled p50 {statistics.median(scheduled):.0f} ms "
              f"p99 {percentile(scheduled, 99):.0f} ms; all created within "
              f"{(max(sent.values()) - min(sent.values())) * 1000:.0f} ms; kedge server's CPU "
              f"{burst_cpu / args.pods:.1f} ms per pod (API server, scheduler, controllers, kubelet; "
              f"not the pods' shims)")
        print(f"idle, 0 pods: CPU {cpu0:.2f}% of a core, RSS {rss0 / 1e6:.1f} MB, "
              f"{w0 / 1e3:.1f} kB written per minute (goals: <= 1%, <= 100 MB)")
        print(f"idle, {args.idle_pods} pods: CPU {cpu50:.2f}% of a core, RSS {rss50 / 1e6:.1f} MB, "
              f"{w50 / 1e3:.1f} kB written per minute")
        print(f"peer (k3s server+agent idle, published, 4-core x86): CPU 5% of a core, RSS 1428 MB; "
              f"ratio CPU {cpu0 / 5:.3f}, RSS {rss0 / 1e6 / 1428:.3f}")
    finally:
        # The pods first (their sandboxes outlive a stopped server by design), then the server,
        # then the node's network (bridge, nftables tables) it leaves for running pods.
        try:
            api.delete_collection_namespaced_pod("bench", grace_period_seconds=0)
            deadline = time.monotonic() + 120
            while api.list_namespaced_pod("bench").items and time.monotonic() < deadline:
                time.sleep(0.5)
        except Exception as error:  # the server may not have come up
            print(f"bench-pods: cannot delete the pods: {error}", file=sys.stderr)
        # A pod deleted with no grace leaves the API at once; its sandbox goes a moment later.
        # Stopped before that, the server would leave it running for a next start that never
        # comes (the data dir is thrown away), and the next benchmark would share the machine
        # with it.
        state = os.path.join(data, "agent", "pods")
        deadline = time.monotonic() + 60
        while shims(state) and time.monotonic() < deadline:
            time.sleep(0.2)
        if shims(state):
            print(f"bench-pods: pod sandboxes still running after 60 s: shim pids {shims(state)}",
                  file=sys.stderr)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", "cni0"], stderr=subprocess.DEVNULL)
        for table in (["inet", "kedge"], ["ip", "kedge-proxy"]):
            subprocess.run(["nft", "delete", "table", *table], stderr=subprocess.DEVNULL)
        if args.server_log:
            shutil.copy(os.path.join(work, "server.log"), args.server_log)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
