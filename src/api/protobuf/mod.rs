//! Protobuf request bodies: kubectl 1.32+ sends `application/vnd.kubernetes.protobuf` for its
//! `create` generators, `create token`, `auth can-i` and `auth whoami`, and never retries with
//! JSON. The API server works on JSON, so [`decode_body`] turns such a body into the JSON object
//! the client would have sent.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` envelope
//! {1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}; `raw` is the
//! object's own message. The kind selects a field table (`kinds/`) that drives a schema-less wire
//! reader (`wire`); `decode` applies Go's JSON rules (omitted empty fields, `null` for unset
//! pointers, inlined structs) and `format` writes times and bytes the way Go does.
//!
//! The tables cover every built-in kind of the GA groups that a client creates or updates
//! (core, apps, batch, autoscaling, rbac, authentication, authorization, certificates,
//! networking, discovery, policy, scheduling, node, coordination, events, storage,
//! admissionregistration, flowcontrol) and `DeleteOptions`; custom resources and
//! resource.k8s.io have no protobuf form here and are answered as unsupported.

mod decode;
mod format;
mod kinds;
mod schema;
mod wire;

use serde_json::Value;

pub use decode::DecodeFailure;
pub use wire::WireError;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
const MAGIC: [u8; 4] = *b"k8s\0";

/// Why a protobuf body could not be turned into JSON. `UnsupportedKind` is the client asking for
/// something this server cannot read (answer 415 Unsupported Media Type); the rest are malformed
/// bodies (answer 400 Bad Request).
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("request body is not Kubernetes protobuf: it does not start with the bytes \"k8s\\0\"")]
    MissingMagic,
    #[error("cannot read the protobuf envelope (runtime.Unknown): {0}")]
    ReadEnvelope(#[source] WireError),
    #[error("protobuf envelope names no kind: its typeMeta must carry apiVersion and kind")]
    MissingTypeMeta,
    #[error("protobuf envelope has contentEncoding {0:?}; only unencoded bodies are supported")]
    UnsupportedContentEncoding(String),
    #[error("protobuf envelope has contentType {0:?}; expected {MEDIA_TYPE}")]
    UnsupportedContentType(String),
    #[error(
        "protobuf bodies of kind {kind} in {api_version} are not supported; send the object as JSON"
    )]
    UnsupportedKind { api_version: String, kind: String },
    #[error(
        "cannot decode {kind} from protobuf at {}: {failure}",
        show_path(field)
    )]
    DecodeObject {
        kind: String,
        field: String,
        #[source]
        failure: DecodeFailure,
    },
}

fn show_path(field: &str) -> &str {
    if field.is_empty() {
        "its top level"
    } else {
        field
    }
}

/// Decodes a Kubernetes protobuf request body into the JSON object it stands for, with
/// apiVersion and kind set from the envelope.
///
/// # Errors
/// [`ProtobufError::UnsupportedKind`] when no table describes the envelope's apiVersion and kind;
/// any other variant when the body is not well-formed Kubernetes protobuf.
///
/// # Guarantees
/// The object reads as Go's `encoding/json` writes the same typed object: empty `omitempty`
/// fields left out, unset pointers without `omitempty` as `null`, bytes as base64, times as
/// RFC 3339, quantities and int-or-strings in their JSON forms. Fields the table does not know
/// are skipped, as upstream skips them; strings that are not UTF-8 get U+FFFD, as Go writes them.
pub fn decode_body(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_nested(body, 0)
}

/// [`decode_body`] for a body found `depth` messages deep inside another one.
fn decode_nested(body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    let envelope = body
        .strip_prefix(&MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let unknown = Unknown::read(envelope)?;
    if unknown.api_version.is_empty() || unknown.kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    if !unknown.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedContentEncoding(
            unknown.content_encoding,
        ));
    }
    if !unknown.content_type.is_empty() && unknown.content_type != MEDIA_TYPE {
        return Err(ProtobufError::UnsupportedContentType(unknown.content_type));
    }
    let Some(fields) = kinds::lookup(&unknown.api_version, &unknown.kind) else {
        return Err(ProtobufError::UnsupportedKind {
            api_version: unknown.api_version,
            kind: unknown.kind,
        });
    };
    let mut object = decode::decode_object(unknown.raw, fields, depth).map_err(|error| {
        ProtobufError::DecodeObject {
            kind: unknown.kind.clone(),
            field: error.path,
            failure: error.failure,
        }
    })?;
    object.insert("apiVersion".to_string(), Value::String(unknown.api_version));
    object.insert("kind".to_string(), Value::String(unknown.kind));
    Ok(Value::Object(object))
}

