//! Server-side apply (`PATCH` with `application/apply-patch+yaml`, `?fieldManager=&force=`)
//! and the field ownership every write records in `metadata.managedFields`, with the
//! semantics of kube-apiserver's field manager over structured-merge-diff.
//!
//! An apply merges the applier's configuration into the live object, removes what the same
//! applier applied before and no longer applies (unless someone else owns it), and refuses
//! with conflicts when it would change a value another manager owns (`force` takes the
//! fields over instead). Every other write ([`FieldManager::track_update`]) gives its manager
//! the fields it changed, taking them from whoever owned them. `apiVersion`, `kind` and the
//! server-set metadata (`name`, `namespace`, `uid`, `resourceVersion`, …) are never owned.
//!
//! Not done here: defaulting and validating the result, checking the name and namespace
//! against the URL, filling the create-time metadata (`uid`, `creationTimestamp`); the caller
//! runs those on the returned object as for any other write.

use serde_json::{Map, Value};

use super::fieldset::{Element, FieldSet, display_path, field};
use super::last_applied::{self, KUBECTL};
use super::managed_fields::{
    self, Managed, ManagerId, Ownership, disown_server_fields, managed_fields_of,
    set_managed_fields, without_managed_fields,
};
use super::structure::Structure;
use super::walk::Comparison;
use crate::api::field_error::FieldError;

pub use super::structure::{CustomNodeType, CustomSchema, custom_node_type};

/// Owner of the fields of an object that had no managed fields when first applied to.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The field manager of one endpoint: a kind at one API version, on the main resource or on
/// a subresource.
#[derive(Clone, Copy)]
pub struct FieldManager<'a> {
    /// API group, "" for the core group.
    pub group: &'a str,
    pub kind: &'a str,
    /// The version objects are applied and tracked at: `v1`, `apps/v1`.
    pub api_version: &'a str,
    /// "" for the main resource; `status`, `scale` for a subresource (recorded in entries).
    pub subresource: &'a str,
    /// Fields this endpoint does not change (upstream's reset fields), as field-name paths:
    /// `&[&["status"]]` for the main resource of a kind with a status subresource,
    /// `&[&["spec"]]` for its status subresource. An apply leaves them as they are live and
    /// no write owns them.
    pub reset_fields: &'a [&'a [&'a str]],
    /// For custom resources: the list and map types their CRD's schema declares. Without it,
    /// lists of unknown kinds are atomic and objects granular.
    pub custom_schema: Option<CustomSchema<'a>>,
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// 409 Conflict, reason `Conflict`: other managers own fields the configuration changes.
    /// The `Status` carries one cause per conflict, `{reason: "FieldManagerConflict",
    /// message: conflict.message(), field: conflict.field}`, and this error's text.
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// 400 Bad Request: the applied configuration is malformed (wrong or missing `apiVersion`
    /// or `kind`, no `metadata.name`, `managedFields` set, a keyed list item without keys, …).
    #[error("{0}")]
    Invalid(String),
    /// 500: the live object's `metadata.managedFields` cannot be read.
    #[error("failed to decode managed fields: {0}")]
    ManagedFieldsCorrupt(String),
}

/// A field another manager owns that the configuration would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name (`kubectl-client-side-apply`).
    pub manager: String,
    /// The version it wrote at, for `Update` managers; empty for appliers, which upstream
    /// names without a version.
    pub api_version: String,
    /// The subresource it wrote through, if any.
    pub subresource: String,
    /// The field as upstream prints it: `.data.k`, `.spec.containers[name="c1"].image`.
    pub field: String,
}

impl Conflict {
    /// The cause message: `conflict with "kubectl-client-side-apply" using v1`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.owner())
    }

    /// `"m"`, `"m" with subresource "status"`, `"m" using apps/v1`.
    fn owner(&self) -> String {
        let mut owner = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            owner.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if !self.api_version.is_empty() {
            owner.push_str(&format!(" using {}", self.api_version));
        }
        owner
    }
}

