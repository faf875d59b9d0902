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
/// them, `"PHP %s:  %s in %s on line %d"`, each followed by `:`. Levels
/// follow PHP's own syslog mapping there (`LOG_ERR` for the fatal ones,
/// kept as [`Level::Fatal`] since the request died; `LOG_INFO` for
/// deprecations and strict standards).
pub(crate) const PHP_TYPES: [(&[u8], Level, Event); 10] = [
    (b"Fatal error", Level::Fatal, Event::PhpFatal),
    (b"Parse error", Level::Fatal, Event::PhpFatal),
    (b"Recoverable fatal error", Level::Fatal, Event::PhpFatal),
    // PHP 5's name for E_RECOVERABLE_ERROR.
    (b"Catchable fatal error", Level::Fatal, Event::PhpFatal),
    (b"Warning", Level::Warning, Event::PhpWarning),
    (b"Notice", Level::Notice, Event::PhpNotice),
    (b"Deprecated", Level::Info, Event::PhpDeprecated),
    (b"Strict Standards", Level::Info, Event::PhpNotice),
    // Xdebug's spelling (`xdebug_error_type()`).
    (b"Strict standards", Level::Info, Event::PhpNotice),
    (b"Unknown error", Level::Error, Event::None),
];

/// `wpdb::print_error()` (wp-includes/class-wpdb.php): `WordPress database
/// error %1$s for query %2$s made by %3$s`, through PHP's `error_log()`.
const DB_ERROR: &[u8] = b"WordPress database error ";

/// A PHP error message split as PHP's logger wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PhpMessage<'b> {
    /// Normalised level.
    pub level: Level,
    /// The type as written, without `PHP ` and the colon (`Fatal error`).
    pub level_raw: &'b [u8],
    /// The event the type means.
    pub event: Event,
    /// The text after `PHP <Type>:  `.
    pub message: &'b [u8],
}

/// Reads a leading `[22-Nov-2026 10:00:00[.uuuuuu][ zone]]` (FPM's
/// `zlog_print_time()`, PHP's `php_log_err()`). Returns the time, whether a
/// zone followed the seconds, and the bytes after `]`. A named zone
/// (`Europe/Berlin`) is resolved through the time-zone database
/// ([`time::parse_php_zoned`]).
///
/// # Errors
/// [`ParseError::Format`] unless the line starts with `[dd-`;
/// [`ParseError::Truncated`] / [`ParseError::BadField`] for a time that
/// ends early or does not parse, or a zone the database does not know (at
/// the zone's byte).
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
    let ts = time::parse_php_zoned(inside).map_err(|at| ParseError::bad(Field::Time, 1 + at))?;
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

/// Splits a `PHP <Type>:  message` text into PHP's level (and the type as
/// written), the event and the message after the type.
pub(crate) fn classify_php(text: &[u8]) -> Option<PhpMessage<'_>> {
    let rest = text.strip_prefix(b"PHP ")?;
    PHP_TYPES.iter().find_map(|&(name, level, event)| {
        let msg = rest.strip_prefix(name)?.strip_prefix(b":")?;
        Some(PhpMessage {
            level,
            level_raw: &rest[..name.len()],
            event,
            message: msg.trim_ascii_start(),
        })
    })
}

/// Whether `text` is a `WordPress database error ...` message.
pub(crate) fn is_db_error(text: &[u8]) -> bool {
    text.starts_with(DB_ERROR)
}

/// Whether `text` (a line's text after its `[time] `) is one of the lines
/// Xdebug logs after an error, each with its own time (`xdebug_log_stack()`:
/// `PHP Stack trace:`, then `PHP %3d. function() file:line` per frame):
/// they continue the error's record instead of starting one.
pub(crate) fn is_xdebug_trace(text: &[u8]) -> bool {
    let Some(rest) = text.strip_prefix(b"PHP ") else {
        return false;
    };
    if rest.starts_with(b"Stack trace:") {
        return true;
    }
    xdebug_frame(rest)
}

/// `  1. {main}() /a.php:0` (after `PHP `): spaces, a number, `. `.
fn xdebug_frame(rest: &[u8]) -> bool {
    let rest = rest.trim_ascii_start();
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    n > 0 && rest[n..].starts_with(b". ")
}

