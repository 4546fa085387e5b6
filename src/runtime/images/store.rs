//! [`ImageStore`]: the entry point of the image store. Open it on `<data-dir>/agent`, import
//! archives ([`ImageStore::import_archive`]), pull ([`ImageStore::pull`]), find images and
//! their layers for the runtime, remove them and collect garbage.
//!
//! # Guarantees
//! A blob under `content/blobs` has been verified against its digest; a snapshot directory
//! exists only once its layer was completely unpacked and matched its diff id; `images.json`
//! is replaced atomically. Content that a pull or import is working with is leased and never
//! removed by a concurrent removal or garbage collection.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use super::content::{ContentStore, KeyedLocks, Leases};
use super::digest::Digest;
use super::error::{ImageError, Result};
use super::metadata::{Image, ImageConfig, ImageId, Layer, Records, now};
use super::platform::Platform;
use super::pull::InFlight;
use super::reference::Reference;
use super::registries::Registries;
use super::registry::RegistryClient;
use super::unpack::{Snapshots, delete_trash};

/// Partial downloads older than this are discarded by a sweep.
/// How fresh an image's `last_used` must be before a new use is worth writing down.
const USE_GRANULARITY_SECS: u64 = 60;
const PARTIAL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The node's images. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct ImageStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub root: PathBuf,
    pub content: ContentStore,
    pub snapshots: Snapshots,
    pub records: Mutex<Records>,
    pub leases: Arc<Leases>,
    pub locks: KeyedLocks,
    pub in_flight: InFlight,
    pub registries: RwLock<Arc<Registries>>,
    pub registry: RegistryClient,
    pub platform: Platform,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.inner.root)
            .finish()
    }
}

