//! Traefik's own application log (`log:` section; not the access log), in
//! each shape Traefik has written it:
//!
//! - v3 `common` (the default): zerolog's `ConsoleWriter` with
//!   `TimeFormat: time.RFC3339` (traefik cmd/traefik/logger.go), coloured with
//!   ANSI SGR codes unless `log.noColor` or `log.filePath` is set. Time, a
//!   three-letter level (`TRC DBG INF WRN ERR FTL PNC`), at debug level the
//!   caller and `>`, the message, then the fields sorted with `error` first
//!   (rs/zerolog console.go):
//!   `2025-12-07T09:59:49Z ERR Provider error, retrying in 498.570486ms error="unexpected EOF" providerName=docker`.
//! - v3 `json`: zerolog's object, `{"level":"error","error":"…","time":"…","message":"…"}`.
//! - v1/v2 `common`: logrus' `TextFormatter{FullTimestamp: true}`; without a
//!   terminal `time="…" level=error msg="…" providerName=docker`, on one
//!   `ERRO[2023-05-20T08:32:39+02:00] message   providerName=docker`.
//! - v1/v2 `json`: logrus' object, `{"level":"error","msg":"…","time":"…"}`.
//!
//! `routerName` and `serviceName` become the record's router and service;
//! every other field stays in [`Record::attrs`] as written (the `key=value`
//! tail with any colour codes, or the whole JSON object).

use memchr::{memchr, memchr2, memmem, memrchr};

use crate::field::{Field, ParseError};
use crate::json::{self, Value};
use crate::parse::trim_eol;
use crate::record::{Level, LogFormat, Record};
use crate::time;

const ESC: u8 = 0x1b;
/// How many `=` a console line's message may hold before its fields are
/// no longer looked for (bounds the work on a hostile line).
const MAX_FIELD_STARTS: usize = 32;

/// Parses one line of Traefik's application log, in any of the shapes in
/// the module docs.
///
/// The message is the text as written: a logrus `msg="…"` keeps its Go
/// escapes (and sets [`Record::json_escaped`] when it has any); the JSON
/// forms are raw JSON string contents, so `json_escaped` is always set. A
/// logrus terminal line stamped with seconds since start (`INFO[0000]`) has
/// no time.
///
/// # Errors
/// [`ParseError::Empty`] for a blank line; [`ParseError::Format`] for a line
/// of another shape (including a JSON object without `level` and `time`, or
/// with access-log keys); [`ParseError::BadField`] for a timestamp laid out
/// as RFC 3339 that is not a real time, or a logrus level word that is not
/// one; the JSON scanner's errors for a broken object.
///
/// # Performance
/// No allocation. A console line's fields are found by trying each `=` of
/// the message (at most 32) as the first field's.
pub fn parse(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let s = trim_eol(line);
    let first = sgr(s, 0);
    match s.get(first) {
        Some(b'{') if first == 0 => json_line(s),
        Some(b't') if first == 0 && s.starts_with(b"time=\"") => logrus_text(s),
        Some(b'0'..=b'9') => console(s, first),
        Some(b'A'..=b'Z') => logrus_tty(s, first),
        _ if s.iter().all(u8::is_ascii_whitespace) => Err(ParseError::Empty),
        _ => Err(ParseError::Format),
    }
}

fn record(ts_ns: Option<i64>, level: Level, level_raw: &[u8]) -> Record<'_> {
    Record {
        source: LogFormat::TraefikApp,
        ts_ns,
        level,
        level_raw,
        ..Record::default()
    }
}

