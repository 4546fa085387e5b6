//! Upstream's list and patch extensions (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`, `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`) for the
//! built-in types. k8s-openapi's schemars output has none of them, yet kubectl reads the patch
//! ones from OpenAPI to compute strategic merge patches, so they are added from the table in
//! `field_extensions.txt`.

use serde_json::{Map, Value, json};

/// The table: one field a line, `<definition> <property|.> <key>=<value>...`.
const TABLE: &str = include_str!("field_extensions.txt");

/// The extensions of one property (or, for property `.`, of the definition itself).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FieldExtensions<'a> {
    pub definition: &'a str,
    pub property: &'a str,
    /// `(extension name, value)` pairs, in the table's order.
    pub extensions: Vec<(&'static str, Value)>,
}

/// Every line of the table; lines that do not parse are skipped (the table's test keeps them
/// from existing).
pub(super) fn table() -> impl Iterator<Item = FieldExtensions<'static>> {
    TABLE.lines().filter_map(parse_line)
}

fn parse_line(line: &str) -> Option<FieldExtensions<'_>> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let mut words = line.split_whitespace();
    let definition = words.next()?;
    let property = words.next()?;
    let mut extensions = Vec::new();
    for word in words {
        let (key, value) = word.split_once('=')?;
        let extension = match key {
            "list" => ("x-kubernetes-list-type", json!(value)),
            "keys" => (
                "x-kubernetes-list-map-keys",
                json!(value.split(',').collect::<Vec<_>>()),
            ),
            "map" => ("x-kubernetes-map-type", json!(value)),
            "patch" => ("x-kubernetes-patch-strategy", json!(value)),
            "merge" => ("x-kubernetes-patch-merge-key", json!(value)),
            _ => return None,
        };
        extensions.push(extension);
    }
    Some(FieldExtensions {
        definition,
        property,
        extensions,
    })
}

/// Adds the table's extensions to the definitions present in `schemas` (keyed by definition
/// name); definitions or properties absent from `schemas` are skipped.
pub(super) fn apply(schemas: &mut Map<String, Value>) {
    for field in table() {
        let Some(definition) = schemas.get_mut(field.definition) else {
            continue;
        };
        let target = if field.property == "." {
            Some(definition)
        } else {
            definition
                .get_mut("properties")
                .and_then(|properties| properties.get_mut(field.property))
        };
        let Some(Value::Object(target)) = target else {
            continue;
        };
        for (name, value) in field.extensions {
            target.insert(name.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_line_parses() {
        let lines = TABLE
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .count();
        assert_eq!(table().count(), lines);
        assert!(lines > 300, "{lines}");
    }

    #[test]
    fn pod_spec_containers_merge_by_name() {
        let containers = table()
            .find(|f| f.definition == "io.k8s.api.core.v1.PodSpec" && f.property == "containers");
        assert_eq!(
            containers.map(|f| f.extensions),
            Some(vec![
                ("x-kubernetes-list-type", json!("map")),
                ("x-kubernetes-list-map-keys", json!(["name"])),
                ("x-kubernetes-patch-strategy", json!("merge")),
                ("x-kubernetes-patch-merge-key", json!("name")),
            ])
        );
    }

    #[test]
    fn composite_values_parse() {
        let field = parse_line(
            "a.B spread list=map keys=topologyKey,whenUnsatisfiable patch=merge,retainKeys",
        );
        assert_eq!(
            field.map(|f| f.extensions),
            Some(vec![
                ("x-kubernetes-list-type", json!("map")),
                (
                    "x-kubernetes-list-map-keys",
                    json!(["topologyKey", "whenUnsatisfiable"])
                ),
                ("x-kubernetes-patch-strategy", json!("merge,retainKeys")),
            ])
        );
        assert_eq!(parse_line("a.B c bogus=1"), None);
    }

    #[test]
    fn apply_touches_only_present_properties() {
        let mut schemas = Map::new();
        schemas.insert(
            "io.k8s.api.apps.v1.DeploymentSpec".into(),
            json!({"properties": {"strategy": {"description": "s"}}}),
        );
        schemas.insert(
            "io.k8s.api.core.v1.LocalObjectReference".into(),
            json!({"properties": {"name": {"type": "string"}}}),
        );
        apply(&mut schemas);
        assert_eq!(
            schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"],
            json!({"description": "s", "x-kubernetes-patch-strategy": "retainKeys"})
        );
        assert_eq!(
            schemas["io.k8s.api.core.v1.LocalObjectReference"]["x-kubernetes-map-type"],
            json!("atomic")
        );
    }
}
