//! String formats upstream checks (`k8s.io/apimachinery/pkg/util/validation`, its `content`
//! package and `api/validation/path`): DNS names, label keys and values, port names, config
//! keys, environment variable names, IPs and CIDRs. Each returns upstream's messages.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use crate::api::field_error::{FieldError, Path};

pub(crate) const DNS1123_LABEL_MAX: usize = 63;
pub(crate) const DNS1123_SUBDOMAIN_MAX: usize = 253;
const LABEL_VALUE_MAX: usize = 63;
const LABEL_KEY_NAME_MAX: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const WILDCARD_FMT: &str = "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const WILDCARD_MSG: &str = "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character";

/// `must be no more than N characters` (apimachinery `util/validation`).
pub(crate) fn max_len_chars(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `must be no more than N bytes` (apimachinery `api/validate/content`, used for labels).
fn max_len_bytes(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

/// `msg (e.g. 'a',  or 'b', regex used for validation is 're')`, upstream's `RegexError`
/// (the doubled space after each example's comma is upstream's).
pub(crate) fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{re}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{example}', "));
    }
    out.push_str(&format!("regex used for validation is '{re}')"));
    out
}

/// `must be between LO and HI, inclusive`
pub(crate) fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns1123_label_matches(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| is_lower_alnum(c) || c == '-')
        && s.starts_with(is_lower_alnum)
        && s.ends_with(is_lower_alnum)
}

fn dns1123_subdomain_matches(s: &str) -> bool {
    s.split('.').all(dns1123_label_matches)
}

/// Upstream's `IsDNS1123Label`; [`super::dns1123_label_errors`] re-exports it.
pub fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        errs.push(max_len_chars(DNS1123_LABEL_MAX));
    }
    if !dns1123_label_matches(value) {
        if dns1123_subdomain_matches(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Upstream's `IsDNS1123Subdomain`.
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_chars(DNS1123_SUBDOMAIN_MAX));
    }
    if !dns1123_subdomain_matches(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// The label-key flavour of the subdomain check (content package: lengths in bytes).
fn dns1123_subdomain_errors_bytes(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_bytes(DNS1123_SUBDOMAIN_MAX));
    }
    if !dns1123_subdomain_matches(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Upstream's `IsDNS1035Label` (Service names).
pub(crate) fn dns1035_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        errs.push(max_len_chars(DNS1123_LABEL_MAX));
    }
    let ok = !value.is_empty()
        && value.chars().all(|c| is_lower_alnum(c) || c == '-')
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.ends_with(is_lower_alnum);
    if !ok {
        errs.push(regex_error(
            DNS1035_LABEL_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Upstream's `IsWildcardDNS1123Subdomain`.
pub(crate) fn wildcard_dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_chars(DNS1123_SUBDOMAIN_MAX));
    }
    let ok = value
        .strip_prefix("*.")
        .is_some_and(dns1123_subdomain_matches);
    if !ok {
        errs.push(regex_error(WILDCARD_MSG, WILDCARD_FMT, &["*.example.com"]));
    }
    errs
}

fn label_name_matches(s: &str) -> bool {
    let is_alnum = |c: char| c.is_ascii_alphanumeric();
    !s.is_empty()
        && s.chars()
            .all(|c| is_alnum(c) || c == '-' || c == '_' || c == '.')
        && s.starts_with(is_alnum)
        && s.ends_with(is_alnum)
}

/// Upstream's `IsQualifiedName` / `IsLabelKey`: `[prefix/]name`.
pub fn label_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for msg in dns1123_subdomain_errors_bytes(prefix) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_MSG, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > LABEL_KEY_NAME_MAX {
        errs.push(format!("name part {}", max_len_bytes(LABEL_KEY_NAME_MAX)));
    }
    if !label_name_matches(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_MSG,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Upstream's `IsValidLabelValue`.
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX {
        errs.push(max_len_bytes(LABEL_VALUE_MAX));
    }
    if !value.is_empty() && !label_name_matches(value) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Upstream's `IsValidPortName` (IANA service names).
pub(crate) fn port_name_errors(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(max_len_chars(15));
    }
    if port.is_empty()
        || !port
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !port.chars().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// Upstream's `IsValidPortNum`.
pub(crate) fn port_num_errors(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// Upstream's `IsValidPercent`.
pub(crate) fn percent_errors(value: &str) -> Vec<String> {
    let ok = value
        .strip_suffix('%')
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid percent string must be a numeric string followed by an ending '%'",
            "[0-9]+%",
            &["1%", "93%"],
        )]
    }
}

/// Upstream's `IsHTTPHeaderName`.
pub(crate) fn http_header_name_errors(value: &str) -> Vec<String> {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid HTTP header must consist of alphanumeric characters or '-'",
            "[-A-Za-z0-9]+",
            &["X-Header-Name"],
        )]
    }
}

