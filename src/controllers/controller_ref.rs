//! Which objects a workload controller owns, as upstream's `ControllerRefManager` decides:
//! an object belongs to the controller its `controller: true` owner reference names; an
//! orphan matching the controller's selector is adopted (unless the controller is being
//! deleted), and an owned object that no longer matches is released.
//!
//! Candidates are read from the API server's watch cache once it holds every committed
//! write, so a controller sees its own earlier writes (what upstream's "expectations" are for)
//! and nothing is copied into a second, per-controller cache.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Context, ReconcileError};
use crate::api::cache::CachedObject;
use crate::api::selector::LabelSelector;

/// The controller side of an ownership: who owns, and how to name it in a reference.
#[derive(Clone, Debug)]
pub struct Owner {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub deleting: bool,
}

impl Owner {
    pub fn new(api_version: &'static str, kind: &'static str, meta: &ObjectMeta) -> Owner {
        Owner {
            api_version,
            kind,
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }

    /// The reference a controlled object carries (`controller` and `blockOwnerDeletion`).
    pub fn controller_ref(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.to_string(),
            kind: self.kind.to_string(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// The `involvedObject` of events about this owner.
    pub fn reference(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(self.api_version.to_string()),
            kind: Some(self.kind.to_string()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            uid: Some(self.uid.clone()),
            ..Default::default()
        }
    }
}

/// The owner reference marked `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether `meta` is controlled by the object with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// A selector from a `metav1.LabelSelector`; `None` when it cannot be parsed (such an
/// owner selects nothing, as upstream treats an invalid selector).
pub fn selector(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Option<LabelSelector> {
    let value = serde_json::to_value(selector).ok()?;
    LabelSelector::from_object(&value).ok()
}

/// Whether a selector selects every object (upstream refuses to act on those).
pub fn selects_everything(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
}

/// Waits until the watch cache holds every write the store has committed.
///
/// # Errors
/// When the cache lags for more than a few seconds.
pub async fn wait_fresh(ctx: &Context) -> Result<(), ReconcileError> {
    ctx.api
        .cache
        .wait_fresh(&*ctx.api.store)
        .await
        .map(|_| ())
        .map_err(|e| ReconcileError::Request(format!("watch cache not current: {e}")))
}

/// Objects of kind `K` in `namespace` (all namespaces when `None`) that `keep` accepts,
/// parsed from the watch cache (call [`wait_fresh`] first for a consistent read).
pub fn cached<K>(
    ctx: &Context,
    namespace: Option<&str>,
    keep: impl Fn(&CachedObject) -> bool,
) -> Vec<K>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let Some(info) = ctx
        .api
        .registry
        .get(&K::group(&()), &K::version(&()), &K::plural(&()))
    else {
        return Vec::new();
    };
    let prefix = info.list_prefix(namespace);
    ctx.api
        .cache
        .list(&prefix, &Default::default(), None, None)
        .objects
        .iter()
        .filter(|o| keep(o))
        .filter_map(|o| serde_json::from_slice(&o.json).ok())
        .collect()
}

/// One object of kind `K` from the watch cache.
pub fn cached_one<K>(ctx: &Context, namespace: Option<&str>, name: &str) -> Option<K>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let info = ctx
        .api
        .registry
        .get(&K::group(&()), &K::version(&()), &K::plural(&()))?;
    let object = ctx.api.cache.get(&info.key(namespace, name))?;
    serde_json::from_slice(&object.json).ok()
}

/// Whether a cached object could belong to `owner`: it names the owner's uid somewhere, or
/// it matches the selector (a cheap test before parsing).
pub fn may_belong(object: &CachedObject, owner_uid: &str, selector: &LabelSelector) -> bool {
    selector.matches_with(|k| object.label(k))
        || object
            .json
            .windows(owner_uid.len())
            .any(|w| w == owner_uid.as_bytes())
}

/// The controllers of kind `K` to sync when `meta` (a dependent) changes: its controller if
/// that is a `K`, or, for an orphan, every `K` in its namespace that `selects` its labels.
pub fn owners_to_sync<K>(
    ctx: &Context,
    meta: &ObjectMeta,
    selects: impl Fn(&K, &BTreeMap<String, String>) -> bool,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let namespace = meta.namespace.as_deref().unwrap_or("default");
    if let Some(controller) = controller_of(meta) {
        if controller.kind == K::kind(&()) && controller.api_version == K::api_version(&()) {
            return vec![ObjectRef::new(&controller.name).within(namespace)];
        }
        return Vec::new();
    }
    let labels = meta.labels.clone().unwrap_or_default();
    cached::<K>(ctx, Some(namespace), |_| true)
        .into_iter()
        .filter(|owner| owner.meta().deletion_timestamp.is_none() && selects(owner, &labels))
        .map(|owner| ObjectRef::new(&owner.name_any()).within(namespace))
        .collect()
}

/// A merge patch that turns `old` status into `new`: fields `new` lacks are removed.
pub fn status_patch(old: &impl serde::Serialize, new: &impl serde::Serialize) -> Value {
    let old = serde_json::to_value(old).unwrap_or(Value::Null);
    let mut new = serde_json::to_value(new).unwrap_or_else(|_| json!({}));
    if let (Some(old), Some(fields)) = (old.as_object(), new.as_object_mut()) {
        for key in old.keys() {
            fields.entry(key.clone()).or_insert(Value::Null);
        }
    }
    json!({ "status": new })
}

/// Writes `new` as the status of the object `name` when it differs from `old`, through the
/// status subresource (a merge patch that also clears fields `new` no longer has). An object
/// deleted meanwhile is not an error: there is nothing left to report on.
pub async fn write_status<K, S>(api: &Api<K>, name: &str, old: &S, new: &S) -> kube::Result<()>
where
    K: Clone + DeserializeOwned + Debug,
    S: serde::Serialize + PartialEq,
{
    if old == new {
        return Ok(());
    }
    let patch = Patch::Merge(status_patch(old, new));
    match api
        .patch_status(name, &PatchParams::default(), &patch)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// What a claim does with one candidate.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    Keep,
    Adopt,
    Release,
    Ignore,
}

fn decide(meta: &ObjectMeta, owner: &Owner, matches: bool) -> Claim {
    match controller_of(meta) {
        Some(r) if r.uid != owner.uid => Claim::Ignore,
        Some(_) if matches => Claim::Keep,
        // Keep what is ours while we are being deleted: the collector handles it.
        Some(_) if owner.deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner.deleting || !matches || meta.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// Claims `candidates` for `owner`: returns those it controls afterwards, adopting orphans
/// for which `matches` holds and releasing controlled ones for which it no longer does.
///
/// # Errors
/// When an adoption or release fails for another reason than a conflict or a vanished
/// object (those objects are left out; the next sync sees them again).
pub async fn claim<K>(
    ctx: &Context,
    owner: &Owner,
    candidates: Vec<K>,
    matches: impl Fn(&K) -> bool,
) -> Result<Vec<K>, ReconcileError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &owner.namespace);
    let mut claimed = Vec::new();
    for candidate in candidates {
        let meta = candidate.meta();
        match decide(meta, owner, matches(&candidate)) {
            Claim::Keep => claimed.push(candidate),
            Claim::Ignore => {}
            Claim::Adopt => {
                let mut references: Vec<OwnerReference> =
                    meta.owner_references.clone().unwrap_or_default();
                references.retain(|r| r.uid != owner.uid);
                references.push(owner.controller_ref());
                if let Some(adopted) = patch_owners(&api, &candidate, json!(references)).await? {
                    claimed.push(adopted);
                }
            }
            Claim::Release => {
                let references: Vec<OwnerReference> = meta
                    .owner_references
                    .iter()
                    .flatten()
                    .filter(|r| r.uid != owner.uid)
                    .cloned()
                    .collect();
                let value = if references.is_empty() {
                    Value::Null
                } else {
                    json!(references)
                };
                patch_owners(&api, &candidate, value).await?;
            }
        }
    }
    Ok(claimed)
}

/// Replaces an object's owner references, guarded by its resourceVersion; `None` when the
/// object changed or went meanwhile.
async fn patch_owners<K>(
    api: &Api<K>,
    object: &K,
    references: Value,
) -> Result<Option<K>, ReconcileError>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
{
    let patch = json!({"metadata": {
        "ownerReferences": references,
        "uid": object.meta().uid,
        "resourceVersion": object.meta().resource_version,
    }});
    match api
        .patch(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(patched) => Ok(Some(patched)),
        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409 | 422) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(deleting: bool) -> Owner {
        Owner {
            api_version: "apps/v1",
            kind: "ReplicaSet",
            name: "web".into(),
            namespace: "default".into(),
            uid: "u1".into(),
            deleting,
        }
    }

    fn meta(controller: Option<&str>, deleting: bool) -> ObjectMeta {
        ObjectMeta {
            owner_references: controller.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            deletion_timestamp: deleting.then(|| {
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())
            }),
            ..Default::default()
        }
    }

    #[test]
    fn claims_as_the_controller_ref_manager() {
        let o = owner(false);
        assert_eq!(decide(&meta(Some("u1"), false), &o, true), Claim::Keep);
        assert_eq!(decide(&meta(Some("u1"), false), &o, false), Claim::Release);
        assert_eq!(decide(&meta(Some("u2"), false), &o, true), Claim::Ignore);
        assert_eq!(decide(&meta(None, false), &o, true), Claim::Adopt);
        assert_eq!(decide(&meta(None, false), &o, false), Claim::Ignore);
        assert_eq!(decide(&meta(None, true), &o, true), Claim::Ignore);
        let deleting = owner(true);
        assert_eq!(decide(&meta(None, false), &deleting, true), Claim::Ignore);
        assert_eq!(
            decide(&meta(Some("u1"), false), &deleting, false),
            Claim::Ignore
        );
        assert_eq!(
            decide(&meta(Some("u1"), false), &deleting, true),
            Claim::Keep
        );
    }

    #[test]
    fn an_empty_selector_selects_everything() {
        let empty = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector::default();
        assert!(selects_everything(&empty));
        let some = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        };
        assert!(!selects_everything(&some));
        let parsed = selector(&some).unwrap();
        assert!(parsed.matches(&[("app".to_string(), "web".to_string())].into()));
    }
}
