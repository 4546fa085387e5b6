//! Label and field selectors, as they arrive in `labelSelector=` and `fieldSelector=`.
//!
//! Labels: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists), `!a`
//! (does not exist), joined by commas. Fields: `path=value`, `path==value`, `path!=value`,
//! joined by commas; which paths a kind supports is in its registry entry.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelOp {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct SelectorError(pub String);

fn valid_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

fn valid_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            SelectorError(format!("{whole}: expected a set of values in parentheses"))
        })?;
    let values: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if values.iter().any(|v| !valid_label_value(v)) {
        return Err(SelectorError(format!("{whole}: invalid label value")));
    }
    Ok(values)
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if input.trim().is_empty() {
            return Ok(LabelSelector { requirements });
        }
        for part in split_top_level(input) {
            let part = part.trim();
            if part.is_empty() {
                return Err(SelectorError(format!("{input}: empty requirement")));
            }
            requirements.push(Self::parse_requirement(part)?);
        }
        Ok(LabelSelector { requirements })
    }

    fn parse_requirement(part: &str) -> Result<LabelRequirement, SelectorError> {
        let bad = || SelectorError(format!("{part}: invalid label key"));
        if let Some(key) = part.strip_prefix('!') {
            let key = key.trim();
            return valid_label_part(key)
                .then(|| LabelRequirement {
                    key: key.to_string(),
                    op: LabelOp::DoesNotExist,
                })
                .ok_or_else(bad);
        }
        for (token, make) in [
            ("!=", LabelOp::NotEquals as fn(String) -> LabelOp),
            ("==", LabelOp::Equals),
            ("=", LabelOp::Equals),
        ] {
            if let Some((key, value)) = part.split_once(token) {
                let (key, value) = (key.trim(), value.trim());
                if !valid_label_part(key) {
                    return Err(bad());
                }
                if !valid_label_value(value) {
                    return Err(SelectorError(format!(
                        "{part}: invalid label value: {value:?}"
                    )));
                }
                return Ok(LabelRequirement {
                    key: key.to_string(),
                    op: make(value.to_string()),
                });
            }
        }
        let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
        if words.len() == 2 {
            let key = words[0];
            let rest = words[1].trim_start();
            if !valid_label_part(key) {
                return Err(bad());
            }
            if let Some(set) = rest.strip_prefix("notin") {
                return Ok(LabelRequirement {
                    key: key.to_string(),
                    op: LabelOp::NotIn(parse_set(set, part)?),
                });
            }
            if let Some(set) = rest.strip_prefix("in") {
                return Ok(LabelRequirement {
                    key: key.to_string(),
                    op: LabelOp::In(parse_set(set, part)?),
                });
            }
            return Err(SelectorError(format!("{part}: unknown operator")));
        }
        valid_label_part(part)
            .then(|| LabelRequirement {
                key: part.to_string(),
                op: LabelOp::Exists,
            })
            .ok_or_else(bad)
    }

    /// A selector from a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(selector: &Value) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                requirements.push(LabelRequirement {
                    key: k.clone(),
                    op: LabelOp::Equals(v.as_str().unwrap_or_default().to_string()),
                });
            }
        }
        if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
            for expr in exprs {
                let key = expr
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = expr
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match expr.get("operator").and_then(Value::as_str) {
                    Some("In") => LabelOp::In(values),
                    Some("NotIn") => LabelOp::NotIn(values),
                    Some("Exists") => LabelOp::Exists,
                    Some("DoesNotExist") => LabelOp::DoesNotExist,
                    other => {
                        return Err(SelectorError(format!(
                            "{other:?} is not a valid label selector operator"
                        )));
                    }
                };
                requirements.push(LabelRequirement { key, op });
            }
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|key| labels.get(key).map(String::as_str))
    }

    /// Matches against labels read by `label`.
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| {
            let value = label(&r.key);
            match &r.op {
                LabelOp::Equals(v) => value == Some(v.as_str()),
                LabelOp::NotEquals(v) => value != Some(v.as_str()),
                LabelOp::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
                LabelOp::NotIn(vs) => value.is_none_or(|x| !vs.iter().any(|v| v == x)),
                LabelOp::Exists => value.is_some(),
                LabelOp::DoesNotExist => value.is_none(),
            }
        })
    }

    /// The selector in the query-string form (`a=b,c in (d)`), as `status.selector` shows it.
    pub fn to_query(&self) -> String {
        self.requirements
            .iter()
            .map(|r| match &r.op {
                LabelOp::Equals(v) => format!("{}={v}", r.key),
                LabelOp::NotEquals(v) => format!("{}!={v}", r.key),
                LabelOp::In(vs) => format!("{} in ({})", r.key, vs.join(",")),
                LabelOp::NotIn(vs) => format!("{} notin ({})", r.key, vs.join(",")),
                LabelOp::Exists => r.key.clone(),
                LabelOp::DoesNotExist => format!("!{}", r.key),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One `path=value` or `path!=value` term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    pub path: String,
    pub value: String,
    pub negated: bool,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub terms: Vec<FieldTerm>,
}

impl FieldSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        if input.trim().is_empty() {
            return Ok(FieldSelector { terms });
        }
        for part in input.split(',') {
            let part = part.trim();
            let (path, value, negated) = if let Some((p, v)) = part.split_once("!=") {
                (p, v, true)
            } else if let Some((p, v)) = part.split_once("==") {
                (p, v, false)
            } else if let Some((p, v)) = part.split_once('=') {
                (p, v, false)
            } else {
                return Err(SelectorError(format!(
                    "invalid selector: '{input}'; can't understand '{part}'"
                )));
            };
            terms.push(FieldTerm {
                path: path.trim().to_string(),
                value: value.trim().to_string(),
                negated,
            });
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Matches against the field values extracted for an object (absent fields are "").
    pub fn matches(&self, fields: &[(String, String)]) -> bool {
        self.matches_with(|path| {
            fields
                .iter()
                .find(|(p, _)| p == path)
                .map_or("", |(_, v)| v.as_str())
        })
    }

    /// Matches against field values read by `value` (absent fields are "").
    pub fn matches_with<'a>(&self, value: impl Fn(&str) -> &'a str) -> bool {
        self.terms
            .iter()
            .all(|t| (value(&t.path) == t.value) != t.negated)
    }

    /// The value a term requires for `path`, if the selector pins it (`metadata.name=x`).
    pub fn required(&self, path: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.path == path && !t.negated)
            .map(|t| t.value.as_str())
    }
}

