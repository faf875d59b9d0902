//! The `text` format: any line at all. It never fails, so a line of no
//! known format (or one its file's parser rejects) still leaves as a
//! record. What common shapes say is kept, best effort and without
//! allocating:
//!
//! - a JSON object (zap, zerolog, logrus, bunyan/pino, slog, Serilog
//!   compact): level, message and time from the usual keys;
//! - logfmt (`time=… level=… msg=…`: logrus text, Go slog, Loki,
//!   Prometheus);
//! - klog (`E1122 10:00:00.123456   1 file.go:12] msg`: every Kubernetes
//!   component);
//! - a leading time (RFC 3339 / ISO 8601 with `T` or space, `,` or `.`
//!   fraction: Python logging, log4j/logback, Spring Boot; Go's
//!   `2026/11/22 10:00:00`), then a level word as a token: `ERROR`,
//!   `[error]`, `<WARN>`, `ERROR:root:` (Python's basicConfig), `level:`.
//!
//! The message is the whole line for plain text (nothing is cut away) and
//! the message value for JSON and logfmt, whose whole text goes to `attrs`.

mod structured;

use crate::record::{Level, LogFormat, Record};
use crate::time;

/// A `text` record for any bytes.
///
/// # Performance
/// A few byte tests for a line of no shape; one scan of the members for
/// JSON and logfmt. No allocation.
pub fn parse(line: &[u8]) -> Record<'_> {
    let line = super::trim_eol(line);
    let mut rec = Record {
        source: LogFormat::Text,
        message: line,
        ..Record::default()
    };
    if memchr::memchr(b'\n', line).is_some() {
        rec.frames = count_frames(line);
    }
    let body = line.trim_ascii_start();
    match body.first() {
        None => return rec,
        Some(b'{') if structured::json(body, &mut rec) => return rec,
        Some(b'I' | b'W' | b'E' | b'F') if klog(body, &mut rec) => return rec,
        _ => {}
    }
    if structured::logfmt(body, &mut rec) {
        return rec;
    }
    plain(body, &mut rec);
    rec
}

/// Stack frames in a joined record: Java `at …`, PHP `#N …`, Python
/// `File "…", line N`, Go's tab-indented `/path/file.go:N +0x…`.
fn count_frames(block: &[u8]) -> u32 {
    let mut n = 0u32;
    for l in block.split(|&c| c == b'\n').skip(1) {
        let t = l.trim_ascii_start();
        let frame = (t.len() < l.len() && (t.starts_with(b"at ") || t.starts_with(b"File \"")))
            || (t.first() == Some(&b'#') && t.get(1).is_some_and(u8::is_ascii_digit))
            || (t.len() < l.len()
                && t.starts_with(b"/")
                && memchr::memmem::find(t, b".go:").is_some());
        n += u32::from(frame);
    }
    n
}

/// klog's header: `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`. The
/// header has no year, so the time is left to the container runtime's.
fn klog<'b>(b: &'b [u8], rec: &mut Record<'b>) -> bool {
    // glog-style with an ISO time (Outline, node glog ports):
    // `I2022-12-26T09:01:41.545Z 12 main.js:102] msg`.
    if let Some((ns, n)) = leading_time(&b[1..])
        && let Some(close) = memchr::memchr(b']', &b[1 + n..])
    {
        rec.ts_ns = Some(ns);
        set_klog_level(b, rec);
        let msg = &b[1 + n + close + 1..];
        rec.message = msg.strip_prefix(b" ").unwrap_or(msg);
        return true;
    }
    // "I1122 10:00:00.123456"
    if b.len() < 22
        || b[5] != b' '
        || b[8] != b':'
        || b[11] != b':'
        || b[14] != b'.'
        || time::digits::<4>(&b[1..5]).is_none()
        || time::digits::<6>(&b[15..21]).is_none()
    {
        return false;
    }
    let Some(close) = memchr::memchr(b']', &b[21..]) else {
        return false;
    };
    set_klog_level(b, rec);
    let msg = &b[21 + close + 1..];
    rec.message = msg.strip_prefix(b" ").unwrap_or(msg);
    true
}

fn set_klog_level<'b>(b: &'b [u8], rec: &mut Record<'b>) {
    rec.level = match b[0] {
        b'I' => Level::Info,
        b'W' => Level::Warning,
        b'E' => Level::Error,
        _ => Level::Fatal,
    };
    rec.level_raw = &b[..1];
}

