//! List and map merge metadata of the built-in kinds kedge serves: which lists merge by key,
//! which merge as sets, and which fields carry `retainKeys` or `replace`. Strategic merge patch
//! reads the `patchStrategy`/`patchMergeKey` facts; server-side apply reads the
//! `listType`/`listMapKey` facts, falling back to the patch facts where a list has no `listType`
//! (as upstream's OpenAPI-to-schema conversion does).
//!
//! Each upstream Go type is modelled once as a table of its fields that carry metadata (or lead
//! to one that does); `PodSpec` is one table reached from Pods, pod templates, workloads and
//! CronJobs alike. Lists and fields not in a table are atomic. Facts are those of Kubernetes 1.35.

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole (the default for lists without metadata).
    Atomic,
    /// A list of primitives merged as a set (patchStrategy merge without key; listType=set).
    Set,
    /// A list of objects merged by these key fields (patchMergeKey / listMapKeys).
    Map { keys: &'static [&'static str] },
}

/// What one field of a modelled type carries.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    /// Strategic merge patch behaviour of a list field.
    patch: ListKind,
    /// Server-side apply behaviour of a list field.
    apply: ListKind,
    /// `patchStrategy: retainKeys`: a patch may clear the fields it does not list.
    retain_keys: bool,
    /// `patchStrategy: replace` on an object field: a patch replaces it instead of merging.
    replace: bool,
    /// The field's own type, or its items' type for a list.
    ty: Type,
}

/// A modelled type: the fields that carry metadata or lead to one that does.
type Type = &'static [Field];

/// A type with no metadata anywhere below it.
const PLAIN: Type = &[];

const ATOMIC: ListKind = ListKind::Atomic;
const SET: ListKind = ListKind::Set;

const fn by(keys: &'static [&'static str]) -> ListKind {
    ListKind::Map { keys }
}

/// A field without list metadata of its own whose type has some below it.
const fn nested(name: &'static str, ty: Type) -> Field {
    Field {
        name,
        patch: ATOMIC,
        apply: ATOMIC,
        retain_keys: false,
        replace: false,
        ty,
    }
}

