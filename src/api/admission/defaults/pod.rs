//! Pod spec defaults, applied wherever a pod spec appears (Pod, PodTemplate, the templates of
//! ReplicationController, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job and CronJob):
//! `SetDefaults_PodSpec`, `SetDefaults_Container`, `SetDefaults_Probe`, `SetDefaults_Volume` and
//! the other per-type defaulters of `pkg/apis/core/v1`, the `+default` markers of
//! `k8s.io/api/core/v1`, and the Pod-only `SetDefaults_Pod`.

use serde_json::{Value, json};

use super::core_group::default_claim_spec;
use super::json::{
    Object, child, child_or_insert, children, default_integer, default_string,
    default_template_metadata, default_value, is_blank_string, is_unset, is_zero_integer,
    string_or_empty,
};
use super::quantity::{canonicalize_field, canonicalize_list};

/// `defaultMode` of secret, configMap, downwardAPI and projected volumes (0644).
const DEFAULT_VOLUME_MODE: i64 = 0o644;
/// `expirationSeconds` of a projected service account token (one hour).
const DEFAULT_TOKEN_EXPIRATION_SECONDS: i64 = 3600;
/// The keys of `VolumeSource`; a volume with none of them set becomes an `emptyDir`.
const VOLUME_SOURCES: [&str; 30] = [
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// A top-level Pod: `SetDefaults_Pod` (requests from limits, `enableServiceLinks`, host ports
/// under host networking) before the pod spec defaults.
pub(super) fn default_pod(pod: &mut Object) {
    let Some(spec) = child_or_insert(pod, "spec") else {
        return;
    };
    for key in ["containers", "initContainers"] {
        for container in children(spec, key) {
            default_requests_from_limits(container);
        }
    }
    default_value(spec, "enableServiceLinks", Value::Bool(true));
    if spec.get("hostNetwork") == Some(&Value::Bool(true)) {
        for key in ["containers", "initContainers"] {
            for container in children(spec, key) {
                default_host_ports(container);
            }
        }
    }
    default_pod_spec(spec);
}

/// A `PodTemplateSpec`: its metadata is always serialized (as `{}` when empty), then the spec.
pub(super) fn default_pod_template(template: &mut Object) {
    default_template_metadata(template);
    if let Some(spec) = child_or_insert(template, "spec") {
        default_pod_spec(spec);
    }
}

/// `SetDefaults_PodSpec` and everything nested in a pod spec.
pub(super) fn default_pod_spec(spec: &mut Object) {
    default_string(spec, "dnsPolicy", "ClusterFirst");
    default_string(spec, "restartPolicy", "Always");
    default_value(spec, "securityContext", json!({}));
    default_value(spec, "terminationGracePeriodSeconds", json!(30));
    default_string(spec, "schedulerName", "default-scheduler");
    sync_service_account_alias(spec);
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for container in children(spec, key) {
            default_container(container);
        }
    }
    for volume in children(spec, "volumes") {
        default_volume(volume);
    }
    canonicalize_list(spec, "overhead");
    if let Some(resources) = child(spec, "resources") {
        canonicalize_list(resources, "limits");
        canonicalize_list(resources, "requests");
    }
}

/// `serviceAccount` is the deprecated alias of `serviceAccountName`: the name wins, and output
/// conversion always writes the alias back.
fn sync_service_account_alias(spec: &mut Object) {
    let well_typed = |key| matches!(spec.get(key), None | Some(Value::Null | Value::String(_)));
    if !well_typed("serviceAccountName") || !well_typed("serviceAccount") {
        return;
    }
    let name = string_or_empty(spec, "serviceAccountName").to_string();
    let alias = string_or_empty(spec, "serviceAccount").to_string();
    let effective = if name.is_empty() { alias } else { name };
    if effective.is_empty() {
        return;
    }
    spec.insert(
        "serviceAccountName".to_string(),
        Value::String(effective.clone()),
    );
    spec.insert("serviceAccount".to_string(), Value::String(effective));
}

/// Requests default to limits for each resource that has a limit but no request (Pod only).
fn default_requests_from_limits(container: &mut Object) {
    let Some(resources) = child(container, "resources") else {
        return;
    };
    let Some(limits) = child(resources, "limits").cloned() else {
        return;
    };
    let mut requests = match resources.get("requests") {
        None | Some(Value::Null) => Object::new(),
        Some(Value::Object(requests)) => requests.clone(),
        Some(_) => return,
    };
    for (name, limit) in limits {
        requests.entry(name).or_insert(limit);
    }
    if !requests.is_empty() {
        resources.insert("requests".to_string(), Value::Object(requests));
    }
}

