//! CustomResourceDefinitions: the API server's own controller that serves custom resources
//! as soon as their definition is accepted.
//!
//! It follows the CRD objects in the watch cache. For each one it registers every served
//! version (names, scope, schema, printer columns, status and scale subresources), marks the
//! CRD `NamesAccepted` and `Established`, and records its storage version. When a CRD is
//! deleted it removes every custom resource it defined (the
//! `customresourcecleanup.apiextensions.k8s.io` finalizer), then the finalizer, then the
//! registry entries.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::ApiState;
use super::auth::UserInfo;
use super::cache::{EventType, Filter};
use super::object;
use super::registry::{CustomInfo, PrinterColumn, ResourceInfo, ScalePaths, Subresource};
use crate::store::ListRequest;

pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
const CRD_PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The storage version: the version marked `storage: true`.
fn storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name")?.as_str())
        .map(str::to_string)
}

/// The registry entries a CRD defines: one per served version.
pub fn resources_of(crd: &Value) -> Vec<ResourceInfo> {
    let group = str_at(crd, "/spec/group").to_string();
    let names = crd.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    let plural = str_at(&names, "/plural").to_string();
    let kind = str_at(&names, "/kind").to_string();
    let singular = match str_at(&names, "/singular") {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let namespaced = str_at(crd, "/spec/scope") != "Cluster";
    let Some(storage) = storage_version(crd) else {
        return Vec::new();
    };
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
        .map(|v| {
            let version = str_at(v, "/name").to_string();
            let mut subresources = Vec::new();
            let mut scale = None;
            if v.pointer("/subresources/status").is_some() {
                subresources.push(Subresource {
                    name: "status".into(),
                    group: group.clone(),
                    version: version.clone(),
                    kind: kind.clone(),
                    verbs: vec!["get".into(), "patch".into(), "update".into()],
                });
            }
            if let Some(s) = v.pointer("/subresources/scale") {
                subresources.push(Subresource {
                    name: "scale".into(),
                    group: "autoscaling".into(),
                    version: "v1".into(),
                    kind: "Scale".into(),
                    verbs: vec!["get".into(), "patch".into(), "update".into()],
                });
                scale = Some(ScalePaths {
                    spec_replicas: str_at(s, "/specReplicasPath").to_string(),
                    status_replicas: str_at(s, "/statusReplicasPath").to_string(),
                    label_selector: s.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
                });
            }
            let mut printer_columns: Vec<PrinterColumn> = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: str_at(c, "/name").to_string(),
                            kind: str_at(c, "/type").to_string(),
                            format: str_at(c, "/format").to_string(),
                            description: str_at(c, "/description").to_string(),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
                            json_path: str_at(c, "/jsonPath").to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            if printer_columns.is_empty() {
                printer_columns.push(PrinterColumn {
                    name: "Age".into(),
                    kind: "date".into(),
                    format: String::new(),
                    description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
                    priority: 0,
                    json_path: ".metadata.creationTimestamp".into(),
                });
            }
            ResourceInfo {
                group: group.clone(),
                version,
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                short_names: strings(names.get("shortNames")),
                namespaced,
                verbs: ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                categories: strings(names.get("categories")),
                subresources,
                selectable_fields: v
                    .get("selectableFields")
                    .and_then(Value::as_array)
                    .map(|f| {
                        f.iter()
                            .filter_map(|s| s.get("jsonPath")?.as_str())
                            .map(|p| p.trim_start_matches('.').to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                storage_prefix: format!("/registry/{group}/{plural}/"),
                custom: Some(CustomInfo {
                    crd_name: object::name(crd).to_string(),
                    schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                    printer_columns,
                    scale,
                    storage_version: storage.clone(),
                }),
            }
        })
        .collect()
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": status, "lastTransitionTime": now, "reason": reason, "message": message})
}

/// The status a CRD should have: names accepted and established, storage version recorded.
fn desired_status(crd: &Value, conflict: Option<&str>) -> Value {
    let now = object::now();
    let mut status = crd.get("status").cloned().unwrap_or_else(|| json!({}));
    let existing = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let keep_time = |kind: &str, state: &str| -> String {
        existing
            .iter()
            .find(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some(state)
            })
            .and_then(|c| c.get("lastTransitionTime").and_then(Value::as_str))
            .map_or(now.clone(), str::to_string)
    };
    let conditions = match conflict {
        None => vec![
            condition(
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
                &keep_time("NamesAccepted", "True"),
            ),
            condition(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                &keep_time("Established", "True"),
            ),
        ],
        Some(why) => vec![
            condition(
                "NamesAccepted",
                "False",
                "NameConflict",
                why,
                &keep_time("NamesAccepted", "False"),
            ),
            condition(
                "Established",
                "False",
                "NotAccepted",
                "not all names are accepted",
                &keep_time("Established", "False"),
            ),
        ],
    };
    status["conditions"] = json!(conditions);
    if conflict.is_none() {
        let mut names = crd
            .pointer("/spec/names")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if names.get("singular").is_none_or(|s| s.as_str() == Some("")) {
            names["singular"] = json!(str_at(crd, "/spec/names/kind").to_lowercase());
        }
        if names.get("listKind").is_none_or(|s| s.as_str() == Some("")) {
            names["listKind"] = json!(format!("{}List", str_at(crd, "/spec/names/kind")));
        }
        status["acceptedNames"] = names;
    } else if status.get("acceptedNames").is_none() {
        status["acceptedNames"] = json!({"plural": "", "kind": ""});
    }
    let mut stored = strings(status.get("storedVersions"));
    if let Some(storage) = storage_version(crd)
        && !stored.contains(&storage)
    {
        stored.push(storage);
    }
    status["storedVersions"] = json!(stored);
    status
}

async fn local(
    state: &Arc<ApiState>,
    method: Method,
    uri: &str,
    content_type: &str,
    body: Value,
) -> u16 {
    let user = UserInfo::system("apiextensions-controller");
    super::local::request(
        state,
        &user,
        method,
        uri,
        content_type,
        Bytes::from(body.to_string()),
    )
    .await
    .0
}

/// Why a CRD's names clash with a kind already served, if they do.
fn names_conflict(state: &ApiState, crd: &Value) -> Option<String> {
    let group = str_at(crd, "/spec/group");
    let plural = str_at(crd, "/spec/names/plural");
    let mine = object::name(crd);
    state
        .registry
        .all()
        .into_iter()
        .find(|r| {
            r.group == group
                && r.plural == plural
                && r.custom.as_ref().is_none_or(|c| c.crd_name != mine)
        })
        .map(|_| format!("{plural:?} is already in use"))
}

/// Brings the registry and the CRD's status in line with its spec.
async fn reconcile(state: &Arc<ApiState>, crd: &Value) {
    let name = object::name(crd).to_string();
    let group = str_at(crd, "/spec/group").to_string();
    let plural = str_at(crd, "/spec/names/plural").to_string();
    if object::is_deleting(crd) {
        cleanup(state, crd).await;
        return;
    }
    let conflict = names_conflict(state, crd);
    if conflict.is_none() {
        state.registry.remove_custom(&group, &plural);
        let resources = resources_of(crd);
        let versions: Vec<String> = resources.iter().map(|r| r.version.clone()).collect();
        for info in resources {
            state.registry.add(info);
        }
        state
            .registry
            .set_version_order(&group, version_priority(versions));
    }
    let status = desired_status(crd, conflict.as_deref());
    if crd.get("status") != Some(&status) {
        let mut updated = crd.clone();
        updated["status"] = status;
        let uri = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}/status");
        let code = local(state, Method::PUT, &uri, "application/json", updated).await;
        if code >= 300 && code != 409 {
            warn!(crd = %name, code, "cannot update the status of a CustomResourceDefinition");
        }
    }
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first, then
/// non-Kubernetes names alphabetically.
fn version_priority(mut versions: Vec<String>) -> Vec<String> {
    fn key(v: &str) -> (u8, i64, i64, String) {
        let parsed = v.strip_prefix('v').and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let major: i64 = digits.parse().ok()?;
            let tail = &rest[digits.len()..];
            if tail.is_empty() {
                return Some((0u8, -major, 0i64));
            }
            for (stage, rank) in [("beta", 1u8), ("alpha", 2u8)] {
                if let Some(n) = tail.strip_prefix(stage) {
                    let minor: i64 = if n.is_empty() { 0 } else { n.parse().ok()? };
                    return Some((rank, -major, -minor));
                }
            }
            None
        });
        match parsed {
            Some((rank, major, minor)) => (rank, major, minor, String::new()),
            None => (3, 0, 0, v.to_string()),
        }
    }
    versions.sort_by_key(|v| key(v));
    versions
}

/// Deletes every custom resource of a CRD being deleted, then its finalizer.
async fn cleanup(state: &Arc<ApiState>, crd: &Value) {
    let name = object::name(crd).to_string();
    let group = str_at(crd, "/spec/group").to_string();
    let plural = str_at(crd, "/spec/names/plural").to_string();
    state.registry.remove_custom(&group, &plural);
    let prefix = format!("/registry/{group}/{plural}/");
    loop {
        let page = match state
            .store
            .list(&ListRequest {
                prefix: prefix.clone(),
                limit: Some(500),
                ..Default::default()
            })
            .await
        {
            Ok(page) => page,
            Err(error) => {
                warn!(crd = %name, %error, "cannot list custom resources to delete");
                return;
            }
        };
        if page.kvs.is_empty() {
            break;
        }
        for kv in page.kvs {
            let _ = state.store.delete(&kv.key, None).await;
        }
    }
    let finalizers: Vec<String> = object::finalizers(crd)
        .into_iter()
        .filter(|f| f != CLEANUP_FINALIZER)
        .collect();
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": object::resource_version(crd)}});
    let uri = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
    let code = local(
        state,
        Method::PATCH,
        &uri,
        "application/merge-patch+json",
        patch,
    )
    .await;
    if code >= 300 && code != 404 && code != 409 {
        warn!(crd = %name, code, "cannot remove the cleanup finalizer of a CustomResourceDefinition");
    } else {
        info!(crd = %name, "custom resources removed");
    }
}

/// Follows the CRDs until `shutdown`.
pub async fn run(state: Arc<ApiState>, shutdown: CancellationToken) {
    loop {
        let start = match state.cache.watch(CRD_PREFIX, &Filter::default(), None) {
            Ok(start) => start,
            Err(error) => {
                warn!(%error, "cannot watch CustomResourceDefinitions");
                return;
            }
        };
        let mut known: HashSet<(String, String)> = HashSet::new();
        for event in &start.initial {
            let crd = event.object.value();
            known.insert((
                str_at(&crd, "/spec/group").to_string(),
                str_at(&crd, "/spec/names/plural").to_string(),
            ));
            reconcile(&state, &crd).await;
        }
        let mut live = start.live;
        let mut last = start.revision;
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => return,
                received = live.recv() => received,
            };
            let event = match received {
                Ok(event) => event,
                // Fell behind or the cache was refilled: start over from the current state.
                Err(_) => break,
            };
            if event.revision <= last || !event.object.key.starts_with(CRD_PREFIX) {
                continue;
            }
            last = event.revision;
            let crd = event.object.value();
            if event.kind == EventType::Deleted {
                state.registry.remove_custom(
                    str_at(&crd, "/spec/group"),
                    str_at(&crd, "/spec/names/plural"),
                );
                continue;
            }
            if let Some(prev) = &event.prev {
                let prev = prev.value();
                let (g, p) = (
                    str_at(&prev, "/spec/group"),
                    str_at(&prev, "/spec/names/plural"),
                );
                if (g, p)
                    != (
                        str_at(&crd, "/spec/group"),
                        str_at(&crd, "/spec/names/plural"),
                    )
                {
                    state.registry.remove_custom(g, p);
                }
            }
            reconcile(&state, &crd).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_upstream() {
        let sorted = version_priority(
            [
                "v1alpha1",
                "v2",
                "foo",
                "v1",
                "v11beta2",
                "v10beta3",
                "v12alpha1",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
        assert_eq!(
            sorted,
            [
                "v2",
                "v1",
                "v11beta2",
                "v10beta3",
                "v12alpha1",
                "v1alpha1",
                "foo"
            ]
        );
    }

    #[test]
    fn resources_from_a_crd() {
        let crd = json!({
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1beta1", "served": false, "storage": false}
                ]}
        });
        let resources = resources_of(&crd);
        assert_eq!(resources.len(), 1);
        let r = &resources[0];
        assert_eq!(
            (
                r.kind.as_str(),
                r.singular.as_str(),
                r.storage_prefix.as_str()
            ),
            (
                "CronTab",
                "crontab",
                "/registry/stable.example.com/crontabs/"
            )
        );
        assert!(r.has_status() && r.subresource("scale").is_some());
        assert_eq!(r.custom.as_ref().unwrap().printer_columns[0].name, "Age");
    }
}