/// A list merged by the same key under strategic merge patch and server-side apply.
const fn keyed(name: &'static str, key: &'static [&'static str], ty: Type) -> Field {
    list(name, by(key), by(key), ty)
}

/// A list of primitives merged as a set under both.
const fn set(name: &'static str) -> Field {
    list(name, SET, SET, PLAIN)
}

/// A list whose strategic merge and server-side apply behaviours are given apart.
const fn list(name: &'static str, patch: ListKind, apply: ListKind, ty: Type) -> Field {
    Field {
        name,
        patch,
        apply,
        retain_keys: false,
        replace: false,
        ty,
    }
}

impl Field {
    const fn retaining_keys(self) -> Field {
        Field {
            retain_keys: true,
            ..self
        }
    }

    const fn replaced(self) -> Field {
        Field {
            replace: true,
            ..self
        }
    }
}

// meta/v1

/// `ObjectMeta`: ownerReferences by uid, finalizers a set.
static OBJECT_META: Type = &[keyed("ownerReferences", &["uid"], PLAIN), set("finalizers")];

/// Kinds whose only metadata is their `ObjectMeta`.
static METADATA_ONLY: Type = &[nested("metadata", OBJECT_META)];

/// Status types whose only metadata is `conditions` merged by type.
static CONDITIONS_BY_TYPE: Type = &[keyed("conditions", &["type"], PLAIN)];

// core/v1

static PERSISTENT_VOLUME_CLAIM_TEMPLATE: Type = &[nested("metadata", OBJECT_META)];

static EPHEMERAL_VOLUME_SOURCE: Type = &[nested(
    "volumeClaimTemplate",
    PERSISTENT_VOLUME_CLAIM_TEMPLATE,
)];

/// `Volume` with its inlined `VolumeSource`.
static VOLUME: Type = &[nested("ephemeral", EPHEMERAL_VOLUME_SOURCE)];

static RESOURCE_REQUIREMENTS: Type = &[list("claims", ATOMIC, by(&["name"]), PLAIN)];

/// `ContainerRestartRuleOnExitCodes` and batch's `PodFailurePolicyOnExitCodesRequirement`.
static EXIT_CODE_VALUES: Type = &[list("values", ATOMIC, SET, PLAIN)];

static CONTAINER_RESTART_RULE: Type = &[nested("exitCodes", EXIT_CODE_VALUES)];

/// `Container`, and `EphemeralContainer` (whose inlined common part carries the same metadata).
static CONTAINER: Type = &[
    list(
        "ports",
        by(&["containerPort"]),
        by(&["containerPort", "protocol"]),
        PLAIN,
    ),
    keyed("env", &["name"], PLAIN),
    nested("resources", RESOURCE_REQUIREMENTS),
    nested("restartPolicyRules", CONTAINER_RESTART_RULE),
    keyed("volumeMounts", &["mountPath"], PLAIN),
    keyed("volumeDevices", &["devicePath"], PLAIN),
];

static POD_SPEC: Type = &[
    keyed("volumes", &["name"], VOLUME).retaining_keys(),
    keyed("initContainers", &["name"], CONTAINER),
    keyed("containers", &["name"], CONTAINER),
    keyed("ephemeralContainers", &["name"], CONTAINER),
    keyed("imagePullSecrets", &["name"], PLAIN),
    keyed("hostAliases", &["ip"], PLAIN),
    list(
        "topologySpreadConstraints",
        by(&["topologyKey"]),
        by(&["topologyKey", "whenUnsatisfiable"]),
        PLAIN,
    ),
    keyed("schedulingGates", &["name"], PLAIN),
    keyed("resourceClaims", &["name"], PLAIN).retaining_keys(),
    nested("resources", RESOURCE_REQUIREMENTS),
];

static RESOURCE_STATUS: Type = &[list("resources", ATOMIC, by(&["resourceID"]), PLAIN)];

/// `ContainerStatus`; the status lists holding it are atomic.
static CONTAINER_STATUS: Type = &[
    nested("resources", RESOURCE_REQUIREMENTS),
    keyed("volumeMounts", &["mountPath"], PLAIN),
    keyed("allocatedResourcesStatus", &["name"], RESOURCE_STATUS),
];

static POD_STATUS: Type = &[
    keyed("conditions", &["type"], PLAIN),
    list("hostIPs", by(&["ip"]), ATOMIC, PLAIN),
    keyed("podIPs", &["ip"], PLAIN),
    nested("initContainerStatuses", CONTAINER_STATUS),
    nested("containerStatuses", CONTAINER_STATUS),
    nested("ephemeralContainerStatuses", CONTAINER_STATUS),
    keyed("resourceClaimStatuses", &["name"], PLAIN).retaining_keys(),
    nested("resources", RESOURCE_REQUIREMENTS),
];

static POD: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", POD_SPEC),
    nested("status", POD_STATUS),
];

static POD_TEMPLATE_SPEC: Type = &[nested("metadata", OBJECT_META), nested("spec", POD_SPEC)];

static POD_TEMPLATE: Type = &[
    nested("metadata", OBJECT_META),
    nested("template", POD_TEMPLATE_SPEC),
];

static SERVICE_SPEC: Type = &[list(
    "ports",
    by(&["port"]),
    by(&["port", "protocol"]),
    PLAIN,
)];

static SERVICE: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", SERVICE_SPEC),
    nested("status", CONDITIONS_BY_TYPE),
];

static SERVICE_ACCOUNT: Type = &[
    nested("metadata", OBJECT_META),
    keyed("secrets", &["name"], PLAIN),
];

static NAMESPACE: Type = &[
    nested("metadata", OBJECT_META),
    nested("status", CONDITIONS_BY_TYPE),
];

static NODE_SPEC: Type = &[set("podCIDRs")];

static NODE_STATUS: Type = &[
    keyed("conditions", &["type"], PLAIN),
    keyed("addresses", &["type"], PLAIN),
];

static NODE: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", NODE_SPEC),
    nested("status", NODE_STATUS),
];

static PERSISTENT_VOLUME_CLAIM: Type = &[
    nested("metadata", OBJECT_META),
    nested("status", CONDITIONS_BY_TYPE),
];

