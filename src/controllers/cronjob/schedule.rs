//! CronJob schedules as upstream's cron library evaluates them: five fields (minute, hour,
//! day of month, month, day of week, with names, ranges, steps and `*`/`?`), the
//! `@yearly`…`@hourly` descriptors, `@every <duration>`, and an optional `TZ=`/`CRON_TZ=`
//! prefix; the next activation after a time in the schedule's zone, DST included.

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp, Zoned};

/// The bit marking a field written as `*` or `?` (day-of-month and day-of-week then combine
/// with AND instead of OR).
const STAR: u64 = 1 << 63;

/// A parsed schedule.
#[derive(Clone, Debug)]
pub enum Schedule {
    Fields(Fields),
    /// `@every`: a fixed delay, whole seconds.
    Every(Duration),
}

/// The set of matching values of each field, as bits.
#[derive(Clone, Debug)]
pub struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    zone: TimeZone,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAYS: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const WEEKDAYS: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

fn number(text: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = text.to_lowercase();
    if let Some(i) = bounds.names.iter().position(|n| *n == lower) {
        return Ok(bounds.min + i as u32);
    }
    text.parse::<u32>()
        .map_err(|_| format!("failed to parse int from {text}"))
}

/// One comma-separated part of a field: `*`, `n`, `a-b`, with an optional `/step`.
fn range(expr: &str, bounds: &Bounds) -> Result<u64, String> {
    let (span, step) = match expr.split_once('/') {
        Some((span, step)) => (span, Some(step)),
        None => (expr, None),
    };
    let (mut start, mut end, mut extra) = (bounds.min, bounds.max, 0);
    let single = !span.contains('-');
    if span == "*" || span == "?" {
        extra = STAR;
    } else {
        let (low, high) = span.split_once('-').unwrap_or((span, span));
        start = number(low, bounds)?;
        end = number(high, bounds)?;
    }
    let step = match step {
        Some(text) => {
            let step: u32 = text
                .parse()
                .map_err(|_| format!("failed to parse int from {text}"))?;
            if single && extra == 0 {
                end = bounds.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        None => 1,
    };
    if start < bounds.min || end > bounds.max || start > end || step == 0 {
        return Err(format!("invalid range: {expr}"));
    }
    let mut bits = extra;
    let mut value = start;
    while value <= end {
        bits |= 1 << value;
        value += step;
    }
    Ok(bits)
}

fn field(text: &str, bounds: &Bounds) -> Result<u64, String> {
    text.split(',')
        .filter(|e| !e.is_empty())
        .try_fold(0, |bits, expr| Ok(bits | range(expr, bounds)?))
}

/// Go's `time.ParseDuration`, for `@every`.
fn go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return Err(invalid());
    }
    let mut total = 0f64;
    let mut rest = rest;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().map_err(|_| invalid())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * unit;
        rest = &rest[u..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// The time zone named in a `TZ=` prefix or `spec.timeZone`.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    match name {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => Ok(TimeZone::system()),
        _ => jiff::tz::db()
            .get(name)
            .map_err(|_| format!("unknown time zone {name}")),
    }
}

impl Schedule {
    /// Parses a schedule the way upstream's standard parser does.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let mut spec = spec.trim();
        if spec.is_empty() {
            return Err("empty spec string".to_string());
        }
        let mut zone_of = TimeZone::system();
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let (prefix, rest) = spec.split_once(' ').unwrap_or((spec, ""));
            let name = prefix.split_once('=').map_or("", |(_, n)| n);
            zone_of = zone(name).map_err(|e| format!("provided bad location {name}: {e}"))?;
            spec = rest.trim();
        }
        let fields = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ if spec.starts_with("@every ") => {
                let delay = go_duration(&spec["@every ".len()..])
                    .map_err(|e| format!("failed to parse duration {spec}: {e}"))?;
                let whole = Duration::from_secs(delay.as_secs().max(1));
                return Ok(Schedule::Every(whole));
            }
            _ if spec.starts_with('@') => return Err(format!("unrecognized descriptor: {spec}")),
            _ => spec,
        };
        let parts: Vec<&str> = fields.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: [{}]",
                parts.len(),
                parts.join(" ")
            ));
        }
        Ok(Schedule::Fields(Fields {
            minute: field(parts[0], &MINUTES)?,
            hour: field(parts[1], &HOURS)?,
            dom: field(parts[2], &DAYS)?,
            month: field(parts[3], &MONTHS)?,
            dow: field(parts[4], &WEEKDAYS)?,
            zone: zone_of,
        }))
    }

    /// The first activation strictly after `after` (None if none within five years).
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(delay) => {
                let whole = Timestamp::from_second(after.as_second()).ok()?;
                whole
                    .checked_add(SignedDuration::try_from(*delay).ok()?)
                    .ok()
            }
            Schedule::Fields(fields) => fields.next(after),
        }
    }
}

