//! The single-value keywords of kube-openapi's validator, with its messages: `type` (with
//! `nullable` and int-or-string), `enum`, string length and `pattern`, `format`, and the number
//! keywords (`minimum`, `maximum`, exclusive bounds, `multipleOf`, integer/number formats).
//!
//! Values are compared the way Go sees decoded JSON: integers are `int64`, everything else with
//! a fraction or out of `int64` range is `float64`.

use serde_json::{Number, Value};

use super::formats;
use super::messages::{go_float, go_plain, go_quote};
use super::pattern;
use super::validate::{Code, Finding, Outcome};

/// A JSON number as Go decodes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn of(n: &Number) -> Num {
        match n.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn to_value(self) -> Value {
        match self {
            Num::Int(i) => Value::from(i),
            Num::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        }
    }

    /// Go's `%v` of the number.
    fn show(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => go_float(f),
        }
    }
}

/// The OpenAPI type name kube-openapi gives a decoded value.
pub fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Number(n) => match Num::of(n) {
            Num::Int(_) => "integer",
            Num::Float(_) => "number",
        },
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// swag's `IsFloat64AJSONInteger`: integral and within ±2^53, up to a relative error of 1e-9.
pub fn is_json_integer(f: f64) -> bool {
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    if !f.is_finite() || !(-LIMIT..=LIMIT).contains(&f) {
        return false;
    }
    let whole = f.trunc();
    if f == whole {
        return true;
    }
    let error = (f - whole).abs();
    if f.abs() <= 1.0 {
        error < 1e-9
    } else {
        error / f.abs() < 1e-9
    }
}

fn field_finding(code: Code, name: &str, value: Option<Value>, message: String) -> Finding {
    Finding::Field {
        code,
        name: name.to_string(),
        value,
        limit: None,
        allowed: Vec::new(),
        message,
    }
}

/// kube-openapi's `InvalidType`: `<path> in body must be of type <t>: "<got>"`.
pub fn invalid_type(path: &str, expected: &str, got: &str) -> Finding {
    field_finding(
        Code::InvalidType,
        path,
        Some(Value::String(got.to_string())),
        format!(
            "{path} in body must be of type {expected}: {}",
            go_quote(got)
        ),
    )
}

/// The `type` keyword (with `nullable` and the node's kept format): kube-openapi's
/// `typeValidator`.
pub fn check_type(
    types: &[&str],
    nullable: bool,
    format: &str,
    data: &Value,
    path: &str,
) -> Outcome {
    let mut outcome = Outcome::default();
    if data.is_null() {
        if !types.is_empty() && !types.contains(&"null") && !nullable {
            outcome.add(invalid_type(path, &types.join(","), "null"));
            return outcome;
        }
        outcome.matches = 1;
        return outcome;
    }
    let got = type_of(data);
    let value_format = match got {
        "integer" => "int64",
        "number" => "float64",
        _ => "",
    };
    let float_int = match data {
        Value::Number(n) => matches!(Num::of(n), Num::Float(f) if is_json_integer(f)),
        _ => false,
    } && types.contains(&"integer");
    let int_float = got == "integer" && types.contains(&"number");
    let textual = matches!(data, Value::String(_) | Value::Array(_));
    let numeric = types.contains(&"number") || types.contains(&"integer");
    let fits_format = types.contains(&got) || value_format == format || float_int || int_float;
    if !format.is_empty() {
        if !textual && !fits_format {
            outcome.add(invalid_type(path, format, value_format));
            return outcome;
        }
        if textual && !numeric {
            outcome.matches = 1;
            return outcome;
        }
    }
    if !(types.contains(&got) || float_int || int_float) {
        outcome.add(invalid_type(path, &types.join(","), got));
        return outcome;
    }
    outcome.matches = 1;
    outcome
}

/// The `enum` keyword: `None` when `data` is one of `values`, with Go's conversion rules.
pub fn check_enum(values: &[Value], data: &Value, path: &str) -> Option<Finding> {
    if values.is_empty() {
        return None;
    }
    let mut listed = Vec::new();
    for candidate in values {
        if !data.is_null() {
            if enum_equal(data, candidate) {
                return None;
            }
            if candidate.is_null() {
                continue;
            }
        }
        listed.push(candidate.clone());
    }
    let shown: Vec<String> = listed.iter().map(go_plain).collect();
    Some(Finding::Field {
        code: Code::Enum,
        name: path.to_string(),
        value: Some(data.clone()),
        limit: None,
        message: format!("{path} in body should be one of [{}]", shown.join(" ")),
        allowed: listed,
    })
}

