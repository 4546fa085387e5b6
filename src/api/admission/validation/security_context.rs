//! Security settings of pods and containers: user and group ids, seccomp and AppArmor
//! profiles, proc mounts, privilege escalation, sysctls and the pod-level security context.

use std::collections::BTreeSet;

use serde_json::Value;

use super::json::Node;
use super::names::inclusive_range_error;
use super::volumes::local_descending_path;
use crate::api::field_error::FieldError;

const MAX_ID: i64 = i32::MAX as i64;
const SYSCTL_REGEX: &str =
    "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

/// A seccomp profile (pod or container level).
pub(crate) fn seccomp_profile(profile: &Node, errs: &mut Vec<FieldError>) {
    if !profile.is_set() {
        return;
    }
    let kind_node = profile.field("type");
    let kind = kind_node.str(errs);
    match kind {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(
            kind_node.path(),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            kind_node.path(),
            &Value::from(other),
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    let local = profile.field("localhostProfile");
    if kind == "Localhost" {
        match local.opt_str(errs) {
            None => errs.push(FieldError::required(
                local.path(),
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => local_descending_path(local.path(), p, errs),
        }
    } else if local.is_set() {
        errs.push(FieldError::invalid(
            local.path(),
            profile.value(),
            "can only be set when seccomp type is Localhost",
        ));
    }
}

/// An AppArmor profile (pod or container level).
pub(crate) fn app_armor_profile(profile: &Node, errs: &mut Vec<FieldError>) {
    if !profile.is_set() {
        return;
    }
    let kind_node = profile.field("type");
    let local = profile.field("localhostProfile");
    match kind_node.str(errs) {
        "Localhost" => match local.opt_str(errs) {
            None | Some("") => errs.push(FieldError::required(
                local.path(),
                "must be set when AppArmor type is Localhost",
            )),
            Some(p) if p.trim() != p => errs.push(FieldError::invalid(
                local.path(),
                &Value::from(p),
                "must not be padded with whitespace",
            )),
            Some(p) if p.len() > 4095 => errs.push(FieldError::too_long(local.path(), 4095)),
            Some(_) => {}
        },
        "RuntimeDefault" | "Unconfined" => {
            if local.is_set() {
                errs.push(FieldError::invalid(
                    local.path(),
                    local.value(),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(
            kind_node.path(),
            "type is required when appArmorProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            kind_node.path(),
            &Value::from(other),
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
}

/// A user or group id: 0 ≤ id ≤ 2147483647.
pub(crate) fn id_range(node: &Node, errs: &mut Vec<FieldError>) {
    if let Some(id) = node.opt_int(errs)
        && !(0..=MAX_ID).contains(&id)
    {
        errs.push(FieldError::invalid(
            node.path(),
            &Value::from(id),
            &inclusive_range_error(0, MAX_ID),
        ));
    }
}

pub(crate) fn security_context(sc: &Node, host_users: bool, errs: &mut Vec<FieldError>) {
    if !sc.is_set() {
        return;
    }
    id_range(&sc.field("runAsUser"), errs);
    id_range(&sc.field("runAsGroup"), errs);
    let proc_mount = sc.field("procMount");
    if let Some(p) = proc_mount.opt_str(errs) {
        if p != "Default" && p != "Unmasked" {
            errs.push(FieldError::not_supported(
                proc_mount.path(),
                &Value::from(p),
                &["Default", "Unmasked"],
            ));
        }
        if host_users && p == "Unmasked" {
            errs.push(FieldError::invalid(
                proc_mount.path(),
                &Value::from(p),
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    seccomp_profile(&sc.field("seccompProfile"), errs);
    if sc.field("allowPrivilegeEscalation").opt_bool(errs) == Some(false) {
        if sc.field("privileged").bool(errs) {
            errs.push(FieldError::invalid(
                sc.path(),
                sc.value(),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds = sc.at(&["capabilities", "add"]).string_list(errs);
        if adds.contains(&"CAP_SYS_ADMIN") {
            errs.push(FieldError::invalid(
                sc.path(),
                sc.value(),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    app_armor_profile(&sc.field("appArmorProfile"), errs);
}

fn sysctl_name_ok(name: &str) -> bool {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    name.len() <= 253 && name.split(['.', '/']).all(segment_ok)
}

fn sysctl_namespace(name: &str) -> &'static str {
    let name = name.replace('/', ".");
    if name.starts_with("net.") {
        "net"
    } else if name.starts_with("kernel.shm")
        || name.starts_with("kernel.msg")
        || name == "kernel.sem"
        || name.starts_with("fs.mqueue.")
    {
        "ipc"
    } else {
        ""
    }
}

pub(crate) fn pod_security_context(spec: &Node, errs: &mut Vec<FieldError>) {
    let sc = spec.field("securityContext");
    let path = spec.path().child("securityContext");
    let mut ignored = Vec::new();
    let host_pid = spec.field("hostPID").bool(&mut ignored);
    if spec.field("shareProcessNamespace").opt_bool(errs) == Some(true) && host_pid {
        errs.push(FieldError::invalid(
            path.child("shareProcessNamespace"),
            &Value::from(true),
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    if !sc.is_set() {
        return;
    }
    for key in ["fsGroup", "runAsUser", "runAsGroup"] {
        id_range(&sc.field(key), errs);
    }
    for group in sc.field("supplementalGroups").items(errs) {
        id_range(&group, errs);
    }
    let sysctls = sc.field("sysctls");
    let mut names = BTreeSet::new();
    let host_network = spec.field("hostNetwork").bool(&mut ignored);
    let host_ipc = spec.field("hostIPC").bool(&mut ignored);
    for sysctl in sysctls.items(errs) {
        let name_node = sysctl.field("name");
        let name = name_node.str(errs);
        if name.is_empty() {
            errs.push(FieldError::required(name_node.path(), ""));
        } else if !sysctl_name_ok(name) {
            errs.push(FieldError::invalid(
                name_node.path(),
                &Value::from(name),
                &format!("must have at most 253 characters and match regex {SYSCTL_REGEX}"),
            ));
        } else if names.contains(name) {
            errs.push(FieldError::duplicate(name_node.path(), &Value::from(name)));
        }
        match sysctl_namespace(name) {
            "net" if host_network => errs.push(FieldError::invalid(
                name_node.path(),
                &Value::from(name),
                "may not be specified when 'hostNetwork' is true",
            )),
            "ipc" if host_ipc => errs.push(FieldError::invalid(
                name_node.path(),
                &Value::from(name),
                "may not be specified when 'hostIPC' is true",
            )),
            _ => {}
        }
        names.insert(name);
    }
    let policy = sc.field("fsGroupChangePolicy");
    if let Some(p) = policy.opt_str(errs)
        && p != "Always"
        && p != "OnRootMismatch"
    {
        errs.push(FieldError::not_supported(
            policy.path(),
            &Value::from(p),
            &["Always", "OnRootMismatch"],
        ));
    }
    seccomp_profile(&sc.field("seccompProfile"), errs);
    app_armor_profile(&sc.field("appArmorProfile"), errs);
    let groups_policy = sc.field("supplementalGroupsPolicy");
    if let Some(p) = groups_policy.opt_str(errs)
        && p != "Merge"
        && p != "Strict"
    {
        errs.push(FieldError::not_supported(
            groups_policy.path(),
            &Value::from(p),
            &["Merge", "Strict"],
        ));
    }
}
