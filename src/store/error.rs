//! Errors of the datastore contract. Backends translate their own failures into
//! [`Error::Backend`], naming the step that failed.

use super::{KeyValue, Revision};

pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String, current: KeyValue },

    #[error("key {key:?} not found")]
    NotFound { key: String },

    #[error("key {key:?} was modified: expected revision {expected}, it is at {}", current.mod_revision)]
    Conflict {
        key: String,
        expected: Revision,
        current: KeyValue,
    },

    #[error("revision {requested} has been compacted (history starts after {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },

    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    #[error("the datastore is closed")]
    Closed,

    #[error("datastore {step} failed: {source}")]
    Backend {
        step: &'static str,
        #[source]
        source: BackendError,
    },
}

impl Error {
    pub(crate) fn backend(step: &'static str, source: impl Into<BackendError>) -> Self {
        Error::Backend {
            step,
            source: source.into(),
        }
    }
}
