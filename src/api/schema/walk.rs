//! Reading one schema node: its structure (`type`, `properties`, `items`,
//! `additionalProperties`), its Kubernetes extensions and its `default`, following `$ref`s
//! through a [`Resolver`].
//!
//! Built-in schemas in the OpenAPI v3 document wrap references as
//! `{"allOf": [{"$ref": "#/components/schemas/…"}], "default": {}}`; a key missing on such a
//! wrapper is looked up on the referenced schema. CRD schemas have no `$ref`, so for them this is
//! a plain field read.

use serde_json::{Map, Value};

use super::Resolver;

/// How many `$ref` hops a look-up follows before giving up (guards against cycles).
const MAX_REF_DEPTH: usize = 16;

/// The Kubernetes metadata fields of a resource: never pruned at a resource root or in an
/// embedded resource.
pub const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// What a schema node says about keys it does not list in `properties`.
#[derive(Clone, Copy, Debug)]
pub enum Additional<'n> {
    /// No `additionalProperties`: unknown keys are pruned.
    Absent,
    /// `additionalProperties: true|false`: values are kept without a schema.
    Allows(bool),
    /// `additionalProperties: {schema}`.
    Schema(&'n Value),
}

/// Reads schema nodes, following `$ref`s with the resolver when one is given.
#[derive(Clone, Copy)]
pub struct Schemas<'r> {
    resolve: Option<Resolver<'r>>,
}

impl<'r> Schemas<'r> {
    pub fn new(resolve: Option<Resolver<'r>>) -> Self {
        Schemas { resolve }
    }

    /// The schema a `$ref` string names, when the resolver knows it.
    pub fn resolve_ref<'n>(&self, reference: &str) -> Option<&'n Value>
    where
        'r: 'n,
    {
        self.resolve.and_then(|resolve| resolve(reference))
    }

    /// `node[key]`, or the same key on the schema its `$ref` (or a `$ref` member of its
    /// `allOf`) names.
    pub fn get<'n>(&self, node: &'n Value, key: &str) -> Option<&'n Value>
    where
        'r: 'n,
    {
        self.get_at(node, key, 0)
    }

    fn get_at<'n>(&self, node: &'n Value, key: &str, depth: usize) -> Option<&'n Value>
    where
        'r: 'n,
    {
        if let Some(value) = node.get(key) {
            return Some(value);
        }
        if depth >= MAX_REF_DEPTH || self.resolve.is_none() {
            return None;
        }
        if let Some(target) = self.ref_target(node)
            && let Some(value) = self.get_at(target, key, depth + 1)
        {
            return Some(value);
        }
        for member in node.get("allOf").and_then(Value::as_array)? {
            if is_ref(member)
                && let Some(value) = self.get_at(member, key, depth + 1)
            {
                return Some(value);
            }
        }
        None
    }

    /// The schema named by this node's own `$ref`.
    pub fn ref_target<'n>(&self, node: &'n Value) -> Option<&'n Value>
    where
        'r: 'n,
    {
        let reference = node.get("$ref")?.as_str()?;
        self.resolve_ref(reference)
    }

    /// `type`, or `""` when unset.
    pub fn type_name<'n>(&self, node: &'n Value) -> &'n str
    where
        'r: 'n,
    {
        self.get(node, "type").and_then(Value::as_str).unwrap_or("")
    }

    pub fn properties<'n>(&self, node: &'n Value) -> Option<&'n Map<String, Value>>
    where
        'r: 'n,
    {
        self.get(node, "properties").and_then(Value::as_object)
    }

    pub fn property<'n>(&self, node: &'n Value, name: &str) -> Option<&'n Value>
    where
        'r: 'n,
    {
        self.properties(node).and_then(|props| props.get(name))
    }

    /// `items` when it is a single schema (an array of schemas is not structural).
    pub fn items<'n>(&self, node: &'n Value) -> Option<&'n Value>
    where
        'r: 'n,
    {
        self.get(node, "items").filter(|items| items.is_object())
    }

    pub fn additional<'n>(&self, node: &'n Value) -> Additional<'n>
    where
        'r: 'n,
    {
        match self.get(node, "additionalProperties") {
            Some(Value::Bool(allows)) => Additional::Allows(*allows),
            Some(schema @ Value::Object(_)) => Additional::Schema(schema),
            _ => Additional::Absent,
        }
    }

    /// The schema that applies to `key` of an object: its property, else the
    /// `additionalProperties` schema.
    pub fn field<'n>(&self, node: &'n Value, key: &str) -> Option<&'n Value>
    where
        'r: 'n,
    {
        self.property(node, key).or(match self.additional(node) {
            Additional::Schema(schema) => Some(schema),
            _ => None,
        })
    }

    /// A boolean keyword or extension that is `true`.
    pub fn flag(&self, node: &Value, key: &str) -> bool {
        matches!(self.get(node, key), Some(Value::Bool(true)))
    }

    pub fn preserves_unknown(&self, node: &Value) -> bool {
        self.flag(node, "x-kubernetes-preserve-unknown-fields")
    }

    pub fn embedded(&self, node: &Value) -> bool {
        self.flag(node, "x-kubernetes-embedded-resource")
    }

    pub fn int_or_string(&self, node: &Value) -> bool {
        self.flag(node, "x-kubernetes-int-or-string")
    }

    pub fn nullable(&self, node: &Value) -> bool {
        self.flag(node, "nullable")
    }

    /// `default`, unless unset or `null` (a `null` default means none, as upstream converts it).
    pub fn default<'n>(&self, node: &'n Value) -> Option<&'n Value>
    where
        'r: 'n,
    {
        self.get(node, "default").filter(|value| !value.is_null())
    }

    pub fn list_type<'n>(&self, node: &'n Value) -> Option<&'n str>
    where
        'r: 'n,
    {
        self.get(node, "x-kubernetes-list-type")
            .and_then(Value::as_str)
    }

    pub fn list_map_keys<'n>(&self, node: &'n Value) -> Vec<&'n str>
    where
        'r: 'n,
    {
        strings(self.get(node, "x-kubernetes-list-map-keys"))
    }
}

