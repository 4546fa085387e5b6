//! The garbage collector: owner references.
//!
//! - An object all of whose owners are gone is deleted (a `Background` delete of the owner
//!   leaves this to the collector); one that lost only some owners loses those references.
//! - An owner deleted with `Orphan` propagation carries the `orphan` finalizer: its
//!   dependents lose their reference to it, then the finalizer goes.
//! - An owner deleted with `Foreground` propagation carries `foregroundDeletion`: its
//!   dependents are deleted (in the foreground too when they block their owner's deletion),
//!   and the finalizer goes once no dependent with `blockOwnerDeletion` remains.
//!
//! The collector reads the whole object graph from the watch cache — the same data an
//! informer per resource would hold, without keeping a second copy of every object — and
//! writes through the API like any controller. A pass runs shortly after changes, at most
//! twice a second, and every 30 s regardless.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::Context;
use crate::api::auth::UserInfo;
use crate::api::cache::CachedObject;
use crate::api::local;
use crate::api::object;

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

/// One owner reference of a dependent.
struct OwnerRef {
    uid: String,
    block: bool,
    raw: Value,
}

/// An object with owner references, or a deleting owner.
struct Node {
    object: Arc<CachedObject>,
    value: Value,
    owners: Vec<OwnerRef>,
}

fn user() -> UserInfo {
    UserInfo::system("garbage-collector")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn owners_of(value: &Value) -> Vec<OwnerRef> {
    value
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .map(|r| OwnerRef {
                    uid: r
                        .get("uid")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    block: r
                        .get("blockOwnerDeletion")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    raw: r.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Sends one write; true if it took effect or no longer needs to (404, 409).
async fn send(ctx: &Context, method: Method, uri: &str, content_type: &str, body: Value) -> bool {
    let (status, answer) = local::request(
        &ctx.api,
        &user(),
        method,
        uri,
        content_type,
        Bytes::from(body.to_string()),
    )
    .await;
    if status >= 300 && status != 404 && status != 409 {
        warn!(uri, status, answer = %String::from_utf8_lossy(&answer), "garbage collector write failed");
    }
    status < 300
}

fn path(ctx: &Context, object: &CachedObject) -> Option<String> {
    let info = ctx.api.registry.for_key(&object.key)?;
    Some(info.path(object.namespace.as_deref(), &object.name))
}

async fn delete(ctx: &Context, node: &Node, policy: &str) {
    let Some(path) = path(ctx, &node.object) else {
        return;
    };
    let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy,
        "preconditions": {"uid": node.object.uid}});
    debug!(object = %node.object.key, policy, "collecting");
    send(ctx, Method::DELETE, &path, "application/json", body).await;
}

/// Replaces the dependent's owner references with those `keep` accepts.
async fn drop_owners(ctx: &Context, node: &Node, keep: impl Fn(&OwnerRef) -> bool) {
    let Some(path) = path(ctx, &node.object) else {
        return;
    };
    let kept: Vec<Value> = node
        .owners
        .iter()
        .filter(|o| keep(o))
        .map(|o| o.raw.clone())
        .collect();
    let references = if kept.is_empty() {
        Value::Null
    } else {
        json!(kept)
    };
    let patch = json!({"metadata": {"ownerReferences": references,
        "resourceVersion": object::resource_version(&node.value)}});
    send(
        ctx,
        Method::PATCH,
        &path,
        "application/merge-patch+json",
        patch,
    )
    .await;
}

async fn remove_finalizer(ctx: &Context, node: &Node, finalizer: &str) {
    let Some(path) = path(ctx, &node.object) else {
        return;
    };
    let finalizers: Vec<String> = object::finalizers(&node.value)
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": object::resource_version(&node.value)}});
    send(
        ctx,
        Method::PATCH,
        &path,
        "application/merge-patch+json",
        patch,
    )
    .await;
}

/// One pass over the object graph.
async fn collect(ctx: &Context) {
    let objects = ctx.api.cache.all_objects();
    let live: HashSet<&str> = objects.iter().map(|o| o.uid.as_str()).collect();
    let mut dependents: Vec<Node> = Vec::new();
    let mut deleting_owners: Vec<Node> = Vec::new();
    for object in &objects {
        let has_owners = contains(&object.json, b"\"ownerReferences\"");
        let collecting =
            contains(&object.json, b"\"orphan\"") || contains(&object.json, FOREGROUND.as_bytes());
        if !has_owners && !collecting {
            continue;
        }
        let value = object.value();
        let node = Node {
            object: object.clone(),
            owners: owners_of(&value),
            value,
        };
        let finalizers = object::finalizers(&node.value);
        if object::is_deleting(&node.value)
            && finalizers.iter().any(|f| f == ORPHAN || f == FOREGROUND)
        {
            deleting_owners.push(Node {
                object: node.object.clone(),
                value: node.value.clone(),
                owners: owners_of(&node.value),
            });
        }
        if !node.owners.is_empty() {
            dependents.push(node);
        }
    }
    // Dependents by owner uid.
    let mut by_owner: HashMap<&str, Vec<&Node>> = HashMap::new();
    for node in &dependents {
        for owner in &node.owners {
            by_owner.entry(owner.uid.as_str()).or_default().push(node);
        }
    }
    for owner in &deleting_owners {
        let finalizers = object::finalizers(&owner.value);
        let mine = by_owner
            .get(owner.object.uid.as_str())
            .cloned()
            .unwrap_or_default();
        if finalizers.iter().any(|f| f == ORPHAN) {
            for dependent in &mine {
                let uid = owner.object.uid.clone();
                drop_owners(ctx, dependent, |o| o.uid != uid).await;
            }
            remove_finalizer(ctx, owner, ORPHAN).await;
        } else if finalizers.iter().any(|f| f == FOREGROUND) {
            let mut blocking = false;
            for dependent in &mine {
                let blocks = dependent
                    .owners
                    .iter()
                    .any(|o| o.uid == owner.object.uid && o.block);
                blocking |= blocks;
                if !object::is_deleting(&dependent.value) {
                    delete(
                        ctx,
                        dependent,
                        if blocks { "Foreground" } else { "Background" },
                    )
                    .await;
                }
            }
            if !blocking {
                remove_finalizer(ctx, owner, FOREGROUND).await;
            }
        }
    }
    for dependent in &dependents {
        let absent = dependent
            .owners
            .iter()
            .filter(|o| !live.contains(o.uid.as_str()))
            .count();
        if absent == 0 {
            continue;
        }
        if absent == dependent.owners.len() {
            if !object::is_deleting(&dependent.value) {
                delete(ctx, dependent, "Background").await;
            }
        } else {
            drop_owners(ctx, dependent, |o| live.contains(o.uid.as_str())).await;
        }
    }
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let mut changes = ctx.api.cache.changes();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        // Let a burst of changes settle into one pass.
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        changes.borrow_and_update();
        collect(&ctx).await;
    }
}