/// zerolog `ConsoleWriter`: `TIME LVL [caller >] [message] [fields]`.
fn console(s: &[u8], t0: usize) -> Result<Record<'_>, ParseError> {
    let t1 = token_end(s, t0);
    let stamp = s.get(t0..t1).unwrap_or_default();
    if !looks_rfc3339(stamp) {
        return Err(ParseError::Format);
    }
    let ts = time::parse_rfc3339(stamp).ok_or_else(|| ParseError::bad(Field::Time, t0))?;
    let p = sgr(s, t1);
    if s.get(p) != Some(&b' ') {
        return Err(ParseError::Format);
    }
    let l0 = sgr(s, p + 1);
    let l1 = token_end(s, l0);
    let word = s.get(l0..l1).unwrap_or_default();
    let level = console_level(word).ok_or(ParseError::Format)?;
    let mut rec = record(Some(ts), level, word);
    let mut p = sgr(s, l1);
    match s.get(p) {
        None => return Ok(rec),
        Some(b' ') => p += 1,
        Some(_) => return Err(ParseError::bad(Field::Level, l1)),
    }
    p = skip_caller(s, p);
    let colored = t0 > 0;
    let (message, fields) = if colored {
        split_colored(s, p)
    } else {
        split_plain(s, p)
    };
    rec.message = message;
    if let Some(f) = fields {
        read_fields(&mut rec, s, f);
    }
    Ok(rec)
}

/// zerolog's `FormattedLevels` (and `???` for an event without a level).
fn console_level(word: &[u8]) -> Option<Level> {
    Some(match word {
        b"TRC" => Level::Trace,
        b"DBG" => Level::Debug,
        b"INF" => Level::Info,
        b"WRN" => Level::Warning,
        b"ERR" => Level::Error,
        b"FTL" | b"PNC" => Level::Fatal,
        b"???" => Level::None,
        _ => return None,
    })
}

/// Skips a caller (`pkg/server/server.go:12 >`, shown at debug level)
/// starting at `p`; returns where the message starts.
fn skip_caller(s: &[u8], p: usize) -> usize {
    let c0 = sgr(s, p);
    let c1 = token_end(s, c0);
    let tok = s.get(c0..c1).unwrap_or_default();
    let is_caller = memrchr(b':', tok).is_some_and(|i| {
        let line = tok.get(i + 1..).unwrap_or_default();
        tok.get(..i).unwrap_or_default().ends_with(b".go")
            && !line.is_empty()
            && line.iter().all(u8::is_ascii_digit)
    });
    if !is_caller {
        return p;
    }
    let q = sgr(s, c1);
    if s.get(q..q + 2) != Some(b" >") {
        return p;
    }
    let q = sgr(s, q + 2);
    match s.get(q) {
        None => q,
        Some(b' ') => q + 1,
        Some(_) => p,
    }
}

/// Message and fields of a coloured line: a field opens with a cyan key
/// (`ESC[36m`), an emphasised message is wrapped in `ESC[1m` … `ESC[0m`, a
/// plain one runs to the first field.
fn split_colored(s: &[u8], p: usize) -> (&[u8], Option<usize>) {
    let rest = s.get(p..).unwrap_or_default();
    if rest.starts_with(b"\x1b[36m") {
        return (b"", Some(p));
    }
    if let Some(body) = rest.strip_prefix(b"\x1b[1m") {
        let m0 = p + 4;
        let (msg, after) = match memmem::find(body, b"\x1b[0m") {
            Some(i) => (body.get(..i).unwrap_or_default(), m0 + i + 4),
            None => (body, s.len()),
        };
        let fields = (s.get(after) == Some(&b' ')).then_some(after + 1);
        return (msg, fields.filter(|&f| f < s.len()));
    }
    split_at_escape(s, p)
}

/// Message up to the first coloured field (` ESC[`), padding trimmed.
fn split_at_escape(s: &[u8], p: usize) -> (&[u8], Option<usize>) {
    let rest = s.get(p..).unwrap_or_default();
    match memmem::find(rest, b" \x1b[") {
        Some(i) => (trim_end(rest.get(..i).unwrap_or_default()), Some(p + i + 1)),
        None => (trim_end(rest), None),
    }
}

/// Message and fields of an uncoloured line: the fields start at the first
/// word `key=` from which the rest of the line reads as fields.
fn split_plain(s: &[u8], p: usize) -> (&[u8], Option<usize>) {
    let rest = s.get(p..).unwrap_or_default();
    match find_fields(s, p) {
        Some(f) => (trim_end(s.get(p..f).unwrap_or_default()), Some(f)),
        None => (trim_end(rest), None),
    }
}

