//! The `format` keyword: which formats a CRD schema keeps (upstream strips the rest before
//! validating, per the value's type) and the string checks of kube-openapi's format registry
//! (`date-time`, `date`, `byte`, `uuid`, `ipv4`, `cidr`, `k8s-short-name`, …).
//!
//! Integer and number formats (`int32`, `int64`, `float`, `double`) are range checks and live
//! with the number keywords.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::pattern;

/// String formats validated at Kubernetes 1.35, as the registry names them (dashes removed).
const STRING_FORMATS: [&str; 26] = [
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "k8sshortname",
    "k8slongname",
];

const HOSTNAME: &str = r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$";
const UUID: &str = r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$";
const UUID3: &str = r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$";
const UUID4: &str =
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$";
const UUID5: &str =
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$";
const TIME_OF_DAY: &str =
    r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$";
const BASE64: &str =
    r"^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=|[A-Za-z0-9+\/]{4})$";
const HEX_COLOR: &str = r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$";
const RGB_COLOR: &str = r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$";
const SSN: &str = r"^\d{3}[- ]?\d{2}[- ]?\d{4}$";
const CREDIT_CARD: &str = r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11}|6[27][0-9]{14})$";
const SHORT_NAME: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const LONG_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const DURATION_PART: &str = r"((\d+)\s*([A-Za-zµ]+))";

/// The registry's name for a format: dashes removed.
pub fn normalize(format: &str) -> String {
    format.replace('-', "")
}

/// The format a schema node validates with, after upstream strips the ones it does not
/// support for the node's type (`types` is the node's type list: one entry, or
/// `["integer","string"]` for int-or-string, or none).
pub fn effective<'f>(format: &'f str, types: &[&str]) -> Option<&'f str> {
    if format.is_empty() {
        return None;
    }
    let single = if types.len() == 1 { types[0] } else { "" };
    let kept = match single {
        "" | "string" => is_string_format(format),
        "integer" => format == "int32" || format == "int64",
        "number" => format == "float" || format == "double",
        _ => false,
    };
    kept.then_some(format)
}

/// Whether the registry has a string check for this format.
pub fn is_string_format(format: &str) -> bool {
    STRING_FORMATS.contains(&normalize(format).as_str())
}

/// Whether `value` is valid for a registry format; unknown formats accept anything.
pub fn check(format: &str, value: &str) -> bool {
    match normalize(format).as_str() {
        "bsonobjectid" => value.len() == 24 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(value),
        "email" => is_email(value),
        "hostname" => is_hostname(value),
        "ipv4" => parse_ip_sloppy(value).is_some() && value.contains('.'),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok() && value.contains(':'),
        "cidr" => is_cidr(value),
        "mac" => is_mac(value),
        "uuid" => matches(UUID, value),
        "uuid3" => matches(UUID3, value),
        "uuid4" => matches(UUID4, value),
        "uuid5" => matches(UUID5, value),
        "isbn" => is_isbn10(value) || is_isbn13(value),
        "isbn10" => is_isbn10(value),
        "isbn13" => is_isbn13(value),
        "creditcard" => is_credit_card(value),
        "ssn" => value.len() == 11 && matches(SSN, value),
        "hexcolor" => matches(HEX_COLOR, value),
        "rgbcolor" => matches(RGB_COLOR, value),
        "byte" => matches(BASE64, value),
        "date" => is_date(value),
        "duration" => is_duration(value),
        "datetime" => is_date_time(value),
        "k8sshortname" => value.len() <= 63 && matches(SHORT_NAME, value),
        "k8slongname" => value.len() <= 253 && matches(LONG_NAME, value),
        _ => true,
    }
}

fn matches(regex: &str, value: &str) -> bool {
    pattern::is_match(regex, value).unwrap_or(false)
}