/// The `runtime.Unknown` envelope.
#[derive(Debug, Default)]
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Unknown<'a> {
    fn read(envelope: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut unknown = Unknown::default();
        for item in wire::FieldReader::new(envelope) {
            let (number, value) = item.map_err(ProtobufError::ReadEnvelope)?;
            let wire::WireValue::Bytes(bytes) = value else {
                continue;
            };
            match number {
                1 => {
                    for item in wire::FieldReader::new(bytes) {
                        match item.map_err(ProtobufError::ReadEnvelope)? {
                            (1, wire::WireValue::Bytes(text)) => {
                                unknown.api_version = text_of(text)
                            }
                            (2, wire::WireValue::Bytes(text)) => unknown.kind = text_of(text),
                            _ => {}
                        }
                    }
                }
                2 => unknown.raw = bytes,
                3 => unknown.content_encoding = text_of(bytes),
                4 => unknown.content_type = text_of(bytes),
                _ => {}
            }
        }
        Ok(unknown)
    }
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::wire::encode::{body, bytes, int, message, text};
    use super::*;
    use serde_json::json;

    /// A body kubectl 1.32 sent (`NAME.pb`) and the JSON kubectl 1.31 sent for the same command
    /// (`NAME.json`); see `tests/fixtures/protobuf/README.md` for how they were captured.
    macro_rules! capture {
        ($name:literal) => {
            (
                $name,
                include_bytes!(concat!("../../../tests/fixtures/protobuf/", $name, ".pb")),
                include_str!(concat!("../../../tests/fixtures/protobuf/", $name, ".json")),
            )
        };
    }

    const CAPTURES: &[(&str, &[u8], &str)] = &[
        capture!("can-i"),
        capture!("can-i-all-namespaces"),
        capture!("can-i-list"),
        capture!("can-i-nonresource"),
        capture!("can-i-subresource"),
        capture!("clusterrole"),
        capture!("clusterrole-aggregation"),
        capture!("clusterrolebinding"),
        capture!("configmap"),
        capture!("configmap-hash"),
        capture!("cronjob"),
        capture!("csr-approve"),
        capture!("debug-copy"),
        capture!("debug-node"),
        capture!("deployment"),
        capture!("deployment-command"),
        capture!("deployment-two-images"),
        capture!("drain-delete-options"),
        capture!("ingress"),
        capture!("job"),
        capture!("job-from-cronjob"),
        capture!("namespace"),
        capture!("pdb-max"),
        capture!("pdb-min"),
        capture!("priorityclass"),
        capture!("priorityclass-default"),
        capture!("quota"),
        capture!("role"),
        capture!("rolebinding"),
        capture!("secret-docker"),
        capture!("secret-generic"),
        capture!("secret-tls"),
        capture!("service-clusterip"),
        capture!("service-externalname"),
        capture!("service-headless"),
        capture!("service-loadbalancer"),
        capture!("service-nodeport"),
        capture!("serviceaccount"),
        capture!("token"),
        capture!("token-bound"),
        capture!("whoami"),
    ];

    fn capture(name: &str) -> Value {
        let (_, pb, _) = CAPTURES
            .iter()
            .find(|(known, _, _)| *known == name)
            .unwrap_or_else(|| panic!("no capture {name}"));
        decode_body(pb).unwrap_or_else(|error| panic!("{name}: {error}"))
    }

    /// Drops `creationTimestamp: null`: kubectl 1.31 wrote it, but since 1.34 the field is
    /// `omitzero` and the JSON encoding leaves a zero time out.
    fn without_null_creation_timestamps(value: &mut Value) {
        match value {
            Value::Object(object) => {
                if object.get("creationTimestamp") == Some(&Value::Null) {
                    object.remove("creationTimestamp");
                }
                object
                    .values_mut()
                    .for_each(without_null_creation_timestamps);
            }
            Value::Array(items) => items.iter_mut().for_each(without_null_creation_timestamps),
            _ => {}
        }
    }

    #[test]
    fn every_kubectl_capture_decodes_to_the_json_kubectl_sent_before_1_32() {
        for (name, pb, json) in CAPTURES {
            let decoded = decode_body(pb).unwrap_or_else(|error| panic!("{name}: {error}"));
            let mut expected: Value = serde_json::from_str(json).expect("fixture JSON parses");
            without_null_creation_timestamps(&mut expected);
            assert_eq!(decoded, expected, "{name}");
        }
    }

    #[test]
    fn create_deployment_reads_as_its_json() {
        assert_eq!(
            capture("deployment"),
            json!({
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{
                            "name": "nginx",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "resources": {},
                        }]},
                    },
                    "strategy": {},
                },
                "status": {},
            })
        );
        assert_eq!(capture("deployment-command")["spec"]["replicas"], json!(0));
    }

    #[test]
    fn bytes_become_base64() {
        let configmap = capture("configmap");
        assert_eq!(configmap["data"], json!({"mode": "prod", "empty": ""}));
        assert_eq!(configmap["binaryData"], json!({"blob": "YmluAP/+"}));
        let secret = capture("secret-generic");
        assert_eq!(secret["data"]["password"], json!("aHVudGVyMg=="));
        assert_eq!(secret["type"], json!("Opaque"));
    }

    #[test]
    fn int_or_string_fields_keep_their_form() {
        assert_eq!(capture("pdb-max")["spec"]["maxUnavailable"], json!("50%"));
        assert_eq!(capture("pdb-min")["spec"]["minAvailable"], json!(1));
        let ports = &capture("service-clusterip")["spec"]["ports"];
        assert_eq!(ports[0]["targetPort"], json!(8080));
        assert_eq!(ports[1]["targetPort"], json!("https"));
    }

    #[test]
    fn reviews_keep_their_unset_status_fields() {
        assert_eq!(
            capture("can-i-list"),
            json!({
                "kind": "SelfSubjectRulesReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {},
                "spec": {"namespace": "default"},
                "status": {"resourceRules": null, "nonResourceRules": null, "incomplete": false},
            })
        );
        assert_eq!(
            capture("can-i")["spec"],
            json!({"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}})
        );
        assert_eq!(capture("whoami")["status"], json!({"userInfo": {}}));
        let token = capture("token");
        assert_eq!(
            token["spec"],
            json!({"audiences": ["api", "vault"], "expirationSeconds": 3600, "boundObjectRef": null})
        );
        assert_eq!(
            token["status"],
            json!({"token": "", "expirationTimestamp": null})
        );
    }

    #[test]
    fn a_full_pod_template_survives() {
        let job = capture("job-from-cronjob");
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["terminationGracePeriodSeconds"], json!(0));
        assert_eq!(pod["automountServiceAccountToken"], json!(false));
        assert_eq!(
            pod["securityContext"]["supplementalGroups"],
            json!([1, 2, 3])
        );
        let main = &pod["containers"][0];
        assert_eq!(main["securityContext"]["runAsUser"], json!(0));
        assert_eq!(main["livenessProbe"]["httpGet"]["port"], json!("http"));
        assert_eq!(
            main["resources"]["limits"],
            json!({"cpu": "500m", "memory": "128Mi"})
        );
        assert_eq!(
            pod["volumes"][2],
            json!({"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}})
        );
        assert_eq!(
            job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"],
            json!([1, 2, 42])
        );
        assert_eq!(
            job["metadata"]["ownerReferences"][0]["controller"],
            json!(true)
        );
    }

    #[test]
    fn a_copied_pod_keeps_its_volumes_and_probes() {
        let pod = capture("debug-copy");
        assert_eq!(pod["metadata"]["name"], json!("rich-debug"));
        let spec = &pod["spec"];
        assert_eq!(spec["shareProcessNamespace"], json!(true));
        assert_eq!(
            spec["volumes"][6]["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"],
            json!({"requests": {"storage": "1Gi"}})
        );
        assert_eq!(
            spec["containers"][0]["lifecycle"]["preStop"],
            json!({"sleep": {"seconds": 5}})
        );
        assert_eq!(spec["tolerations"][0]["tolerationSeconds"], json!(300));
    }

    #[test]
    fn kubectl_1_33_adds_only_its_new_fields() {
        let newer = include_bytes!("../../../tests/fixtures/protobuf/job-from-cronjob-1.33.pb");
        let mut newer = decode_body(newer).expect("1.33 capture decodes");
        let lifecycle = &mut newer["spec"]["template"]["spec"]["containers"][0]["lifecycle"];
        let stop_signal = lifecycle
            .as_object_mut()
            .and_then(|object| object.remove("stopSignal"));
        assert_eq!(stop_signal, Some(json!("SIGTERM")));
        assert_eq!(newer, capture("job-from-cronjob"));
    }

    #[test]
    fn times_in_an_approved_csr() {
        let csr = capture("csr-approve");
        let conditions = &csr["status"]["conditions"];
        assert_eq!(
            conditions[0]["lastUpdateTime"],
            json!("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            conditions[0]["lastTransitionTime"],
            json!("2024-05-01T10:00:01Z")
        );
        assert_eq!(conditions[1]["lastTransitionTime"], Value::Null);
        assert_eq!(
            csr["metadata"]["creationTimestamp"],
            json!("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            csr["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:request": {}, "f:signerName": {}}})
        );
        assert_eq!(
            csr["spec"]["extra"],
            json!({"scopes": ["a", "b"], "empty": []})
        );
    }

    #[test]
    fn delete_options_decode_in_any_group_version() {
        assert_eq!(
            capture("drain-delete-options"),
            json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 30})
        );
        let options = body("apps/v1", "DeleteOptions", &[text(4, "Foreground")]);
        assert_eq!(
            decode_body(&options).expect("decodes"),
            json!({"kind": "DeleteOptions", "apiVersion": "apps/v1", "propagationPolicy": "Foreground"})
        );
    }

    #[test]
    fn leases_carry_micro_times() {
        let lease = body(
            "coordination.k8s.io/v1",
            "Lease",
            &[
                message(
                    1,
                    &[
                        text(1, "node-1"),
                        text(3, "kube-node-lease"),
                        message(8, &[]),
                    ],
                ),
                message(
                    2,
                    &[
                        text(1, "node-1"),
                        int(2, 40),
                        message(4, &[int(1, 1_714_557_600), int(2, 5_000)]),
                    ],
                ),
            ],
        );
        assert_eq!(
            decode_body(&lease).expect("decodes"),
            json!({
                "kind": "Lease",
                "apiVersion": "coordination.k8s.io/v1",
                "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": "node-1",
                    "leaseDurationSeconds": 40,
                    "renewTime": "2024-05-01T10:00:00.000005Z",
                },
            })
        );
    }

    #[test]
    fn raw_extensions_may_embed_protobuf_objects() {
        let configmap = body(
            "v1",
            "ConfigMap",
            &[message(2, &[text(1, "k"), text(2, "v")])],
        );
        let revision = body(
            "apps/v1",
            "ControllerRevision",
            &[message(2, &[bytes(1, &configmap)]), int(3, 2)],
        );
        assert_eq!(
            decode_body(&revision).expect("decodes"),
            json!({
                "kind": "ControllerRevision",
                "apiVersion": "apps/v1",
                "metadata": {},
                "data": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {}, "data": {"k": "v"}},
                "revision": 2,
            })
        );
    }

    #[test]
    fn embedded_objects_cannot_nest_without_bound() {
        let mut nested = body("v1", "ConfigMap", &[]);
        for _ in 0..=decode::MAX_DEPTH {
            nested = body(
                "apps/v1",
                "ControllerRevision",
                &[message(2, &[bytes(1, &nested)])],
            );
        }
        assert!(matches!(
            decode_body(&nested),
            Err(ProtobufError::DecodeObject { .. })
        ));
    }

    #[test]
    fn bodies_that_are_not_protobuf_fail() {
        assert!(matches!(
            decode_body(br#"{"kind":"ConfigMap"}"#),
            Err(ProtobufError::MissingMagic)
        ));
        assert!(matches!(
            decode_body(b"k8s\0\x0a\x05"),
            Err(ProtobufError::ReadEnvelope(WireError::Truncated { .. }))
        ));
        assert!(matches!(
            decode_body(b"k8s\0"),
            Err(ProtobufError::MissingTypeMeta)
        ));
    }

    #[test]
    fn envelopes_are_checked() {
        let unknown = body("example.com/v1", "Widget", &[]);
        let error = decode_body(&unknown).expect_err("unknown kind");
        assert!(matches!(&error, ProtobufError::UnsupportedKind { kind, .. } if kind == "Widget"));
        assert_eq!(
            error.to_string(),
            "protobuf bodies of kind Widget in example.com/v1 are not supported; send the object as JSON"
        );
        let mut gzipped = body("v1", "ConfigMap", &[]);
        gzipped.extend(text(3, "gzip"));
        assert!(matches!(
            decode_body(&gzipped),
            Err(ProtobufError::UnsupportedContentEncoding(encoding)) if encoding == "gzip"
        ));
        let mut json_inside = body("v1", "ConfigMap", &[]);
        json_inside.extend(text(4, "application/json"));
        assert!(matches!(
            decode_body(&json_inside),
            Err(ProtobufError::UnsupportedContentType(_))
        ));
        let mut labelled = body("v1", "ConfigMap", &[]);
        labelled.extend(text(4, MEDIA_TYPE));
        assert!(decode_body(&labelled).is_ok());
    }

    #[test]
    fn decode_errors_name_kind_and_field() {
        let pod = body(
            "v1",
            "Pod",
            &[message(2, &[message(2, &[text(1, "c"), int(6, 80)])])],
        );
        let error = decode_body(&pod).expect_err("ports are messages");
        assert!(
            matches!(&error, ProtobufError::DecodeObject { field, .. } if field == "spec.containers[0].ports[0]")
        );
        assert_eq!(
            error.to_string(),
            "cannot decode Pod from protobuf at spec.containers[0].ports[0]: \
             wire type 0 where the field's type needs wire type 2"
        );
    }
}
