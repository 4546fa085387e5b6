//! The paths and operations that describe one kind, independent of the OpenAPI version that
//! renders them: the collection and item paths (namespaced kinds also get the list across all
//! namespaces) with one operation per verb the kind allows, then the subresources' paths.
//! Every operation names its kind (`x-kubernetes-group-version-kind`) and action
//! (`x-kubernetes-action`); PATCH declares `fieldValidation`, which is how kubectl decides to
//! let the server validate.

use super::KindDoc;
use super::parameters::{self, NAME, NAMESPACE, PRETTY, Parameter};
use super::schemas::{Components, GroupVersionKind, KindSchemas};
use super::subresources;

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Put,
    Post,
    Patch,
    Delete,
}

/// What a request body or answer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Payload {
    /// An object of the named definition.
    Definition(String),
    /// Text (logs, streams).
    Text,
}

/// One operation of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Operation {
    pub method: Method,
    pub id: String,
    pub description: String,
    pub tag: String,
    /// `x-kubernetes-action`: get, list, post, put, patch, delete, deletecollection, connect.
    pub action: &'static str,
    pub kind: GroupVersionKind,
    pub parameters: Vec<Parameter>,
    /// The request body and the content types it may have.
    pub body: Option<(Payload, &'static [&'static str])>,
    /// The answer, its success codes (with their descriptions) and content types.
    pub response: Payload,
    pub codes: &'static [(&'static str, &'static str)],
    pub produces: &'static [&'static str],
}

/// One path and its operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Route {
    pub path: String,
    /// Parameters of every operation of the path.
    pub parameters: Vec<Parameter>,
    pub operations: Vec<Operation>,
}

/// Content types of PATCH bodies for built-in kinds.
pub(super) const BUILT_IN_PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
/// Content types of PATCH bodies for custom resources: no strategic merge patch, which is
/// what makes kubectl send them merge patches.
pub(super) const CUSTOM_PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
];
pub(super) const ANY_BODY: &[&str] = &["*/*"];
pub(super) const JSON: &[&str] = &["application/json"];
pub(super) const JSON_OR_WATCH: &[&str] = &["application/json", "application/json;stream=watch"];
pub(super) const TEXT: &[&str] = &["text/plain", "*/*"];

pub(super) const OK: &[(&str, &str)] = &[("200", "OK")];
pub(super) const WRITTEN: &[(&str, &str)] = &[("200", "OK"), ("201", "Created")];
pub(super) const CREATED: &[(&str, &str)] =
    &[("200", "OK"), ("201", "Created"), ("202", "Accepted")];
pub(super) const DELETED: &[(&str, &str)] = &[("200", "OK"), ("202", "Accepted")];

/// Builds the operations of one kind: names them and fills in what they share.
pub(super) struct Builder<'a> {
    pub kind: &'a KindDoc<'a>,
    pub schemas: &'a KindSchemas,
    /// `AppsV1`, `CoreV1`, `RbacAuthorizationV1`: the middle of operation ids.
    pub group_version: String,
    /// `apps_v1`, `core_v1`, `rbacAuthorization_v1`.
    tag: String,
}

impl<'a> Builder<'a> {
    pub fn new(kind: &'a KindDoc<'a>, schemas: &'a KindSchemas) -> Builder<'a> {
        let group = match kind.group {
            "" => "core",
            group => group.strip_suffix(".k8s.io").unwrap_or(group),
        };
        let camel: String = group.split(['.', '-']).map(capitalized).collect();
        let mut chars = camel.chars();
        let first = chars.next().into_iter().flat_map(char::to_lowercase);
        let tag = format!(
            "{}_{}",
            first.chain(chars).collect::<String>(),
            kind.version
        );
        Builder {
            kind,
            schemas,
            group_version: format!("{camel}{}", capitalized(kind.version)),
            tag,
        }
    }

    /// `Namespaced` for namespaced kinds, else empty: part of operation ids.
    pub fn scope(&self) -> &'static str {
        if self.kind.namespaced {
            "Namespaced"
        } else {
            ""
        }
    }

    /// `readAppsV1NamespacedDeploymentStatus` and the like.
    pub fn id(&self, verb: &str, suffix: &str) -> String {
        format!(
            "{verb}{}{}{}{suffix}",
            self.group_version,
            self.scope(),
            self.kind.kind
        )
    }

