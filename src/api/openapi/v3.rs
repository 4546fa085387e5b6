//! OpenAPI v3: the index served at `/openapi/v3` and the document of one group-version
//! (`/openapi/v3/apis/<group>/<version>`), which kubectl 1.29+ reads before `apply` and every
//! `kubectl explain` reads.

use serde_json::{Map, Value, json};

use super::KindDoc;
use super::operations::{self, Method, Operation, Payload, Route};
use super::parameters::{Location, Parameter};
use super::schemas::{Components, reference};

/// `{"paths": {"<document>": {"serverRelativeURL": "/openapi/v3/<document>?hash=<hash>"}}}`.
pub(super) fn index(documents: &[(String, String)]) -> Value {
    let paths: Map<String, Value> = documents
        .iter()
        .map(|(name, hash)| {
            let url = format!("/openapi/v3/{name}?hash={hash}");
            (name.clone(), json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// The document of `group`/`version`, describing those of `kinds` that belong to it.
pub(super) fn document(group: &str, version: &str, kinds: &[KindDoc]) -> Value {
    let mut components = Components::new();
    let mut paths = Map::new();
    for kind in kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
    {
        let schemas = components.add_kind(kind);
        for route in operations::routes(kind, &schemas, &mut components) {
            paths.insert(route.path.clone(), path_item(&route));
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": components.finish(),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer token authentication: the header `authorization: Bearer <token>`.",
                    "name": "authorization",
                    "in": "header",
                },
            },
        },
        "security": [{"BearerToken": []}],
    })
}

fn path_item(route: &Route) -> Value {
    let mut item = Map::new();
    item.insert(
        "parameters".into(),
        route.parameters.iter().map(parameter).collect(),
    );
    for operation in &route.operations {
        let method = match operation.method {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Patch => "patch",
            Method::Delete => "delete",
        };
        item.insert(method.into(), render(operation));
    }
    Value::Object(item)
}

fn render(operation: &Operation) -> Value {
    let mut rendered = Map::new();
    rendered.insert("tags".into(), json!([operation.tag]));
    rendered.insert("description".into(), json!(operation.description));
    rendered.insert("operationId".into(), json!(operation.id));
    if !operation.parameters.is_empty() {
        rendered.insert(
            "parameters".into(),
            operation.parameters.iter().map(parameter).collect(),
        );
    }
    if let Some((payload, content_types)) = &operation.body {
        rendered.insert(
            "requestBody".into(),
            json!({"content": content(payload, content_types), "required": true}),
        );
    }
    let mut responses = Map::new();
    for (code, description) in operation.codes {
        responses.insert(
            (*code).to_owned(),
            json!({"description": description, "content": content(&operation.response, operation.produces)}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    rendered.insert("responses".into(), Value::Object(responses));
    rendered.insert("x-kubernetes-action".into(), json!(operation.action));
    rendered.insert(
        "x-kubernetes-group-version-kind".into(),
        operation.kind.to_value(),
    );
    Value::Object(rendered)
}

fn content(payload: &Payload, content_types: &[&str]) -> Value {
    let schema = match payload {
        Payload::Definition(name) => reference(name),
        Payload::Text => json!({"type": "string"}),
    };
    let content: Map<String, Value> = content_types
        .iter()
        .map(|content_type| ((*content_type).to_owned(), json!({"schema": schema})))
        .collect();
    Value::Object(content)
}

fn parameter(parameter: &Parameter) -> Value {
    let kind = parameter.kind.as_str();
    let location = match parameter.location {
        Location::Path => "path",
        Location::Query => "query",
    };
    let mut rendered = Map::new();
    rendered.insert("name".into(), json!(parameter.name));
    rendered.insert("in".into(), json!(location));
    rendered.insert("description".into(), json!(parameter.description));
    if parameter.location == Location::Path {
        rendered.insert("required".into(), json!(true));
    }
    rendered.insert("schema".into(), json!({"type": kind, "uniqueItems": true}));
    Value::Object(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_VERBS: &[&str] = &[
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];

    fn core_kinds() -> Vec<KindDoc<'static>> {
        vec![
            KindDoc {
                group: "",
                version: "v1",
                kind: "ConfigMap",
                plural: "configmaps",
                namespaced: true,
                verbs: ALL_VERBS,
                subresources: &[],
                schema: None,
            },
            KindDoc {
                group: "",
                version: "v1",
                kind: "Namespace",
                plural: "namespaces",
                namespaced: false,
                verbs: ALL_VERBS,
                subresources: &["status", "finalize"],
                schema: None,
            },
            KindDoc {
                group: "apps",
                version: "v1",
                kind: "Deployment",
                plural: "deployments",
                namespaced: true,
                verbs: ALL_VERBS,
                subresources: &["status", "scale"],
                schema: None,
            },
        ]
    }

    #[test]
    fn index_points_at_hashed_documents() {
        let index = index(&[
            ("api/v1".into(), "AB12".into()),
            ("apis/apps/v1".into(), "CD".into()),
        ]);
        assert_eq!(
            index,
            json!({"paths": {
                "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=AB12"},
                "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=CD"},
            }})
        );
    }

    #[test]
    fn document_has_only_its_group_version() {
        let document = document("", "v1", &core_kinds());
        let paths = document["paths"]
            .as_object()
            .map(|p| p.keys().cloned().collect::<Vec<_>>());
        let paths = paths.unwrap_or_default();
        assert!(paths.contains(&"/api/v1/namespaces/{namespace}/configmaps/{name}".to_owned()));
        assert!(paths.contains(&"/api/v1/namespaces/{name}/finalize".to_owned()));
        assert!(paths.iter().all(|p| p.starts_with("/api/v1/")), "{paths:?}");
        assert!(document["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"].is_object());
        assert!(document["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_null());
    }

    #[test]
    fn patch_operation_as_kubectl_reads_it() {
        let document = document("apps", "v1", &core_kinds());
        let patch =
            &document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        assert_eq!(patch["x-kubernetes-action"], json!("patch"));
        let parameters = patch["parameters"].as_array().cloned().unwrap_or_default();
        assert!(
            parameters
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        let content = &patch["requestBody"]["content"];
        assert!(content["application/strategic-merge-patch+json"].is_object());
        assert_eq!(
            content["application/merge-patch+json"]["schema"]["$ref"],
            json!("#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
        );
        assert_eq!(
            patch["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            json!("#/components/schemas/io.k8s.api.apps.v1.Deployment")
        );
    }

    #[test]
    fn every_reference_in_a_document_resolves() {
        let document = document("apps", "v1", &core_kinds());
        let schemas = &document["components"]["schemas"];
        let text = document.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(
                schemas[name].is_object(),
                "{name} is referenced but missing"
            );
        }
        assert!(
            schemas["io.k8s.api.autoscaling.v1.Scale"]["x-kubernetes-group-version-kind"]
                .is_array()
        );
    }

    #[test]
    fn path_parameters_are_required() {
        let document = document("", "v1", &core_kinds());
        let item = &document["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"];
        assert_eq!(
            item["parameters"][0],
            json!({"name": "name", "in": "path", "required": true, "description": "name of the object", "schema": {"type": "string", "uniqueItems": true}})
        );
        assert_eq!(item["parameters"][1]["name"], json!("namespace"));
        assert_eq!(item["parameters"][2]["name"], json!("pretty"));
    }
}
