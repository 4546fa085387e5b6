//! `kedge agent` flags, and the node flags that `kedge server` shares.

use std::path::PathBuf;

use clap::Args;

use super::CommonArgs;

/// Flags describing this machine as a Kubernetes node (k3s's agent flags).
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Directory holding all state
    #[arg(short = 'd', long, env = "KEDGE_DATA_DIR", default_value = crate::paths::DEFAULT_DATA_DIR, value_name = "DIR", help_heading = "Data")]
    pub data_dir: PathBuf,

    /// Node name (default: the hostname)
    #[arg(
        long,
        env = "KEDGE_NODE_NAME",
        value_name = "NAME",
        help_heading = "Node"
    )]
    pub node_name: Option<String>,

    /// IP address to advertise for the node (default: the address of the default route)
    #[arg(short = 'i', long, value_name = "IP", help_heading = "Node")]
    pub node_ip: Option<String>,

    /// External IP address to advertise for the node
    #[arg(long, value_name = "IP", help_heading = "Node")]
    pub node_external_ip: Option<String>,

    /// Label to register the node with, key=value (repeatable)
    #[arg(long, value_name = "KEY=VALUE", action = clap::ArgAction::Append, help_heading = "Node")]
    pub node_label: Vec<String>,

    /// Taint to register the node with, key=value:Effect (repeatable)
    #[arg(long, value_name = "KEY=VALUE:EFFECT", action = clap::ArgAction::Append, help_heading = "Node")]
    pub node_taint: Vec<String>,

    /// Registry mirrors and credentials file
    #[arg(
        long,
        env = "KEDGE_PRIVATE_REGISTRY",
        default_value = "/etc/kedge/registries.yaml",
        value_name = "FILE",
        help_heading = "Node"
    )]
    pub private_registry: PathBuf,

    /// resolv.conf whose nameservers cluster DNS forwards to (default: the host's)
    #[arg(
        long,
        env = "KEDGE_RESOLV_CONF",
        value_name = "FILE",
        help_heading = "Node"
    )]
    pub resolv_conf: Option<PathBuf>,

    /// Upstream kubelet flag for the node's kubelet, flag=value (repeatable): max-pods,
    /// eviction-hard, system-reserved, kube-reserved, image-gc-high-threshold,
    /// image-gc-low-threshold, minimum-image-ttl-duration
    #[arg(long, value_name = "FLAG=VALUE", action = clap::ArgAction::Append, help_heading = "Node")]
    pub kubelet_arg: Vec<String>,
}

#[derive(Debug, Clone, Args)]
#[command(about = "Run a node that joins a server with a token")]
pub struct AgentArgs {
    /// Server to join, https://HOST:6443
    #[arg(
        short = 's',
        long,
        env = "KEDGE_URL",
        value_name = "URL",
        help_heading = "Cluster"
    )]
    pub server: Option<String>,

    /// Token for joining the server
    #[arg(
        short = 't',
        long,
        env = "KEDGE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = "Cluster"
    )]
    pub token: Option<String>,

    /// File holding the token
    #[arg(
        long,
        env = "KEDGE_TOKEN_FILE",
        value_name = "FILE",
        help_heading = "Cluster"
    )]
    pub token_file: Option<PathBuf>,

    #[command(flatten)]
    pub node: NodeArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}
