//! The operations of subresources (`…/{name}/<subresource>`), each named as upstream names
//! them: `status` and the like read and write the parent object, `scale` an autoscaling/v1
//! Scale, `log` answers text, `exec`/`attach`/`portforward`/`proxy` are connect actions,
//! `eviction`/`binding`/`token` create an object of their own kind.

use super::operations::{
    ANY_BODY, Builder, CREATED, Method, Operation, Payload, TEXT, WRITTEN, capitalized,
};
use super::parameters::{self, Parameter};
use super::schemas::{Components, GroupVersionKind};

/// The operations of `subresource` of the builder's kind; none when the subresource's kind has
/// no schema.
pub(super) fn operations(
    builder: &Builder,
    subresource: &str,
    components: &mut Components,
) -> Vec<Operation> {
    let kind = builder.kind.kind;
    let suffix = capitalized(subresource);
    match subresource {
        "scale" => {
            let scale = GroupVersionKind::new("autoscaling", "v1", "Scale");
            let Some(definition) = components.add_subresource_kind(&scale) else {
                return Vec::new();
            };
            parent_object(builder, subresource, components)
                .into_iter()
                .map(|mut operation| {
                    operation.kind = scale.clone();
                    operation.response = Payload::Definition(definition.clone());
                    if operation.method == Method::Put {
                        operation.body = Some((Payload::Definition(definition.clone()), ANY_BODY));
                    }
                    operation
                })
                .collect()
        }
        "log" => {
            let description = format!("read the log of the {kind}");
            let mut log =
                builder.operation(Method::Get, builder.id("read", &suffix), description, "get");
            log.parameters = parameters::LOG.to_vec();
            log.response = Payload::Text;
            log.produces = TEXT;
            vec![log]
        }
        "exec" | "attach" | "portforward" | "proxy" => connect(builder, subresource),
        "eviction" | "binding" | "token" => {
            let target = match subresource {
                "eviction" => GroupVersionKind::new("policy", "v1", "Eviction"),
                "binding" => GroupVersionKind::new("", "v1", "Binding"),
                _ => GroupVersionKind::new("authentication.k8s.io", "v1", "TokenRequest"),
            };
            let Some(definition) = components.add_subresource_kind(&target) else {
                return Vec::new();
            };
            let description = format!("create {subresource} for the {kind}");
            let mut create = builder.operation(
                Method::Post,
                builder.id("create", &suffix),
                description,
                "post",
            );
            create.kind = target;
            create.parameters = parameters::WRITE.to_vec();
            create.body = Some((Payload::Definition(definition.clone()), ANY_BODY));
            create.response = Payload::Definition(definition);
            create.codes = CREATED;
            vec![create]
        }
        "finalize" => {
            let description = format!("replace finalize of the {kind}");
            let mut replace = builder.operation(
                Method::Put,
                builder.id("replace", &suffix),
                description,
                "put",
            );
            replace.parameters = parameters::WRITE.to_vec();
            replace.body = Some((Payload::Definition(builder.schemas.kind.clone()), ANY_BODY));
            replace.codes = WRITTEN;
            vec![replace]
        }
        _ => parent_object(builder, subresource, components),
    }
}

/// GET, PUT and PATCH of a subresource that holds the parent object (status, approval,
/// ephemeralcontainers, resize, and any subresource kedge does not know).
fn parent_object(
    builder: &Builder,
    subresource: &str,
    components: &mut Components,
) -> Vec<Operation> {
    let kind = builder.kind.kind;
    let suffix = capitalized(subresource);
    let read = builder.operation(
        Method::Get,
        builder.id("read", &suffix),
        format!("read {subresource} of the {kind}"),
        "get",
    );
    let mut replace = builder.operation(
        Method::Put,
        builder.id("replace", &suffix),
        format!("replace {subresource} of the {kind}"),
        "put",
    );
    replace.parameters = parameters::WRITE.to_vec();
    replace.body = Some((read.response.clone(), ANY_BODY));
    replace.codes = WRITTEN;
    let patch = builder.operation(
        Method::Patch,
        builder.id("patch", &suffix),
        format!("patch {subresource} of the {kind}"),
        "patch",
    );
    vec![read, replace, builder.patch(patch, components)]
}

