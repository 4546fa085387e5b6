//! `components.schemas` of an OpenAPI v3 document: the kinds' schemas (built-in ones from
//! k8s-openapi's schemars output, custom ones from the CRD), their lists, and every schema those
//! reference, keyed by upstream's definition names and written as upstream writes them
//! (`allOf` around a `$ref` that has siblings, int-or-string and quantity as `oneOf`, list and
//! patch extensions, `x-kubernetes-group-version-kind` on each kind).

use std::collections::BTreeMap;

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::{KindDoc, builtin, extensions};

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// A group, version and kind, as the `x-kubernetes-group-version-kind` extension spells it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl GroupVersionKind {
    pub fn new(group: &str, version: &str, kind: &str) -> GroupVersionKind {
        GroupVersionKind {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// The extension's value: `{"group": …, "kind": …, "version": …}`.
    pub fn to_value(&self) -> Value {
        json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

/// The definition names of one kind's schemas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KindSchemas {
    pub kind: String,
    pub list: String,
    /// Built-in kinds accept strategic merge patches; custom resources do not.
    pub built_in: bool,
}

/// The schemas of one document, collected kind by kind, then written out by [`Self::finish`].
pub(super) struct Components {
    generator: SchemaGenerator,
    /// Schemas written here rather than by schemars: custom resources and lists.
    written: Map<String, Value>,
    /// The kinds each definition stands for.
    kinds: BTreeMap<String, Vec<GroupVersionKind>>,
}

impl Components {
    pub fn new() -> Components {
        Components {
            generator: SchemaSettings::openapi3().into_generator(),
            written: Map::new(),
            kinds: BTreeMap::new(),
        }
    }

    /// Adds `kind`'s schema and its list's.
    pub fn add_kind(&mut self, kind: &KindDoc) -> KindSchemas {
        let built_in = match kind.schema {
            Some(_) => None,
            None => builtin::add_kind(&mut self.generator, kind.group, kind.version, kind.kind),
        };
        let name = match &built_in {
            Some(name) => name.clone(),
            None => {
                let name = custom_definition_name(kind.group, kind.version, kind.kind);
                let object_meta = builtin::add_object_meta(&mut self.generator);
                let schema = custom_kind_schema(kind, &object_meta);
                self.written.insert(name.clone(), schema);
                name
            }
        };
        self.stamp(
            &name,
            GroupVersionKind::new(kind.group, kind.version, kind.kind),
        );

        let list = format!("{name}List");
        let list_meta = builtin::add_list_meta(&mut self.generator);
        self.written
            .insert(list.clone(), list_schema(kind, &name, &list_meta));
        let list_kind = format!("{}List", kind.kind);
        self.stamp(
            &list,
            GroupVersionKind::new(kind.group, kind.version, &list_kind),
        );

        KindSchemas {
            kind: name,
            list,
            built_in: built_in.is_some(),
        }
    }

    /// Adds the schema of a built-in kind that a subresource reads or writes (`Scale`,
    /// `Eviction`, `TokenRequest`, `Binding`); `None` when k8s-openapi has no such kind.
    pub fn add_subresource_kind(&mut self, gvk: &GroupVersionKind) -> Option<String> {
        let name = builtin::add_kind(&mut self.generator, &gvk.group, &gvk.version, &gvk.kind)?;
        self.stamp(&name, gvk.clone());
        Some(name)
    }

    /// Adds `DeleteOptions`, marked as a kind of `group`/`version` and of core `v1`.
    pub fn add_delete_options(&mut self, group: &str, version: &str) -> String {
        let name = builtin::add_delete_options(&mut self.generator);
        self.stamp(&name, GroupVersionKind::new("", "v1", "DeleteOptions"));
        self.stamp(
            &name,
            GroupVersionKind::new(group, version, "DeleteOptions"),
        );
        name
    }

    /// Adds `Status`, the answer to deletes and to failed requests.
    pub fn add_status(&mut self) -> String {
        let name = builtin::add_kind(&mut self.generator, "", "v1", "Status")
            .unwrap_or_else(|| "io.k8s.apimachinery.pkg.apis.meta.v1.Status".to_owned());
        self.stamp(&name, GroupVersionKind::new("", "v1", "Status"));
        name
    }

    /// Adds `Patch`, the body of PATCH requests (its format is given by the Content-Type).
    pub fn add_patch(&mut self) -> String {
        self.written.insert(
            PATCH.to_owned(),
            json!({
                "description": "The body of a PATCH request, in the format its Content-Type names.",
                "type": "object",
            }),
        );
        PATCH.to_owned()
    }

    fn stamp(&mut self, name: &str, gvk: GroupVersionKind) {
        let kinds = self.kinds.entry(name.to_owned()).or_default();
        if !kinds.contains(&gvk) {
            kinds.push(gvk);
        }
    }

    /// The schemas, keyed by definition name, in OpenAPI v3 form.
    pub fn finish(mut self) -> Map<String, Value> {
        let mut schemas = self.generator.take_definitions(true);
        schemas.append(&mut self.written);
        for (name, schema) in schemas.iter_mut() {
            match name.as_str() {
                INT_OR_STRING => int_or_string(schema),
                QUANTITY => quantity(schema),
                _ => {}
            }
        }
        extensions::apply(&mut schemas);
        for (name, kinds) in self.kinds {
            if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
                let kinds = kinds.iter().map(GroupVersionKind::to_value).collect();
                schema.insert(
                    "x-kubernetes-group-version-kind".into(),
                    Value::Array(kinds),
                );
            }
        }
        schemas
    }
}

/// A `$ref` to the definition `name` in a v3 document.
pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A property that refers to definition `name`, described: upstream wraps the `$ref` in
/// `allOf`, since OpenAPI 3.0 ignores a `$ref`'s siblings.
fn described_reference(name: &str, description: &str) -> Value {
    json!({"allOf": [reference(name)], "description": description})
}

/// The definition name of a kind that k8s-openapi does not know: the group's DNS labels
/// reversed, then the version and kind (`stable.example.com/v1 CronTab` →
/// `com.example.stable.v1.CronTab`), as upstream names custom resources.
pub(super) fn custom_definition_name(group: &str, version: &str, kind: &str) -> String {
    let group = if group.is_empty() {
        "io.k8s.api.core".to_owned()
    } else {
        group.rsplit('.').collect::<Vec<_>>().join(".")
    };
    format!("{group}.{version}.{kind}")
}

/// A custom resource's schema: the CRD version's `openAPIV3Schema` (or, without one, any object)
/// with `apiVersion`, `kind` and `metadata` (a reference to `ObjectMeta`) as upstream adds them.
fn custom_kind_schema(kind: &KindDoc, object_meta: &str) -> Value {
    let mut schema = match kind.schema {
        Some(Value::Object(schema)) => schema.clone(),
        _ => Map::new(),
    };
    if kind.schema.is_none() {
        schema.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    }
    schema.insert("type".into(), json!("object"));
    schema
        .entry("description")
        .or_insert_with(|| json!(format!("{} is a kind of {}.", kind.kind, api_version(kind))));
    let properties = schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(properties) = properties {
        properties.insert("apiVersion".into(), api_version_property());
        properties.insert("kind".into(), kind_property());
        properties.insert(
            "metadata".into(),
            described_reference(object_meta, "Standard object's metadata: name, namespace, labels, annotations and the server's bookkeeping."),
        );
    }
    Value::Object(schema)
}

/// The schema of `<Kind>List`.
fn list_schema(kind: &KindDoc, kind_definition: &str, list_meta: &str) -> Value {
    json!({
        "description": format!("A list of {} objects.", kind.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": api_version_property(),
            "items": {
                "description": format!("The {} in the list.", kind.plural),
                "type": "array",
                "items": reference(kind_definition),
            },
            "kind": kind_property(),
            "metadata": described_reference(list_meta, "Standard list metadata: resourceVersion, continue, remainingItemCount."),
        },
    })
}

fn api_version(kind: &KindDoc) -> String {
    if kind.group.is_empty() {
        kind.version.to_owned()
    } else {
        format!("{}/{}", kind.group, kind.version)
    }
}

fn api_version_property() -> Value {
    json!({
        "description": "The versioned schema this object is written in (group/version, or version alone for the core group).",
        "type": "string",
    })
}

fn kind_property() -> Value {
    json!({
        "description": "The REST resource kind this object represents, in CamelCase.",
        "type": "string",
    })
}

/// IntOrString as upstream's v3 documents write it: format `int-or-string` and a `oneOf`
/// integer or string (kept: schemars' `x-kubernetes-int-or-string`).
fn int_or_string(schema: &mut Value) {
    if let Value::Object(schema) = schema {
        schema.remove("type");
        schema.insert("format".into(), json!("int-or-string"));
        schema.insert(
            "oneOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
        schema.insert("x-kubernetes-int-or-string".into(), json!(true));
    }
}

/// Quantity as upstream's v3 documents write it: a `oneOf` string or number.
fn quantity(schema: &mut Value) {
    if let Value::Object(schema) = schema {
        schema.remove("type");
        schema.remove("x-kubernetes-int-or-string");
        schema.insert(
            "oneOf".into(),
            json!([{"type": "string"}, {"type": "number"}]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind<'a>(group: &'a str, version: &'a str, kind: &'a str, plural: &'a str) -> KindDoc<'a> {
        KindDoc {
            group,
            version,
            kind,
            plural,
            namespaced: true,
            verbs: &["get", "list", "patch"],
            subresources: &[],
            schema: None,
        }
    }

    #[test]
    fn built_in_kind_brings_its_dependencies() {
        let mut components = Components::new();
        let names = components.add_kind(&kind("apps", "v1", "Deployment", "deployments"));
        assert_eq!(
            names,
            KindSchemas {
                kind: "io.k8s.api.apps.v1.Deployment".into(),
                list: "io.k8s.api.apps.v1.DeploymentList".into(),
                built_in: true,
            }
        );
        let schemas = components.finish();
        let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
        );
        assert_eq!(
            deployment["properties"]["metadata"]["allOf"],
            json!([{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}])
        );
        assert!(deployment["properties"]["metadata"]["description"].is_string());
        let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
        assert_eq!(strategy["x-kubernetes-patch-strategy"], json!("retainKeys"));
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], json!("name"));
        assert_eq!(
            schemas["io.k8s.api.apps.v1.DeploymentList"]["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "DeploymentList", "version": "v1"}])
        );
        assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"));
    }

    #[test]
    fn int_or_string_and_quantity_as_upstream_writes_them() {
        let mut components = Components::new();
        components.add_kind(&kind("", "v1", "Pod", "pods"));
        let schemas = components.finish();
        let int_or_string = &schemas[INT_OR_STRING];
        assert_eq!(int_or_string["format"], json!("int-or-string"));
        assert_eq!(
            int_or_string["oneOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
        assert_eq!(int_or_string["x-kubernetes-int-or-string"], json!(true));
        assert_eq!(
            schemas[QUANTITY]["oneOf"],
            json!([{"type": "string"}, {"type": "number"}])
        );
        assert!(
            schemas[QUANTITY]
                .get("x-kubernetes-int-or-string")
                .is_none()
        );
    }

    #[test]
    fn every_reference_resolves() {
        let mut components = Components::new();
        for (group, version, name, plural) in [
            ("", "v1", "Pod", "pods"),
            ("", "v1", "Service", "services"),
            ("batch", "v1", "CronJob", "cronjobs"),
            (
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
            ),
        ] {
            components.add_kind(&kind(group, version, name, plural));
        }
        components.add_delete_options("batch", "v1");
        components.add_status();
        components.add_patch();
        let schemas = components.finish();
        let text = serde_json::to_string(&schemas).unwrap_or_default();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but missing"
            );
        }
        assert!(
            !text.contains("\"$ref\":\"#/$defs"),
            "schemars left a $defs reference"
        );
    }

    #[test]
    fn custom_resource_takes_the_crd_schema() {
        let crd_schema = json!({
            "type": "object",
            "description": "A cron tab.",
            "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}}}},
        });
        let mut crontab = kind("stable.example.com", "v1", "CronTab", "crontabs");
        crontab.schema = Some(&crd_schema);
        let mut components = Components::new();
        let names = components.add_kind(&crontab);
        assert_eq!(names.kind, "com.example.stable.v1.CronTab");
        assert!(!names.built_in);
        let schemas = components.finish();
        let schema = &schemas["com.example.stable.v1.CronTab"];
        assert_eq!(schema["description"], json!("A cron tab."));
        assert_eq!(
            schema["properties"]["spec"]["properties"]["cronSpec"]["type"],
            json!("string")
        );
        assert_eq!(
            schema["properties"]["metadata"]["allOf"][0]["$ref"],
            json!("#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        );
        assert_eq!(schema["properties"]["kind"]["type"], json!("string"));
        assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    }

    #[test]
    fn kind_without_schema_accepts_any_fields() {
        let mut components = Components::new();
        let names = components.add_kind(&kind("example.com", "v1alpha1", "Widget", "widgets"));
        let schemas = components.finish();
        let schema = &schemas[&names.kind];
        assert_eq!(names.kind, "com.example.v1alpha1.Widget");
        assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], json!(true));
        assert_eq!(schema["type"], json!("object"));
    }

    #[test]
    fn custom_names_reverse_the_group() {
        assert_eq!(custom_definition_name("a.b.c", "v2", "K"), "c.b.a.v2.K");
        assert_eq!(
            custom_definition_name("", "v1", "K"),
            "io.k8s.api.core.v1.K"
        );
    }
}
