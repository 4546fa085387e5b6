#!/usr/bin/env bash
# Builds the image store's test image from Debian's busybox-static, with no network and no
# root: the layers are written with Python's tarfile, so they can hold what only root could
# otherwise create (device files, files owned by other users, setuid bits, xattrs).
#
#   layer 1: /bin/busybox and applet symlinks, a hard link, /etc/passwd and /etc/group,
#            /dev/null (char 1:3), a FIFO, a file owned by 1000:1000, a setuid file, a file
#            with a user.* xattr, /etc/removed, /data/opaque/old, /data/kept
#   layer 2: deletes /etc/removed (whiteout), makes /data/opaque opaque (with a new file),
#            adds /etc/added
#   [--big MB] adds a layer of MB MiB of incompressible data (for import benchmarks)
#
# Writes to OUTDIR:
#   busybox-docker.tar       docker-save archive of kedge.test/busybox:1 (2 layers) and
#                            kedge.test/busybox-base:1 (layer 1 alone): a multi-image archive
#   busybox-oci.tar          OCI layout archive of kedge.test/busybox:1, gzip layers, as an
#                            index with this machine's platform and an s390x entry
#   busybox-oci.tar.gz, busybox-oci.tar.zst   the same, compressed
#   oci/                     the OCI layout as a directory (tests push it to a registry)
#   image.json               {"id": config digest, "index": index digest, "arch": …}
#
# Usage: scripts/build-test-image.sh OUTDIR [--big MB]
set -euo pipefail
out=${1:?usage: build-test-image.sh OUTDIR [--big MB]}
big=0
if [ "${2:-}" = "--big" ]; then big=${3:?--big needs a size in MiB}; fi
busybox=/bin/busybox
if ! { command -v dpkg >/dev/null && dpkg -s busybox-static >/dev/null 2>&1 && [ -x "$busybox" ]; }; then
  echo "busybox-static is not installed (apt-get install busybox-static; scripts/test-tools.sh does it)" >&2
  exit 1
fi
command -v zstd >/dev/null || { echo "zstd is not installed" >&2; exit 1; }
mkdir -p "$out"
python3 - "$out" "$busybox" "$big" <<'PY'
import gzip, hashlib, io, json, os, platform, shutil, sys, tarfile

out, busybox, big = sys.argv[1], sys.argv[2], int(sys.argv[3])
MTIME = 1_700_000_000
arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(platform.machine(), platform.machine())
variant = {"arm64": "v8", "arm": "v7"}.get(arch)

def entry(tf, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, link="", dev=(0, 0), pax=None):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, MTIME
    ti.uname = ti.gname = ""
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    if pax:
        ti.pax_headers = pax
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)

def layer(build):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        build(tf)
    return buf.getvalue()

