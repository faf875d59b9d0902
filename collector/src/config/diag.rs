//! serde-saphyr's and serde's errors in our words: what was found, and
//! what is allowed there. Library wording (Rust type names, `<input>`,
//! option names such as `DuplicateKeyPolicy`) does not reach the user.

use std::borrow::Cow;

use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};

/// The message of a serde-saphyr error, without its position.
pub fn saphyr_message(err: &Error) -> String {
    let err = err.without_snippet();
    match err {
        Error::SerdeUnknownField {
            field, expected, ..
        } => unknown_key(field, expected),
        Error::SerdeUnknownVariant {
            variant, expected, ..
        } => not_one_of(variant, expected),
        Error::SerdeMissingField { field, .. } => missing(field),
        Error::InvalidScalar { ty, .. } => format!("expected {}", human_type(ty)),
        Error::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => format!(
            "expected {}, found {}",
            human_type(expected),
            human_found(unexpected)
        ),
        Error::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => format!(
            "{} is not allowed: expected {}",
            human_found(unexpected),
            human_type(expected)
        ),
        Error::SerdeInvalidLength { len, expected, .. } => {
            format!("expected {}, found {len} items", human_type(expected))
        }
        Error::NullIntoString { .. } => {
            "expected text, found nothing (quote it, or remove the key for its default)".into()
        }
        Error::Unexpected { expected, .. } if *expected == "mapping start" => {
            "expected a section of `key: value` entries (an empty section is `{}`, or leave the key out)".into()
        }
        Error::Unexpected { expected, .. } => format!("expected {}", human_type(expected)),
        Error::DuplicateMappingKey { key, .. } => match key {
            Some(k) => format!("`{k}` is set twice here; a key may appear once per section"),
            None => "a key is set twice here; a key may appear once per section".into(),
        },
        Error::MultipleDocuments { .. } => {
            "a second YAML document (`---`): the config file holds exactly one".into()
        }
        Error::Eof { .. } => "the file ends in the middle of a value".into(),
        Error::InvalidUtf8Input => "the file is not UTF-8 text".into(),
        Error::Message { msg, .. } => scrub(msg),
        other => scrub(&UserMessageFormatter.format_message(other)),
    }
}

/// The message of a serde error met while reading the config from an
/// already parsed value (serde_json's wording, which is serde's own).
pub fn serde_message(msg: &str) -> String {
    let ticked =
        |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let expected = ticked(tail);
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        return unknown_key(field, &expected);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `")
        && let Some((v, tail)) = rest.split_once('`')
    {
        let expected = ticked(tail);
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        return not_one_of(v, &expected);
    }
    if let Some(rest) = msg.strip_prefix("missing field `")
        && let Some((f, _)) = rest.split_once('`')
    {
        return missing(f);
    }
    for (prefix, template) in [("invalid type: ", 0), ("invalid value: ", 1)] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((found, expected)) = rest.rsplit_once(", expected ")
        {
            let (found, expected) = (human_found(found), human_type(expected));
            return if template == 0 {
                format!("expected {expected}, found {found}")
            } else {
                format!("{found} is not allowed: expected {expected}")
            };
        }
    }
    scrub(msg)
}

fn unknown_key(field: &str, expected: &[&str]) -> String {
    let mut s = format!("unknown key `{field}`");
    if let Some(near) = closest(field, expected) {
        s.push_str(&format!(" (did you mean `{near}`?)"));
    }
    if expected.is_empty() {
        s.push_str("; this section takes no keys");
    } else {
        s.push_str(&format!("; allowed here: {}", expected.join(", ")));
    }
    s
}

fn not_one_of(value: &str, expected: &[&str]) -> String {
    let mut s = format!(
        "`{value}` is not allowed here; one of: {}",
        expected.join(", ")
    );
    if let Some(near) = closest(value, expected) {
        s.push_str(&format!(" (did you mean `{near}`?)"));
    }
    s
}

