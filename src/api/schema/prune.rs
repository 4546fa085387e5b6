//! Pruning: removing the fields a structural schema does not declare, as the API server does
//! when it decodes a custom resource, and reporting them for `fieldValidation=Strict|Warn`.
//!
//! Kept: everything under `x-kubernetes-preserve-unknown-fields: true` (until a nested node
//! declares `properties` or `additionalProperties` again), values of `additionalProperties`,
//! and `apiVersion`, `kind` and `metadata` at the root and in embedded resources. Unknown
//! `metadata` fields themselves are dropped as decoding into `ObjectMeta` drops them. Finally,
//! `null` values where the schema is neither nullable nor defaulted are removed.

use serde_json::{Map, Value};

use super::Resolver;
use super::walk::{Additional, META_FIELDS, Schemas, join};

/// `ObjectMeta` fields, by JSON name.
const OBJECT_META: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];
const OWNER_REFERENCE: [&str; 6] = [
    "apiVersion",
    "kind",
    "name",
    "uid",
    "controller",
    "blockOwnerDeletion",
];
const MANAGED_FIELDS_ENTRY: [&str; 7] = [
    "manager",
    "operation",
    "apiVersion",
    "time",
    "fieldsType",
    "fieldsV1",
    "subresource",
];

/// Removes fields the schema does not declare (honouring x-kubernetes-preserve-unknown-fields,
/// additionalProperties, x-kubernetes-embedded-resource which keeps apiVersion/kind/metadata,
/// and the always-kept root apiVersion/kind/metadata); returns the pruned paths as upstream
/// reports them for fieldValidation (`spec.foo`, `spec.containers[0].bar`, `metadata.foo`:
/// unknown root metadata fields first, then the pruned paths sorted, then unknown metadata
/// fields of embedded resources). Also drops `null`s the schema neither allows nor defaults.
pub fn prune(schema: &Value, object: &mut Value, resolve: Option<Resolver<'_>>) -> Vec<String> {
    let schemas = Schemas::new(resolve);
    let mut paths = Vec::new();
    if let Some(metadata) = object.get_mut("metadata") {
        prune_object_meta(metadata, "metadata", &mut paths);
    }
    let mut pruner = Pruner {
        schemas,
        track: true,
        pruned: Vec::new(),
        embedded_meta: Vec::new(),
    };
    pruner.prune(object, Some(schema), "", true);
    pruner.pruned.sort();
    paths.append(&mut pruner.pruned);
    paths.append(&mut pruner.embedded_meta);
    drop_nulls(&schemas, object, Some(schema));
    paths
}

/// Prunes a value against a schema node that is not a resource root (unless `resource_root`),
/// without reporting: how defaults are pruned.
pub fn prune_value(schemas: &Schemas<'_>, value: &mut Value, node: &Value, resource_root: bool) {
    let mut pruner = Pruner {
        schemas: *schemas,
        track: false,
        pruned: Vec::new(),
        embedded_meta: Vec::new(),
    };
    pruner.prune(value, Some(node), "", resource_root);
}

struct Pruner<'r> {
    schemas: Schemas<'r>,
    track: bool,
    pruned: Vec<String>,
    embedded_meta: Vec<String>,
}

impl<'r> Pruner<'r> {
    fn record(&mut self, path: &str, key: &str) {
        if self.track {
            self.pruned.push(join(path, key));
        }
    }