/// `ReplicationControllerSpec`, `ReplicaSetSpec` and `DaemonSetSpec`: only the pod template.
static TEMPLATED_SPEC: Type = &[nested("template", POD_TEMPLATE_SPEC)];

/// ReplicationController, ReplicaSet and DaemonSet: a pod template and status conditions.
static TEMPLATED_WORKLOAD: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", TEMPLATED_SPEC),
    nested("status", CONDITIONS_BY_TYPE),
];

// apps/v1

static DEPLOYMENT_SPEC: Type = &[
    nested("template", POD_TEMPLATE_SPEC),
    nested("strategy", PLAIN).retaining_keys(),
];

static DEPLOYMENT: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", DEPLOYMENT_SPEC),
    nested("status", CONDITIONS_BY_TYPE),
];

static STATEFUL_SET_SPEC: Type = &[
    nested("template", POD_TEMPLATE_SPEC),
    nested("volumeClaimTemplates", PERSISTENT_VOLUME_CLAIM),
];

static STATEFUL_SET: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", STATEFUL_SET_SPEC),
    nested("status", CONDITIONS_BY_TYPE),
];

// batch/v1

static POD_FAILURE_POLICY_RULE: Type = &[nested("onExitCodes", EXIT_CODE_VALUES)];

static POD_FAILURE_POLICY: Type = &[nested("rules", POD_FAILURE_POLICY_RULE)];

static JOB_SPEC: Type = &[
    nested("podFailurePolicy", POD_FAILURE_POLICY),
    nested("template", POD_TEMPLATE_SPEC),
];

static UNCOUNTED_TERMINATED_PODS: Type = &[
    list("succeeded", ATOMIC, SET, PLAIN),
    list("failed", ATOMIC, SET, PLAIN),
];

static JOB_STATUS: Type = &[
    list("conditions", by(&["type"]), ATOMIC, PLAIN),
    nested("uncountedTerminatedPods", UNCOUNTED_TERMINATED_PODS),
];

static JOB: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", JOB_SPEC),
    nested("status", JOB_STATUS),
];

static JOB_TEMPLATE_SPEC: Type = &[nested("metadata", OBJECT_META), nested("spec", JOB_SPEC)];

static CRON_JOB_SPEC: Type = &[nested("jobTemplate", JOB_TEMPLATE_SPEC)];

static CRON_JOB: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", CRON_JOB_SPEC),
];

// autoscaling/v2, discovery/v1, storage/v1, policy/v1, certificates/v1

static HORIZONTAL_POD_AUTOSCALER: Type = &[
    nested("metadata", OBJECT_META),
    nested("status", CONDITIONS_BY_TYPE),
];

static ENDPOINT: Type = &[list("addresses", ATOMIC, SET, PLAIN)];

static ENDPOINT_SLICE: Type = &[
    nested("metadata", OBJECT_META),
    nested("endpoints", ENDPOINT),
];

static CSI_DRIVER_SPEC: Type = &[list("volumeLifecycleModes", ATOMIC, SET, PLAIN)];

static CSI_DRIVER: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", CSI_DRIVER_SPEC),
];

static CSI_NODE_SPEC: Type = &[keyed("drivers", &["name"], PLAIN)];

static CSI_NODE: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", CSI_NODE_SPEC),
];

static POD_DISRUPTION_BUDGET_SPEC: Type = &[nested("selector", PLAIN).replaced()];

static POD_DISRUPTION_BUDGET: Type = &[
    nested("metadata", OBJECT_META),
    nested("spec", POD_DISRUPTION_BUDGET_SPEC),
    nested("status", CONDITIONS_BY_TYPE),
];

static CERTIFICATE_SIGNING_REQUEST_STATUS: Type =
    &[list("conditions", ATOMIC, by(&["type"]), PLAIN)];

static CERTIFICATE_SIGNING_REQUEST: Type = &[
    nested("metadata", OBJECT_META),
    nested("status", CERTIFICATE_SIGNING_REQUEST_STATUS),
];

