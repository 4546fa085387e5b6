//! The content-addressed blob store (`content/blobs/sha256/<hex>`), written only through
//! temporary files that are verified, synced and renamed into place, and the leases that keep
//! content a pull or import is working with safe from a concurrent removal.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::digest::{Digest, HashingWriter};
use super::error::{ImageError, Result};

/// Blobs by digest.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Opens (creating) the store under `root` (`<agent>/content`).
    ///
    /// # Errors
    /// The directories cannot be created.
    pub fn open(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        for dir in [&blobs, &ingest] {
            std::fs::create_dir_all(dir).map_err(ImageError::io("create", dir))?;
        }
        // Temporary files of an interrupted import are useless; partial downloads are kept
        // for resumption.
        if let Ok(entries) = std::fs::read_dir(&ingest) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with("tmp-") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(ContentStore { blobs, ingest })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Where a download of `digest` in progress is kept.
    pub fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.ingest.join(format!("{}.partial", digest.hex()))
    }

    /// The size of the stored blob, if present.
    pub fn size(&self, digest: &Digest) -> Option<u64> {
        std::fs::metadata(self.path(digest)).ok().map(|m| m.len())
    }

    pub fn has(&self, digest: &Digest) -> bool {
        self.size(digest).is_some()
    }

    /// Reads a small blob (manifest, config) whole.
    ///
    /// # Errors
    /// The blob is missing or unreadable.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.path(digest);
        std::fs::read(&path).map_err(ImageError::io("read blob", path))
    }

    /// Opens a blob for streaming.
    ///
    /// # Errors
    /// The blob is missing or unreadable.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.path(digest);
        File::open(&path).map_err(ImageError::io("open blob", path))
    }

    /// Stores `bytes`, checking them against `expected` when given; returns their digest.
    ///
    /// # Errors
    /// A digest mismatch or a failed write.
    pub fn write(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        self.ingest(&mut &bytes[..], expected, "blob")
            .map(|(d, _)| d)
    }

    /// Copies `reader` into the store through a temporary file, hashing on the way; the blob
    /// appears under its digest only when complete and (if `expected` is given) verified.
    /// Returns the digest and size.
    ///
    /// # Errors
    /// A read or write error, or a digest mismatch (nothing is stored then).
    pub fn ingest(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<(Digest, u64)> {
        let tmp = self.temp_path();
        let file = File::create(&tmp).map_err(ImageError::io("create", &tmp))?;
        let mut writer = HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, file));
        let copied = io::copy(reader, &mut writer);
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(ImageError::io("copy into", &tmp)(e));
        }
        let (digest, size, buffered) = writer.finish();
        if let Some(expected) = expected
            && *expected != digest
        {
            let _ = std::fs::remove_file(&tmp);
            return Err(ImageError::DigestMismatch {
                what: what.to_string(),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let file = buffered
            .into_inner()
            .map_err(|e| ImageError::io("write", &tmp)(e.into_error()))?;
        self.commit(file, &tmp, &digest)?;
        Ok((digest, size))
    }

    /// Syncs `file` (at `tmp`, already verified to hold `digest`) and renames it into place.
    ///
    /// # Errors
    /// A failed sync or rename.
    pub fn commit(&self, file: File, tmp: &Path, digest: &Digest) -> Result<()> {
        file.sync_all().map_err(ImageError::io("sync", tmp))?;
        drop(file);
        let dst = self.path(digest);
        std::fs::rename(tmp, &dst).map_err(ImageError::io("rename into place", dst))
    }

    /// A fresh temporary file name in the ingest directory.
    pub fn temp_path(&self) -> PathBuf {
        self.ingest
            .join(format!("tmp-{}", uuid::Uuid::new_v4().simple()))
    }

    /// Every stored blob.
    ///
    /// # Errors
    /// The blob directory cannot be listed.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let entries =
            std::fs::read_dir(&self.blobs).map_err(ImageError::io("list", &self.blobs))?;
        Ok(entries
            .flatten()
            .filter_map(|e| {
                Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok()
            })
            .collect())
    }

    /// Partial downloads: path and age.
    pub fn partials(&self) -> Vec<(PathBuf, std::time::Duration)> {
        let Ok(entries) = std::fs::read_dir(&self.ingest) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let age = e
                    .metadata()
                    .ok()?
                    .modified()
                    .ok()?
                    .elapsed()
                    .unwrap_or_default();
                Some((e.path(), age))
            })
            .collect()
    }

    /// Removes a blob (absent is fine).
    ///
    /// # Errors
    /// A failed unlink.
    pub fn remove(&self, digest: &Digest) -> Result<()> {
        let path = self.path(digest);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ImageError::io("remove", path)(e)),
            _ => Ok(()),
        }
    }
}

/// Counts of content (blob digests, snapshot diff ids) in use by pulls and imports under way.
#[derive(Debug, Default)]
pub struct Leases {
    held: Mutex<HashMap<Digest, usize>>,
}

impl Leases {
    /// A new, empty lease; add content to it before checking whether that content exists.
    pub fn lease(self: &Arc<Self>) -> Lease {
        Lease {
            leases: Arc::clone(self),
            keys: Mutex::new(Vec::new()),
        }
    }

    /// The held content, locked: removal decides under this lock.
    pub fn held(&self) -> MutexGuard<'_, HashMap<Digest, usize>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Content protected from removal until dropped.
#[derive(Debug)]
pub struct Lease {
    leases: Arc<Leases>,
    keys: Mutex<Vec<Digest>>,
}

impl Lease {
    pub fn add(&self, digest: &Digest) {
        *self.leases.held().entry(digest.clone()).or_default() += 1;
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(digest.clone());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let keys = std::mem::take(&mut *self.keys.lock().unwrap_or_else(|e| e.into_inner()));
        let mut held = self.leases.held();
        for key in keys {
            if let Some(n) = held.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    held.remove(&key);
                }
            }
        }
    }
}

/// One async lock per key (a blob being downloaded, a layer being unpacked).
#[derive(Debug, Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// Waits for and takes the lock of `key`.
    pub async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(locks.entry(key.to_string()).or_default())
        };
        lock.lock_owned().await
    }
}

/// Writes `bytes` to a new file (used for small records).
///
/// # Errors
/// A failed write.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(ImageError::io("create", path))?;
    f.write_all(bytes).map_err(ImageError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_verifies_and_stores() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = store.write(b"hello", None).unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(store.read(&d).unwrap(), b"hello");
        let wrong = Digest::of(b"other");
        assert!(matches!(
            store.write(b"hello", Some(&wrong)),
            Err(ImageError::DigestMismatch { .. })
        ));
        assert!(!store.has(&wrong));
        assert_eq!(store.list().unwrap(), vec![d.clone()]);
        store.remove(&d).unwrap();
        assert!(!store.has(&d));
    }

    #[test]
    fn leases_count_and_release() {
        let leases = Arc::new(Leases::default());
        let d = Digest::of(b"x");
        let a = leases.lease();
        a.add(&d);
        let b = leases.lease();
        b.add(&d);
        drop(a);
        assert_eq!(leases.held().get(&d), Some(&1));
        drop(b);
        assert!(leases.held().is_empty());
    }
}