    /// `root` marks the resource root, which is treated as an embedded resource.
    fn prune<'n>(&mut self, value: &mut Value, node: Option<&'n Value>, path: &str, root: bool)
    where
        'r: 'n,
    {
        if let Some(node) = node.filter(|n| self.schemas.preserves_unknown(n)) {
            self.skip_prune(value, Some(node), path, root);
            return;
        }
        match value {
            Value::Object(map) => {
                let Some(node) = node else {
                    for key in map.keys() {
                        if self.track {
                            self.pruned.push(join(path, key));
                        }
                    }
                    map.clear();
                    return;
                };
                let embedded = root || self.schemas.embedded(node);
                if embedded && !root {
                    self.embedded_metadata(map, path);
                }
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    if embedded && META_FIELDS.contains(&key.as_str()) {
                        continue;
                    }
                    let child_path = join(path, &key);
                    if let Some(property) = self.schemas.property(node, &key) {
                        if let Some(child) = map.get_mut(&key) {
                            self.prune(child, Some(property), &child_path, false);
                        }
                        continue;
                    }
                    let additional = match self.schemas.additional(node) {
                        Additional::Absent => {
                            if !META_FIELDS.contains(&key.as_str()) || !path.is_empty() {
                                self.record(path, &key);
                            }
                            map.remove(&key);
                            continue;
                        }
                        Additional::Allows(_) => None,
                        Additional::Schema(schema) => Some(schema),
                    };
                    if let Some(child) = map.get_mut(&key) {
                        self.prune(child, additional, &child_path, false);
                    }
                }
            }
            Value::Array(items) => {
                let item_schema = node.and_then(|n| self.schemas.items(n));
                for (i, item) in items.iter_mut().enumerate() {
                    self.prune(item, item_schema, &format!("{path}[{i}]"), false);
                }
            }
            _ => {}
        }
    }

    /// Under `x-kubernetes-preserve-unknown-fields`: unknown keys stay, declared ones are
    /// pruned by their schemas.
    fn skip_prune<'n>(&mut self, value: &mut Value, node: Option<&'n Value>, path: &str, root: bool)
    where
        'r: 'n,
    {
        let Some(node) = node else {
            return;
        };
        match value {
            Value::Object(map) => {
                let embedded = root || self.schemas.embedded(node);
                if embedded && !root {
                    self.embedded_metadata(map, path);
                }
                for (key, child) in map.iter_mut() {
                    if embedded && META_FIELDS.contains(&key.as_str()) {
                        continue;
                    }
                    let child_path = join(path, key);
                    if let Some(property) = self.schemas.property(node, key) {
                        self.prune(child, Some(property), &child_path, false);
                    } else {
                        match self.schemas.additional(node) {
                            Additional::Absent => {}
                            Additional::Allows(_) => self.prune(child, None, &child_path, false),
                            Additional::Schema(schema) => {
                                self.prune(child, Some(schema), &child_path, false);
                            }
                        }
                    }
                }
            }
            Value::Array(items) => {
                let item_schema = self.schemas.items(node);
                for (i, item) in items.iter_mut().enumerate() {
                    self.skip_prune(item, item_schema, &format!("{path}[{i}]"), false);
                }
            }
            _ => {}
        }
    }

    /// An embedded resource's `metadata` is decoded into `ObjectMeta` too.
    fn embedded_metadata(&mut self, map: &mut Map<String, Value>, path: &str) {
        if let Some(metadata) = map.get_mut("metadata") {
            let mut found = Vec::new();
            prune_object_meta(metadata, &join(path, "metadata"), &mut found);
            if self.track {
                self.embedded_meta.append(&mut found);
            }
        }
    }
}

/// Drops the fields `ObjectMeta` does not have (also inside owner references and managed
/// fields entries), recording `<prefix>.<field>` paths.
fn prune_object_meta(metadata: &mut Value, prefix: &str, paths: &mut Vec<String>) {
    let Value::Object(map) = metadata else {
        return;
    };
    drop_unknown(map, &OBJECT_META, prefix, paths);
    for (list, fields) in [
        ("ownerReferences", &OWNER_REFERENCE[..]),
        ("managedFields", &MANAGED_FIELDS_ENTRY[..]),
    ] {
        if let Some(Value::Array(entries)) = map.get_mut(list) {
            for (i, entry) in entries.iter_mut().enumerate() {
                if let Value::Object(entry) = entry {
                    drop_unknown(entry, fields, &format!("{prefix}.{list}[{i}]"), paths);
                }
            }
        }
    }
}

fn drop_unknown(
    map: &mut Map<String, Value>,
    known: &[&str],
    prefix: &str,
    paths: &mut Vec<String>,
) {
    let unknown: Vec<String> = map
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        paths.push(format!("{prefix}.{key}"));
        map.remove(&key);
    }
}