fn has(bits: u64, value: i8) -> bool {
    value >= 0 && bits & (1 << value) != 0
}

impl Fields {
    fn day_matches(&self, t: &Zoned) -> bool {
        let dom = has(self.dom, t.day());
        let dow = has(self.dow, t.weekday().to_sunday_zero_offset());
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }

    fn at(&self, date: DateTime) -> Option<Zoned> {
        self.zone.to_zoned(date).ok()
    }

    fn civil(t: &Zoned, hour: i8, minute: i8, second: i8) -> Option<DateTime> {
        DateTime::new(t.year(), t.month(), t.day(), hour, minute, second, 0).ok()
    }

    fn next(&self, after: Timestamp) -> Option<Timestamp> {
        let start = Timestamp::from_second(after.as_second()).ok()?;
        let mut t = start
            .checked_add(SignedDuration::from_secs(1))
            .ok()?
            .to_zoned(self.zone.clone());
        let mut added = false;
        let year_limit = t.year() + 5;
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            while !has(self.month, t.month()) {
                if !added {
                    added = true;
                    t = self.at(DateTime::new(t.year(), t.month(), 1, 0, 0, 0, 0).ok()?)?;
                }
                let next = t.datetime().checked_add(Span::new().months(1)).ok()?;
                t = self.at(next)?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(&t) {
                if !added {
                    added = true;
                    t = self.at(Self::civil(&t, 0, 0, 0)?)?;
                }
                let next = t.datetime().checked_add(Span::new().days(1)).ok()?;
                t = self.at(next)?;
                // Daylight saving can move midnight; come back to it.
                let hour = i64::from(t.hour());
                if hour > 12 {
                    t = t.checked_add(SignedDuration::from_hours(24 - hour)).ok()?;
                } else if hour > 0 {
                    t = t.checked_add(SignedDuration::from_hours(-hour)).ok()?;
                }
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while !has(self.hour, t.hour()) {
                if !added {
                    added = true;
                    t = self.at(Self::civil(&t, t.hour(), 0, 0)?)?;
                }
                t = t.checked_add(SignedDuration::from_hours(1)).ok()?;
                if t.hour() == 0 {
                    continue 'wrap;
                }
            }
            while !has(self.minute, t.minute()) {
                if !added {
                    added = true;
                    t = self.at(Self::civil(&t, t.hour(), t.minute(), 0)?)?;
                }
                t = t.checked_add(SignedDuration::from_mins(1)).ok()?;
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            if t.second() != 0 {
                // Seconds are always 0 in the five-field form: check the next minute.
                let to_next_minute = 60 - i64::from(t.second());
                t = t
                    .checked_add(SignedDuration::from_secs(to_next_minute))
                    .ok()?;
                added = true;
                continue 'wrap;
            }
            return Some(t.timestamp());
        }
    }
}

/// How many activations were missed, roughly, as upstream counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missed {
    None,
    Few,
    /// More than 100: too many to start them all.
    Many,
}

/// The latest activation in (`earliest`, `now`], and how many were missed.
///
/// # Errors
/// When two activations are less than a second apart (an impossible date such as
/// February 31st makes the library return such times).
pub fn most_recent(
    schedule: &Schedule,
    earliest: Timestamp,
    now: Timestamp,
) -> Result<(Option<Timestamp>, Missed), String> {
    let (Some(t1), Some(t2)) = (
        schedule.next(earliest),
        schedule.next(earliest).and_then(|t| schedule.next(t)),
    ) else {
        return Ok((None, Missed::None));
    };
    if now < t1 {
        return Ok((None, Missed::None));
    }
    if now < t2 {
        return Ok((Some(t1), Missed::None));
    }
    let between = t2.duration_since(t1).as_secs();
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".to_string());
    }
    let elapsed = now.duration_since(t1).as_secs();
    let missed = elapsed / between + 1;
    let back = SignedDuration::from_secs((missed - 2) * between);
    let mut cursor = t1.checked_add(back).map_err(|e| e.to_string())?;
    let mut latest = None;
    while let Some(t) = schedule.next(cursor).filter(|t| *t <= now) {
        latest = Some(t);
        cursor = t;
    }
    let kind = match missed {
        m if m > 100 => Missed::Many,
        m if m > 0 => Missed::Few,
        _ => Missed::None,
    };
    Ok((latest, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn next_utc(spec: &str, after: &str) -> String {
        let schedule = Schedule::parse(&format!("TZ=UTC {spec}")).unwrap();
        schedule.next(utc(after)).unwrap().to_string()
    }

    #[test]
    fn five_field_schedules() {
        assert_eq!(
            next_utc("* * * * *", "2024-05-01T10:00:30Z"),
            "2024-05-01T10:01:00Z"
        );
        assert_eq!(
            next_utc("*/15 * * * *", "2024-05-01T10:00:00Z"),
            "2024-05-01T10:15:00Z"
        );
        assert_eq!(
            next_utc("0 0 * * *", "2024-05-01T10:00:00Z"),
            "2024-05-02T00:00:00Z"
        );
        assert_eq!(
            next_utc("30 2 1 jan *", "2024-05-01T10:00:00Z"),
            "2025-01-01T02:30:00Z"
        );
        // 2024-05-06 is a Monday.
        assert_eq!(
            next_utc("0 9 * * mon-fri", "2024-05-04T10:00:00Z"),
            "2024-05-06T09:00:00Z"
        );
        // Both day fields restricted: either matches.
        assert_eq!(
            next_utc("0 0 13 * 5", "2024-05-01T00:00:00Z"),
            "2024-05-03T00:00:00Z"
        );
        assert_eq!(
            next_utc("@hourly", "2024-05-01T10:59:59Z"),
            "2024-05-01T11:00:00Z"
        );
        assert_eq!(
            next_utc("@yearly", "2024-05-01T10:00:00Z"),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            next_utc("@every 90s", "2024-05-01T10:00:00.5Z"),
            "2024-05-01T10:01:30Z"
        );
    }

    #[test]
    fn time_zones_and_daylight_saving() {
        let schedule = Schedule::parse("CRON_TZ=Europe/Berlin 0 9 * * *").unwrap();
        assert_eq!(
            schedule
                .next(utc("2024-07-01T00:00:00Z"))
                .unwrap()
                .to_string(),
            "2024-07-01T07:00:00Z"
        );
        // 02:30 does not exist on 2024-03-31 in Berlin; the next day's does.
        let gap = Schedule::parse("TZ=Europe/Berlin 30 2 * * *").unwrap();
        let after = gap.next(utc("2024-03-30T12:00:00Z")).unwrap();
        assert!(after > utc("2024-03-31T00:00:00Z"));
        assert!(Schedule::parse("TZ=Mars/Base * * * * *").is_err());
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(Schedule::parse("* * *").is_err());
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("@fortnightly").is_err());
        assert!(Schedule::parse("* * * * 7").is_err());
    }

    #[test]
    fn most_recent_and_missed_counts() {
        let every_minute = Schedule::parse("TZ=UTC * * * * *").unwrap();
        let created = utc("2024-05-01T10:00:30Z");
        assert_eq!(
            most_recent(&every_minute, created, utc("2024-05-01T10:00:50Z")).unwrap(),
            (None, Missed::None)
        );
        assert_eq!(
            most_recent(&every_minute, created, utc("2024-05-01T10:01:10Z")).unwrap(),
            (Some(utc("2024-05-01T10:01:00Z")), Missed::None)
        );
        let (latest, missed) =
            most_recent(&every_minute, created, utc("2024-05-01T10:05:10Z")).unwrap();
        assert_eq!(latest, Some(utc("2024-05-01T10:05:00Z")));
        assert_eq!(missed, Missed::Few);
        let (_, missed) = most_recent(&every_minute, created, utc("2024-05-02T10:05:10Z")).unwrap();
        assert_eq!(missed, Missed::Many);
    }
}
