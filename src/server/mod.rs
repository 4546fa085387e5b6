//! `kedge server`: the control plane, started in the order written out in [`run`].

mod bootstrap;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::api::{self, ApiConfig, ApiState};
use crate::config::{self, Datastore, ServerConfig};
use crate::pki::{ClusterPki, ServingNames};
use crate::store::{self, Store, sqlite::SqliteStore};

/// Runs the server until `shutdown` is cancelled.
///
/// Start-up order:
/// 1. report settings whose feature is not built yet (never ignore a setting silently);
/// 2. open the datastore and start periodic compaction;
/// 3. load or create the certificates;
/// 4. fill the watch cache and follow the datastore;
/// 5. listen on `--https-listen-port`, create the system namespaces;
/// 6. start the controllers, the scheduler and (unless `--disable-agent`) the kubelet of this
///    server's own node, its cluster DNS (unless `--disable coredns`) and its service proxy
///    (unless `--disable-kube-proxy`);
///    write the kubeconfig.
///
/// # Errors
/// Fails when the datastore, certificates, listener or kubeconfig cannot be set up.
pub async fn run(config: ServerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let started = Instant::now();
    for (flag, feature) in config::not_yet_implemented(&config.set_flags) {
        warn!(
            "--{flag} is set but {feature} is not implemented yet in this kedge; the setting has no effect"
        );
    }
    for component in config.disabled.iter().filter(|c| !c.shipped()) {
        info!(
            "--disable {}: kedge does not ship {0}, so there is nothing to disable",
            component.name()
        );
    }

    // The datastore, watch cache and listener outlive the controllers at shutdown: a
    // controller finishing its last reconcile still needs them.
    let core = CancellationToken::new();
    let _stop_core_on_error = core.clone().drop_guard();
    let store = open_datastore(&config.datastore).await?;
    let revision = store.current_revision().await?;
    info!(revision, "datastore ready");
    let compactor = tokio::spawn(store::compactor::run(
        store.clone(),
        store::compactor::DEFAULT_INTERVAL,
        core.child_token(),
    ));

    let names = serving_names(&config);
    let tls_dir = config.data_dir.tls();
    let pki = tokio::task::spawn_blocking(move || ClusterPki::ensure(&tls_dir, &names))
        .await?
        .context("cannot set up the cluster certificates")?;
    let state = ApiState::new(
        store.clone(),
        ApiConfig {
            cluster_domain: config.cluster_domain.clone(),
            cluster_cidr: config.cluster_cidr,
            service_cidr: config.service_cidr,
            node_port_range: config.node_port_range,
        },
        pki.clone(),
    )?;

    let cache = tokio::spawn({
        let run = state.cache.clone().run(store.clone(), core.child_token());
        async move {
            if let Err(error) = run.await {
                error!(%error, "the watch cache stopped");
            }
        }
    });
    state
        .cache
        .wait_fresh(store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("the watch cache did not fill: {e}"))?;

    let crds = tokio::spawn(api::crd::run(state.clone(), shutdown.child_token()));

    let addr = SocketAddr::new(config.bind_address, config.https_port);
    let listener = api::server::bind(addr).await?;
    let tls = api::server::tls_config(&state)?;
    let serving = tokio::spawn(api::server::serve(
        state.clone(),
        listener,
        tls,
        core.child_token(),
    ));
    bootstrap::system_namespaces(&state).await?;
    bootstrap::system_priority_classes(&state).await?;
    let advertise = config
        .advertise_address
        .or(config.node.ip)
        .or_else(crate::host::node_ip)
        .context(
            "this machine has no default route and no non-loopback IPv4 address to advertise the API server at: give an interface an address, or pass --node-ip or --advertise-address",
        )?;
    bootstrap::kubernetes_service(&state, advertise, config.https_port).await?;
    let controllers = crate::controllers::start(&state, &shutdown);
    let scheduler = if config.disable_scheduler {
        tokio::spawn(async {})
    } else {
        crate::scheduler::start(&state, &shutdown)
    };
    let (kubelet, cluster_dns) = if config.disable_agent {
        (tokio::spawn(async {}), tokio::spawn(async {}))
    } else {
        (
            start_kubelet(&state, &config, &shutdown)?,
            if config.disabled.contains(&config::Component::CoreDns) {
                info!(
                    "cluster DNS disabled (--disable coredns): pods' lookups of cluster names fail unless another DNS serves the cluster DNS address"
                );
                tokio::spawn(async {})
            } else {
                start_cluster_dns(&state, &config, &shutdown)
            },
        )
    };
    let proxy = if config.disable_agent || config.disable_kube_proxy {
        tokio::spawn(async {})
    } else {
        start_proxy(&state, &config, &shutdown)
    };
    let server_url = format!(
        "https://{}:{}",
        kubeconfig_host(config.bind_address),
        config.https_port
    );
    crate::kubeconfig::write(
        &config.kubeconfig_path,
        &crate::kubeconfig::admin_kubeconfig(&pki, &server_url),
        config.kubeconfig_mode,
    )?;
    info!(
        kubeconfig = %config.kubeconfig_path.display(),
        elapsed = ?started.elapsed(),
        "kedge server is ready; stop it with Ctrl-C"
    );
    if let Err(error) = crate::sd_notify::ready() {
        warn!("{error}");
    }

    shutdown.cancelled().await;
    info!("shutting down");
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    stop_by(
        deadline,
        [
            ("kubelet", kubelet),
            ("cluster DNS", cluster_dns),
            ("service proxy", proxy),
            ("controllers", controllers),
            ("scheduler", scheduler),
            ("CRD controller", crds),
        ],
    )
    .await;
    core.cancel();
    stop_by(
        deadline.max(tokio::time::Instant::now() + Duration::from_secs(1)),
        [
            ("API server", serving),
            ("watch cache", cache),
            ("compactor", compactor),
        ],
    )
    .await;
    drop(state);
    // The last handle closes the database after every queued write is committed.
    tokio::task::spawn_blocking(move || drop(store)).await?;
    Ok(())
}

