//! The image store against real archives and registries: the test image from
//! scripts/build-test-image.sh imported as docker-save and OCI archives (plain, gzip, zstd),
//! pulled from Debian's docker-registry on loopback (plain HTTP through a mirror entry, HTTPS
//! with basic auth), and from an in-process registry for the bearer-token flow, pull
//! deduplication and an interrupted download; whiteouts checked in a real overlay mount.

#[path = "images/fake_registry.rs"]
mod fake_registry;
#[path = "images/support.rs"]
mod support;

use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kedge::runtime::images::gc::DiskUsage;
use kedge::runtime::images::registries::Basic;
use kedge::runtime::images::{GcReport, ImageError, ImageStore, Registries};
use support::{Registry, RegistryOptions, image_facts, is_root, test_image};
use tokio_util::sync::CancellationToken;

fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("agent")).unwrap();
    (dir, store)
}

/// A store holding the test archive's two images.
fn store_with_test_image(fixture: &Path) -> (tempfile::TempDir, ImageStore) {
    let (dir, store) = store();
    store
        .import_archive(&fixture.join("busybox-docker.tar"))
        .unwrap();
    (dir, store)
}

fn registries(yaml: &str) -> Registries {
    Registries::parse(yaml, Path::new("registries.yaml")).unwrap()
}

