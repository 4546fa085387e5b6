//! Validated, typed configuration built from the parsed flags. Each component receives only
//! its own part; nothing downstream re-parses strings.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ipnet::Ipv4Net;

use crate::agent::kubelet::args::KubeletArgs;
use crate::cli::{AgentArgs, NodeArgs, ServerArgs, SetFlags};
use crate::paths::DataDir;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid --{flag} {value:?}: {reason}")]
    Invalid {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot read --token-file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Missing(String),
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Where the server keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datastore {
    /// The embedded SQLite database at this path.
    Sqlite(PathBuf),
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub data_dir: DataDir,
    pub bind_address: IpAddr,
    pub https_port: u16,
    pub advertise_address: Option<IpAddr>,
    pub tls_sans: Vec<String>,
    pub kubeconfig_path: PathBuf,
    pub kubeconfig_mode: u32,
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    pub node_port_range: (u16, u16),
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: String,
    pub token: Option<String>,
    pub datastore: Datastore,
    pub disabled: Vec<Component>,
    pub disable_scheduler: bool,
    pub disable_kube_proxy: bool,
    pub disable_agent: bool,
    pub node: NodeConfig,
    /// Flags the user set, for the start-up report of what is not implemented yet.
    pub set_flags: SetFlags,
}

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub server: String,
    pub token: String,
    pub node: NodeConfig,
    pub set_flags: SetFlags,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub data_dir: DataDir,
    pub name: String,
    pub ip: Option<IpAddr>,
    pub external_ip: Option<IpAddr>,
    pub labels: Vec<(String, String)>,
    pub taints: Vec<Taint>,
    pub private_registry: PathBuf,
    pub resolv_conf: Option<PathBuf>,
    /// The kubelet's settings from `--kubelet-arg`.
    pub kubelet: KubeletArgs,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

/// Packaged components that `--disable` turns off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    CoreDns,
    ServiceLb,
    LocalStorage,
    MetricsServer,
    Traefik,
}

impl Component {
    /// Whether kedge has this component at all (it ships no Traefik, local-path provisioner or
    /// metrics-server, so disabling one of those changes nothing).
    pub fn shipped(self) -> bool {
        matches!(self, Component::CoreDns | Component::ServiceLb)
    }

    pub fn name(self) -> &'static str {
        Component::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("", |(n, _)| n)
    }

    const ALL: [(&'static str, Component); 5] = [
        ("coredns", Component::CoreDns),
        ("servicelb", Component::ServiceLb),
        ("local-storage", Component::LocalStorage),
        ("metrics-server", Component::MetricsServer),
        ("traefik", Component::Traefik),
    ];

    fn parse(value: &str) -> Result<Component, ConfigError> {
        Component::ALL
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, c)| *c)
            .ok_or_else(|| {
                let names: Vec<_> = Component::ALL.iter().map(|(n, _)| *n).collect();
                invalid(
                    "disable",
                    value,
                    format!("expected one of {}", names.join(", ")),
                )
            })
    }
}