/// `reflect.DeepEqual`, or equality after Go's conversion of `data` to the candidate's type.
fn enum_equal(data: &Value, candidate: &Value) -> bool {
    if data == candidate {
        return true;
    }
    match (data, candidate) {
        (Value::Number(d), Value::Number(c)) => match (Num::of(d), Num::of(c)) {
            (Num::Int(d), Num::Float(c)) => d as f64 == c,
            (Num::Float(d), Num::Int(c)) => d as i64 == c,
            _ => false,
        },
        // Go converts an integer to a string as a code point.
        (Value::Number(d), Value::String(c)) => match Num::of(d) {
            Num::Int(i) => u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .is_some_and(|ch| c.chars().eq(std::iter::once(ch))),
            Num::Float(_) => false,
        },
        _ => false,
    }
}

/// The string keywords, first failure only: `maxLength`, `minLength` (in code points), then
/// `pattern`.
pub fn check_string(
    max_length: Option<i64>,
    min_length: Option<i64>,
    pattern_text: Option<&str>,
    data: &str,
    path: &str,
) -> Option<Finding> {
    let length = data.chars().count() as i64;
    let value = Some(Value::String(data.to_string()));
    if let Some(max) = max_length.filter(|max| length > *max) {
        return Some(Finding::Field {
            code: Code::TooLong,
            name: path.to_string(),
            value,
            limit: Some(max),
            allowed: Vec::new(),
            message: format!("{path} in body should be at most {max} chars long"),
        });
    }
    if let Some(min) = min_length.filter(|min| length < *min) {
        return Some(Finding::Field {
            code: Code::TooShort,
            name: path.to_string(),
            value,
            limit: Some(min),
            allowed: Vec::new(),
            message: format!("{path} in body should be at least {min} chars long"),
        });
    }
    let pattern_text = pattern_text.filter(|p| !p.is_empty())?;
    let shown = match pattern::is_match(pattern_text, data) {
        Ok(true) => return None,
        Ok(false) => pattern_text.to_string(),
        Err(err) => format!("{pattern_text}, but pattern is invalid: {err}"),
    };
    Some(field_finding(
        Code::Pattern,
        path,
        value,
        format!("{path} in body should match '{shown}'"),
    ))
}

/// The `format` keyword on a string, for the registry's formats.
pub fn check_format(format: &str, data: &str, path: &str) -> Option<Finding> {
    if formats::check(format, data) {
        return None;
    }
    Some(field_finding(
        Code::InvalidType,
        path,
        Some(Value::String(data.to_string())),
        format!(
            "{path} in body must be of type {format}: {}",
            go_quote(data)
        ),
    ))
}

/// The number keywords of one schema node.
#[derive(Clone, Copy, Debug, Default)]
pub struct NumberRules<'a> {
    /// `integer` or `number` when the node has exactly that one type, else empty.
    pub type_name: &'a str,
    /// The kept integer or number format, else empty.
    pub format: &'a str,
    pub multiple_of: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
}

/// kube-openapi's `numberValidator`.
pub fn check_number(rules: &NumberRules<'_>, data: Num, path: &str) -> Outcome {
    let mut outcome = Outcome::default();
    if let Some(err) = range_error(data, rules, "Checked", path) {
        outcome.add(err);
    }
    if let Some(factor) = rules.multiple_of {
        match range_error(Num::Float(factor), rules, "MultipleOf", path) {
            Some(err) => {
                outcome.add(err);
                outcome.add_opt(multiple_of_float(data.as_f64(), factor, path));
            }
            None => outcome.add_opt(multiple_of_native(data, factor, path)),
        }
    }
    if let Some(min) = rules.minimum {
        let bound = Bound {
            limit: min,
            exclusive: rules.exclusive_minimum,
            below: true,
        };
        match range_error(Num::Float(min), rules, "Minimum boundary", path) {
            Some(err) => {
                outcome.add(err);
                outcome.add_opt(bound.check(Num::Float(data.as_f64()), data, path));
            }
            None => outcome.add_opt(bound.check(data, data, path)),
        }
    }
    if let Some(max) = rules.maximum {
        let bound = Bound {
            limit: max,
            exclusive: rules.exclusive_maximum,
            below: false,
        };
        match range_error(Num::Float(max), rules, "Maximum boundary", path) {
            Some(err) => {
                outcome.add(err);
                outcome.add_opt(bound.check(Num::Float(data.as_f64()), data, path));
            }
            None => outcome.add_opt(bound.check(data, data, path)),
        }
    }
    outcome.matches += 1;
    outcome
}