/// Upstream's `IsRelaxedEnvVarName` (the rule since RelaxedEnvironmentVariableValidation is GA).
pub(crate) fn env_var_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push("environment variable name must be non-empty".to_string());
    }
    if value
        .chars()
        .any(|c| !c.is_ascii() || c.is_ascii_control() || c == '=')
    {
        errs.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        );
    }
    errs
}

fn ch_dir_prefix_errors(value: &str) -> Vec<String> {
    if value == "." {
        vec!["must not be '.'".into()]
    } else if value == ".." {
        vec!["must not be '..'".into()]
    } else if value.starts_with("..") {
        vec!["must not start with '..'".into()]
    } else {
        Vec::new()
    }
}

/// Upstream's `IsConfigMapKey` (also Secret keys).
pub(crate) fn config_map_key_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_chars(DNS1123_SUBDOMAIN_MAX));
    }
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !ok {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    errs.extend(ch_dir_prefix_errors(value));
    errs
}

/// Upstream's `IsValidPathSegmentName` (RBAC names, object references).
pub(crate) fn path_segment_name_errors(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    path_segment_prefix_errors(name)
}

/// Upstream's `IsValidPathSegmentPrefix`.
pub(crate) fn path_segment_prefix_errors(name: &str) -> Vec<String> {
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// Upstream's `IsDomainPrefixedPath` (IngressClass controller, Job managedBy).
pub(crate) fn domain_prefixed_path_errors(path: &Path, value: &str) -> Vec<FieldError> {
    if value.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let Some((host, rest)) = value
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        return vec![FieldError::invalid(
            path,
            &Value::from(value),
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs: Vec<FieldError> = dns1123_subdomain_errors(host)
        .iter()
        .map(|msg| FieldError::invalid(path, &Value::from(host), msg))
        .collect();
    let path_chars = "/-._~%!$&'()*+,;=:";
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || path_chars.contains(c))
    {
        errs.push(FieldError::invalid(
            path,
            &Value::from(rest),
            &regex_error("Invalid path", "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+", &[]),
        ));
    }
    errs
}

/// Upstream's name masking for `generateName`: a trailing `-` is allowed, checked as if the
/// generated suffix followed (the last two characters become `a`, as upstream does).
pub(crate) fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        let cut = name.len() - 2;
        if name.is_char_boundary(cut) {
            return format!("{}a", &name[..cut]);
        }
    }
    name.to_string()
}

/// How an object's name is checked, per kind (upstream's `ValidateNameFunc`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    Dns1123Subdomain,
    Dns1123Label,
    Dns1035Label,
    PathSegment,
    /// No format (CertificateSigningRequest).
    Any,
}

impl NameRule {
    /// The messages for `name`; `prefix` when it is a `generateName`.
    pub(crate) fn errors(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && self != NameRule::PathSegment {
            masked = mask_trailing_dash(name);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Dns1123Subdomain => dns1123_subdomain_errors(name),
            NameRule::Dns1123Label => dns1123_label_errors(name),
            NameRule::Dns1035Label => dns1035_label_errors(name),
            NameRule::PathSegment if prefix => path_segment_prefix_errors(name),
            NameRule::PathSegment => path_segment_name_errors(name),
            NameRule::Any => Vec::new(),
        }
    }
}

/// Field errors for a value checked against one of the string rules above.
pub(crate) fn invalid_each(path: &Path, value: &str, msgs: Vec<String>) -> Vec<FieldError> {
    msgs.iter()
        .map(|msg| FieldError::invalid(path, &Value::from(value), msg))
        .collect()
}

fn parse_ipv4_sloppy(value: &str) -> Option<(Ipv4Addr, bool)> {
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut leading_zero = false;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || part.len() > 3 || !part.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if part.len() > 1 && part.starts_with('0') {
            leading_zero = true;
        }
        octets[i] = part.parse().ok()?;
    }
    Some((Ipv4Addr::from(octets), leading_zero))
}

/// Parses an IP the way Go's `ParseIPSloppy` does; the flag says IPv4 had leading zeros.
pub(crate) fn parse_ip(value: &str) -> Option<(IpAddr, bool)> {
    if let Some((v4, leading_zero)) = parse_ipv4_sloppy(value) {
        return Some((IpAddr::V4(v4), leading_zero));
    }
    value
        .parse::<Ipv6Addr>()
        .ok()
        .map(|v6| (IpAddr::V6(v6), false))
}

