//! Server-side printing: the columns and cells of the `meta.k8s.io/v1` Table that `kubectl get`
//! asks for, for every built-in kind kedge serves.
//!
//! Columns and cells follow upstream's printers (`pkg/printers/internalversion`): the same column
//! names, types and priorities, and the same cell text and JSON types. Like upstream's API server,
//! cells are always produced for every column, priority-1 (`-o wide`) columns included; kubectl
//! hides those itself. Kinds without a printer of their own (Role, ClusterRole, LimitRange,
//! CustomResourceDefinition, custom resources, …) get upstream's default table: Name and
//! Created At.
//!
//! Objects are expected to carry the defaults the API server applies; where a defaulted field is
//! missing anyway, the printers assume its default (`ClusterIP` services, `TCP` ports, one
//! replica, …) rather than print a blank.
//!
//! Files: `pod` (the pod summary), `core` (services, endpoints, config, namespaces, nodes),
//! `events`, `volumes` (volumes, claims, quotas), `workloads` (pod controllers, autoscalers,
//! disruption budgets) with `metrics` (autoscaler targets), `cluster` (networking, RBAC, storage
//! and the remaining groups), `fields` (shared readers and formats), `quantity`, `duration`.

mod cluster;
mod core;
pub mod duration;
mod events;
mod fields;
mod metrics;
mod pod;
pub mod quantity;
mod volumes;
mod workloads;

use serde_json::Value;

/// One column definition of a Table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The header, e.g. `Ready` (kubectl prints it upper-cased).
    pub name: &'static str,
    /// The column type: `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: &'static str,
    /// `name` for the column holding the object's name, else empty.
    pub format: &'static str,
    /// What the column shows.
    pub description: &'static str,
    /// 0 for the default view, 1 for columns shown only with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// The Name column.
    pub const NAME: Column = Column {
        name: "Name",
        kind: "string",
        format: "name",
        description: "The name of the object, unique within its namespace.",
        priority: 0,
    };

    /// The Age column.
    pub const AGE: Column = Column::text("Age", "Time since the object was created.");

    /// A string column of the default view.
    pub const fn text(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "string", description, 0)
    }

    /// An integer column of the default view.
    pub const fn integer(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "integer", description, 0)
    }

    /// A boolean column of the default view.
    pub const fn boolean(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "boolean", description, 0)
    }

    /// A string column shown only with `-o wide`.
    pub const fn wide(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "string", description, 1)
    }

    /// The same column, shown only with `-o wide`.
    pub const fn only_wide(self) -> Column {
        Column {
            priority: 1,
            ..self
        }
    }

    const fn new(
        name: &'static str,
        kind: &'static str,
        description: &'static str,
        priority: i32,
    ) -> Column {
        Column {
            name,
            kind,
            format: "",
            description,
            priority,
        }
    }
}

/// The columns of upstream's default table, for kinds without a printer.
const DEFAULT_COLUMNS: &[Column] = &[
    Column::NAME,
    Column::new("Created At", "date", "When the object was created.", 0),
];

/// The printer of one kind.
struct Printer {
    group: &'static str,
    kind: &'static str,
    columns: &'static [Column],
    cells: fn(&Value, i64) -> Vec<Value>,
}

const fn printer(
    group: &'static str,
    kind: &'static str,
    columns: &'static [Column],
    cells: fn(&Value, i64) -> Vec<Value>,
) -> Printer {
    Printer {
        group,
        kind,
        columns,
        cells,
    }
}