    /// An operation on the kind's objects, answering one; callers adjust the rest.
    pub fn operation(
        &self,
        method: Method,
        id: String,
        description: String,
        action: &'static str,
    ) -> Operation {
        Operation {
            method,
            id,
            description,
            tag: self.tag.clone(),
            action,
            kind: GroupVersionKind::new(self.kind.group, self.kind.version, self.kind.kind),
            parameters: Vec::new(),
            body: None,
            response: Payload::Definition(self.schemas.kind.clone()),
            codes: OK,
            produces: JSON,
        }
    }

    /// Makes `patch` a PATCH: its parameters (`fieldValidation` among them) and body.
    pub fn patch(&self, mut patch: Operation, components: &mut Components) -> Operation {
        let types = if self.schemas.built_in {
            BUILT_IN_PATCH_TYPES
        } else {
            CUSTOM_PATCH_TYPES
        };
        patch.parameters = parameters::PATCH.to_vec();
        patch.body = Some((Payload::Definition(components.add_patch()), types));
        patch.codes = WRITTEN;
        patch
    }

    fn list(&self, id: String, description: String) -> Operation {
        let mut list = self.operation(Method::Get, id, description, "list");
        list.parameters = parameters::LIST.to_vec();
        list.response = Payload::Definition(self.schemas.list.clone());
        list.produces = JSON_OR_WATCH;
        list
    }

    fn write(
        &self,
        method: Method,
        verb: &str,
        description: String,
        action: &'static str,
    ) -> Operation {
        let mut write = self.operation(method, self.id(verb, ""), description, action);
        write.parameters = parameters::WRITE.to_vec();
        write.body = Some((Payload::Definition(self.schemas.kind.clone()), ANY_BODY));
        write.codes = if method == Method::Post {
            CREATED
        } else {
            WRITTEN
        };
        write
    }

    fn delete(
        &self,
        id: String,
        description: String,
        action: &'static str,
        components: &mut Components,
    ) -> Operation {
        let mut delete = self.operation(Method::Delete, id, description, action);
        let options = components.add_delete_options(self.kind.group, self.kind.version);
        delete.body = Some((Payload::Definition(options), ANY_BODY));
        delete.response = Payload::Definition(components.add_status());
        delete
    }
}

pub(super) fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The routes of `kind`, whose schemas `schemas` names; the schemas that operations refer to
/// (DeleteOptions, Status, Patch, Scale, …) are added to `components`.
pub(super) fn routes(
    kind: &KindDoc,
    schemas: &KindSchemas,
    components: &mut Components,
) -> Vec<Route> {
    let builder = Builder::new(kind, schemas);
    let name = kind.kind;
    let allows = |verb: &str| kind.verbs.contains(&verb);
    let prefix = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    let (collection, scope) = if kind.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural),
            vec![NAMESPACE, PRETTY],
        )
    } else {
        (format!("{prefix}/{}", kind.plural), vec![PRETTY])
    };
    let mut routes = Vec::new();

    let mut on_collection = Vec::new();
    if allows("list") || allows("watch") {
        on_collection.push(builder.list(
            builder.id("list", ""),
            format!("list or watch {name} objects"),
        ));
    }
    if allows("create") {
        on_collection.push(builder.write(
            Method::Post,
            "create",
            format!("create a {name}"),
            "post",
        ));
    }
    if allows("deletecollection") {
        let id = format!(
            "delete{}Collection{}{name}",
            builder.group_version,
            builder.scope()
        );
        let description = format!("delete a collection of {name} objects");
        let mut delete = builder.delete(id, description, "deletecollection", components);
        delete.parameters = parameters::delete_collection();
        on_collection.push(delete);
    }
    push(
        &mut routes,
        collection.clone(),
        scope.clone(),
        on_collection,
    );

    if kind.namespaced && (allows("list") || allows("watch")) {
        let id = format!("list{}{name}ForAllNamespaces", builder.group_version);
        let list = builder.list(
            id,
            format!("list or watch {name} objects in every namespace"),
        );
        push(
            &mut routes,
            format!("{prefix}/{}", kind.plural),
            vec![PRETTY],
            vec![list],
        );
    }

    let item = format!("{collection}/{{name}}");
    let item_scope: Vec<Parameter> = [NAME].into_iter().chain(scope).collect();
    let mut on_item = Vec::new();
    if allows("get") {
        on_item.push(builder.operation(
            Method::Get,
            builder.id("read", ""),
            format!("read the {name}"),
            "get",
        ));
    }
    if allows("update") {
        on_item.push(builder.write(Method::Put, "replace", format!("replace the {name}"), "put"));
    }
    if allows("patch") {
        let patch = builder.operation(
            Method::Patch,
            builder.id("patch", ""),
            format!("patch the {name}"),
            "patch",
        );
        on_item.push(builder.patch(patch, components));
    }
    if allows("delete") {
        let mut delete = builder.delete(
            builder.id("delete", ""),
            format!("delete the {name}"),
            "delete",
            components,
        );
        delete.parameters = parameters::DELETE.to_vec();
        delete.codes = DELETED;
        on_item.push(delete);
    }
    push(&mut routes, item.clone(), item_scope.clone(), on_item);

    for subresource in kind.subresources {
        let operations = subresources::operations(&builder, subresource, components);
        push(
            &mut routes,
            format!("{item}/{subresource}"),
            item_scope.clone(),
            operations,
        );
    }
    routes
}

