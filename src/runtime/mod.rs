//! The embedded container runtime of the node agent.
//!
//! - [`images`]: the image store: content-addressed blobs, unpacked layers shared between
//!   images, air-gap archive import and pulls from registries.

pub mod images;
