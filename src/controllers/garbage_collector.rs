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
//! writes through the API like any controller. Between passes it keeps, per object uid, the
//! revision it last read and the few facts it needs (owners, finalizers, deletion), so a pass
//! parses only objects that changed. A pass runs shortly after changes, at most
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
use crate::store::Revision;

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

/// One owner reference of a dependent.
struct OwnerRef {
    uid: String,
    block: bool,
    raw: Value,
}

/// What the collector needs of an object with owner references or a collecting finalizer.
struct Facts {
    owners: Vec<OwnerRef>,
    deleting: bool,
    finalizers: Vec<String>,
    resource_version: String,
}

impl Facts {
    /// The facts of `object`, or `None` when it neither has owners nor collects dependents
    /// (found by scanning its JSON, without parsing it).
    fn of(object: &CachedObject) -> Option<Facts> {
        let has_owners = contains(&object.json, b"\"ownerReferences\"");
        let collecting =
            contains(&object.json, b"\"orphan\"") || contains(&object.json, FOREGROUND.as_bytes());
        if !has_owners && !collecting {
            return None;
        }
        let value = object.value();
        Some(Facts {
            owners: owners_of(&value),
            deleting: object::is_deleting(&value),
            finalizers: object::finalizers(&value),
            resource_version: object::resource_version(&value)
                .unwrap_or_default()
                .to_string(),
        })
    }
}

/// An object with owner references, or a deleting owner.
struct Node {
    object: Arc<CachedObject>,
    facts: Arc<Facts>,
}

/// The facts of every object by uid, kept between passes so that a pass parses only the
/// objects that changed since the last one.
#[derive(Default)]
struct Graph {
    objects: HashMap<String, (Revision, Option<Arc<Facts>>)>,
}

impl Graph {
    /// Brings the graph up to date with `objects` and returns the relevant ones.
    fn update(&mut self, objects: &[Arc<CachedObject>]) -> Vec<Node> {
        let mut seen = HashMap::with_capacity(objects.len());
        let mut relevant = Vec::new();
        for object in objects {
            let facts = match self.objects.remove(&object.uid) {
                Some((revision, facts)) if revision == object.revision => facts,
                _ => Facts::of(object).map(Arc::new),
            };
            if let Some(facts) = &facts {
                relevant.push(Node {
                    object: object.clone(),
                    facts: facts.clone(),
                });
            }
            seen.insert(object.uid.clone(), (object.revision, facts));
        }
        self.objects = seen;
        relevant
    }
}

fn user() -> UserInfo {
    UserInfo::system("garbage-collector")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
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
        .facts
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
        "resourceVersion": node.facts.resource_version}});
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
    let finalizers: Vec<&String> = node
        .facts
        .finalizers
        .iter()
        .filter(|f| *f != finalizer)
        .collect();
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": node.facts.resource_version}});
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
async fn collect(ctx: &Context, graph: &mut Graph) {
    let objects = ctx.api.cache.all_objects();
    let live: HashSet<&str> = objects.iter().map(|o| o.uid.as_str()).collect();
    let mut dependents: Vec<Node> = Vec::new();
    let mut deleting_owners: Vec<Node> = Vec::new();
    for node in graph.update(&objects) {
        let facts = &node.facts;
        if facts.deleting
            && facts
                .finalizers
                .iter()
                .any(|f| f == ORPHAN || f == FOREGROUND)
        {
            deleting_owners.push(Node {
                object: node.object.clone(),
                facts: facts.clone(),
            });
        }
        if !facts.owners.is_empty() {
            dependents.push(node);
        }
    }
    // Dependents by owner uid.
    let mut by_owner: HashMap<&str, Vec<&Node>> = HashMap::new();
    for node in &dependents {
        for owner in &node.facts.owners {
            by_owner.entry(owner.uid.as_str()).or_default().push(node);
        }
    }
    for owner in &deleting_owners {
        let finalizers = &owner.facts.finalizers;
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
                    .facts
                    .owners
                    .iter()
                    .any(|o| o.uid == owner.object.uid && o.block);
                blocking |= blocks;
                if !dependent.facts.deleting {
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
            .facts
            .owners
            .iter()
            .filter(|o| !live.contains(o.uid.as_str()))
            .count();
        if absent == 0 {
            continue;
        }
        if absent == dependent.facts.owners.len() {
            if !dependent.facts.deleting {
                delete(ctx, dependent, "Background").await;
            }
        } else {
            drop_owners(ctx, dependent, |o| live.contains(o.uid.as_str())).await;
        }
    }
}

pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let mut changes = ctx.api.cache.changes();
    let mut graph = Graph::default();
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
        collect(&ctx, &mut graph).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(uid: &str, revision: Revision, value: Value) -> Arc<CachedObject> {
        Arc::new(CachedObject {
            key: format!("/registry/pods/default/{uid}"),
            namespace: Some("default".into()),
            name: uid.into(),
            uid: uid.into(),
            revision,
            json: Bytes::from(value.to_string()),
            labels: Vec::new(),
            fields: Vec::new(),
        })
    }

    fn owned(owner: &str, block: bool) -> Value {
        json!({"metadata": {"resourceVersion": "7", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner,
             "blockOwnerDeletion": block}]}})
    }

    #[test]
    fn keeps_only_objects_with_owners_or_collecting_finalizers() {
        let mut graph = Graph::default();
        let deleting = json!({"metadata": {"resourceVersion": "3",
            "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["foregroundDeletion"]}});
        let nodes = graph.update(&[
            object("plain", 1, json!({"metadata": {"resourceVersion": "1"}})),
            object("child", 2, owned("parent", true)),
            object("parent", 3, deleting),
        ]);
        let uids: Vec<&str> = nodes.iter().map(|n| n.object.uid.as_str()).collect();
        assert_eq!(uids, ["child", "parent"]);
        let child = &nodes[0].facts;
        assert_eq!(child.owners[0].uid, "parent");
        assert!(child.owners[0].block);
        assert_eq!(child.resource_version, "7");
        let parent = &nodes[1].facts;
        assert!(parent.deleting);
        assert_eq!(parent.finalizers, ["foregroundDeletion"]);
    }

    #[test]
    fn reuses_facts_of_unchanged_objects_and_rereads_changed_ones() {
        let mut graph = Graph::default();
        let first = graph.update(&[object("child", 2, owned("a", false))]);
        let again = graph.update(&[object("child", 2, owned("a", false))]);
        assert!(Arc::ptr_eq(&first[0].facts, &again[0].facts));
        let changed = graph.update(&[object("child", 5, owned("b", false))]);
        assert_eq!(changed[0].facts.owners[0].uid, "b");
        // An object that lost its owners leaves the graph; a deleted one is forgotten.
        assert!(
            graph
                .update(&[object("child", 6, json!({"metadata": {}}))])
                .is_empty()
        );
        graph.update(&[]);
        assert!(graph.objects.is_empty());
    }
}