/// Starts the kubelet of the server's own node, in process (no tunnel: it calls the API
/// server's handlers directly as `system:node:<name>`).
fn start_kubelet(
    state: &Arc<ApiState>,
    config: &ServerConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use crate::agent::kubelet::{self, KubeletConfig, network::NodeNetwork};
    if !nix::unistd::Uid::effective().is_root() {
        anyhow::bail!(
            "the node agent needs root (namespaces, mounts, cgroups, the pod network): run kedge server as root, or pass --disable-agent for a control plane without a node"
        );
    }
    let shim_binary =
        std::env::current_exe().context("cannot find the kedge executable to start shims from")?;
    let kubelet_config = KubeletConfig {
        node: config.node.clone(),
        control_plane: true,
        cluster_cidr: config.cluster_cidr,
        service_cidr: config.service_cidr,
        cluster_dns: config.cluster_dns,
        cluster_domain: config.cluster_domain.clone(),
        runtime: crate::runtime::layout::RuntimeDirs::for_data_dir(&config.data_dir, shim_binary),
        pods_dir: config.data_dir.kubelet_pods(),
    };
    keep_run_dir_in_memory(&kubelet_config.runtime.run);
    let network = Arc::new(NodeNetwork::new(
        crate::api::local::client(state, &format!("node:{}", config.node.name)),
        &config.node.name,
        config.cluster_cidr.into(),
        config.data_dir.agent_network(),
    ));
    let run = kubelet::run(
        state.clone(),
        kubelet_config,
        network,
        shutdown.child_token(),
    );
    Ok(tokio::spawn(async move {
        if let Err(error) = run.await {
            error!(%error, "the kubelet stopped");
        }
    }))
}

/// Mounts a tmpfs on the runtime directory where `/run` is on disk ([`kernel::keep_in_memory`]
/// says why); pods run either way, so a failure is only reported.
///
/// [`kernel::keep_in_memory`]: crate::runtime::kernel::keep_in_memory
fn keep_run_dir_in_memory(run: &std::path::Path) {
    use crate::runtime::kernel::{LinuxKernel, RunDir, keep_in_memory};
    match keep_in_memory(&LinuxKernel, run) {
        Ok(RunDir::InMemory) => {}
        Ok(RunDir::Mounted) => info!(
            dir = %run.display(),
            "the runtime directory was on disk: mounted a tmpfs on it, as /run is on a usual host"
        ),
        Ok(RunDir::OnDiskInUse) => warn!(
            dir = %run.display(),
            "the runtime directory is on disk and holds an earlier run's pods: using it as it is (kedge-killall.sh, or a reboot with /run on a tmpfs, puts it in memory)"
        ),
        Err(error) => warn!(
            dir = %run.display(),
            %error,
            "cannot keep the runtime directory in memory: pods' runtime files go to the disk"
        ),
    }
}