impl ServerConfig {
    pub fn from_args(args: &ServerArgs, set_flags: SetFlags) -> Result<Self, ConfigError> {
        let data_dir = DataDir::new(&args.node.data_dir);
        let service_cidr = parse_cidr("service-cidr", &args.service_cidr)?;
        let cluster_cidr = parse_cidr("cluster-cidr", &args.cluster_cidr)?;
        if cluster_cidr.prefix_len() > 24 {
            return Err(invalid(
                "cluster-cidr",
                &args.cluster_cidr,
                "must be /24 or larger: each node gets a /24 of it",
            ));
        }
        if cluster_cidr.contains(&service_cidr.network())
            || service_cidr.contains(&cluster_cidr.network())
        {
            return Err(invalid(
                "service-cidr",
                &args.service_cidr,
                format!("overlaps --cluster-cidr {cluster_cidr}"),
            ));
        }
        let cluster_dns = match &args.cluster_dns {
            Some(value) => {
                let ip: Ipv4Addr = value
                    .parse()
                    .map_err(|_| invalid("cluster-dns", value, "expected an IPv4 address"))?;
                if !service_cidr.contains(&ip) {
                    return Err(invalid(
                        "cluster-dns",
                        value,
                        format!("must be inside --service-cidr {service_cidr}"),
                    ));
                }
                ip
            }
            None => nth_address(service_cidr, 10),
        };
        Ok(ServerConfig {
            bind_address: parse_ip("bind-address", &args.bind_address)?,
            https_port: match args.https_listen_port {
                0 => {
                    return Err(invalid(
                        "https-listen-port",
                        "0",
                        "must be a port from 1 to 65535",
                    ));
                }
                port => port,
            },
            advertise_address: args
                .advertise_address
                .as_deref()
                .map(|v| parse_ip("advertise-address", v))
                .transpose()?,
            tls_sans: args.tls_san.clone(),
            kubeconfig_path: args.write_kubeconfig.clone(),
            kubeconfig_mode: parse_mode(&args.write_kubeconfig_mode)?,
            cluster_cidr,
            service_cidr,
            node_port_range: parse_port_range(&args.service_node_port_range)?,
            cluster_dns,
            cluster_domain: parse_domain(&args.cluster_domain)?,
            token: read_token(args.token.as_deref(), args.token_file.as_ref())?,
            datastore: parse_datastore(args.datastore_endpoint.as_deref(), &data_dir)?,
            disabled: args
                .disable
                .iter()
                .flat_map(|v| v.split(','))
                .map(|v| Component::parse(v.trim()))
                .collect::<Result<_, _>>()?,
            disable_scheduler: args.disable_scheduler,
            disable_kube_proxy: args.disable_kube_proxy,
            disable_agent: args.disable_agent,
            node: NodeConfig::from_args(&args.node)?,
            data_dir,
            set_flags,
        })
    }
}

impl AgentConfig {
    pub fn from_args(args: &AgentArgs, set_flags: SetFlags) -> Result<Self, ConfigError> {
        let server = args.server.clone().ok_or_else(|| {
            ConfigError::Missing(
                "kedge agent needs the server to join: pass --server https://HOST:6443 or set KEDGE_URL".into(),
            )
        })?;
        if !server.starts_with("https://") {
            return Err(invalid(
                "server",
                &server,
                "expected an https:// URL such as https://10.0.0.1:6443",
            ));
        }
        let token = read_token(args.token.as_deref(), args.token_file.as_ref())?.ok_or_else(|| {
            ConfigError::Missing(
                "kedge agent needs the join token: pass --token (or --token-file), found on the server in <data-dir>/server/token".into(),
            )
        })?;
        Ok(AgentConfig {
            server,
            token,
            node: NodeConfig::from_args(&args.node)?,
            set_flags,
        })
    }
}

impl NodeConfig {
    fn from_args(args: &NodeArgs) -> Result<Self, ConfigError> {
        let name = match &args.node_name {
            Some(name) => name.clone(),
            None => crate::host::hostname().to_lowercase(),
        };
        if !is_dns_subdomain(&name) {
            return Err(invalid(
                "node-name",
                &name,
                "must be lowercase letters, digits, '-' and '.', start and end with a letter or digit, at most 253 characters",
            ));
        }
        Ok(NodeConfig {
            data_dir: DataDir::new(&args.data_dir),
            name,
            ip: args
                .node_ip
                .as_deref()
                .map(|v| parse_ip("node-ip", v))
                .transpose()?,
            external_ip: args
                .node_external_ip
                .as_deref()
                .map(|v| parse_ip("node-external-ip", v))
                .transpose()?,
            labels: args
                .node_label
                .iter()
                .map(|l| parse_label(l))
                .collect::<Result<_, _>>()?,
            taints: args
                .node_taint
                .iter()
                .map(|t| parse_taint(t))
                .collect::<Result<_, _>>()?,
            private_registry: args.private_registry.clone(),
            resolv_conf: args.resolv_conf.clone(),
            kubelet: KubeletArgs::parse(&args.kubelet_arg).map_err(|(value, reason)| {
                ConfigError::Invalid {
                    flag: "kubelet-arg",
                    value,
                    reason,
                }
            })?,
        })
    }
}

/// Flags that parse and validate but whose feature is not built yet, with what they await.
/// Start-up names each one the user set, so that no setting is silently ignored.
const NOT_YET_IMPLEMENTED: &[(&str, &str)] = &[
    ("token", "joining agents"),
    ("token-file", "joining agents"),
    ("server", "control planes of several servers"),
];

