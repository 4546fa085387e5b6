//! The ResourceQuota controller: `status.hard` (the spec's limits) and `status.used` (what the
//! namespace's objects cost, measured by [`crate::api::admission::quota_usage`]) of every
//! quota, as upstream's resource quota controller keeps them.
//!
//! Quota admission charges each create to `status.used` itself, so, as upstream, this
//! controller does not recount on creates (a recount racing an admitted create could
//! forget it). It recounts a namespace when a quota is created or its limits change, when
//! an object stops costing (deleted; a pod finished; a Service changed type; a claim
//! resized), and every five minutes, which also returns what a failed write was charged.
//!
//! Changes are followed in the watch cache, one bucket per resource that quotas track;
//! bursts (a namespace being emptied) are folded into one recount.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::Context;
use crate::api::admission::quota_usage::{self as usage, Evaluator, ResourceList};
use crate::api::auth::UserInfo;
use crate::api::cache::{CacheEvent, EventType};
use crate::api::local;
use crate::api::object;

/// Full recount period (upstream's `--resource-quota-sync-period`).
const RESYNC: Duration = Duration::from_secs(300);
/// Changes arriving this close together are recounted once.
const SETTLE: Duration = Duration::from_millis(200);

fn user() -> UserInfo {
    UserInfo::system("resourcequota-controller")
}

/// What a watched bucket reports: a namespace to recount, or everything.
#[derive(Debug)]
enum Dirty {
    Namespace(String),
    All,
}

/// Whether a change of an object of `evaluator`'s kind can lower what it costs.
fn replenishes(evaluator: &Evaluator, event: &CacheEvent) -> bool {
    match event.kind {
        EventType::Deleted => true,
        EventType::Added => false,
        EventType::Modified => {
            let Some(prev) = &event.prev else {
                return false;
            };
            match evaluator {
                Evaluator::Count { .. } => false,
                _ => {
                    let now = object::unix_now();
                    let before = evaluator.usage(&prev.value(), now);
                    let after = evaluator.usage(&event.object.value(), now);
                    before != after
                }
            }
        }
    }
}

/// Whether a quota event changes what must be counted (new quota, new limits or scopes).
fn quota_changed(event: &CacheEvent) -> bool {
    match event.kind {
        EventType::Deleted => false,
        EventType::Added => true,
        EventType::Modified => event
            .prev
            .as_ref()
            .is_none_or(|prev| prev.value().get("spec") != event.object.value().get("spec")),
    }
}

