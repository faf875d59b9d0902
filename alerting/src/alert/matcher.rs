//! Label matchers as Alertmanager writes them (`site="shop"`,
//! `severity!="ticket"`, `site=~"shop-.*"`, `slo!~"lat.*"`): in silences,
//! inhibition rules and routes. Regexes are anchored at both ends, as in
//! Alertmanager (`pkg/labels/matcher.go`), and a missing label reads as
//! the empty string.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchType {
    /// `=`
    #[serde(rename = "=")]
    Equal,
    /// `!=`
    #[serde(rename = "!=")]
    NotEqual,
    /// `=~`
    #[serde(rename = "=~")]
    Regex,
    /// `!~`
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchType {
    fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

/// One matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label.
    pub name: String,
    /// How it compares.
    pub op: MatchType,
    /// The value or pattern.
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

/// A matcher that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matcher `{text}`: {reason}")]
pub struct MatcherError {
    /// What was written.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl Matcher {
    /// A matcher; regexes are compiled (anchored) here.
    ///
    /// # Errors
    /// An empty or invalid label name, or a regex that does not compile.
    pub fn new(name: &str, op: MatchType, value: &str) -> Result<Matcher, MatcherError> {
        let err = |reason: String| MatcherError {
            text: format!("{name}{}{value:?}", op.as_str()),
            reason,
        };
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || name.as_bytes()[0].is_ascii_digit()
        {
            return Err(err(
                "a label name is letters, digits and `_`, not starting with a digit".into(),
            ));
        }
        let re = match op {
            MatchType::Regex | MatchType::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| err(format!("invalid regex: {e}")))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            re,
        })
    }

    /// Parses `name="value"` with `=`, `!=`, `=~` or `!~` (the quotes are
    /// optional when the value has no space, comma or quote).
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let t = text.trim();
        let err = |reason: &str| MatcherError {
            text: t.to_owned(),
            reason: reason.to_owned(),
        };
        let at = t
            .find(['=', '!'])
            .ok_or_else(|| err("write name=\"value\", with =, !=, =~ or !~"))?;
        let name = t[..at].trim();
        let rest = &t[at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchType::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchType::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchType::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchType::Equal, v)
        } else {
            return Err(err("write name=\"value\", with =, !=, =~ or !~"));
        };
        let value = value.trim();
        let value = if value.starts_with('"') {
            serde_json::from_str::<String>(value).map_err(|_| {
                err("the quoted value does not end with a quote, or has a bad escape")
            })?
        } else {
            if value.contains(['"', ',', ' ', '=', '!', '~', '{', '}']) {
                return Err(err(
                    "quote a value with spaces, commas, quotes, `=`, `!`, `~` or braces",
                ));
            }
            value.to_owned()
        };
        Matcher::new(name, op, &value)
    }

    /// Whether `labels` match.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match self.op {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchType::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.op.as_str(),
            serde_json::to_string(&self.value).unwrap_or_default()
        )
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Matcher::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether every matcher matches.
pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::labels;

    #[test]
    fn parses_and_matches_as_alertmanager_does() {
        let l = labels(&[("site", "shop-a"), ("severity", "page")]);
        for (text, want) in [
            ("site=\"shop-a\"", true),
            ("site=shop-a", true),
            ("site!=\"shop-a\"", false),
            ("site=~\"shop-.*\"", true),
            // Anchored: a substring does not match.
            ("site=~\"shop\"", false),
            ("site!~\"blog.*\"", true),
            ("team=\"\"", true),
            ("team!=\"\"", false),
            ("severity=~\"page|ticket\"", true),
        ] {
            let m = Matcher::parse(text).unwrap();
            assert_eq!(m.matches(&l), want, "{text}");
            assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m, "{text}");
        }
        for bad in [
            "site",
            "=x",
            "1a=b",
            "site=~\"(\"",
            "site=\"unterminated",
            "site=a b",
            "si te=a",
            "site==shop",
        ] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }
}