/// Checks the unpacked layers of the two-layer test image.
fn check_layers(store: &ImageStore, name: &str) {
    let image = store
        .get(name)
        .unwrap_or_else(|| panic!("{name} not in the store"));
    let layers = store.layers(&image).unwrap();
    assert_eq!(layers.len(), 2);
    let (top, base) = (&layers[0], &layers[1]);
    let busybox = std::fs::metadata(base.join("bin/busybox")).unwrap();
    assert_eq!(busybox.mode() & 0o7777, 0o755);
    let hardlink = std::fs::metadata(base.join("bin/busybox-hardlink")).unwrap();
    assert_eq!(busybox.ino(), hardlink.ino(), "hard link preserved");
    assert_eq!(
        std::fs::read_link(base.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::metadata(base.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        std::fs::metadata(base.join("bin/suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(std::fs::read(top.join("etc/added")).unwrap(), b"added\n");
    let fifo = std::fs::symlink_metadata(base.join("dev/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    if is_root() {
        let owned = std::fs::metadata(base.join("etc/owned")).unwrap();
        assert_eq!(
            (owned.uid(), owned.gid(), owned.mode() & 0o777),
            (1000, 1000, 0o640)
        );
        let null = std::fs::symlink_metadata(base.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
        let whiteout = std::fs::symlink_metadata(top.join("etc/removed")).unwrap();
        assert!(
            whiteout.file_type().is_char_device(),
            "whiteout is a 0/0 char device"
        );
        assert_eq!(whiteout.rdev(), 0);
        assert!(!top.join("etc/.wh.removed").exists());
        assert_eq!(
            xattr::get(top.join("data/opaque"), "trusted.overlay.opaque")
                .unwrap()
                .as_deref(),
            Some(&b"y"[..])
        );
        assert!(!top.join("data/opaque/.wh..wh..opq").exists());
        assert_eq!(
            xattr::get(base.join("etc/xattr"), "user.kedge")
                .unwrap()
                .as_deref(),
            Some(&b"yes"[..])
        );
    } else {
        assert!(
            top.join("etc/.wh.removed").exists(),
            "whiteouts stay in OCI form without root"
        );
    }
    let config = &image.config;
    assert_eq!(config.cmd.as_deref(), Some(&["/bin/sh".to_string()][..]));
    assert_eq!(config.env, ["PATH=/bin", "KEDGE_TEST=1"]);
    assert_eq!(config.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(config.user.as_deref(), Some("0:0"));
    assert_eq!(config.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(config.exposed_ports, ["8080/tcp"]);
    assert_eq!(
        config.labels.get("org.kedge.test").map(String::as_str),
        Some("busybox")
    );
}

#[test]
fn imports_a_docker_save_archive_with_two_images_sharing_a_layer() {
    let Some(fixture) = test_image() else { return };
    let facts = image_facts(fixture);
    let (_dir, store) = store();
    let refs = store
        .import_archive(&fixture.join("busybox-docker.tar"))
        .unwrap();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0].id.to_string(), facts["id"].as_str().unwrap());
    assert_eq!(refs[0].names, ["kedge.test/busybox:1"]);
    assert_eq!(refs[1].names, ["kedge.test/busybox-base:1"]);
    check_layers(&store, "kedge.test/busybox:1");
    let base = store.get("kedge.test/busybox-base:1").unwrap();
    let full = store.get(facts["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        store.layers(&base).unwrap()[0],
        store.layers(&full).unwrap()[1],
        "the shared layer is unpacked once"
    );
    let snapshots = std::fs::read_dir(store.root().join("snapshots"))
        .unwrap()
        .count();
    assert_eq!(snapshots, 2);
    // Importing again changes nothing.
    assert_eq!(
        store
            .import_archive(&fixture.join("busybox-docker.tar"))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.list().len(), 2);
    // The records survive a reopen.
    let reopened = ImageStore::open(store.root()).unwrap();
    assert_eq!(reopened.list().len(), 2);
}

#[test]
fn imports_oci_archives_plain_gzip_and_zstd() {
    let Some(fixture) = test_image() else { return };
    let facts = image_facts(fixture);
    for file in [
        "busybox-oci.tar",
        "busybox-oci.tar.gz",
        "busybox-oci.tar.zst",
    ] {
        let (_dir, store) = store();
        let refs = store.import_archive(&fixture.join(file)).unwrap();
        assert_eq!(
            refs.len(),
            1,
            "{file}: the s390x entry of the index is not this node's"
        );
        assert_eq!(
            refs[0].id.to_string(),
            facts["id"].as_str().unwrap(),
            "{file}"
        );
        assert_eq!(refs[0].names, ["kedge.test/busybox:1"]);
        check_layers(&store, "kedge.test/busybox:1");
        let image = store.get("kedge.test/busybox:1").unwrap();
        assert_eq!(
            image.layers[0].media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let repo_digest = format!("kedge.test/busybox@{}", facts["index"].as_str().unwrap());
        assert_eq!(image.repo_digests, std::slice::from_ref(&repo_digest));
        assert_eq!(store.get(&repo_digest).unwrap().id, image.id);
    }
}

#[test]
fn a_corrupt_archive_is_refused_and_leaves_no_image() {
    let Some(fixture) = test_image() else { return };
    let (dir, store) = store();
    let mut bytes = std::fs::read(fixture.join("busybox-oci.tar")).unwrap();
    // Flip a byte in the middle of the archive (inside a layer blob).
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let corrupt = dir.path().join("corrupt.tar");
    std::fs::write(&corrupt, bytes).unwrap();
    let err = store.import_archive(&corrupt).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::DigestMismatch { .. } | ImageError::Archive { .. } | ImageError::Io { .. }
        ),
        "{err}"
    );
    assert!(store.list().is_empty());
    let empty = dir.path().join("empty.tar");
    std::fs::write(&empty, [0u8; 1024]).unwrap();
    assert!(matches!(
        store.import_archive(&empty),
        Err(ImageError::Archive { .. })
    ));
}

#[test]
fn whiteouts_hide_files_in_an_overlay_mount() {
    let Some(fixture) = test_image() else { return };
    if !is_root() {
        assert!(!support::in_ci(), "CI runs as root");
        eprintln!("skipped: mounting overlayfs needs root");
        return;
    }
    let (dir, store) = store_with_test_image(fixture);
    let image = store.get("kedge.test/busybox:1").unwrap();
    let lower: Vec<String> = store
        .layers(&image)
        .unwrap()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (upper, work, merged) = (
        dir.path().join("upper"),
        dir.path().join("work"),
        dir.path().join("merged"),
    );
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d).unwrap();
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &options])
        .arg(&merged)
        .status()
        .unwrap();
    assert!(status.success(), "mount overlay");
    let seen = || {
        assert!(
            !merged.join("etc/removed").exists(),
            "whiteout hides etc/removed"
        );
        assert!(
            !merged.join("data/opaque/old").exists(),
            "opaque dir hides the lower content"
        );
        assert_eq!(
            std::fs::read(merged.join("data/opaque/new")).unwrap(),
            b"new\n"
        );
        assert_eq!(std::fs::read(merged.join("data/kept")).unwrap(), b"kept\n");
        assert!(merged.join("bin/busybox").exists());
        assert_eq!(std::fs::read(merged.join("etc/added")).unwrap(), b"added\n");
    };
    let result = std::panic::catch_unwind(seen);
    let _ = Command::new("umount").arg(&merged).status();
    result.unwrap();
}

/// Garbage collection with nothing in use, at 85/80% and `available` of 100 bytes free.
fn collect_at(store: &ImageStore, available: u64) -> GcReport {
    let mut usage = || {
        Ok(DiskUsage {
            capacity: 100,
            available,
        })
    };
    store
        .collect_with(85, 80, &HashSet::new(), &mut usage)
        .unwrap()
}

#[test]
fn removal_and_garbage_collection_keep_shared_and_used_content() {
    let Some(fixture) = test_image() else { return };
    let facts = image_facts(fixture);
    let (_dir, store) = store_with_test_image(fixture);
    let full = store.get("kedge.test/busybox:1").unwrap();
    let base = store.get("kedge.test/busybox-base:1").unwrap();
    let base_layer = store.layers(&base).unwrap()[0].clone();
    let top_layer = store.layers(&full).unwrap()[0].clone();

    // Below the high threshold nothing happens.
    assert!(collect_at(&store, 50).removed.is_empty());

    // Above it, unused images go, least recently used first; the used one stays.
    let in_use: HashSet<_> = [base.id.clone()].into();
    let mut available = 10;
    let mut shrinking = || {
        available += 20;
        Ok(DiskUsage {
            capacity: 100,
            available: available - 20,
        })
    };
    let report = store.collect_with(85, 80, &in_use, &mut shrinking).unwrap();
    assert_eq!(report.removed, std::slice::from_ref(&full.id));
    assert!(
        !top_layer.exists(),
        "the removed image's own layer is deleted"
    );
    assert!(
        base_layer.exists(),
        "the shared layer stays for the image in use"
    );
    assert_eq!(store.list().len(), 1);

    // Removal by name for the CLI.
    store.remove("kedge.test/busybox-base:1").unwrap();
    assert!(store.list().is_empty());
    assert!(!base_layer.exists());
    assert_eq!(
        std::fs::read_dir(store.root().join("content/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert!(matches!(
        store.remove("kedge.test/busybox-base:1"),
        Err(ImageError::NotFound(_))
    ));
    let _ = facts;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_directory_is_watched() {
    let Some(fixture) = test_image() else { return };
    let (dir, store) = store();
    let images_dir = dir.path().join("agent/images");
    std::fs::create_dir_all(&images_dir).unwrap();
    std::fs::copy(
        fixture.join("busybox-docker.tar"),
        images_dir.join("busybox.tar"),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let watcher = {
        let store = store.clone();
        let images_dir = images_dir.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { store.watch_import_dir(&images_dir, shutdown).await })
    };
    wait_for(|| store.get("kedge.test/busybox-base:1").is_some()).await;
    // A file that appears later is imported too.
    store.remove("kedge.test/busybox:1").unwrap();
    std::fs::copy(
        fixture.join("busybox-oci.tar.zst"),
        images_dir.join("oci.tar.zst"),
    )
    .unwrap();
    wait_for(|| store.get("kedge.test/busybox:1").is_some()).await;
    shutdown.cancel();
    watcher.await.unwrap().unwrap();
    let state = std::fs::read_to_string(store.root().join("import-state.json")).unwrap();
    assert!(
        state.contains("busybox.tar") && state.contains("oci.tar.zst"),
        "{state}"
    );
    // What the directory produced is pinned: garbage collection leaves it on a full disk.
    let pinned = store.pinned();
    for name in ["kedge.test/busybox:1", "kedge.test/busybox-base:1"] {
        assert!(
            pinned.contains(&store.get(name).unwrap().id.to_string()),
            "{name}"
        );
    }
    let report = collect_at(&store, 1);
    assert!(report.removed.is_empty(), "{report:?}");
    assert_eq!(store.list().len(), 2);
}

#[test]
fn the_kubelet_keeps_images_its_pods_name_and_recent_ones() {
    use kedge::agent::kubelet::image_gc::kept;
    const MINIMUM_AGE_SECS: u64 = 120;
    let Some(fixture) = test_image() else { return };
    let (_dir, store) = store_with_test_image(fixture);
    let full = store.get("kedge.test/busybox:1").unwrap();
    let base = store.get("kedge.test/busybox-base:1").unwrap();
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "kedge.test/busybox:1"}],
                 "initContainers": [{"name": "i", "image": "example.com/absent:1"}]}
    }))
    .unwrap();
    let imported = full.created_at.max(full.last_used);
    let later = imported + MINIMUM_AGE_SECS;
    assert_eq!(
        kept(&store, std::slice::from_ref(&pod), later, MINIMUM_AGE_SECS),
        [full.id.clone()].into()
    );
    assert!(kept(&store, &[], later, MINIMUM_AGE_SECS).is_empty());
    // Just imported, both are kept for a while.
    assert_eq!(
        kept(&store, &[], imported + 1, MINIMUM_AGE_SECS),
        [full.id.clone(), base.id.clone()].into()
    );
}

async fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met in 60s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pushes the test image to a plain docker-registry and returns it with its storage dir.
fn registry_with_image(fixture: &Path) -> (tempfile::TempDir, Registry) {
    let storage = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistryOptions {
        storage: storage.path(),
        tls: None,
        htpasswd: None,
    });
    support::push(registry.port, &fixture.join("oci"), "kedge/busybox", "1");
    (storage, registry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_over_plain_http_through_a_mirror_with_fallback() {
    let Some(fixture) = test_image() else { return };
    if !support::have("docker-registry") {
        return;
    }
    let facts = image_facts(fixture);
    let (_storage, registry) = registry_with_image(fixture);
    let dead = support::free_port();
    let (_dir, store) = store();
    store.set_registries(registries(&format!(
        "mirrors:\n  kedge.test:\n    endpoint:\n      - http://127.0.0.1:{dead}\n      - http://127.0.0.1:{}\n",
        registry.port
    )));
    let image = store
        .pull("kedge.test/kedge/busybox:1", None)
        .await
        .unwrap();
    assert_eq!(image.id.to_string(), facts["id"].as_str().unwrap());
    assert_eq!(image.names, ["kedge.test/kedge/busybox:1"]);
    assert_eq!(
        image.repo_digests,
        [format!(
            "kedge.test/kedge/busybox@{}",
            facts["index"].as_str().unwrap()
        )]
    );
    check_layers(&store, "kedge.test/kedge/busybox:1");
    // By digest, from the mirror, with a rewrite.
    store.set_registries(registries(&format!(
        "mirrors:\n  \"*\":\n    endpoint: [\"http://127.0.0.1:{}\"]\n    rewrite:\n      \"^mirrored/(.*)\": \"kedge/$1\"\n",
        registry.port
    )));
    let pinned = format!(
        "other.test/mirrored/busybox@{}",
        facts["manifest"].as_str().unwrap()
    );
    let image = store.pull(&pinned, None).await.unwrap();
    assert_eq!(image.id.to_string(), facts["id"].as_str().unwrap());
    assert!(store.get(&pinned).is_some());
    // A missing image reports every endpoint tried.
    let err = store
        .pull("kedge.test/kedge/none:1", None)
        .await
        .unwrap_err();
    let ImageError::PullFailed { attempts, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(attempts.len(), 2, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_over_https_with_basic_auth() {
    let Some(fixture) = test_image() else { return };
    if !support::have("docker-registry") {
        return;
    }
    let facts = image_facts(fixture);
    let (storage, plain) = registry_with_image(fixture);
    drop(plain);
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = support::test_certificates(certs.path());
    let htpasswd = certs.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("kedge:{}\n", bcrypt::hash("s3cret", 5).unwrap()),
    )
    .unwrap();
    let registry = Registry::start(RegistryOptions {
        storage: storage.path(),
        tls: Some((&cert, &key)),
        htpasswd: Some(&htpasswd),
    });
    let host = format!("127.0.0.1:{}", registry.port);
    let reference = format!("{host}/kedge/busybox:1");
    let (_dir, store) = store();

    let config = |password: &str| {
        registries(&format!(
            "configs:\n  \"{host}\":\n    auth:\n      username: kedge\n      password: {password}\n    tls:\n      ca_file: {}\n",
            ca.display()
        ))
    };
    store.set_registries(config("wrong"));
    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(err.to_string().contains("unauthorized"), "{err}");

    // Without the CA the certificate is refused; insecure_skip_verify accepts it.
    store.set_registries(registries(&format!(
        "configs:\n  \"{host}\":\n    auth:\n      username: kedge\n      password: s3cret\n"
    )));
    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    store.set_registries(config("s3cret"));
    let image = store.pull(&reference, None).await.unwrap();
    assert_eq!(image.id.to_string(), facts["id"].as_str().unwrap());
    check_layers(&store, &reference);

    // imagePullSecrets credentials for the registry itself, TLS skipped.
    let (_dir2, store2) = self::store();
    store2.set_registries(registries(&format!(
        "configs:\n  \"{host}\":\n    tls:\n      insecure_skip_verify: true\n"
    )));
    let secret = Basic {
        username: "kedge".into(),
        password: "s3cret".into(),
    };
    let image = store2.pull(&reference, Some(&secret)).await.unwrap();
    assert_eq!(image.id.to_string(), facts["id"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_and_concurrent_pulls_are_deduplicated() {
    let Some(fixture) = test_image() else { return };
    let facts = image_facts(fixture);
    let registry =
        fake_registry::FakeRegistry::start(&fixture.join("oci"), Some(("robot", "pw"))).await;
    let (_dir, store) = store();
    store.set_registries(registries(&format!(
        "mirrors:\n  kedge.test:\n    endpoint: [\"http://127.0.0.1:{}\"]\nconfigs:\n  \"127.0.0.1:{}\":\n    auth:\n      username: robot\n      password: pw\n",
        registry.port, registry.port
    )));
    let pulls = (0..4).map(|_| store.pull("kedge.test/kedge/busybox:1", None));
    let results = futures::future::join_all(pulls).await;
    for result in results {
        assert_eq!(
            result.unwrap().id.to_string(),
            facts["id"].as_str().unwrap()
        );
    }
    let manifest = facts["manifest"].as_str().unwrap();
    assert_eq!(
        registry.count(&format!("/manifests/{manifest}")),
        1,
        "{:#?}",
        registry.log()
    );
    assert_eq!(
        registry.count("/manifests/1"),
        2,
        "a 401, then the authorized request"
    );
    assert_eq!(registry.count("/token"), 1);
    let config = facts["id"].as_str().unwrap();
    assert_eq!(registry.count(&format!("/blobs/{config}")), 1);
    assert!(
        registry
            .log()
            .iter()
            .filter(|l| l.path.contains("/blobs/"))
            .all(|l| l.authorization.is_some())
    );
    check_layers(&store, "kedge.test/kedge/busybox:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes() {
    let Some(fixture) = test_image() else { return };
    let facts = image_facts(fixture);
    let registry = fake_registry::FakeRegistry::start(&fixture.join("oci"), None).await;
    let (_dir, store) = store();
    store.set_registries(registries(&format!(
        "mirrors:\n  kedge.test:\n    endpoint: [\"http://127.0.0.1:{}\"]\n",
        registry.port
    )));
    // The busybox layer: the largest blob of the layout.
    let blobs = fixture.join("oci/blobs/sha256");
    let largest = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap();
    let layer = format!("sha256:{}", largest.file_name().to_string_lossy());
    registry.cut_next_download(&layer, 100_000);
    let image = store
        .pull("kedge.test/kedge/busybox:1", None)
        .await
        .unwrap();
    assert_eq!(image.id.to_string(), facts["id"].as_str().unwrap());
    let ranges: Vec<_> = registry
        .log()
        .into_iter()
        .filter(|l| l.path.ends_with(&layer))
        .map(|l| l.range)
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    let resumed_at: u64 = ranges[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(resumed_at > 0 && resumed_at <= 100_000, "{ranges:?}");
    check_layers(&store, "kedge.test/kedge/busybox:1");

    // A partial file of garbage left by a killed agent: resumed, fails verification, then
    // downloaded again from the start.
    let (_dir2, store2) = self::store();
    store2.set_registries(registries(&format!(
        "mirrors:\n  kedge.test:\n    endpoint: [\"http://127.0.0.1:{}\"]\n",
        registry.port
    )));
    let partial = store2
        .root()
        .join("content/ingest")
        .join(format!("{}.partial", &layer[7..]));
    std::fs::write(&partial, vec![0u8; 50_000]).unwrap();
    let image = store2
        .pull("kedge.test/kedge/busybox:1", None)
        .await
        .unwrap();
    assert_eq!(image.id.to_string(), facts["id"].as_str().unwrap());
    assert!(!partial.exists());
}

/// Issue 5's import benchmark: a ~100 MB image (the test image plus a layer of 100 MiB of
/// random data) imported as a docker-save archive and as gzip and zstd OCI archives.
/// Run by scripts/bench-image-import.sh.
#[test]
#[ignore = "benchmark: run by scripts/bench-image-import.sh"]
fn import_benchmark() {
    let megabytes: u32 = std::env::var("KEDGE_BENCH_IMPORT_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let fixture = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-test-image.sh");
    let out = Command::new(script)
        .arg(fixture.path())
        .args(["--big", &megabytes.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "busybox-docker.tar",
        "busybox-oci.tar.gz",
        "busybox-oci.tar.zst",
    ] {
        let path = fixture.path().join(file);
        let size = std::fs::metadata(&path).unwrap().len();
        let (_dir, store) = store();
        let started = Instant::now();
        let refs = store.import_archive(&path).unwrap();
        let elapsed = started.elapsed();
        assert!(!refs.is_empty());
        println!(
            "import {file}: {:.1} MB in {:.2} s ({:.0} MB/s)",
            size as f64 / 1e6,
            elapsed.as_secs_f64(),
            size as f64 / 1e6 / elapsed.as_secs_f64()
        );
    }
}

/// `kedge images` from the command line: import, list, remove, and a clear error for a
/// name the store does not have.
#[test]
fn the_images_command_imports_lists_and_removes() {
    let Some(fixture) = test_image() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kedge = |args: &[&str]| {
        let program = std::env::var_os("KEDGE_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_kedge").into());
        let output = std::process::Command::new(program)
            .arg("images")
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let archive = fixture.join("busybox-docker.tar");
    let (code, out, err) = kedge(&["import", archive.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("imported"), "{out}");

    // Listing leaves what an import under way (a running node's) has in progress.
    let in_progress = [
        data.join("agent/content/ingest/tmp-under-way"),
        data.join("agent/snapshots/tmp-under-way"),
    ];
    std::fs::write(&in_progress[0], b"half a layer").unwrap();
    std::fs::create_dir_all(&in_progress[1]).unwrap();
    let (code, out, _) = kedge(&["ls"]);
    assert_eq!(code, Some(0));
    for path in &in_progress {
        assert!(path.exists(), "ls removed {}", path.display());
    }
    let listed: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        listed,
        ["kedge.test/busybox-base:1", "kedge.test/busybox:1"],
        "{out}"
    );

    let (code, out, err) = kedge(&["rm", "kedge.test/busybox:1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("removed "), "{out}");
    let (_, out, _) = kedge(&["list"]);
    assert!(!out.contains("kedge.test/busybox:1"), "{out}");
    assert!(out.contains("kedge.test/busybox-base:1"), "{out}");

    let (code, _, err) = kedge(&["rm", "nosuch:1"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "kedge: cannot remove nosuch:1: image nosuch:1 is not present in the store",
        "{err}"
    );
}