/// The flags in `set` whose feature is not implemented yet, with the feature's name.
pub fn not_yet_implemented(set: &SetFlags) -> Vec<(&'static str, &'static str)> {
    NOT_YET_IMPLEMENTED
        .iter()
        .filter(|(flag, _)| set.contains(flag))
        .copied()
        .collect()
}

fn parse_ip(flag: &'static str, value: &str) -> Result<IpAddr, ConfigError> {
    value
        .parse()
        .map_err(|_| invalid(flag, value, "expected an IP address such as 192.168.1.10"))
}

fn parse_cidr(flag: &'static str, value: &str) -> Result<Ipv4Net, ConfigError> {
    if value.contains(',') {
        return Err(invalid(
            flag,
            value,
            "dual-stack (several CIDRs) is not supported yet; give one IPv4 CIDR",
        ));
    }
    let net: Ipv4Net = value
        .parse()
        .map_err(|_| invalid(flag, value, "expected an IPv4 CIDR such as 10.42.0.0/16"))?;
    if net.network() != net.addr() {
        return Err(invalid(
            flag,
            value,
            format!("has host bits set; did you mean {}?", net.trunc()),
        ));
    }
    Ok(net)
}

fn nth_address(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

fn parse_mode(value: &str) -> Result<u32, ConfigError> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|mode| *mode <= 0o777)
        .ok_or_else(|| {
            invalid(
                "write-kubeconfig-mode",
                value,
                "expected an octal file mode such as 0600 or 644",
            )
        })
}

fn parse_port_range(value: &str) -> Result<(u16, u16), ConfigError> {
    let bad = || {
        invalid(
            "service-node-port-range",
            value,
            "expected LOW-HIGH such as 30000-32767",
        )
    };
    let (low, high) = value.split_once('-').ok_or_else(bad)?;
    let low: u16 = low.trim().parse().map_err(|_| bad())?;
    let high: u16 = high.trim().parse().map_err(|_| bad())?;
    if low == 0 || low > high {
        return Err(bad());
    }
    Ok((low, high))
}

fn parse_domain(value: &str) -> Result<String, ConfigError> {
    let domain = value.trim_end_matches('.');
    if !is_dns_subdomain(domain) || !domain.contains(|c: char| c.is_ascii_alphabetic()) {
        return Err(invalid(
            "cluster-domain",
            value,
            "expected a DNS domain such as cluster.local",
        ));
    }
    Ok(domain.to_string())
}

fn read_token(token: Option<&str>, file: Option<&PathBuf>) -> Result<Option<String>, ConfigError> {
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        return Ok(Some(token.to_string()));
    }
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::TokenFile {
                path: path.clone(),
                source,
            })?;
            Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()))
        }
        None => Ok(None),
    }
}

fn parse_datastore(endpoint: Option<&str>, data_dir: &DataDir) -> Result<Datastore, ConfigError> {
    let endpoint = endpoint.unwrap_or("").trim();
    if endpoint.is_empty() {
        return Ok(Datastore::Sqlite(data_dir.datastore()));
    }
    if let Some(rest) = endpoint.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(invalid(
                "datastore-endpoint",
                endpoint,
                "expected sqlite:///path/to/state.db",
            ));
        }
        return Ok(Datastore::Sqlite(PathBuf::from(path)));
    }
    let scheme = endpoint.split("://").next().unwrap_or(endpoint);
    Err(invalid(
        "datastore-endpoint",
        endpoint,
        format!(
            "the {scheme} datastore is not implemented yet; leave the flag empty for the embedded SQLite datastore"
        ),
    ))
}

fn parse_label(value: &str) -> Result<(String, String), ConfigError> {
    let (key, val) = value
        .split_once('=')
        .ok_or_else(|| invalid("node-label", value, "expected key=value"))?;
    if !is_label_key(key) || !is_label_value(val) {
        return Err(invalid(
            "node-label",
            value,
            "key must be [prefix/]name and value at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric",
        ));
    }
    Ok((key.to_string(), val.to_string()))
}

