//! Errors of the image store, one variant per failing step.

use std::path::PathBuf;

use super::digest::Digest;

/// A result of the image store.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// What went wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file or directory of the store could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An image name that is not a valid reference.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    /// A digest string that is not `sha256:<64 hex digits>`.
    #[error("invalid digest {0:?}: only sha256 digests are supported")]
    InvalidDigest(String),

    /// Content whose hash is not the digest it was fetched or listed by.
    #[error("content of {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    /// An archive that is neither a docker-save nor an OCI-layout archive, or is damaged.
    #[error("cannot import {path}: {reason}")]
    Archive { path: PathBuf, reason: String },

    /// A JSON document (manifest, index, config, records) that does not parse.
    #[error("cannot parse {what}: {source}")]
    ParseJson {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    /// A manifest or index of a media type the store does not handle.
    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType { what: String, media_type: String },

    /// A layer tarball that could not be unpacked.
    #[error("cannot unpack layer {layer}: {source}")]
    Unpack {
        layer: Digest,
        #[source]
        source: std::io::Error,
    },

    /// An image whose index has no manifest for this node.
    #[error("no manifest of {reference} matches this node's platform {platform}")]
    NoMatchingPlatform { reference: String, platform: String },

    /// A registry answered with an unexpected status.
    #[error("{url}: registry answered {status}{detail}")]
    RegistryStatus {
        url: String,
        status: u16,
        detail: String,
    },

    /// A registry refused the credentials (or their absence).
    #[error(
        "{url}: unauthorized ({reason}); check the credentials for this registry in registries.yaml or the pod's imagePullSecrets"
    )]
    Unauthorized { url: String, reason: String },

    /// A registry could not be reached or the connection broke.
    #[error("{url}: {reason}")]
    RegistryConnection { url: String, reason: String },

    /// Every endpoint of a pull failed; each attempt's error is listed.
    #[error("cannot pull {reference}: {}", attempts.join("; "))]
    PullFailed {
        reference: String,
        attempts: Vec<String>,
    },

    /// `registries.yaml` (or a file it names) is invalid.
    #[error("invalid registries config {path}: {reason}")]
    RegistriesConfig { path: PathBuf, reason: String },

    /// TLS settings of a registry endpoint could not be built.
    #[error("TLS settings for {host}: {reason}")]
    Tls { host: String, reason: String },

    /// An image asked for by name or id is not in the store.
    #[error("image {0} is not present in the store")]
    NotFound(String),

    /// A blocking task of the store panicked or was cancelled.
    #[error("a background task of the image store failed: {0}")]
    Task(String),
}

impl ImageError {
    /// An [`ImageError::Io`] for `action` on `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ImageError::Io {
            action,
            path,
            source,
        }
    }

    /// An [`ImageError::ParseJson`] for `what`.
    pub fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Self {
        let what = what.into();
        move |source| ImageError::ParseJson { what, source }
    }
}