/// Starts the cluster DNS of the server's own node, in process, next to its kubelet.
fn start_cluster_dns(
    state: &Arc<ApiState>,
    config: &ServerConfig,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use crate::agent::dns::{self, DnsConfig, link::LinuxDnsLink};
    let dns_config = DnsConfig {
        cluster_dns: config.cluster_dns,
        cluster_domain: config.cluster_domain.clone(),
        service_cidr: config.service_cidr,
        cluster_cidr: config.cluster_cidr,
        resolv_conf: config.node.resolv_conf.clone(),
        port: 53,
    };
    let client = crate::api::local::client(state, "kedge-dns");
    let shutdown = shutdown.child_token();
    tokio::spawn(async move {
        if let Err(error) = dns::run(client, dns_config, &LinuxDnsLink, shutdown).await {
            error!(%error, "the cluster DNS stopped");
        }
    })
}

/// Starts the service proxy of the server's own node (in process, like the kubelet). It
/// leaves its rules in place when it stops; without nf_tables in the kernel it logs why and
/// stops while the server runs on.
fn start_proxy(
    state: &Arc<ApiState>,
    config: &ServerConfig,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use crate::agent::proxy::{self, ProxyConfig, nft::Netlink, rules};
    let proxy_config = ProxyConfig {
        node_name: config.node.name.clone(),
        node_ip: config
            .node
            .ip
            .or_else(crate::host::node_ip)
            .unwrap_or(IpAddr::from([127, 0, 0, 1])),
        cluster_cidr: config.cluster_cidr,
        table: rules::DEFAULT_TABLE.to_string(),
        service_lb: !config.disabled.contains(&config::Component::ServiceLb),
    };
    let run = proxy::run(
        crate::api::local::client(state, "kube-proxy"),
        proxy_config,
        Arc::new(Netlink),
        shutdown.child_token(),
    );
    tokio::spawn(async move {
        if let Err(error) = run.await {
            error!(%error, "the service proxy stopped");
        }
    })
}

/// How long the server's components get to finish after SIGTERM before they are abandoned.
/// Acknowledged writes are already durable, so what remains is only courtesy.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Waits for each task in turn until `deadline`, then aborts the rest.
async fn stop_by<const N: usize>(
    deadline: tokio::time::Instant,
    tasks: [(&str, tokio::task::JoinHandle<()>); N],
) {
    for (name, mut task) in tasks {
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            warn!(
                component = name,
                "did not stop within {SHUTDOWN_GRACE:?} of the shutdown signal; abandoning it"
            );
            task.abort();
        }
    }
}

/// The host a local kubeconfig reaches the server at.
fn kubeconfig_host(bind: IpAddr) -> String {
    match bind {
        IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V6(v6) if v6.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        other => other.to_string(),
    }
}

/// Every name the serving certificate must carry.
fn serving_names(config: &ServerConfig) -> ServingNames {
    let domain = &config.cluster_domain;
    let mut names = ServingNames {
        dns: vec![
            "localhost".into(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            format!("kubernetes.default.svc.{domain}"),
            crate::host::hostname().to_lowercase(),
            config.node.name.clone(),
        ],
        ips: vec![
            "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
            IpAddr::V4(std::net::Ipv4Addr::from(
                u32::from(config.service_cidr.network()) + 1,
            )),
        ],
    };
    let detected = crate::host::node_ip();
    for ip in [
        config.node.ip,
        config.node.external_ip,
        config.advertise_address,
        detected,
    ]
    .into_iter()
    .flatten()
    {
        names.ips.push(ip);
    }
    if !config.bind_address.is_unspecified() {
        names.ips.push(config.bind_address);
    }
    for san in &config.tls_sans {
        match san.parse::<IpAddr>() {
            Ok(ip) => names.ips.push(ip),
            Err(_) => names.dns.push(san.clone()),
        }
    }
    names.dns.sort();
    names.dns.dedup();
    names.ips.sort();
    names.ips.dedup();
    names
}

async fn open_datastore(datastore: &Datastore) -> anyhow::Result<Arc<dyn Store>> {
    match datastore {
        Datastore::Sqlite(path) => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                .await?
                .with_context(|| "cannot open the datastore")?;
            info!(path = %store.path().display(), "opened the embedded SQLite datastore");
            Ok(Arc::new(store))
        }
    }
}