/// Upstream's IP check for API fields (`IsValidIPForLegacyField` with strict validation).
pub(crate) fn ip_errors(path: &Path, value: &str) -> Vec<FieldError> {
    let bad = |msg: &str| vec![FieldError::invalid(path, &Value::from(value), msg)];
    match parse_ip(value) {
        None => bad("must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
        Some((_, true)) => bad("must not have leading 0s"),
        Some((IpAddr::V6(v6), _)) if v6.to_ipv4_mapped().is_some() => {
            bad("must not be an IPv4-mapped IPv6 address")
        }
        Some(_) => Vec::new(),
    }
}

/// Parses `ip/prefix`; `None` when malformed.
pub(crate) fn parse_cidr(value: &str) -> Option<(IpAddr, u8, bool)> {
    let (ip, len) = value.split_once('/')?;
    let (ip, leading_zero) = parse_ip(ip)?;
    if len.is_empty() || !len.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return None;
    }
    let leading_zero = leading_zero || (len.len() > 1 && len.starts_with('0'));
    Some((ip, prefix, leading_zero))
}

/// Upstream's CIDR check for API fields.
pub(crate) fn cidr_errors(path: &Path, value: &str) -> Vec<FieldError> {
    let bad = |msg: &str| vec![FieldError::invalid(path, &Value::from(value), msg)];
    match parse_cidr(value) {
        None => bad("must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"),
        Some((_, _, true)) => bad("must not have leading 0s in IP or prefix length"),
        Some((IpAddr::V6(v6), _, _)) if v6.to_ipv4_mapped().is_some() => {
            bad("must not have an IPv4-mapped IPv6 address")
        }
        Some(_) => Vec::new(),
    }
}

/// Whether `inner` lies within `outer` (both `ip/prefix` of the same family).
pub(crate) fn cidr_contains(outer: (IpAddr, u8), inner_ip: IpAddr) -> bool {
    let (ip, prefix) = outer;
    match (ip, inner_ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_match_upstream_messages() {
        assert!(dns1123_label_errors("my-name").is_empty());
        assert_eq!(dns1123_label_errors("a.b"), vec!["must not contain dots"]);
        assert_eq!(
            dns1123_label_errors("Foo"),
            vec![
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
        assert_eq!(
            dns1123_subdomain_errors("x_y"),
            vec![
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        assert_eq!(
            dns1123_label_errors(&"a".repeat(64))[0],
            "must be no more than 63 characters"
        );
        assert!(dns1035_label_errors("1abc")[0].starts_with("a DNS-1035 label"));
        assert!(wildcard_dns1123_subdomain_errors("*.example.com").is_empty());
    }

    #[test]
    fn label_keys_and_values_match_upstream_messages() {
        assert!(label_key_errors("app.kubernetes.io/name").is_empty());
        assert_eq!(
            label_key_errors("-bad"),
            vec![
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ]
        );
        assert_eq!(
            label_key_errors("/x"),
            vec!["prefix part must be non-empty"]
        );
        assert_eq!(label_key_errors("a/b/c").len(), 1);
        assert!(label_key_errors("a/b/c")[0].starts_with("a valid label key must consist"));
        assert!(label_value_errors("").is_empty());
        assert_eq!(
            label_value_errors(&"v".repeat(64)),
            vec!["must be no more than 63 bytes"]
        );
    }

    #[test]
    fn generate_name_masking_follows_upstream() {
        assert_eq!(mask_trailing_dash("web-"), "wea");
        assert!(NameRule::Dns1123Subdomain.errors("web-", true).is_empty());
        assert!(!NameRule::Dns1123Subdomain.errors("web-", false).is_empty());
    }

    #[test]
    fn ports_keys_and_ips() {
        assert!(port_name_errors("http").is_empty());
        assert_eq!(
            port_name_errors("123"),
            vec!["must contain at least one letter (a-z)"]
        );
        assert_eq!(
            port_num_errors(0),
            vec!["must be between 1 and 65535, inclusive"]
        );
        assert!(config_map_key_errors("app.properties").is_empty());
        assert_eq!(
            config_map_key_errors("..x").last().map(String::as_str),
            Some("must not start with '..'")
        );
        assert!(ip_errors(&Path::root("ip"), "10.0.0.1").is_empty());
        assert_eq!(
            ip_errors(&Path::root("ip"), "010.0.0.1")[0].message,
            "Invalid value: \"010.0.0.1\": must not have leading 0s"
        );
        assert!(cidr_errors(&Path::root("c"), "10.0.0.0/8").is_empty());
        assert!(!cidr_errors(&Path::root("c"), "10.0.0.0/33").is_empty());
        let outer = parse_cidr("10.0.0.0/8").map(|(ip, p, _)| (ip, p));
        assert!(outer.is_some_and(|o| cidr_contains(o, "10.1.0.0".parse().unwrap())));
        assert!(env_var_name_errors("MY_VAR").is_empty());
        assert!(!env_var_name_errors("A=B").is_empty());
    }
}
