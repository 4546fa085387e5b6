//! How server-side apply sees the shape of an object: which lists are atomic, sets or keyed
//! (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`), which objects are atomic
//! (`+structType=atomic`, `x-kubernetes-map-type: atomic`), and the path element of a list item.
//!
//! Built-in kinds read their lists from [`super::schema`] and their atomic objects from the
//! table below; custom resources ask the hook their CRD's schema provides; anything else has
//! atomic lists and granular objects, as upstream deduces for schemaless objects. The root
//! `metadata` is `ObjectMeta` for every kind.

use serde_json::{Map, Value};

use super::fieldset::Element;
use super::schema::{self, ListKind};

/// What a custom resource's structural schema declares for the node at a path (field names
/// from the root, list items skipped): `x-kubernetes-list-type` and `-list-map-keys` for a
/// list, `x-kubernetes-map-type` for an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomNodeType {
    /// `x-kubernetes-list-type: atomic` or `x-kubernetes-map-type: atomic`: owned and replaced whole.
    Atomic,
    /// `x-kubernetes-list-type: set`: a list of scalars merged as a set.
    Set,
    /// `x-kubernetes-list-type: map`: items merged by these `x-kubernetes-list-map-keys`.
    Map(Vec<String>),
    /// An object merged field by field (the default for objects).
    Granular,
}

/// The hook through which the CRD layer describes a custom resource's lists and maps.
pub type CustomSchema<'a> = &'a dyn Fn(&[&str]) -> Option<CustomNodeType>;

/// Reads a CRD version's `openAPIV3Schema` for the node at `names` (field names from the
/// root, list items skipped): a ready [`CustomSchema`] is
/// `&|names: &[&str]| custom_node_type(&schema, names)`.
pub fn custom_node_type(schema: &Value, names: &[&str]) -> Option<CustomNodeType> {
    let mut node = schema;
    for name in names {
        if let Some(items) = node.get("items") {
            node = items;
        }
        node = match node.get("properties").and_then(|p| p.get(*name)) {
            Some(property) => property,
            None => node.get("additionalProperties").filter(|a| a.is_object())?,
        };
    }
    let text = |key: &str| node.get(key).and_then(Value::as_str);
    if node.get("items").is_some() || text("type") == Some("array") {
        return match text("x-kubernetes-list-type") {
            Some("set") => Some(CustomNodeType::Set),
            Some("map") => {
                let keys = node
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)?;
                let keys = keys.iter().filter_map(Value::as_str).map(str::to_string);
                Some(CustomNodeType::Map(keys.collect()))
            }
            _ => Some(CustomNodeType::Atomic),
        };
    }
    match text("x-kubernetes-map-type") {
        Some("atomic") => Some(CustomNodeType::Atomic),
        Some("granular") => Some(CustomNodeType::Granular),
        _ => None,
    }
}

/// How a list merges and is owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListShape {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// The shape of one kind's objects.
#[derive(Clone, Copy)]
pub(crate) struct Structure<'a> {
    kind: &'a str,
    group: &'a str,
    known: bool,
    custom: Option<CustomSchema<'a>>,
}

impl<'a> Structure<'a> {
    pub(crate) fn new(group: &'a str, kind: &'a str, custom: Option<CustomSchema<'a>>) -> Self {
        Structure {
            kind,
            group,
            known: schema::is_known(group, kind),
            custom,
        }
    }

    /// Whether this is a built-in kind with a typed schema (its nulls do not survive decoding).
    pub(crate) fn is_built_in(&self) -> bool {
        self.known
    }

    /// The shape of the list at `names`.
    pub(crate) fn list(&self, names: &[&str]) -> ListShape {
        if let ["metadata", field] = names {
            match *field {
                "finalizers" => return ListShape::Set,
                "ownerReferences" => return ListShape::Map(vec!["uid".to_string()]),
                _ => {}
            }
        }
        if self.known {
            return match schema::apply_list_kind(self.group, self.kind, names) {
                ListKind::Atomic => ListShape::Atomic,
                ListKind::Set => ListShape::Set,
                ListKind::Map { keys } => {
                    ListShape::Map(keys.iter().map(|k| k.to_string()).collect())
                }
            };
        }
        match self.custom.and_then(|custom| custom(names)) {
            Some(CustomNodeType::Set) => ListShape::Set,
            Some(CustomNodeType::Map(keys)) => ListShape::Map(keys),
            _ => ListShape::Atomic,
        }
    }