static PRINTERS: &[Printer] = &[
    printer("", "Pod", pod::COLUMNS, pod::cells),
    printer(
        "",
        "PodTemplate",
        workloads::POD_TEMPLATE_COLUMNS,
        workloads::pod_template,
    ),
    printer(
        "",
        "ReplicationController",
        workloads::REPLICATION_CONTROLLER_COLUMNS,
        workloads::replication_controller,
    ),
    printer("", "Service", core::SERVICE_COLUMNS, core::service),
    printer("", "Endpoints", core::ENDPOINTS_COLUMNS, core::endpoints),
    printer("", "ConfigMap", core::CONFIG_MAP_COLUMNS, core::config_map),
    printer("", "Secret", core::SECRET_COLUMNS, core::secret),
    printer(
        "",
        "ServiceAccount",
        core::SERVICE_ACCOUNT_COLUMNS,
        core::service_account,
    ),
    printer("", "Namespace", core::NAMESPACE_COLUMNS, core::namespace),
    printer("", "Node", core::NODE_COLUMNS, core::node),
    printer("", "Event", events::EVENT_COLUMNS, events::event),
    printer(
        "",
        "PersistentVolume",
        volumes::PERSISTENT_VOLUME_COLUMNS,
        volumes::persistent_volume,
    ),
    printer(
        "",
        "PersistentVolumeClaim",
        volumes::PERSISTENT_VOLUME_CLAIM_COLUMNS,
        volumes::persistent_volume_claim,
    ),
    printer(
        "",
        "ResourceQuota",
        volumes::RESOURCE_QUOTA_COLUMNS,
        volumes::resource_quota,
    ),
    printer(
        "apps",
        "Deployment",
        workloads::DEPLOYMENT_COLUMNS,
        workloads::deployment,
    ),
    printer(
        "apps",
        "ReplicaSet",
        workloads::REPLICA_SET_COLUMNS,
        workloads::replica_set,
    ),
    printer(
        "apps",
        "StatefulSet",
        workloads::STATEFUL_SET_COLUMNS,
        workloads::stateful_set,
    ),
    printer(
        "apps",
        "DaemonSet",
        workloads::DAEMON_SET_COLUMNS,
        workloads::daemon_set,
    ),
    printer(
        "apps",
        "ControllerRevision",
        workloads::CONTROLLER_REVISION_COLUMNS,
        workloads::controller_revision,
    ),
    printer("batch", "Job", workloads::JOB_COLUMNS, workloads::job),
    printer(
        "batch",
        "CronJob",
        workloads::CRON_JOB_COLUMNS,
        workloads::cron_job,
    ),
    printer(
        "autoscaling",
        "HorizontalPodAutoscaler",
        workloads::HPA_COLUMNS,
        workloads::horizontal_pod_autoscaler,
    ),
    printer(
        "policy",
        "PodDisruptionBudget",
        workloads::PDB_COLUMNS,
        workloads::pod_disruption_budget,
    ),
    printer(
        "events.k8s.io",
        "Event",
        events::EVENT_COLUMNS,
        events::events_event,
    ),
    printer(
        "coordination.k8s.io",
        "Lease",
        cluster::LEASE_COLUMNS,
        cluster::lease,
    ),
    printer(
        "discovery.k8s.io",
        "EndpointSlice",
        cluster::ENDPOINT_SLICE_COLUMNS,
        cluster::endpoint_slice,
    ),
    printer(
        "networking.k8s.io",
        "Ingress",
        cluster::INGRESS_COLUMNS,
        cluster::ingress,
    ),
    printer(
        "networking.k8s.io",
        "IngressClass",
        cluster::INGRESS_CLASS_COLUMNS,
        cluster::ingress_class,
    ),
    printer(
        "networking.k8s.io",
        "NetworkPolicy",
        cluster::NETWORK_POLICY_COLUMNS,
        cluster::network_policy,
    ),
    printer(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        cluster::ROLE_BINDING_COLUMNS,
        cluster::role_binding,
    ),
    printer(
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        cluster::CLUSTER_ROLE_BINDING_COLUMNS,
        cluster::role_binding,
    ),
    printer(
        "storage.k8s.io",
        "StorageClass",
        cluster::STORAGE_CLASS_COLUMNS,
        cluster::storage_class,
    ),
    printer(
        "storage.k8s.io",
        "CSIDriver",
        cluster::CSI_DRIVER_COLUMNS,
        cluster::csi_driver,
    ),
    printer(
        "storage.k8s.io",
        "CSINode",
        cluster::CSI_NODE_COLUMNS,
        cluster::csi_node,
    ),
    printer(
        "storage.k8s.io",
        "VolumeAttachment",
        cluster::VOLUME_ATTACHMENT_COLUMNS,
        cluster::volume_attachment,
    ),
    printer(
        "scheduling.k8s.io",
        "PriorityClass",
        cluster::PRIORITY_CLASS_COLUMNS,
        cluster::priority_class,
    ),
    printer(
        "certificates.k8s.io",
        "CertificateSigningRequest",
        cluster::CSR_COLUMNS,
        cluster::certificate_signing_request,
    ),
];

fn find(group: &str, kind: &str) -> Option<&'static Printer> {
    PRINTERS
        .iter()
        .find(|printer| printer.group == group && printer.kind == kind)
}

/// The columns for a kind (`group` is empty for core/v1). Usually the first is Name with format
/// `name`; events, like upstream's, lead with Last Seen and carry Name as a wide column.
pub fn columns(group: &str, kind: &str) -> &'static [Column] {
    find(group, kind).map_or(DEFAULT_COLUMNS, |printer| printer.columns)
}

/// The cells of one row, in column order, as JSON values (strings, integers, booleans). `now` is
/// the current time as Unix seconds. Missing fields never fail: they print as upstream prints them.
pub fn cells(group: &str, kind: &str, object: &Value, now: i64) -> Vec<Value> {
    match find(group, kind) {
        Some(printer) => (printer.cells)(object, now),
        None => vec![
            fields::name(object),
            Value::from(duration::rfc3339_utc(
                object.pointer("/metadata/creationTimestamp"),
            )),
        ],
    }
}

