//! The JSONPath subset that CRD `additionalPrinterColumns` (and kubectl-style field paths)
//! use: `.a.b`, `.a[0]`, `.a[*].b`, `.a['x.y']`, and filters `.a[?(@.type=="Ready")].status`.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter { field: String, value: String },
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end > 0 {
                steps.push(Step::Field(after[..end].to_string()));
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = after[..end].trim();
            rest = &after[end + 1..];
            if inner == "*" {
                steps.push(Step::All);
            } else if let Ok(i) = inner.parse::<usize>() {
                steps.push(Step::Index(i));
            } else if let Some(filter) =
                inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
            {
                let (field, value) = filter.split_once("==")?;
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                steps.push(Step::Filter {
                    field: field.trim().to_string(),
                    value: value.to_string(),
                });
            } else {
                steps.push(Step::Field(
                    inner.trim_matches(|c| c == '"' || c == '\'').to_string(),
                ));
            }
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            steps.push(Step::Field(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    Some(steps)
}

/// Every value the path selects.
pub fn select<'a>(object: &'a Value, path: &str) -> Vec<&'a Value> {
    let Some(steps) = parse(path) else {
        return Vec::new();
    };
    let mut current = vec![object];
    for step in &steps {
        let mut next = Vec::new();
        for value in current {
            match step {
                Step::Field(name) => next.extend(value.get(name)),
                Step::Index(i) => next.extend(value.get(*i)),
                Step::All => match value {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
                Step::Filter {
                    field,
                    value: wanted,
                } => {
                    if let Some(items) = value.as_array() {
                        next.extend(items.iter().filter(|item| {
                            item.get(field).is_some_and(|v| match v {
                                Value::String(s) => s == wanted,
                                other => {
                                    serde_json::from_str::<Value>(wanted).is_ok_and(|w| w == *other)
                                }
                            })
                        }));
                    }
                }
            }
        }
        current = next;
    }
    current
}

/// A printer column's cell: the first selected value, typed as the column says.
pub fn printer_cell(object: &Value, path: &str, kind: &str) -> Value {
    let Some(value) = select(object, path).into_iter().next() else {
        return Value::Null;
    };
    match (kind, value) {
        ("integer", Value::Number(n)) => n.as_i64().map_or(Value::Null, |i| json!(i)),
        ("number", Value::Number(_)) | ("boolean", Value::Bool(_)) => value.clone(),
        (_, Value::String(s)) => json!(s),
        (_, Value::Number(_) | Value::Bool(_)) => json!(value.to_string()),
        (_, other) => json!(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let object = json!({"spec": {"replicas": 3, "items": [{"name": "a"}, {"name": "b"}]},
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}});
        assert_eq!(printer_cell(&object, ".spec.replicas", "integer"), json!(3));
        assert_eq!(
            printer_cell(&object, ".spec.items[1].name", "string"),
            json!("b")
        );
        assert_eq!(
            select(&object, ".spec.items[*].name"),
            [&json!("a"), &json!("b")]
        );
        assert_eq!(
            printer_cell(
                &object,
                ".status.conditions[?(@.type==\"Synced\")].status",
                "string"
            ),
            json!("False")
        );
        assert_eq!(
            printer_cell(
                &object,
                ".metadata.labels['app.kubernetes.io/name']",
                "string"
            ),
            json!("web")
        );
        assert_eq!(
            printer_cell(&object, ".spec.missing", "string"),
            Value::Null
        );
        assert_eq!(
            printer_cell(&object, ".spec.replicas", "string"),
            json!("3")
        );
    }
}
