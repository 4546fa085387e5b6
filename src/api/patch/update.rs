//! Ownership for writes other than apply (create, update, patch): the manager of each write
//! owns, with operation `Update`, the fields it changed, taking them from their previous
//! owners, as upstream records for every request.

use serde_json::{Map, Value};

use super::apply::{ApplyError, FieldManager};
use super::fieldset::FieldSet;
use super::managed_fields::{self, MAX_UPDATE_MANAGERS, Managed, ManagerId, Ownership};
use super::structure::Structure;

impl<'a> FieldManager<'a> {
    /// Records the fields a create, update or non-apply patch changed from `old` (`None` for a
    /// create) to `new` as owned by `manager` (operation `Update`), taking them from their
    /// previous owners, and writes `new`'s `metadata.managedFields`. Managed fields the request
    /// carried replace the stored ones (`[]` clears them); an existing object without any
    /// stays untracked. Call it with the object as the client sent it, defaulted, before the
    /// strategy resets fields.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for schema checks.
    pub fn track_update(
        &self,
        old: Option<&Value>,
        new: &mut Value,
        manager: &str,
        now: &str,
    ) -> Result<(), ApplyError> {
        let structure = self.structure();
        let requested = new
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .and_then(|metadata| metadata.remove("managedFields"));
        let stored = || {
            old.and_then(|old| managed_fields::decode(managed_fields::managed_fields_of(old)).ok())
                .unwrap_or_default()
        };
        let mut managed = if !self.subresource.is_empty() {
            stored()
        } else if is_reset(requested.as_ref()) {
            Managed::new()
        } else {
            match managed_fields::decode(requested.as_ref()) {
                Ok(managed) if !managed.is_empty() => managed,
                _ => stored(),
            }
        };
        let has_uid = |old: &Value| {
            old.pointer("/metadata/uid")
                .and_then(Value::as_str)
                .is_some_and(|uid| !uid.is_empty())
        };
        if managed.is_empty() && old.is_some_and(has_uid) {
            return Ok(());
        }
        let old_object = match old {
            Some(old) => managed_fields::without_managed_fields(old),
            None => self.empty_object(&structure, new),
        };
        self.record_update(&structure, &old_object, new, &mut managed, manager, now);
        managed_fields::set_managed_fields(new, managed_fields::encode(&managed));
        Ok(())
    }

    /// Gives `manager` (operation `Update`) what changed from `old` to `new`.
    pub(super) fn record_update(
        &self,
        structure: &Structure,
        old: &Value,
        new: &Value,
        managed: &mut Managed,
        manager: &str,
        now: &str,
    ) {
        let manager = if manager.is_empty() {
            "unknown"
        } else {
            manager
        };
        let changes = structure.compare(old, new).without(&self.reset_set());
        let changed = changes.changed();
        for own in managed.values_mut() {
            own.fields = own.fields.difference(&changed).difference(&changes.removed);
        }
        managed.retain(|_, own| !own.fields.is_empty());
        let owned = changed.difference(&managed_fields::server_fields());
        if !owned.is_empty() {
            let id = ManagerId::updater(manager, self.api_version, self.subresource);
            let own = managed.entry(id).or_insert_with(|| Ownership {
                fields: FieldSet::default(),
                api_version: self.api_version.to_string(),
                time: None,
            });
            own.fields = owned.union(&own.fields);
            own.time = Some(now.to_string());
        }
        managed_fields::cap_updaters(managed, MAX_UPDATE_MANAGERS);
    }

    /// What the object was before it was created, as upstream's zero value of the kind: its
    /// type, an empty `metadata`, and for built-in kinds the empty nested structs that Go
    /// values always carry (`spec`, pod templates, `status`) with `template`'s null fields.
    pub(super) fn empty_object(&self, structure: &Structure, template: &Value) -> Value {
        let mut empty = Map::new();
        for name in ["apiVersion", "kind"] {
            if let Some(value) = template.get(name) {
                empty.insert(name.to_string(), value.clone());
            }
        }
        empty.insert("metadata".to_string(), Value::Object(Map::new()));
        if structure.is_built_in() {
            seed_zero_structs(&mut empty, template, ZERO_STRUCTS);
        }
        Value::Object(empty)
    }
}

/// A nested struct of built-in kinds that is present (empty) in a kind's zero value, with its
/// fields that Go always writes, as null, when empty (`containers` of a `PodSpec`).
struct ZeroStruct {
    name: &'static str,
    nulls: &'static [&'static str],
    nested: &'static [ZeroStruct],
}

const fn zero(name: &'static str, nested: &'static [ZeroStruct]) -> ZeroStruct {
    ZeroStruct {
        name,
        nulls: &[],
        nested,
    }
}