/// The row `conditions` upstream attaches, when any: finished pods are marked `Completed`.
pub fn row_conditions(group: &str, kind: &str, object: &Value) -> Option<Value> {
    (group.is_empty() && kind == "Pod")
        .then(|| pod::row_conditions(object))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_printer_fills_every_column_even_for_an_empty_object() {
        for printer in PRINTERS {
            let row = cells(printer.group, printer.kind, &json!({}), 0);
            assert_eq!(
                row.len(),
                printer.columns.len(),
                "{}/{}",
                printer.group,
                printer.kind
            );
            assert!(
                printer.columns.iter().any(|column| column.format == "name"),
                "{}",
                printer.kind
            );
        }
    }

    #[test]
    fn columns_start_with_name_except_for_events() {
        for printer in PRINTERS.iter().filter(|printer| printer.kind != "Event") {
            assert_eq!(printer.columns[0], Column::NAME, "{}", printer.kind);
        }
        assert_eq!(columns("", "Event")[0].name, "Last Seen");
        assert_eq!(columns("events.k8s.io", "Event"), columns("", "Event"));
    }

    /// The headers kubectl prints: upper-cased names of the default and the wide view.
    fn headers(group: &str, kind: &str, priority: i32) -> String {
        let names: Vec<String> = columns(group, kind)
            .iter()
            .filter(|column| column.priority <= priority)
            .map(|column| column.name.to_uppercase())
            .collect();
        names.join(" ")
    }

    #[test]
    fn headers_match_kubectl() {
        let cases = [
            ("", "Pod", 0, "NAME READY STATUS RESTARTS AGE"),
            (
                "",
                "Pod",
                1,
                "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES",
            ),
            (
                "",
                "Service",
                1,
                "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR",
            ),
            ("", "Node", 0, "NAME STATUS ROLES AGE VERSION"),
            ("", "Event", 0, "LAST SEEN TYPE REASON OBJECT MESSAGE"),
            (
                "",
                "PersistentVolume",
                0,
                "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS \
                 VOLUMEATTRIBUTESCLASS REASON AGE",
            ),
            (
                "apps",
                "Deployment",
                0,
                "NAME READY UP-TO-DATE AVAILABLE AGE",
            ),
            (
                "apps",
                "Deployment",
                1,
                "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR",
            ),
            ("batch", "Job", 0, "NAME STATUS COMPLETIONS DURATION AGE"),
            (
                "batch",
                "CronJob",
                0,
                "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE",
            ),
            (
                "autoscaling",
                "HorizontalPodAutoscaler",
                0,
                "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE",
            ),
            (
                "certificates.k8s.io",
                "CertificateSigningRequest",
                0,
                "NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION",
            ),
        ];
        for (group, kind, priority, expected) in cases {
            assert_eq!(headers(group, kind, priority), expected, "{kind}");
        }
    }

    #[test]
    fn column_types_follow_upstream() {
        let kind_of = |group: &str, kind: &str, name: &str| {
            columns(group, kind)
                .iter()
                .find(|column| column.name == name)
                .map(|column| column.kind)
        };
        assert_eq!(kind_of("", "Secret", "Data"), Some("string"));
        assert_eq!(
            kind_of("", "ReplicationController", "Desired"),
            Some("integer")
        );
        assert_eq!(kind_of("apps", "Deployment", "Available"), Some("string"));
        assert_eq!(kind_of("batch", "CronJob", "Suspend"), Some("boolean"));
        assert_eq!(
            kind_of("scheduling.k8s.io", "PriorityClass", "Value"),
            Some("integer")
        );
    }

    #[test]
    fn column_types_are_known() {
        for printer in PRINTERS {
            for column in printer.columns {
                assert!(["string", "integer", "boolean", "number", "date"].contains(&column.kind));
                assert!(!column.description.is_empty());
            }
        }
    }

    #[test]
    fn kinds_without_a_printer_get_the_default_table() {
        let role = json!({"metadata": {"name": "pod-reader", "creationTimestamp": "2024-05-01T10:00:00Z"}});
        for (group, kind) in [
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("", "LimitRange"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("example.com", "Widget"),
        ] {
            let names: Vec<_> = columns(group, kind)
                .iter()
                .map(|column| column.name)
                .collect();
            assert_eq!(names, ["Name", "Created At"]);
            assert_eq!(
                cells(group, kind, &role, 0),
                vec![json!("pod-reader"), json!("2024-05-01T10:00:00Z")]
            );
        }
        assert_eq!(columns("", "LimitRange")[1].kind, "date");
        assert_eq!(
            cells("", "LimitRange", &json!({}), 0),
            vec![json!(""), json!("0001-01-01T00:00:00Z")]
        );
    }

    #[test]
    fn group_and_kind_must_both_match() {
        assert_eq!(columns("apps", "Pod"), DEFAULT_COLUMNS);
        assert_eq!(columns("", "Deployment"), DEFAULT_COLUMNS);
    }

    #[test]
    fn row_conditions_only_for_pods() {
        let done = json!({"status": {"phase": "Succeeded"}});
        assert!(row_conditions("", "Pod", &done).is_some());
        assert!(row_conditions("batch", "Job", &done).is_none());
    }
}