/// A leading time, then a level word among the first tokens.
fn plain<'b>(b: &'b [u8], rec: &mut Record<'b>) {
    let mut rest = b;
    if let Some((ns, n)) = leading_time(b) {
        rec.ts_ns = Some(ns);
        rest = &b[n..];
    } else if let Some(inner) = b.strip_prefix(b"[")
        && let Some(end) = memchr::memchr(b']', inner)
        && let Some((ns, n)) = leading_time(&inner[..end])
        && n == end
    {
        // `[2026-11-22 10:00:00] …`
        rec.ts_ns = Some(ns);
        rest = &inner[end + 1..];
    }
    // Up to six tokens after the time: an upper-case or bracketed level
    // word anywhere there (`- app.db - ERROR -`, `[main] INFO`), a word of
    // any case only as the first token.
    for (i, tok) in rest
        .split(|&c| c == b' ' || c == b'\t')
        .filter(|t| !t.is_empty())
        .take(6)
        .enumerate()
    {
        if let Some((level, raw)) = level_token(tok, i == 0) {
            rec.level = level;
            rec.level_raw = raw;
            // The message is what follows the time and the level (and the
            // separators after them: `-`, `:`, `|`, `]`).
            if rec.ts_ns.is_some() || i == 0 {
                let after = tok.as_ptr() as usize + tok.len() - b.as_ptr() as usize;
                let rest = &b[after..];
                let start = rest
                    .iter()
                    .position(|c| !matches!(c, b' ' | b'\t' | b'-' | b':' | b'|' | b']'))
                    .unwrap_or(rest.len());
                if start < rest.len() {
                    rec.message = &rest[start..];
                }
            }
            return;
        }
    }
}

/// A token that is a level word: `ERROR`, `[error]`, `<warn>`, `ERROR:`,
/// `ERROR:root:msg` (Python), `level=`-less `WARN,`. Lower-case words count
/// only where `any_case` (the first token, where prose rarely starts with
/// "error"). Returns the level and the word as written.
fn level_token(tok: &[u8], any_case: bool) -> Option<(Level, &[u8])> {
    let (t, bracketed) = match tok {
        [b'[', inner @ .., b']'] | [b'<', inner @ .., b'>'] | [b'(', inner @ .., b')'] => {
            (inner, true)
        }
        [b'[', inner @ .., b']', b':'] => (inner, true),
        _ => (tok, false),
    };
    // `ERROR:root:msg`, `WARNING:`, `error,`
    let word_end = t
        .iter()
        .position(|c| matches!(c, b':' | b',' | b';'))
        .unwrap_or(t.len());
    let word = &t[..word_end];
    if word.len() < 3 && !bracketed {
        // Single letters (`E`, `W`) only in brackets: too common as prose.
        return None;
    }
    let upper = word.iter().all(|c| c.is_ascii_uppercase());
    if !(upper || bracketed || any_case) {
        return None;
    }
    Level::from_word(word).map(|l| (l, word))
}

/// A time at the start of `b`: `2026-11-22T10:00:00`, with `T` or a space,
/// an optional `.` or `,` fraction, and an optional `Z` / `±hh:mm` /
/// `±hhmm` zone (none means UTC); or Go's `2026/11/22 10:00:00`. Returns
/// Unix nanoseconds and the bytes used.
pub(crate) fn leading_time(b: &[u8]) -> Option<(i64, usize)> {
    if b.len() < 19
        || !(b[4] == b'-' || b[4] == b'/')
        || b[7] != b[4]
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
    {
        return None;
    }
    // Rewritten into RFC 3339 in a stack buffer.
    let mut buf = [0u8; 48];
    buf[..19].copy_from_slice(&b[..19]);
    buf[4] = b'-';
    buf[7] = b'-';
    let mut n = 19;
    let mut i = 19;
    if matches!(b.get(i), Some(b'.' | b',')) {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            buf[n] = b'.';
            let keep = digits.min(9);
            buf[n + 1..n + 1 + keep].copy_from_slice(&b[i + 1..i + 1 + keep]);
            n += 1 + keep;
            i += 1 + digits;
        }
    }
    // A zone after a space (`2017-12-17 10:34:00 +0000`, gunicorn).
    if b.get(i) == Some(&b' ') && matches!(b.get(i + 1), Some(b'+' | b'-')) {
        i += 1;
    }
    match b.get(i) {
        Some(b'Z' | b'z') => {
            buf[n] = b'Z';
            n += 1;
            i += 1;
        }
        Some(b'+' | b'-') => {
            let z = &b[i..];
            let len = if z.len() >= 6 && z[3] == b':' {
                6
            } else if z.len() >= 5 && z[1..5].iter().all(u8::is_ascii_digit) {
                5
            } else {
                0
            };
            if len > 0 && z.get(len).is_none_or(|c| !c.is_ascii_digit()) {
                buf[n..n + len].copy_from_slice(&z[..len]);
                n += len;
                i += len;
            }
        }
        _ => {}
    }
    // The time must end at a word boundary.
    if b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    time::parse_rfc3339(&buf[..n]).map(|ns| (ns, i))
}

#[cfg(test)]
mod tests;
