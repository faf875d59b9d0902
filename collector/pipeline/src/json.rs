//! A minimal, zero-allocation JSON object scanner for one-object-per-line
//! logs (Traefik's JSON access log, Docker's `json-file`), plus the string
//! helpers the rest of the product needs: unescaping a scanned string and
//! writing arbitrary bytes as a JSON string.
//!
//! The scanner walks only the top-level object. Strings are returned raw
//! (escapes intact) so that nothing is decoded unless a caller asks, and
//! nested objects and arrays are skipped and handed back as raw text.

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use crate::field::{Field, ParseError};

/// One member value of the top-level object, borrowed from the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'b> {
    /// A string: `raw` is the text between the quotes with escapes intact;
    /// `escaped` says it contains a backslash, so [`unescape`] is needed
    /// before treating it as text.
    Str { raw: &'b [u8], escaped: bool },
    /// A number, as written (`200`, `-1.5`, `1.234e+06`).
    Num(&'b [u8]),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// The raw text of an object or array value, brackets included.
    Nested(&'b [u8]),
}

const TRUNCATED: ParseError = ParseError::Truncated { field: Field::Json };

#[inline]
fn bad(at: usize) -> ParseError {
    ParseError::bad(Field::Json, at)
}

/// Calls `f(key, value)` for each member of the top-level object in `doc`,
/// in document order. `key` is the raw key contents (escapes intact).
///
/// Whitespace around the object and a trailing `\r` are tolerated. Strings
/// are not checked for valid UTF-8, raw control characters or valid escape
/// letters, and nested values are skipped by bracket depth (string-aware)
/// without checking that `{` pairs with `}`: this is a scanner for trusted
/// producers, not a validator. `f` may have been called for earlier members
/// when an error is returned.
///
/// # Errors
/// [`ParseError::Empty`] for a blank document; [`ParseError::Format`] when
/// it does not start with `{`; [`ParseError::Truncated`] (field
/// [`Field::Json`]) when it ends inside the object; and
/// [`ParseError::BadField`] with [`Field::Json`] and the byte offset of the
/// first malformed byte otherwise (including anything after the object).
///
/// # Performance
/// One pass; strings are crossed 8 bytes at a time, then with `memchr2`
/// for `"` and `\`, so the cost is dominated by the number of members, not
/// their length. No allocation.
pub fn for_each_member<'b>(
    doc: &'b [u8],
    mut f: impl FnMut(&'b [u8], Value<'b>),
) -> Result<(), ParseError> {
    let mut pos = skip_ws(doc, 0);
    match doc.get(pos) {
        None => return Err(ParseError::Empty),
        Some(b'{') => {}
        Some(_) => return Err(ParseError::Format),
    }
    pos = skip_ws(doc, pos + 1);
    if doc.get(pos) == Some(&b'}') {
        return finish(doc, pos + 1);
    }
    loop {
        // Compact documents (no whitespace) take the first arm of each
        // `match`; whitespace is skipped only when it is there.
        let (key_end, _) = match doc.get(pos) {
            Some(b'"') => scan_string(doc, pos + 1)?,
            _ => return Err(unexpected(doc, pos)),
        };
        let key = doc.get(pos + 1..key_end).ok_or(TRUNCATED)?;
        pos = key_end + 1;
        if doc.get(pos) != Some(&b':') {
            pos = skip_ws(doc, pos);
            if doc.get(pos) != Some(&b':') {
                return Err(unexpected(doc, pos));
            }
        }
        let (value, end) = scan_value(doc, pos + 1)?;
        f(key, value);
        pos = end;
        loop {
            match doc.get(pos) {
                Some(b',') => break,
                Some(b'}') => return finish(doc, pos + 1),
                Some(b' ' | b'\t' | b'\n' | b'\r') => pos = skip_ws(doc, pos),
                _ => return Err(unexpected(doc, pos)),
            }
        }
        pos += 1;
        if doc.get(pos) != Some(&b'"') {
            pos = skip_ws(doc, pos);
        }
    }
}

#[cold]
fn unexpected(doc: &[u8], pos: usize) -> ParseError {
    if pos >= doc.len() {
        TRUNCATED
    } else {
        bad(pos)
    }
}

fn finish(doc: &[u8], pos: usize) -> Result<(), ParseError> {
    let end = skip_ws(doc, pos);
    if end < doc.len() {
        return Err(bad(end));
    }
    Ok(())
}

#[inline]
fn skip_ws(doc: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = doc.get(pos) {
        pos += 1;
    }
    pos
}

/// Scans a string whose opening quote is just before `pos`; returns the
/// index of the closing quote and whether a backslash was seen.
#[inline]
fn scan_string(doc: &[u8], mut pos: usize) -> Result<(usize, bool), ParseError> {
    let mut escaped = false;
    loop {
        let at = find_quote_or_backslash(doc, pos).ok_or(TRUNCATED)?;
        if doc.get(at) == Some(&b'"') {
            return Ok((at, escaped));
        }
        escaped = true;
        // Skip the backslash and the byte it escapes; a backslash that ends
        // the document leaves `pos` past the end, which finds nothing.
        pos = at + 2;
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Index of the first `"` or `\` at or after `pos`. Most strings in a log
/// line are a few bytes long, so the first 32 bytes are checked a word at a
/// time (SWAR) before `memchr2`'s setup would pay off.
#[inline]
fn find_quote_or_backslash(doc: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..4 {
        let Some(word) = doc.get(pos..).and_then(<[u8]>::first_chunk::<8>) else {
            break;
        };
        let w = u64::from_le_bytes(*word);
        let q = w ^ (LO * u64::from(b'"'));
        let b = w ^ (LO * u64::from(b'\\'));
        // A zero byte in `q` or `b` marks a match. The lowest flagged byte
        // is always a true match (false flags only follow a true one).
        let m = ((q.wrapping_sub(LO) & !q) | (b.wrapping_sub(LO) & !b)) & HI;
        if m != 0 {
            return Some(pos + (m.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    let rest = doc.get(pos..)?;
    memchr2(b'"', b'\\', rest).map(|i| pos + i)
}

/// Scans the value starting at `pos` (after optional whitespace); returns it
/// and the index just after it.
#[inline]
fn scan_value(doc: &[u8], mut pos: usize) -> Result<(Value<'_>, usize), ParseError> {
    let Some(mut c) = doc.get(pos).copied() else {
        return Err(TRUNCATED);
    };
    if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
        pos = skip_ws(doc, pos);
        c = *doc.get(pos).ok_or(TRUNCATED)?;
    }
    match c {
        b'"' => {
            let (end, escaped) = scan_string(doc, pos + 1)?;
            let raw = doc.get(pos + 1..end).ok_or(TRUNCATED)?;
            Ok((Value::Str { raw, escaped }, end + 1))
        }
        b'-' | b'0'..=b'9' => {
            let end = scan_number(doc, pos)?;
            let num = doc.get(pos..end).ok_or(TRUNCATED)?;
            Ok((Value::Num(num), end))
        }
        b't' => literal(doc, pos, b"true").map(|end| (Value::Bool(true), end)),
        b'f' => literal(doc, pos, b"false").map(|end| (Value::Bool(false), end)),
        b'n' => literal(doc, pos, b"null").map(|end| (Value::Null, end)),
        b'{' | b'[' => {
            let end = skip_nested(doc, pos)?;
            let raw = doc.get(pos..end).ok_or(TRUNCATED)?;
            Ok((Value::Nested(raw), end))
        }
        _ => Err(bad(pos)),
    }
}

fn literal(doc: &[u8], pos: usize, lit: &[u8]) -> Result<usize, ParseError> {
    let rest = doc.get(pos..).unwrap_or_default();
    if rest.starts_with(lit) {
        Ok(pos + lit.len())
    } else if lit.starts_with(rest) {
        Err(TRUNCATED)
    } else {
        Err(bad(pos))
    }
}

/// `-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?`, leading zeros tolerated.
fn scan_number(doc: &[u8], mut pos: usize) -> Result<usize, ParseError> {
    fn digits(doc: &[u8], mut pos: usize) -> Result<usize, ParseError> {
        let start = pos;
        while doc.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        if pos == start {
            return Err(if pos >= doc.len() {
                TRUNCATED
            } else {
                bad(pos)
            });
        }
        Ok(pos)
    }
    if doc.get(pos) == Some(&b'-') {
        pos += 1;
    }
    pos = digits(doc, pos)?;
    if doc.get(pos) == Some(&b'.') {
        pos = digits(doc, pos + 1)?;
    }
    if let Some(b'e' | b'E') = doc.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = doc.get(pos) {
            pos += 1;
        }
        pos = digits(doc, pos)?;
    }
    Ok(pos)
}

/// Skips an object or array starting at `pos` by bracket depth, crossing
/// strings; returns the index just after its closing bracket.
fn skip_nested(doc: &[u8], mut pos: usize) -> Result<usize, ParseError> {
    let mut depth = 0usize;
    loop {
        let Some(&c) = doc.get(pos) else {
            return Err(TRUNCATED);
        };
        match c {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(pos + 1);
                }
            }
            b'"' => pos = scan_string(doc, pos + 1)?.0,
            _ => {}
        }
        pos += 1;
    }
}

/// Appends the unescaped form of `raw` (the contents of a JSON string, as in
/// [`Value::Str`]) to `out`. Handles `\" \\ \/ \b \f \n \r \t` and `\uXXXX`,
/// joining surrogate pairs; a lone surrogate becomes U+FFFD. Bytes outside
/// escapes are copied as they are.
///
/// # Errors
/// [`ParseError::BadField`] with [`Field::Json`] and the offset in `raw` of
/// an unknown escape or bad hex digits, or [`ParseError::Truncated`] when
/// `raw` ends inside an escape. `out` holds the text before the error.
///
/// # Performance
/// Copies runs between backslashes found with `memchr`; allocates only when
/// `out` grows.
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ParseError> {
    unescape_impl(raw, out, false)
}

/// The unescaped form of `raw` (see [`unescape_into`]): borrowed when it
/// contains no backslash, otherwise owned, with U+FFFD in place of each
/// malformed escape.
///
/// # Performance
/// One `memchr` when there is nothing to unescape; otherwise one allocation.
pub fn unescape(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr(b'\\', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    // Lossy mode never fails.
    let _ = unescape_impl(raw, &mut out, true);
    Cow::Owned(out)
}

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

fn unescape_impl(raw: &[u8], out: &mut Vec<u8>, lossy: bool) -> Result<(), ParseError> {
    let mut pos = 0;
    while let Some(i) = raw.get(pos..).and_then(|rest| memchr(b'\\', rest)) {
        let at = pos + i;
        out.extend_from_slice(raw.get(pos..at).unwrap_or_default());
        let Some(&c) = raw.get(at + 1) else {
            return if lossy {
                out.extend_from_slice(REPLACEMENT);
                Ok(())
            } else {
                Err(TRUNCATED)
            };
        };
        pos = at + 2;
        let byte = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                match unicode_escape(raw, at) {
                    Ok((ch, next)) => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        pos = next;
                    }
                    Err(e) if !lossy => return Err(e),
                    Err(_) => out.extend_from_slice(REPLACEMENT),
                }
                continue;
            }
            _ if lossy => {
                out.extend_from_slice(REPLACEMENT);
                continue;
            }
            _ => return Err(bad(at)),
        };
        out.push(byte);
    }
    out.extend_from_slice(raw.get(pos..).unwrap_or_default());
    Ok(())
}

/// Decodes the `\uXXXX` escape at `at` (and a following low surrogate when
/// it is a high one); returns the character and the index after the escape.
fn unicode_escape(raw: &[u8], at: usize) -> Result<(char, usize), ParseError> {
    let hi = hex4(raw, at + 2)?;
    let after = at + 6;
    let code = match hi {
        0xD800..=0xDBFF => {
            let lo = match raw.get(after..after + 2) {
                Some(b"\\u") => hex4(raw, after + 2).ok(),
                _ => None,
            };
            match lo {
                Some(lo @ 0xDC00..=0xDFFF) => {
                    let c = 0x1_0000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return Ok((char::from_u32(c).unwrap_or('\u{FFFD}'), after + 6));
                }
                _ => 0xFFFD,
            }
        }
        0xDC00..=0xDFFF => 0xFFFD,
        c => c,
    };
    Ok((char::from_u32(code).unwrap_or('\u{FFFD}'), after))
}

fn hex4(raw: &[u8], pos: usize) -> Result<u32, ParseError> {
    let digits = raw.get(pos..pos + 4).ok_or(TRUNCATED)?;
    let mut v = 0u32;
    for (i, &c) in digits.iter().enumerate() {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(bad(pos + i)),
        };
        v = v << 4 | u32::from(d);
    }
    Ok(v)
}

