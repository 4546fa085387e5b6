//! The in-memory key index both backends share: for every key, the revisions of its retained
//! versions, oldest first. It answers "which version of each key was live at revision R"
//! without touching disk; the SQLite backend keeps only values on disk, keyed by revision,
//! so a commit writes nothing but appended log pages.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{Error, INITIAL_REVISION, Revision};

/// One retained version of a key. `value` is what the backend keeps in memory for it
/// (`()` for SQLite, the bytes for the in-memory store); `None` marks a delete.
#[derive(Clone, Debug)]
pub struct Version<V> {
    pub revision: Revision,
    pub create_revision: Revision,
    pub value: Option<V>,
}

/// A live key found by a lookup.
#[derive(Clone, Debug)]
pub struct Found<'a, V> {
    pub key: &'a str,
    pub revision: Revision,
    pub create_revision: Revision,
    pub value: &'a V,
}

/// One page of a list, before values are attached.
pub struct Page<'a, V> {
    pub found: Vec<Found<'a, V>>,
    pub count: u64,
    pub revision: Revision,
}

#[derive(Debug)]
pub struct KeyIndex<V> {
    current: Revision,
    compacted: Revision,
    keys: BTreeMap<String, Vec<Version<V>>>,
}

impl<V> Default for KeyIndex<V> {
    fn default() -> Self {
        KeyIndex {
            current: INITIAL_REVISION,
            compacted: 0,
            keys: BTreeMap::new(),
        }
    }
}

impl<V> KeyIndex<V> {
    pub fn current(&self) -> Revision {
        self.current
    }

    pub fn compacted(&self) -> Revision {
        self.compacted
    }

    /// Sets the revisions after loading, when the log's last rows may have been compacted.
    pub fn restore(&mut self, current: Revision, compacted: Revision) {
        self.current = self.current.max(current);
        self.compact(compacted);
    }

    /// Checks that `revision` can be read: not compacted, not in the future.
    pub fn check_revision(&self, revision: Revision) -> Result<(), Error> {
        if revision < self.compacted {
            return Err(Error::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        if revision > self.current {
            return Err(Error::FutureRevision {
                requested: revision,
                current: self.current,
            });
        }
        Ok(())
    }

    /// The version of `key` live at `revision`.
    pub fn at(&self, key: &str, revision: Revision) -> Option<Found<'_, V>> {
        let (key, versions) = self.keys.get_key_value(key)?;
        found(key, versions, revision)
    }

    pub fn latest(&self, key: &str) -> Option<Found<'_, V>> {
        self.at(key, self.current)
    }

    /// Keys under `prefix` after `start_after`, live at `revision` (the current one if
    /// `None`): the first `limit`, and how many there are in all.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: Option<Revision>,
        limit: Option<usize>,
    ) -> Result<Page<'_, V>, Error> {
        let revision = revision.unwrap_or(self.current);
        self.check_revision(revision)?;
        let start = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let limit = limit.unwrap_or(usize::MAX);
        let mut page = Page {
            found: Vec::new(),
            count: 0,
            revision,
        };
        let range = self
            .keys
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix));
        for (key, versions) in range {
            if let Some(f) = found(key, versions, revision) {
                page.count += 1;
                if page.found.len() < limit {
                    page.found.push(f);
                }
            }
        }
        Ok(page)
    }

    /// Records a committed write. Revisions must be recorded in increasing order.
    pub fn record(&mut self, key: &str, version: Version<V>) {
        self.current = self.current.max(version.revision);
        match self.keys.get_mut(key) {
            Some(versions) => versions.push(version),
            None => {
                self.keys.insert(key.to_string(), vec![version]);
            }
        }
    }

    /// Forgets versions no read at or after `revision` can see.
    pub fn compact(&mut self, revision: Revision) {
        if revision <= self.compacted {
            return;
        }
        self.compacted = revision;
        self.keys.retain(|_, versions| {
            // Keep the version live at `revision` (unless it is a delete) and newer ones.
            let newer = versions.partition_point(|v| v.revision <= revision);
            let keep_from = match newer.checked_sub(1) {
                Some(i) if versions[i].value.is_some() => i,
                _ => newer,
            };
            versions.drain(..keep_from);
            !versions.is_empty()
        });
    }
}

fn found<'a, V>(
    key: &'a str,
    versions: &'a [Version<V>],
    revision: Revision,
) -> Option<Found<'a, V>> {
    let version = versions.iter().rev().find(|v| v.revision <= revision)?;
    Some(Found {
        key,
        revision: version.revision,
        create_revision: version.create_revision,
        value: version.value.as_ref()?,
    })
}