/// `2006-01-02`, with the day checked against the month.
pub fn is_date(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = &value[range];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// kube-openapi's `IsDateTime`: a date, `t`, then `hh:mm:ss[.frac](z|±hh:mm)`, case-insensitive.
pub fn is_date_time(value: &str) -> bool {
    if value.len() < 4 {
        return false;
    }
    let lower = value.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let Ok(regex) = pattern::compile(TIME_OF_DAY) else {
        return false;
    };
    let Some(caps) = regex.captures(parts[1]) else {
        return false;
    };
    let field = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    field(1) <= "23" && field(2) <= "59" && field(3) <= "59"
}

/// Go's `time.ParseDuration` syntax, or kube-openapi's looser `<n> <unit>` form.
pub fn is_duration(value: &str) -> bool {
    go_duration(value) || loose_duration(value)
}

fn go_duration(value: &str) -> bool {
    let s = value.strip_prefix(['-', '+']).unwrap_or(value);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let mut tail = &rest[digits..];
        let mut fraction = 0;
        if let Some(after_point) = tail.strip_prefix('.') {
            fraction = after_point.len()
                - after_point
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            tail = &after_point[fraction..];
        }
        if digits == 0 && fraction == 0 {
            return false;
        }
        let unit_len = tail
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(tail.len());
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&&tail[..unit_len]) {
            return false;
        }
        rest = &tail[unit_len..];
    }
    true
}

fn loose_duration(value: &str) -> bool {
    const UNITS: [&[&str]; 8] = [
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let Ok(regex) = pattern::compile(DURATION_PART) else {
        return false;
    };
    regex.captures_iter(value).any(|caps| {
        let unit = caps.get(3).map_or("", |m| m.as_str()).trim().to_lowercase();
        UNITS.iter().any(|variants| {
            variants.iter().enumerate().any(|(i, variant)| {
                (i == variants.len() - 1 && unit.starts_with(variant)) || unit == *variant
            })
        })
    })
}

fn is_hostname(value: &str) -> bool {
    matches(HOSTNAME, value) && value.len() <= 255 && value.split('.').all(|p| p.len() <= 63)
}

/// Go's lenient IP parser: IPv4 parts may carry leading zeros.
fn parse_ip_sloppy(value: &str) -> Option<()> {
    if value.contains(':') {
        return value.parse::<Ipv6Addr>().ok().map(|_| ()).or_else(|| {
            // An IPv4 tail with leading zeros: re-parse it leniently.
            let (head, tail) = value.rsplit_once(':')?;
            let v4 = parse_ipv4_sloppy(tail)?;
            format!("{head}:{v4}").parse::<Ipv6Addr>().ok().map(|_| ())
        });
    }
    parse_ipv4_sloppy(value).map(|_| ())
}

fn parse_ipv4_sloppy(value: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (octet, part) in octets.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut n: u32 = 0;
        for b in part.bytes() {
            n = n * 10 + u32::from(b - b'0');
            if n > 255 {
                return None;
            }
        }
        *octet = n as u8;
    }
    Some(Ipv4Addr::from(octets))
}

fn is_cidr(value: &str) -> bool {
    let Some((ip, bits)) = value.split_once('/') else {
        return false;
    };
    let max = if ip.contains(':') { 128 } else { 32 };
    parse_ip_sloppy(ip).is_some()
        && !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|n| n <= max)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
fn is_mac(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    let octets_ok = |n: usize| n == 6 || n == 8 || n == 20;
    if b[2] == b':' || b[2] == b'-' {
        if !(b.len() + 1).is_multiple_of(3) || !octets_ok((b.len() + 1) / 3) {
            return false;
        }
        return b
            .chunks(3)
            .all(|chunk| hex(&chunk[..2]) && (chunk.len() == 2 || chunk[2] == b[2]));
    }
    if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) || !octets_ok(2 * (b.len() + 1) / 5) {
            return false;
        }
        return b
            .chunks(5)
            .all(|chunk| hex(&chunk[..4]) && (chunk.len() == 4 || chunk[4] == b'.'));
    }
    false
}

/// Go's `url.ParseRequestURI`, approximately: an absolute URI (`scheme:…`) or an absolute
/// path, without control characters or broken `%` escapes, and a clean host.
fn is_request_uri(value: &str) -> bool {
    if value.is_empty() || value.chars().any(|c| c.is_ascii_control()) {
        return false;
    }
    if value == "*" {
        return true;
    }
    let (scheme, rest) = match value.split_once(':') {
        Some((scheme, rest))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (scheme, rest)
        }
        Some(("", _)) => return false,
        _ => ("", value),
    };
    let rest = rest.split_once('#').map_or(rest, |(head, _)| head);
    let rest = rest.split_once('?').map_or(rest, |(head, _)| head);
    if !rest.starts_with('/') {
        return !scheme.is_empty();
    }
    if let Some(authority) = rest.strip_prefix("//") {
        let host = authority.split('/').next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
        if host.contains([' ', '<', '>', '"', '{', '}', '|', '\\', '^', '`']) {
            return false;
        }
    }
    valid_escapes(rest)
}