/// A `PodSpec` (or any `spec` of the root, whose kinds lack `containers` unless they are Pods).
const POD_SPEC: ZeroStruct = ZeroStruct {
    name: "spec",
    nulls: &["containers"],
    nested: &[],
};

static POD_TEMPLATE: &[ZeroStruct] = &[zero("metadata", &[]), POD_SPEC];

static ZERO_STRUCTS: &[ZeroStruct] = &[
    zero("metadata", &[]),
    ZeroStruct {
        nested: &[
            zero("template", POD_TEMPLATE),
            zero("strategy", &[]),
            zero("updateStrategy", &[]),
            zero(
                "jobTemplate",
                &[
                    zero("metadata", &[]),
                    zero("spec", &[zero("template", POD_TEMPLATE)]),
                ],
            ),
        ],
        ..POD_SPEC
    },
    zero("template", POD_TEMPLATE),
    zero("status", &[]),
];

/// Adds to `empty` the zero-value structs and nulls of `structs` that `template` has, and
/// `template`'s own null fields.
fn seed_zero_structs(empty: &mut Map<String, Value>, template: &Value, structs: &[ZeroStruct]) {
    let Some(fields) = template.as_object() else {
        return;
    };
    for (name, value) in fields {
        if value.is_null() {
            empty.insert(name.clone(), Value::Null);
        }
    }
    for nested in structs {
        let Some(inner) = fields.get(nested.name).filter(|value| value.is_object()) else {
            continue;
        };
        let mut seeded = Map::new();
        for name in nested.nulls {
            if inner.get(name).is_some() {
                seeded.insert(name.to_string(), Value::Null);
            }
        }
        seed_zero_structs(&mut seeded, inner, nested.nested);
        empty.insert(nested.name.to_string(), Value::Object(seeded));
    }
}

/// Whether a request's managed fields ask to clear them: `[]` or `[{}]`.
fn is_reset(requested: Option<&Value>) -> bool {
    match requested {
        Some(Value::Array(entries)) => match entries.as_slice() {
            [] => true,
            [entry] => entry.as_object().is_some_and(|entry| {
                entry
                    .values()
                    .all(|v| v.is_null() || v.as_str() == Some(""))
            }),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::patch::apply::tests::{
        T0, T1, T2, config_map, config_maps, entry, fields_of, stored,
    };
    use serde_json::json;

    #[test]
    fn updates_take_ownership_of_what_they_change() {
        let fm = config_maps();
        let mut created = config_map(json!({"a": "1"}));
        fm.track_update(None, &mut created, "creator", T0).unwrap();
        assert_eq!(
            fields_of(&created, "creator", "Update"),
            json!({"f:data": {".": {}, "f:a": {}}})
        );
        let live = stored(created);
        let mut next = live.clone();
        next["data"]["a"] = json!("2");
        next["data"]["b"] = json!("3");
        fm.track_update(Some(&live), &mut next, "editor", T1)
            .unwrap();
        assert_eq!(fields_of(&next, "creator", "Update"), json!({"f:data": {}}));
        assert_eq!(
            fields_of(&next, "editor", "Update"),
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        // A write that changes nothing leaves the entries (and their times) alone.
        let mut same = next.clone();
        fm.track_update(Some(&next), &mut same, "editor", T2)
            .unwrap();
        assert_eq!(same, next);
        // `managedFields: []` clears them; an existing object without any stays untracked.
        let mut reset = next.clone();
        reset["metadata"]["managedFields"] = json!([]);
        fm.track_update(Some(&next), &mut reset, "editor", T2)
            .unwrap();
        assert_eq!(reset["metadata"].get("managedFields"), None);
        let mut untracked = reset.clone();
        untracked["data"]["c"] = json!("4");
        fm.track_update(Some(&reset), &mut untracked, "editor", T2)
            .unwrap();
        assert_eq!(untracked["metadata"].get("managedFields"), None);
    }

    #[test]
    fn creates_own_what_they_set_below_the_zero_value() {
        let fm = FieldManager::new("", "Pod", "v1");
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "a"}},
                             "spec": {"containers": [{"name": "c", "image": "i", "resources": {}}], "restartPolicy": "Always"}});
        fm.track_update(None, &mut pod, "kubectl-create", T0)
            .unwrap();
        let kubectl = entry(&pod, "kubectl-create", "Update").unwrap();
        assert_eq!(
            kubectl["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}, "f:resources": {}}},
                    "f:restartPolicy": {}
                }
            })
        );
        assert_eq!(kubectl["time"], T0);
        assert_eq!(kubectl.get("subresource"), None);
    }
}