fn push(
    routes: &mut Vec<Route>,
    path: String,
    parameters: Vec<Parameter>,
    operations: Vec<Operation>,
) {
    if !operations.is_empty() {
        routes.push(Route {
            path,
            parameters,
            operations,
        });
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::api::openapi::parameters::Location;

    pub(in crate::api::openapi) fn routes_of(kind: &KindDoc) -> Vec<Route> {
        let mut components = Components::new();
        let schemas = components.add_kind(kind);
        routes(kind, &schemas, &mut components)
    }

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

    #[test]
    fn namespaced_kind_has_collection_item_all_namespaces_and_subresources() {
        let routes = routes_of(&deployment());
        let paths: Vec<&str> = routes.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/apis/apps/v1/namespaces/{namespace}/deployments",
                "/apis/apps/v1/deployments",
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
            ]
        );
        let ids: Vec<&str> = routes[2].operations.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "readAppsV1NamespacedDeployment",
                "replaceAppsV1NamespacedDeployment",
                "patchAppsV1NamespacedDeployment",
                "deleteAppsV1NamespacedDeployment",
            ]
        );
        assert_eq!(
            routes[0].operations[1].id,
            "createAppsV1NamespacedDeployment"
        );
        assert_eq!(
            routes[0].operations[2].id,
            "deleteAppsV1CollectionNamespacedDeployment"
        );
        assert_eq!(
            routes[1].operations[0].id,
            "listAppsV1DeploymentForAllNamespaces"
        );
        assert_eq!(routes[2].parameters, vec![NAME, NAMESPACE, PRETTY]);
    }

    #[test]
    fn patch_declares_field_validation_and_strategic_merge_for_built_ins() {
        let routes = routes_of(&deployment());
        let patch = routes[2]
            .operations
            .iter()
            .find(|o| o.method == Method::Patch);
        let Some(patch) = patch else {
            panic!("no patch operation")
        };
        assert_eq!(patch.action, "patch");
        assert_eq!(
            patch.kind,
            GroupVersionKind::new("apps", "v1", "Deployment")
        );
        assert!(
            patch
                .parameters
                .iter()
                .any(|p| p.name == "fieldValidation" && p.location == Location::Query)
        );
        assert_eq!(patch.body.as_ref().map(|b| b.1), Some(BUILT_IN_PATCH_TYPES));
    }

    #[test]
    fn verbs_decide_operations_and_cluster_scope_has_no_namespace() {
        let schema = serde_json::json!({"type": "object"});
        let kind = KindDoc {
            group: "example.com",
            version: "v1",
            kind: "Widget",
            plural: "widgets",
            namespaced: false,
            verbs: &["get", "patch"],
            subresources: &[],
            schema: Some(&schema),
        };
        let routes = routes_of(&kind);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].path, "/apis/example.com/v1/widgets/{name}");
        assert_eq!(routes[0].parameters, vec![NAME, PRETTY]);
        let methods: Vec<Method> = routes[0].operations.iter().map(|o| o.method).collect();
        assert_eq!(methods, [Method::Get, Method::Patch]);
        assert_eq!(routes[0].operations[1].id, "patchExampleComV1Widget");
        assert_eq!(
            routes[0].operations[1].body.as_ref().map(|b| b.1),
            Some(CUSTOM_PATCH_TYPES)
        );
    }

    #[test]
    fn group_names_in_operation_ids_and_tags() {
        let mut kind = deployment();
        kind.group = "rbac.authorization.k8s.io";
        let schemas = KindSchemas {
            kind: String::new(),
            list: String::new(),
            built_in: true,
        };
        let builder = Builder::new(&kind, &schemas);
        assert_eq!(
            builder.id("read", ""),
            "readRbacAuthorizationV1NamespacedDeployment"
        );
        assert_eq!(builder.tag, "rbacAuthorization_v1");
        kind.group = "";
        assert_eq!(Builder::new(&kind, &schemas).tag, "core_v1");
    }
}
