//! Resource quantities in their canonical form, as upstream prints them (`1024Mi` → `1Gi`,
//! `0.5` → `500m`, `1000` → `1k`).
//!
//! The value is read exactly (a decimal mantissa and a power of ten), rounded up to nano units
//! like upstream's parser, and written back in the format its suffix implies: binary (`Ki`…`Ei`)
//! when it is a whole number of at least 1024, decimal SI (`n`…`E`) otherwise, or a decimal
//! exponent (`e3`) when it was written that way.

use serde_json::Value;

/// How a quantity was written, which decides how it is written back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    BinarySi,
    DecimalSi,
    DecimalExponent,
}

/// An exact value `mantissa × 10^scale`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Decimal {
    mantissa: i128,
    scale: i32,
}

/// The finest unit upstream keeps: values are rounded up to nano units.
const NANO_SCALE: i32 = -9;

/// The largest power of ten accepted in a decimal exponent (`1e300`); beyond it the text is left
/// as written.
const MAX_EXPONENT: i32 = 300;

/// The canonical text of a quantity field: a JSON string or number. `None` when it is neither or
/// cannot be read (the caller decides what to print then).
pub fn canonical(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => canonical_str(text.trim()),
        Value::Number(number) => canonical_str(&number.to_string()),
        _ => None,
    }
}

/// A quantity field as upstream prints a non-pointer `Quantity`: `0` when missing, the raw text
/// when unreadable.
pub fn or_zero(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "0".to_owned(),
        Some(present) => canonical(present).unwrap_or_else(|| raw(present)),
    }
}

/// A quantity field as upstream prints a `*Quantity`: `<nil>` when missing.
pub fn or_nil(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "<nil>".to_owned(),
        Some(present) => canonical(present).unwrap_or_else(|| raw(present)),
    }
}

fn raw(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// The canonical text of a quantity string such as `1.5Gi`.
pub fn canonical_str(text: &str) -> Option<String> {
    let (value, format) = parse(text)?;
    Some(format_canonical(value, format))
}

fn parse(text: &str) -> Option<(Decimal, Format)> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let mut mantissa: i128 = digits.parse().ok()?;
    let mut scale = -i32::try_from(fraction.len()).ok()?;
    let format = match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            mantissa = mantissa.checked_mul(1i128 << (10 * power))?;
            Format::BinarySi
        }
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => {
            scale += match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                "E" => 18,
                _ => 0,
            };
            Format::DecimalSi
        }
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().ok()?;
            scale = scale
                .checked_add(power)
                .filter(|total| total.unsigned_abs() <= MAX_EXPONENT.unsigned_abs())?;
            Format::DecimalExponent
        }
        _ => return None,
    };
    if negative {
        mantissa = -mantissa;
    }
    let mut value = round_up_to_nano(Decimal { mantissa, scale })?;
    // A binary quantity below one is not a whole number of bytes: upstream shows it in SI.
    let format = if format == Format::BinarySi && value.mantissa > 0 && below_one(value) {
        Format::DecimalSi
    } else {
        format
    };
    if value.mantissa == 0 {
        value.scale = 0;
    }
    Some((value, format))
}

/// Rounds away from zero to nano units, so that a tiny request never becomes zero.
fn round_up_to_nano(value: Decimal) -> Option<Decimal> {
    if value.scale >= NANO_SCALE {
        return Some(value);
    }
    let divisor = 10i128.checked_pow(u32::try_from(NANO_SCALE - value.scale).ok()?)?;
    let quotient = value.mantissa / divisor;
    let rounded = if value.mantissa % divisor == 0 {
        quotient
    } else {
        quotient + value.mantissa.signum()
    };
    Some(Decimal {
        mantissa: rounded,
        scale: NANO_SCALE,
    })
}

fn below_one(value: Decimal) -> bool {
    match u32::try_from(-value.scale) {
        Ok(places) if places > 0 => 10i128
            .checked_pow(places)
            .is_none_or(|one| value.mantissa.abs() < one),
        _ => false,
    }
}

