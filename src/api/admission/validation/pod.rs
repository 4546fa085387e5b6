//! Pods and pod templates on create: `PodSpec` as upstream's `ValidatePodSpec` checks it
//! (volumes, containers, policies, DNS, scheduling, host namespaces), pod-specific annotations,
//! and pod templates as workloads embed them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::container::{
    PodContext, image_whitespace, validate_containers, validate_ephemeral_containers,
    validate_init_containers,
};
use super::json::Node;
use super::meta::{validate_annotations, validate_labels, validate_object_meta};
use super::names::{
    NameRule, dns1123_label_errors, inclusive_range_error, invalid_each, ip_errors,
    label_key_errors, regex_error,
};
use super::resources::validate_resource_requirements;
use super::scheduling::{affinity, tolerations, topology_spread_constraints};
use super::security_context::pod_security_context;
use super::volumes::validate_volumes;
use crate::api::field_error::FieldError;

pub(crate) const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";
pub(crate) const APPARMOR_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
pub(crate) const MAX_INT32: i64 = i32::MAX as i64;
/// The fields a pod update may change, as upstream lists them in its message.
pub(crate) const UPDATABLE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Upstream's `ValidatePodSpecificAnnotations`.
pub(crate) fn pod_specific_annotations(
    annotations: &Node,
    spec: &Node,
    errs: &mut Vec<FieldError>,
) {
    let map = annotations.string_map(&mut Vec::new());
    let mut ignored = Vec::new();
    if let Some(value) = map.get(MIRROR_ANNOTATION)
        && spec.field("nodeName").str(&mut ignored).is_empty()
    {
        errs.push(FieldError::invalid(
            annotations.path().key(MIRROR_ANNOTATION),
            &Value::from(*value),
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    if let Some(cost) = map.get(DELETION_COST_ANNOTATION)
        && cost.parse::<i32>().is_err()
    {
        errs.push(FieldError::invalid(
            annotations.path().key(DELETION_COST_ANNOTATION),
            &Value::from(*cost),
            "must be a 32bit integer",
        ));
    }
}

fn dns_config(spec: &Node, errs: &mut Vec<FieldError>) {
    let config = spec.field("dnsConfig");
    let mut ignored = Vec::new();
    if spec.field("dnsPolicy").str(&mut ignored) == "None" {
        if !config.is_set() {
            errs.push(FieldError::required(
                config.path(),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
            return;
        }
        if config.field("nameservers").len() == 0 {
            errs.push(FieldError::required(
                config.path().child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
            return;
        }
    }
    if !config.is_set() {
        return;
    }
    let nameservers = config.field("nameservers");
    let servers = nameservers.string_list(errs);
    if servers.len() > 3 {
        errs.push(FieldError::invalid(
            nameservers.path(),
            nameservers.value(),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, server) in servers.iter().enumerate() {
        errs.extend(ip_errors(&nameservers.path().index(i), server));
    }
    let searches_node = config.field("searches");
    let searches = searches_node.string_list(errs);
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            searches_node.path(),
            searches_node.value(),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(FieldError::invalid(
            searches_node.path(),
            searches_node.value(),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, search) in searches.iter().enumerate() {
        if *search == "." {
            continue;
        }
        let trimmed = search.strip_suffix('.').unwrap_or(search);
        let plain = trimmed.replace('_', "a");
        let mut msgs = Vec::new();
        if trimmed.len() > 253 {
            msgs.push(super::names::max_len_chars(253));
        }
        if !super::names::dns1123_subdomain_errors(&plain)
            .iter()
            .all(|m| m.starts_with("must be no more"))
        {
            msgs.push(regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', and must start and end with an alphanumeric character",
                "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*",
                &["example.com"],
            ));
        }
        errs.extend(invalid_each(&searches_node.path().index(i), trimmed, msgs));
    }
    for option in config.field("options").items(errs) {
        if option.field("name").str(errs).is_empty() {
            errs.push(FieldError::required(option.path(), "must not be empty"));
        }
    }
}

fn host_network_ports(spec: &Node, is_pod: bool, errs: &mut Vec<FieldError>) {
    let mut ignored = Vec::new();
    if !spec.field("hostNetwork").bool(&mut ignored) {
        return;
    }
    for ctr in spec.field("containers").items(&mut ignored) {
        for port in ctr.field("ports").items(&mut ignored) {
            let hp = port.field("hostPort").int(&mut ignored);
            let cp = port.field("containerPort").int(&mut ignored);
            if (is_pod || hp != 0) && hp != cp {
                errs.push(FieldError::invalid(
                    port.path().child("hostPort"),
                    &Value::from(hp),
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
}

fn name_field(node: &Node, rule: NameRule, errs: &mut Vec<FieldError>) {
    if let Some(v) = node.opt_str(errs)
        && !v.is_empty()
    {
        errs.extend(invalid_each(node.path(), v, rule.errors(v, false)));
    }
}

/// Upstream's `ValidatePodSpec`. `pod_name` is the pod's own name (absent for templates),
/// `is_pod` says whether this is a Pod rather than a template.
pub(crate) fn validate_pod_spec(
    spec: &Node,
    pod_name: Option<&str>,
    is_pod: bool,
    errs: &mut Vec<FieldError>,
) {
    if spec.is_set() && spec.object(errs).is_none() {
        return;
    }
    let grace_node = spec.field("terminationGracePeriodSeconds");
    let grace = grace_node.opt_int(errs);
    if grace.is_none() {
        errs.push(FieldError::required(grace_node.path(), ""));
    }
    let host_users = spec.field("hostUsers").opt_bool(errs) != Some(false);
    let volumes = validate_volumes(&spec.field("volumes"), pod_name, errs);
    let mut claim_names = BTreeSet::new();
    for claim in spec.field("resourceClaims").items(errs) {
        let name_node = claim.field("name");
        let name = name_node.str(errs);
        if name.is_empty() {
            errs.push(FieldError::required(name_node.path(), ""));
        } else if claim_names.contains(name) {
            errs.push(FieldError::duplicate(name_node.path(), &Value::from(name)));
        } else {
            errs.extend(invalid_each(
                name_node.path(),
                name,
                dns1123_label_errors(name),
            ));
            claim_names.insert(name.to_string());
        }
        let (by_name, by_template) = (
            claim.field("resourceClaimName"),
            claim.field("resourceClaimTemplateName"),
        );
        match (by_name.opt_str(errs), by_template.opt_str(errs)) {
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                claim.path(),
                claim.value(),
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
            )),
            (None, None) => errs.push(FieldError::invalid(
                claim.path(),
                claim.value(),
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
            )),
            _ => {}
        }
        name_field(&by_name, NameRule::Dns1123Subdomain, errs);
        name_field(&by_template, NameRule::Dns1123Subdomain, errs);
    }
    let restart_node = spec.field("restartPolicy");
    let restart = restart_node.str(errs);
    let ctx = PodContext {
        volumes: &volumes,
        claim_names: &claim_names,
        grace_period: grace,
        restart_policy: restart,
        host_users,
    };
    let (containers, init) = (spec.field("containers"), spec.field("initContainers"));
    validate_containers(&containers, &ctx, errs);
    validate_init_containers(&init, &containers, &ctx, errs);
    validate_ephemeral_containers(
        &spec.field("ephemeralContainers"),
        &containers,
        &init,
        &ctx,
        errs,
    );
    host_network_ports(spec, is_pod, errs);
    match restart {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(restart_node.path(), "")),
        other => errs.push(FieldError::not_supported(
            restart_node.path(),
            &Value::from(other),
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns_policy = spec.field("dnsPolicy");
    match dns_policy.str(errs) {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(dns_policy.path(), "")),
        other => errs.push(FieldError::not_supported(
            dns_policy.path(),
            &Value::from(other),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    validate_labels(&spec.field("nodeSelector"), errs);
    pod_security_context(spec, errs);
    for secret in spec.field("imagePullSecrets").items(errs) {
        let extra = secret
            .value()
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k != "name"));
        if extra {
            errs.push(FieldError::invalid(
                secret.path(),
                secret.value(),
                "only name may be set",
            ));
        }
    }
    let aff = spec.field("affinity");
    if aff.is_set() {
        affinity(&aff, errs);
    }
    dns_config(spec, errs);
    for gate in spec.field("readinessGates").items(errs) {
        let condition = gate.field("conditionType");
        let c = condition.str(errs);
        errs.extend(invalid_each(condition.path(), c, label_key_errors(c)));
    }
    let mut gates = BTreeSet::new();
    for gate in spec.field("schedulingGates").items(errs) {
        let name = gate.field("name").str(errs);
        errs.extend(invalid_each(gate.path(), name, label_key_errors(name)));
        if !gates.insert(name) {
            errs.push(FieldError::duplicate(gate.path(), &Value::from(name)));
        }
    }
    topology_spread_constraints(&spec.field("topologySpreadConstraints"), errs);
    if !host_users {
        let mut ignored = Vec::new();
        for (key, shown) in [
            ("hostNetwork", "hostNetwork"),
            ("hostPID", "HostPID"),
            ("hostIPC", "HostIPC"),
        ] {
            if spec.field(key).bool(&mut ignored) {
                errs.push(FieldError::forbidden(
                    spec.path().child(shown),
                    "when `pod.Spec.HostUsers` is false",
                ));
            }
        }
    }
    name_field(
        &spec.field("serviceAccountName"),
        NameRule::Dns1123Subdomain,
        errs,
    );
    name_field(&spec.field("nodeName"), NameRule::Dns1123Subdomain, errs);
    let deadline = spec.field("activeDeadlineSeconds");
    if let Some(d) = deadline.opt_int(errs)
        && !(1..=MAX_INT32).contains(&d)
    {
        errs.push(FieldError::invalid(
            deadline.path(),
            &Value::from(d),
            &inclusive_range_error(1, MAX_INT32),
        ));
    }
    for key in ["hostname", "subdomain"] {
        let node = spec.field(key);
        let v = node.str(errs);
        if !v.is_empty() {
            errs.extend(invalid_each(node.path(), v, dns1123_label_errors(v)));
        }
    }
    tolerations(&spec.field("tolerations"), errs);
    for alias in spec.field("hostAliases").items(errs) {
        let ip = alias.field("ip");
        let address = ip.str(errs);
        errs.extend(ip_errors(ip.path(), address));
        let hostnames = alias.field("hostnames");
        for (i, host) in hostnames.string_list(errs).iter().enumerate() {
            errs.extend(invalid_each(
                &hostnames.path().index(i),
                host,
                NameRule::Dns1123Subdomain.errors(host, false),
            ));
        }
    }
    name_field(
        &spec.field("priorityClassName"),
        NameRule::Dns1123Subdomain,
        errs,
    );
    let runtime_class = spec.field("runtimeClassName");
    if let Some(rc) = runtime_class.opt_str(errs) {
        errs.extend(invalid_each(
            runtime_class.path(),
            rc,
            NameRule::Dns1123Subdomain.errors(rc, false),
        ));
    }
    let preemption = spec.field("preemptionPolicy");
    if let Some(p) = preemption.opt_str(errs) {
        match p {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(preemption.path(), "")),
            other => errs.push(FieldError::not_supported(
                preemption.path(),
                &Value::from(other),
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    let overhead = spec.field("overhead");
    if overhead.is_set() {
        let wrapped = json!({ "limits": overhead.value() });
        validate_resource_requirements(
            &Node::new(&wrapped, overhead.path().clone()),
            &BTreeSet::new(),
            errs,
        );
    }
    let os = spec.field("os");
    if os.is_set() {
        let name = os.field("name");
        match name.str(errs) {
            "" => errs.push(FieldError::required(name.path(), "cannot be empty")),
            "linux" => {
                if spec.at(&["securityContext", "windowsOptions"]).is_set() {
                    errs.push(FieldError::forbidden(
                        spec.path().child("securityContext").child("windowsOptions"),
                        "windows options cannot be set for a linux pod",
                    ));
                }
            }
            "windows" => {}
            other => errs.push(FieldError::not_supported(
                os.path(),
                &Value::from(other),
                &["linux", "windows"],
            )),
        }
    }
}

pub(crate) fn validate_pod_metadata_and_spec(obj: &Node, errs: &mut Vec<FieldError>) {
    let meta = obj.field("metadata");
    validate_object_meta(&meta, true, NameRule::Dns1123Subdomain, errs);
    let spec = obj.field("spec");
    pod_specific_annotations(&meta.field("annotations"), &spec, errs);
    let name = meta.field("name").str(&mut Vec::new());
    validate_pod_spec(&spec, Some(name), true, errs);
    let mut ignored = Vec::new();
    if spec
        .field("serviceAccountName")
        .str(&mut ignored)
        .is_empty()
    {
        for volume in spec.field("volumes").items(&mut ignored) {
            for source in volume.at(&["projected", "sources"]).items(&mut ignored) {
                let token = source.field("serviceAccountToken");
                if token.is_set() {
                    errs.push(FieldError::forbidden(
                        token.path(),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for ctr in spec.field(list).items(&mut ignored) {
            image_whitespace(&ctr, errs);
        }
    }
}

/// A new Pod.
pub(crate) fn validate_pod_create(obj: &Node, errs: &mut Vec<FieldError>) {
    validate_pod_metadata_and_spec(obj, errs);
    let spec = obj.field("spec");
    if spec.field("ephemeralContainers").len() > 0 {
        errs.push(FieldError::forbidden(
            spec.path().child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    let mut ignored = Vec::new();
    if !spec.field("nodeName").str(&mut ignored).is_empty()
        && spec.field("schedulingGates").len() > 0
    {
        errs.push(FieldError::forbidden(
            spec.path().child("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
}

/// Upstream's `ValidatePodTemplateSpec` (templates inside workloads and PodTemplates).
pub(crate) fn validate_pod_template_spec(template: &Node, errs: &mut Vec<FieldError>) {
    if !template.is_set() {
        errs.push(FieldError::required(template.path(), ""));
        return;
    }
    let meta = template.field("metadata");
    validate_labels(
        &Node::new(
            meta.field("labels").value(),
            template.path().child("labels"),
        ),
        errs,
    );
    let annotations = Node::new(
        meta.field("annotations").value(),
        template.path().child("annotations"),
    );
    validate_annotations(&annotations, errs);
    let spec = template.field("spec");
    pod_specific_annotations(&annotations, &spec, errs);
    validate_pod_spec(&spec, None, false, errs);
    if spec.field("ephemeralContainers").len() > 0 {
        errs.push(FieldError::forbidden(
            spec.path().child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// A PodTemplate object.
pub(crate) fn validate_pod_template(obj: &Node, errs: &mut Vec<FieldError>) {
    validate_pod_template_spec(&obj.field("template"), errs);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::field_error::Path;

    pub(crate) fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1", "uid": "u1"},
            "spec": {
                "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File"}],
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler"
            }
        })
    }

    fn create(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_pod_create(&Node::root(obj), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_defaulted_pod_is_valid() {
        assert_eq!(create(&pod()), Vec::<String>::new());
    }

    #[test]
    fn spec_level_rules() {
        let mut p = pod();
        p["spec"]["restartPolicy"] = json!("Sometimes");
        p["spec"]["activeDeadlineSeconds"] = json!(0);
        p["spec"]["hostname"] = json!("Bad_Host");
        assert_eq!(
            create(&p),
            vec![
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
                "spec.hostname: Invalid value: \"Bad_Host\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            ]
        );
        let mut p = pod();
        p["spec"]["initContainers"] = p["spec"]["containers"].clone();
        assert_eq!(
            create(&p),
            vec!["spec.initContainers[0].name: Duplicate value: \"c\""]
        );
    }

    #[test]
    fn templates_report_labels_at_template_path() {
        let t = json!({"metadata": {"labels": {"a": "-"}}, "spec": pod()["spec"].clone()});
        let mut errs = Vec::new();
        validate_pod_template_spec(
            &Node::new(&t, Path::root("spec").child("template")),
            &mut errs,
        );
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .to_string()
                .starts_with("spec.template.labels: Invalid value: \"-\": a valid label must be")
        );
    }
}