/// Upstream's `Status` message for a refused apply.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: {}: {}",
            only.message(),
            only.field
        );
    }
    let mut lines = Vec::new();
    let mut owner = None;
    for conflict in conflicts {
        let this = conflict.owner();
        if owner.as_ref() != Some(&this) {
            lines.push(format!("conflicts with {this}:"));
            owner = Some(this);
        }
        lines.push(format!("- {}", conflict.field));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// A conflict before it is printed: the owner and the path.
struct OwnedPath {
    owner: ManagerId,
    path: Vec<Element>,
}

/// Why merging a configuration stopped.
enum Refusal {
    Conflicts(Vec<OwnedPath>),
    Invalid(String),
}

impl<'a> FieldManager<'a> {
    /// The manager of a kind's main resource, with no reset fields and no custom schema.
    pub fn new(group: &'a str, kind: &'a str, api_version: &'a str) -> Self {
        FieldManager {
            group,
            kind,
            api_version,
            subresource: "",
            reset_fields: &[],
            custom_schema: None,
        }
    }

    pub(super) fn structure(&self) -> Structure<'a> {
        Structure::new(self.group, self.kind, self.custom_schema)
    }

    /// Applies `config` (the applier's intent, parsed from YAML or JSON) for `manager` onto
    /// `live` (`None`: the object does not exist and the apply creates it). Returns the new
    /// object with its `metadata.managedFields`; `now` (RFC 3339) stamps the applier's entry
    /// when the object changed. An unchanged result equals `live`.
    ///
    /// # Errors
    /// [`ApplyError::Conflicts`] when `force` is false and other managers own fields the
    /// configuration changes; [`ApplyError::Invalid`] for a malformed configuration;
    /// [`ApplyError::ManagedFieldsCorrupt`] when the live entries cannot be read.
    pub fn apply(
        &self,
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, ApplyError> {
        let structure = self.structure();
        self.check_config(&structure, config)?;
        let (live_object, mut managed) = match live {
            Some(live) => (
                without_managed_fields(live),
                managed_fields::decode(managed_fields_of(live))
                    .map_err(ApplyError::ManagedFieldsCorrupt)?,
            ),
            None => (Value::Object(Map::new()), Managed::new()),
        };
        if live.is_some() && managed.is_empty() {
            let empty = self.empty_object(&structure, &live_object);
            self.record_update(
                &structure,
                &empty,
                &live_object,
                &mut managed,
                BEFORE_FIRST_APPLY,
                now,
            );
        }
        let id = ManagerId::applier(manager, self.subresource);
        let outcome = match self.merge_config(
            &structure,
            &live_object,
            config,
            managed.clone(),
            &id,
            force,
        ) {
            Err(Refusal::Conflicts(conflicts)) if manager == KUBECTL => {
                // Fields client-side apply set and nobody changed since may be taken over.
                let allowed = live.and_then(|live| {
                    last_applied::unchanged_since_last_applied(&structure, self.api_version, live)
                });
                let remaining: Vec<OwnedPath> = match &allowed {
                    Some(allowed) => conflicts
                        .into_iter()
                        .filter(|c| !allowed.has(&c.path))
                        .collect(),
                    None => conflicts,
                };
                if remaining.is_empty() {
                    self.merge_config(&structure, &live_object, config, managed, &id, true)
                } else {
                    Err(Refusal::Conflicts(remaining))
                }
            }
            outcome => outcome,
        };
        let (mut object, mut managed) = outcome.map_err(|refusal| match refusal {
            Refusal::Invalid(message) => ApplyError::Invalid(message),
            Refusal::Conflicts(conflicts) => ApplyError::Conflicts(public_conflicts(conflicts)),
        })?;
        disown_server_fields(&mut managed, &id);
        let changed = object != live_object;
        if changed && let Some(own) = managed.get_mut(&id) {
            own.time = Some(now.to_string());
        }
        if manager == KUBECTL && last_applied::last_applied(&object).is_some() {
            last_applied::record_last_applied(&mut object, config);
        }
        if changed && structure.is_built_in() {
            drop_null_fields(&mut object);
        }
        set_managed_fields(&mut object, managed_fields::encode(&managed));
        Ok(object)
    }

    fn check_config(&self, structure: &Structure, config: &Value) -> Result<(), ApplyError> {
        let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or("").to_string();
        if !config.is_object() {
            return Err(ApplyError::Invalid(
                "the applied configuration must be an object".to_string(),
            ));
        }
        let (api_version, kind) = (text(config.get("apiVersion")), text(config.get("kind")));
        if api_version != self.api_version || kind != self.kind {
            let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
            return Err(ApplyError::Invalid(format!(
                "invalid object type: {group}/{version}, Kind={kind}"
            )));
        }
        if config
            .pointer("/metadata/managedFields")
            .is_some_and(|fields| !fields.is_null())
        {
            return Err(ApplyError::Invalid(
                "metadata.managedFields must be nil".to_string(),
            ));
        }
        if text(config.pointer("/metadata/name")).is_empty() {
            return Err(ApplyError::Invalid(
                FieldError::required("metadata.name", "").to_string(),
            ));
        }
        structure.validate(config).map_err(ApplyError::Invalid)
    }

    /// Merges `config` into `live`, prunes what the applier dropped, and settles ownership.
    fn merge_config(
        &self,
        structure: &Structure,
        live: &Value,
        config: &Value,
        mut managed: Managed,
        id: &ManagerId,
        force: bool,
    ) -> Result<(Value, Managed), Refusal> {
        let mut merged = structure.merge(live, config).map_err(Refusal::Invalid)?;
        let reset = self.reset_set();
        let previous = managed.get(id).cloned();
        managed.insert(
            id.clone(),
            Ownership {
                fields: structure.field_set(config).recursive_difference(&reset),
                api_version: self.api_version.to_string(),
                time: previous.as_ref().and_then(|own| own.time.clone()),
            },
        );
        if let Some(last) = previous.filter(|own| !own.fields.is_empty()) {
            merged = prune(structure, &merged, &managed, &last.fields);
        }
        self.restore_reset_fields(&mut merged, live);
        let changes = structure.compare(live, &merged).without(&reset);
        settle(&mut managed, id, &changes, force).map_err(Refusal::Conflicts)?;
        Ok((merged, managed))
    }

    pub(super) fn reset_set(&self) -> FieldSet {
        let mut set = FieldSet::default();
        for path in self.reset_fields {
            let path: Vec<Element> = path.iter().map(|name| field(name)).collect();
            set.insert(&path);
        }
        set
    }

    /// Puts the reset fields of `object` back as they are in `live`.
    fn restore_reset_fields(&self, object: &mut Value, live: &Value) {
        for path in self.reset_fields {
            let live_value = path.iter().try_fold(live, |value, name| value.get(name));
            set_at(object, path, live_value.cloned());
        }
    }
}

/// Sets (or with `None` removes) the field at `path`, creating the objects above it.
fn set_at(object: &mut Value, path: &[&str], value: Option<Value>) {
    let (Some((first, rest)), Some(map)) = (path.split_first(), object.as_object_mut()) else {
        return;
    };
    if rest.is_empty() {
        match value {
            Some(value) => map.insert(first.to_string(), value),
            None => map.remove(*first),
        };
        return;
    }
    match map.get_mut(*first) {
        Some(child) => set_at(child, rest, value),
        None if value.is_some() => {
            let mut child = Value::Object(Map::new());
            set_at(&mut child, rest, value);
            map.insert(first.to_string(), child);
        }
        None => {}
    }
}

/// Removes from `merged` what the applier owned last time (`last`), no longer applies, and
/// no other manager owns; fields nobody owns but the applier never set stay.
fn prune(structure: &Structure, merged: &Value, managed: &Managed, last: &FieldSet) -> Value {
    let last = last.with_parent_fields();
    let owned = managed
        .values()
        .fold(FieldSet::default(), |all, own| all.union(&own.fields))
        .with_parent_fields();
    let everything = structure.field_set(merged).with_parent_fields();
    let without_last = structure
        .field_set(&structure.remove(merged, &last))
        .with_parent_fields();
    let unowned = everything.difference(&without_last.union(&owned));
    let kept = structure
        .field_set(&structure.remove(merged, &unowned))
        .with_parent_fields();
    structure.remove(merged, &everything.difference(&kept).intersection(&last))
}

/// Takes what changed away from every manager but `current`; without `force`, a changed
/// field that another manager owns is a conflict instead.
fn settle(
    managed: &mut Managed,
    current: &ManagerId,
    changes: &Comparison,
    force: bool,
) -> Result<(), Vec<OwnedPath>> {
    let changed = changes.changed();
    if !force {
        let conflicts: Vec<OwnedPath> = managed
            .iter()
            .filter(|(id, _)| *id != current)
            .flat_map(|(id, own)| {
                let clash = own.fields.intersection(&changed).paths();
                clash.into_iter().map(|path| OwnedPath {
                    owner: id.clone(),
                    path,
                })
            })
            .collect();
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
    }
    for (id, own) in managed.iter_mut() {
        if id != current {
            own.fields = own.fields.difference(&changed).difference(&changes.removed);
        }
    }
    managed.retain(|_, own| !own.fields.is_empty());
    Ok(())
}

fn public_conflicts(conflicts: Vec<OwnedPath>) -> Vec<Conflict> {
    conflicts
        .into_iter()
        .map(|conflict| Conflict {
            manager: conflict.owner.manager,
            api_version: conflict.owner.api_version,
            subresource: conflict.owner.subresource,
            field: display_path(&conflict.path),
        })
        .collect()
}

/// Drops null object fields, which a built-in kind's typed decoding would turn into absent
/// zero values.
fn drop_null_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, value| !value.is_null());
            map.values_mut().for_each(drop_null_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_fields),
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) const T0: &str = "2024-01-01T00:00:00Z";
    pub(crate) const T1: &str = "2024-01-01T00:01:00Z";
    pub(crate) const T2: &str = "2024-01-01T00:02:00Z";

    pub(crate) fn config_maps() -> FieldManager<'static> {
        FieldManager::new("", "ConfigMap", "v1")
    }

    pub(crate) fn config_map(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}, "data": data})
    }

    /// Applies a ConfigMap holding `data` for `manager` onto `live`, without force.
    fn apply_data(
        live: Option<&Value>,
        data: Value,
        manager: &str,
        now: &str,
    ) -> Result<Value, ApplyError> {
        config_maps().apply(live, &config_map(data), manager, false, now)
    }

    /// The object as the registry stores it after a create.
    pub(crate) fn stored(mut object: Value) -> Value {
        object["metadata"]["uid"] = json!("0b6f7d1e");
        object["metadata"]["resourceVersion"] = json!("1");
        object
    }

    pub(crate) fn entry<'v>(
        object: &'v Value,
        manager: &str,
        operation: &str,
    ) -> Option<&'v Value> {
        object["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
    }

    pub(crate) fn fields_of(object: &Value, manager: &str, operation: &str) -> Value {
        entry(object, manager, operation).map_or(Value::Null, |e| e["fieldsV1"].clone())
    }

    pub(crate) fn conflicts(result: Result<Value, ApplyError>) -> (Vec<Conflict>, String) {
        match result {
            Err(error @ ApplyError::Conflicts(_)) => {
                let message = error.to_string();
                let ApplyError::Conflicts(list) = error else {
                    unreachable!()
                };
                (list, message)
            }
            other => panic!("expected conflicts, got {other:?}"),
        }
    }

    #[test]
    fn create_via_apply_writes_upstream_managed_fields() {
        let mut config = config_map(json!({"key": "some value"}));
        config["metadata"]["labels"] = json!({"test-label": "test"});
        let created = config_maps()
            .apply(None, &config, "kubectl", false, T0)
            .unwrap();
        let mut expected = config.clone();
        expected["metadata"]["managedFields"] = json!([{
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:key": {}}, "f:metadata": {"f:labels": {"f:test-label": {}}}}
        }]);
        assert_eq!(created, expected);
    }

    #[test]
    fn reapply_removes_what_is_no_longer_applied_and_noop_keeps_time() {
        let fm = config_maps();
        let mut first = config_map(json!({"a": "1", "b": "2"}));
        first["metadata"]["labels"] = json!({"app": "x"});
        let live = stored(fm.apply(None, &first, "mgr", false, T0).unwrap());
        let second = config_map(json!({"a": "1"}));
        let after = fm.apply(Some(&live), &second, "mgr", false, T1).unwrap();
        assert_eq!(after["data"], json!({"a": "1"}));
        assert_eq!(after["metadata"].get("labels"), None);
        assert_eq!(
            fields_of(&after, "mgr", "Apply"),
            json!({"f:data": {"f:a": {}}})
        );
        assert_eq!(entry(&after, "mgr", "Apply").unwrap()["time"], T1);
        let again = fm.apply(Some(&after), &second, "mgr", false, T2).unwrap();
        assert_eq!(again, after);
    }

    #[test]
    fn identical_values_are_shared_and_survive_one_owner_leaving() {
        let live = stored(apply_data(None, json!({"a": "1", "b": "2"}), "one", T0).unwrap());
        let shared = apply_data(Some(&live), json!({"a": "1"}), "two", T1).unwrap();
        assert_eq!(
            fields_of(&shared, "one", "Apply"),
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        assert_eq!(
            fields_of(&shared, "two", "Apply"),
            json!({"f:data": {"f:a": {}}})
        );
        // Nothing changed, so the new entry has no time yet, as upstream.
        assert_eq!(entry(&shared, "two", "Apply").unwrap().get("time"), None);
        let left = apply_data(Some(&shared), json!({"b": "2"}), "one", T2).unwrap();
        assert_eq!(left["data"], json!({"a": "1", "b": "2"}));
        assert_eq!(
            fields_of(&left, "one", "Apply"),
            json!({"f:data": {"f:b": {}}})
        );
    }

    #[test]
    fn conflict_with_another_applier_and_force() {
        let fm = config_maps();
        let live = stored(apply_data(None, json!({"a": "1", "b": "2"}), "one", T0).unwrap());
        let config = config_map(json!({"a": "9"}));
        let (list, message) = conflicts(fm.apply(Some(&live), &config, "two", false, T1));
        assert_eq!(
            list,
            [Conflict {
                manager: "one".to_string(),
                api_version: String::new(),
                subresource: String::new(),
                field: ".data.a".to_string()
            }]
        );
        assert_eq!(list[0].message(), r#"conflict with "one""#);
        assert_eq!(
            message,
            r#"Apply failed with 1 conflict: conflict with "one": .data.a"#
        );
        let forced = fm.apply(Some(&live), &config, "two", true, T1).unwrap();
        assert_eq!(forced["data"], json!({"a": "9", "b": "2"}));
        assert_eq!(
            fields_of(&forced, "one", "Apply"),
            json!({"f:data": {"f:b": {}}})
        );
        assert_eq!(
            fields_of(&forced, "two", "Apply"),
            json!({"f:data": {"f:a": {}}})
        );
    }

    #[test]
    fn conflicts_list_every_field_by_manager() {
        let fm = config_maps();
        let live = stored(apply_data(None, json!({"a": "1", "b": "2"}), "one", T0).unwrap());
        let mut edited = live.clone();
        edited["data"]["c"] = json!("3");
        fm.track_update(Some(&live), &mut edited, "editor", T1)
            .unwrap();
        let config = config_map(json!({"a": "x", "b": "y", "c": "z"}));
        let (list, message) = conflicts(fm.apply(Some(&edited), &config, "two", false, T2));
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].message(), r#"conflict with "editor" using v1"#);
        assert_eq!(
            message,
            "Apply failed with 3 conflicts: conflicts with \"editor\" using v1:\n- .data.c\n\
             conflicts with \"one\":\n- .data.a\n- .data.b"
        );
    }

    pub(crate) fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}
            }
        })
    }

    #[test]
    fn containers_merge_by_name() {
        let fm = FieldManager::new("apps", "Deployment", "apps/v1");
        let mine =
            deployment(json!([{"name": "c1", "image": "v1", "ports": [{"containerPort": 80}]}]));
        let live = stored(fm.apply(None, &mine, "owner", false, T0).unwrap());
        assert_eq!(
            fields_of(&live, "owner", "Apply"),
            json!({"f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"c1\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}}
                }
            }})
        );
        let sidecar = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}}}
        });
        let both = fm
            .apply(Some(&live), &sidecar, "injector", false, T1)
            .unwrap();
        let names: Vec<&Value> = both["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(names, ["c1", "proxy"]);
        let bumped =
            deployment(json!([{"name": "c1", "image": "v2", "ports": [{"containerPort": 80}]}]));
        let after = fm.apply(Some(&both), &bumped, "owner", false, T2).unwrap();
        let containers = &after["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "v2");
        assert_eq!(containers[1], json!({"name": "proxy", "image": "envoy"}));
    }

    #[test]
    fn set_and_keyed_items_leave_with_their_last_owner() {
        let fm = FieldManager::new("", "Pod", "v1");
        let pod = |finalizers: Value, containers: Value| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": finalizers},
                   "spec": {"containers": containers}})
        };
        let (c1, c2) = (
            json!({"name": "c1", "image": "a"}),
            json!({"name": "c2", "image": "b"}),
        );
        let first = pod(json!(["a/x"]), json!([c1, c2]));
        let live = stored(fm.apply(None, &first, "one", false, T0).unwrap());
        let second = pod(json!(["b/y"]), json!([c2]));
        let both = fm.apply(Some(&live), &second, "two", false, T1).unwrap();
        assert_eq!(both["metadata"]["finalizers"], json!(["a/x", "b/y"]));
        let shrunk = pod(json!([]), json!([c1]));
        let after = fm.apply(Some(&both), &shrunk, "one", false, T2).unwrap();
        assert_eq!(after["metadata"]["finalizers"], json!(["b/y"]));
        assert_eq!(after["spec"]["containers"], json!([c1, c2]));
        assert_eq!(
            fields_of(&after, "one", "Apply"),
            json!({"f:spec": {"f:containers": {"k:{\"name\":\"c1\"}": {".": {}, "f:image": {}, "f:name": {}}}}})
        );
        assert_eq!(
            fields_of(&after, "two", "Apply")["f:metadata"],
            json!({"f:finalizers": {"v:\"b/y\"": {}}})
        );
    }

    #[test]
    fn first_apply_to_an_untracked_object_conflicts_with_its_old_fields() {
        let live = stored(config_map(json!({"a": "1"})));
        let (list, _) = conflicts(apply_data(Some(&live), json!({"a": "2"}), "mgr", T1));
        assert_eq!(list[0].manager, BEFORE_FIRST_APPLY);
        assert_eq!(list[0].api_version, "v1");
    }

    #[test]
    fn main_resource_apply_leaves_status_alone() {
        let fm = FieldManager {
            reset_fields: &[&["status"]],
            ..FieldManager::new("", "Pod", "v1")
        };
        let pod = |image: &str| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "c", "image": image}]}, "status": {"phase": "Failed"}})
        };
        let created = fm.apply(None, &pod("a"), "mgr", false, T0).unwrap();
        assert_eq!(created.get("status"), None);
        let mut live = stored(created);
        live["status"] = json!({"phase": "Running"});
        let after = fm.apply(Some(&live), &pod("b"), "mgr", false, T1).unwrap();
        assert_eq!(after["status"], json!({"phase": "Running"}));
        assert_eq!(fields_of(&after, "mgr", "Apply").get("f:status"), None);

        let status = FieldManager {
            subresource: "status",
            reset_fields: &[&["spec"]],
            ..FieldManager::new("", "Pod", "v1")
        };
        let mut reported = after.clone();
        reported["status"]["phase"] = json!("Succeeded");
        status
            .track_update(Some(&after), &mut reported, "kubelet", T2)
            .unwrap();
        let kubelet = entry(&reported, "kubelet", "Update").unwrap();
        assert_eq!(kubelet["subresource"], "status");
        assert_eq!(kubelet["fieldsV1"], json!({"f:status": {"f:phase": {}}}));
    }

    #[test]
    fn custom_resources_merge_lists_the_crd_keys() {
        let hook = |names: &[&str]| {
            (names == ["spec", "routes"]).then(|| CustomNodeType::Map(vec!["path".to_string()]))
        };
        let fm = FieldManager {
            custom_schema: Some(&hook),
            ..FieldManager::new("example.com", "Gateway", "example.com/v1")
        };
        let gateway = |routes: Value, tags: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Gateway", "metadata": {"name": "g"},
                   "spec": {"routes": routes, "tags": tags}})
        };
        let live = stored(
            fm.apply(
                None,
                &gateway(json!([{"path": "/a"}]), json!(["x"])),
                "one",
                false,
                T0,
            )
            .unwrap(),
        );
        let both = fm
            .apply(
                Some(&live),
                &gateway(json!([{"path": "/b"}]), json!(["x"])),
                "two",
                false,
                T1,
            )
            .unwrap();
        assert_eq!(
            both["spec"]["routes"],
            json!([{"path": "/a"}, {"path": "/b"}])
        );
        // Lists the schema does not describe are atomic: a different value conflicts.
        let (list, _) = conflicts(fm.apply(
            Some(&both),
            &gateway(json!([]), json!(["y"])),
            "two",
            false,
            T2,
        ));
        assert_eq!(list[0].field, ".spec.tags");
    }

    #[test]
    fn malformed_configurations_are_refused() {
        let fm = config_maps();
        let invalid = |config: Value| match fm.apply(None, &config, "mgr", false, T0) {
            Err(ApplyError::Invalid(message)) => message,
            other => panic!("expected invalid, got {other:?}"),
        };
        let mut wrong_kind = config_map(json!({}));
        wrong_kind["kind"] = json!("Secret");
        assert_eq!(invalid(wrong_kind), "invalid object type: /v1, Kind=Secret");
        let mut no_name = config_map(json!({}));
        no_name["metadata"] = json!({});
        assert_eq!(invalid(no_name), "metadata.name: Required value");
        let mut with_fields = config_map(json!({}));
        with_fields["metadata"]["managedFields"] = json!([]);
        assert_eq!(invalid(with_fields), "metadata.managedFields must be nil");
        let pods = FieldManager::new("", "Pod", "v1");
        let duplicated = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                "spec": {"containers": [{"name": "c"}, {"name": "c"}]}});
        assert!(matches!(
            pods.apply(None, &duplicated, "mgr", false, T0),
            Err(ApplyError::Invalid(_))
        ));
    }
}