/// Under host networking each container port's `hostPort` defaults to its `containerPort`.
fn default_host_ports(container: &mut Object) {
    for port in children(container, "ports") {
        let container_port = port.get("containerPort").filter(|value| value.is_number());
        if let Some(container_port) = container_port.cloned()
            && is_zero_integer(port, "hostPort")
        {
            port.insert("hostPort".to_string(), container_port);
        }
    }
}

/// `SetDefaults_Container` and the defaults of everything a container holds.
fn default_container(container: &mut Object) {
    if is_blank_string(container, "imagePullPolicy") {
        let policy = image_pull_policy(string_or_empty(container, "image"));
        container.insert("imagePullPolicy".to_string(), json!(policy));
    }
    default_string(container, "terminationMessagePath", "/dev/termination-log");
    default_string(container, "terminationMessagePolicy", "File");
    for port in children(container, "ports") {
        default_string(port, "protocol", "TCP");
    }
    for variable in children(container, "env") {
        if let Some(source) = child(variable, "valueFrom") {
            default_env_source(source);
        }
    }
    if let Some(resources) = child_or_insert(container, "resources") {
        canonicalize_list(resources, "limits");
        canonicalize_list(resources, "requests");
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = child(container, key) {
            default_probe(probe);
        }
    }
    if let Some(lifecycle) = child(container, "lifecycle") {
        for key in ["postStart", "preStop"] {
            if let Some(action) = child(lifecycle, key).and_then(|hook| child(hook, "httpGet")) {
                default_http_get(action);
            }
        }
    }
}

/// An env var's `valueFrom`: field references default to `apiVersion: v1`, resource references
/// always carry a `divisor`, file key references default to `optional: false`.
fn default_env_source(source: &mut Object) {
    if let Some(field) = child(source, "fieldRef") {
        default_string(field, "apiVersion", "v1");
    }
    if let Some(resource) = child(source, "resourceFieldRef") {
        default_divisor(resource);
    }
    if let Some(file_key) = child(source, "fileKeyRef") {
        default_value(file_key, "optional", Value::Bool(false));
    }
}

/// A resource field selector's `divisor` is a plain quantity, serialized as `"0"` when unset.
fn default_divisor(selector: &mut Object) {
    default_value(selector, "divisor", json!("0"));
    canonicalize_field(selector, "divisor");
}

/// The pull policy upstream picks for an image: `Always` for `:latest` or no tag, otherwise
/// `IfNotPresent` (also when the reference does not parse).
pub(super) fn image_pull_policy(image: &str) -> &'static str {
    match image_tag(image) {
        Some(ImageTag::Latest) => "Always",
        Some(ImageTag::Other) | None => "IfNotPresent",
    }
}

/// What an image reference's tag says about pulling.
enum ImageTag {
    /// Tagged `latest`, or neither tagged nor pinned by digest.
    Latest,
    /// Any other tag, or a digest.
    Other,
}

/// Splits an image reference as the docker reference grammar does; `None` when it is invalid.
fn image_tag(image: &str) -> Option<ImageTag> {
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last_slash = name_and_tag.rfind('/').map_or(0, |index| index + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(index) => (
            &name_and_tag[..last_slash + index],
            Some(&name_and_tag[last_slash + index + 1..]),
        ),
        None => (name_and_tag, None),
    };
    if !valid_repository(name) {
        return None;
    }
    if let Some(tag) = tag
        && !valid_tag(tag)
    {
        return None;
    }
    if let Some(digest) = digest
        && !valid_digest(digest)
    {
        return None;
    }
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => Some(ImageTag::Latest),
        _ => Some(ImageTag::Other),
    }
}

/// A repository: an optional registry host, then lowercase path components.
fn valid_repository(name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(char::is_uppercase)
        {
            if !valid_registry(first) {
                return false;
            }
            components.remove(0);
        }
    }
    components
        .iter()
        .all(|component| valid_path_component(component))
}

