//! `kedge server` flags. Names, defaults and environment variables follow `k3s server`.

use std::path::PathBuf;

use clap::Args;

use super::{CommonArgs, NodeArgs};

#[derive(Debug, Clone, Args)]
#[command(about = "Run a control plane (and, unless --disable-agent, a node) on this machine")]
pub struct ServerArgs {
    /// Address the API server listens on
    #[arg(
        long,
        default_value = "0.0.0.0",
        value_name = "IP",
        help_heading = "Listener"
    )]
    pub bind_address: String,

    /// HTTPS port of the API server
    #[arg(
        long,
        default_value_t = 6443,
        value_name = "PORT",
        help_heading = "Listener"
    )]
    pub https_listen_port: u16,

    /// Address the API server advertises to members of the cluster (default: node IP)
    #[arg(long, value_name = "IP", help_heading = "Listener")]
    pub advertise_address: Option<String>,

    /// Extra host name or IP in the serving certificate (repeatable)
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append, help_heading = "Listener")]
    pub tls_san: Vec<String>,

    /// Where to write the admin kubeconfig
    #[arg(
        short = 'o',
        long,
        env = "KEDGE_KUBECONFIG_OUTPUT",
        default_value = "/etc/kedge/kedge.yaml",
        value_name = "FILE",
        help_heading = "Client"
    )]
    pub write_kubeconfig: PathBuf,

    /// File mode of the admin kubeconfig, in octal
    #[arg(
        long,
        env = "KEDGE_KUBECONFIG_MODE",
        default_value = "0600",
        value_name = "MODE",
        help_heading = "Client"
    )]
    pub write_kubeconfig_mode: String,

    /// Pod IP range; each node gets a /24 of it
    #[arg(
        long,
        default_value = "10.42.0.0/16",
        value_name = "CIDR",
        help_heading = "Networking"
    )]
    pub cluster_cidr: String,

    /// Service ClusterIP range
    #[arg(
        long,
        default_value = "10.43.0.0/16",
        value_name = "CIDR",
        help_heading = "Networking"
    )]
    pub service_cidr: String,

    /// NodePort range
    #[arg(
        long,
        default_value = "30000-32767",
        value_name = "RANGE",
        help_heading = "Networking"
    )]
    pub service_node_port_range: String,

    /// Cluster DNS service IP (default: the 10th address of the service CIDR)
    #[arg(long, value_name = "IP", help_heading = "Networking")]
    pub cluster_dns: Option<String>,

    /// Cluster domain
    #[arg(
        long,
        default_value = "cluster.local",
        value_name = "DOMAIN",
        help_heading = "Networking"
    )]
    pub cluster_domain: String,

    /// Shared secret that agents and other servers join with
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

    /// Server to join, for a control plane of several servers
    #[arg(
        short = 's',
        long,
        env = "KEDGE_URL",
        value_name = "URL",
        help_heading = "Cluster"
    )]
    pub server: Option<String>,

    /// Datastore: empty for the embedded SQLite, or sqlite://PATH
    #[arg(
        long,
        env = "KEDGE_DATASTORE_ENDPOINT",
        value_name = "URL",
        help_heading = "Database"
    )]
    pub datastore_endpoint: Option<String>,

    /// Packaged component not to deploy: coredns, servicelb, local-storage, metrics-server, traefik (repeatable)
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append, help_heading = "Components")]
    pub disable: Vec<String>,

    /// Do not run the scheduler
    #[arg(long, help_heading = "Components")]
    pub disable_scheduler: bool,

    /// Do not run the service proxy
    #[arg(long, help_heading = "Components")]
    pub disable_kube_proxy: bool,

    /// Run only the control plane: no pods on this machine
    #[arg(long, help_heading = "Components")]
    pub disable_agent: bool,

    #[command(flatten)]
    pub node: NodeArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}
