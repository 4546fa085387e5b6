//! The air-gap directory (`<data-dir>/agent/images/`), with k3s's semantics: archives
//! (`.tar`, `.tar.gz`, `.tgz`, `.tar.zst`, `.tzst`) are imported at start and whenever one
//! appears or changes; a `.txt` file lists images (one per line, `#` comments) to pull.
//!
//! The directory is polled (cheap: one `stat` per file). A new or changed file is processed
//! once its size and mtime have held still for one poll, so a file being copied in is not
//! read half-written. What was done is remembered in `import-state.json` beside the store:
//! after a restart, an unchanged file whose images are all still present is skipped.
//!
//! Images that came from the directory are pinned ([`ImageStore::pinned`]): garbage
//! collection never removes them, as k3s pins what it imports, so an air-gapped node does not
//! lose images it has no registry to pull again from.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::error::{ImageError, Result};
use super::metadata::write_atomic;
use super::store::ImageStore;

/// What the watcher did, beside the store.
const STATE_FILE: &str = "import-state.json";
/// How often the directory is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a failed file waits before it is tried again (unless it changes).
const RETRY_AFTER: Duration = Duration::from_secs(300);

/// What is known of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: u128,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// File name → stamp and the image ids (or names, for `.txt`) it produced.
    #[serde(default)]
    done: BTreeMap<String, (Stamp, Vec<String>)>,
}

/// Whether `name` is something the watcher handles.
pub fn is_import_file(name: &str) -> bool {
    [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".txt"]
        .iter()
        .any(|ext| name.ends_with(ext))
        && !name.starts_with('.')
}

impl ImageStore {
    /// The ids of the images the air-gap directory produced (imported or pulled).
    pub fn pinned(&self) -> HashSet<String> {
        let state: State = std::fs::read(self.root().join(STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        state
            .done
            .into_values()
            .flat_map(|(_, produced)| produced)
            .collect()
    }

    /// Imports and pulls what `dir` holds, then keeps watching it until `shutdown`.
    ///
    /// # Errors
    /// Only if the state file cannot be written; a file that fails is logged and retried
    /// when it changes or after five minutes.
    pub async fn watch_import_dir(&self, dir: &Path, shutdown: CancellationToken) -> Result<()> {
        let state_path = self.root().join(STATE_FILE);
        let mut state: State = std::fs::read(&state_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut pending: HashMap<String, Stamp> = HashMap::new();
        let mut failed: HashMap<String, (Stamp, std::time::Instant)> = HashMap::new();
        let mut first = true;
        loop {
            for (name, stamp) in scan(dir) {
                // An unchanged file is done with; at start, only if its images are all still
                // there (the store may have been wiped or images removed while stopped).
                if let Some((done, produced)) = state.done.get(&name)
                    && *done == stamp
                    && (!first || self.all_present(produced))
                {
                    continue;
                }
                if let Some((f, at)) = failed.get(&name)
                    && *f == stamp
                    && at.elapsed() < RETRY_AFTER
                {
                    continue;
                }
                // Files present at start are taken as complete; later ones must hold still.
                let stable = first || pending.get(&name) == Some(&stamp);
                if !stable {
                    pending.insert(name, stamp);
                    continue;
                }
                pending.remove(&name);
                let path = dir.join(&name);
                match self.process(&path, &name).await {
                    Ok(produced) => {
                        failed.remove(&name);
                        state.done.insert(name, (stamp, produced));
                        let bytes = serde_json::to_vec_pretty(&state)
                            .map_err(ImageError::json("import state"))?;
                        write_atomic(&state_path, &bytes)?;
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "image import failed");
                        failed.insert(name, (stamp, std::time::Instant::now()));
                    }
                }
                if shutdown.is_cancelled() {
                    return Ok(());
                }
            }
            first = false;
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    async fn process(&self, path: &Path, name: &str) -> Result<Vec<String>> {
        if name.ends_with(".txt") {
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(ImageError::io("read", path))?;
            let mut pulled = Vec::new();
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                let image = self.pull(line, None).await?;
                pulled.push(image.id.to_string());
            }
            return Ok(pulled);
        }
        let store = self.clone();
        let path = path.to_path_buf();
        let started = std::time::Instant::now();
        let refs = tokio::task::spawn_blocking(move || store.import_archive(&path))
            .await
            .map_err(|e| ImageError::Task(e.to_string()))??;
        tracing::info!(
            file = name,
            images = refs.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "imported archive"
        );
        Ok(refs.into_iter().map(|r| r.id.to_string()).collect())
    }

    fn all_present(&self, produced: &[String]) -> bool {
        produced.iter().all(|id| self.get(id).is_some())
    }
}

/// The files of `dir` the watcher handles, with their stamps.
fn scan(dir: &Path) -> Vec<(String, Stamp)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Stamp)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            if !is_import_file(&name) {
                return None;
            }
            let meta = std::fs::metadata(e.path()).ok()?;
            if !meta.is_file() {
                return None;
            }
            let mtime_ns = meta
                .modified()
                .ok()?
                .duration_since(UNIX_EPOCH)
                .ok()?
                .as_nanos();
            Some((
                name,
                Stamp {
                    size: meta.len(),
                    mtime_ns,
                },
            ))
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_file_names() {
        for ok in [
            "a.tar",
            "a.tar.gz",
            "a.tgz",
            "a.tar.zst",
            "b.tzst",
            "list.txt",
        ] {
            assert!(is_import_file(ok), "{ok}");
        }
        for no in ["a.zip", ".hidden.tar", "a.tar.part", "README"] {
            assert!(!is_import_file(no), "{no}");
        }
    }
}
