//! kedge: a Kubernetes distribution in one binary.
//!
//! - [`cli`]: flags, environment variables and the config file;
//! - [`config`]: validated, typed configuration per component;
//! - [`paths`]: every on-disk location, derived from `--data-dir`;
//! - [`store`]: the revisioned key-value datastore (SQLite, or in memory for tests);
//! - [`api`]: the Kubernetes API server; [`controllers`]: the controllers inside `kedge server`;
//! - [`scheduler`]: the scheduler inside `kedge server`;
//! - [`server`]: `kedge server`, the control plane's start-up;
//! - [`agent`]: `kedge agent`, a node; [`runtime`]: the embedded container runtime (images, `kedge shim`);
//! - [`check_config`]: `kedge check-config`, whether the host has what kedge needs;
//! - [`sd_notify`]: telling systemd that kedge is ready.

pub mod agent;
pub mod api;
pub mod check_config;
pub mod cli;
pub mod config;
pub mod controllers;
pub mod host;
pub mod kubeconfig;
pub mod nftables;
pub mod paths;
pub mod pki;
pub mod runtime;
pub mod scheduler;
pub mod sd_notify;
pub mod server;
pub mod store;

/// The kedge version, as `kedge --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
