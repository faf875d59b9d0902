//! Kubernetes `resource.Quantity` strings in their canonical form, the way
//! `Quantity.MarshalJSON` writes them (apimachinery
//! `pkg/api/resource/quantity.go`, `CanonicalizeBytes`, and `amount.go`,
//! `AsCanonicalBytes`), for the `value` of an `ExternalMetricValue`.
//!
//! A decimal value `mantissa × 10^exponent` is written with its trailing
//! zeros moved into the exponent, then the exponent lowered to a multiple
//! of three (the mantissa gaining zeros), then the DecimalSI suffix of that
//! exponent: `n u m "" k M G T P E` for -9 … 18. Past `E` Kubernetes writes
//! the exponent (`1e21`); zero is `0` and never carries a suffix. So 1.5 is
//! `1500m`, 15 is `15`, 2000 is `2k`, 1500 is `1500`.
//!
//! Our values are `f64`s. A Quantity keeps nothing finer than 10⁻⁹ (the
//! parser rounds finer values up to `1n`), so a value is taken as the
//! shortest decimal that reads back as the same `f64` (Rust's `Display`)
//! and rounded half away from zero at the ninth decimal: `0.1 + 0.2` is
//! `300m`, not `300000001n`, and 1/6 is `166666667n`. The HPA then reads it
//! with `MilliValue()` (ceil(q × 1000)).

use std::fmt;

/// A decimal number as Kubernetes writes it: `mantissa × 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exponent: i32,
}

/// Digits kept after the decimal point: nanos, a Quantity's finest scale.
const NANO_DIGITS: usize = 9;

impl Quantity {
    /// `mantissa × 10^exponent` (apimachinery's `decQuantity(i, exp,
    /// DecimalSI)`, for the tests that mirror its tables).
    #[cfg(test)]
    fn new(mantissa: i128, exponent: i32) -> Quantity {
        Quantity { mantissa, exponent }
    }

    /// `v` rounded to nanos (half away from zero), from the shortest
    /// decimal that reads back as `v`. `None` for NaN and infinities,
    /// which no Quantity can hold.
    pub fn from_f64(v: f64) -> Option<Quantity> {
        if !v.is_finite() {
            return None;
        }
        // `Display` for f64 never uses exponent notation: digits, maybe a
        // point, more digits (and a leading `-`).
        let text = format!("{}", v.abs());
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let (kept, rest) = frac.split_at(frac.len().min(NANO_DIGITS));
        let round_up = rest.as_bytes().first().is_some_and(|&d| d >= b'5');
        let digits = format!("{int}{kept}");
        // Trailing zeros go into the exponent, so the mantissa holds at most
        // the 17 significant digits of an f64 (and one of rounding).
        let trimmed = digits.trim_end_matches('0');
        let mut exponent = (digits.len() - trimmed.len()) as i32 - kept.len() as i32;
        let significant = trimmed.trim_start_matches('0');
        let mut mantissa: i128 = if significant.is_empty() {
            0
        } else {
            significant.parse().ok()?
        };
        if round_up {
            // Rounding applies at the nano digit, where the mantissa's last
            // digit may not be: scale it there first.
            while exponent > -(NANO_DIGITS as i32) {
                mantissa = mantissa.checked_mul(10)?;
                exponent -= 1;
            }
            mantissa += 1;
        }
        if mantissa == 0 {
            exponent = 0;
        }
        if v.is_sign_negative() {
            mantissa = -mantissa;
        }
        Some(Quantity { mantissa, exponent })
    }

    /// The mantissa and exponent of the canonical form: no trailing zeros
    /// in the mantissa beyond what an exponent that is a multiple of three
    /// needs.
    fn canonical(self) -> (i128, i32) {
        let (mut m, mut e) = (self.mantissa, self.exponent);
        if m == 0 {
            return (0, 0);
        }
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        // Lower the exponent to the multiple of three at or below it (Go's
        // `exponent % 3` cases 1, -2 → ×10 and 2, -1 → ×100).
        while e.rem_euclid(3) != 0 {
            m *= 10;
            e -= 1;
        }
        (m, e)
    }
}

