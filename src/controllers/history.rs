//! Revision history of StatefulSets and DaemonSets in `apps/v1` ControllerRevisions, and the
//! hashes the workload controllers name things by.
//!
//! A revision's `data` is a strategic merge patch that puts back the pod template
//! (`{"spec":{"template":{…,"$patch":"replace"}}}`): `kubectl rollout undo` applies it, and
//! `kubectl rollout history` lists the revisions. Hashes are FNV-32 sums printed in decimal
//! and spelled with upstream's alphabet of consonants and digits, so names look as upstream's
//! do (`web-7c9f8d5b6`); the bytes hashed are the canonical JSON of what is hashed.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::{Value, json};

use super::controller_ref::{self, Owner};
use super::{Context, ReconcileError};

/// The label a StatefulSet's ControllerRevisions carry their hash in.
pub const REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// The label pods (and DaemonSet revisions) carry their revision in.
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1 (multiply, then xor).
fn fnv32(bytes: &[u8], mut hash: u32) -> u32 {
    for b in bytes {
        hash = hash.wrapping_mul(FNV_PRIME);
        hash ^= u32::from(*b);
    }
    hash
}

/// FNV-1a (xor, then multiply).
fn fnv32a(bytes: &[u8], mut hash: u32) -> u32 {
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Upstream's `SafeEncodeString`: each character mapped into an alphabet without vowels
/// or look-alikes, so the result cannot spell words.
pub fn safe_encode(text: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    text.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// The `pod-template-hash` of a Deployment's template (and a DaemonSet's revision hash),
/// with the collision count mixed in when there is one.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(&canonical(template)).unwrap_or_default();
    let mut hash = fnv32a(&bytes, FNV_OFFSET);
    if let Some(count) = collision_count {
        let mut extra = [0u8; 8];
        extra[..4].copy_from_slice(&count.to_le_bytes());
        hash = fnv32a(&extra, hash);
    }
    safe_encode(&hash.to_string())
}

/// A template as a JSON value with sorted keys.
fn canonical(template: &PodTemplateSpec) -> Value {
    serde_json::to_value(template).unwrap_or(Value::Null)
}

/// The data of a revision of `template`.
pub fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut template = canonical(template);
    if let Some(t) = template.as_object_mut() {
        t.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The template a revision's data puts back.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Some(t) = template.as_object_mut() {
        t.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

/// The hash of a StatefulSet revision: its data, and the collision count as decimal text.
pub fn revision_hash(data: &Value, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(data).unwrap_or_default();
    let mut hash = fnv32(&bytes, FNV_OFFSET);
    if let Some(count) = collision_count {
        hash = fnv32(count.to_string().as_bytes(), hash);
    }
    safe_encode(&hash.to_string())
}

/// `<parent>-<hash>`, the parent's name cut so the whole fits in a label value's 253.
pub fn revision_name(parent: &str, hash: &str) -> String {
    let parent: String = parent.chars().take(223).collect();
    format!("{parent}-{hash}")
}

/// Whether two revisions put back the same template.
pub fn same_data(a: &ControllerRevision, b: &Value) -> bool {
    a.data.as_ref().map(|d| &d.0) == Some(b)
}

/// Sorts by revision number, then creation time, then name.
pub fn sort(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| {
                a.metadata
                    .creation_timestamp
                    .cmp(&b.metadata.creation_timestamp)
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// The number after the highest revision.
pub fn next_revision(revisions: &[ControllerRevision]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// The ControllerRevisions `owner` controls, adopting orphans its selector matches.
///
/// # Errors
/// When the cache is stale or an adoption fails.
pub async fn owned(
    ctx: &Context,
    owner: &Owner,
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Result<Vec<ControllerRevision>, ReconcileError> {
    let Some(selector) = controller_ref::selector(selector) else {
        return Ok(Vec::new());
    };
    let candidates: Vec<ControllerRevision> =
        controller_ref::cached(ctx, Some(&owner.namespace), |o| {
            controller_ref::may_belong(o, &owner.uid, &selector)
        });
    let mut revisions = controller_ref::claim(ctx, owner, candidates, |r| {
        let labels = r.metadata.labels.clone().unwrap_or_default();
        selector.matches(&labels)
    })
    .await?;
    sort(&mut revisions);
    Ok(revisions)
}

/// A revision about to be created.
pub struct NewRevision {
    pub hash: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub data: Value,
    pub revision: i64,
}

/// Creates a revision named `<owner>-<hash>`; if that name is taken by another template,
/// `rehash` gives the hash for the next collision count, which is bumped. Returns the
/// revision (an identical existing one counts) and the collision count.
///
/// # Errors
/// When the API refuses the revision.
pub async fn create(
    ctx: &Context,
    owner: &Owner,
    mut new: NewRevision,
    mut collision_count: i32,
    rehash: impl Fn(i32) -> String,
) -> Result<(ControllerRevision, i32), ReconcileError> {
    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), &owner.namespace);
    loop {
        let name = revision_name(&owner.name, &new.hash);
        let revision = ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(owner.namespace.clone()),
                labels: Some(new.labels.clone()),
                annotations: new.annotations.clone(),
                owner_references: Some(vec![owner.controller_ref()]),
                ..Default::default()
            },
            data: Some(RawExtension(new.data.clone())),
            revision: new.revision,
        };
        match api.create(&PostParams::default(), &revision).await {
            Ok(created) => return Ok((created, collision_count)),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let existing = api.get(&name).await?;
                if same_data(&existing, &new.data) {
                    return Ok((existing, collision_count));
                }
                collision_count += 1;
                new.hash = rehash(collision_count);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Moves an existing revision to the top of the history (a rollback to it).
///
/// # Errors
/// When the API refuses the update.
pub async fn renumber(
    ctx: &Context,
    revision: &ControllerRevision,
    number: i64,
) -> Result<ControllerRevision, ReconcileError> {
    let api: Api<ControllerRevision> = Api::namespaced(
        ctx.client.clone(),
        revision.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let patch = json!({"revision": number, "metadata": {"resourceVersion": revision.metadata.resource_version}});
    Ok(api
        .patch(
            revision.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?)
}

/// Deletes the oldest revisions that are not `live` until at most `limit` such remain.
/// `key` says what identifies a revision in `live` (its name or its hash label).
///
/// # Errors
/// When a delete fails for another reason than the revision being gone.
pub async fn truncate(
    ctx: &Context,
    revisions: &[ControllerRevision],
    live: &HashSet<String>,
    key: impl Fn(&ControllerRevision) -> Option<String>,
    limit: i32,
) -> Result<(), ReconcileError> {
    let history: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| key(r).is_none_or(|k| !live.contains(&k)))
        .collect();
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    if history.len() <= limit {
        return Ok(());
    }
    let excess = history.len() - limit;
    for revision in history.into_iter().take(excess) {
        let api: Api<ControllerRevision> = Api::namespaced(
            ctx.client.clone(),
            revision.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: revision.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api
            .delete(
                revision.metadata.name.as_deref().unwrap_or_default(),
                &params,
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]},
        }))
        .unwrap()
    }

    #[test]
    fn fnv_matches_reference_values() {
        // Reference vectors of FNV-1 and FNV-1a (32 bit).
        assert_eq!(fnv32(b"", FNV_OFFSET), 0x811c_9dc5);
        assert_eq!(fnv32(b"a", FNV_OFFSET), 0x050c_5d7e);
        assert_eq!(fnv32a(b"a", FNV_OFFSET), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar", FNV_OFFSET), 0xbf9c_f968);
    }

    #[test]
    fn hashes_are_stable_safe_and_collision_aware() {
        let a = template_hash(&template("nginx:1"), None);
        assert_eq!(a, template_hash(&template("nginx:1"), None));
        assert_ne!(a, template_hash(&template("nginx:2"), None));
        assert_ne!(a, template_hash(&template("nginx:1"), Some(1)));
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_eq!(safe_encode("0123"), "4567");
    }

    #[test]
    fn revision_data_round_trips_the_template() {
        let t = template("nginx:1");
        let data = revision_data(&t);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let revision = ControllerRevision {
            data: Some(RawExtension(data.clone())),
            ..Default::default()
        };
        assert_eq!(template_of(&revision), Some(t));
        assert!(same_data(&revision, &data));
        let h = revision_hash(&data, None);
        assert_ne!(h, revision_hash(&data, Some(1)));
        assert_eq!(revision_name("web", &h), format!("web-{h}"));
    }
}