/// Every kind the table knows, by API group (`""` for core) and kind.
static KINDS: &[(&str, &str, Type)] = &[
    ("", "Pod", POD),
    ("", "Service", SERVICE),
    ("", "Endpoints", METADATA_ONLY),
    ("", "ConfigMap", METADATA_ONLY),
    ("", "Secret", METADATA_ONLY),
    ("", "ServiceAccount", SERVICE_ACCOUNT),
    ("", "Namespace", NAMESPACE),
    ("", "Node", NODE),
    ("", "Event", METADATA_ONLY),
    ("", "PersistentVolume", METADATA_ONLY),
    ("", "PersistentVolumeClaim", PERSISTENT_VOLUME_CLAIM),
    ("", "LimitRange", METADATA_ONLY),
    ("", "ResourceQuota", METADATA_ONLY),
    ("", "PodTemplate", POD_TEMPLATE),
    ("", "ReplicationController", TEMPLATED_WORKLOAD),
    ("apps", "Deployment", DEPLOYMENT),
    ("apps", "ReplicaSet", TEMPLATED_WORKLOAD),
    ("apps", "StatefulSet", STATEFUL_SET),
    ("apps", "DaemonSet", TEMPLATED_WORKLOAD),
    ("apps", "ControllerRevision", METADATA_ONLY),
    ("batch", "Job", JOB),
    ("batch", "CronJob", CRON_JOB),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        HORIZONTAL_POD_AUTOSCALER,
    ),
    ("coordination.k8s.io", "Lease", METADATA_ONLY),
    ("discovery.k8s.io", "EndpointSlice", ENDPOINT_SLICE),
    ("networking.k8s.io", "Ingress", METADATA_ONLY),
    ("networking.k8s.io", "IngressClass", METADATA_ONLY),
    ("networking.k8s.io", "NetworkPolicy", METADATA_ONLY),
    ("rbac.authorization.k8s.io", "Role", METADATA_ONLY),
    ("rbac.authorization.k8s.io", "ClusterRole", METADATA_ONLY),
    ("rbac.authorization.k8s.io", "RoleBinding", METADATA_ONLY),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        METADATA_ONLY,
    ),
    ("storage.k8s.io", "StorageClass", METADATA_ONLY),
    ("storage.k8s.io", "CSIDriver", CSI_DRIVER),
    ("storage.k8s.io", "CSINode", CSI_NODE),
    ("storage.k8s.io", "VolumeAttachment", METADATA_ONLY),
    ("policy", "PodDisruptionBudget", POD_DISRUPTION_BUDGET),
    ("scheduling.k8s.io", "PriorityClass", METADATA_ONLY),
    (
        "certificates.k8s.io",
        "CertificateSigningRequest",
        CERTIFICATE_SIGNING_REQUEST,
    ),
    ("events.k8s.io", "Event", METADATA_ONLY),
];

/// A position in a kind's schema: the type of an object (or of a list's items), from which
/// the metadata of its fields is read. Unknown positions read as plain (atomic, no strategy).
#[derive(Clone, Copy, Debug)]
pub struct PatchSchema {
    ty: Type,
}

/// The metadata of one field, as read from its parent's [`PatchSchema`].
#[derive(Clone, Copy, Debug)]
pub struct FieldPatchMeta {
    /// How the list merges under strategic merge patch (`Atomic` for non-lists).
    pub list: ListKind,
    /// How the list merges under server-side apply (`Atomic` for non-lists).
    pub apply_list: ListKind,
    /// `patchStrategy: retainKeys` on the field (or on each item of the list).
    pub retain_keys: bool,
    /// `patchStrategy: replace` on an object field.
    pub replace: bool,
    /// The schema of the field's value, or of each item of a list.
    pub schema: PatchSchema,
}

impl PatchSchema {
    /// The root of `group`/`kind`, if the table knows the kind.
    pub fn for_kind(group: &str, kind: &str) -> Option<PatchSchema> {
        KINDS
            .iter()
            .find(|(g, k, _)| *g == group && *k == kind)
            .map(|(_, _, ty)| PatchSchema { ty })
    }

