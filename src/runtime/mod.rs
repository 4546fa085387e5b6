//! The embedded container runtime: pod sandboxes and their containers, run by one
//! `kedge shim` process per pod through youki's libcontainer (see [`shim`] for the design).
//!
//! - [`images`]: the image store: content-addressed blobs, unpacked layers shared between
//!   images, air-gap archive import and pulls from registries;
//! - [`config`]: what the agent asks for (`SandboxConfig`, `ContainerConfig`);
//! - [`sandbox`]: the agent's side: start a shim, talk to it, recover shims after a restart;
//! - [`shim`]: `kedge shim`, the per-pod supervisor (the only caller of libcontainer);
//! - [`protocol`]: the framed protocol on the shim's socket (requests, exec/attach streams);
//! - [`oci`]: the OCI runtime spec of a container; [`users`]: image users and groups;
//! - [`cgroups`]: pod and container cgroups on v1 and v2, OOM kills;
//! - [`logs`]: CRI-format container logs with rotation;
//! - [`state`]: the container state machine; [`layout`]: where everything lives;
//! - [`kernel`]: mounts, namespaces and cgroup files behind a trait, with a recording fake.

pub mod cgroups;
pub mod config;
// The image store's unpacked layer directories are the `lower_dirs` of a ContainerConfig.
pub mod images;
pub mod kernel;
pub mod layout;
pub mod logs;
pub mod oci;
pub mod protocol;
pub mod sandbox;
pub mod shim;
pub mod state;
pub mod users;
