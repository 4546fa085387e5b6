//! Kubernetes resource quantities (`k8s.io/apimachinery/pkg/api/resource`): parsing of
//! `500m`, `1.5Gi`, `2e3`, `+1k`…, exact comparison, and upstream's canonical spelling
//! (`0.5` prints as `500m`, `1536Mi` stays `1536Mi`). Values are held in nano-units, as
//! upstream rounds anything finer up to `1n`.

use std::cmp::Ordering;

use serde_json::Value;

/// Upstream's message when a quantity does not parse.
pub(crate) const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// How a quantity was written, which decides how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantityFormat {
    /// `k`, `M`, `m`, `n`… (and bare numbers).
    DecimalSI,
    /// `Ki`, `Mi`, `Gi`…
    BinarySI,
    /// `1e3`, `5E-3`.
    DecimalExponent,
}

/// A parsed quantity: its value in nano-units (rounded up, away from zero) and its format.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// Parses a quantity as the API server does; `None` when it is not one (or is beyond
/// about 10^29, which upstream's arbitrary-precision decimal would still hold).
pub fn parse_quantity(text: &str) -> Option<Quantity> {
    Quantity::parse(text)
}

/// The pieces of `[+-]digits[.digits]suffix`.
struct Parts<'a> {
    negative: bool,
    whole: &'a str,
    fraction: &'a str,
    suffix: &'a str,
}

fn split(text: &str) -> Option<Parts<'_>> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut negative = false;
    if let Some(&sign) = bytes.first()
        && (sign == b'-' || sign == b'+')
    {
        negative = sign == b'-';
        pos = 1;
    }
    let digits_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |p| from + p)
    };
    let whole_end = digits_end(pos);
    let whole = &text[pos..whole_end];
    pos = whole_end;
    let mut fraction = "";
    let has_dot = bytes.get(pos) == Some(&b'.');
    if whole.is_empty() && !has_dot {
        return None;
    }
    if has_dot {
        let end = digits_end(pos + 1);
        fraction = &text[pos + 1..end];
        pos = end;
    }
    let suffix_start = pos;
    while pos < bytes.len() && b"eEinumkKMGTP".contains(&bytes[pos]) {
        pos += 1;
    }
    if pos < bytes.len() && (bytes[pos] == b'-' || bytes[pos] == b'+') {
        pos += 1;
    }
    if digits_end(pos) != bytes.len() {
        return None;
    }
    Some(Parts {
        negative,
        whole,
        fraction,
        suffix: &text[suffix_start..],
    })
}

/// `(base, exponent, format)` for a suffix, as upstream's suffixer interprets it.
fn interpret(suffix: &str) -> Option<(u32, i32, QuantityFormat)> {
    use QuantityFormat::*;
    let decimal = |e| Some((10, e, DecimalSI));
    let binary = |e| Some((2, e, BinarySI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some((10, rest.parse().ok()?, DecimalExponent))
        }
    }
}

fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

/// `value * 10^exp`, rounding a division up (away from zero).
fn scale10(value: i128, exp: i32) -> Option<i128> {
    if exp >= 0 {
        value.checked_mul(pow10(exp.unsigned_abs())?)
    } else {
        let div = match pow10(exp.unsigned_abs()) {
            Some(d) => d,
            None => return Some(if value == 0 { 0 } else { value.signum() }),
        };
        let q = value / div;
        Some(if value % div != 0 {
            q + value.signum()
        } else {
            q
        })
    }
}

impl Quantity {
    /// Parses `text`; see [`parse_quantity`].
    pub fn parse(text: &str) -> Option<Quantity> {
        if text.is_empty() {
            return None;
        }
        let parts = split(text)?;
        let (base, exponent, mut format) = interpret(parts.suffix)?;
        let whole = parts.whole.trim_start_matches('0');
        let fraction = parts.fraction.trim_end_matches('0');
        let digits = format!("{whole}{fraction}");
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let fraction_len = i32::try_from(fraction.len()).ok()?;
        let nanos = if base == 10 {
            scale10(
                mantissa,
                exponent.checked_add(9)?.checked_sub(fraction_len)?,
            )?
        } else {
            let binary = mantissa.checked_mul(1i128.checked_shl(exponent.unsigned_abs())?)?;
            scale10(binary, 9 - fraction_len)?
        };
        let mut nanos = if parts.negative { -nanos } else { nanos };
        if format == QuantityFormat::BinarySI {
            let max = i128::from(i64::MAX) * NANOS_PER_UNIT;
            if nanos > max {
                nanos = max;
            }
            if nanos > 0 && nanos < NANOS_PER_UNIT {
                format = QuantityFormat::DecimalSI;
            }
        }
        Some(Quantity { nanos, format })
    }

    /// A quantity from JSON: a string, or a bare number (which upstream also accepts).
    pub fn from_json(value: &Value) -> Option<Quantity> {
        match value {
            Value::String(s) => Quantity::parse(s),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => None,
        }
    }

