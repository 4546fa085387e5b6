//! Pulling images from registries: the endpoints of `registries.yaml` tried in order (mirrors,
//! then the registry itself), indexes resolved to the node's platform, layers streamed to disk
//! and verified while streaming, then unpacked.
//!
//! # Guarantees
//! - Concurrent pulls of one reference share one pull; concurrent pulls of different images
//!   that share a layer download and unpack it once.
//! - A blob is written to `content/ingest/<hex>.partial` and appears in the store only once
//!   verified. A connection that breaks mid-blob is resumed with a `Range` request (up to
//!   three tries); a partial file left by a killed agent is resumed the same way by the next
//!   pull, and discarded if the result does not verify.

use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::StatusCode;
use tokio::sync::{broadcast, mpsc};

use super::content::Lease;
use super::digest::{Digest, HashingWriter, Sha256};
use super::error::{ImageError, Result};
use super::metadata::{Image, Layer};
use super::reference::Reference;
use super::registries::{Basic, Endpoint};
use super::registry::{error_chain, next_chunk};
use super::store::{
    ImageStore, Manifest, build_image, descriptor_digest, parse_manifest, select_platform,
};

/// Layers downloaded at once per pull (as Docker does).
const PARALLEL_LAYERS: usize = 3;
/// Tries per blob when the connection breaks.
const BLOB_TRIES: usize = 3;
/// A download with no data for this long is abandoned (and resumed).
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Pulls under way, by normalized reference.
#[derive(Default)]
pub struct InFlight {
    pulls: Mutex<HashMap<String, broadcast::Sender<std::result::Result<Image, String>>>>,
}