    /// The metadata of field `name` of this type; plain when the field carries none.
    pub fn field(self, name: &str) -> FieldPatchMeta {
        match self.ty.iter().find(|field| field.name == name) {
            Some(field) => FieldPatchMeta {
                list: field.patch,
                apply_list: field.apply,
                retain_keys: field.retain_keys,
                replace: field.replace,
                schema: PatchSchema { ty: field.ty },
            },
            None => FieldPatchMeta {
                list: ATOMIC,
                apply_list: ATOMIC,
                retain_keys: false,
                replace: false,
                schema: PatchSchema { ty: PLAIN },
            },
        }
    }
}

/// The metadata of the field at `path` (field names from the root, list items skipped).
fn field_at(group: &str, kind: &str, path: &[&str]) -> Option<FieldPatchMeta> {
    let (last, parents) = path.split_last()?;
    let mut schema = PatchSchema::for_kind(group, kind)?;
    for name in parents {
        schema = schema.field(name).schema;
    }
    Some(schema.field(last))
}

/// `path` is the field names from the object root, list items skipped: for a Deployment's
/// container ports `["spec","template","spec","containers","ports"]`. Strategic merge patch's
/// view (`patchStrategy`/`patchMergeKey`); unknown kinds and fields are atomic.
pub fn list_kind(group: &str, kind: &str, path: &[&str]) -> ListKind {
    field_at(group, kind, path).map_or(ATOMIC, |field| field.list)
}

/// Server-side apply's view of the list at `path` (`listType`/`listMapKey`, else the patch
/// tags): differs from [`list_kind`] for e.g. container ports (`containerPort`+`protocol`) and
/// lists marked `listType=atomic` or `set` without patch tags.
pub fn apply_list_kind(group: &str, kind: &str, path: &[&str]) -> ListKind {
    field_at(group, kind, path).map_or(ATOMIC, |field| field.apply_list)
}

/// Whether the field at `path` carries patchStrategy retainKeys (PodSpec.volumes items,
/// DeploymentSpec.strategy, …).
pub fn retain_keys(group: &str, kind: &str, path: &[&str]) -> bool {
    field_at(group, kind, path).is_some_and(|field| field.retain_keys)
}

/// Whether the object field at `path` carries patchStrategy replace (PodDisruptionBudgetSpec
/// selector): a strategic merge patch replaces it instead of merging into it.
pub fn replaces_whole(group: &str, kind: &str, path: &[&str]) -> bool {
    field_at(group, kind, path).is_some_and(|field| field.replace)
}