    /// A whole number of units in DecimalSI format.
    pub fn from_units(units: i64) -> Quantity {
        Quantity {
            nanos: i128::from(units) * NANOS_PER_UNIT,
            format: QuantityFormat::DecimalSI,
        }
    }

    /// `nanos` nano-units written in `format` (for sums and differences of quantities).
    pub fn from_nanos(nanos: i128, format: QuantityFormat) -> Quantity {
        Quantity { nanos, format }
    }

    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// The value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// -1, 0 or 1.
    pub fn sign(&self) -> i32 {
        self.nanos.signum() as i32
    }

    fn rounded_up(&self, per: i128) -> i128 {
        let q = self.nanos / per;
        if self.nanos % per != 0 {
            q + self.nanos.signum()
        } else {
            q
        }
    }

    /// Upstream's `Value()`: whole units, rounded up (away from zero), saturating at i64.
    pub fn value(&self) -> i64 {
        saturate(self.rounded_up(NANOS_PER_UNIT))
    }

    /// Upstream's `MilliValue()`: thousandths, rounded up (away from zero), saturating.
    pub fn milli_value(&self) -> i64 {
        saturate(self.rounded_up(1_000_000))
    }

    /// Whether the value is a whole number of units.
    pub fn is_integer(&self) -> bool {
        self.nanos % NANOS_PER_UNIT == 0
    }

    /// Upstream's canonical spelling (`Quantity.String()`).
    pub fn to_canonical_string(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == QuantityFormat::BinarySI
            && (self.nanos.abs() < 1024 * NANOS_PER_UNIT || !self.is_integer())
        {
            format = QuantityFormat::DecimalSI;
        }
        if format == QuantityFormat::BinarySI {
            let mut amount = self.nanos / NANOS_PER_UNIT;
            let mut exp = 0;
            while amount % 1024 == 0 && exp < 6 {
                amount /= 1024;
                exp += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
            return format!("{amount}{suffix}");
        }
        let mut amount = self.nanos;
        let mut exp: i32 = -9;
        while amount % 10 == 0 {
            amount /= 10;
            exp += 1;
        }
        match exp.rem_euclid(3) {
            1 => {
                amount *= 10;
                exp -= 1;
            }
            2 => {
                amount *= 100;
                exp -= 2;
            }
            _ => {}
        }
        if format == QuantityFormat::DecimalExponent {
            return if exp == 0 {
                amount.to_string()
            } else {
                format!("{amount}e{exp}")
            };
        }
        while exp > 18 {
            amount *= 1000;
            exp -= 3;
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        format!("{amount}{suffix}")
    }
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_canonical_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        parse_quantity(s)
            .map(|q| q.to_canonical_string())
            .unwrap_or_else(|| "<none>".into())
    }

    #[test]
    fn parses_suffixes_and_exponents() {
        assert_eq!(parse_quantity("500m").map(|q| q.milli_value()), Some(500));
        assert_eq!(parse_quantity("1Gi").map(|q| q.value()), Some(1 << 30));
        assert_eq!(parse_quantity("2e3").map(|q| q.value()), Some(2000));
        assert_eq!(
            parse_quantity("1E").map(|q| q.value()),
            Some(1_000_000_000_000_000_000)
        );
        assert_eq!(parse_quantity("5E-3").map(|q| q.milli_value()), Some(5));
        assert_eq!(parse_quantity("+1k").map(|q| q.value()), Some(1000));
        assert_eq!(parse_quantity("-1").map(|q| q.sign()), Some(-1));
        assert_eq!(parse_quantity(".5").map(|q| q.milli_value()), Some(500));
        assert_eq!(parse_quantity("1n").map(|q| q.nanos()), Some(1));
        assert_eq!(parse_quantity("0.1n").map(|q| q.nanos()), Some(1));
        assert_eq!(parse_quantity("0.1").map(|q| q.value()), Some(1));
    }

    #[test]
    fn rejects_what_upstream_rejects() {
        for bad in ["", "1K", "1ki", "abc", "1.5.5", "1Gi1", "1e", "m", "1 Gi"] {
            assert!(parse_quantity(bad).is_none(), "{bad} should not parse");
        }
    }

    #[test]
    fn prints_canonical_forms() {
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("1500m"), "1500m");
        assert_eq!(canon("2000"), "2k");
        assert_eq!(canon("100M"), "100M");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("1024"), "1024");
        assert_eq!(canon("1Ki"), "1Ki");
        assert_eq!(canon("0.5Ki"), "512");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("-100m"), "-100m");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("0.0"), "0");
    }

    #[test]
    fn compares_by_value() {
        let a = parse_quantity("1").unwrap();
        let b = parse_quantity("1000m").unwrap();
        assert_eq!(a, b);
        assert!(parse_quantity("1Gi").unwrap() > parse_quantity("1G").unwrap());
        assert_eq!(
            Quantity::from_json(&serde_json::json!(0.25)).map(|q| q.milli_value()),
            Some(250)
        );
    }
}