fn valid_escapes(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Go's `mail.ParseAddress`, approximately: `local@domain`, optionally as `Name <local@domain>`.
fn is_email(value: &str) -> bool {
    let value = value.trim();
    let address = match (value.rfind('<'), value.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => value,
    };
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom =
        |s: &str| !s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.chars().all(atext));
    let local_ok =
        (local.len() >= 2 && local.starts_with('"') && local.ends_with('"')) || dot_atom(local);
    let domain_ok = (domain.starts_with('[') && domain.ends_with(']')) || dot_atom(domain);
    local_ok && domain_ok
}

fn isbn_digits(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

fn is_isbn10(value: &str) -> bool {
    let s = isbn_digits(value);
    let b = s.as_bytes();
    if b.len() != 10 || !b[..9].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum: u32 = b[..9]
        .iter()
        .enumerate()
        .map(|(i, d)| (i as u32 + 1) * u32::from(d - b'0'))
        .sum();
    match b[9] {
        b'X' => sum += 100,
        d if d.is_ascii_digit() => sum += 10 * u32::from(d - b'0'),
        _ => return false,
    }
    sum.is_multiple_of(11)
}

fn is_isbn13(value: &str) -> bool {
    let s = isbn_digits(value);
    let b = s.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..12]
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { 1 } else { 3 } * u32::from(d - b'0'))
        .sum();
    u32::from(b[12] - b'0') == (10 - sum % 10) % 10
}

fn is_credit_card(value: &str) -> bool {
    let digits = isbn_digits(value);
    if !matches(CREDIT_CARD, &digits) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_formats_by_type() {
        assert_eq!(effective("int32", &["integer"]), Some("int32"));
        assert_eq!(effective("uuid", &["integer"]), None);
        assert_eq!(effective("date-time", &["string"]), Some("date-time"));
        assert_eq!(effective("made-up", &["string"]), None);
        assert_eq!(effective("uuid", &["integer", "string"]), Some("uuid"));
        assert_eq!(effective("double", &["number"]), Some("double"));
        assert_eq!(effective("byte", &["object"]), None);
    }

    #[test]
    fn dates_and_times() {
        assert!(check("date-time", "2024-02-29T10:00:00Z"));
        assert!(check("date-time", "2024-01-01T10:00:00.123+02:00"));
        assert!(!check("date-time", "2023-02-29T10:00:00Z"));
        assert!(!check("date-time", "2024-01-01T24:00:00Z"));
        assert!(!check("date-time", "2024-01-01 10:00:00Z"));
        assert!(check("date", "2024-12-31"));
        assert!(!check("date", "2024-13-01"));
        assert!(check("duration", "1h30m"));
        assert!(check("duration", "5 days"));
        assert!(!check("duration", "soon"));
    }

    #[test]
    fn network_and_identifier_formats() {
        assert!(check("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(!check("uuid", "123e4567"));
        assert!(check("ipv4", "10.0.0.1"));
        assert!(check("ipv4", "010.0.0.1"));
        assert!(!check("ipv4", "::1"));
        assert!(check("ipv6", "::1"));
        assert!(check("cidr", "10.0.0.0/8"));
        assert!(!check("cidr", "10.0.0.0/33"));
        assert!(check("mac", "00:1a:2b:3c:4d:5e"));
        assert!(!check("mac", "00:1a:2b"));
        assert!(check("hostname", "example.com"));
        assert!(!check("hostname", "-bad-.com"));
        assert!(check("byte", "aGVsbG8="));
        assert!(!check("byte", "not base64!"));
        assert!(check("uri", "https://example.com/x?y=1"));
        assert!(!check("uri", "relative/path"));
        assert!(check("email", "Jane <jane@example.com>"));
        assert!(!check("email", "jane"));
        assert!(check("k8s-short-name", "my-name"));
        assert!(!check("k8s-short-name", "My-Name"));
        assert!(check("isbn10", "0-321-75104-3"));
        assert!(check("isbn13", "978-0321751041"));
        assert!(check("creditcard", "4111 1111 1111 1111"));
        assert!(check("ssn", "123-45-6789"));
        assert!(check("hexcolor", "#fff"));
        assert!(check("rgbcolor", "rgb(255, 0, 12)"));
        assert!(check("password", "anything"));
    }
}
