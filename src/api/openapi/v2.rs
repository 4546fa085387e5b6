//! OpenAPI v2 (swagger 2.0) as gnostic protobuf, served at `/openapi/v2` for kubectl 1.27/1.28:
//! the same routes as v3, and the v3 schemas turned into swagger 2.0 definitions (`$ref`s to
//! `#/definitions/`, no `oneOf`/`anyOf`/`nullable`, every array with `items`), since kubectl
//! refuses the whole document if one definition does not parse.

use serde_json::{Map, Value};

use super::KindDoc;
use super::gnostic::{
    self, AdditionalPropertiesItem, BodyParameter, NamedAny, NamedPathItem, NamedResponseValue,
    NamedSchema, NonBodyParameter, ParametersItem, PathItem, PathParameterSubSchema,
    QueryParameterSubSchema, Response, ResponseValue, SchemaItem,
};
use super::operations::{self, Method, Operation, Payload, Route};
use super::parameters::{Location, Parameter};
use super::schemas::Components;

const V3_PREFIX: &str = "#/components/schemas/";
const V2_PREFIX: &str = "#/definitions/";

/// The swagger 2.0 document of every kind in `kinds`.
pub(super) fn document(kinds: &[KindDoc]) -> gnostic::Document {
    let mut components = Components::new();
    let mut paths = Vec::new();
    for kind in kinds {
        let schemas = components.add_kind(kind);
        for route in operations::routes(kind, &schemas, &mut components) {
            paths.push(path_item(&route));
        }
    }
    paths.sort_by(|a, b| a.name.cmp(&b.name));
    let definitions = components
        .finish()
        .iter()
        .map(|(name, schema)| NamedSchema {
            name: name.clone(),
            value: Some(schema_v2(schema)),
        })
        .collect();
    gnostic::Document {
        swagger: "2.0".into(),
        info: Some(gnostic::Info {
            title: "Kubernetes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }),
        schemes: vec!["https".into()],
        paths: Some(gnostic::Paths { path: paths }),
        definitions: Some(gnostic::Definitions {
            additional_properties: definitions,
        }),
        security_definitions: Some(gnostic::SecurityDefinitions {
            additional_properties: vec![gnostic::NamedSecurityDefinitionsItem {
                name: "BearerToken".into(),
                value: Some(gnostic::SecurityDefinitionsItem {
                    oneof: Some(gnostic::security_definitions_item::Oneof::ApiKeySecurity(
                        gnostic::ApiKeySecurity {
                            r#type: "apiKey".into(),
                            name: "authorization".into(),
                            r#in: "header".into(),
                            description: "Bearer token authentication: the header `authorization: Bearer <token>`.".into(),
                        },
                    )),
                }),
            }],
        }),
        security: vec![gnostic::SecurityRequirement {
            additional_properties: vec![gnostic::NamedStringArray {
                name: "BearerToken".into(),
                value: Some(gnostic::StringArray::default()),
            }],
        }],
    }
}

fn path_item(route: &Route) -> NamedPathItem {
    let mut item = PathItem {
        parameters: route.parameters.iter().map(parameter).collect(),
        ..PathItem::default()
    };
    for operation in &route.operations {
        let rendered = Some(render(operation));
        match operation.method {
            Method::Get => item.get = rendered,
            Method::Put => item.put = rendered,
            Method::Post => item.post = rendered,
            Method::Patch => item.patch = rendered,
            Method::Delete => item.delete = rendered,
        }
    }
    NamedPathItem {
        name: route.path.clone(),
        value: Some(item),
    }
}

fn render(operation: &Operation) -> gnostic::Operation {
    let mut parameters = Vec::new();
    let mut consumes = Vec::new();
    if let Some((payload, content_types)) = &operation.body {
        let body = BodyParameter {
            name: "body".into(),
            r#in: "body".into(),
            required: true,
            schema: Some(payload_schema(payload)),
            ..BodyParameter::default()
        };
        parameters.push(parameters_item(gnostic::parameter::Oneof::BodyParameter(
            Box::new(body),
        )));
        consumes = content_types.iter().map(|t| (*t).to_owned()).collect();
    }
    parameters.extend(operation.parameters.iter().map(parameter));
    let mut responses: Vec<NamedResponseValue> = operation
        .codes
        .iter()
        .map(|(code, description)| {
            response(code, description, Some(payload_schema(&operation.response)))
        })
        .collect();
    responses.push(response("401", "Unauthorized", None));
    gnostic::Operation {
        tags: vec![operation.tag.clone()],
        description: operation.description.clone(),
        operation_id: operation.id.clone(),
        produces: operation.produces.iter().map(|t| (*t).to_owned()).collect(),
        consumes,
        parameters,
        responses: Some(gnostic::Responses {
            response_code: responses,
        }),
        schemes: vec!["https".into()],
        vendor_extension: vec![
            NamedAny::new("x-kubernetes-action", yaml(&Value::from(operation.action))),
            NamedAny::new(
                "x-kubernetes-group-version-kind",
                yaml(&operation.kind.to_value()),
            ),
        ],
    }
}

fn response(code: &str, description: &str, schema: Option<gnostic::Schema>) -> NamedResponseValue {
    NamedResponseValue {
        name: code.to_owned(),
        value: Some(ResponseValue {
            oneof: Some(gnostic::response_value::Oneof::Response(Response {
                description: description.to_owned(),
                schema: schema.map(|schema| SchemaItem {
                    oneof: Some(gnostic::schema_item::Oneof::Schema(schema)),
                }),
            })),
        }),
    }
}

fn payload_schema(payload: &Payload) -> gnostic::Schema {
    match payload {
        Payload::Definition(name) => gnostic::Schema {
            r#ref: format!("{V2_PREFIX}{name}"),
            ..gnostic::Schema::default()
        },
        Payload::Text => gnostic::Schema {
            r#type: Some(type_item("string")),
            ..gnostic::Schema::default()
        },
    }
}

fn parameters_item(parameter: gnostic::parameter::Oneof) -> ParametersItem {
    ParametersItem {
        oneof: Some(gnostic::parameters_item::Oneof::Parameter(
            gnostic::Parameter {
                oneof: Some(parameter),
            },
        )),
    }
}

fn parameter(parameter: &Parameter) -> ParametersItem {
    let kind = parameter.kind.as_str();
    let non_body = match parameter.location {
        Location::Path => {
            gnostic::non_body_parameter::Oneof::PathParameterSubSchema(PathParameterSubSchema {
                required: true,
                r#in: "path".into(),
                description: parameter.description.into(),
                name: parameter.name.into(),
                r#type: kind.into(),
                unique_items: true,
            })
        }
        Location::Query => {
            gnostic::non_body_parameter::Oneof::QueryParameterSubSchema(QueryParameterSubSchema {
                required: false,
                r#in: "query".into(),
                description: parameter.description.into(),
                name: parameter.name.into(),
                r#type: kind.into(),
                unique_items: true,
            })
        }
    };
    parameters_item(gnostic::parameter::Oneof::NonBodyParameter(
        NonBodyParameter {
            oneof: Some(non_body),
        },
    ))
}

fn type_item(name: &str) -> gnostic::TypeItem {
    gnostic::TypeItem {
        value: vec![name.to_owned()],
    }
}

/// A free-form value as gnostic's YAML text. JSON is YAML (flow style), which is how every
/// reader of these extensions (go-yaml, sigs.k8s.io/yaml) parses it.
fn yaml(value: &Value) -> String {
    value.to_string()
}

/// One v3 schema as a swagger 2.0 schema.
fn schema_v2(value: &Value) -> gnostic::Schema {
    let Value::Object(schema) = value else {
        return gnostic::Schema::default();
    };
    let mut converted = gnostic::Schema::default();
    let all_of: Vec<&Value> = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let lifted_ref = match all_of.as_slice() {
        [only] => only.get("$ref").and_then(Value::as_str),
        _ => None,
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str).or(lifted_ref) {
        converted.r#ref = reference.replacen(V3_PREFIX, V2_PREFIX, 1);
    } else {
        converted.all_of = all_of.into_iter().map(schema_v2).collect();
    }
    let text = |key: &str| {
        schema
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |key: &str| schema.get(key).and_then(Value::as_f64).unwrap_or_default();
    let integer = |key: &str| schema.get(key).and_then(Value::as_i64).unwrap_or_default();
    let flag = |key: &str| schema.get(key).and_then(Value::as_bool).unwrap_or_default();
    converted.format = text("format");
    converted.title = text("title");
    converted.description = text("description");
    converted.pattern = text("pattern");
    converted.multiple_of = number("multipleOf");
    converted.maximum = number("maximum");
    converted.minimum = number("minimum");
    converted.exclusive_maximum = flag("exclusiveMaximum");
    converted.exclusive_minimum = flag("exclusiveMinimum");
    converted.max_length = integer("maxLength");
    converted.min_length = integer("minLength");
    converted.max_items = integer("maxItems");
    converted.min_items = integer("minItems");
    converted.max_properties = integer("maxProperties");
    converted.min_properties = integer("minProperties");
    converted.unique_items = flag("uniqueItems");
    converted.read_only = flag("readOnly");
    converted.default = schema
        .get("default")
        .map(|d| gnostic::Any { yaml: yaml(d) });
    converted.r#enum = schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .map(|v| gnostic::Any { yaml: yaml(v) })
                .collect()
        })
        .unwrap_or_default();
    converted.required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if converted.r#ref.is_empty() {
        converted.r#type = single_type(schema).map(type_item);
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        converted.properties = Some(gnostic::Properties {
            additional_properties: properties
                .iter()
                .map(|(name, property)| NamedSchema {
                    name: name.clone(),
                    value: Some(schema_v2(property)),
                })
                .collect(),
        });
    }
    converted.additional_properties = match schema.get("additionalProperties") {
        Some(Value::Bool(allowed)) => Some(gnostic::additional_properties_item::Oneof::Boolean(
            *allowed,
        )),
        Some(additional @ Value::Object(_)) => Some(
            gnostic::additional_properties_item::Oneof::Schema(Box::new(schema_v2(additional))),
        ),
        _ => None,
    }
    .map(|oneof| AdditionalPropertiesItem { oneof: Some(oneof) });
    if converted
        .r#type
        .as_ref()
        .is_some_and(|t| t.value == ["array"])
    {
        let items = schema.get("items").map(schema_v2).unwrap_or_default();
        converted.items = Some(gnostic::ItemsItem {
            schema: vec![items],
        });
    }
    converted.vendor_extension = vendor_extensions(schema);
    converted
}