/// Removes `null` values whose schema is neither nullable nor defaulted (upstream's
/// `PruneNonNullableNullsWithoutDefaults`); `null` array items stay.
pub fn drop_nulls(schemas: &Schemas<'_>, value: &mut Value, node: Option<&Value>) {
    match value {
        Value::Object(map) => {
            map.retain(|key, child| {
                let schema = node.and_then(|n| schemas.field(n, key));
                !(child.is_null()
                    && schema.is_some_and(|s| !schemas.nullable(s) && schemas.default(s).is_none()))
            });
            for (key, child) in map.iter_mut() {
                let schema = node.and_then(|n| schemas.field(n, key));
                drop_nulls(schemas, child, schema);
            }
        }
        Value::Array(items) => {
            let item_schema = node.and_then(|n| schemas.items(n));
            for item in items {
                drop_nulls(schemas, item, item_schema);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crontab_schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "cronSpec": {"type": "string"},
                "containers": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"},
                }}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                           "properties": {"strict": {"type": "object", "properties": {
                               "a": {"type": "string"}}}}},
            }},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        }})
    }

    #[test]
    fn prunes_nested_unknown_fields_and_reports_paths() {
        let mut object = json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "x", "bogus": 1},
            "spec": {"cronSpec": "* * * * *", "foo": 1,
                     "containers": [{"name": "a", "bar": true}, {"name": "b"}],
                     "labels": {"any": "thing"}},
            "extra": {"deep": 1},
        });
        let paths = prune(&crontab_schema(), &mut object, None);
        assert_eq!(
            paths,
            [
                "metadata.bogus",
                "extra",
                "spec.containers[0].bar",
                "spec.foo"
            ]
        );
        assert_eq!(
            object,
            json!({
                "apiVersion": "stable.example.com/v1", "kind": "CronTab",
                "metadata": {"name": "x"},
                "spec": {"cronSpec": "* * * * *", "containers": [{"name": "a"}, {"name": "b"}],
                         "labels": {"any": "thing"}},
            })
        );
    }

    #[test]
    fn preserve_unknown_fields_keeps_subtrees_but_prunes_declared_ones() {
        let mut object = json!({"spec": {"config": {
            "anything": {"goes": [1, 2]},
            "strict": {"a": "x", "b": "pruned"},
        }}});
        let paths = prune(&crontab_schema(), &mut object, None);
        assert_eq!(paths, ["spec.config.strict.b"]);
        assert_eq!(
            object["spec"]["config"],
            json!({"anything": {"goes": [1, 2]}, "strict": {"a": "x"}})
        );
        let mut whole = json!({"a": {"b": 1}, "metadata": {"name": "n"}});
        let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        assert!(prune(&open, &mut whole, None).is_empty());
        assert_eq!(whole["a"]["b"], 1);
    }

    #[test]
    fn embedded_resources_keep_type_meta() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}},
        }}}});
        let mut object = json!({"spec": {"template": {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": true},
            "spec": {"x": "y", "z": 1}, "other": 2,
        }}});
        let paths = prune(&schema, &mut object, None);
        assert_eq!(
            paths,
            [
                "spec.template.other",
                "spec.template.spec.z",
                "spec.template.metadata.junk"
            ]
        );
        assert_eq!(
            object["spec"]["template"],
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "y"}})
        );
    }

    #[test]
    fn drops_non_nullable_nulls_without_defaults() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "nullable": true},
            "c": {"type": "string", "default": "x"},
        }}}});
        let mut object = json!({"spec": {"a": null, "b": null, "c": null}});
        assert!(prune(&schema, &mut object, None).is_empty());
        assert_eq!(object, json!({"spec": {"b": null, "c": null}}));
    }

    #[test]
    fn additional_properties_true_keeps_keys_but_empties_maps() {
        let schema = json!({"type": "object", "properties": {"m": {"type": "object",
            "additionalProperties": true}}});
        let mut object = json!({"m": {"k": {"inner": 1}, "s": "v"}});
        let paths = prune(&schema, &mut object, None);
        assert_eq!(paths, ["m.k.inner"]);
        assert_eq!(object, json!({"m": {"k": {}, "s": "v"}}));
    }

    #[test]
    fn built_in_schemas_prune_through_refs() {
        let components = json!({
            "#/components/schemas/Container": {"type": "object", "properties": {
                "name": {"type": "string"}, "image": {"type": "string"}}},
        });
        let resolve = |name: &str| components.get(name);
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "containers": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Container"}], "default": {}}},
        }}}});
        let mut object = json!({"spec": {"containers": [{"name": "c", "imag": "typo"}]}});
        assert_eq!(
            prune(&schema, &mut object, Some(&resolve)),
            ["spec.containers[0].imag"]
        );
    }
}
