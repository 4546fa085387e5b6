//! Importing image archives: `docker save` archives (`manifest.json` with `Config`,
//! `RepoTags`, `Layers`) and OCI image layouts (`index.json`, `blobs/sha256/…`), plain or
//! compressed with gzip or zstd, holding any number of images.
//!
//! The archive is read once, as a stream: small files (JSON documents) are kept in memory,
//! large ones (layers) are copied into the blob store while hashed. Then the manifests are
//! read, layers unpacked, and the images recorded.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::content::Lease;
use super::digest::Digest;
use super::error::{ImageError, Result};
use super::metadata::{Image, ImageRef};
use super::reference::Reference;
use super::store::{
    ImageStore, Manifest, build_image, descriptor_digest, layer_media_type, parse_manifest,
    select_platform,
};
use super::unpack::decompress;

/// Files up to this size are kept in memory while reading an archive.
const SMALL_FILE: u64 = 1024 * 1024;
/// Annotations naming an image in an OCI layout.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An entry of `manifest.json` in a `docker save` archive.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What an archive holds, by path inside it.
#[derive(Default)]
struct Entries {
    small: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, (Digest, u64)>,
    links: HashMap<String, String>,
}

impl Entries {
    /// Follows links to the path of a file.
    fn resolve<'a>(&'a self, mut path: &'a str) -> &'a str {
        for _ in 0..16 {
            match self.links.get(path) {
                Some(target) => path = target,
                None => break,
            }
        }
        path
    }
}

