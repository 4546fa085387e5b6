//! `kedge server`: the control plane, started in the order written out in [`run`].

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{self, Datastore, ServerConfig};
use crate::store::{self, Store, sqlite::SqliteStore};

/// Runs the server until `shutdown` is cancelled.
///
/// Start-up order:
/// 1. report settings whose feature is not built yet (never ignore a setting silently);
/// 2. open the datastore;
/// 3. start periodic compaction.
///
/// # Errors
/// Fails when the datastore cannot be opened.
pub async fn run(config: ServerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
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
    info!(
        "kedge server is running (the API server, scheduler and controllers arrive in later releases); stop it with Ctrl-C"
    );

    shutdown.cancelled().await;
    info!("shutting down");
    let _ = compactor.await;
    // The last handle closes the database after every queued write is committed.
    tokio::task::spawn_blocking(move || drop(store)).await?;
    Ok(())
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
