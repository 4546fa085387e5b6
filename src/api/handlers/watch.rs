//! Watch streams: `?watch=true` on a collection (or an item), one JSON event per line,
//! flushed per event, ending at `timeoutSeconds`.
//!
//! The stream starts from the cache: synthetic ADDED events for the current objects when no
//! `resourceVersion` is given (or `0`), the kept history after a given version otherwise,
//! then live events. An object that stops or starts matching the selectors yields DELETED
//! or ADDED, as upstream does. Bookmarks only when asked for; `sendInitialEvents` ends the
//! initial ADDED events with a bookmark annotated `k8s.io/initial-events-end`. A version
//! older than the kept history gets an in-stream 410 ERROR event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::Ctx;
use super::read::{cache_error, filter, parse_revision};
use super::table_view;
use crate::api::cache::{CacheError, CacheEvent, CachedObject, EventType, Filter, WatchCache};
use crate::api::convert;
use crate::api::http::{self as h, Body};
use crate::api::registry::ResourceInfo;
use crate::api::selector::FieldTerm;
use crate::api::status::ApiError;
use crate::store::Revision;

/// Upstream sends a bookmark about once a minute.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);
/// Without `timeoutSeconds`, a watch lasts this long (upstream: 30 to 60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// The object's JSON in the version the request addressed.
pub(crate) fn versioned(ctx: &Ctx<'_>, object: &CachedObject) -> Bytes {
    versioned_for(&ctx.info, object)
}