/// Removes a pull from [`InFlight`] when its leader finishes or is cancelled.
struct Leader<'a> {
    in_flight: &'a InFlight,
    key: String,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.in_flight
            .pulls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl ImageStore {
    /// Pulls `image` (any reference form; `busybox` is `docker.io/library/busybox:latest`)
    /// and returns its record. `credentials` come from the pod's imagePullSecrets and apply
    /// to the registry itself; mirrors use `registries.yaml`.
    ///
    /// # Errors
    /// [`ImageError::InvalidReference`], or [`ImageError::PullFailed`] listing why each
    /// endpoint failed.
    pub async fn pull(&self, image: &str, credentials: Option<&Basic>) -> Result<Image> {
        let reference = Reference::parse(image)?;
        let key = reference.to_string();
        loop {
            let waiting = {
                let mut pulls = self
                    .inner
                    .in_flight
                    .pulls
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                match pulls.get(&key) {
                    Some(tx) => Some(tx.subscribe()),
                    None => {
                        pulls.insert(key.clone(), broadcast::channel(1).0);
                        None
                    }
                }
            };
            if let Some(mut rx) = waiting {
                match rx.recv().await {
                    Ok(Ok(image)) => return Ok(image),
                    Ok(Err(message)) => {
                        return Err(ImageError::PullFailed {
                            reference: key,
                            attempts: vec![message],
                        });
                    }
                    // The leader was cancelled: take over.
                    Err(_) => continue,
                }
            }
            let leader = Leader {
                in_flight: &self.inner.in_flight,
                key: key.clone(),
            };
            let result = self.pull_endpoints(&reference, credentials).await;
            let tx = self
                .inner
                .in_flight
                .pulls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            drop(leader);
            if let Some(tx) = tx {
                let _ = tx.send(
                    result
                        .as_ref()
                        .map(Clone::clone)
                        .map_err(ToString::to_string),
                );
            }
            return result;
        }
    }

    async fn pull_endpoints(
        &self,
        reference: &Reference,
        credentials: Option<&Basic>,
    ) -> Result<Image> {
        let endpoints = self.registries().endpoints(reference, credentials);
        let mut attempts = Vec::new();
        for endpoint in &endpoints {
            match self.pull_from(reference, endpoint).await {
                Ok(image) => {
                    tracing::info!(image = %reference, endpoint = %endpoint.base(), id = %image.id, "pulled image");
                    return Ok(image);
                }
                Err(e) => {
                    tracing::warn!(image = %reference, endpoint = %endpoint.base(), error = %e, "pull from endpoint failed");
                    attempts.push(format!("{}: {e}", endpoint.base()));
                }
            }
        }
        Err(ImageError::PullFailed {
            reference: reference.to_string(),
            attempts,
        })
    }

    async fn pull_from(&self, reference: &Reference, endpoint: &Endpoint) -> Result<Image> {
        let registry = &self.inner.registry;
        let lease = self.inner.leases.lease();
        let (bytes, _) = registry
            .manifest(endpoint, &reference.manifest_reference())
            .await?;
        let top = Digest::of(&bytes);
        if let Some(pinned) = &reference.digest
            && *pinned != top
        {
            return Err(ImageError::DigestMismatch {
                what: format!("manifest of {reference}"),
                expected: pinned.clone(),
                actual: top,
            });
        }
        self.store_document(&bytes, &top, &lease)?;
        let mut manifests = vec![top.clone()];
        let mut document = bytes;
        let manifest = loop {
            match parse_manifest(&document, &format!("manifest of {reference}"))? {
                Manifest::Image(m) => break m,
                Manifest::Index(index) => {
                    let chosen =
                        select_platform(&index, &self.inner.platform).ok_or_else(|| {
                            ImageError::NoMatchingPlatform {
                                reference: reference.to_string(),
                                platform: self.inner.platform.to_string(),
                            }
                        })?;
                    let digest = descriptor_digest(chosen)?;
                    if manifests.len() > 3 {
                        return Err(ImageError::UnsupportedMediaType {
                            what: reference.to_string(),
                            media_type: "indexes nested too deep".to_string(),
                        });
                    }
                    let (bytes, _) = registry.manifest(endpoint, digest.as_str()).await?;
                    let actual = Digest::of(&bytes);
                    if actual != digest {
                        return Err(ImageError::DigestMismatch {
                            what: format!("manifest {digest} of {reference}"),
                            expected: digest,
                            actual,
                        });
                    }
                    self.store_document(&bytes, &digest, &lease)?;
                    manifests.push(digest);
                    document = bytes;
                }
            }
        };

        let config_digest = descriptor_digest(manifest.config())?;
        lease.add(&config_digest);
        self.download_blob(endpoint, &config_digest, Some(manifest.config().size()))
            .await?;
        let config = self.inner.content.read(&config_digest)?;
        let layers = manifest
            .layers()
            .iter()
            .map(|l| Ok((descriptor_digest(l)?, l.media_type().to_string(), l.size())))
            .collect::<Result<Vec<_>>>()?;
        let names = reference.tagged_name().into_iter().collect();
        let repo_digests = vec![reference.with_digest(&top)];
        let image = build_image(&config, layers, names, repo_digests, manifests)?;
        for layer in &image.layers {
            lease.add(&layer.digest);
            lease.add(&layer.diff_id);
        }

        // Download up to three layers at once; unpack each as soon as it is complete.
        // (Boxed futures in a Vec: a `map` closure over borrowed layers makes the pull's future
        // fail the `Send` check through a higher-ranked lifetime.)
        let downloads: Vec<
            std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>>,
        > = image
            .layers
            .iter()
            .map(|layer| {
                Box::pin(async move {
                    self.download_blob(endpoint, &layer.digest, Some(layer.size))
                        .await?;
                    self.ensure_unpacked(layer).await
                })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>>
            })
            .collect();
        let results: Vec<Result<()>> = futures::stream::iter(downloads)
            .buffer_unordered(PARALLEL_LAYERS)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
        let image = self.commit_image(image)?;
        drop(lease);
        Ok(image)
    }

    fn store_document(&self, bytes: &[u8], digest: &Digest, lease: &Lease) -> Result<()> {
        lease.add(digest);
        if !self.inner.content.has(digest) {
            self.inner.content.write(bytes, Some(digest))?;
        }
        Ok(())
    }

    /// Unpacks `layer` unless its snapshot exists (once, whatever the number of callers).
    pub(crate) async fn ensure_unpacked(&self, layer: &Layer) -> Result<()> {
        let _guard = self
            .inner
            .locks
            .lock(&format!("unpack:{}", layer.diff_id))
            .await;
        if self.inner.snapshots.has(&layer.diff_id) {
            return Ok(());
        }
        let store = self.clone();
        let layer = layer.clone();
        tokio::task::spawn_blocking(move || {
            let blob = store.inner.content.open_blob(&layer.digest)?;
            store.inner.snapshots.unpack(blob, &layer.diff_id)
        })
        .await
        .map_err(|e| ImageError::Task(e.to_string()))?
    }

    /// Downloads the blob `digest` from `endpoint` into the store unless present.
    async fn download_blob(
        &self,
        endpoint: &Endpoint,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<()> {
        let _guard = self.inner.locks.lock(&format!("blob:{digest}")).await;
        if self.inner.content.has(digest) {
            return Ok(());
        }
        let partial = self.inner.content.partial_path(digest);
        let mut tries = 0;
        loop {
            tries += 1;
            match self.download_once(endpoint, digest, size, &partial).await {
                Ok(()) => return Ok(()),
                Err(
                    e @ (ImageError::RegistryConnection { .. } | ImageError::DigestMismatch { .. }),
                ) if tries < BLOB_TRIES => {
                    tracing::warn!(blob = %digest, endpoint = %endpoint.base(), error = %e, "blob download interrupted; resuming");
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn download_once(
        &self,
        endpoint: &Endpoint,
        digest: &Digest,
        size: Option<u64>,
        partial: &Path,
    ) -> Result<()> {
        let have = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        let have = if size.is_some_and(|s| have >= s) {
            0
        } else {
            have
        };
        let url = format!(
            "{}{}/{}/blobs/{digest}",
            endpoint.base(),
            endpoint.api_path,
            endpoint.repository
        );
        let response = self
            .inner
            .registry
            .get(endpoint, &format!("blobs/{digest}"), None, Some(have))
            .await?;
        let resumed = have > 0 && response.status() == StatusCode::PARTIAL_CONTENT;
        if have > 0 && !resumed {
            tracing::debug!(blob = %digest, "registry ignored the range request; downloading from the start");
        }
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        let writer = {
            let partial = partial.to_path_buf();
            tokio::task::spawn_blocking(move || write_blob(&partial, resumed, rx))
        };
        let mut body = response.into_body();
        let mut received = if resumed { have } else { 0 };
        let mut stream_error = None;
        loop {
            match tokio::time::timeout(STALL_TIMEOUT, next_chunk(&mut body)).await {
                Ok(Ok(Some(chunk))) => {
                    received += chunk.len() as u64;
                    if size.is_some_and(|s| received > s) {
                        stream_error = Some(format!(
                            "more than the {} bytes announced",
                            size.unwrap_or(0)
                        ));
                        break;
                    }
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    stream_error = Some(format!(
                        "connection broke after {received} bytes: {}",
                        error_chain(&e)
                    ));
                    break;
                }
                Err(_) => {
                    stream_error = Some(format!(
                        "no data for {}s after {received} bytes",
                        STALL_TIMEOUT.as_secs()
                    ));
                    break;
                }
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| ImageError::Task(e.to_string()))??;
        if let Some(reason) = stream_error {
            return Err(ImageError::RegistryConnection { url, reason });
        }
        let (actual, length, file) = written;
        if actual != *digest || size.is_some_and(|s| s != length) {
            let _ = std::fs::remove_file(partial);
            return Err(ImageError::DigestMismatch {
                what: format!("blob from {url} ({length} bytes)"),
                expected: digest.clone(),
                actual,
            });
        }
        let content = self.inner.content.clone();
        let partial = partial.to_path_buf();
        let digest = digest.clone();
        tokio::task::spawn_blocking(move || content.commit(file, &partial, &digest))
            .await
            .map_err(|e| ImageError::Task(e.to_string()))?
    }
}

/// Writes the chunks of `rx` to `partial` (appending after its current content when
/// `resume`), hashing everything; returns the digest and length of the whole file.
fn write_blob(
    partial: &PathBuf,
    resume: bool,
    mut rx: mpsc::Receiver<Bytes>,
) -> Result<(Digest, u64, std::fs::File)> {
    let io_err = |action| ImageError::io(action, partial);
    let (file, hasher, count) = if resume {
        let mut existing = std::fs::File::open(partial).map_err(io_err("open"))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut count = 0u64;
        loop {
            let n = existing.read(&mut buf).map_err(io_err("read"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            count += n as u64;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(partial)
            .map_err(io_err("open"))?;
        (file, hasher, count)
    } else {
        (
            std::fs::File::create(partial).map_err(io_err("create"))?,
            Sha256::new(),
            0,
        )
    };
    let mut writer =
        HashingWriter::resume(BufWriter::with_capacity(256 * 1024, file), hasher, count);
    while let Some(chunk) = rx.blocking_recv() {
        writer.write_all(&chunk).map_err(io_err("write"))?;
    }
    let (digest, length, buffered) = writer.finish();
    let file = buffered
        .into_inner()
        .map_err(|e| io_err("write")(e.into_error()))?;
    Ok((digest, length, file))
}
