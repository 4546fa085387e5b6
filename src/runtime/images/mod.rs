//! The image store: what the kubelet and the per-pod shims use to get an image's layers and
//! configuration, with no containerd.
//!
//! ```text
//! <data-dir>/agent/
//!   content/blobs/sha256/<hex>    verified blobs: manifests, indexes, configs, layer tarballs
//!   content/ingest/<hex>.partial  downloads in progress (resumed with a Range request)
//!   snapshots/<diff-id hex>/fs    each layer unpacked once, whiteouts in overlayfs form
//!   images.json                   image records: names, layers, configuration
//!   import-state.json             archives of images/ already imported
//!   images/                       air-gap archives and `.txt` image lists (k3s semantics)
//! ```
//!
//! - [`store`]: [`ImageStore`], the entry point: open, list, get, remove, layers;
//! - [`command`]: `kedge images` (list, import, pull, remove);
//! - [`content`]: the blob store, leases that protect content in use from removal;
//! - [`unpack`]: layer tarball → snapshot directory, with whiteout conversion;
//! - [`archive`]: docker-save and OCI-layout archive import;
//! - [`watch`]: the air-gap directory watcher;
//! - [`pull`]: pulling from registries (endpoint fallback, dedup of concurrent pulls);
//! - [`registry`]: the Distribution v2 HTTP client and its authentication;
//! - [`registries`]: `registries.yaml` in k3s's format;
//! - [`credentials`]: `imagePullSecrets` (`.dockerconfigjson`) lookups;
//! - [`reference`]: image names (`busybox` → `docker.io/library/busybox:latest`);
//! - [`platform`]: the node's OS/architecture and index resolution;
//! - [`metadata`]: image records ([`Image`], [`ImageConfig`]) and their persistence;
//! - [`gc`]: image garbage collection by disk usage;
//! - [`digest`]: sha256 digests and hashing readers; [`error`]: [`ImageError`].

pub mod archive;
pub mod command;
pub mod content;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod gc;
pub mod metadata;
pub mod platform;
pub mod pull;
pub mod reference;
pub mod registries;
pub mod registry;
pub mod store;
pub mod unpack;
pub mod watch;

pub use credentials::{Credentials, DockerConfig};
pub use digest::Digest;
pub use error::{ImageError, Result};
pub use gc::GcReport;
pub use metadata::{Image, ImageConfig, ImageId, ImageRef, Layer};
pub use platform::Platform;
pub use reference::Reference;
pub use registries::Registries;
pub use store::ImageStore;