fn find_fields(s: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    for _ in 0..MAX_FIELD_STARTS {
        let eq = at + memchr(b'=', s.get(at..)?)?;
        let head = s.get(from..eq).unwrap_or_default();
        let mut k0 = memrchr(b' ', head).map_or(from, |i| from + i + 1);
        // Traefik's one key with a space, `ACME CA`: an upper-case word
        // before an upper-case key belongs to it.
        if k0 > from && is_upper(s.get(k0..eq).unwrap_or_default()) {
            let before = s.get(from..k0 - 1).unwrap_or_default();
            let w0 = memrchr(b' ', before).map_or(from, |i| from + i + 1);
            if is_upper(s.get(w0..k0 - 1).unwrap_or_default()) {
                k0 = w0;
            }
        }
        if k0 < eq && fields_ok(s, k0) {
            return Some(k0);
        }
        at = eq + 1;
    }
    None
}

fn is_upper(w: &[u8]) -> bool {
    !w.is_empty()
        && w.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Whether `s[pos..]` is a whole fields tail.
fn fields_ok(s: &[u8], mut pos: usize) -> bool {
    while pos < s.len() {
        match field_at(s, pos) {
            Some((_, next)) => pos = next,
            None => return false,
        }
    }
    true
}

/// Takes `routerName` and `serviceName` from the fields tail at `from` and
/// keeps the tail as the record's attributes. A tail that stops reading as
/// fields part-way is still kept whole.
fn read_fields<'b>(rec: &mut Record<'b>, s: &'b [u8], from: usize) {
    rec.attrs = trim_end(s.get(from..).unwrap_or_default());
    let mut pos = from;
    while pos < s.len() {
        let Some((f, next)) = field_at(s, pos) else {
            break;
        };
        match f.key {
            b"routerName" if rec.router.is_empty() => rec.router = f.value,
            b"serviceName" if rec.service.is_empty() => rec.service = f.value,
            _ => {}
        }
        pos = next;
    }
}

struct KeyValue<'b> {
    key: &'b [u8],
    value: &'b [u8],
    quoted: bool,
}

/// Reads `key=value` at `pos`, colour codes allowed around key and value;
/// returns it and where the next field starts (`s.len()` after the last).
/// A value is Go-quoted (`"a \"b\""`), a JSON object or array (zerolog
/// writes non-string values so), or a bare word.
fn field_at(s: &[u8], pos: usize) -> Option<(KeyValue<'_>, usize)> {
    let k0 = sgr(s, pos);
    let eq = k0 + memchr(b'=', s.get(k0..)?)?;
    // logrus colours the key alone (`ESC[36mkey ESC[0m=`).
    let k1 = match memchr(ESC, s.get(k0..eq)?) {
        Some(i) if sgr(s, k0 + i) == eq => k0 + i,
        Some(_) => return None,
        None => eq,
    };
    let key = s.get(k0..k1)?;
    if !key_ok(key) {
        return None;
    }
    let v0 = sgr(s, eq + 1);
    // Neither logrus nor zerolog leaves a value with a quote unquoted.
    let bare = || {
        let e = token_end(s, v0);
        let v = s.get(v0..e).unwrap_or_default();
        (memchr(b'"', v).is_none()).then_some((v, false, e))
    };
    let (value, quoted, v1) = match s.get(v0) {
        Some(b'"') => {
            let close = closing_quote(s, v0 + 1)?;
            (s.get(v0 + 1..close)?, true, close + 1)
        }
        Some(b'{' | b'[') => match balanced(s, v0) {
            Some(e) if matches!(s.get(e), None | Some(&b' ' | &ESC)) => (s.get(v0..e)?, false, e),
            _ => bare()?,
        },
        _ => bare()?,
    };
    let mut next = sgr(s, v1);
    match s.get(next) {
        None => {}
        Some(b' ') => {
            next += 1;
            if s.get(next..)?.iter().all(|&c| c == b' ') {
                next = s.len();
            }
        }
        Some(_) => return None,
    }
    Some((KeyValue { key, value, quoted }, next))
}