/// Follows one cache bucket (`initial` events, then `live` ones), reporting namespaces to
/// recount.
async fn follow(
    initial: Vec<Arc<CacheEvent>>,
    mut live: broadcast::Receiver<Arc<CacheEvent>>,
    prefix: String,
    evaluator: Option<Evaluator>,
    dirty: mpsc::UnboundedSender<Dirty>,
    shutdown: CancellationToken,
) {
    let mut initial = initial.into_iter();
    loop {
        let event = match initial.next() {
            Some(event) => Ok(event),
            None => tokio::select! {
                () = shutdown.cancelled() => return,
                event = live.recv() => event,
            },
        };
        let event = match event {
            Ok(event) => event,
            Err(RecvError::Lagged(_)) => {
                let _ = dirty.send(Dirty::All);
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if !event.object.key.starts_with(&prefix) {
            continue;
        }
        let relevant = match &evaluator {
            Some(evaluator) => replenishes(evaluator, &event),
            None => quota_changed(&event),
        };
        if relevant && let Some(namespace) = &event.object.namespace {
            let _ = dirty.send(Dirty::Namespace(namespace.clone()));
        }
    }
}

/// Resources the quotas of the cluster track, as (group, plural).
fn tracked_resources(quotas: &[Value]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::from([
        (String::new(), "pods".to_string()),
        (String::new(), "services".to_string()),
        (String::new(), "persistentvolumeclaims".to_string()),
    ]);
    for quota in quotas {
        for name in usage::read_list(quota.pointer("/spec/hard")).keys() {
            if let Some(rest) = name.strip_prefix("count/") {
                out.insert(match rest.split_once('.') {
                    Some((plural, group)) => (group.to_string(), plural.to_string()),
                    None => (String::new(), rest.to_string()),
                });
            } else if [
                "configmaps",
                "secrets",
                "replicationcontrollers",
                "resourcequotas",
            ]
            .contains(&name.as_str())
            {
                out.insert((String::new(), name.clone()));
            }
        }
    }
    out
}

fn all_quotas(ctx: &Context) -> Vec<Value> {
    let Some(info) = ctx.api.registry.get("", "v1", "resourcequotas") else {
        return Vec::new();
    };
    ctx.api
        .cache
        .list(&info.list_prefix(None), &Default::default(), None, None)
        .objects
        .into_iter()
        .map(|c| c.value())
        .collect()
}

/// Recounts one quota and writes its status if it changed; false if the write lost a race.
async fn sync_quota(ctx: &Context, quota: &Value) -> bool {
    let namespace = object::namespace(quota).unwrap_or_default();
    let hard = usage::read_list(quota.pointer("/spec/hard"));
    let selectors = usage::scope_selectors(quota);
    let counted = usage::calculate_usage(&ctx.api, namespace, &hard, &selectors);
    // Keep what was recorded for resources nobody can measure (yet).
    let mut used: ResourceList = usage::read_list(quota.pointer("/status/used"));
    used.extend(counted);
    let used = usage::mask(&used, hard.keys());
    let status = json!({"hard": usage::to_json(&hard), "used": usage::to_json(&used)});
    let current = json!({
        "hard": usage::to_json(&usage::read_list(quota.pointer("/status/hard"))),
        "used": usage::to_json(&usage::read_list(quota.pointer("/status/used"))),
    });
    if status == current && quota.pointer("/status/hard").is_some() {
        return true;
    }
    let mut updated = quota.clone();
    updated["status"] = status;
    let uri = format!(
        "/api/v1/namespaces/{namespace}/resourcequotas/{}/status",
        object::name(quota)
    );
    let (code, body) = local::request(
        &ctx.api,
        &user(),
        Method::PUT,
        &uri,
        "application/json",
        Bytes::from(updated.to_string()),
    )
    .await;
    match code {
        200..=299 | 404 => true,
        409 => false,
        _ => {
            warn!(code, body = %String::from_utf8_lossy(&body), quota = object::name(quota), namespace, "cannot update quota status");
            true
        }
    }
}

/// Recounts every quota of `namespace`, retrying those whose write lost a race.
async fn sync_namespace(ctx: &Context, namespace: &str) {
    let Some(prefix) = usage::list_prefix(&ctx.api, "", "resourcequotas", namespace) else {
        return;
    };
    for _ in 0..5 {
        let quotas: Vec<Value> = ctx
            .api
            .cache
            .list(&prefix, &Default::default(), None, None)
            .objects
            .into_iter()
            .map(|c| c.value())
            .filter(|q| !object::is_deleting(q))
            .collect();
        let mut all_written = true;
        for quota in &quotas {
            all_written &= sync_quota(ctx, quota).await;
        }
        if all_written {
            return;
        }
        // Lost to admission charging the quota: read it again once the cache has it.
        let _ = ctx.api.cache.wait_fresh(ctx.api.store.as_ref()).await;
    }
}

/// Starts following the buckets of the kinds quotas track that are not followed yet.
fn follow_new(
    ctx: &Context,
    followed: &mut BTreeSet<String>,
    dirty: &mpsc::UnboundedSender<Dirty>,
    shutdown: &CancellationToken,
) {
    let quotas = all_quotas(ctx);
    let mut wanted = vec![(String::new(), "resourcequotas".to_string(), None)];
    for (group, plural) in tracked_resources(&quotas) {
        let evaluator = Evaluator::for_resource(&group, &plural);
        wanted.push((group, plural, Some(evaluator)));
    }
    for (group, plural, evaluator) in wanted {
        let Some(info) = ctx
            .api
            .registry
            .all()
            .into_iter()
            .find(|i| i.group == group && i.plural == plural)
        else {
            continue;
        };
        let prefix = info.list_prefix(None);
        // The quotas bucket is followed twice: for quota changes, and as a counted kind.
        if !followed.insert(format!("{prefix}|{}", evaluator.is_some())) {
            continue;
        }
        // Subscribed here, before anything is counted, so no change falls in between.
        match ctx
            .api
            .cache
            .watch(&prefix, &Default::default(), Some(ctx.api.cache.revision()))
        {
            Ok(start) => {
                tokio::spawn(follow(
                    start.initial,
                    start.live,
                    prefix,
                    evaluator,
                    dirty.clone(),
                    shutdown.child_token(),
                ));
            }
            Err(error) => warn!(%error, prefix, "cannot follow changes for quota"),
        }
    }
}

fn namespaces_with_quotas(ctx: &Context) -> impl Iterator<Item = String> {
    all_quotas(ctx)
        .into_iter()
        .filter_map(|q| object::namespace(&q).map(str::to_string))
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let (dirty_tx, mut dirty) = mpsc::unbounded_channel();
    let mut followed = BTreeSet::new();
    follow_new(&ctx, &mut followed, &dirty_tx, &shutdown);
    let mut pending: BTreeSet<String> = namespaces_with_quotas(&ctx).collect();
    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    loop {
        if pending.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = resync.tick() => pending.extend(namespaces_with_quotas(&ctx)),
                message = dirty.recv() => match message {
                    Some(Dirty::Namespace(ns)) => { pending.insert(ns); }
                    Some(Dirty::All) => pending.extend(namespaces_with_quotas(&ctx)),
                    None => return,
                },
            }
        }
        tokio::time::sleep(SETTLE).await;
        while let Ok(message) = dirty.try_recv() {
            match message {
                Dirty::Namespace(ns) => {
                    pending.insert(ns);
                }
                Dirty::All => pending.extend(namespaces_with_quotas(&ctx)),
            }
        }
        // Quotas may name new kinds to count.
        follow_new(&ctx, &mut followed, &dirty_tx, &shutdown);
        for namespace in std::mem::take(&mut pending) {
            debug!(namespace, "recounting quotas");
            sync_namespace(&ctx, &namespace).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_name_the_kinds_they_count() {
        let quotas = vec![
            json!({"spec": {"hard": {"count/deployments.apps": "2", "configmaps": "5", "pods": "3"}}}),
        ];
        let tracked = tracked_resources(&quotas);
        assert!(tracked.contains(&("apps".to_string(), "deployments".to_string())));
        assert!(tracked.contains(&(String::new(), "configmaps".to_string())));
        assert!(tracked.contains(&(String::new(), "pods".to_string())));
    }
}
