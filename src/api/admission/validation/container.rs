//! Containers, init containers and ephemeral containers: names (unique across all three),
//! images, ports, env and envFrom, pull and resize policies; mounts, probes and security
//! settings are checked by their own modules.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::json::Node;
use super::names::{
    NameRule, config_map_key_errors, dns1123_label_errors, env_var_name_errors, invalid_each,
    port_name_errors, port_num_errors,
};
use super::probes::{validate_lifecycle, validate_probe};
use super::projected::{ENV_DOWNWARD_FIELDS, object_field_selector, resource_field_selector};
use super::resources::validate_resource_requirements;
use super::security_context::security_context;
use super::volume_mounts::{validate_volume_devices, validate_volume_mounts};
use super::volumes::VolumeKind;
use crate::api::field_error::FieldError;

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];

/// What every container check needs from the pod.
pub(crate) struct PodContext<'a> {
    pub volumes: &'a BTreeMap<String, VolumeKind>,
    pub claim_names: &'a BTreeSet<String>,
    pub grace_period: Option<i64>,
    pub restart_policy: &'a str,
    pub host_users: bool,
}

fn validate_ports(ports: &Node, errs: &mut Vec<FieldError>) {
    let mut names = BTreeSet::new();
    for port in ports.items(errs) {
        let name_node = port.field("name");
        let name = name_node.str(errs);
        if !name.is_empty() {
            let msgs = port_name_errors(name);
            if !msgs.is_empty() {
                errs.extend(invalid_each(name_node.path(), name, msgs));
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(name_node.path(), &Value::from(name)));
            }
        }
        let container_port = port.field("containerPort");
        let cp = container_port.int(errs);
        if cp == 0 {
            errs.push(FieldError::required(container_port.path(), ""));
        } else {
            for msg in port_num_errors(cp) {
                errs.push(FieldError::invalid(
                    container_port.path(),
                    &Value::from(cp),
                    &msg,
                ));
            }
        }
        let host_port = port.field("hostPort");
        let hp = host_port.int(errs);
        if hp != 0 {
            for msg in port_num_errors(hp) {
                errs.push(FieldError::invalid(
                    host_port.path(),
                    &Value::from(hp),
                    &msg,
                ));
            }
        }
        protocol(&port.field("protocol"), errs);
    }
}

/// A required protocol among TCP, UDP and SCTP.
pub(crate) fn protocol(node: &Node, errs: &mut Vec<FieldError>) {
    let p = node.str(errs);
    if p.is_empty() {
        errs.push(FieldError::required(node.path(), ""));
    } else if !PROTOCOLS.contains(&p) {
        errs.push(FieldError::not_supported(
            node.path(),
            &Value::from(p),
            &PROTOCOLS,
        ));
    }
}

fn key_selector(selector: &Node, errs: &mut Vec<FieldError>) {
    let name = selector.field("name");
    let n = name.str(errs);
    errs.extend(invalid_each(
        name.path(),
        n,
        NameRule::Dns1123Subdomain.errors(n, false),
    ));
    let key = selector.field("key");
    let k = key.str(errs);
    if k.is_empty() {
        errs.push(FieldError::required(key.path(), ""));
    } else {
        errs.extend(invalid_each(key.path(), k, config_map_key_errors(k)));
    }
}

