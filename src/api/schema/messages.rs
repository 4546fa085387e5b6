//! Field errors worded and valued exactly as Go's `field.Error` prints them, for the messages
//! this module builds: values printed the way `ErrorBody` prints a decoded JSON value (`%q` for
//! strings, `%v` for numbers, `%#v` for maps and slices, `"null"` for nil), numbers the way Go's
//! `%v` prints a `float64`.

use serde_json::Value;

use crate::api::field_error::{CauseReason, FieldError};

/// A value as `field.Error.ErrorBody` prints a bad value.
pub fn go_show(value: &Value) -> String {
    match value {
        Value::Null => "\"null\"".to_string(),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::Array(_) | Value::Object(_) => go_syntax(value),
    }
}

/// Go's `%#v` of a decoded JSON value (`map[string]interface {}{"a":1}`).
pub fn go_syntax(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".to_string(),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_syntax(v)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

/// Go's `%v` of a decoded JSON value (`[a 1 map[x:true]]`), as in kube-openapi's enum message.
pub fn go_plain(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_plain).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_plain(v)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

/// Go's `%#v` of a `[]string`.
pub fn go_strings(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", inner.join(", "))
}

/// Go's `%v` of a JSON number: integers as decoded into `int64`, others as `float64`.
pub fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Go's `%v` of a `float64` (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest digits, with an
/// exponent when it is below -4 or at least 6 (`1e+06`, `1.5`, `1e-05`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.234e6", "-5e-1".
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..6).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exp_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{body}")
}

/// Go's `strconv.Quote`: double quotes, `\"` and `\\`, control characters escaped, printable
/// Unicode kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let code = c as u32;
                if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn with_detail(head: String, detail: &str) -> String {
    if detail.is_empty() {
        head
    } else {
        format!("{head}: {detail}")
    }
}

/// `Invalid value: <value>[: detail]`
pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> FieldError {
    FieldError {
        reason: CauseReason::Invalid,
        field: field.into(),
        message: with_detail(format!("Invalid value: {}", go_show(value)), detail),
    }
}

/// `Invalid value: <printed>: detail`, for a value already printed the Go way (a `[]string`).
pub fn invalid_printed(field: impl Into<String>, printed: &str, detail: &str) -> FieldError {
    FieldError {
        reason: CauseReason::Invalid,
        field: field.into(),
        message: with_detail(format!("Invalid value: {printed}"), detail),
    }
}

/// `Invalid value: <value>[: detail]` with reason `FieldValueTypeInvalid`.
pub fn type_invalid(field: impl Into<String>, value: &Value, detail: &str) -> FieldError {
    FieldError {
        reason: CauseReason::TypeInvalid,
        field: field.into(),
        message: with_detail(format!("Invalid value: {}", go_show(value)), detail),
    }
}

/// `Unsupported value: <value>: supported values: "a", "b"`
pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[String]) -> FieldError {
    let head = format!("Unsupported value: {}", go_show(value));
    let detail = if supported.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    FieldError {
        reason: CauseReason::NotSupported,
        field: field.into(),
        message: with_detail(head, &detail),
    }
}

/// `Duplicate value: <value>`
pub fn duplicate(field: impl Into<String>, value: &Value) -> FieldError {
    FieldError {
        reason: CauseReason::Duplicate,
        field: field.into(),
        message: format!("Duplicate value: {}", go_show(value)),
    }
}

/// `Too long: must have at most <max> bytes` (apimachinery's current wording).
pub fn too_long(field: impl Into<String>, max: i64) -> FieldError {
    FieldError {
        reason: CauseReason::TooLong,
        field: field.into(),
        message: format!("Too long: must have at most {max} bytes"),
    }
}

/// `Too many: <actual>: must have at most <max> items`
pub fn too_many(field: impl Into<String>, actual: i64, max: i64) -> FieldError {
    FieldError {
        reason: CauseReason::TooMany,
        field: field.into(),
        message: format!("Too many: {actual}: must have at most {max} items"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.25), "-2.25");
        assert_eq!(go_float(1e21), "1e+21");
    }

    #[test]
    fn values_print_like_error_body() {
        assert_eq!(go_show(&json!("a\"b")), r#""a\"b""#);
        assert_eq!(go_show(&json!(null)), r#""null""#);
        assert_eq!(go_show(&json!(3)), "3");
        assert_eq!(go_show(&json!(0.5)), "0.5");
        assert_eq!(
            go_show(&json!({"name": "a", "port": 80})),
            r#"map[string]interface {}{"name":"a", "port":80}"#
        );
        assert_eq!(go_show(&json!(["a", 1])), r#"[]interface {}{"a", 1}"#);
        assert_eq!(go_strings(&["a", "b"]), r#"[]string{"a", "b"}"#);
        assert_eq!(
            invalid("spec.x", &json!(2), "should be less than 1").to_string(),
            "spec.x: Invalid value: 2: should be less than 1"
        );
        assert_eq!(
            not_supported("f", &json!("x"), &["a".to_string(), "b".to_string()]).message,
            r#"Unsupported value: "x": supported values: "a", "b""#
        );
        assert_eq!(
            too_long("f", 3).message,
            "Too long: must have at most 3 bytes"
        );
    }
}