/// The one type a swagger 2.0 schema may have: the schema's own, or for a `oneOf`/`anyOf` of
/// types (int-or-string, quantity) `string` if that is among them, as upstream publishes them.
fn single_type(schema: &Map<String, Value>) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(name)) => return Some(name),
        Some(Value::Array(names)) => {
            return names
                .iter()
                .filter_map(Value::as_str)
                .find(|n| *n != "null");
        }
        _ => {}
    }
    let alternatives = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    alternatives
        .iter()
        .filter_map(|alternative| alternative.get("type").and_then(Value::as_str))
        .find(|name| *name == "string")
}

fn vendor_extensions(schema: &Map<String, Value>) -> Vec<NamedAny> {
    schema
        .iter()
        .filter(|(name, _)| name.starts_with("x-"))
        .map(|(name, value)| NamedAny::new(name.clone(), yaml(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> KindDoc<'static> {
        KindDoc {
            group: "apps",
            version: "v1",
            kind: "Deployment",
            plural: "deployments",
            namespaced: true,
            verbs: &[
                "get",
                "list",
                "watch",
                "create",
                "update",
                "patch",
                "delete",
                "deletecollection",
            ],
            subresources: &["status", "scale"],
            schema: None,
        }
    }

    fn extension<'a>(extensions: &'a [NamedAny], name: &str) -> Option<&'a str> {
        extensions
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.as_ref())
            .map(|v| v.yaml.as_str())
    }

    #[test]
    fn patch_carries_kind_and_field_validation() {
        let document = document(&[deployment()]);
        let paths = document.paths.map(|p| p.path).unwrap_or_default();
        let item = paths
            .iter()
            .find(|p| p.name == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
            .and_then(|p| p.value.clone());
        let Some(patch) = item.and_then(|i| i.patch) else {
            panic!("no patch operation")
        };
        let gvk = extension(&patch.vendor_extension, "x-kubernetes-group-version-kind");
        assert_eq!(
            gvk,
            Some(r#"{"group":"apps","kind":"Deployment","version":"v1"}"#)
        );
        let names: Vec<String> = patch
            .parameters
            .iter()
            .filter_map(|p| match &p.oneof {
                Some(gnostic::parameters_item::Oneof::Parameter(gnostic::Parameter {
                    oneof: Some(gnostic::parameter::Oneof::NonBodyParameter(NonBodyParameter {
                        oneof: Some(gnostic::non_body_parameter::Oneof::QueryParameterSubSchema(q)),
                    })),
                })) => Some(q.name.clone()),
                _ => None,
            })
            .collect();
        assert!(names.contains(&"fieldValidation".to_owned()), "{names:?}");
        assert!(
            patch
                .consumes
                .contains(&"application/strategic-merge-patch+json".to_owned())
        );
    }

    #[test]
    fn every_definition_parses_as_kubectl_requires() {
        let document = document(&[deployment()]);
        let definitions = document
            .definitions
            .map(|d| d.additional_properties)
            .unwrap_or_default();
        let names: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
        fn check(schema: &gnostic::Schema, names: &[&str], at: &str) {
            if let Some(name) = schema.r#ref.strip_prefix(V2_PREFIX) {
                assert!(names.contains(&name), "{at}: unknown reference {name}");
                return;
            }
            assert!(
                schema.r#ref.is_empty(),
                "{at}: bad reference {}",
                schema.r#ref
            );
            let types = schema
                .r#type
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default();
            assert!(types.len() <= 1, "{at}: several types");
            if types == ["array"] {
                let items = schema.items.as_ref().map(|i| i.schema.len());
                assert_eq!(items, Some(1), "{at}: array without one item schema");
            }
            for item in schema.items.iter().flat_map(|i| &i.schema) {
                check(item, names, at);
            }
            for property in schema
                .properties
                .iter()
                .flat_map(|p| &p.additional_properties)
            {
                if let Some(value) = &property.value {
                    check(value, names, &format!("{at}.{}", property.name));
                }
            }
            if let Some(gnostic::additional_properties_item::Oneof::Schema(additional)) = schema
                .additional_properties
                .as_ref()
                .and_then(|a| a.oneof.as_ref())
            {
                check(additional, names, at);
            }
        }
        for definition in &definitions {
            if let Some(schema) = &definition.value {
                check(schema, &names, &definition.name);
            }
        }
        let deployment = definitions
            .iter()
            .find(|d| d.name == "io.k8s.api.apps.v1.Deployment");
        let extensions = deployment
            .and_then(|d| d.value.clone())
            .map(|s| s.vendor_extension)
            .unwrap_or_default();
        assert_eq!(
            extension(&extensions, "x-kubernetes-group-version-kind"),
            Some(r#"[{"group":"apps","kind":"Deployment","version":"v1"}]"#)
        );
    }

    #[test]
    fn v3_forms_become_swagger_2() {
        let int_or_string = schema_v2(&json!({
            "description": "d", "format": "int-or-string",
            "oneOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true,
        }));
        assert_eq!(int_or_string.r#type, Some(type_item("string")));
        assert_eq!(int_or_string.format, "int-or-string");
        assert_eq!(
            extension(
                &int_or_string.vendor_extension,
                "x-kubernetes-int-or-string"
            ),
            Some("true")
        );

        let wrapped = schema_v2(
            &json!({"allOf": [{"$ref": "#/components/schemas/a.B"}], "description": "d"}),
        );
        assert_eq!(wrapped.r#ref, "#/definitions/a.B");
        assert_eq!(wrapped.description, "d");
        assert!(wrapped.all_of.is_empty());

        let untyped_items = schema_v2(&json!({"type": "array"}));
        assert_eq!(untyped_items.items.map(|i| i.schema.len()), Some(1));

        let map = schema_v2(
            &json!({"type": "object", "additionalProperties": {"type": "string"}, "enum": ["a"], "maxLength": 3}),
        );
        assert!(map.additional_properties.is_some());
        assert_eq!(
            map.r#enum,
            vec![gnostic::Any {
                yaml: "\"a\"".into()
            }]
        );
        assert_eq!(map.max_length, 3);
    }
}
