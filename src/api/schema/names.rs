//! Name rules used by CRD validation, with apimachinery's messages: DNS-1035 labels (versions,
//! plurals, kinds), RFC 1123 subdomains (groups, CRD names), webhook URLs, service paths and
//! ports.

use serde_json::Value;

use super::messages::invalid;
use crate::api::field_error::FieldError;

const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// apimachinery's `RegexError`: the message, examples, and the regex.
fn regex_error(message: &str, format: &str, examples: &[&str]) -> String {
    let mut out = format!("{message} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{example}', "));
    }
    out.push_str(&format!("regex used for validation is '{format}')"));
    out
}

fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// A lowercase RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_label(s: &str, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let end = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            (if first_alpha {
                first.is_ascii_lowercase()
            } else {
                end(first)
            }) && end(last)
                && b.iter().all(inner)
        }
        _ => false,
    }
}

/// apimachinery's `IsDNS1035Label`.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push(max_len_error(63));
    }
    if !is_label(value, true) {
        errors.push(regex_error(
            DNS1035_LABEL_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errors
}

/// apimachinery's `IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 253 {
        errors.push(max_len_error(253));
    }
    if !value.split('.').all(|label| is_label(label, false)) {
        errors.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errors
}

/// apimachinery's `NameIsDNSSubdomain`: a `generateName` prefix may end in `-`.
pub fn name_is_dns_subdomain(name: &str, prefix: bool) -> Vec<String> {
    if prefix && name.ends_with('-') {
        let masked = format!("{}a", &name[..name.len() - 1]);
        return is_dns1123_subdomain(&masked);
    }
    is_dns1123_subdomain(name)
}

/// A webhook `url`: https only, with a host, without user info, fragment or query.
pub fn validate_webhook_url(path: &str, url: &str) -> Vec<FieldError> {
    const FORM: &str = "; desired format: https://host[/path]";
    let mut errors = Vec::new();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme, Some(rest)),
        None => (url.split_once(':').map_or("", |(s, _)| s), None),
    };
    let (before_fragment, fragment) = url.split_once('#').map_or((url, ""), |(a, f)| (a, f));
    let query = before_fragment.split_once('?').map_or("", |(_, q)| q);
    let authority = rest
        .map(|r| r.split(['/', '?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    let (user, host) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(u, h)| (u, h));
    if scheme != "https" {
        let detail = format!("'https' is the only allowed URL scheme{FORM}");
        errors.push(invalid(path, &Value::String(scheme.to_string()), &detail));
    }
    if host.is_empty() {
        let detail = format!("host must be specified{FORM}");
        errors.push(invalid(path, &Value::String(String::new()), &detail));
    }
    if authority.contains('@') {
        let detail = "user information is not permitted in the URL";
        errors.push(invalid(path, &Value::String(user.to_string()), detail));
    }
    if !fragment.is_empty() {
        let detail = "fragments are not permitted in the URL";
        errors.push(invalid(path, &Value::String(fragment.to_string()), detail));
    }
    if !query.is_empty() {
        let detail = "query parameters are not permitted in the URL";
        errors.push(invalid(path, &Value::String(query.to_string()), detail));
    }
    errors
}

/// A webhook `service`: name and namespace required, port 1-65535, path segments subdomains.
pub fn validate_webhook_service(
    path: &str,
    name: &str,
    namespace: &str,
    service_path: Option<&str>,
    port: i64,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::required(format!("{path}.name"), ""));
    }
    if namespace.is_empty() {
        errors.push(FieldError::required(format!("{path}.namespace"), ""));
    }
    if !(1..=65535).contains(&port) {
        errors.push(invalid(
            format!("{path}.port"),
            &Value::from(port),
            "port is not valid: must be between 1 and 65535, inclusive",
        ));
    }
    let Some(url_path) = service_path else {
        return errors;
    };
    let field = format!("{path}.path");
    let shown = Value::String(url_path.to_string());
    if url_path.is_empty() || url_path == "/" {
        return errors;
    }
    if url_path == "//" {
        errors.push(invalid(&*field, &shown, "segment[0] may not be empty"));
        return errors;
    }
    if !url_path.starts_with('/') {
        errors.push(invalid(&*field, &shown, "must start with a '/'"));
    }
    let trimmed = url_path.get(1..).unwrap_or("");
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    for (i, step) in trimmed.split('/').enumerate() {
        if step.is_empty() {
            errors.push(invalid(
                &*field,
                &shown,
                &format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for failure in is_dns1123_subdomain(step) {
            errors.push(invalid(
                &*field,
                &shown,
                &format!("segment[{i}]: {failure}"),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_and_subdomain_messages() {
        assert!(is_dns1035_label("v1beta1").is_empty());
        assert_eq!(
            is_dns1035_label("1v"),
            [
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
        assert!(is_dns1123_subdomain("stable.example.com").is_empty());
        assert_eq!(is_dns1123_subdomain("Bad_Group").len(), 1);
        assert!(name_is_dns_subdomain("crontabs-", true).is_empty());
        assert_eq!(
            is_dns1035_label(&"a".repeat(64))[0],
            "must be no more than 63 characters"
        );
    }

    #[test]
    fn webhook_config_rules() {
        assert!(validate_webhook_url("u", "https://example.com/convert").is_empty());
        let errors = validate_webhook_url("u", "http://user@example.com/x?y=1#z");
        assert_eq!(errors.len(), 4);
        assert_eq!(
            errors[0].to_string(),
            r#"u: Invalid value: "http": 'https' is the only allowed URL scheme; desired format: https://host[/path]"#
        );
        assert!(validate_webhook_service("s", "conv", "default", Some("/convert"), 443).is_empty());
        let errors = validate_webhook_service("s", "", "ns", Some("/a//b"), 0);
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "s.name: Required value",
                "s.port: Invalid value: 0: port is not valid: must be between 1 and 65535, inclusive",
                r#"s.path: Invalid value: "/a//b": segment[1] may not be empty"#,
            ]
        );
    }
}