def base(tf):
    D = tarfile.DIRTYPE
    for d, mode in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("dev", 0o755), ("data", 0o755), ("data/opaque", 0o755), ("root", 0o700)]:
        entry(tf, d, D, mode=mode)
    entry(tf, "bin/busybox", data=open(busybox, "rb").read(), mode=0o755)
    for applet in ["sh", "ls", "cat", "echo", "true", "false", "sleep", "id", "stat", "env", "test", "touch", "rm", "mkdir", "ps", "kill", "hostname", "wc", "head"]:
        entry(tf, "bin/" + applet, tarfile.SYMTYPE, link="busybox", mode=0o777)
    entry(tf, "bin/busybox-hardlink", tarfile.LNKTYPE, link="bin/busybox", mode=0o755)
    entry(tf, "bin/suid", data=b"#!/bin/sh\n", mode=0o4755)
    entry(tf, "etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nkedge:x:1000:1000:kedge:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    entry(tf, "etc/group", data=b"root:x:0:\nkedge:x:1000:\nnogroup:x:65534:\n")
    entry(tf, "etc/owned", data=b"owned\n", mode=0o640, uid=1000, gid=1000)
    entry(tf, "etc/xattr", data=b"x\n", pax={"SCHILY.xattr.user.kedge": "yes"})
    entry(tf, "etc/removed", data=b"removed by layer 2\n")
    entry(tf, "dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
    entry(tf, "dev/fifo", tarfile.FIFOTYPE, mode=0o600)
    entry(tf, "data/opaque/old", data=b"hidden by layer 2\n")
    entry(tf, "data/kept", data=b"kept\n")

def upper(tf):
    entry(tf, "etc", tarfile.DIRTYPE, mode=0o755)
    entry(tf, "etc/.wh.removed")
    entry(tf, "etc/added", data=b"added\n")
    entry(tf, "data", tarfile.DIRTYPE, mode=0o755)
    entry(tf, "data/opaque", tarfile.DIRTYPE, mode=0o755)
    entry(tf, "data/opaque/.wh..wh..opq")
    entry(tf, "data/opaque/new", data=b"new\n")

def bigdata(tf):
    entry(tf, "big", tarfile.DIRTYPE, mode=0o755)
    for i in range(big):
        entry(tf, f"big/{i:04}", data=os.urandom(1 << 20))

layers = [layer(base), layer(upper)] + ([layer(bigdata)] if big else [])
sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()
diff_ids = [sha(l) for l in layers]

def config(n, cmd):
    c = {
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/bin", "KEDGE_TEST=1"], "Cmd": cmd, "WorkingDir": "/tmp",
            "User": "0:0", "StopSignal": "SIGQUIT", "ExposedPorts": {"8080/tcp": {}},
            "Labels": {"org.kedge.test": "busybox"},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids[:n]},
    }
    if variant:
        c["variant"] = variant
    return json.dumps(c, sort_keys=True).encode()

full_config, base_config = config(len(layers), ["/bin/sh"]), config(1, ["/bin/true"])

def add_bytes(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = len(data), MTIME, 0o644
    tf.addfile(ti, io.BytesIO(data))

# docker save: <id>/layer.tar, <config hex>.json, manifest.json, repositories
with tarfile.open(os.path.join(out, "busybox-docker.tar"), "w", format=tarfile.PAX_FORMAT) as tf:
    paths = []
    for l in layers:
        lid = hashlib.sha256(l).hexdigest()
        add_bytes(tf, f"{lid}/layer.tar", l)
        add_bytes(tf, f"{lid}/VERSION", b"1.0")
        paths.append(f"{lid}/layer.tar")
    for c in (full_config, base_config):
        add_bytes(tf, hashlib.sha256(c).hexdigest() + ".json", c)
    manifest = [
        {"Config": hashlib.sha256(full_config).hexdigest() + ".json", "RepoTags": ["kedge.test/busybox:1"], "Layers": paths},
        {"Config": hashlib.sha256(base_config).hexdigest() + ".json", "RepoTags": ["kedge.test/busybox-base:1"], "Layers": paths[:1]},
    ]
    add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
    add_bytes(tf, "repositories", b"{}")

# OCI layout: gzip layers, a manifest per platform, an index, index.json
oci = os.path.join(out, "oci")
shutil.rmtree(oci, ignore_errors=True)
os.makedirs(os.path.join(oci, "blobs", "sha256"))
def blob(data):
    d = sha(data)
    with open(os.path.join(oci, "blobs", "sha256", d[7:]), "wb") as f:
        f.write(data)
    return d
gz_layers = [gzip.compress(l, mtime=0) for l in layers]
layer_descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(g), "size": len(g)} for g in gz_layers]
config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(full_config), "size": len(full_config)}
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config_desc, "layers": layer_descs}).encode()
other_config = full_config.replace(f'"architecture": "{arch}"'.encode(), b'"architecture": "s390x"')
other_manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(other_config), "size": len(other_config)},
    "layers": layer_descs}).encode()
platform_ours = {"os": "linux", "architecture": arch}
if variant:
    platform_ours["variant"] = variant
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": blob(other_manifest), "size": len(other_manifest), "platform": {"os": "linux", "architecture": "s390x"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": blob(manifest), "size": len(manifest), "platform": platform_ours},
]}).encode()
index_digest = blob(index)
with open(os.path.join(oci, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(os.path.join(oci, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": len(index),
         "annotations": {"io.containerd.image.name": "kedge.test/busybox:1", "org.opencontainers.image.ref.name": "1"}}]}, f)
with tarfile.open(os.path.join(out, "busybox-oci.tar"), "w", format=tarfile.PAX_FORMAT) as tf:
    for name in ["oci-layout", "index.json"] + ["blobs/sha256/" + n for n in sorted(os.listdir(os.path.join(oci, "blobs", "sha256")))]:
        tf.add(os.path.join(oci, name), arcname=name)
with open(os.path.join(out, "image.json"), "w") as f:
    json.dump({"id": sha(full_config), "base_id": sha(base_config), "index": index_digest, "manifest": sha(manifest),
               "diff_ids": diff_ids, "arch": arch}, f)
PY
gzip -kf -1 "$out/busybox-oci.tar"
zstd -qf -3 "$out/busybox-oci.tar" -o "$out/busybox-oci.tar.zst"
echo "$out"