    /// Whether the object at `names` (or each object item of the list at `names`) is atomic.
    pub(crate) fn is_atomic_object(&self, names: &[&str]) -> bool {
        if names == ["metadata", "ownerReferences"] {
            return true;
        }
        if self.known {
            return built_in_atomic_object(self.kind, names);
        }
        self.custom
            .and_then(|custom| custom(names))
            .is_some_and(|node| node == CustomNodeType::Atomic)
    }

    /// The path element of `item`, an item of a list of `shape` (not atomic).
    pub(crate) fn item_element(&self, shape: &ListShape, item: &Value) -> Result<Element, String> {
        match shape {
            ListShape::Atomic => Err("invalid indexing of non-associative list".to_string()),
            ListShape::Set => match item {
                Value::Object(_) => Err(
                    "associative list without keys has an element that's a map type".to_string(),
                ),
                Value::Array(_) => {
                    Err("not supported: associative list with lists as elements".to_string())
                }
                Value::Null => Err(
                    "associative list without keys has an element that's an explicit null"
                        .to_string(),
                ),
                scalar => Ok(format!("v:{scalar}")),
            },
            ListShape::Map(keys) => {
                let fields =
                    match item {
                        Value::Null => {
                            return Err("associative list with keys may not have a null element"
                                .to_string());
                        }
                        Value::Object(fields) => fields,
                        _ => {
                            return Err("associative list with keys may not have non-map elements"
                                .to_string());
                        }
                    };
                let mut key = Map::new();
                for name in keys {
                    if let Some(value) = fields.get(name).or(self.key_default(name).as_ref()) {
                        key.insert(name.clone(), value.clone());
                    }
                }
                if !keys.is_empty() && key.is_empty() {
                    return Err(format!(
                        "associative list with keys has an element that omits all key fields {keys:?} \
                         (and doesn't have default values for any key fields)"
                    ));
                }
                Ok(format!("k:{}", Value::Object(key)))
            }
        }
    }

    /// The schema default of a list-map key field that an item may omit.
    fn key_default(&self, name: &str) -> Option<Value> {
        (self.known && name == "protocol").then(|| Value::String("TCP".to_string()))
    }
}

/// Object fields whose Go type is `+structType=atomic` or `+mapType=atomic` in every built-in
/// kind that has them (LabelSelector, object references, key selectors, node selectors).
const ATOMIC_OBJECT_FIELDS: &[&str] = &[
    "selector",
    "labelSelector",
    "namespaceSelector",
    "podSelector",
    "nodeSelector",
    "scopeSelector",
    "fieldRef",
    "resourceFieldRef",
    "configMapKeyRef",
    "secretKeyRef",
    "fileKeyRef",
    "claimRef",
    "dataSource",
    "targetRef",
    "involvedObject",
    "related",
    "regarding",
    "scaleTargetRef",
    "roleRef",
    "preference",
    "paramKind",
    "paramRef",
    "matchResources",
];

/// List fields whose items are atomic objects (references and endpoint addresses).
const ATOMIC_ITEM_LISTS: &[&str] = &[
    "imagePullSecrets",
    "secrets",
    "subjects",
    "notReadyAddresses",
    "nodeSelectorTerms",
];