/// Reads a dotted field path from an object as a selector string (numbers and booleans in
/// their JSON form, missing fields as "").
pub fn field_value(object: &Value, path: &str) -> String {
    let mut current = object;
    for part in path.split('.') {
        match current.get(part) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, api)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier=back", false),
            ("app in (web),!missing,tier", true),
            ("missing notin (x)", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&l),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
        assert!(LabelSelector::parse("=x").is_err());
    }

    #[test]
    fn selector_objects() {
        let sel = LabelSelector::from_object(&serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
        }))
        .unwrap();
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "b")])));
        assert!(!sel.matches(&labels(&[("app", "web")])));
        assert_eq!(sel.to_query(), "app=web,tier in (a,b)");
    }

    #[test]
    fn field_selectors() {
        let pod = serde_json::json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "hostNetwork": true}});
        let fields: Vec<(String, String)> = [
            "metadata.name",
            "spec.nodeName",
            "spec.hostNetwork",
            "status.phase",
        ]
        .iter()
        .map(|p| (p.to_string(), field_value(&pod, p)))
        .collect();
        for (sel, want) in [
            ("spec.nodeName=n1", true),
            ("spec.nodeName!=n1", false),
            ("spec.nodeName=", false),
            ("status.phase=", true),
            ("spec.hostNetwork=true,metadata.name==p", true),
        ] {
            assert_eq!(
                FieldSelector::parse(sel).unwrap().matches(&fields),
                want,
                "{sel}"
            );
        }
        assert_eq!(
            FieldSelector::parse("metadata.name=x")
                .unwrap()
                .required("metadata.name"),
            Some("x")
        );
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
