//! Image records: what the store knows about each image (names, layers, configuration), kept
//! in one JSON file written atomically.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::error::{ImageError, Result};
use super::platform::Platform;

/// An image's id: the digest of its configuration, as the CRI and `crictl images` show it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageId(pub Digest);

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An image found by an import: its id and the names it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub id: ImageId,
    pub names: Vec<String>,
}

/// One layer of an image, bottom first in [`Image::layers`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Digest of the blob as stored (usually compressed).
    pub digest: Digest,
    /// Digest of the uncompressed tarball (the config's `rootfs.diff_ids`); names the snapshot.
    pub diff_id: Digest,
    pub media_type: String,
    /// Size of the blob in bytes.
    pub size: u64,
}

/// What the runtime needs from an image's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// An image in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub id: ImageId,
    /// Normalized tagged names (`docker.io/library/busybox:latest`); a name belongs to one
    /// image at a time.
    #[serde(default)]
    pub names: Vec<String>,
    /// `name@sha256:…` of the manifest (or index) the image was pulled by.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Manifests and indexes stored for this image (kept as long as the image is).
    #[serde(default)]
    pub manifests: Vec<Digest>,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    pub config: ImageConfig,
    pub platform: Platform,
    /// Bytes of the image's blobs (config and layers), what the kubelet reports as its size.
    pub size: u64,
    /// Unix seconds when the image entered the store.
    pub created_at: u64,
    /// Unix seconds of the last pull, import or use by a container (for garbage collection).
    pub last_used: u64,
}

impl Image {
    /// Whether `name` (a normalized name, a `repo@digest` or the id) designates this image.
    pub fn matches(&self, name: &str) -> bool {
        self.id.0.as_str() == name
            || self.id.0.hex() == name
            || self.names.iter().any(|n| n == name)
            || self.repo_digests.iter().any(|n| n == name)
    }

    /// Every blob the image holds on to.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.id.0)
            .chain(self.manifests.iter())
            .chain(self.layers.iter().map(|l| &l.digest))
    }
}

/// The records of all images, persisted as `images.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Records {
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(skip)]
    path: PathBuf,
}

impl Records {
    /// Loads `path`, or starts empty if it does not exist.
    ///
    /// # Errors
    /// An unreadable or unparsable file.
    pub fn load(path: &Path) -> Result<Self> {
        let mut records = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Records>(&bytes)
                .map_err(ImageError::json(path.display().to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Records::default(),
            Err(e) => return Err(ImageError::io("read", path)(e)),
        };
        records.path = path.to_path_buf();
        Ok(records)
    }

    /// Writes the records atomically (temporary file, fsync, rename).
    ///
    /// # Errors
    /// A failed write.
    pub fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(ImageError::json("image records"))?;
        write_atomic(&self.path, &bytes)
    }

    pub fn find(&self, name: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.matches(name))
    }

    /// Adds or merges `image` (same id: names, repo digests and manifests are merged); the
    /// image's names are taken away from any other image.
    pub fn upsert(&mut self, image: Image) -> Image {
        let names: HashSet<&String> = image.names.iter().collect();
        for other in self.images.iter_mut().filter(|i| i.id != image.id) {
            other.names.retain(|n| !names.contains(n));
        }
        match self.images.iter_mut().find(|i| i.id == image.id) {
            Some(existing) => {
                for name in &image.names {
                    if !existing.names.contains(name) {
                        existing.names.push(name.clone());
                    }
                }
                for rd in &image.repo_digests {
                    if !existing.repo_digests.contains(rd) {
                        existing.repo_digests.push(rd.clone());
                    }
                }
                for m in &image.manifests {
                    if !existing.manifests.contains(m) {
                        existing.manifests.push(m.clone());
                    }
                }
                existing.last_used = existing.last_used.max(image.last_used);
                existing.clone()
            }
            None => {
                self.images.push(image.clone());
                image
            }
        }
    }

    /// Removes the image `id`, returning it.
    pub fn remove(&mut self, id: &ImageId) -> Option<Image> {
        let pos = self.images.iter().position(|i| &i.id == id)?;
        Some(self.images.remove(pos))
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
///
/// # Errors
/// A failed write, fsync or rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(ImageError::io("create", &tmp))?;
    f.write_all(bytes).map_err(ImageError::io("write", &tmp))?;
    f.sync_all().map_err(ImageError::io("sync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(ImageError::io("rename into place", path))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(seed: &str, names: &[&str]) -> Image {
        Image {
            id: ImageId(Digest::of(seed.as_bytes())),
            names: names.iter().map(|s| s.to_string()).collect(),
            repo_digests: vec![],
            manifests: vec![],
            layers: vec![],
            config: ImageConfig::default(),
            platform: Platform::host(),
            size: 0,
            created_at: 0,
            last_used: 0,
        }
    }

    #[test]
    fn a_name_moves_to_the_newest_image() {
        let mut r = Records::default();
        r.upsert(image("a", &["x:1", "x:latest"]));
        r.upsert(image("b", &["x:latest"]));
        assert_eq!(r.find("x:latest").unwrap().id, image("b", &[]).id);
        assert_eq!(r.find("x:1").unwrap().names, vec!["x:1".to_string()]);
        let merged = r.upsert(image("b", &["x:2"]));
        assert_eq!(
            merged.names,
            vec!["x:latest".to_string(), "x:2".to_string()]
        );
        assert_eq!(r.images.len(), 2);
    }

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.json");
        let mut r = Records::load(&path).unwrap();
        r.upsert(image("a", &["x:1"]));
        r.save().unwrap();
        let again = Records::load(&path).unwrap();
        assert_eq!(again.images, r.images);
    }
}