/// The connect operations of exec, attach, portforward and proxy: their kind is
/// `<Kind>ExecOptions` and the like, their answer a stream.
fn connect(builder: &Builder, subresource: &str) -> Vec<Operation> {
    let kind = builder.kind;
    let (parameters, options): (&[Parameter], &str) = match subresource {
        "exec" => (parameters::EXEC, "ExecOptions"),
        "attach" => (parameters::ATTACH, "AttachOptions"),
        "portforward" => (parameters::PORT_FORWARD, "PortForwardOptions"),
        _ => (parameters::PROXY, "ProxyOptions"),
    };
    let options =
        GroupVersionKind::new(kind.group, kind.version, &format!("{}{options}", kind.kind));
    let methods: &[(Method, &str)] = if subresource == "proxy" {
        &[
            (Method::Get, "Get"),
            (Method::Put, "Put"),
            (Method::Post, "Post"),
            (Method::Patch, "Patch"),
            (Method::Delete, "Delete"),
        ]
    } else {
        &[(Method::Get, "Get"), (Method::Post, "Post")]
    };
    let suffix = capitalized(subresource);
    methods
        .iter()
        .map(|(method, word)| {
            let id = format!(
                "connect{}{word}{}{}{suffix}",
                builder.group_version,
                builder.scope(),
                kind.kind
            );
            let description = format!("connect to {subresource} of the {}", kind.kind);
            let mut connect = builder.operation(*method, id, description, "connect");
            connect.kind = options.clone();
            connect.parameters = parameters.to_vec();
            connect.response = Payload::Text;
            connect.produces = TEXT;
            connect
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::openapi::KindDoc;
    use crate::api::openapi::operations::tests::routes_of;

    fn pod() -> KindDoc<'static> {
        KindDoc {
            group: "",
            version: "v1",
            kind: "Pod",
            plural: "pods",
            namespaced: true,
            verbs: &["get"],
            subresources: &["log", "exec", "eviction", "binding", "status"],
            schema: None,
        }
    }

    #[test]
    fn log_answers_text() {
        let routes = routes_of(&pod());
        let log = &routes[1];
        assert_eq!(log.path, "/api/v1/namespaces/{namespace}/pods/{name}/log");
        assert_eq!(log.operations[0].id, "readCoreV1NamespacedPodLog");
        assert_eq!(log.operations[0].response, Payload::Text);
        assert!(
            log.operations[0]
                .parameters
                .iter()
                .any(|p| p.name == "follow")
        );
    }

    #[test]
    fn exec_is_a_connect_action_of_pod_exec_options() {
        let routes = routes_of(&pod());
        let exec = &routes[2];
        let ids: Vec<&str> = exec.operations.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "connectCoreV1GetNamespacedPodExec",
                "connectCoreV1PostNamespacedPodExec"
            ]
        );
        assert_eq!(
            exec.operations[1].kind,
            GroupVersionKind::new("", "v1", "PodExecOptions")
        );
        assert_eq!(exec.operations[1].action, "connect");
    }

    #[test]
    fn eviction_and_binding_create_their_own_kinds() {
        let routes = routes_of(&pod());
        let eviction = &routes[3].operations[0];
        assert_eq!(
            eviction.kind,
            GroupVersionKind::new("policy", "v1", "Eviction")
        );
        assert_eq!(
            eviction.response,
            Payload::Definition("io.k8s.api.policy.v1.Eviction".into())
        );
        assert_eq!(
            routes[4].operations[0].id,
            "createCoreV1NamespacedPodBinding"
        );
    }

    #[test]
    fn status_reads_and_writes_the_parent() {
        let routes = routes_of(&pod());
        let status = &routes[5];
        let ids: Vec<&str> = status.operations.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "readCoreV1NamespacedPodStatus",
                "replaceCoreV1NamespacedPodStatus",
                "patchCoreV1NamespacedPodStatus"
            ]
        );
        assert!(
            status
                .operations
                .iter()
                .all(|o| o.kind == GroupVersionKind::new("", "v1", "Pod"))
        );
        assert!(
            status.operations[2]
                .parameters
                .iter()
                .any(|p| p.name == "fieldValidation")
        );
    }

    #[test]
    fn scale_reads_and_writes_a_scale() {
        let deployment = KindDoc {
            group: "apps",
            version: "v1",
            kind: "Deployment",
            plural: "deployments",
            namespaced: true,
            verbs: &[],
            subresources: &["scale"],
            schema: None,
        };
        let routes = routes_of(&deployment);
        assert_eq!(routes.len(), 1);
        let scale = GroupVersionKind::new("autoscaling", "v1", "Scale");
        let definition = Payload::Definition("io.k8s.api.autoscaling.v1.Scale".into());
        for operation in &routes[0].operations {
            assert_eq!(operation.kind, scale);
            assert_eq!(operation.response, definition);
        }
        assert_eq!(
            routes[0].operations[1].body.as_ref().map(|b| &b.0),
            Some(&definition)
        );
        assert_eq!(
            routes[0].operations[2].id,
            "patchAppsV1NamespacedDeploymentScale"
        );
    }
}