/// kube-openapi's `IsValueValidAgainstRange`: whether a value fits the node's type and format.
fn range_error(value: Num, rules: &NumberRules<'_>, prefix: &str, path: &str) -> Option<Finding> {
    let text = match value {
        Num::Int(i) => i.to_string(),
        Num::Float(f) => format!("{f}"),
    };
    let fits = match rules.type_name {
        "integer" => match rules.format {
            "int32" => text.parse::<i32>().is_ok(),
            _ => text.parse::<i64>().is_ok(),
        },
        _ => match rules.format {
            "float" => text
                .parse::<f64>()
                .is_ok_and(|f| f.abs() <= f64::from(f32::MAX)),
            _ => true,
        },
    };
    if fits {
        return None;
    }
    Some(Finding::Plain(if rules.format.is_empty() {
        format!(
            "{prefix} value must be of type {} (default format) in {path}",
            rules.type_name
        )
    } else {
        format!(
            "{prefix} value must be of type {} with format {} in {path}",
            rules.type_name, rules.format
        )
    }))
}

/// A `minimum` (`below`) or `maximum` bound.
struct Bound {
    limit: f64,
    exclusive: bool,
    below: bool,
}

impl Bound {
    /// Compares `compared` (an `int64` against the truncated bound, or a `float64`) and reports
    /// `data`.
    fn check(&self, compared: Num, data: Num, path: &str) -> Option<Finding> {
        let (fails, shown) = match compared {
            Num::Int(i) => {
                let limit = self.limit as i64;
                let fails = match (self.below, self.exclusive) {
                    (true, false) => i < limit,
                    (true, true) => i <= limit,
                    (false, false) => i > limit,
                    (false, true) => i >= limit,
                };
                (fails, limit.to_string())
            }
            Num::Float(f) => {
                let fails = match (self.below, self.exclusive) {
                    (true, false) => f < self.limit,
                    (true, true) => f <= self.limit,
                    (false, false) => f > self.limit,
                    (false, true) => f >= self.limit,
                };
                (fails, go_float(self.limit))
            }
        };
        if !fails {
            return None;
        }
        let relation = match (self.below, self.exclusive) {
            (true, false) => "greater than or equal to",
            (true, true) => "greater than",
            (false, false) => "less than or equal to",
            (false, true) => "less than",
        };
        let code = if self.below {
            Code::Minimum
        } else {
            Code::Maximum
        };
        Some(field_finding(
            code,
            path,
            Some(data.to_value()),
            format!("{path} in body should be {relation} {shown}"),
        ))
    }
}

fn multiple_of_native(data: Num, factor: f64, path: &str) -> Option<Finding> {
    match data {
        Num::Int(i) => {
            let factor = factor as i64;
            if factor <= 0 {
                return Some(must_be_positive(Num::Int(factor), path));
            }
            (i % factor != 0).then(|| not_multiple(Num::Int(factor), data, path))
        }
        Num::Float(f) => multiple_of_float(f, factor, path),
    }
}

fn multiple_of_float(data: f64, factor: f64, path: &str) -> Option<Finding> {
    if factor <= 0.0 {
        return Some(must_be_positive(Num::Float(factor), path));
    }
    let quotient = if factor < 1.0 {
        1.0 / factor * data
    } else {
        data / factor
    };
    (!is_json_integer(quotient)).then(|| not_multiple(Num::Float(factor), Num::Float(data), path))
}

