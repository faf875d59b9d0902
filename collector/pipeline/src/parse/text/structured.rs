//! JSON and logfmt lines of the `text` format: level, message and time
//! from the keys loggers use.
//!
//! Keys, from the loggers' documentation: level — `level` (zap, zerolog,
//! logrus, slog, pino/bunyan as a number), `lvl`, `severity` (Google Cloud,
//! `glog`-style JSON), `loglevel`, `log.level` (ECS), `levelname` (Python
//! json loggers), `@l` (Serilog compact); message — `msg`, `message`, `@m`,
//! `@mt`; time — `time`, `ts`, `timestamp`, `@timestamp`, `t`, `@t`,
//! `datetime`, `date`.

use crate::json::{self, Value};
use crate::record::{Level, Record};
use crate::time;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Level,
    Message,
    Time,
    Other,
}

#[inline]
fn key_kind(k: &[u8]) -> Key {
    match k {
        b"level" | b"lvl" | b"severity" | b"loglevel" | b"log.level" | b"levelname" | b"@l"
        | b"Level" | b"Severity" => Key::Level,
        b"msg" | b"message" | b"@m" | b"@mt" | b"Message" | b"MESSAGE" => Key::Message,
        b"time" | b"ts" | b"timestamp" | b"@timestamp" | b"t" | b"@t" | b"datetime" | b"date"
        | b"Time" | b"Timestamp" => Key::Time,
        _ => Key::Other,
    }
}

/// A JSON object line. `false` (and `rec` untouched) when it is not one.
pub(super) fn json<'b>(b: &'b [u8], rec: &mut Record<'b>) -> bool {
    let mut level: Option<(Level, &'b [u8])> = None;
    let mut msg: Option<(&'b [u8], bool)> = None;
    let mut ts: Option<i64> = None;
    let ok = json::for_each_member(b, |k, v| match (key_kind(k), v) {
        (Key::Level, Value::Str { raw, .. }) if level.is_none() => {
            level = Some((Level::from_word(raw).unwrap_or(Level::None), raw));
        }
        (Key::Level, Value::Num(raw)) if level.is_none() => {
            level = Some((numeric_level(raw), raw));
        }
        (Key::Message, Value::Str { raw, escaped }) if msg.is_none() => {
            msg = Some((raw, escaped));
        }
        (Key::Time, Value::Str { raw, .. }) if ts.is_none() => {
            ts = time::parse_rfc3339(raw).or_else(|| super::leading_time(raw).map(|t| t.0));
        }
        (Key::Time, Value::Num(raw)) if ts.is_none() => ts = epoch_number(raw),
        _ => {}
    });
    if ok.is_err() {
        return false;
    }
    if let Some((l, raw)) = level {
        rec.level = l;
        rec.level_raw = raw;
    }
    if let Some((m, escaped)) = msg {
        rec.message = m;
        rec.json_escaped = escaped;
    } else {
        rec.message = b;
    }
    rec.ts_ns = ts;
    rec.attrs = b;
    true
}

/// pino/bunyan numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50
/// error, 60 fatal; syslog numbers are not guessed.
fn numeric_level(raw: &[u8]) -> Level {
    match raw {
        b"10" => Level::Trace,
        b"20" => Level::Debug,
        b"30" => Level::Info,
        b"40" => Level::Warning,
        b"50" => Level::Error,
        b"60" => Level::Fatal,
        _ => Level::None,
    }
}

/// An epoch time as a JSON number: seconds with a fraction (zap's
/// `1700000000.123456`), or integer seconds, milliseconds, microseconds or
/// nanoseconds told apart by their digit count.
fn epoch_number(raw: &[u8]) -> Option<i64> {
    let (int, frac) = match memchr::memchr(b'.', raw) {
        Some(dot) => (&raw[..dot], &raw[dot + 1..]),
        None => (raw, &b""[..]),
    };
    let v = i64::try_from(time::parse_u64(int)?).ok()?;
    let scale = match int.len() {
        9 | 10 => 1_000_000_000,
        12 | 13 => 1_000_000,
        15 | 16 => 1_000,
        18 | 19 => 1,
        _ => return None,
    };
    let mut ns = v.checked_mul(scale)?;
    if !frac.is_empty() {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut f = 0i64;
        let mut unit = scale / 10;
        for &c in &frac[..digits] {
            if unit == 0 {
                break;
            }
            f += i64::from(c - b'0') * unit;
            unit /= 10;
        }
        ns = ns.checked_add(f)?;
    }
    Some(ns)
}

/// A logfmt line: `key=value` pairs, values bare or double-quoted (with
/// `\"` escapes). It counts as logfmt when it starts with a pair and a
/// level, message or time key is among its pairs. `false` otherwise.
pub(super) fn logfmt<'b>(b: &'b [u8], rec: &mut Record<'b>) -> bool {
    // Cheap rejection: the first token must be `key=`.
    let first_space = b.iter().position(|&c| c == b' ').unwrap_or(b.len());
    match memchr::memchr(b'=', &b[..first_space]) {
        Some(eq) if eq > 0 => {}
        _ => return false,
    }
    let mut pos = 0;
    let mut known = false;
    let mut level = None;
    let mut msg = None;
    let mut ts = None;
    while pos < b.len() {
        while pos < b.len() && b[pos] == b' ' {
            pos += 1;
        }
        let key_start = pos;
        while pos < b.len() && !matches!(b[pos], b'=' | b' ') {
            pos += 1;
        }
        let key = &b[key_start..pos];
        if pos >= b.len() || b[pos] != b'=' || key.is_empty() {
            // A bare word (logfmt allows it as a flag) or a stray `=`:
            // step over it and keep scanning.
            pos += 1;
            continue;
        }
        pos += 1;
        let (value, next) = if b.get(pos) == Some(&b'"') {
            let start = pos + 1;
            let mut i = start;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            (&b[start..i.min(b.len())], i + 1)
        } else {
            let end = b[pos..]
                .iter()
                .position(|&c| c == b' ')
                .map_or(b.len(), |e| pos + e);
            (&b[pos..end], end)
        };
        pos = next;
        match key_kind(key) {
            Key::Level if level.is_none() => {
                known = true;
                level = Some((Level::from_word(value).unwrap_or(Level::None), value));
            }
            Key::Message if msg.is_none() => {
                known = true;
                msg = Some(value);
            }
            Key::Time if ts.is_none() => {
                known = true;
                ts = time::parse_rfc3339(value)
                    .or_else(|| super::leading_time(value).map(|t| t.0))
                    .or_else(|| epoch_number(value));
            }
            _ => {}
        }
    }
    if !known {
        return false;
    }
    if let Some((l, raw)) = level {
        rec.level = l;
        rec.level_raw = raw;
    }
    if let Some(m) = msg {
        rec.message = m;
        // Quoted logfmt values escape `"` and `\` as JSON strings do.
        rec.json_escaped = m.contains(&b'\\');
    }
    rec.ts_ns = ts;
    rec.attrs = b;
    true
}