fn missing(field: &str) -> String {
    format!("the required key `{field}` is missing")
}

/// What a value was, in serde's words (`string "lots"`, `integer -1`),
/// made plainer.
fn human_found(found: &str) -> Cow<'_, str> {
    match found {
        "unit value" | "null" => "nothing (null)".into(),
        "sequence" => "a list".into(),
        "map" => "a section of keys".into(),
        other => other
            .replace("integer `", "`")
            .replace("string \"", "\"")
            .into(),
    }
}

/// What was expected, in serde's words (a Rust type name, `struct
/// ParseConfig`, `a sequence`), in ours.
pub fn human_type(expected: &str) -> Cow<'_, str> {
    let int = |max: u128| -> Cow<'_, str> { format!("a whole number from 0 to {max}").into() };
    match expected.trim() {
        "u8" => int(u8::MAX.into()),
        "u16" => int(u16::MAX.into()),
        "u32" => int(u32::MAX.into()),
        "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "i128" => "a whole number".into(),
        "f32" | "f64" | "a number" => "a number".into(),
        "bool" | "a boolean" => "true or false".into(),
        "char" => "a single character".into(),
        "a string" | "string" | "str" => "text".into(),
        "a sequence" | "sequence" | "sequence start" => {
            "a list (`[a, b]`, or one `- item` per line)".into()
        }
        "mapping start" | "a map" | "map" => "a section of `key: value` entries".into(),
        e if e.starts_with("struct ") => "a section of `key: value` entries".into(),
        e if e.starts_with("enum ") || e.starts_with("variant identifier") => {
            "one of the names listed for this key".into()
        }
        e => scrub(e).into(),
    }
}

/// Removes what only makes sense to a Rust programmer from a library
/// message, and any control characters.
fn scrub(msg: &str) -> String {
    let mut s: String = msg
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    for (from, to) in [
        ("<input>", "the config"),
        (", set DuplicateKeyPolicy in Options if acceptable", ""),
        ("; use Option<String>", ""),
        (
            "; use from_str_multiple or from_str_multiple_with_options",
            "",
        ),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// The allowed name closest to `word`, when it is a likely typo.
fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (distance(word, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4) && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Levenshtein distance, for short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Messages of serde's own `Error` constructors, as serde_json prints
    // them (serde/src/de/mod.rs: `unknown_field`, `invalid_type`,
    // `missing_field`, `unknown_variant`).
    #[test]
    fn serde_wording_becomes_ours() {
        assert_eq!(
            serde_message("unknown field `max_site`, expected one of `max_sites`, `auto_create`"),
            "unknown key `max_site` (did you mean `max_sites`?); allowed here: max_sites, auto_create"
        );
        assert_eq!(
            serde_message("invalid type: string \"lots\", expected u32"),
            "expected a whole number from 0 to 4294967295, found \"lots\""
        );
        assert_eq!(
            serde_message("missing field `include`"),
            "the required key `include` is missing"
        );
        assert_eq!(
            serde_message("unknown variant `begining`, expected `beginning` or `end`"),
            "`begining` is not allowed here; one of: beginning, end (did you mean `beginning`?)"
        );
    }

    #[test]
    fn saphyr_errors_in_our_words() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            n: u32,
            s: Option<String>,
        }
        let msg = |t: &str| saphyr_message(&serde_saphyr::from_str::<S>(t).unwrap_err());
        assert_eq!(
            msg("n: lots\n"),
            "expected a whole number from 0 to 4294967295"
        );
        assert_eq!(msg("m: 1\n"), "unknown key `m`; allowed here: n, s");
        assert_eq!(msg("s: x\n"), "the required key `n` is missing");
        let dup = msg("n: 1\nn: 2\n");
        assert_eq!(
            dup,
            "`n` is set twice here; a key may appear once per section"
        );
        assert!(!msg("n: [\n").contains("<input>"));
    }
}
