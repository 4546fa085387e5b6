//! The built-in kinds, with upstream's plurals, short names, categories, verbs and
//! subresources, in upstream's discovery order.

use super::{ResourceInfo, Subresource};

const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE_ONLY: &[&str] = &["create"];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// A compact description of one kind; `sub` lists `name:Kind@group/version:verbs` shorthands.
struct Spec {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    verbs: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [(&'static str, &'static str, &'static [&'static str])],
    fields: &'static [&'static str],
    /// Stored under another kind's prefix (the same objects seen at another version).
    storage: Option<&'static str>,
}

const STATUS: (&str, &str, &[&str]) = ("status", "", GET_PATCH_UPDATE);
const SCALE: (&str, &str, &[&str]) = ("scale", "autoscaling/v1:Scale", GET_PATCH_UPDATE);

const fn spec(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
) -> Spec {
    Spec {
        group,
        version,
        kind,
        plural,
        short: &[],
        namespaced: true,
        verbs: CRUD,
        categories: &[],
        subresources: &[],
        fields: &[],
        storage: None,
    }
}

const fn cluster(mut s: Spec) -> Spec {
    s.namespaced = false;
    s
}

const SPECS: &[Spec] = &[
    // core/v1
    Spec {
        verbs: CREATE_ONLY,
        ..spec("", "v1", "Binding", "bindings")
    },
    Spec {
        short: &["cm"],
        ..spec("", "v1", "ConfigMap", "configmaps")
    },
    Spec {
        short: &["ep"],
        ..spec("", "v1", "Endpoints", "endpoints")
    },
    Spec {
        short: &["ev"],
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ..spec("", "v1", "Event", "events")
    },
    Spec {
        short: &["limits"],
        ..spec("", "v1", "LimitRange", "limitranges")
    },
    Spec {
        short: &["ns"],
        subresources: &[("finalize", "", &["update"]), STATUS],
        fields: &["status.phase"],
        ..cluster(spec("", "v1", "Namespace", "namespaces"))
    },
    Spec {
        short: &["no"],
        subresources: &[
            ("proxy", "", &["create", "delete", "get", "patch", "update"]),
            STATUS,
        ],
        fields: &["spec.unschedulable"],
        ..cluster(spec("", "v1", "Node", "nodes"))
    },
    Spec {
        short: &["pvc"],
        subresources: &[STATUS],
        ..spec("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
    },
    Spec {
        short: &["pv"],
        subresources: &[STATUS],
        ..cluster(spec("", "v1", "PersistentVolume", "persistentvolumes"))
    },
    Spec {
        short: &["po"],
        categories: &["all"],
        subresources: &[
            ("attach", "", &["create", "get"]),
            ("binding", "v1:Binding", CREATE_ONLY),
            ("ephemeralcontainers", "", GET_PATCH_UPDATE),
            ("eviction", "policy/v1:Eviction", CREATE_ONLY),
            ("exec", "", &["create", "get"]),
            ("log", "", &["get"]),
            ("portforward", "", &["create", "get"]),
            ("proxy", "", &["create", "delete", "get", "patch", "update"]),
            ("resize", "", GET_PATCH_UPDATE),
            STATUS,
        ],
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ..spec("", "v1", "Pod", "pods")
    },
    spec("", "v1", "PodTemplate", "podtemplates"),
    Spec {
        short: &["rc"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        fields: &["status.replicas"],
        ..spec("", "v1", "ReplicationController", "replicationcontrollers")
    },
    Spec {
        short: &["quota"],
        subresources: &[STATUS],
        ..spec("", "v1", "ResourceQuota", "resourcequotas")
    },
    Spec {
        fields: &["type"],
        ..spec("", "v1", "Secret", "secrets")
    },
    Spec {
        short: &["sa"],
        subresources: &[(
            "token",
            "authentication.k8s.io/v1:TokenRequest",
            CREATE_ONLY,
        )],
        ..spec("", "v1", "ServiceAccount", "serviceaccounts")
    },
    Spec {
        short: &["svc"],
        categories: &["all"],
        subresources: &[
            ("proxy", "", &["create", "delete", "get", "patch", "update"]),
            STATUS,
        ],
        fields: &["spec.clusterIP", "spec.type"],
        ..spec("", "v1", "Service", "services")
    },
    // apiextensions.k8s.io/v1
    Spec {
        short: &["crd", "crds"],
        categories: &["api-extensions"],
        subresources: &[STATUS],
        ..cluster(spec(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        ))
    },
    // apps/v1
    spec("apps", "v1", "ControllerRevision", "controllerrevisions"),
    Spec {
        short: &["ds"],
        categories: &["all"],
        subresources: &[STATUS],
        ..spec("apps", "v1", "DaemonSet", "daemonsets")
    },
    Spec {
        short: &["deploy"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        ..spec("apps", "v1", "Deployment", "deployments")
    },
    Spec {
        short: &["rs"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        fields: &["status.replicas"],
        ..spec("apps", "v1", "ReplicaSet", "replicasets")
    },
    Spec {
        short: &["sts"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        ..spec("apps", "v1", "StatefulSet", "statefulsets")
    },
    // authentication.k8s.io/v1
    Spec {
        verbs: CREATE_ONLY,
        ..cluster(spec(
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
            "selfsubjectreviews",
        ))
    },
    Spec {
        verbs: CREATE_ONLY,
        ..cluster(spec(
            "authentication.k8s.io",
            "v1",
            "TokenReview",
            "tokenreviews",
        ))
    },
    // authorization.k8s.io/v1
    Spec {
        verbs: CREATE_ONLY,
        ..spec(
            "authorization.k8s.io",
            "v1",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
        )
    },
    Spec {
        verbs: CREATE_ONLY,
        ..cluster(spec(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
        ))
    },
    Spec {
        verbs: CREATE_ONLY,
        ..cluster(spec(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
        ))
    },
    Spec {
        verbs: CREATE_ONLY,
        ..cluster(spec(
            "authorization.k8s.io",
            "v1",
            "SubjectAccessReview",
            "subjectaccessreviews",
        ))
    },
    // autoscaling/v2
    Spec {
        short: &["hpa"],
        categories: &["all"],
        subresources: &[STATUS],
        ..spec(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
        )
    },
    // batch/v1
    Spec {
        short: &["cj"],
        categories: &["all"],
        subresources: &[STATUS],
        ..spec("batch", "v1", "CronJob", "cronjobs")
    },
    Spec {
        categories: &["all"],
        subresources: &[STATUS],
        fields: &["status.successful"],
        ..spec("batch", "v1", "Job", "jobs")
    },
    // certificates.k8s.io/v1
    Spec {
        short: &["csr"],
        subresources: &[("approval", "", GET_PATCH_UPDATE), STATUS],
        fields: &["spec.signerName"],
        ..cluster(spec(
            "certificates.k8s.io",
            "v1",
            "CertificateSigningRequest",
            "certificatesigningrequests",
        ))
    },
    // coordination.k8s.io/v1
    spec("coordination.k8s.io", "v1", "Lease", "leases"),
    // discovery.k8s.io/v1
    spec("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    // events.k8s.io/v1: the same objects as core/v1 events, in another shape.
    Spec {
        short: &["ev"],
        fields: &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        storage: Some("/registry/core/events/"),
        ..spec("events.k8s.io", "v1", "Event", "events")
    },
    // networking.k8s.io/v1
    cluster(spec(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
    )),
    Spec {
        short: &["ing"],
        subresources: &[STATUS],
        ..spec("networking.k8s.io", "v1", "Ingress", "ingresses")
    },
    Spec {
        short: &["netpol"],
        ..spec(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
        )
    },
    // policy/v1
    Spec {
        short: &["pdb"],
        subresources: &[STATUS],
        ..spec(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
        )
    },
    // rbac.authorization.k8s.io/v1
    cluster(spec(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    )),
    cluster(spec(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
    )),
    spec(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
    ),
    spec("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    // scheduling.k8s.io/v1
    Spec {
        short: &["pc"],
        ..cluster(spec(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
        ))
    },
    // storage.k8s.io/v1
    cluster(spec("storage.k8s.io", "v1", "CSIDriver", "csidrivers")),
    cluster(spec("storage.k8s.io", "v1", "CSINode", "csinodes")),
    Spec {
        short: &["sc"],
        ..cluster(spec(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
        ))
    },
    Spec {
        subresources: &[STATUS],
        ..cluster(spec(
            "storage.k8s.io",
            "v1",
            "VolumeAttachment",
            "volumeattachments",
        ))
    },
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn build(spec: &Spec) -> ResourceInfo {
    let group_prefix = if spec.group.is_empty() {
        "core"
    } else {
        spec.group
    };
    let subresources = spec
        .subresources
        .iter()
        .map(|(name, target, verbs)| {
            // `target` is "group/version:Kind", "version:Kind" or "" for the kind itself.
            let (gv, kind) = target.split_once(':').unwrap_or(("", ""));
            let (group, version) = match gv.split_once('/') {
                Some((g, v)) => (g.to_string(), v.to_string()),
                None if gv.is_empty() => (spec.group.to_string(), spec.version.to_string()),
                None => (String::new(), gv.to_string()),
            };
            Subresource {
                name: name.to_string(),
                group,
                version,
                kind: if kind.is_empty() {
                    spec.kind.to_string()
                } else {
                    kind.to_string()
                },
                verbs: strings(verbs),
            }
        })
        .collect();
    ResourceInfo {
        group: spec.group.to_string(),
        version: spec.version.to_string(),
        kind: spec.kind.to_string(),
        plural: spec.plural.to_string(),
        singular: spec.kind.to_lowercase(),
        short_names: strings(spec.short),
        namespaced: spec.namespaced,
        verbs: strings(spec.verbs),
        categories: strings(spec.categories),
        subresources,
        selectable_fields: strings(spec.fields),
        storage_prefix: spec
            .storage
            .map(str::to_string)
            .unwrap_or_else(|| format!("/registry/{group_prefix}/{}/", spec.plural)),
        custom: None,
    }
}

pub(super) fn resources() -> Vec<ResourceInfo> {
    SPECS.iter().map(build).collect()
}
