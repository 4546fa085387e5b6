//! `kedge agent`: a node that joins a server; [`kubelet`]: the node agent's pod side, also
//! run inside `kedge server` for the server's own node; [`dns`]: the cluster DNS every node
//! serves.

pub mod dns;
pub mod kubelet;

pub mod network;

pub mod proxy;

use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;

/// Runs the agent until `shutdown` is cancelled.
///
/// # Errors
/// Joining a server is not implemented yet, so this always fails with a message saying so.
pub async fn run(config: AgentConfig, _shutdown: CancellationToken) -> anyhow::Result<()> {
    anyhow::bail!(
        "kedge agent cannot join {} yet: the node agent is not implemented in this kedge; run `kedge server` for a single-node control plane",
        config.server
    )
}
