#!/usr/bin/env bash
# Benchmarks kedge's container runtime against `runc run` on the same root filesystem (Debian's
# busybox-static as two overlay layers), in one run, as root:
# - the time from "create container" to its process running, and a whole start + exit of
#   /bin/true, for kedge (through a pod's shim) and for runc; then `ratio R` = kedge / runc;
# - a whole pod (shim + namespaces + /bin/true to its exit) for kedge;
# - the shim's private resident memory (Private_Dirty) per pod.
# Goals (issue 5): R <= 0.5, shim <= 2 MB private per pod.
#
# Usage: sudo scripts/bench-runtime.sh [--iterations N]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-runtime: needs root (namespaces, mounts, cgroups)" >&2
  exit 1
fi
command -v runc >/dev/null && dpkg -s busybox-static >/dev/null 2>&1 || scripts/test-tools.sh >/dev/null
busybox=$(dpkg -L busybox-static | grep '/bin/busybox$' | head -n1)
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet --bin kedge --example bench_runtime
"$target/release/examples/bench_runtime" --kedge "$target/release/kedge" --busybox "$busybox" "$@"
echo "runc: $(runc --version | head -n1)"