/// A registry host with an optional port.
fn valid_registry(host: &str) -> bool {
    let (host, port) = match host.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok =
        port.is_none_or(|port| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

/// A path component: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`.
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    let mut index = 0;
    while index < bytes.len() {
        if alnum(&bytes[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && !alnum(&bytes[index]) {
            index += 1;
        }
        let separator = &component[start..index];
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

/// A tag: a word character, then up to 127 word characters, dots or dashes.
fn valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    chars.next().is_some_and(word)
        && tag.len() <= 128
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

/// A digest: `algorithm:hex`.
fn valid_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    !algorithm.is_empty()
        && algorithm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-' | '_'))
        && hex.len() >= 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// `SetDefaults_Probe` plus its handler's defaults.
fn default_probe(probe: &mut Object) {
    default_integer(probe, "timeoutSeconds", 1);
    default_integer(probe, "periodSeconds", 10);
    default_integer(probe, "successThreshold", 1);
    default_integer(probe, "failureThreshold", 3);
    if let Some(action) = child(probe, "httpGet") {
        default_http_get(action);
    }
    if let Some(grpc) = child(probe, "grpc") {
        default_value(grpc, "service", json!(""));
    }
}

/// `SetDefaults_HTTPGetAction`.
fn default_http_get(action: &mut Object) {
    default_string(action, "path", "/");
    default_string(action, "scheme", "HTTP");
}

/// `SetDefaults_Volume` and the defaulters of each volume source.
fn default_volume(volume: &mut Object) {
    let has_source = VOLUME_SOURCES.iter().any(|key| !is_unset(volume, key));
    if !has_source {
        volume.insert("emptyDir".to_string(), json!({}));
    }
    if let Some(empty_dir) = child(volume, "emptyDir") {
        canonicalize_field(empty_dir, "sizeLimit");
    }
    if let Some(host_path) = child(volume, "hostPath") {
        default_host_path(host_path);
    }
    for key in ["secret", "configMap"] {
        if let Some(source) = child(volume, key) {
            default_value(source, "defaultMode", json!(DEFAULT_VOLUME_MODE));
        }
    }
    if let Some(downward) = child(volume, "downwardAPI") {
        default_value(downward, "defaultMode", json!(DEFAULT_VOLUME_MODE));
        default_downward_api_items(downward);
    }
    if let Some(projected) = child(volume, "projected") {
        default_value(projected, "defaultMode", json!(DEFAULT_VOLUME_MODE));
        for source in children(projected, "sources") {
            if let Some(downward) = child(source, "downwardAPI") {
                default_downward_api_items(downward);
            }
            if let Some(token) = child(source, "serviceAccountToken") {
                default_value(
                    token,
                    "expirationSeconds",
                    json!(DEFAULT_TOKEN_EXPIRATION_SECONDS),
                );
            }
        }
    }
    if let Some(ephemeral) = child(volume, "ephemeral")
        && let Some(template) = child(ephemeral, "volumeClaimTemplate")
    {
        default_template_metadata(template);
        if let Some(spec) = child_or_insert(template, "spec") {
            default_claim_spec(spec);
        }
    }
    if let Some(image) = child(volume, "image")
        && is_blank_string(image, "pullPolicy")
    {
        let policy = image_pull_policy(string_or_empty(image, "reference"));
        image.insert("pullPolicy".to_string(), json!(policy));
    }
    default_legacy_sources(volume);
}

/// `SetDefaults_HostPathVolumeSource`: the type defaults to `""` (no check).
pub(super) fn default_host_path(host_path: &mut Object) {
    default_value(host_path, "type", json!(""));
}

/// The items of a downwardAPI volume or projection.
fn default_downward_api_items(downward: &mut Object) {
    for item in children(downward, "items") {
        if let Some(field) = child(item, "fieldRef") {
            default_string(field, "apiVersion", "v1");
        }
        if let Some(resource) = child(item, "resourceFieldRef") {
            default_divisor(resource);
        }
    }
}

/// The `+default` markers and defaulters of the in-tree volume sources shared by pods and
/// persistent volumes: iSCSI, RBD, Azure Disk and ScaleIO.
pub(super) fn default_legacy_sources(source: &mut Object) {
    if let Some(iscsi) = child(source, "iscsi") {
        default_string(iscsi, "iscsiInterface", "default");
    }
    if let Some(rbd) = child(source, "rbd") {
        default_string(rbd, "pool", "rbd");
        default_string(rbd, "user", "admin");
        default_string(rbd, "keyring", "/etc/ceph/keyring");
    }
    if let Some(azure) = child(source, "azureDisk") {
        default_value(azure, "cachingMode", json!("ReadWrite"));
        default_value(azure, "fsType", json!("ext4"));
        default_value(azure, "readOnly", Value::Bool(false));
        default_value(azure, "kind", json!("Shared"));
    }
    if let Some(scale_io) = child(source, "scaleIO") {
        default_string(scale_io, "storageMode", "ThinProvisioned");
        default_string(scale_io, "fsType", "xfs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Object {
        match value {
            Value::Object(fields) => fields,
            _ => Object::new(),
        }
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(image_pull_policy("nginx"), "Always");
        assert_eq!(image_pull_policy("nginx:latest"), "Always");
        assert_eq!(image_pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(
            image_pull_policy("registry.k8s.io/pause:3.9"),
            "IfNotPresent"
        );
        assert_eq!(image_pull_policy("localhost:5000/app"), "Always");
        assert_eq!(image_pull_policy("localhost:5000/app:v1"), "IfNotPresent");
        assert_eq!(
            image_pull_policy(
                "busybox@sha256:1e6b7a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7"
            ),
            "IfNotPresent"
        );
        assert_eq!(image_pull_policy("Nginx"), "IfNotPresent");
        assert_eq!(image_pull_policy(""), "IfNotPresent");
        assert_eq!(image_pull_policy("nginx:"), "IfNotPresent");
    }

    #[test]
    fn container_defaults() {
        let mut container = object(json!({
            "name": "app",
            "image": "app:v1",
            "ports": [{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}],
            "env": [
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}
            ],
            "resources": {"limits": {"cpu": 0.5, "memory": "1024Mi"}},
            "livenessProbe": {"httpGet": {"port": 8080}},
            "readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 5},
            "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}}
        }));
        default_container(&mut container);
        assert_eq!(
            Value::Object(container),
            json!({
                "name": "app",
                "image": "app:v1",
                "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "ports": [
                    {"containerPort": 8080, "protocol": "TCP"},
                    {"containerPort": 53, "protocol": "UDP"}
                ],
                "env": [
                    {"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "0"}}}
                ],
                "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                "livenessProbe": {
                    "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
                    "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3
                },
                "readinessProbe": {
                    "grpc": {"port": 9000, "service": ""},
                    "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3
                },
                "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop", "scheme": "HTTP"}}}
            })
        );
    }

    #[test]
    fn volume_defaults() {
        let mut spec = object(json!({
            "containers": [],
            "volumes": [
                {"name": "scratch"},
                {"name": "host", "hostPath": {"path": "/var/log"}},
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 256}},
                {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
                {"name": "cache", "emptyDir": {"sizeLimit": "1024Mi"}},
                {"name": "claim", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}
            ]
        }));
        default_pod_spec(&mut spec);
        let volumes = spec.get("volumes").cloned().unwrap_or(Value::Null);
        assert_eq!(
            volumes,
            json!([
                {"name": "scratch", "emptyDir": {}},
                {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
                {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
                {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 256}},
                {"name": "info", "downwardAPI": {"defaultMode": 420, "items": [{"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}}]}},
                {"name": "token", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}},
                {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "claim", "ephemeral": {"volumeClaimTemplate": {"metadata": {}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {}, "volumeMode": "Filesystem"}}}}
            ])
        );
    }

    #[test]
    fn pod_only_defaults() {
        let mut pod = object(json!({
            "spec": {
                "hostNetwork": true,
                "serviceAccount": "builder",
                "containers": [{
                    "name": "app", "image": "app",
                    "ports": [{"containerPort": 9100}],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}}
                }]
            }
        }));
        default_pod(&mut pod);
        let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
        assert_eq!(spec["enableServiceLinks"], json!(true));
        assert_eq!(spec["serviceAccountName"], json!("builder"));
        assert_eq!(spec["serviceAccount"], json!("builder"));
        assert_eq!(spec["containers"][0]["ports"][0]["hostPort"], json!(9100));
        assert_eq!(
            spec["containers"][0]["resources"],
            json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "1Gi"}})
        );
    }

    #[test]
    fn templates_do_not_get_pod_only_defaults() {
        let mut template = object(json!({
            "spec": {"containers": [{"name": "a", "image": "a", "resources": {"limits": {"cpu": "1"}}}]}
        }));
        default_pod_template(&mut template);
        assert_eq!(template["metadata"], json!({}));
        assert_eq!(template["spec"].get("enableServiceLinks"), None);
        assert_eq!(
            template["spec"]["containers"][0]["resources"],
            json!({"limits": {"cpu": "1"}})
        );
    }

    #[test]
    fn odd_shapes_are_left_alone() {
        let mut spec = object(json!({
            "containers": "nope",
            "volumes": [1, {"name": "v", "hostPath": "x"}],
            "securityContext": 3,
            "dnsPolicy": 7
        }));
        default_pod_spec(&mut spec);
        assert_eq!(spec["containers"], json!("nope"));
        assert_eq!(spec["securityContext"], json!(3));
        assert_eq!(spec["dnsPolicy"], json!(7));
        assert_eq!(spec["volumes"], json!([1, {"name": "v", "hostPath": "x"}]));
    }
}