fn must_be_positive(factor: Num, path: &str) -> Finding {
    field_finding(
        Code::MultipleOfMustBePositive,
        path,
        Some(factor.to_value()),
        format!(
            "factor MultipleOf declared for {path} must be positive: {}",
            factor.show()
        ),
    )
}

fn not_multiple(factor: Num, data: Num, path: &str) -> Finding {
    field_finding(
        Code::MultipleOf,
        path,
        Some(data.to_value()),
        format!("{path} in body should be a multiple of {}", factor.show()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(finding: Option<Finding>) -> String {
        finding.map(|f| f.message().to_string()).unwrap_or_default()
    }

    #[test]
    fn type_messages() {
        let out = check_type(&["integer"], false, "", &json!("x"), "spec.replicas");
        assert_eq!(
            out.findings[0].message(),
            r#"spec.replicas in body must be of type integer: "string""#
        );
        assert!(check_type(&["integer"], false, "", &json!(5.0), "x").is_valid());
        assert!(check_type(&["number"], false, "", &json!(5), "x").is_valid());
        let null = check_type(&["string"], false, "", &json!(null), "spec.s");
        assert_eq!(
            null.findings[0].message(),
            r#"spec.s in body must be of type string: "null""#
        );
        assert!(check_type(&["string"], true, "", &json!(null), "x").is_valid());
        let ios = check_type(&["integer", "string"], false, "", &json!(true), "spec.port");
        assert_eq!(
            ios.findings[0].message(),
            r#"spec.port in body must be of type integer,string: "boolean""#
        );
    }

    #[test]
    fn enum_follows_go_conversions() {
        let values = [json!("a"), json!("b")];
        assert!(check_enum(&values, &json!("a"), "x").is_none());
        assert_eq!(
            message(check_enum(&values, &json!("c"), "spec.mode")),
            "spec.mode in body should be one of [a b]"
        );
        assert!(check_enum(&[json!(1.0)], &json!(1), "x").is_none());
        assert!(check_enum(&[json!(1)], &json!(null), "x").is_some());
    }

    #[test]
    fn string_messages() {
        assert_eq!(
            message(check_string(Some(3), None, None, "abcd", "spec.s")),
            "spec.s in body should be at most 3 chars long"
        );
        assert_eq!(
            message(check_string(None, Some(2), None, "é", "spec.s")),
            "spec.s in body should be at least 2 chars long"
        );
        assert_eq!(
            message(check_string(
                None,
                None,
                Some("^[a-z]+$"),
                "A1",
                "spec.name"
            )),
            "spec.name in body should match '^[a-z]+$'"
        );
        assert!(check_string(Some(2), Some(1), Some("^é+$"), "éé", "x").is_none());
    }

    #[test]
    fn number_messages() {
        let rules = NumberRules {
            type_name: "integer",
            minimum: Some(1.0),
            maximum: Some(10.0),
            ..NumberRules::default()
        };
        let low = check_number(&rules, Num::Int(0), "spec.replicas");
        assert_eq!(
            low.findings[0].message(),
            "spec.replicas in body should be greater than or equal to 1"
        );
        let high = check_number(&rules, Num::Int(11), "spec.replicas");
        assert_eq!(
            high.findings[0].message(),
            "spec.replicas in body should be less than or equal to 10"
        );
        let exclusive = NumberRules {
            type_name: "number",
            minimum: Some(0.5),
            exclusive_minimum: true,
            ..NumberRules::default()
        };
        assert_eq!(
            check_number(&exclusive, Num::Float(0.5), "spec.ratio").findings[0].message(),
            "spec.ratio in body should be greater than 0.5"
        );
        let multiple = NumberRules {
            type_name: "integer",
            multiple_of: Some(5.0),
            ..NumberRules::default()
        };
        assert_eq!(
            check_number(&multiple, Num::Int(7), "spec.n").findings[0].message(),
            "spec.n in body should be a multiple of 5"
        );
        let int32 = NumberRules {
            type_name: "integer",
            format: "int32",
            ..NumberRules::default()
        };
        assert_eq!(
            check_number(&int32, Num::Int(1 << 40), "spec.n").findings[0].message(),
            "Checked value must be of type integer with format int32 in spec.n"
        );
        assert!(is_json_integer(3.0) && !is_json_integer(3.5));
    }
}
