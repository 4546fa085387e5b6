//! Resource quantities (`resource.Quantity`): parsing, the canonical form upstream writes back
//! (`0.5` → `500m`, `1000m` → `1`, `1024Mi` → `1Gi`, a JSON number `2` → `"2"`), the rounding up
//! to milli-units that `SetDefaults_ResourceList` applies, and the sums and comparisons the QoS
//! class needs. Values are exact: `mantissa × 10^exponent`.

use std::cmp::Ordering;

use serde_json::Value;

use super::json::Object;

/// The suffix family a quantity was written in; it decides how it is written back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `m`, `k`, `M`, … or no suffix.
    DecimalSi,
    /// `Ki`, `Mi`, `Gi`, ….
    BinarySi,
    /// `e3`, `E-2`, ….
    DecimalExponent,
}

/// An exact quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Quantity {
    mantissa: i128,
    exponent: i32,
    format: Format,
}

/// The finest scale a quantity keeps (nano); finer input is rounded up.
const NANO: i32 = -9;
/// The scale resource lists are rounded up to.
const MILLI: i32 = -3;
/// More digits than this cannot be held exactly; such input is left untouched.
const MAX_DIGITS: usize = 30;
/// Exponents beyond this are not real quantities; such input is left untouched.
const MAX_EXPONENT: i32 = 60;

const DECIMAL_SUFFIXES: [(&str, i32); 9] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

impl Quantity {
    /// Parses a quantity as upstream accepts it; `None` for anything else.
    pub(super) fn parse(text: &str) -> Option<Quantity> {
        let text = text.trim();
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return None;
        }
        let (format, decimal_exponent, binary_power) = parse_suffix(suffix)?;
        let digits = format!("{whole}{fraction}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > MAX_DIGITS {
            return None;
        }
        let mut mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        mantissa = mantissa.checked_mul(1i128.checked_shl(binary_power)?)?;
        if negative {
            mantissa = -mantissa;
        }
        let fraction_digits = i32::try_from(fraction.len()).ok()?;
        let quantity = Quantity {
            mantissa,
            exponent: decimal_exponent - fraction_digits,
            format,
        };
        Some(quantity.round_up_to(NANO))
    }

    /// Reads a quantity from JSON: a string, or a bare number as YAML clients send for `cpu: 2`.
    pub(super) fn from_json(value: &Value) -> Option<Quantity> {
        match value {
            Value::String(text) => Quantity::parse(text),
            Value::Number(number) => Quantity::parse(&number.to_string()),
            _ => None,
        }
    }

    /// Rounds up (toward positive infinity) to `scale`, as `Quantity.RoundUp` does.
    fn round_up_to(self, scale: i32) -> Quantity {
        if self.exponent >= scale {
            return self;
        }
        let shift = u32::try_from(scale - self.exponent).unwrap_or(u32::MAX);
        let (quotient, remainder) = match 10i128.checked_pow(shift) {
            Some(divisor) => (self.mantissa / divisor, self.mantissa % divisor),
            None => (0, self.mantissa),
        };
        let mantissa = if remainder > 0 {
            quotient + 1
        } else {
            quotient
        };
        Quantity {
            mantissa,
            exponent: scale,
            format: self.format,
        }
    }

    /// Rounds up to milli-units, as `SetDefaults_ResourceList` does to every resource list.
    pub(super) fn round_up_to_milli(self) -> Quantity {
        self.round_up_to(MILLI)
    }

    /// Greater than zero.
    pub(super) fn is_positive(&self) -> bool {
        self.mantissa > 0
    }

    /// Both mantissas brought to the smaller exponent, when that fits.
    fn aligned(&self, other: &Quantity) -> Option<(i128, i128, i32)> {
        let exponent = self.exponent.min(other.exponent);
        let scale = |quantity: &Quantity| {
            let shift = u32::try_from(quantity.exponent - exponent).ok()?;
            quantity.mantissa.checked_mul(10i128.checked_pow(shift)?)
        };
        Some((scale(self)?, scale(other)?, exponent))
    }

    /// The sum, keeping this quantity's format; `None` on overflow.
    pub(super) fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let (left, right, exponent) = self.aligned(other)?;
        Some(Quantity {
            mantissa: left.checked_add(right)?,
            exponent,
            format: self.format,
        })
    }

    /// Compares values; `None` only when they cannot be aligned exactly.
    pub(super) fn compare(&self, other: &Quantity) -> Option<Ordering> {
        let (left, right, _) = self.aligned(other)?;
        Some(left.cmp(&right))
    }

    /// The value as an integer, when it is one.
    fn integer(&self) -> Option<i128> {
        if self.exponent >= 0 {
            let shift = u32::try_from(self.exponent).ok()?;
            return self.mantissa.checked_mul(10i128.checked_pow(shift)?);
        }
        let shift = u32::try_from(-self.exponent).ok()?;
        let divisor = 10i128.checked_pow(shift)?;
        (self.mantissa % divisor == 0).then_some(self.mantissa / divisor)
    }

    /// The canonical text upstream serializes; `None` when the value has no such form here.
    pub(super) fn canonical(&self) -> Option<String> {
        let format = match self.format {
            Format::BinarySi => match self.integer() {
                Some(value) if value.abs() >= 1024 => Format::BinarySi,
                _ => Format::DecimalSi,
            },
            other => other,
        };
        if format == Format::BinarySi {
            let mut value = self.integer()?;
            let mut power = 0;
            while power < BINARY_SUFFIXES.len() - 1 && value % 1024 == 0 {
                value /= 1024;
                power += 1;
            }
            return Some(format!("{value}{}", BINARY_SUFFIXES[power]));
        }
        if self.mantissa == 0 {
            return Some("0".to_string());
        }
        let (mut mantissa, mut exponent) = (self.mantissa, self.exponent);
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        let spare = exponent.rem_euclid(3);
        mantissa = mantissa.checked_mul(10i128.pow(spare.unsigned_abs()))?;
        exponent -= spare;
        if format == Format::DecimalExponent {
            return Some(if exponent == 0 {
                mantissa.to_string()
            } else {
                format!("{mantissa}e{exponent}")
            });
        }
        while exponent > 18 {
            mantissa = mantissa.checked_mul(1000)?;
            exponent -= 3;
        }
        if exponent == 0 {
            return Some(mantissa.to_string());
        }
        let suffix = DECIMAL_SUFFIXES
            .iter()
            .find(|(_, power)| *power == exponent)
            .map(|(suffix, _)| *suffix)?;
        Some(format!("{mantissa}{suffix}"))
    }
}

