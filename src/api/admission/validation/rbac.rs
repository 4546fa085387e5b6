//! rbac.authorization.k8s.io: Roles and ClusterRoles (policy rules, aggregation) and their
//! bindings (roleRef, immutable once set, and subjects).

use serde_json::Value;

use super::json::{Node, semantically_equal};
use super::meta::{parse_label_selector, validate_label_selector};
use super::names::{NameRule, invalid_each};
use crate::api::field_error::{FieldError, Path};

const GROUP: &str = "rbac.authorization.k8s.io";

fn policy_rule(rule: &Node, namespaced: bool, errs: &mut Vec<FieldError>) {
    if rule.field("verbs").len() == 0 {
        errs.push(FieldError::required(
            rule.path().child("verbs"),
            "verbs must contain at least one value",
        ));
    }
    let urls = rule.field("nonResourceURLs");
    if urls.len() > 0 {
        if namespaced {
            errs.push(FieldError::invalid(
                urls.path(),
                urls.value(),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if ["apiGroups", "resources", "resourceNames"]
            .iter()
            .any(|k| rule.field(k).len() > 0)
        {
            errs.push(FieldError::invalid(
                urls.path(),
                urls.value(),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return;
    }
    if rule.field("apiGroups").len() == 0 {
        errs.push(FieldError::required(
            rule.path().child("apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if rule.field("resources").len() == 0 {
        errs.push(FieldError::required(
            rule.path().child("resources"),
            "resource rules must supply at least one resource",
        ));
    }
}

/// A Role's or ClusterRole's rules (and a ClusterRole's aggregation rule).
pub(crate) fn validate_role(obj: &Node, namespaced: bool, errs: &mut Vec<FieldError>) {
    for rule in obj.field("rules").items(errs) {
        policy_rule(&rule, namespaced, errs);
    }
    let aggregation = obj.field("aggregationRule");
    if namespaced || !aggregation.is_set() {
        return;
    }
    let selectors = aggregation.field("clusterRoleSelectors");
    let items = selectors.items(errs);
    if items.is_empty() {
        errs.push(FieldError::required(
            Path::root("aggregationRule").child("clusterRoleSelectors"),
            "at least one clusterRoleSelector required if aggregationRule is non-nil",
        ));
    }
    for selector in items {
        validate_label_selector(&selector, false, errs);
        if parse_label_selector(&selector).is_err() {
            errs.push(FieldError::invalid(
                selector.path(),
                selector.value(),
                "invalid label selector.",
            ));
        }
    }
}

fn subject(node: &Node, namespaced: bool, errs: &mut Vec<FieldError>) {
    let name_node = node.field("name");
    let name = name_node.str(errs);
    if name.is_empty() {
        errs.push(FieldError::required(name_node.path(), ""));
    }
    let group = node.field("apiGroup");
    let g = group.str(errs);
    let kind = node.field("kind");
    match kind.str(errs) {
        "ServiceAccount" => {
            if !name.is_empty() {
                errs.extend(invalid_each(
                    name_node.path(),
                    name,
                    NameRule::Dns1123Subdomain.errors(name, false),
                ));
            }
            if !g.is_empty() {
                errs.push(FieldError::not_supported(
                    group.path(),
                    &Value::from(g),
                    &[""],
                ));
            }
            if !namespaced && node.field("namespace").str(errs).is_empty() {
                errs.push(FieldError::required(node.path().child("namespace"), ""));
            }
        }
        "User" | "Group" => {
            if g != GROUP {
                errs.push(FieldError::not_supported(
                    group.path(),
                    &Value::from(g),
                    &[GROUP],
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            kind.path(),
            &Value::from(other),
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

/// A RoleBinding's or ClusterRoleBinding's roleRef and subjects.
pub(crate) fn validate_binding(obj: &Node, namespaced: bool, errs: &mut Vec<FieldError>) {
    let role_ref = obj.field("roleRef");
    let group = role_ref.field("apiGroup");
    let g = group.str(errs);
    if g != GROUP {
        errs.push(FieldError::not_supported(
            group.path(),
            &Value::from(g),
            &[GROUP],
        ));
    }
    let kind = role_ref.field("kind");
    let k = kind.str(errs);
    let allowed: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !allowed.contains(&k) {
        errs.push(FieldError::not_supported(
            kind.path(),
            &Value::from(k),
            allowed,
        ));
    }
    let name = role_ref.field("name");
    let n = name.str(errs);
    if n.is_empty() {
        errs.push(FieldError::required(name.path(), ""));
    } else {
        errs.extend(invalid_each(
            name.path(),
            n,
            NameRule::PathSegment.errors(n, false),
        ));
    }
    for s in obj.field("subjects").items(errs) {
        subject(&s, namespaced, errs);
    }
}

/// A binding update: `cannot change roleRef`.
pub(crate) fn validate_binding_update(new: &Node, old: &Node, errs: &mut Vec<FieldError>) {
    let (r, o) = (new.field("roleRef"), old.field("roleRef"));
    if !semantically_equal(r.value(), o.value()) {
        errs.push(FieldError::invalid(
            "roleRef",
            r.value(),
            "cannot change roleRef",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_rules() {
        let role = json!({"rules": [{"verbs": [], "apiGroups": [""], "resources": ["pods"]}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]});
        let mut errs = Vec::new();
        validate_role(&Node::root(&role), true, &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs",
            ]
        );
    }

    #[test]
    fn binding_rules() {
        let binding = json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa"}, {"kind": "Robot", "name": "x"}]});
        let mut errs = Vec::new();
        validate_binding(&Node::root(&binding), false, &mut errs);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value",
                "subjects[1].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            ]
        );
        let old = binding.clone();
        let mut new = binding;
        new["roleRef"]["name"] = json!("other");
        let mut errs = Vec::new();
        validate_binding_update(&Node::root(&new), &Node::root(&old), &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "roleRef: Invalid value: {\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"other\"}: cannot change roleRef"
        );
    }
}