/// A field name: no quote, `=`, control byte or space, except Traefik's
/// upper-case `ACME CA`.
fn key_ok(key: &[u8]) -> bool {
    let plain = |c: &u8| *c > b' ' && *c != b'"' && *c != b'=' && *c != 0x7f;
    match key {
        [] | [b' ', ..] => false,
        _ if key.iter().all(plain) => true,
        _ => key
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b' '),
    }
}

/// Index of the `"` closing a Go- or JSON-quoted string whose contents
/// start at `from`.
fn closing_quote(s: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let j = i + memchr2(b'"', b'\\', s.get(i..)?)?;
        if s.get(j) == Some(&b'"') {
            return Some(j);
        }
        i = j + 2;
    }
}

/// Index just after the JSON object or array opening at `from`.
fn balanced(s: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while let Some(&c) = s.get(i) {
        match c {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' => i = closing_quote(s, i + 1)?,
            _ => {}
        }
        i += 1;
    }
    None
}

/// logrus without a terminal: `time="…" level=… [msg=…] [fields]`.
fn logrus_text(s: &[u8]) -> Result<Record<'_>, ParseError> {
    let t0 = b"time=\"".len();
    let t1 = t0
        + memchr(b'"', s.get(t0..).unwrap_or_default())
            .ok_or(ParseError::Truncated { field: Field::Time })?;
    let stamp = s.get(t0..t1).unwrap_or_default();
    let ts = time::parse_rfc3339(stamp).ok_or_else(|| ParseError::bad(Field::Time, t0))?;
    let p = t1 + 1;
    if s.get(p..p + 7) != Some(b" level=") {
        return Err(if p + 7 > s.len() {
            ParseError::Truncated {
                field: Field::Level,
            }
        } else {
            ParseError::bad(Field::Level, p)
        });
    }
    let l0 = p + 7;
    let l1 = token_end(s, l0);
    let word = s.get(l0..l1).unwrap_or_default();
    let level = Level::from_word(word).ok_or_else(|| ParseError::bad(Field::Level, l0))?;
    let mut rec = record(Some(ts), level, word);
    let mut p = l1;
    if s.get(p..p + 5) == Some(b" msg=") {
        let (f, next) = field_at(s, p + 1).ok_or_else(|| ParseError::bad(Field::Message, p + 5))?;
        rec.message = f.value;
        rec.json_escaped = f.quoted && memchr(b'\\', f.value).is_some();
        p = next;
    } else if s.get(p) == Some(&b' ') {
        p += 1;
    }
    if p < s.len() {
        read_fields(&mut rec, s, p);
    }
    Ok(rec)
}

/// logrus on a terminal: `LEVL[time] message   fields`, the level in
/// colour, the message padded to 44 columns, the time either RFC 3339 or
/// seconds since start (`[0000]`, before the configuration is read).
fn logrus_tty(s: &[u8], l0: usize) -> Result<Record<'_>, ParseError> {
    let word = s.get(l0..l0 + 4).ok_or(ParseError::Format)?;
    let level = match word {
        b"TRAC" => Level::Trace,
        b"DEBU" => Level::Debug,
        b"INFO" => Level::Info,
        b"WARN" => Level::Warning,
        b"ERRO" => Level::Error,
        b"FATA" | b"PANI" => Level::Fatal,
        _ => return Err(ParseError::Format),
    };
    let b0 = sgr(s, l0 + 4);
    if s.get(b0) != Some(&b'[') {
        return Err(ParseError::Format);
    }
    let t0 = b0 + 1;
    let t1 = t0
        + memchr(b']', s.get(t0..).unwrap_or_default())
            .filter(|&i| i <= 40)
            .ok_or(ParseError::Format)?;
    let stamp = s.get(t0..t1).unwrap_or_default();
    let ts = if stamp.iter().all(u8::is_ascii_digit) && !stamp.is_empty() {
        None
    } else if looks_rfc3339(stamp) {
        Some(time::parse_rfc3339(stamp).ok_or_else(|| ParseError::bad(Field::Time, t0))?)
    } else {
        return Err(ParseError::Format);
    };
    let mut rec = record(ts, level, word);
    let p = t1 + 1;
    match s.get(p) {
        None => return Ok(rec),
        Some(b' ') => {}
        Some(_) => return Err(ParseError::bad(Field::Message, p)),
    }
    let (message, fields) = if l0 > 0 {
        split_at_escape(s, p + 1)
    } else {
        split_plain(s, p + 1)
    };
    rec.message = message;
    if let Some(f) = fields {
        read_fields(&mut rec, s, f);
    }
    Ok(rec)
}