fn built_in_atomic_object(kind: &str, names: &[&str]) -> bool {
    let Some((last, parents)) = names.split_last() else {
        return false;
    };
    let parent = parents.last().copied().unwrap_or("");
    match *last {
        // `envFrom[].secretRef` is a SecretEnvSource, merged field by field.
        "secretRef" => parent != "envFrom",
        "requiredDuringSchedulingIgnoredDuringExecution" => parent == "nodeAffinity",
        "port" => parent == "service",
        "ports" => parent == "subsets" || (kind == "EndpointSlice" && parents.is_empty()),
        "addresses" => parent == "subsets",
        name => ATOMIC_OBJECT_FIELDS.contains(&name) || ATOMIC_ITEM_LISTS.contains(&name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn built_in_lists_come_from_the_schema_table() {
        let pod = Structure::new("", "Pod", None);
        assert_eq!(
            pod.list(&["spec", "containers"]),
            ListShape::Map(vec!["name".to_string()])
        );
        assert_eq!(
            pod.list(&["spec", "containers", "ports"]),
            ListShape::Map(vec!["containerPort".to_string(), "protocol".to_string()])
        );
        assert_eq!(pod.list(&["spec", "containers", "args"]), ListShape::Atomic);
        assert!(pod.is_atomic_object(&["spec", "nodeSelector"]));
        assert!(pod.is_atomic_object(&["spec", "containers", "env", "valueFrom", "secretKeyRef"]));
        assert!(!pod.is_atomic_object(&["spec", "containers", "envFrom", "secretRef"]));
        assert!(!pod.is_atomic_object(&["spec", "containers", "resources"]));
    }

    #[test]
    fn custom_resources_use_the_hook_or_atomic_lists() {
        let hook = |names: &[&str]| match names {
            ["spec", "items"] => Some(CustomNodeType::Map(vec!["id".to_string()])),
            ["spec", "tags"] => Some(CustomNodeType::Set),
            ["spec", "ref"] => Some(CustomNodeType::Atomic),
            _ => None,
        };
        let widget = Structure::new("example.com", "Widget", Some(&hook));
        assert_eq!(
            widget.list(&["spec", "items"]),
            ListShape::Map(vec!["id".to_string()])
        );
        assert_eq!(widget.list(&["spec", "tags"]), ListShape::Set);
        assert_eq!(widget.list(&["spec", "other"]), ListShape::Atomic);
        assert!(widget.is_atomic_object(&["spec", "ref"]));
        assert!(!widget.is_atomic_object(&["spec", "other"]));
        let bare = Structure::new("example.com", "Widget", None);
        assert_eq!(bare.list(&["spec", "items"]), ListShape::Atomic);
        assert_eq!(bare.list(&["metadata", "finalizers"]), ListShape::Set);
    }

    #[test]
    fn crd_schemas_describe_their_lists_and_maps() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "routes": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["path", "port"],
                       "items": {"type": "object", "properties": {"filters": {"type": "array", "x-kubernetes-list-type": "set"}}}},
            "ref": {"type": "object", "x-kubernetes-map-type": "atomic"},
            "args": {"type": "array", "items": {"type": "string"}},
            "labels": {"type": "object", "additionalProperties": {"type": "object", "x-kubernetes-map-type": "atomic"}}
        }}}});
        let node = |names: &[&str]| custom_node_type(&schema, names);
        assert_eq!(
            node(&["spec", "routes"]),
            Some(CustomNodeType::Map(vec![
                "path".to_string(),
                "port".to_string()
            ]))
        );
        assert_eq!(
            node(&["spec", "routes", "filters"]),
            Some(CustomNodeType::Set)
        );
        assert_eq!(node(&["spec", "ref"]), Some(CustomNodeType::Atomic));
        assert_eq!(node(&["spec", "args"]), Some(CustomNodeType::Atomic));
        assert_eq!(
            node(&["spec", "labels", "any"]),
            Some(CustomNodeType::Atomic)
        );
        assert_eq!(node(&["spec"]), None);
        assert_eq!(node(&["spec", "unknown"]), None);
    }

    #[test]
    fn item_elements() {
        let pod = Structure::new("", "Pod", None);
        let ports = pod.list(&["spec", "containers", "ports"]);
        assert_eq!(
            pod.item_element(&ports, &json!({"containerPort": 80, "name": "http"}))
                .unwrap(),
            r#"k:{"containerPort":80,"protocol":"TCP"}"#
        );
        assert_eq!(
            pod.item_element(&ListShape::Set, &json!("a")).unwrap(),
            r#"v:"a""#
        );
        let containers = pod.list(&["spec", "containers"]);
        assert_eq!(
            pod.item_element(&containers, &json!({"image": "x"}))
                .unwrap_err(),
            "associative list with keys has an element that omits all key fields [\"name\"] \
             (and doesn't have default values for any key fields)"
        );
        assert!(pod.item_element(&containers, &json!(null)).is_err());
        assert!(pod.item_element(&ListShape::Set, &json!({"a": 1})).is_err());
    }
}
