//! Durations as SLO specs and alert tables write them: `5m`, `1h`, `30d`,
//! Prometheus's units (`s`, `m`, `h`, `d`, `w`), one unit per value.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole number of seconds, written `30d`, `6h`, `5m` or `90s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub u64);

impl Span {
    /// Seconds.
    pub fn secs(self) -> u64 {
        self.0
    }

    /// Parses `<n><unit>`; `None` for anything else (0 included).
    pub fn parse(s: &str) -> Option<Span> {
        let s = s.trim();
        let unit = s.chars().last()?;
        let mult = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let n: u64 = s[..s.len() - 1].parse().ok()?;
        if n == 0 {
            return None;
        }
        n.checked_mul(mult).map(Span)
    }
}

impl fmt::Display for Span {
    /// The largest unit that divides it: `30d`, `6h`, `5m`, `90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if s >= n && s.is_multiple_of(n) {
                return write!(f, "{}{unit}", s / n);
            }
        }
        write!(f, "{s}s")
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a duration: write a whole number and one unit, s, m, h, d or w (`5m`, `30d`)"
            ))
        })
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        for (s, secs) in [
            ("5m", 300),
            ("30m", 1800),
            ("1h", 3600),
            ("1d", 86_400),
            ("28d", 28 * 86_400),
            ("90s", 90),
            ("2w", 14 * 86_400),
        ] {
            assert_eq!(Span::parse(s), Some(Span(secs)), "{s}");
        }
        assert_eq!(Span(90).to_string(), "90s");
        assert_eq!(Span(7200).to_string(), "2h");
        assert_eq!(Span(30 * 86_400).to_string(), "30d");
        for bad in [
            "",
            "m",
            "5",
            "0m",
            "-5m",
            "1.5h",
            "5 m",
            "5y",
            "99999999999999999999d",
        ] {
            assert_eq!(Span::parse(bad), None, "{bad}");
        }
    }
}
