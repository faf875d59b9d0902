//! What PHP's own error logger writes, shared by the formats that carry
//! it (FPM's error log wraps it in `child N said into stderr`, WordPress's
//! `debug.log` holds it directly, the slow log dates its blocks the same
//! way): the bracketed time, the `PHP <Type>:` prefix and the script a
//! message names.

use std::sync::LazyLock;

use memchr::memmem;

use crate::parse::{Field, ParseError, trim_eol};
use crate::record::{Event, Level};
use crate::time;

/// Longest `[...]` time prefix searched for its `]`: `22-Nov-2026
/// 10:00:00.123456` is 27 bytes, and PHP's own error log adds a zone name
/// (`America/Argentina/ComodRivadavia`, 32 bytes).
const MAX_TIME_LEN: usize = 72;

/// The last ` in ` before a file name (`... in /path on line 5`).
static IN: LazyLock<memmem::FinderRev<'static>> = LazyLock::new(|| memmem::FinderRev::new(b" in "));

/// PHP's error type names as `php_error_cb()` (php-src `main/main.c`) logs
/// them, `"PHP %s:  %s in %s on line %d"`. Levels follow PHP's own syslog
/// mapping there (`LOG_ERR` → fatal, `LOG_INFO` for deprecations).
pub(crate) const PHP_TYPES: [(&[u8], Level, Event); 9] = [
    (b"Fatal error:", Level::Fatal, Event::PhpFatal),
    (b"Parse error:", Level::Fatal, Event::PhpFatal),
    (b"Recoverable fatal error:", Level::Fatal, Event::PhpFatal),
    // PHP 5's name for E_RECOVERABLE_ERROR.
    (b"Catchable fatal error:", Level::Fatal, Event::PhpFatal),
    (b"Warning:", Level::Warning, Event::PhpWarning),
    (b"Notice:", Level::Notice, Event::PhpNotice),
    (b"Deprecated:", Level::Info, Event::PhpDeprecated),
    (b"Strict Standards:", Level::Info, Event::PhpNotice),
    (b"Unknown error:", Level::Error, Event::None),
];

/// Reads a leading `[22-Nov-2026 10:00:00[.uuuuuu][ zone]]` (FPM's
/// `zlog_print_time()`, PHP's `php_log_err()`). Returns the time, whether a
/// zone followed the seconds, and the bytes after `]`.
///
/// # Errors
/// [`ParseError::Format`] unless the line starts with `[dd-`;
/// [`ParseError::Truncated`] / [`ParseError::BadField`] for a time that
/// ends early or does not parse.
pub(crate) fn bracketed_time(line: &[u8]) -> Result<(i64, bool, &[u8]), ParseError> {
    let Some(body) = line.strip_prefix(b"[") else {
        return Err(ParseError::Format);
    };
    // `22-`: anything else (`[0x00007f...]` slow-log frames) is not a time.
    match body {
        [d1, d2, b'-', ..] if d1.is_ascii_digit() && d2.is_ascii_digit() => {}
        _ => return Err(ParseError::Format),
    }
    let head = body.get(..MAX_TIME_LEN).unwrap_or(body);
    let Some(end) = memchr::memchr(b']', head) else {
        return Err(if body.len() < MAX_TIME_LEN {
            ParseError::Truncated { field: Field::Time }
        } else {
            ParseError::bad(Field::Time, 1)
        });
    };
    let inside = &body[..end];
    let ts = time::parse_php(inside).ok_or(ParseError::bad(Field::Time, 1))?;
    let zoned = inside.get(20) == Some(&b' ');
    Ok((ts, zoned, &body[end + 1..]))
}

/// Whether `line` opens with `[` + a time in PHP's layout + `]`, and if so
/// the bytes after the `]`. Unlike [`bracketed_time`] the values are not
/// checked ([`time::is_php_layout`]): a multi-line format starts a record
/// here, so a line with an impossible date is counted as a bad time rather
/// than joined to the previous record.
pub(crate) fn time_layout_prefix(line: &[u8]) -> Option<&[u8]> {
    let body = line.strip_prefix(b"[")?;
    let head = body.get(..MAX_TIME_LEN).unwrap_or(body);
    let end = memchr::memchr(b']', head)?;
    time::is_php_layout(&body[..end]).then(|| &body[end + 1..])
}

/// Splits a `PHP <Type>:  message` text into PHP's level, the event and the
/// message after the type.
pub(crate) fn classify_php(text: &[u8]) -> Option<(Level, Event, &[u8])> {
    let rest = text.strip_prefix(b"PHP ")?;
    PHP_TYPES.iter().find_map(|&(name, level, event)| {
        let msg = rest.strip_prefix(name)?;
        Some((level, event, msg.trim_ascii_start()))
    })
}

/// The file a PHP message names: `... in /path on line N`, `... in /path:N`
/// (uncaught exceptions) on the first line, else `thrown in /path on line N`
/// on a later one. Empty when none is found.
pub(crate) fn php_script(msg: &[u8]) -> &[u8] {
    let first = match memchr::memchr(b'\n', msg) {
        Some(nl) => &msg[..nl],
        None => msg,
    };
    let first = trim_eol(first).trim_ascii_end();
    if let Some(s) = on_line(first).or_else(|| colon_line(first)) {
        return s;
    }
    // "PHP Fatal error:  Uncaught ..." ends "  thrown in %s on line %d".
    msg.rsplit(|&c| c == b'\n')
        .map(|l| trim_eol(l).trim_ascii())
        .find(|l| !l.is_empty())
        .and_then(|l| l.strip_prefix(b"thrown"))
        .and_then(on_line)
        .unwrap_or_default()
}

/// `... in FILE on line N` → FILE.
fn on_line(line: &[u8]) -> Option<&[u8]> {
    let head = strip_number(line)?.strip_suffix(b" on line ")?;
    file_after_in(head)
}

/// `... in FILE:N` → FILE, when FILE looks like a path.
fn colon_line(line: &[u8]) -> Option<&[u8]> {
    let head = strip_number(line)?.strip_suffix(b":")?;
    file_after_in(head).filter(|f| f.contains(&b'/') || f.contains(&b'\\'))
}

/// `line` without its trailing decimal digits (at least one).
fn strip_number(line: &[u8]) -> Option<&[u8]> {
    let n = line.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    line.get(..line.len() - n)
}

/// The text after the last ` in ` (or a leading `in `, for an empty PHP
/// message) of `head`.
fn file_after_in(head: &[u8]) -> Option<&[u8]> {
    let file = match IN.rfind(head) {
        Some(at) => head.get(at + 4..)?,
        None => head.strip_prefix(b"in ")?,
    };
    (!file.is_empty()).then_some(file)
}