impl ImageStore {
    /// Opens the store rooted at `root` (`<data-dir>/agent`), creating it if needed, and
    /// cleans up what an interrupted import, pull or removal left behind.
    ///
    /// # Errors
    /// The directories cannot be created or `images.json` is unreadable.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(ImageError::io("create", root))?;
        let content = ContentStore::open(&root.join("content"))?;
        let snapshots = Snapshots::open(&root.join("snapshots"))?;
        let records = Records::load(&root.join("images.json"))?;
        Ok(ImageStore {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                content,
                snapshots,
                records: Mutex::new(records),
                leases: Arc::new(Leases::default()),
                locks: KeyedLocks::default(),
                in_flight: InFlight::default(),
                registries: RwLock::new(Arc::new(Registries::default())),
                registry: RegistryClient::new(),
                platform: Platform::host(),
            }),
        })
    }

    /// The images of the store rooted at `root`, read without opening it: opening cleans up
    /// what an interrupted import left, which would break one a running node has under way.
    ///
    /// # Errors
    /// `images.json` is unreadable.
    pub fn list_at(root: &Path) -> Result<Vec<Image>> {
        Ok(Records::load(&root.join("images.json"))?.images)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The platform images are resolved for (the node's).
    pub fn platform(&self) -> &Platform {
        &self.inner.platform
    }

    /// Replaces the registry configuration (mirrors, credentials, TLS) used by pulls.
    pub fn set_registries(&self, registries: Registries) {
        *self
            .inner
            .registries
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(registries);
        self.inner.registry.clear();
    }

    pub(crate) fn registries(&self) -> Arc<Registries> {
        Arc::clone(
            &self
                .inner
                .registries
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    pub(crate) fn records(&self) -> MutexGuard<'_, Records> {
        self.inner.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every image in the store.
    pub fn list(&self) -> Vec<Image> {
        self.records().images.clone()
    }

    /// The image designated by `name`: an id (`sha256:…`), a name as given or normalized
    /// (`busybox` finds `docker.io/library/busybox:latest`), or a `name@digest`.
    pub fn get(&self, name: &str) -> Option<Image> {
        let records = self.records();
        if let Some(image) = records.find(name) {
            return Some(image.clone());
        }
        let reference = Reference::parse(name).ok()?;
        records.find(&reference.to_string()).cloned()
    }

    /// The overlayfs lower dirs of `image`, in overlay order: the top layer first.
    ///
    /// # Errors
    /// [`ImageError::NotFound`] if a layer's snapshot is missing (the image was removed).
    pub fn layers(&self, image: &Image) -> Result<Vec<PathBuf>> {
        image
            .layers
            .iter()
            .rev()
            .map(|layer| {
                let fs = self.inner.snapshots.fs(&layer.diff_id);
                if fs.is_dir() {
                    Ok(fs)
                } else {
                    Err(ImageError::NotFound(format!(
                        "{} (layer {})",
                        image.id, layer.diff_id
                    )))
                }
            })
            .collect()
    }

    /// Records that a container was created from `id` (garbage collection removes the least
    /// recently used images first).
    ///
    /// # Errors
    /// `images.json` cannot be written.
    pub fn mark_used(&self, id: &ImageId) -> Result<()> {
        let mut records = self.records();
        let now = now();
        match records.images.iter_mut().find(|i| &i.id == id) {
            // The garbage collector orders images by this to the minute; a burst of pods
            // on one image writes (and fsyncs) the records once, not once per container.
            Some(image) if now.saturating_sub(image.last_used) >= USE_GRANULARITY_SECS => {
                image.last_used = now;
                records.save()
            }
            _ => Ok(()),
        }
    }

    /// Removes the image designated by `name` (see [`ImageStore::get`]) and the content no
    /// other image uses.
    ///
    /// # Errors
    /// [`ImageError::NotFound`], or a failed write of `images.json`.
    pub fn remove(&self, name: &str) -> Result<Image> {
        let image = self
            .get(name)
            .ok_or_else(|| ImageError::NotFound(name.to_string()))?;
        {
            let mut records = self.records();
            records.remove(&image.id);
            records.save()?;
        }
        self.sweep()?;
        Ok(image)
    }

    /// Removes blobs and snapshots that no image references and no pull or import holds,
    /// and partial downloads abandoned for a day.
    ///
    /// # Errors
    /// The blob directory cannot be listed or a blob cannot be removed.
    pub fn sweep(&self) -> Result<()> {
        let inner = &self.inner;
        let trash = {
            let records = self.records();
            let held = inner.leases.held();
            let mut blobs: HashSet<&Digest> = held.keys().collect();
            let mut snapshots: HashSet<&Digest> = held.keys().collect();
            for image in &records.images {
                blobs.extend(image.blobs());
                snapshots.extend(image.layers.iter().map(|l| &l.diff_id));
            }
            for digest in inner.content.list()? {
                if !blobs.contains(&digest) {
                    inner.content.remove(&digest)?;
                }
            }
            inner
                .snapshots
                .list()
                .into_iter()
                .filter(|d| !snapshots.contains(d))
                .filter_map(|d| inner.snapshots.trash(&d))
                .collect::<Vec<_>>()
        };
        for path in trash {
            delete_trash(&path);
        }
        for (path, age) in inner.content.partials() {
            if age > PARTIAL_MAX_AGE {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }

    /// Records an image whose blobs are stored and layers unpacked; returns the merged record.
    ///
    /// # Errors
    /// A blob or snapshot is missing, or `images.json` cannot be written.
    pub(crate) fn commit_image(&self, image: Image) -> Result<Image> {
        let mut records = self.records();
        for digest in image.blobs() {
            if !self.inner.content.has(digest) {
                return Err(ImageError::NotFound(format!(
                    "blob {digest} of {}",
                    image.id
                )));
            }
        }
        for layer in &image.layers {
            if !self.inner.snapshots.has(&layer.diff_id) {
                return Err(ImageError::NotFound(format!(
                    "snapshot {} of {}",
                    layer.diff_id, image.id
                )));
            }
        }
        let merged = records.upsert(image);
        records.save()?;
        Ok(merged)
    }
}

/// A manifest or an index, told apart by content (Docker and OCI media types alike).
pub(crate) enum Manifest {
    Index(Box<ImageIndex>),
    Image(Box<ImageManifest>),
}

/// Parses a manifest or index document.
///
/// # Errors
/// Unparsable JSON or an unsupported document (Docker schema 1).
pub(crate) fn parse_manifest(bytes: &[u8], what: &str) -> Result<Manifest> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(ImageError::json(what))?;
    if value.get("manifests").is_some() {
        return serde_json::from_value(value)
            .map(|i| Manifest::Index(Box::new(i)))
            .map_err(ImageError::json(what));
    }
    if value.get("layers").is_some() && value.get("config").is_some() {
        return serde_json::from_value(value)
            .map(|m| Manifest::Image(Box::new(m)))
            .map_err(ImageError::json(what));
    }
    let media_type = value.get("mediaType").and_then(|m| m.as_str()).map_or_else(
        || {
            format!(
                "schemaVersion {}",
                value
                    .get("schemaVersion")
                    .unwrap_or(&serde_json::Value::Null)
            )
        },
        str::to_string,
    );
    Err(ImageError::UnsupportedMediaType {
        what: what.to_string(),
        media_type,
    })
}

/// The best manifest of `index` for `platform`.
pub(crate) fn select_platform<'a>(
    index: &'a ImageIndex,
    platform: &Platform,
) -> Option<&'a Descriptor> {
    index
        .manifests()
        .iter()
        .filter_map(|d| {
            let p = d.platform().as_ref()?;
            let score = platform.score(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref(),
            )?;
            Some((score, d))
        })
        .max_by_key(|(score, _)| *score)
        .map(|(_, d)| d)
}

/// A descriptor's digest in our type.
///
/// # Errors
/// A non-sha256 digest.
pub(crate) fn descriptor_digest(d: &Descriptor) -> Result<Digest> {
    Digest::parse(d.digest().as_ref())
}

/// Builds an image record from its configuration blob and layer blobs (bottom first).
///
/// # Errors
/// An unparsable configuration, or a layer count that differs from its diff ids.
pub(crate) fn build_image(
    config_bytes: &[u8],
    layers: Vec<(Digest, String, u64)>,
    names: Vec<String>,
    repo_digests: Vec<String>,
    manifests: Vec<Digest>,
) -> Result<Image> {
    let id = ImageId(Digest::of(config_bytes));
    let config: ImageConfiguration = serde_json::from_slice(config_bytes)
        .map_err(ImageError::json(format!("image config {id}")))?;
    let diff_ids = config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>>>()?;
    if diff_ids.len() != layers.len() {
        return Err(ImageError::UnsupportedMediaType {
            what: format!("image {id}"),
            media_type: format!("{} layers for {} diff ids", layers.len(), diff_ids.len()),
        });
    }
    let size = config_bytes.len() as u64 + layers.iter().map(|(_, _, s)| s).sum::<u64>();
    let layers = layers
        .into_iter()
        .zip(diff_ids)
        .map(|((digest, media_type, size), diff_id)| Layer {
            digest,
            diff_id,
            media_type,
            size,
        })
        .collect();
    let runtime = config.config().clone().unwrap_or_default();
    let image_config = ImageConfig {
        user: runtime.user().clone().filter(|u| !u.is_empty()),
        exposed_ports: runtime.exposed_ports().clone().unwrap_or_default(),
        env: runtime.env().clone().unwrap_or_default(),
        entrypoint: runtime.entrypoint().clone(),
        cmd: runtime.cmd().clone(),
        working_dir: runtime.working_dir().clone().filter(|w| !w.is_empty()),
        stop_signal: runtime.stop_signal().clone().filter(|s| !s.is_empty()),
        volumes: runtime.volumes().clone().unwrap_or_default(),
        labels: runtime
            .labels()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    };
    let now = now();
    Ok(Image {
        id,
        names,
        repo_digests,
        manifests,
        layers,
        config: image_config,
        platform: Platform {
            os: config.os().to_string(),
            architecture: config.architecture().to_string(),
            variant: config.variant().clone(),
        },
        size,
        created_at: now,
        last_used: now,
    })
}

/// The layer media type for a blob, guessed from its first bytes (for archives, which do
/// not say).
pub(crate) fn layer_media_type(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    }
}