impl ImageStore {
    /// Imports every image of the archive at `path` (blocking: call it from a blocking
    /// thread). Images already present are merged (their names added).
    ///
    /// # Errors
    /// An unreadable or malformed archive, a blob that does not match its digest, a layer
    /// that does not match its diff id, or a failed write.
    pub fn import_archive(&self, path: &Path) -> Result<Vec<ImageRef>> {
        let archive_err = |reason: String| ImageError::Archive {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(ImageError::io("open", path))?;
        let stream = decompress(BufReader::with_capacity(256 * 1024, file))
            .map_err(ImageError::io("read", path))?;
        let lease = self.inner.leases.lease();
        let entries = self.read_entries(stream, path, &lease)?;
        let images = if let Some(bytes) = entries.small.get("manifest.json") {
            let manifests: Vec<DockerManifest> = serde_json::from_slice(bytes).map_err(
                ImageError::json(format!("{}: manifest.json", path.display())),
            )?;
            manifests
                .iter()
                .map(|m| self.docker_image(&entries, m, &lease, path))
                .collect::<Result<Vec<_>>>()?
        } else if let Some(bytes) = entries.small.get("index.json") {
            self.oci_images(&entries, bytes, &lease, path)?
        } else {
            return Err(archive_err(
                "neither manifest.json (docker save) nor index.json (OCI layout) found".to_string(),
            ));
        };
        let mut refs = Vec::new();
        for image in images {
            for layer in &image.layers {
                let blob = self.inner.content.open_blob(&layer.digest)?;
                self.inner.snapshots.unpack(blob, &layer.diff_id)?;
            }
            let image = self.commit_image(image)?;
            tracing::info!(archive = %path.display(), image = %image.id, names = ?image.names, "imported image");
            refs.push(ImageRef {
                id: image.id,
                names: image.names,
            });
        }
        Ok(refs)
    }

    /// Reads the archive stream, storing large files as blobs.
    fn read_entries(
        &self,
        stream: Box<dyn Read + '_>,
        path: &Path,
        lease: &Lease,
    ) -> Result<Entries> {
        let mut archive = tar::Archive::new(stream);
        let mut entries = Entries::default();
        let iter = archive
            .entries()
            .map_err(|e| ImageError::io("read archive", path)(e))?;
        for entry in iter {
            let mut entry = entry.map_err(|e| ImageError::io("read archive", path)(e))?;
            let Some(name) = entry.path().ok().and_then(|p| normalize(&p)) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                if let Some(target) = entry.link_name().ok().flatten() {
                    let target = if kind.is_symlink() {
                        Path::new(&name)
                            .parent()
                            .unwrap_or(Path::new(""))
                            .join(target)
                    } else {
                        target.to_path_buf()
                    };
                    if let Some(target) = normalize(&target) {
                        entries.links.insert(name, target);
                    }
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = entry.size();
            if size <= SMALL_FILE {
                let mut bytes = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| ImageError::io("read archive", path)(e))?;
                entries.small.insert(name, bytes);
            } else {
                let expected = blob_path_digest(&name);
                if let Some(d) = &expected {
                    lease.add(d);
                }
                let (digest, size) = self.inner.content.ingest(
                    &mut entry,
                    expected.as_ref(),
                    &format!("{} in {}", name, path.display()),
                )?;
                lease.add(&digest);
                entries.blobs.insert(name, (digest, size));
            }
        }
        Ok(entries)
    }

    /// The blob at `name` in the archive, stored; small files are written to the store now.
    fn archive_blob(
        &self,
        entries: &Entries,
        name: &str,
        expected: Option<&Digest>,
        lease: &Lease,
    ) -> Result<(Digest, u64)> {
        let name = entries.resolve(name);
        if let Some((digest, size)) = entries.blobs.get(name) {
            return Ok((digest.clone(), *size));
        }
        if let Some(bytes) = entries.small.get(name) {
            let digest = Digest::of(bytes);
            lease.add(&digest);
            if !self.inner.content.has(&digest) {
                self.inner.content.write(bytes, expected)?;
            } else if let Some(expected) = expected
                && *expected != digest
            {
                return Err(ImageError::DigestMismatch {
                    what: name.to_string(),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
            return Ok((digest, bytes.len() as u64));
        }
        // A blob left out of the archive but already in the store (an OCI layout may omit
        // shared layers).
        if let Some(expected) = expected {
            lease.add(expected);
            if let Some(size) = self.inner.content.size(expected) {
                return Ok((expected.clone(), size));
            }
        }
        Err(ImageError::NotFound(format!(
            "{name} (named in the archive but not in it)"
        )))
    }

    /// A small document of the archive (or of the store), by path.
    fn archive_document(
        &self,
        entries: &Entries,
        name: &str,
        expected: Option<&Digest>,
        lease: &Lease,
    ) -> Result<Vec<u8>> {
        let resolved = entries.resolve(name);
        if let Some(bytes) = entries.small.get(resolved) {
            return Ok(bytes.clone());
        }
        let (digest, _) = self.archive_blob(entries, name, expected, lease)?;
        self.inner.content.read(&digest)
    }

    fn docker_image(
        &self,
        entries: &Entries,
        manifest: &DockerManifest,
        lease: &Lease,
        path: &Path,
    ) -> Result<Image> {
        let config = self.archive_document(entries, &manifest.config, None, lease)?;
        let (config_digest, _) = self.archive_blob(entries, &manifest.config, None, lease)?;
        let mut layers = Vec::new();
        for layer in &manifest.layers {
            let (digest, size) =
                self.archive_blob(entries, layer, blob_path_digest(layer).as_ref(), lease)?;
            layers.push((digest.clone(), self.media_type_of(&digest), size));
        }
        let names = manifest
            .repo_tags
            .iter()
            .flatten()
            .filter_map(|tag| normalized_name(tag, path))
            .collect();
        let image = build_image(&config, layers, names, Vec::new(), Vec::new())?;
        debug_assert_eq!(image.id.0, config_digest);
        Ok(image)
    }

    fn oci_images(
        &self,
        entries: &Entries,
        index: &[u8],
        lease: &Lease,
        path: &Path,
    ) -> Result<Vec<Image>> {
        let index = match parse_manifest(index, "index.json")? {
            Manifest::Index(index) => index,
            Manifest::Image(_) => {
                return Err(ImageError::Archive {
                    path: path.to_path_buf(),
                    reason: "index.json is a manifest, not an index".to_string(),
                });
            }
        };
        let mut images = Vec::new();
        for descriptor in index.manifests() {
            let annotations = descriptor.annotations().clone().unwrap_or_default();
            let names: Vec<String> = annotations
                .get(CONTAINERD_NAME)
                .or_else(|| {
                    annotations
                        .get(OCI_REF_NAME)
                        .filter(|n| n.contains(['/', ':']))
                })
                .and_then(|n| normalized_name(n, path))
                .into_iter()
                .collect();
            let mut digest = descriptor_digest(descriptor)?;
            let mut manifests = Vec::new();
            let mut repo_digests = Vec::new();
            if let Some(reference) = names.first().and_then(|n| Reference::parse(n).ok()) {
                repo_digests.push(reference.with_digest(&digest));
            }
            // Follow indexes down to this node's manifest.
            let manifest = loop {
                let bytes =
                    self.archive_document(entries, &blob_path(&digest), Some(&digest), lease)?;
                self.archive_blob(entries, &blob_path(&digest), Some(&digest), lease)?;
                manifests.push(digest.clone());
                match parse_manifest(&bytes, &format!("manifest {digest}"))? {
                    Manifest::Image(m) => break Some(m),
                    Manifest::Index(i) => match select_platform(&i, &self.inner.platform) {
                        Some(d) if manifests.len() < 4 => digest = descriptor_digest(d)?,
                        _ => break None,
                    },
                }
            };
            let Some(manifest) = manifest else {
                tracing::warn!(archive = %path.display(), manifest = %digest, platform = %self.inner.platform, "no manifest for this platform in the archive; skipped");
                continue;
            };
            let config_digest = descriptor_digest(manifest.config())?;
            let config = self.archive_document(
                entries,
                &blob_path(&config_digest),
                Some(&config_digest),
                lease,
            )?;
            self.archive_blob(
                entries,
                &blob_path(&config_digest),
                Some(&config_digest),
                lease,
            )?;
            let mut layers = Vec::new();
            for layer in manifest.layers() {
                let d = descriptor_digest(layer)?;
                let (digest, size) = self.archive_blob(entries, &blob_path(&d), Some(&d), lease)?;
                layers.push((digest, layer.media_type().to_string(), size));
            }
            images.push(build_image(
                &config,
                layers,
                names,
                repo_digests,
                manifests,
            )?);
        }
        Ok(images)
    }

    fn media_type_of(&self, digest: &Digest) -> String {
        let mut head = [0u8; 4];
        let n = self
            .inner
            .content
            .open_blob(digest)
            .and_then(|mut f| f.read(&mut head).map_err(ImageError::io("read", "blob")))
            .unwrap_or(0);
        layer_media_type(&head[..n]).to_string()
    }
}

/// `blobs/sha256/<hex>` for a digest.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// The digest a path names: `blobs/sha256/<hex>` or `<hex>.tar`/`<hex>/layer.tar` style.
fn blob_path_digest(name: &str) -> Option<Digest> {
    let hex = name.strip_prefix("blobs/sha256/")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// A path inside the archive without `./` or leading `/`; `None` if it climbs out.
fn normalize(path: &Path) -> Option<String> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    let s = out.to_string_lossy().to_string();
    (!s.is_empty()).then_some(s)
}

fn normalized_name(name: &str, path: &Path) -> Option<String> {
    match Reference::parse(name) {
        Ok(r) => r.tagged_name().or_else(|| Some(r.to_string())),
        Err(e) => {
            tracing::warn!(archive = %path.display(), error = %e, "image name ignored");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized() {
        assert_eq!(normalize(Path::new("./a/b")).as_deref(), Some("a/b"));
        assert_eq!(normalize(Path::new("a/../b")).as_deref(), Some("b"));
        assert_eq!(normalize(Path::new("../b")), None);
        assert_eq!(
            normalize(Path::new("abc/../layer.tar")).as_deref(),
            Some("layer.tar")
        );
        let d = Digest::of(b"x");
        assert_eq!(blob_path_digest(&blob_path(&d)), Some(d));
        assert_eq!(blob_path_digest("abc/layer.tar"), None);
    }
}