fn parse_taint(value: &str) -> Result<Taint, ConfigError> {
    let bad = |why: &str| invalid("node-taint", value, why.to_string());
    let (kv, effect) = value
        .rsplit_once(':')
        .ok_or_else(|| bad("expected key=value:Effect"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(bad(
            "effect must be NoSchedule, PreferNoSchedule or NoExecute",
        ));
    }
    let (key, val) = kv.split_once('=').unwrap_or((kv, ""));
    if !is_label_key(key) || !is_label_value(val) {
        return Err(bad("key and value must be valid label key and value"));
    }
    Ok(Taint {
        key: key.into(),
        value: val.into(),
        effect: effect.into(),
    })
}

/// RFC 1123 subdomain, as Kubernetes checks object names.
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_label_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label key: `[prefix/]name`, the prefix a DNS subdomain.
pub fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_label_name(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_k3s() {
        let parsed = crate::cli::parse_from(["kedge", "server", "--config", "/dev/null"]).unwrap();
        let crate::cli::Command::Server(args) = parsed.command else {
            panic!()
        };
        let config = ServerConfig::from_args(&args, parsed.set).unwrap();
        assert_eq!(config.https_port, 6443);
        assert_eq!(config.cluster_cidr.to_string(), "10.42.0.0/16");
        assert_eq!(config.service_cidr.to_string(), "10.43.0.0/16");
        assert_eq!(config.cluster_dns, Ipv4Addr::new(10, 43, 0, 10));
        assert_eq!(config.cluster_domain, "cluster.local");
        assert_eq!(config.kubeconfig_mode, 0o600);
        assert_eq!(
            config.datastore,
            Datastore::Sqlite(PathBuf::from("/var/lib/kedge/server/db/state.db"))
        );
    }

    fn server(extra: &[&str]) -> Result<ServerConfig, ConfigError> {
        let mut args = vec!["kedge", "server", "--config", "/dev/null"];
        args.extend_from_slice(extra);
        let parsed = crate::cli::parse_from(args).unwrap();
        let crate::cli::Command::Server(args) = parsed.command else {
            panic!()
        };
        ServerConfig::from_args(&args, parsed.set)
    }

    #[test]
    fn bad_values_name_the_flag_and_the_fix() {
        for (flags, needle) in [
            (
                &["--cluster-cidr", "10.42.0.0"][..],
                "--cluster-cidr \"10.42.0.0\": expected an IPv4 CIDR",
            ),
            (
                &["--service-cidr", "10.43.0.1/16"],
                "did you mean 10.43.0.0/16?",
            ),
            (
                &["--service-cidr", "10.42.0.0/24"],
                "overlaps --cluster-cidr",
            ),
            (
                &["--cluster-dns", "10.44.0.10"],
                "must be inside --service-cidr",
            ),
            (&["--write-kubeconfig-mode", "rw"], "octal file mode"),
            (&["--service-node-port-range", "5-1"], "LOW-HIGH"),
            (&["--disable", "helm"], "expected one of coredns"),
            (&["--node-taint", "a=b:Never"], "effect must be"),
            (&["--node-label", "a b"], "expected key=value"),
            (&["--node-name", "Bad_Name"], "--node-name"),
            (
                &["--datastore-endpoint", "postgres://db/kedge"],
                "postgres datastore is not implemented yet",
            ),
        ] {
            let error = server(flags).unwrap_err().to_string();
            assert!(error.contains(needle), "{flags:?}: {error}");
        }
    }

    #[test]
    fn valid_values_are_typed() {
        let config = server(&[
            "--node-taint",
            "dedicated=edge:NoSchedule",
            "--node-label",
            "example.com/zone=a",
            "--disable",
            "servicelb,traefik",
            "--write-kubeconfig-mode",
            "644",
            "--datastore-endpoint",
            "sqlite:///tmp/x.db?_journal=WAL",
            "--node-name",
            "pi-1",
        ])
        .unwrap();
        assert_eq!(
            config.node.taints[0],
            Taint {
                key: "dedicated".into(),
                value: "edge".into(),
                effect: "NoSchedule".into()
            }
        );
        assert_eq!(
            config.node.labels,
            [("example.com/zone".to_string(), "a".to_string())]
        );
        assert_eq!(config.disabled, [Component::ServiceLb, Component::Traefik]);
        assert_eq!(config.kubeconfig_mode, 0o644);
        assert_eq!(config.datastore, Datastore::Sqlite("/tmp/x.db".into()));
        assert_eq!(config.node.name, "pi-1");
        let pending = not_yet_implemented(&config.set_flags);
        assert!(pending.is_empty(), "{pending:?}");
        assert!(!pending.iter().any(|(flag, _)| *flag == "node-taint"));
        assert!(!pending.iter().any(|(flag, _)| *flag == "https-listen-port"));
    }
}
