//! Periodic compaction, as the Kubernetes API server does it against etcd: at every tick,
//! compact to the revision seen at the previous tick. History therefore always covers at
//! least one interval, which is what a watch that reconnects needs, and the database stops
//! growing under churn.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{Revision, Store};

/// Upstream's default `--etcd-compaction-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// Compacts `store` every `interval` until `shutdown`.
pub async fn run(store: Arc<dyn Store>, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<Revision> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Some(revision) = previous {
            match store.compact(revision).await {
                Ok(()) => debug!(revision, "compacted the datastore"),
                Err(error) => warn!(%error, revision, "datastore compaction failed"),
            }
        }
        match store.current_revision().await {
            Ok(revision) => previous = Some(revision),
            Err(error) => warn!(%error, "cannot read the datastore revision"),
        }
    }
}
