//! Field errors: one invalid field of a request, reported as a `StatusCause` of a 422
//! `Invalid` answer, worded as upstream words them (`k8s.io/apimachinery/pkg/util/validation/field`).

use serde_json::Value;

/// Why a field is invalid; `as_str` is the cause's `reason` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauseReason {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    TooLong,
    TooMany,
    Forbidden,
    NotFound,
    TypeInvalid,
    Internal,
}

impl CauseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CauseReason::Required => "FieldValueRequired",
            CauseReason::Invalid => "FieldValueInvalid",
            CauseReason::NotSupported => "FieldValueNotSupported",
            CauseReason::Duplicate => "FieldValueDuplicate",
            CauseReason::TooLong => "FieldValueTooLong",
            CauseReason::TooMany => "FieldValueTooMany",
            CauseReason::Forbidden => "FieldValueForbidden",
            CauseReason::NotFound => "FieldValueNotFound",
            CauseReason::TypeInvalid => "FieldValueTypeInvalid",
            CauseReason::Internal => "InternalError",
        }
    }
}

/// One invalid field. `field` is the path as upstream prints it (`spec.containers[0].name`,
/// `metadata.labels[app]`); `message` is the error body without the path
/// (`Invalid value: "Foo": a lowercase RFC 1123 label must …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub reason: CauseReason,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    /// `field: message`, as in the `Status` message's list.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// A value as upstream prints it inside a message: strings quoted, numbers and booleans bare,
/// anything else as JSON.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

fn with_detail(head: &str, detail: &str) -> String {
    if detail.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {detail}")
    }
}

impl FieldError {
    fn new(reason: CauseReason, field: impl Into<String>, message: String) -> Self {
        FieldError {
            reason,
            field: field.into(),
            message,
        }
    }

    /// `Required value[: detail]`
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            CauseReason::Required,
            field,
            with_detail("Required value", detail),
        )
    }

    /// `Invalid value: <value>[: detail]`
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        let head = format!("Invalid value: {}", show(value));
        Self::new(CauseReason::Invalid, field, with_detail(&head, detail))
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let mut message = format!("Unsupported value: {}", show(value));
        if !supported.is_empty() {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            message.push_str(&format!(": supported values: {}", quoted.join(", ")));
        }
        Self::new(CauseReason::NotSupported, field, message)
    }

    /// `Duplicate value: <value>`
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Self::new(
            CauseReason::Duplicate,
            field,
            format!("Duplicate value: {}", show(value)),
        )
    }

    /// `Forbidden: detail`
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            CauseReason::Forbidden,
            field,
            format!("Forbidden: {detail}"),
        )
    }

    /// `Too long: may not be more than <max> bytes`
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(
            CauseReason::TooLong,
            field,
            format!("Too long: may not be more than {max} bytes"),
        )
    }

    /// `Too many: <actual>: must have at most <max> items`
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self::new(
            CauseReason::TooMany,
            field,
            format!("Too many: {actual}: must have at most {max} items"),
        )
    }

    /// `Not found: <value>`
    pub fn not_found(field: impl Into<String>, value: &Value) -> Self {
        Self::new(
            CauseReason::NotFound,
            field,
            format!("Not found: {}", show(value)),
        )
    }

    /// `Invalid value: <value>: detail` with reason FieldValueTypeInvalid.
    pub fn type_invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        let head = format!("Invalid value: {}", show(value));
        Self::new(CauseReason::TypeInvalid, field, with_detail(&head, detail))
    }

    /// `Internal error: detail`
    pub fn internal(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            CauseReason::Internal,
            field,
            format!("Internal error: {detail}"),
        )
    }
}

/// Builds field paths the way upstream prints them: `spec.containers[0].env[FOO]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn root(name: &str) -> Self {
        Path(name.to_string())
    }

    /// `a.b`
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    /// `a[3]`
    pub fn index(&self, i: usize) -> Self {
        Path(format!("{}[{i}]", self.0))
    }

    /// `a[key]`
    pub fn key(&self, key: &str) -> Self {
        Path(format!("{}[{key}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Path> for String {
    fn from(path: Path) -> String {
        path.0
    }
}

impl From<&Path> for String {
    fn from(path: &Path) -> String {
        path.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_match_upstream() {
        let p = Path::root("spec")
            .child("containers")
            .index(0)
            .child("name");
        assert_eq!(p.as_str(), "spec.containers[0].name");
        assert_eq!(
            FieldError::required(&p, "").to_string(),
            "spec.containers[0].name: Required value"
        );
        assert_eq!(
            FieldError::invalid(
                "spec.replicas",
                &json!(-1),
                "must be greater than or equal to 0"
            )
            .message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            FieldError::not_supported(
                "spec.restartPolicy",
                &json!("Sometimes"),
                &["Always", "Never"]
            )
            .message,
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\""
        );
        assert_eq!(
            Path::root("metadata").child("labels").key("app").as_str(),
            "metadata.labels[app]"
        );
    }
}