/// Whether a schema is only a reference (`{"$ref": …}`, perhaps with a description).
pub fn is_ref(node: &Value) -> bool {
    node.get("$ref").is_some()
}

/// The strings of a JSON array (non-strings skipped).
pub fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether a JSON value is Go's zero value for the field it fills: absent, `null`, `false`,
/// `""`, `0`, or an empty array or object.
pub fn is_zero(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Number(_) | Value::Bool(true)) => false,
    }
}

/// `node[name]` as a string, `""` when absent or not a string.
pub fn text<'a>(node: &'a Value, name: &str) -> &'a str {
    node.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Whether `node[name]` is `true`.
pub fn flag(node: &Value, name: &str) -> bool {
    matches!(node.get(name), Some(Value::Bool(true)))
}

/// `node[name]` unless absent or `null`.
pub fn present<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.get(name).filter(|v| !v.is_null())
}

/// `path.name`, as `field.Path.Child` prints it.
pub fn child(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

/// `path[name]`, as `field.Path.Key` prints it.
pub fn key(path: &str, name: &str) -> String {
    format!("{path}[{name}]")
}

/// `parent.key`, or `key` at the root, as kube-openapi and the pruner join paths.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_refs_through_all_of_wrappers() {
        let components = json!({
            "#/components/schemas/Meta": {"type": "object", "properties": {"name": {"type": "string"}}},
        });
        let resolve = |name: &str| components.get(name);
        let schemas = Schemas::new(Some(&resolve));
        let wrapper = json!({"allOf": [{"$ref": "#/components/schemas/Meta"}], "default": {}});
        assert_eq!(schemas.type_name(&wrapper), "object");
        assert!(schemas.property(&wrapper, "name").is_some());
        assert_eq!(schemas.default(&wrapper), Some(&json!({})));
        let direct = json!({"$ref": "#/components/schemas/Meta"});
        assert!(schemas.property(&direct, "name").is_some());
        assert!(Schemas::new(None).property(&direct, "name").is_none());
    }

    #[test]
    fn reads_additional_properties_and_extensions() {
        let schemas = Schemas::new(None);
        let node = json!({
            "type": "object",
            "additionalProperties": {"type": "string"},
            "nullable": true,
            "default": null,
        });
        assert!(matches!(schemas.additional(&node), Additional::Schema(_)));
        assert!(schemas.nullable(&node));
        assert!(schemas.default(&node).is_none());
        assert!(matches!(
            schemas.additional(&json!({"additionalProperties": false})),
            Additional::Allows(false)
        ));
        assert_eq!(join("", "spec"), "spec");
        assert_eq!(join("spec", "x"), "spec.x");
        assert!(is_zero(Some(&json!(""))) && !is_zero(Some(&json!(0))));
    }
}