/// The value as a whole number, when it is one.
fn as_integer(value: Decimal) -> Option<i128> {
    if value.scale >= 0 {
        return value
            .mantissa
            .checked_mul(10i128.checked_pow(u32::try_from(value.scale).ok()?)?);
    }
    let divisor = 10i128.checked_pow(u32::try_from(-value.scale).ok()?)?;
    (value.mantissa % divisor == 0).then_some(value.mantissa / divisor)
}

fn format_canonical(value: Decimal, format: Format) -> String {
    if value.mantissa == 0 {
        return "0".to_owned();
    }
    if format == Format::BinarySi
        && let Some(whole) = as_integer(value)
        && whole.abs() >= 1024
    {
        return format_binary(whole);
    }
    let (mantissa, exponent) = decimal_parts(value);
    let suffix = match (format, exponent) {
        (Format::DecimalExponent, 0) => String::new(),
        (Format::DecimalExponent, _) => format!("e{exponent}"),
        (_, -9) => "n".to_owned(),
        (_, -6) => "u".to_owned(),
        (_, -3) => "m".to_owned(),
        (_, 0) => String::new(),
        (_, 3) => "k".to_owned(),
        (_, 6) => "M".to_owned(),
        (_, 9) => "G".to_owned(),
        (_, 12) => "T".to_owned(),
        (_, 15) => "P".to_owned(),
        (_, 18) => "E".to_owned(),
        (_, _) => format!("e{exponent}"),
    };
    format!("{mantissa}{suffix}")
}

/// The largest power of 1024 dividing the value, as `Ki`…`Ei`.
fn format_binary(whole: i128) -> String {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut amount = whole;
    let mut power = 0;
    while power < SUFFIXES.len() - 1 && amount % 1024 == 0 {
        amount /= 1024;
        power += 1;
    }
    format!("{amount}{}", SUFFIXES[power])
}

/// Mantissa and exponent with trailing zeros folded into an exponent that is a multiple of three.
fn decimal_parts(value: Decimal) -> (i128, i32) {
    let (mut mantissa, mut exponent) = (value.mantissa, value.scale);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    let shift = exponent.rem_euclid(3);
    for _ in 0..shift {
        match mantissa.checked_mul(10) {
            Some(next) => mantissa = next,
            None => return (value.mantissa, value.scale),
        }
    }
    (mantissa, exponent - shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_quantities_fold_into_the_largest_suffix() {
        let cases = [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("500Mi", "500Mi"),
            ("2048Ki", "2Mi"),
            ("1Ki", "1Ki"),
            ("0.5Ki", "512"),
            ("0.1Ki", "102400m"),
            ("8Ei", "8Ei"),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical_str(input).as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn decimal_quantities_use_si_suffixes_in_steps_of_a_thousand() {
        let cases = [
            ("100", "100"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1.5", "1500m"),
            ("0.5", "500m"),
            ("500m", "500m"),
            ("2000m", "2"),
            ("10G", "10G"),
            ("1000M", "1G"),
            ("0", "0"),
            ("0Gi", "0"),
            ("-1.5", "-1500m"),
            ("+3", "3"),
            ("1n", "1n"),
            ("0.0000000001", "1n"),
            ("1e3", "1e3"),
            ("10e3", "10e3"),
            ("1E6", "1e6"),
            ("1.5e3", "1500"),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical_str(input).as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn numbers_and_missing_values() {
        assert_eq!(canonical(&json!(5)).as_deref(), Some("5"));
        assert_eq!(or_zero(None), "0");
        assert_eq!(or_nil(None), "<nil>");
        assert_eq!(or_zero(Some(&json!("10Gi"))), "10Gi");
        assert_eq!(or_zero(Some(&json!("lots"))), "lots");
    }

    #[test]
    fn malformed_quantities_are_rejected() {
        for input in [
            "",
            "Gi",
            "1.2.3",
            "1 Gi",
            "1Zi",
            "1e",
            ".",
            "1e-2147483648",
            "1e999",
        ] {
            assert_eq!(canonical_str(input), None, "{input}");
        }
    }
}
