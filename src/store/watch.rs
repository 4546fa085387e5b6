//! Watch machinery shared by the store backends.
//!
//! A backend publishes each committed batch of events to an [`EventHub`] (after the commit,
//! before acknowledging the writers) and answers [`History`] queries from its log. A watch
//! subscribes to the hub *first*, then replays history, then follows the hub, skipping what it
//! already sent: an event committed while the replay runs is in both, so nothing is lost and
//! the revision check drops the duplicate. A watcher that falls behind the hub's buffer
//! replays from history again instead of losing events.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{Error, Event, Revision, WatchStream};

/// How many committed batches the hub buffers for slow watchers before they must replay.
const HUB_CAPACITY: usize = 128;
/// Events read from history per query.
const HISTORY_PAGE: usize = 1000;
/// Events buffered per watch between its task and its consumer.
const WATCH_BUFFER: usize = 256;

/// Fans committed batches of events out to every watch.
#[derive(Clone)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<[Event]>>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub {
            sender: broadcast::channel(HUB_CAPACITY).0,
        }
    }
}

impl EventHub {
    /// Publishes a committed batch, in revision order.
    pub fn publish(&self, events: Vec<Event>) {
        if !events.is_empty() {
            // An error only means nobody is watching.
            let _ = self.sender.send(events.into());
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<[Event]>> {
        self.sender.subscribe()
    }
}

/// Read access to a backend's event log.
#[async_trait]
pub trait History: Send + Sync + 'static {
    /// Up to `limit` events under `prefix` with revisions greater than `after`, in order.
    ///
    /// # Errors
    /// [`Error::Compacted`] when `after` is older than the compacted revision,
    /// [`Error::FutureRevision`] when it is newer than the current revision.
    async fn events_after(
        &self,
        prefix: &str,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<Event>, Error>;
}

/// Starts a watch of `prefix` after revision `after`.
pub async fn watch<H: History>(
    hub: &EventHub,
    history: Arc<H>,
    prefix: String,
    after: Revision,
) -> Result<WatchStream, Error> {
    let live = hub.subscribe();
    // The first page is read here so that a compacted or future start fails the call itself.
    let first = history.events_after(&prefix, after, HISTORY_PAGE).await?;
    let (tx, rx) = mpsc::channel(WATCH_BUFFER);
    tokio::spawn(async move {
        let watcher = Watcher {
            history,
            prefix,
            tx,
        };
        tokio::select! {
            () = watcher.tx.closed() => {}
            () = watcher.run(live, after, first) => {}
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

struct Watcher<H> {
    history: Arc<H>,
    prefix: String,
    tx: mpsc::Sender<Result<Event, Error>>,
}

impl<H: History> Watcher<H> {
    /// `last` is the revision of the last event examined: everything up to it has been sent
    /// or skipped.
    async fn run(
        &self,
        mut live: broadcast::Receiver<Arc<[Event]>>,
        mut last: Revision,
        first: Vec<Event>,
    ) {
        let mut page = first;
        loop {
            // Replay history until a short page says we have caught up with the log.
            loop {
                let full = page.len() == HISTORY_PAGE;
                for event in page.drain(..) {
                    last = event.revision();
                    if self.tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                if !full {
                    break;
                }
                match self
                    .history
                    .events_after(&self.prefix, last, HISTORY_PAGE)
                    .await
                {
                    Ok(next) => page = next,
                    Err(error) => return self.fail(error).await,
                }
            }
            // Follow live batches; anything already replayed is skipped by revision.
            loop {
                match live.recv().await {
                    Ok(batch) => {
                        for event in batch.iter() {
                            if event.revision() <= last {
                                continue;
                            }
                            last = event.revision();
                            if event.kv.key.starts_with(&self.prefix)
                                && self.tx.send(Ok(event.clone())).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        match self
                            .history
                            .events_after(&self.prefix, last, HISTORY_PAGE)
                            .await
                        {
                            Ok(next) => page = next,
                            Err(error) => return self.fail(error).await,
                        }
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return self.fail(Error::Closed).await;
                    }
                }
            }
        }
    }

    async fn fail(&self, error: Error) {
        let _ = self.tx.send(Err(error)).await;
    }
}
