//! Human-readable durations and ages, as `kubectl get` shows them.
//!
//! Durations are signed nanosecond counts, like Go's `time.Duration`; timestamps are the RFC 3339
//! strings found in objects. The wording follows upstream's `HumanDuration` (used for AGE and most
//! other time columns) and `ShortHumanDuration`, including their tolerance of up to two seconds of
//! clock skew ("0s") and `<invalid>` beyond it.

use jiff::Timestamp;
use serde_json::Value;

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// The shown value of a missing or zero timestamp.
pub const UNKNOWN: &str = "<unknown>";

/// A duration to two or three significant figures: `45s`, `5m30s`, `25m`, `3h10m`, `20h`,
/// `3d4h`, `45d`, `2y45d`, `9y`. Negative durations of more than a second are `<invalid>`.
pub fn human_duration(nanos: i64) -> String {
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 2 * 60 {
        return format!("{seconds}s");
    }
    let minutes = nanos / MINUTE;
    if minutes < 10 {
        let rest = seconds % 60;
        return if rest == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{rest}s")
        };
    }
    if minutes < 3 * 60 {
        return format!("{minutes}m");
    }
    let hours = nanos / HOUR;
    if hours < 8 {
        let rest = minutes % 60;
        return if rest == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{rest}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let rest = hours % 24;
        return if rest == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{rest}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let rest = days % 365;
        return if rest == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{rest}d")
        };
    }
    format!("{years}y")
}

/// A duration to one unit: `45s`, `5m`, `3h`, `45d`, `2y`.
pub fn short_human_duration(nanos: i64) -> String {
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = nanos / MINUTE;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = nanos / HOUR;
    if hours < 24 {
        return format!("{hours}h");
    }
    if hours < 24 * 365 {
        return format!("{}d", hours / 24);
    }
    format!("{}y", hours / 24 / 365)
}

/// Nanoseconds since the Unix epoch of an RFC 3339 timestamp. `None` when the value is missing,
/// not a timestamp, or Go's zero time (`0001-01-01T00:00:00Z`), which upstream treats as unset.
pub fn parse_timestamp(value: Option<&Value>) -> Option<i128> {
    let parsed: Timestamp = value?.as_str()?.trim().parse().ok()?;
    let nanos = parsed.as_nanosecond();
    (nanos != zero_time_nanos()).then_some(nanos)
}

/// The age of a timestamp at `now` (Unix seconds), as upstream's `translateTimestampSince`:
/// `<unknown>` when the timestamp is missing or zero.
pub fn translate_timestamp_since(value: Option<&Value>, now: i64) -> String {
    match parse_timestamp(value) {
        Some(at) => human_duration(between(at, i128::from(now) * i128::from(SECOND))),
        None => UNKNOWN.to_owned(),
    }
}

/// `to - from` in nanoseconds, saturated to the range of a Go duration.
pub fn between(from: i128, to: i128) -> i64 {
    let difference = to.saturating_sub(from);
    i64::try_from(difference).unwrap_or(if difference < 0 { i64::MIN } else { i64::MAX })
}

/// A timestamp in Go's `time.RFC3339` layout in UTC, without fractional seconds; a missing or
/// unreadable one is the zero time, as upstream's default table prints it.
pub fn rfc3339_utc(value: Option<&Value>) -> String {
    let parsed = value
        .and_then(Value::as_str)
        .and_then(|text| text.trim().parse::<Timestamp>().ok());
    match parsed {
        Some(at) => at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

/// Go's zero `time.Time`, 0001-01-01T00:00:00Z, in nanoseconds since the Unix epoch.
fn zero_time_nanos() -> i128 {
    -62_135_596_800 * i128::from(SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(n: i64) -> i64 {
        n * SECOND
    }

    #[test]
    fn human_duration_matches_upstream_wording() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (330, "5m30s"),
            (300, "5m"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 10 * 60, "3h10m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (775 * 86400, "2y45d"),
            (8 * 365 * 86400, "8y"),
            (3000 * 86400, "8y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(secs(seconds)), expected, "{seconds}s");
        }
    }

    #[test]
    fn clock_skew_is_tolerated_up_to_two_seconds() {
        assert_eq!(human_duration(secs(-1)), "0s");
        assert_eq!(human_duration(-1_999_999_999), "0s");
        assert_eq!(human_duration(secs(-2)), "<invalid>");
        assert_eq!(short_human_duration(secs(-1)), "0s");
        assert_eq!(short_human_duration(secs(-5)), "<invalid>");
    }

    #[test]
    fn short_human_duration_uses_one_unit() {
        let cases = [
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (86399, "23h"),
            (86400, "1d"),
            (364 * 86400, "364d"),
            (365 * 86400, "1y"),
            (800 * 86400, "2y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(short_human_duration(secs(seconds)), expected, "{seconds}s");
        }
    }

    #[test]
    fn ages_come_from_rfc3339_timestamps() {
        let created = json!("2024-05-01T10:00:00Z");
        let at = 1_714_557_600; // 2024-05-01T10:00:00Z
        assert_eq!(translate_timestamp_since(Some(&created), at + 300), "5m");
        assert_eq!(
            translate_timestamp_since(Some(&created), at + 2 * 86400),
            "2d"
        );
        assert_eq!(
            translate_timestamp_since(Some(&created), at - 60),
            "<invalid>"
        );
        assert_eq!(
            translate_timestamp_since(Some(&json!("2024-05-01T12:00:00+02:00")), at + 45),
            "45s"
        );
        assert_eq!(
            translate_timestamp_since(Some(&json!("2024-05-01T09:59:59.5Z")), at + 1),
            "1s"
        );
    }

    #[test]
    fn missing_zero_or_bad_timestamps_are_unknown() {
        assert_eq!(translate_timestamp_since(None, 0), "<unknown>");
        assert_eq!(
            translate_timestamp_since(Some(&Value::Null), 0),
            "<unknown>"
        );
        assert_eq!(
            translate_timestamp_since(Some(&json!("0001-01-01T00:00:00Z")), 0),
            "<unknown>"
        );
        assert_eq!(
            translate_timestamp_since(Some(&json!("yesterday")), 0),
            "<unknown>"
        );
    }

    #[test]
    fn default_table_dates_are_utc_rfc3339() {
        assert_eq!(
            rfc3339_utc(Some(&json!("2024-05-01T12:00:00.25+02:00"))),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(rfc3339_utc(None), "0001-01-01T00:00:00Z");
    }
}