/// Appends `bytes` to `out` as a quoted JSON string: invalid UTF-8 becomes
/// U+FFFD (one per maximal invalid sequence, as `String::from_utf8_lossy`
/// does), `"` and `\` are escaped, and so are control characters and DEL.
///
/// # Performance
/// Copies runs of plain bytes; one UTF-8 validation pass.
pub fn write_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        escape_valid(out, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(REPLACEMENT);
        }
    }
    out.push(b'"');
}

fn escape_valid(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(s.get(start..i).unwrap_or_default());
        start = i + 1;
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(s.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn members(doc: &[u8]) -> Result<Vec<(Vec<u8>, Value<'_>)>, ParseError> {
        let mut v = Vec::new();
        for_each_member(doc, |k, val| v.push((k.to_vec(), val)))?;
        Ok(v)
    }

    #[test]
    fn scans_traefik_shaped_object() {
        let doc = br#"  {"ClientHost":"10.42.0.1","Duration":1.234e+06,"RetryAttempts":0,"TLS":true,"x":null,"ServiceURL":{"Scheme":"http","Host":"a}b"},"arr":[1,[2,"]"]],"request_User-Agent":"a \"q\" \u00e9"}  "#;
        let m = members(doc).unwrap();
        let keys: Vec<&[u8]> = m.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(
            keys,
            [
                &b"ClientHost"[..],
                b"Duration",
                b"RetryAttempts",
                b"TLS",
                b"x",
                b"ServiceURL",
                b"arr",
                b"request_User-Agent"
            ]
        );
        assert_eq!(
            m[0].1,
            Value::Str {
                raw: b"10.42.0.1",
                escaped: false
            }
        );
        assert_eq!(m[1].1, Value::Num(b"1.234e+06"));
        assert_eq!(m[2].1, Value::Num(b"0"));
        assert_eq!(m[3].1, Value::Bool(true));
        assert_eq!(m[4].1, Value::Null);
        assert_eq!(m[5].1, Value::Nested(br#"{"Scheme":"http","Host":"a}b"}"#));
        assert_eq!(m[6].1, Value::Nested(br#"[1,[2,"]"]]"#));
        let Value::Str { raw, escaped } = m[7].1 else {
            panic!("not a string");
        };
        assert!(escaped);
        assert_eq!(&*unescape(raw), "a \"q\" é".as_bytes());
    }

    #[test]
    fn errors() {
        assert_eq!(for_each_member(b"", |_, _| {}), Err(ParseError::Empty));
        assert_eq!(for_each_member(b" \r", |_, _| {}), Err(ParseError::Empty));
        assert_eq!(for_each_member(b"[1]", |_, _| {}), Err(ParseError::Format));
        assert_eq!(
            for_each_member(b"hello", |_, _| {}),
            Err(ParseError::Format)
        );
        assert_eq!(for_each_member(b"{}\r", |_, _| {}), Ok(()));
        assert_eq!(for_each_member(b"{\"a\":1}\r", |_, _| {}), Ok(()));
        assert_eq!(for_each_member(b"{\"a\":1", |_, _| {}), Err(TRUNCATED));
        assert_eq!(for_each_member(b"{\"a\":\"x\\", |_, _| {}), Err(TRUNCATED));
        assert_eq!(for_each_member(b"{\"a\":tr", |_, _| {}), Err(TRUNCATED));
        assert_eq!(for_each_member(b"{\"a\":1.", |_, _| {}), Err(TRUNCATED));
        assert_eq!(for_each_member(b"{\"a\":1}x", |_, _| {}), Err(bad(7)));
        assert_eq!(for_each_member(b"{\"a\":1,}", |_, _| {}), Err(bad(7)));
        assert_eq!(for_each_member(b"{\"a\" 1}", |_, _| {}), Err(bad(5)));
        assert_eq!(for_each_member(b"{\"a\":tru}", |_, _| {}), Err(bad(5)));
        assert_eq!(for_each_member(b"{\"a\":1x}", |_, _| {}), Err(bad(6)));
        assert_eq!(for_each_member(b"{\"a\":1.e5}", |_, _| {}), Err(bad(7)));
        assert_eq!(for_each_member(b"{\"a\":+1}", |_, _| {}), Err(bad(5)));
        assert_eq!(for_each_member(b"{a:1}", |_, _| {}), Err(bad(1)));
        assert_eq!(for_each_member(b"{\"a\":[1,{]", |_, _| {}), Err(TRUNCATED));
    }

    #[test]
    fn unescapes() {
        let mut out = Vec::new();
        unescape_into(br#"a\"b\\c\/d\b\f\n\r\t"#, &mut out).unwrap();
        assert_eq!(out, b"a\"b\\c/d\x08\x0c\n\r\t");
        out.clear();
        unescape_into(br"\u00e9\u20AC\ud83d\ude00", &mut out).unwrap();
        assert_eq!(out, "é€😀".as_bytes());
        out.clear();
        unescape_into(br"x\ud83dy\ude00z\ud83d\u0041", &mut out).unwrap();
        assert_eq!(out, "x\u{FFFD}y\u{FFFD}z\u{FFFD}A".as_bytes());
        out.clear();
        assert_eq!(unescape_into(br"ab\q", &mut out), Err(bad(2)));
        assert_eq!(unescape_into(br"\u12", &mut out), Err(TRUNCATED));
        assert_eq!(unescape_into(br"\u12G4", &mut out), Err(bad(4)));
        assert_eq!(unescape_into(br"ab\", &mut out), Err(TRUNCATED));
        assert!(matches!(unescape(b"plain"), Cow::Borrowed(b"plain")));
        assert_eq!(&*unescape(br"a\qb\u12"), "a\u{FFFD}b\u{FFFD}12".as_bytes());
        assert_eq!(&*unescape(br"a\"), "a\u{FFFD}".as_bytes());
    }

    #[test]
    fn writes_strings() {
        let mut out = Vec::new();
        write_str(&mut out, b"a\"b\\c\n\x01\x7f\xff\xc3\xa9");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001\\u007f\u{FFFD}é\"".as_bytes());
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// serde_json is the oracle: every member it writes comes back with
        /// the same key and value.
        #[test]
        fn matches_serde_json(
            obj in prop::collection::btree_map(any::<String>(), json_value(), 0..6),
            pretty in any::<bool>(),
        ) {
            let obj: serde_json::Map<String, serde_json::Value> = obj.into_iter().collect();
            let doc = if pretty {
                serde_json::to_vec_pretty(&obj).unwrap()
            } else {
                serde_json::to_vec(&obj).unwrap()
            };
            let mut seen = Vec::new();
            for_each_member(&doc, |k, v| seen.push((k, v))).unwrap();
            prop_assert_eq!(seen.len(), obj.len());
            for ((k, v), (ek, ev)) in seen.into_iter().zip(obj.iter()) {
                prop_assert_eq!(&*unescape(k), ek.as_bytes());
                let got: serde_json::Value = match v {
                    Value::Str { raw, escaped } => {
                        prop_assert_eq!(escaped, raw.contains(&b'\\'));
                        let mut out = Vec::new();
                        unescape_into(raw, &mut out).unwrap();
                        serde_json::Value::String(String::from_utf8(out).unwrap())
                    }
                    Value::Num(n) | Value::Nested(n) => serde_json::from_slice(n).unwrap(),
                    Value::Bool(b) => serde_json::Value::Bool(b),
                    Value::Null => serde_json::Value::Null,
                };
                // serde_json's float parsing is not exact, so compare what
                // it reads back from both texts.
                let want: serde_json::Value =
                    serde_json::from_slice(&serde_json::to_vec(ev).unwrap()).unwrap();
                prop_assert_eq!(&got, &want);
            }
        }

        /// What `write_str` writes, serde_json reads back as the lossy text.
        #[test]
        fn write_str_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            write_str(&mut out, &bytes);
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            let back: String = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(&back, &lossy);
            let inner = &out[1..out.len() - 1];
            prop_assert_eq!(&*unescape(inner), lossy.as_bytes());
        }

        #[test]
        fn never_panics(doc in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = for_each_member(&doc, |_, _| {});
            let mut out = Vec::new();
            let _ = unescape_into(&doc, &mut out);
            let _ = unescape(&doc);
        }

        #[test]
        fn never_panics_on_mutated_objects(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut doc = br#"{"a":"x\"y","b":[1,{"c":"]"}],"d":-1.5e3,"e":true,"f":null}"#.to_vec();
            for (i, b) in flips {
                let i = i.index(doc.len());
                doc[i] = b;
            }
            let cut = cut.index(doc.len() + 1);
            let _ = for_each_member(&doc[..cut], |_, v| {
                if let Value::Str { raw, .. } = v {
                    let _ = unescape(raw);
                }
            });
        }
    }

    #[test]
    fn string_lengths_around_word_boundaries() {
        for n in 0..80 {
            for k in 0..=n {
                let mut text = "x".repeat(n);
                text.insert_str(k, "\\\"");
                let doc = format!("{{\"k\":\"{text}\",\"n\":{n}}}");
                let m = members(doc.as_bytes()).unwrap();
                assert_eq!(
                    m[0].1,
                    Value::Str {
                        raw: text.as_bytes(),
                        escaped: true
                    }
                );
                assert_eq!(m[1].1, Value::Num(n.to_string().as_bytes()));
            }
            let plain = "y".repeat(n);
            let doc = format!("{{\"k\":\"{plain}\"}}");
            let m = members(doc.as_bytes()).unwrap();
            assert_eq!(
                m[0].1,
                Value::Str {
                    raw: plain.as_bytes(),
                    escaped: false
                }
            );
        }
    }

    #[test]
    fn truncations_never_panic_and_fail() {
        let doc = br#"{"a":"x\"y","b":[1,{"c":"]"}],"d":-1.5e3,"e":true,"f":null}"#;
        for cut in 0..doc.len() {
            assert!(
                for_each_member(&doc[..cut], |_, _| {}).is_err(),
                "cut {cut}"
            );
        }
        assert!(for_each_member(doc, |_, _| {}).is_ok());
    }
}