/// The format, the power of ten and the power of two a suffix stands for.
fn parse_suffix(suffix: &str) -> Option<(Format, i32, u32)> {
    if suffix.is_empty() {
        return Some((Format::DecimalSi, 0, 0));
    }
    if let Some((_, power)) = DECIMAL_SUFFIXES.iter().find(|(name, _)| *name == suffix) {
        return Some((Format::DecimalSi, *power, 0));
    }
    if let Some(index) = BINARY_SUFFIXES
        .iter()
        .skip(1)
        .position(|name| *name == suffix)
    {
        let power = u32::try_from(index + 1).ok()? * 10;
        return Some((Format::BinarySi, 0, power));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let exponent: i32 = exponent.parse().ok()?;
    (exponent.abs() <= MAX_EXPONENT).then_some((Format::DecimalExponent, exponent, 0))
}

/// Writes a quantity field back in canonical form, first rounding up to milli-units when
/// `round_to_milli`. A value that does not parse is left for validation to report.
pub(super) fn canonicalize(value: &mut Value, round_to_milli: bool) {
    let Some(mut quantity) = Quantity::from_json(value) else {
        return;
    };
    if round_to_milli {
        quantity = quantity.round_up_to_milli();
    }
    if let Some(text) = quantity.canonical() {
        *value = Value::String(text);
    }
}

/// Canonicalizes and rounds every entry of the resource list under `key`
/// (`SetDefaults_ResourceList`).
pub(super) fn canonicalize_list(object: &mut Object, key: &str) {
    if let Some(list) = object.get_mut(key).and_then(Value::as_object_mut) {
        for value in list.values_mut() {
            canonicalize(value, true);
        }
    }
}

/// Canonicalizes a single quantity field under `key`, without rounding.
pub(super) fn canonicalize_field(object: &mut Object, key: &str) {
    if let Some(value) = object.get_mut(key) {
        canonicalize(value, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(text: &str) -> Option<String> {
        Quantity::parse(text).and_then(|quantity| quantity.canonical())
    }

    fn rounded(text: &str) -> Option<String> {
        Quantity::parse(text).and_then(|quantity| quantity.round_up_to_milli().canonical())
    }

    #[test]
    fn decimal_values_take_the_largest_exact_suffix() {
        assert_eq!(canonical("0.5").as_deref(), Some("500m"));
        assert_eq!(canonical("1000m").as_deref(), Some("1"));
        assert_eq!(canonical("1500m").as_deref(), Some("1500m"));
        assert_eq!(canonical("1.5").as_deref(), Some("1500m"));
        assert_eq!(canonical("2000").as_deref(), Some("2k"));
        assert_eq!(canonical("1500").as_deref(), Some("1500"));
        assert_eq!(canonical("100m").as_deref(), Some("100m"));
        assert_eq!(canonical("0").as_deref(), Some("0"));
        assert_eq!(canonical("0.000000001").as_deref(), Some("1n"));
        assert_eq!(canonical("128974848").as_deref(), Some("128974848"));
        assert_eq!(canonical("129e6").as_deref(), Some("129e6"));
        assert_eq!(canonical("129M").as_deref(), Some("129M"));
        assert_eq!(canonical("12e2").as_deref(), Some("1200"));
        assert_eq!(canonical("-0.5").as_deref(), Some("-500m"));
    }

    #[test]
    fn binary_values_stay_binary_only_when_whole_and_large() {
        assert_eq!(canonical("1024Mi").as_deref(), Some("1Gi"));
        assert_eq!(canonical("100Mi").as_deref(), Some("100Mi"));
        assert_eq!(canonical("1.5Gi").as_deref(), Some("1536Mi"));
        assert_eq!(canonical("1536").as_deref(), Some("1536"));
        assert_eq!(canonical("0.5Ki").as_deref(), Some("512"));
        assert_eq!(canonical("0Gi").as_deref(), Some("0"));
        assert_eq!(canonical("0.1Ki").as_deref(), Some("102400m"));
    }

    #[test]
    fn resource_lists_round_up_to_milli() {
        assert_eq!(rounded("0.0001").as_deref(), Some("1m"));
        assert_eq!(rounded("1.0001").as_deref(), Some("1001m"));
        assert_eq!(rounded("250m").as_deref(), Some("250m"));
        assert_eq!(rounded("10n").as_deref(), Some("1m"));
    }

    #[test]
    fn rejects_what_upstream_rejects() {
        for text in ["", "abc", "1.2.3", "1Qi", "1 Gi", "e3", "--1", "1ee3"] {
            assert_eq!(Quantity::parse(text), None, "{text}");
        }
    }

    #[test]
    fn json_numbers_become_strings() {
        let mut value = json!(2);
        canonicalize(&mut value, true);
        assert_eq!(value, json!("2"));
        let mut value = json!(0.5);
        canonicalize(&mut value, true);
        assert_eq!(value, json!("500m"));
        let mut value = json!(true);
        canonicalize(&mut value, true);
        assert_eq!(value, json!(true));
    }

    #[test]
    fn sums_and_comparisons_are_exact() {
        let (Some(half), Some(milli), Some(gib), Some(mib)) = (
            Quantity::parse("0.5"),
            Quantity::parse("500m"),
            Quantity::parse("1Gi"),
            Quantity::parse("1024Mi"),
        ) else {
            panic!("test quantities must parse");
        };
        assert_eq!(half.compare(&milli), Some(Ordering::Equal));
        assert_eq!(gib.compare(&mib), Some(Ordering::Equal));
        let sum = half.checked_add(&milli).and_then(|sum| sum.canonical());
        assert_eq!(sum.as_deref(), Some("1"));
        assert!(half.is_positive());
    }
}
