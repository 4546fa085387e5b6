//! How the JSON encoding writes the values that are not plain scalars: times as RFC 3339 and
//! bytes as standard base64.

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// `seconds` since the Unix epoch as `2024-05-01T10:00:00Z` (`metav1.Time`); `None` when the
/// year falls outside 0000–9999, which RFC 3339 cannot write.
pub(super) fn rfc3339(seconds: i64) -> Option<String> {
    let (date, time) = civil(i128::from(seconds) * NANOS_PER_SECOND)?;
    Some(format!("{date}T{time}Z"))
}

/// `seconds` and `nanos` as `2024-05-01T10:00:00.123456Z` (`metav1.MicroTime`): the fraction is
/// truncated to microseconds and always written with six digits.
pub(super) fn rfc3339_micro(seconds: i64, nanos: i64) -> Option<String> {
    let total = i128::from(seconds) * NANOS_PER_SECOND + i128::from(nanos);
    let (date, time) = civil(total)?;
    let micros = total.rem_euclid(NANOS_PER_SECOND) / 1_000;
    Some(format!("{date}T{time}.{micros:06}Z"))
}

/// Splits nanoseconds since the epoch into `YYYY-MM-DD` and `HH:MM:SS` in UTC.
fn civil(total_nanos: i128) -> Option<(String, String)> {
    let seconds = total_nanos.div_euclid(NANOS_PER_SECOND);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Days to a proleptic Gregorian date, counting eras of 400 years from 0000-03-01.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    if !(0..=9_999).contains(&year) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    let time = format!(
        "{:02}:{:02}:{:02}",
        of_day / 3_600,
        of_day / 60 % 60,
        of_day % 60
    );
    Some((date, time))
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Go's `encoding/json` writes `[]byte`.
pub(super) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk[0];
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let sextets = [
            b0 >> 2,
            (b0 & 0x03) << 4 | b1 >> 4,
            (b1 & 0x0f) << 2 | b2 >> 6,
            b2 & 0x3f,
        ];
        for (index, sextet) in sextets.iter().enumerate() {
            if index <= chunk.len() {
                out.push(char::from(BASE64_ALPHABET[usize::from(*sextet)]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(1_714_557_600).as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            rfc3339(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            rfc3339(253_402_300_799).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(
            rfc3339(-62_135_596_800).as_deref(),
            Some("0001-01-01T00:00:00Z")
        );
        assert_eq!(rfc3339(253_402_300_800), None);
        assert_eq!(rfc3339(i64::MIN), None);
    }

    #[test]
    fn micro_times_keep_six_digits() {
        assert_eq!(
            rfc3339_micro(1_714_557_600, 123_456_789).as_deref(),
            Some("2024-05-01T10:00:00.123456Z")
        );
        assert_eq!(
            rfc3339_micro(1_714_557_600, 0).as_deref(),
            Some("2024-05-01T10:00:00.000000Z")
        );
        assert_eq!(
            rfc3339_micro(0, -1_000).as_deref(),
            Some("1969-12-31T23:59:59.999999Z")
        );
    }

    #[test]
    fn bytes_are_padded_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"hunter2"), "aHVudGVyMg==");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }
}
