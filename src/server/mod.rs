//! `kedge server`: the control plane, started in the order written out in [`run`].

mod bootstrap;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

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
/// 5. listen on `--https-listen-port`, create the system namespaces, write the kubeconfig.
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
    if !config.disable_agent {
        warn!("the node agent is not implemented yet: this server runs no pods");
    }

    let store = open_datastore(&config.datastore).await?;
    let revision = store.current_revision().await?;
    info!(revision, "datastore ready");
    let compactor = tokio::spawn(store::compactor::run(
        store.clone(),
        store::compactor::DEFAULT_INTERVAL,
        shutdown.child_token(),
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

    let cache = tokio::spawn(
        state
            .cache
            .clone()
            .run(store.clone(), shutdown.child_token()),
    );
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
        shutdown.child_token(),
    ));
    bootstrap::system_namespaces(&state).await?;
    let advertise = config
        .advertise_address
        .or(config.node.ip)
        .or_else(crate::host::default_route_ip)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    bootstrap::kubernetes_service(&state, advertise, config.https_port).await?;
    let controllers = crate::controllers::start(&state, &shutdown);
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
        "kedge server is ready (scheduler, controllers and node agent arrive in later releases); stop it with Ctrl-C"
    );
    if let Err(error) = crate::sd_notify::ready() {
        warn!("{error}");
    }

    shutdown.cancelled().await;
    info!("shutting down");
    let _ = serving.await;
    let _ = controllers.await;
    let _ = crds.await;
    let _ = cache.await;
    let _ = compactor.await;
    drop(state);
    // The last handle closes the database after every queued write is committed.
    tokio::task::spawn_blocking(move || drop(store)).await?;
    Ok(())
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
    let detected = crate::host::default_route_ip();
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