fn validate_env(env: &Node, errs: &mut Vec<FieldError>) {
    for var in env.items(errs) {
        let name_node = var.field("name");
        let name = name_node.str(errs);
        if name.is_empty() {
            errs.push(FieldError::required(name_node.path(), ""));
        } else {
            errs.extend(invalid_each(
                name_node.path(),
                name,
                env_var_name_errors(name),
            ));
        }
        let from = var.field("valueFrom");
        if !from.is_set() {
            continue;
        }
        let mut sources = 0;
        let field_ref = from.field("fieldRef");
        if field_ref.is_set() {
            sources += 1;
            object_field_selector(&field_ref, &ENV_DOWNWARD_FIELDS, errs);
        }
        let resource_ref = from.field("resourceFieldRef");
        if resource_ref.is_set() {
            sources += 1;
            resource_field_selector(&resource_ref, false, errs);
        }
        for key in ["configMapKeyRef", "secretKeyRef"] {
            let selector = from.field(key);
            if selector.is_set() {
                sources += 1;
                key_selector(&selector, errs);
            }
        }
        for key in ["fileKeyRef"] {
            if from.field(key).is_set() {
                sources += 1;
            }
        }
        let blank = Value::from("");
        if sources == 0 {
            errs.push(FieldError::invalid(
                from.path(),
                &blank,
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !var.field("value").str(errs).is_empty() {
            errs.push(FieldError::invalid(
                from.path(),
                &blank,
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                from.path(),
                &blank,
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_env_from(list: &Node, errs: &mut Vec<FieldError>) {
    for source in list.items(errs) {
        let prefix = source.field("prefix");
        let p = prefix.str(errs);
        if !p.is_empty() {
            errs.extend(invalid_each(prefix.path(), p, env_var_name_errors(p)));
        }
        let mut count = 0;
        for key in ["configMapRef", "secretRef"] {
            let r = source.field(key);
            if r.is_set() {
                count += 1;
                let name = r.field("name");
                let n = name.str(errs);
                if n.is_empty() {
                    errs.push(FieldError::required(name.path(), ""));
                } else {
                    errs.extend(invalid_each(
                        name.path(),
                        n,
                        NameRule::Dns1123Subdomain.errors(n, true),
                    ));
                }
            }
        }
        let blank = Value::from("");
        if count == 0 {
            errs.push(FieldError::invalid(
                list.path(),
                &blank,
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if count > 1 {
            errs.push(FieldError::invalid(
                list.path(),
                &blank,
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_resize_policy(list: &Node, pod_restart: &str, errs: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for (i, policy) in list.items(errs).iter().enumerate() {
        let resource = policy.field("resourceName").str(errs);
        if !seen.insert(resource) {
            errs.push(FieldError::duplicate(
                list.path().index(i),
                &Value::from(resource),
            ));
        }
        match resource {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(list.path(), "")),
            other => errs.push(FieldError::not_supported(
                list.path(),
                &Value::from(other),
                &["cpu", "memory"],
            )),
        }
        let restart = policy.field("restartPolicy").str(errs);
        match restart {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(list.path(), "")),
            other => errs.push(FieldError::not_supported(
                list.path(),
                &Value::from(other),
                &["NotRequired", "RestartContainer"],
            )),
        }
        if pod_restart == "Never" && restart != "NotRequired" {
            errs.push(FieldError::invalid(
                list.path(),
                &Value::from(restart),
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
}

/// Checks shared by every kind of container (upstream `validateContainerCommon`).
fn validate_container_common(ctr: &Node, ctx: &PodContext, errs: &mut Vec<FieldError>) {
    let name_node = ctr.field("name");
    let name = name_node.str(errs);
    if name.is_empty() {
        errs.push(FieldError::required(name_node.path(), ""));
    } else {
        errs.extend(invalid_each(
            name_node.path(),
            name,
            dns1123_label_errors(name),
        ));
    }
    let image = ctr.field("image");
    if image.str(errs).is_empty() {
        errs.push(FieldError::required(image.path(), ""));
    }
    let tmp = ctr.field("terminationMessagePolicy");
    match tmp.str(errs) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(tmp.path(), "")),
        other => errs.push(FieldError::not_supported(
            tmp.path(),
            &Value::from(other),
            &["File", "FallbackToLogsOnError"],
        )),
    }
    validate_ports(&ctr.field("ports"), errs);
    validate_env(&ctr.field("env"), errs);
    validate_env_from(&ctr.field("envFrom"), errs);
    validate_volume_mounts(ctr, ctx, errs);
    validate_volume_devices(ctr, ctx, errs);
    let pull = ctr.field("imagePullPolicy");
    match pull.str(errs) {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(pull.path(), "")),
        other => errs.push(FieldError::not_supported(
            pull.path(),
            &Value::from(other),
            &PULL_POLICIES,
        )),
    }
    validate_resource_requirements(&ctr.field("resources"), ctx.claim_names, errs);
    validate_resize_policy(&ctr.field("resizePolicy"), ctx.restart_policy, errs);
    security_context(&ctr.field("securityContext"), ctx.host_users, errs);
}

fn host_port_conflicts(
    containers: &[Node],
    seen: &mut BTreeSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let mut ignored = Vec::new();
    for ctr in containers {
        for port in ctr.field("ports").items(&mut ignored) {
            let host_port = port.field("hostPort").int(&mut ignored);
            if host_port == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{host_port}",
                port.field("protocol").str(&mut ignored),
                port.field("hostIP").str(&mut ignored)
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    port.path().child("hostPort"),
                    &Value::from(key),
                ));
            }
        }
    }
}

/// `spec.containers`.
pub(crate) fn validate_containers(list: &Node, ctx: &PodContext, errs: &mut Vec<FieldError>) {
    let containers = list.items(errs);
    if containers.is_empty() {
        errs.push(FieldError::required(list.path(), ""));
        return;
    }
    let mut names = BTreeSet::new();
    for ctr in &containers {
        validate_container_common(ctr, ctx, errs);
        let name = ctr.field("name").str(errs);
        if !names.insert(name) {
            errs.push(FieldError::duplicate(
                ctr.path().child("name"),
                &Value::from(name),
            ));
        }
        let lifecycle = ctr.field("lifecycle");
        if lifecycle.is_set() {
            validate_lifecycle(&lifecycle, ctx.grace_period, errs);
        }
        validate_probe(
            &ctr.field("livenessProbe"),
            "liveness",
            ctx.grace_period,
            errs,
        );
        validate_probe(
            &ctr.field("readinessProbe"),
            "readiness",
            ctx.grace_period,
            errs,
        );
        validate_probe(
            &ctr.field("startupProbe"),
            "startup",
            ctx.grace_period,
            errs,
        );
        let restart = ctr.field("restartPolicy");
        if restart.is_set() {
            errs.push(FieldError::forbidden(
                restart.path(),
                "may not be set for non-init containers",
            ));
        }
    }
    host_port_conflicts(&containers, &mut BTreeSet::new(), errs);
}

/// `spec.initContainers`; names must also differ from the regular containers'.
pub(crate) fn validate_init_containers(
    list: &Node,
    regular: &Node,
    ctx: &PodContext,
    errs: &mut Vec<FieldError>,
) {
    let mut ignored = Vec::new();
    let mut names: BTreeSet<&str> = regular
        .items(&mut ignored)
        .iter()
        .map(|c| c.field("name").str(&mut ignored))
        .collect();
    for ctr in list.items(errs) {
        validate_container_common(&ctr, ctx, errs);
        let restart = ctr.field("restartPolicy");
        let restart_always = match restart.opt_str(errs) {
            None => false,
            Some("Always") => true,
            Some(other) => {
                errs.push(FieldError::not_supported(
                    restart.path(),
                    &Value::from(other),
                    &["Always"],
                ));
                false
            }
        };
        let name = ctr.field("name").str(errs);
        if names.contains(name) {
            errs.push(FieldError::duplicate(
                ctr.path().child("name"),
                &Value::from(name),
            ));
        } else if !name.is_empty() {
            names.insert(name);
        }
        host_port_conflicts(std::slice::from_ref(&ctr), &mut BTreeSet::new(), errs);
        if restart_always {
            let lifecycle = ctr.field("lifecycle");
            if lifecycle.is_set() {
                validate_lifecycle(&lifecycle, ctx.grace_period, errs);
            }
            validate_probe(
                &ctr.field("livenessProbe"),
                "liveness",
                ctx.grace_period,
                errs,
            );
            validate_probe(
                &ctr.field("readinessProbe"),
                "readiness",
                ctx.grace_period,
                errs,
            );
            validate_probe(
                &ctr.field("startupProbe"),
                "startup",
                ctx.grace_period,
                errs,
            );
        } else {
            for key in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if ctr.field(key).is_set() {
                    errs.push(FieldError::forbidden(
                        ctr.path().child(key),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
        let resize = ctr.field("resizePolicy");
        if resize.len() > 0 && !restart_always {
            errs.push(FieldError::invalid(
                resize.path(),
                resize.value(),
                "must not be set for init containers",
            ));
        }
    }
}

/// `spec.ephemeralContainers` (set only through the ephemeralcontainers subresource).
pub(crate) fn validate_ephemeral_containers(
    list: &Node,
    containers: &Node,
    init_containers: &Node,
    ctx: &PodContext,
    errs: &mut Vec<FieldError>,
) {
    const DISALLOWED: [&str; 6] = [
        "ports",
        "resources",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle",
    ];
    let mut ignored = Vec::new();
    let others: BTreeSet<&str> = containers
        .items(&mut ignored)
        .iter()
        .chain(init_containers.items(&mut ignored).iter())
        .map(|c| c.field("name").str(&mut ignored))
        .collect();
    let mut all = others.clone();
    for ctr in list.items(errs) {
        validate_container_common(&ctr, ctx, errs);
        image_whitespace(&ctr, errs);
        let name = ctr.field("name").str(errs);
        if !all.insert(name) {
            errs.push(FieldError::duplicate(
                ctr.path().child("name"),
                &Value::from(name),
            ));
        }
        let target = ctr.field("targetContainerName");
        let t = target.str(errs);
        if !t.is_empty() && !others.contains(t) {
            errs.push(FieldError::not_found(target.path(), &Value::from(t)));
        }
        for key in DISALLOWED {
            if super::json::normalized(ctr.field(key).value()).is_some() {
                errs.push(FieldError::forbidden(
                    ctr.path().child(key),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        for mount in ctr.field("volumeMounts").items(errs) {
            for key in ["subPath", "subPathExpr"] {
                if !mount.field(key).str(errs).is_empty() {
                    errs.push(FieldError::forbidden(
                        mount.path().child(key),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
    }
}

/// A pod's own rule (not a template's): no whitespace around the image.
pub(crate) fn image_whitespace(ctr: &Node, errs: &mut Vec<FieldError>) {
    let image = ctr.field("image");
    let i = image.str(errs);
    if i.trim() != i {
        errs.push(FieldError::invalid(
            image.path(),
            &Value::from(i),
            "must not have leading or trailing whitespace",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::field_error::Path;
    use serde_json::json;

    fn check(containers: Value, volumes: &[&str]) -> Vec<String> {
        let vols: BTreeMap<String, VolumeKind> = volumes
            .iter()
            .map(|v| (v.to_string(), VolumeKind::default()))
            .collect();
        let claims = BTreeSet::new();
        let ctx = PodContext {
            volumes: &vols,
            claim_names: &claims,
            grace_period: Some(30),
            restart_policy: "Always",
            host_users: true,
        };
        let mut errs = Vec::new();
        validate_containers(
            &Node::new(&containers, Path::root("spec").child("containers")),
            &ctx,
            &mut errs,
        );
        errs.iter().map(|e| e.to_string()).collect()
    }

    fn ctr(extra: Value) -> Value {
        let mut base = json!({"name": "c", "image": "nginx", "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File"});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    }

    #[test]
    fn basic_container_rules() {
        assert!(check(json!([ctr(json!({}))]), &[]).is_empty());
        assert_eq!(
            check(json!([]), &[]),
            vec!["spec.containers: Required value"]
        );
        assert_eq!(
            check(json!([ctr(json!({"image": ""}))]), &[]),
            vec!["spec.containers[0].image: Required value"]
        );
        assert_eq!(
            check(json!([ctr(json!({})), ctr(json!({}))]), &[]),
            vec!["spec.containers[1].name: Duplicate value: \"c\""]
        );
        assert_eq!(
            check(json!([ctr(json!({"imagePullPolicy": "Sometimes"}))]), &[]),
            vec![
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
            ]
        );
    }

    #[test]
    fn ports_env_and_mounts() {
        assert_eq!(
            check(
                json!([ctr(
                    json!({"ports": [{"containerPort": 70000, "protocol": "TCP"}, {"containerPort": 80, "protocol": "HTTP"}]})
                )]),
                &[]
            ),
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            ]
        );
        assert_eq!(
            check(
                json!([ctr(json!({"env": [{"name": ""}, {"name": "A=B"}]}))]),
                &[]
            ),
            vec![
                "spec.containers[0].env[0].name: Required value",
                "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            ]
        );
        assert_eq!(
            check(
                json!([ctr(
                    json!({"volumeMounts": [{"name": "data", "mountPath": "/d"}]})
                )]),
                &[]
            ),
            vec!["spec.containers[0].volumeMounts[0].name: Not found: \"data\""]
        );
        assert!(
            check(
                json!([ctr(
                    json!({"volumeMounts": [{"name": "data", "mountPath": "/d"}]})
                )]),
                &["data"]
            )
            .is_empty()
        );
    }

    #[test]
    fn probes() {
        let probe = json!({"httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 2, "failureThreshold": -1});
        assert_eq!(
            check(json!([ctr(json!({"livenessProbe": probe}))]), &[]),
            vec![
                "spec.containers[0].livenessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            ]
        );
        assert_eq!(
            check(
                json!([ctr(json!({"readinessProbe": {"successThreshold": 1}}))]),
                &[]
            ),
            vec!["spec.containers[0].readinessProbe: Required value: must specify a handler type"]
        );
    }
}