fn versioned_for(info: &ResourceInfo, object: &CachedObject) -> Bytes {
    if !convert::needs_conversion(info) {
        return object.json.clone();
    }
    let value = convert::to_request_version(info, object.value());
    Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

struct Watcher {
    info: Arc<ResourceInfo>,
    cache: Arc<WatchCache>,
    prefix: String,
    filter: Filter,
    bookmarks: bool,
    table: Option<String>,
    sent_columns: bool,
    tx: mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
}

impl Watcher {
    /// Sends one event line; false when the client is gone.
    async fn send(&mut self, kind: &str, object: &CachedObject) -> bool {
        let line = match &self.table {
            Some(include) => {
                let value = convert::to_request_version(&self.info, object.value());
                let table =
                    table_view::event_table(&self.info, &value, !self.sent_columns, include);
                self.sent_columns = true;
                json!({"type": kind, "object": table})
                    .to_string()
                    .into_bytes()
            }
            None => {
                let object = versioned_for(&self.info, object);
                let mut line = Vec::with_capacity(object.len() + 40);
                line.extend_from_slice(b"{\"type\":\"");
                line.extend_from_slice(kind.as_bytes());
                line.extend_from_slice(b"\",\"object\":");
                line.extend_from_slice(&object);
                line.push(b'}');
                line
            }
        };
        self.send_line(line).await
    }

    async fn send_line(&self, mut line: Vec<u8>) -> bool {
        line.push(b'\n');
        self.tx
            .send(Ok(Frame::data(Bytes::from(line))))
            .await
            .is_ok()
    }

    async fn send_bookmark(&self, revision: Revision, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": meta});
        self.send_line(
            json!({"type": "BOOKMARK", "object": object})
                .to_string()
                .into_bytes(),
        )
        .await
    }

    async fn send_error(&self, error: &ApiError) {
        let line = json!({"type": "ERROR", "object": error.to_status()}).to_string();
        let _ = self.send_line(line.into_bytes()).await;
    }

    /// Sends what one cache event means to this watcher; false when the client is gone.
    async fn deliver(&mut self, event: &CacheEvent) -> bool {
        if !event.object.key.starts_with(&self.prefix) {
            return true;
        }
        let now = self.filter.matches(&event.object);
        let before = event.prev.as_ref().is_some_and(|p| self.filter.matches(p));
        let kind = match event.kind {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now => "DELETED",
            _ => return true,
        };
        self.send(kind, &event.object).await
    }

    async fn run(
        mut self,
        initial: Vec<Arc<CacheEvent>>,
        mut live: broadcast::Receiver<Arc<CacheEvent>>,
        start: Revision,
        initial_events_end: bool,
        timeout: Duration,
    ) {
        let mut last = start;
        for event in &initial {
            if !self.deliver(event).await {
                return;
            }
            last = last.max(event.revision);
        }
        if initial_events_end && !self.send_bookmark(start, true).await {
            return;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        // Upstream sends the first bookmark a minute in, or 2 s before the deadline if sooner.
        let first = BOOKMARK_INTERVAL.min(timeout.saturating_sub(Duration::from_secs(2)));
        let mut bookmark = tokio::time::interval_at(
            tokio::time::Instant::now() + first.max(Duration::from_millis(100)),
            BOOKMARK_INTERVAL,
        );
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return,
                () = self.tx.closed() => return,
                _ = bookmark.tick(), if self.bookmarks => {
                    let revision = self.cache.revision();
                    loop {
                        match live.try_recv() {
                            Ok(event) if event.revision > last => {
                                last = event.revision;
                                if !self.deliver(&event).await {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(broadcast::error::TryRecvError::Empty) => break,
                            Err(_) => break,
                        }
                    }
                    if !self.send_bookmark(revision.max(last), false).await {
                        return;
                    }
                }
                received = live.recv() => match received {
                    Ok(event) => {
                        if event.revision <= last {
                            continue;
                        }
                        last = event.revision;
                        if !self.deliver(&event).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        match self.cache.events_after(&self.prefix, last) {
                            Ok(events) => {
                                for event in events {
                                    if event.revision <= last {
                                        continue;
                                    }
                                    last = event.revision;
                                    if !self.deliver(&event).await {
                                        return;
                                    }
                                }
                            }
                            Err(e) => return self.send_error(&cache_error(e)).await,
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        // The cache was refilled: the client must start again.
                        return self.send_error(&cache_error(CacheError::TooOld { requested: last, oldest: last + 1 })).await;
                    }
                },
            }
        }
    }
}

pub async fn watch(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let mut filter = filter(ctx)?;
    if let Some(name) = &ctx.path.name {
        filter.fields.terms.push(FieldTerm {
            path: "metadata.name".into(),
            value: name.clone(),
            negated: false,
        });
    }
    let prefix = ctx.info.list_prefix(ctx.namespace());
    let cache = ctx.state.cache.clone();
    let rv = ctx.query.get("resourceVersion").filter(|v| !v.is_empty());
    let send_initial = ctx.query.flag("sendInitialEvents");
    if send_initial && ctx.query.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::invalid(
            ctx.info.subject(),
            "",
            &[crate::api::field_error::FieldError::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )],
        ));
    }
    let from = match rv {
        None => {
            cache
                .wait_fresh(ctx.state.store.as_ref())
                .await
                .map_err(cache_error)?;
            None
        }
        // A streaming list "from any version" (kube-rs asks so) still starts from a cache
        // that has caught up with the store: a client sees what it wrote just before (upstream
        // may serve a cache that lags by milliseconds; this only waits for such a lag).
        Some("0") if send_initial => {
            cache
                .wait_fresh(ctx.state.store.as_ref())
                .await
                .map_err(cache_error)?;
            None
        }
        Some("0") => None,
        Some(rv) if send_initial => {
            cache
                .wait_for(parse_revision(rv)?)
                .await
                .map_err(cache_error)?;
            None
        }
        Some(rv) => Some(parse_revision(rv)?),
    };
    let timeout = ctx
        .query
        .int("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(t as u64));
    let (tx, rx) = mpsc::channel(64);
    let watcher = Watcher {
        info: ctx.info.clone(),
        cache: cache.clone(),
        prefix: prefix.clone(),
        filter: filter.clone(),
        bookmarks: ctx.query.flag("allowWatchBookmarks"),
        table: h::wants_table(ctx.headers).then(|| {
            ctx.query
                .get("includeObject")
                .unwrap_or("Metadata")
                .to_string()
        }),
        sent_columns: false,
        tx,
    };
    match cache.watch(&prefix, &filter, from) {
        Ok(start) => {
            let begin = from.unwrap_or(start.revision);
            tokio::spawn(watcher.run(start.initial, start.live, begin, send_initial, timeout));
        }
        Err(error @ CacheError::TooOld { .. }) => {
            let error = cache_error(error);
            tokio::spawn(async move { watcher.send_error(&error).await });
        }
        Err(other) => return Err(cache_error(other)),
    }
    let body = StreamBody::new(ReceiverStream::new(rx)).boxed();
    Ok(h::streaming("application/json;stream=watch", body))
}