/// Stack frames in a joined PHP entry: `#N ...` lines of PHP's own trace
/// (`Exception::getTraceAsString()`, under `Stack trace:`) and Xdebug's
/// `[time] PHP   N. ...` lines. The first line is the message, never a
/// frame.
///
/// # Performance
/// One `memchr` pass over the block and a few byte checks per line.
pub(crate) fn count_frames(block: &[u8]) -> u32 {
    let mut frames = 0u32;
    for nl in memchr::memchr_iter(b'\n', block) {
        frames = frames.saturating_add(u32::from(is_frame_line(&block[nl + 1..])));
    }
    frames
}

/// Whether `line` (up to its end or the next `\n`) is a PHP stack frame:
/// `#12 /a.php(3): f()`, `#4 {main}`, or Xdebug's `[time] PHP   1. f()
/// /a.php:3`.
pub(crate) fn is_frame_line(line: &[u8]) -> bool {
    match line {
        [b'#', d, ..] if d.is_ascii_digit() => {
            let n = line[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            line.get(1 + n) == Some(&b' ')
        }
        [b'[', ..] => time_layout_prefix(line)
            .and_then(|after| after.strip_prefix(b" PHP "))
            .is_some_and(xdebug_frame),
        _ => false,
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::driver::{FileReport, Observer, Origin, Pipeline};
    use crate::label::SiteId;
    use crate::record::{LogFormat, Record};

    /// A record as the corpus tests look at it (owned), with how many
    /// physical lines of the file went into it.
    #[derive(Debug, Clone)]
    pub(crate) struct Seen {
        pub source: LogFormat,
        pub ts_ns: Option<i64>,
        pub level: Level,
        pub level_raw: String,
        pub event: Event,
        pub pool: String,
        pub pid: u32,
        pub script: String,
        pub message: String,
        pub frames: u32,
        pub lines: usize,
        pub error: Option<ParseError>,
    }

    struct Collect<'f> {
        file: &'f [u8],
        next_offset: u64,
        seen: Vec<Seen>,
    }

    impl Observer for Collect<'_> {
        fn record(&mut self, o: &Origin<'_>, r: &Record<'_>, _site: SiteId, _name: &str) {
            let (start, end) = (o.message.start_offset, o.message.end_offset);
            assert_eq!(start, self.next_offset, "records tile the file");
            self.next_offset = end;
            let span = &self.file[start as usize..end as usize];
            let lines = memchr::memchr_iter(b'\n', span).count()
                + usize::from(!span.is_empty() && !span.ends_with(b"\n"));
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            self.seen.push(Seen {
                source: r.source,
                ts_ns: r.ts_ns,
                level: r.level,
                level_raw: s(r.level_raw),
                event: r.event,
                pool: s(r.pool),
                pid: r.pid,
                script: s(r.script),
                message: s(r.message),
                frames: r.frames,
                lines,
                error: r.error,
            });
        }
    }

    /// Runs `file` through the whole pipeline (detection, framing, joining,
    /// parsing) and checks the issue-14 contract on the way: every physical
    /// line is in exactly one record, in file order, and no record failed.
    pub(crate) fn run_corpus(name: &str, file: &[u8]) -> (FileReport, Vec<Seen>) {
        // 2027-01-15: after every corpus line.
        let mut p = Pipeline::new(&crate::PipelineConfig::default(), 1_800_000_000).unwrap();
        let mut c = Collect {
            file,
            next_offset: 0,
            seen: Vec::new(),
        };
        let r = p.process(name, None, file, &mut c, &mut |_| {}).unwrap();
        assert_eq!(
            c.next_offset,
            file.len() as u64,
            "{name}: the last record ends the file"
        );
        let lines = memchr::memchr_iter(b'\n', file).count()
            + usize::from(!file.is_empty() && !file.ends_with(b"\n"));
        assert_eq!(r.lines as usize, lines, "{name}");
        assert_eq!(
            c.seen.iter().map(|s| s.lines).sum::<usize>(),
            lines,
            "{name}: lines in = lines in records"
        );
        assert_eq!(r.records as usize, c.seen.len(), "{name}");
        let failed: Vec<_> = c.seen.iter().filter(|s| s.error.is_some()).collect();
        assert!(failed.is_empty(), "{name}: {failed:#?}");
        (r, c.seen)
    }

    #[test]
    fn php_types_as_written() {
        let m = classify_php(b"PHP Fatal error:  Uncaught Exception: x in /a.php:3").unwrap();
        assert_eq!(
            (m.level, m.level_raw, m.event),
            (Level::Fatal, &b"Fatal error"[..], Event::PhpFatal)
        );
        assert_eq!(m.message, b"Uncaught Exception: x in /a.php:3");
        let m = classify_php(b"PHP Strict standards:  x").unwrap();
        assert_eq!(
            (m.level, m.level_raw),
            (Level::Info, &b"Strict standards"[..])
        );
        let m = classify_php(b"PHP Deprecated:").unwrap();
        assert_eq!((m.event, m.message), (Event::PhpDeprecated, &b""[..]));
        assert_eq!(classify_php(b"PHP Warnings:  x"), None);
        assert_eq!(classify_php(b"PHP Warning  x"), None);
        assert_eq!(classify_php(b"Warning:  x"), None);
        assert!(is_db_error(b"WordPress database error Deadlock found"));
        assert!(!is_db_error(b"WordPress database"));
    }

    /// Xdebug 3.2's `xdebug_log_stack()` lines (testdata/php/debug-xdebug.log)
    /// and PHP's `getTraceAsString()` lines.
    #[test]
    fn frames_and_xdebug_lines() {
        assert!(is_xdebug_trace(b"PHP Stack trace:"));
        assert!(is_xdebug_trace(b"PHP   1. {main}() /a.php:0"));
        assert!(is_xdebug_trace(b"PHP 1000. f() /a.php:9"));
        assert!(!is_xdebug_trace(b"PHP Warning:  x"));
        assert!(!is_xdebug_trace(b"PHP   1 {main}() /a.php:0"));
        assert!(!is_xdebug_trace(b"PHP    . x"));
        assert!(is_frame_line(b"#0 /a.php(4): outer()"));
        assert!(is_frame_line(b"#12 {main}"));
        assert!(!is_frame_line(b"#x {main}"));
        assert!(!is_frame_line(b"#1"));
        assert!(!is_frame_line(b"  thrown in /a.php on line 3"));
        assert!(is_frame_line(
            b"[03-Dec-2026 13:40:45 UTC] PHP   2. outer() /a.php:4"
        ));
        assert!(!is_frame_line(
            b"[03-Dec-2026 13:40:45 UTC] PHP Stack trace:"
        ));
        let block = b"Uncaught Error: x in /a.php:3\nStack trace:\n#0 /a.php(4): outer()\n#1 {main}\n  thrown in /a.php on line 3";
        assert_eq!(count_frames(block), 2);
        assert_eq!(count_frames(b"#0 not a frame: the message"), 0);
        assert_eq!(count_frames(b""), 0);
    }

    #[test]
    fn zoned_times() {
        // 2026-12-03T13:39:46Z, as PHP wrote it with date.timezone =
        // Europe/Berlin (CET, +01:00) and America/New_York (EST, -05:00).
        let utc = crate::time::parse_rfc3339(b"2026-12-03T13:39:46Z");
        for line in [
            &b"[03-Dec-2026 14:39:46 Europe/Berlin] x"[..],
            b"[03-Dec-2026 08:39:46 America/New_York] x",
            b"[03-Dec-2026 13:39:46 UTC] x",
            b"[03-Dec-2026 13:39:46] x",
        ] {
            assert_eq!(bracketed_time(line).map(|t| Some(t.0)), Ok(utc));
        }
        assert_eq!(
            bracketed_time(b"[03-Dec-2026 13:39:46 Europe/Atlantis] x"),
            Err(ParseError::bad(Field::Time, 22))
        );
        assert_eq!(
            bracketed_time(b"[03-Dec-2026 13:39:46 +99:00] x"),
            Err(ParseError::bad(Field::Time, 22))
        );
    }

    #[test]
    fn never_panics() {
        crate::parse::test_support::never_panics(
            |b| {
                let _ = bracketed_time(b);
                let _ = classify_php(b);
                let _ = count_frames(b);
                let _ = is_xdebug_trace(b);
                let _ = php_script(b);
            },
            &[
                b"[03-Dec-2026 14:39:46 Europe/Berlin] PHP Warning:  x in /a.php on line 1",
                b"[03-Dec-2026 13:40:45 UTC] PHP   2. outer() /a.php:4\n#0 {main}",
            ],
        );
    }
}
