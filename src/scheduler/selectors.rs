//! The matching rules the filters share, compiled once per pod: label selectors
//! (`metav1.LabelSelector`), node selector terms (`In`, `NotIn`, `Exists`, `DoesNotExist`,
//! `Gt`, `Lt`, `matchFields` on `metadata.name`), taints and tolerations.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as ApiLabelSelector;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
    /// An operator or value that cannot match anything (upstream fails such a selector).
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::In(values), Some(v)) => values.iter().any(|x| x == v),
            (Op::In(_), None) => false,
            (Op::NotIn(values), Some(v)) => !values.iter().any(|x| x == v),
            (Op::NotIn(_), None) => true,
            (Op::Exists, v) => v.is_some(),
            (Op::DoesNotExist, v) => v.is_none(),
            (Op::Gt(bound), Some(v)) => v.parse::<i64>().is_ok_and(|n| n > *bound),
            (Op::Lt(bound), Some(v)) => v.parse::<i64>().is_ok_and(|n| n < *bound),
            (Op::Gt(_) | Op::Lt(_), None) | (Op::Never, _) => false,
        }
    }

    fn from_parts(key: &str, operator: &str, values: &[String]) -> Requirement {
        let single = || match values {
            [one] => one.parse::<i64>().ok(),
            _ => None,
        };
        let op = match operator {
            "In" if !values.is_empty() => Op::In(values.to_vec()),
            "NotIn" if !values.is_empty() => Op::NotIn(values.to_vec()),
            "Exists" if values.is_empty() => Op::Exists,
            "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
            "Gt" => single().map_or(Op::Never, Op::Gt),
            "Lt" => single().map_or(Op::Never, Op::Lt),
            _ => Op::Never,
        };
        Requirement {
            key: key.to_string(),
            op,
        }
    }
}

/// A compiled `metav1.LabelSelector`. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn compile(selector: &ApiLabelSelector) -> LabelSelector {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement {
                key: key.clone(),
                op: Op::In(vec![value.clone()]),
            });
        }
        for expression in selector.match_expressions.iter().flatten() {
            let values = expression.values.clone().unwrap_or_default();
            let op = match expression.operator.as_str() {
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {
                    Requirement::from_parts(&expression.key, &expression.operator, &values).op
                }
                _ => Op::Never,
            };
            requirements.push(Requirement {
                key: expression.key.clone(),
                op,
            });
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements }
    }

    /// Adds `key in (value)` (or `notin` when `negated`): how `matchLabelKeys` and
    /// `mismatchLabelKeys` narrow a selector with the incoming pod's own label values.
    pub fn require(&mut self, key: &str, value: &str, negated: bool) {
        let values = vec![value.to_string()];
        self.requirements.push(Requirement {
            key: key.to_string(),
            op: if negated {
                Op::NotIn(values)
            } else {
                Op::In(values)
            },
        });
        self.requirements.sort_by(|a, b| a.key.cmp(&b.key));
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
    }

    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// A stable spelling, used to key the match-count indexes.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for r in &self.requirements {
            let _ = match &r.op {
                Op::In(v) => write!(out, "{} in ({}),", r.key, v.join("|")),
                Op::NotIn(v) => write!(out, "{} notin ({}),", r.key, v.join("|")),
                Op::Exists => write!(out, "{},", r.key),
                Op::DoesNotExist => write!(out, "!{},", r.key),
                Op::Gt(n) => write!(out, "{}>{n},", r.key),
                Op::Lt(n) => write!(out, "{}<{n},", r.key),
                Op::Never => write!(out, "{}#never,", r.key),
            };
        }
        out
    }
}

/// One compiled node selector term: its expressions on labels and fields, all required.
/// An empty term matches no node.
#[derive(Clone, Debug, Default)]
pub struct NodeTerm {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

fn compile_requirements(list: Option<&Vec<NodeSelectorRequirement>>) -> Vec<Requirement> {
    list.into_iter()
        .flatten()
        .map(|r| {
            Requirement::from_parts(&r.key, &r.operator, r.values.as_deref().unwrap_or_default())
        })
        .collect()
}

impl NodeTerm {
    pub fn compile(term: &NodeSelectorTerm) -> NodeTerm {
        let mut fields = compile_requirements(term.match_fields.as_ref());
        // Only `metadata.name` with In / NotIn is a valid field requirement.
        for f in &mut fields {
            if f.key != "metadata.name" || !matches!(f.op, Op::In(_) | Op::NotIn(_)) {
                f.op = Op::Never;
            }
        }
        NodeTerm {
            labels: compile_requirements(term.match_expressions.as_ref()),
            fields,
        }
    }

    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if self.labels.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.labels
            .iter()
            .all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self.fields.iter().all(|r| r.matches(Some(node_name)))
    }
}

/// The node constraints of a pod: `nodeSelector` and required node affinity (any term).
#[derive(Clone, Debug, Default)]
pub struct RequiredNodeAffinity {
    pub node_selector: Labels,
    /// `None`: no required affinity; `Some(terms)`: at least one term must match.
    pub terms: Option<Vec<NodeTerm>>,
}

impl RequiredNodeAffinity {
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .terms
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(node_name, labels)))
    }
}

/// Upstream's `ToleratesTaint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first `NoSchedule` or `NoExecute` taint the tolerations do not tolerate.
pub fn untolerated_hard_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(tolerations, t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn term(value: serde_json::Value) -> NodeTerm {
        NodeTerm::compile(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn node_terms_support_every_operator() {
        let node = labels(&[("zone", "a"), ("cores", "8")]);
        assert!(term(serde_json::json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]})).matches("n1", &node));
        assert!(!term(serde_json::json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]})).matches("n1", &node));
        assert!(term(serde_json::json!({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]})).matches("n1", &node));
        assert!(term(serde_json::json!({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]})).matches("n1", &node));
        assert!(!term(serde_json::json!({"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]})).matches("n1", &node));
        assert!(!term(serde_json::json!({"matchExpressions": [{"key": "zone", "operator": "Gt", "values": ["4"]}]})).matches("n1", &node));
        assert!(term(serde_json::json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]})).matches("n1", &node));
        assert!(!term(serde_json::json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]})).matches("n2", &node));
        assert!(!term(serde_json::json!({})).matches("n1", &node));
    }

    #[test]
    fn label_selectors_match_like_upstream() {
        let selector: ApiLabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}],
        }))
        .unwrap();
        let s = LabelSelector::compile(&selector);
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(LabelSelector::default().matches(&labels(&[])));
    }

    #[test]
    fn tolerations_follow_upstream_rules() {
        let taint: Taint = serde_json::from_value(
            serde_json::json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
        )
        .unwrap();
        let t = |v: serde_json::Value| -> Toleration { serde_json::from_value(v).unwrap() };
        assert!(tolerates(
            &t(serde_json::json!({"operator": "Exists"})),
            &taint
        ));
        assert!(tolerates(
            &t(serde_json::json!({"key": "dedicated", "value": "gpu"})),
            &taint
        ));
        assert!(!tolerates(
            &t(serde_json::json!({"key": "dedicated", "value": "cpu"})),
            &taint
        ));
        assert!(!tolerates(
            &t(
                serde_json::json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"})
            ),
            &taint
        ));
    }
}