/// Whether `group`/`kind` is a built-in kind this table knows (strategic merge is refused for
/// others, e.g. custom resources).
pub fn is_known(group: &str, kind: &str) -> bool {
    PatchSchema::for_kind(group, kind).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINERS: [&str; 4] = ["spec", "template", "spec", "containers"];

    fn under<'a>(prefix: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
        prefix.iter().chain(rest).copied().collect()
    }

    #[test]
    fn container_lists_merge_by_their_keys() {
        let ports = under(&CONTAINERS, &["ports"]);
        assert_eq!(
            list_kind("apps", "Deployment", &ports),
            ListKind::Map {
                keys: &["containerPort"]
            }
        );
        assert_eq!(
            apply_list_kind("apps", "Deployment", &ports),
            ListKind::Map {
                keys: &["containerPort", "protocol"]
            }
        );
        for (field, key) in [("env", "name"), ("volumeMounts", "mountPath")] {
            let leaf = [field];
            let path = under(&CONTAINERS, &leaf);
            let kind = list_kind("apps", "Deployment", &path);
            assert!(
                matches!(kind, ListKind::Map { keys } if keys == [key]),
                "{field}"
            );
        }
        assert_eq!(
            list_kind("apps", "Deployment", &under(&CONTAINERS, &["args"])),
            ListKind::Atomic
        );
    }

    #[test]
    fn pod_spec_is_shared_by_every_holder() {
        let cases: [(&str, &str, &[&str]); 6] = [
            ("", "Pod", &["spec", "containers"]),
            ("", "PodTemplate", &["template", "spec", "containers"]),
            ("", "ReplicationController", &CONTAINERS),
            ("apps", "StatefulSet", &CONTAINERS),
            ("batch", "Job", &CONTAINERS),
            (
                "batch",
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                ],
            ),
        ];
        for (group, kind, path) in cases {
            assert_eq!(
                list_kind(group, kind, path),
                ListKind::Map { keys: &["name"] },
                "{kind}"
            );
        }
        assert_eq!(
            list_kind("", "Pod", &["spec", "ephemeralContainers", "volumeMounts"]),
            ListKind::Map {
                keys: &["mountPath"]
            }
        );
    }

    #[test]
    fn object_meta_lists() {
        for (group, kind) in [("", "ConfigMap"), ("rbac.authorization.k8s.io", "Role")] {
            assert_eq!(
                list_kind(group, kind, &["metadata", "finalizers"]),
                ListKind::Set
            );
            assert_eq!(
                list_kind(group, kind, &["metadata", "ownerReferences"]),
                ListKind::Map { keys: &["uid"] }
            );
        }
        assert_eq!(
            list_kind(
                "apps",
                "Deployment",
                &["spec", "template", "metadata", "finalizers"]
            ),
            ListKind::Set
        );
    }

    #[test]
    fn status_conditions_by_type() {
        for (group, kind) in [
            ("", "Pod"),
            ("", "Node"),
            ("apps", "Deployment"),
            ("apps", "DaemonSet"),
            ("batch", "Job"),
            ("policy", "PodDisruptionBudget"),
            ("autoscaling", "HorizontalPodAutoscaler"),
        ] {
            assert_eq!(
                list_kind(group, kind, &["status", "conditions"]),
                ListKind::Map { keys: &["type"] },
                "{kind}"
            );
        }
        // Job conditions are atomic for apply; CSR conditions are keyed only for apply.
        assert_eq!(
            apply_list_kind("batch", "Job", &["status", "conditions"]),
            ListKind::Atomic
        );
        assert_eq!(
            list_kind(
                "certificates.k8s.io",
                "CertificateSigningRequest",
                &["status", "conditions"]
            ),
            ListKind::Atomic
        );
        assert_eq!(
            apply_list_kind(
                "certificates.k8s.io",
                "CertificateSigningRequest",
                &["status", "conditions"]
            ),
            ListKind::Map { keys: &["type"] }
        );
    }

    #[test]
    fn retain_keys_and_replace_fields() {
        assert!(retain_keys("", "Pod", &["spec", "volumes"]));
        assert!(retain_keys("apps", "Deployment", &["spec", "strategy"]));
        assert!(!retain_keys("apps", "Deployment", &["spec", "template"]));
        assert!(replaces_whole(
            "policy",
            "PodDisruptionBudget",
            &["spec", "selector"]
        ));
        assert!(!replaces_whole("apps", "Deployment", &["spec", "selector"]));
    }

    #[test]
    fn service_node_and_others() {
        assert_eq!(
            list_kind("", "Service", &["spec", "ports"]),
            ListKind::Map { keys: &["port"] }
        );
        assert_eq!(
            apply_list_kind("", "Service", &["spec", "ports"]),
            ListKind::Map {
                keys: &["port", "protocol"]
            }
        );
        assert_eq!(list_kind("", "Node", &["spec", "podCIDRs"]), ListKind::Set);
        assert_eq!(list_kind("", "Node", &["spec", "taints"]), ListKind::Atomic);
        assert_eq!(
            list_kind("", "Node", &["status", "addresses"]),
            ListKind::Map { keys: &["type"] }
        );
        assert_eq!(
            apply_list_kind(
                "discovery.k8s.io",
                "EndpointSlice",
                &["endpoints", "addresses"]
            ),
            ListKind::Set
        );
        assert_eq!(
            list_kind("discovery.k8s.io", "EndpointSlice", &["endpoints"]),
            ListKind::Atomic
        );
    }

    #[test]
    fn unknown_kinds_and_fields() {
        assert!(is_known("", "Secret"));
        assert!(is_known("events.k8s.io", "Event"));
        assert!(!is_known("apps", "Pod"));
        assert!(!is_known("example.com", "Widget"));
        assert_eq!(
            list_kind("example.com", "Widget", &["spec", "items"]),
            ListKind::Atomic
        );
        assert_eq!(list_kind("", "Pod", &[]), ListKind::Atomic);
        assert_eq!(
            list_kind("", "Pod", &["spec", "nope", "x"]),
            ListKind::Atomic
        );
    }
}