/// The DecimalSI suffix of an exponent, if it has one.
fn suffix(exponent: i32) -> Option<&'static str> {
    Some(match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, e) = self.canonical();
        if m == 0 {
            return f.write_str("0");
        }
        match suffix(e) {
            Some(s) => write!(f, "{m}{s}"),
            // DecimalSI has no suffix there: Kubernetes falls back to the
            // DecimalExponent form rather than drop the magnitude.
            None => write!(f, "{m}e{e}"),
        }
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// apimachinery `quantity_test.go`, `TestQuantityString`: the DecimalSI
    /// rows (`decQuantity(i, exp, DecimalSI)` → `expect`), and the negated
    /// table it checks after.
    #[test]
    fn apimachinery_quantity_string_decimal_si() {
        let table: &[(i128, i32, &str)] = &[
            (1, 9, "1G"),
            (1000, 6, "1G"),
            (1_000_000, 3, "1G"),
            (1_000_000_000, 0, "1G"),
            (1, -3, "1m"),
            (80, -3, "80m"),
            (1080, -3, "1080m"),
            (108, -2, "1080m"),
            (10800, -4, "1080m"),
            (300, 6, "300M"),
            (1, 12, "1T"),
            (1, 18, "1E"),
            (1, 21, "1e21"),
            (5, 21, "5e21"),
            (1, 24, "1e24"),
            (1_234_567, 6, "1234567M"),
            (3, 3, "3k"),
            (0, 0, "0"),
            (1, -9, "1n"),
            (80, -9, "80n"),
            (1080, -9, "1080n"),
            (108, -8, "1080n"),
            (10800, -10, "1080n"),
            (1, -6, "1u"),
            (80, -6, "80u"),
            (1080, -6, "1080u"),
        ];
        for &(m, e, want) in table {
            assert_eq!(Quantity::new(m, e).to_string(), want, "{m}e{e}");
            if m != 0 {
                assert_eq!(
                    Quantity::new(-m, e).to_string(),
                    format!("-{want}"),
                    "-{m}e{e}"
                );
            }
        }
    }

    /// `TestMilliNewSet`, `TestNewSet`, `TestNewScaledSet` (DecimalSI rows)
    /// and `TestQuantityNeg`.
    #[test]
    fn apimachinery_new_milli_scaled_and_neg() {
        let table: &[(i128, i32, &str)] = &[
            // NewMilliQuantity(v, DecimalSI)
            (1, -3, "1m"),
            (1000, -3, "1"),
            (1_234_000, -3, "1234"),
            // NewQuantity(v, DecimalSI)
            (1, 0, "1"),
            (1000, 0, "1k"),
            (1_234_000, 0, "1234k"),
            // NewScaledQuantity(v, scale)
            (1, -9, "1n"),
            (1000, -9, "1u"),
            (1, -6, "1u"),
            (1000, -6, "1m"),
            (1, -3, "1m"),
            (1000, -3, "1"),
            (1, 0, "1"),
            (0, -9, "0"),
            // TestQuantityNeg: -9.01
            (-901, -2, "-9010m"),
        ];
        for &(m, e, want) in table {
            assert_eq!(Quantity::new(m, e).to_string(), want, "{m}e{e}");
        }
    }

    /// `TestQuantityParseEmit`'s DecimalSI-valued rows, and the canonical
    /// strings of `TestQuantityParse`'s decimal inputs, taken as numbers.
    #[test]
    fn apimachinery_parse_emit_rows_from_floats() {
        let table: &[(f64, &str)] = &[
            (1e9, "1G"),
            (0.001, "1m"),
            (0.5, "500m"),
            (0.05, "50m"),
            (9.01, "9010m"),
            (8100.0, "8100"),
            (7_123_456.0, "7123456"),
            (100_035.0, "100035"),
            (1e-9, "1n"),
            (1.2e3, "1200"),
            (1.3e6, "1300k"),
            (1.4e9, "1400M"),
            (2.5e15, "2500T"),
            (12e18, "12E"),
        ];
        for &(v, want) in table {
            assert_eq!(Quantity::from_f64(v).unwrap().to_string(), want, "{v}");
        }
    }

    #[test]
    fn floats_round_to_nanos_half_away_from_zero() {
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.5, "1500m"),
            (15.0, "15"),
            (2000.0, "2k"),
            (1500.0, "1500"),
            (0.1 + 0.2, "300m"),
            (1.0 / 6.0, "166666667n"),
            (2.0 / 3.0, "666666667n"),
            (-1.0 / 6.0, "-166666667n"),
            (1e-10, "0"),
            (4.9e-10, "0"),
            (5e-10, "1n"),
            (0.9999999995, "1"),
            (999.9999999996, "1k"),
            (123.456, "123456m"),
            (0.7, "700m"),
            (1e21, "1e21"),
            (1.5e300, "1500e297"),
            (f64::MAX, "179769313486231570e291"),
            (f64::MIN_POSITIVE, "0"),
        ];
        for &(v, want) in table {
            assert_eq!(Quantity::from_f64(v).unwrap().to_string(), want, "{v:e}");
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(Quantity::from_f64(v), None);
        }
        assert_eq!(
            serde_json::to_string(&Quantity::from_f64(1.5).unwrap()).unwrap(),
            "\"1500m\""
        );
    }
}