/// Keys only Traefik's access log has: its JSON lines are not app lines.
fn is_access_key(key: &[u8]) -> bool {
    matches!(
        key,
        b"ClientHost"
            | b"ClientAddr"
            | b"RequestMethod"
            | b"RequestPath"
            | b"DownstreamStatus"
            | b"OriginStatus"
            | b"StartUTC"
    )
}

/// logrus or zerolog JSON: needs `level` and `time`; `msg` (logrus) or
/// `message` (zerolog) is the message.
fn json_line(s: &[u8]) -> Result<Record<'_>, ParseError> {
    let mut rec = record(None, Level::None, b"");
    rec.json_escaped = true;
    rec.attrs = trim_end(s);
    let mut level = None;
    let mut stamp = None;
    let mut access = false;
    json::for_each_member(s, |key, value| {
        let Value::Str { raw, .. } = value else {
            access |= is_access_key(key);
            return;
        };
        match key {
            b"level" => level = Some(raw),
            b"time" => stamp = Some(raw),
            b"msg" | b"message" if rec.message.is_empty() => rec.message = raw,
            b"routerName" if rec.router.is_empty() => rec.router = raw,
            b"serviceName" if rec.service.is_empty() => rec.service = raw,
            _ => access |= is_access_key(key),
        }
    })?;
    let (Some(level), Some(stamp), false) = (level, stamp, access) else {
        return Err(ParseError::Format);
    };
    rec.level_raw = level;
    rec.level = Level::from_word(level).unwrap_or_default();
    let at = (stamp.as_ptr() as usize).wrapping_sub(s.as_ptr() as usize);
    rec.ts_ns = Some(time::parse_rfc3339(stamp).ok_or_else(|| ParseError::bad(Field::Time, at))?);
    Ok(rec)
}

/// Index after any ANSI SGR sequences (`ESC [ 0-9;… m`) starting at `pos`.
fn sgr(s: &[u8], mut pos: usize) -> usize {
    while s.get(pos) == Some(&ESC) && s.get(pos + 1) == Some(&b'[') {
        let body = s.get(pos + 2..).unwrap_or_default();
        let n = body
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b';')
            .count();
        if body.get(n) != Some(&b'm') {
            break;
        }
        pos += 2 + n + 1;
    }
    pos
}

/// End of the word at `from`: the next space or escape, else the line end.
fn token_end(s: &[u8], from: usize) -> usize {
    s.get(from..)
        .and_then(|r| r.iter().position(|&c| c == b' ' || c == ESC))
        .map_or(s.len(), |i| from + i)
}

fn trim_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// `yyyy-mm-ddT…`, whatever the values.
fn looks_rfc3339(t: &[u8]) -> bool {
    t.len() >= 19
        && t.get(4) == Some(&b'-')
        && t.get(7) == Some(&b'-')
        && t.get(10) == Some(&b'T')
        && t.iter().take(4).all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests;

/// Whether a line carries something only Traefik writes: its field names
/// (`providerName`, `entryPointName`, `routerName`, `serviceName`,
/// `middlewareName`, `middlewareType`) or its name (`Traefik version`,
/// `traefik`). Format detection needs one, since any Go program's logrus or
/// zerolog lines parse here too.
pub fn is_traefik(line: &[u8]) -> bool {
    const MARKS: [&[u8]; 8] = [
        b"providerName",
        b"entryPointName",
        b"routerName",
        b"serviceName",
        b"middlewareName",
        b"middlewareType",
        b"Traefik",
        b"traefik",
    ];
    MARKS
        .iter()
        .any(|m| memchr::memmem::find(line, m).is_some())
}
