//! Events for what controllers do (`SuccessfulCreate`, `ScalingReplicaSet`, …), as `v1`
//! Events that `kubectl describe` and `kubectl events` show.
//!
//! Written so that they do not dominate the datastore's writes (an SD card wears by them):
//! the same event about the same object (same type, reason and message) is one Event object
//! whose `count` goes up, and repeats within [`COALESCE`] are merged into one update written
//! when the period ends. Events older than an hour are deleted, as upstream's event TTL does.
//! Writing never blocks the controller that records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::api::ApiState;
use crate::api::auth::UserInfo;
use crate::api::local;
use crate::api::object;

/// Repeats within this period are written together.
pub const COALESCE: Duration = Duration::from_secs(10);
/// Events live this long after their last occurrence.
pub const TTL_SECONDS: i64 = 3600;

#[derive(Hash, PartialEq, Eq, Clone)]
struct Key {
    uid: String,
    namespace: String,
    kind: String,
    name: String,
    event_type: String,
    reason: String,
    message: String,
}

struct Series {
    /// The Event object's name.
    name: String,
    count: u64,
    written_count: u64,
    written_at: Instant,
    last_seen: String,
}

/// Records events for one component (`deployment-controller`, `default-scheduler`, …).
#[derive(Clone)]
pub struct Recorder {
    api: Arc<ApiState>,
    component: String,
    series: Arc<Mutex<HashMap<Key, Series>>>,
}

/// The `involvedObject` of an event about a Kubernetes object.
pub fn reference(
    api_version: &str,
    kind: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

impl Recorder {
    pub fn new(api: &Arc<ApiState>, component: &str) -> Self {
        Recorder {
            api: api.clone(),
            component: component.to_string(),
            series: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn user(&self) -> UserInfo {
        UserInfo::system(&self.component)
    }

    /// Records a `Normal` event.
    pub fn normal(&self, about: &ObjectReference, reason: &str, message: &str) {
        self.record(about, "Normal", reason, message);
    }

    /// Records a `Warning` event.
    pub fn warning(&self, about: &ObjectReference, reason: &str, message: &str) {
        self.record(about, "Warning", reason, message);
    }

    pub fn record(&self, about: &ObjectReference, event_type: &str, reason: &str, message: &str) {
        let key = Key {
            uid: about.uid.clone().unwrap_or_default(),
            namespace: about.namespace.clone().unwrap_or_else(|| "default".into()),
            kind: about.kind.clone().unwrap_or_default(),
            name: about.name.clone().unwrap_or_default(),
            event_type: event_type.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
        };
        let now = object::now();
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = series.get_mut(&key) {
            existing.count += 1;
            existing.last_seen = now;
            if existing.written_at.elapsed() < COALESCE {
                // Written by the next flush.
                return;
            }
            existing.written_at = Instant::now();
            existing.written_count = existing.count;
            let (name, count, last) = (
                existing.name.clone(),
                existing.count,
                existing.last_seen.clone(),
            );
            drop(series);
            self.spawn_update(key.namespace, name, count, last);
            return;
        }
        let name = format!("{}.{:x}", key.name, jiff::Timestamp::now().as_nanosecond());
        series.insert(
            key.clone(),
            Series {
                name: name.clone(),
                count: 1,
                written_count: 1,
                written_at: Instant::now(),
                last_seen: now.clone(),
            },
        );
        drop(series);
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": key.namespace},
            "involvedObject": serde_json::to_value(about).unwrap_or(Value::Null),
            "reason": reason,
            "message": message,
            "type": event_type,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": crate::host::hostname(),
        });
        let recorder = self.clone();
        let uri = format!("/api/v1/namespaces/{}/events", key.namespace);
        tokio::spawn(async move {
            let (status, _) = local::request(
                &recorder.api,
                &recorder.user(),
                Method::POST,
                &uri,
                "application/json",
                Bytes::from(event.to_string()),
            )
            .await;
            debug!(status, reason = %key.reason, object = %key.name, "event recorded");
        });
    }

    fn spawn_update(&self, namespace: String, name: String, count: u64, last: String) {
        let recorder = self.clone();
        tokio::spawn(async move {
            let patch = json!({"count": count, "lastTimestamp": last});
            let uri = format!("/api/v1/namespaces/{namespace}/events/{name}");
            let _ = local::request(
                &recorder.api,
                &recorder.user(),
                Method::PATCH,
                &uri,
                "application/merge-patch+json",
                Bytes::from(patch.to_string()),
            )
            .await;
        });
    }

    /// Writes the counts of coalesced repeats, and forgets series past their TTL.
    fn flush(&self) {
        let mut due = Vec::new();
        {
            let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            let now = jiff::Timestamp::now().as_second();
            series.retain(|_, s| {
                object::parse_time(&s.last_seen).is_some_and(|t| now - t < TTL_SECONDS)
            });
            for (key, s) in series.iter_mut() {
                if s.count > s.written_count && s.written_at.elapsed() >= COALESCE {
                    s.written_count = s.count;
                    s.written_at = Instant::now();
                    due.push((
                        key.namespace.clone(),
                        s.name.clone(),
                        s.count,
                        s.last_seen.clone(),
                    ));
                }
            }
        }
        for (namespace, name, count, last) in due {
            self.spawn_update(namespace, name, count, last);
        }
    }

    /// Flushes coalesced repeats until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(COALESCE) => self.flush(),
            }
        }
    }
}

/// Deletes `v1` Events whose last occurrence is older than [`TTL_SECONDS`], every ten
/// minutes, until `shutdown`.
pub async fn expire(api: Arc<ApiState>, shutdown: CancellationToken) {
    let user = UserInfo::system("event-ttl");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
        let now = jiff::Timestamp::now().as_second();
        for cached in api
            .cache
            .list("/registry/core/events/", &Default::default(), None, None)
            .objects
        {
            let event = cached.value();
            let last = ["lastTimestamp", "eventTime", "firstTimestamp"]
                .iter()
                .find_map(|f| {
                    event
                        .get(*f)
                        .and_then(Value::as_str)
                        .and_then(object::parse_time)
                })
                .or_else(|| {
                    object::meta_str(&event, "creationTimestamp").and_then(object::parse_time)
                });
            if last.is_some_and(|t| now - t > TTL_SECONDS) {
                let uri = format!(
                    "/api/v1/namespaces/{}/events/{}",
                    cached.namespace.as_deref().unwrap_or("default"),
                    cached.name
                );
                let _ = local::request(
                    &api,
                    &user,
                    Method::DELETE,
                    &uri,
                    "application/json",
                    Bytes::new(),
                )
                .await;
            }
        }
    }
}
