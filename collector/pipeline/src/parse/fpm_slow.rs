//! PHP-FPM slow log (`slowlog` + `request_slowlog_timeout`): one multi-line
//! block per slow request, written by php-src `fpm_php_trace.c` as a blank
//! line, `[22-Nov-2026 10:00:00]  [pool www] pid 12345`, `script_filename =
//! /var/www/html/index.php` and one `[0x...] function() file:line` frame per
//! line. The framer joins a block; this module reads it.

use crate::parse::php::{bracketed_time, time_layout_prefix};
use crate::parse::trim_eol;
use crate::parse::{Field, ParseError};
use crate::record::{Event, Level, LogFormat, Record};
use crate::time;

/// Parses one joined slow-log block. Blank lines and `\r` around it are
/// ignored: FPM writes the blank line *before* each header, so the framer
/// leaves it at the end of the previous block (and a file's first line,
/// blank, with no block before it, is a record of its own).
///
/// The record is [`Event::SlowTrace`] (the error log's `executing too
/// slow` line is the one counted as a slow request) at [`Level::Warning`]
/// (the slow log writes no level; it is the trace of a `WARNING` line of
/// the error log) with `ts_ns`, `pool` and `pid` from the header, `script`
/// from `script_filename = `, `message` the frame lines (a slice of the
/// block, possibly `+++ dump failed`) and `frames` their number (FPM dumps
/// at most 20). A header alone is accepted, with no script and an empty
/// message.
///
/// # Errors
/// [`ParseError::Empty`] for a blank block, [`ParseError::Format`] when the
/// first line is not a slow-log header, and [`ParseError::BadField`] /
/// [`ParseError::Truncated`] for a bad time, pool or pid.
///
/// # Performance
/// A few `memchr` calls over the header and the first two lines.
pub fn parse(block: &[u8]) -> Result<Record<'_>, ParseError> {
    let trimmed = block.trim_ascii();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    let (header, mut rest) = split_line(trimmed);
    let (ts, _zoned, after) = bracketed_time(trim_eol(header))?;
    let after = after.trim_ascii_start();
    let after = after.strip_prefix(b"[pool ").ok_or(ParseError::Format)?;
    let Some(end) = memchr::memchr(b']', after) else {
        return Err(ParseError::Truncated { field: Field::Pool });
    };
    let pool = &after[..end];
    let pid = after[end + 1..]
        .strip_prefix(b" pid ")
        .ok_or(ParseError::Truncated { field: Field::Pid })?;
    let pid = time::parse_u64(pid.trim_ascii_end())
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| ParseError::bad(Field::Pid, offset(block, pid)))?;

    let mut script: &[u8] = b"";
    let (second, after_second) = split_line(rest);
    if let Some(s) = second.strip_prefix(b"script_filename = ") {
        script = trim_eol(s);
        rest = after_second;
    }
    let message = rest.trim_ascii();
    Ok(Record {
        source: LogFormat::FpmSlow,
        ts_ns: Some(ts),
        level: Level::Warning,
        event: Event::SlowTrace,
        pool,
        pid,
        script,
        message,
        frames: count_frames(message),
        ..Record::default()
    })
}

/// Lines of `frames` that are `fpm_php_trace_dump()` frames: `[0x` + the
/// frame's address in hex + `] `.
fn count_frames(frames: &[u8]) -> u32 {
    let mut n = 0u32;
    let mut rest = frames;
    loop {
        let (line, after) = split_line(rest);
        let is_frame = line.strip_prefix(b"[0x").is_some_and(|l| {
            let hex = l.iter().take_while(|c| c.is_ascii_hexdigit()).count();
            hex > 0 && l[hex..].starts_with(b"] ")
        });
        n = n.saturating_add(u32::from(is_frame));
        if after.is_empty() {
            return n;
        }
        rest = after;
    }
}

/// Whether `line` is a slow-log header (`[time]` then spaces then `[pool `).
/// FPM error-log lines (`[time] WARNING: [pool www] ...`) and stack frames
/// (`[0x00007f...] ...`) are not. Only the time's layout is checked, so a
/// header with an impossible date starts its own block, which [`parse`]
/// refuses as a bad time.
pub fn starts_record(line: &[u8]) -> bool {
    time_layout_prefix(line).is_some_and(|after| {
        after.starts_with(b" ") && after.trim_ascii_start().starts_with(b"[pool ")
    })
}

/// Where `inner` (a subslice of `outer`) starts in `outer`.
fn offset(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// The first line of `b` (without its `\n`) and the rest after it.
fn split_line(b: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'\n', b) {
        Some(nl) => (&b[..nl], &b[nl + 1..]),
        None => (b, &b""[..]),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_795_341_600 * 1_000_000_000; // 2026-11-22T10:00:00Z

    const FRAMES: &str = "[0x00007f3c2a8150a0] curl_exec() /var/www/html/wp-includes/Requests/src/Transport/Curl.php:205\n\
[0x00007f3c2a814f90] request() /var/www/html/wp-includes/Requests/src/Requests.php:469\n\
[0x00007f3c2a814e40] request() /var/www/html/wp-includes/class-wp-http.php:396\n\
[0x00007f3c2a814d00] wp_remote_get() /var/www/html/wp-content/plugins/x/x.php:88";

    fn block() -> String {
        format!(
            "[22-Nov-2026 10:00:00]  [pool www] pid 12345\nscript_filename = /var/www/html/index.php\n{FRAMES}\n"
        )
    }

    fn ok(b: &[u8]) -> Record<'_> {
        match parse(b) {
            Ok(r) => r,
            Err(e) => panic!("{e}: {}", String::from_utf8_lossy(b)),
        }
    }

    #[test]
    fn full_block() {
        let b = block();
        let r = ok(b.as_bytes());
        assert_eq!(r.source, LogFormat::FpmSlow);
        assert_eq!(r.ts_ns, Some(T));
        assert_eq!((r.level, r.event), (Level::Warning, Event::SlowTrace));
        assert_eq!(r.pool, b"www");
        assert_eq!(r.pid, 12345);
        assert_eq!(r.script, b"/var/www/html/index.php");
        assert_eq!(r.message, FRAMES.as_bytes());
        assert_eq!(r.frames, 4);
    }

    #[test]
    fn trailing_and_leading_blank_lines_crlf() {
        let b = format!("\n{}\n", block());
        let r = ok(b.as_bytes());
        assert_eq!((r.pid, r.script), (12345, &b"/var/www/html/index.php"[..]));
        assert_eq!(r.message, FRAMES.as_bytes());
        let crlf = block().replace('\n', "\r\n") + "\r\n";
        let r = ok(crlf.as_bytes());
        assert_eq!((r.pid, r.pool), (12345, &b"www"[..]));
        assert_eq!(r.script, b"/var/www/html/index.php");
        assert!(r.message.starts_with(b"[0x00007f3c2a8150a0] curl_exec()"));
        assert!(r.message.ends_with(b"x.php:88"));
    }

    #[test]
    fn debug_time_and_single_space() {
        let r = ok(b"[22-Nov-2026 10:00:00.250000] [pool site7] pid 9\nscript_filename = /a.php\n[0x0000000000000001] ???() unknown:0");
        assert_eq!(r.ts_ns, Some(T + 250_000_000));
        assert_eq!((r.pool, r.pid), (&b"site7"[..], 9));
        assert_eq!(r.message, b"[0x0000000000000001] ???() unknown:0");
    }

    #[test]
    fn header_only_and_dump_failed() {
        let r = ok(b"[22-Nov-2026 10:00:00]  [pool www] pid 1\n");
        assert_eq!((r.pid, r.script, r.message), (1, &b""[..], &b""[..]));
        let r = ok(
            b"[22-Nov-2026 10:00:00]  [pool www] pid 1\nscript_filename = /a.php\n+++ dump failed",
        );
        assert_eq!(
            (r.script, r.message),
            (&b"/a.php"[..], &b"+++ dump failed"[..])
        );
        let r = ok(b"[22-Nov-2026 10:00:00]  [pool www] pid 1\n+++ dump failed\n");
        assert_eq!((r.script, r.message), (&b""[..], &b"+++ dump failed"[..]));
        assert_eq!(r.frames, 0);
        // A dump that fails after two frames (fpm_php_trace(): `+++ dump
        // failed` follows what was written).
        let r = ok(b"[22-Nov-2026 10:00:00]  [pool www] pid 1\nscript_filename = /a.php\n[0x00007f3c2a8150a0] sleep() /a.php:3\n[0x00007f3c2a814f90] f() /a.php:9\n+++ dump failed\n");
        assert_eq!(r.frames, 2);
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"\n\n"), Err(ParseError::Empty));
        assert_eq!(
            parse(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 1 started"),
            Err(ParseError::Format)
        );
        assert_eq!(parse(b"script_filename = /a.php"), Err(ParseError::Format));
        assert_eq!(
            parse(b"[22-Nov-2026 10:00:00]  [pool www"),
            Err(ParseError::Truncated { field: Field::Pool })
        );
        assert_eq!(
            parse(b"[22-Nov-2026 10:00:00]  [pool www] pi"),
            Err(ParseError::Truncated { field: Field::Pid })
        );
        assert_eq!(
            parse(b"[22-Nov-2026 10:00:00]  [pool www] pid x1"),
            Err(ParseError::bad(Field::Pid, 39))
        );
        assert_eq!(
            parse(b"\n[22-Nov-2026 10:00:00]  [pool www] pid 99999999999"),
            Err(ParseError::bad(Field::Pid, 40))
        );
        // Issue 13: a header with an impossible date starts its own block and
        // is refused as a bad time.
        for line in [
            &b"[30-Feb-2026 10:00:00]  [pool www] pid 1"[..],
            b"[29-Feb-2025 10:00:00]  [pool www] pid 1",
            b"[31-Apr-2026 10:00:00]  [pool www] pid 1",
            b"[22-Nov-2026 24:00:00]  [pool www] pid 1",
        ] {
            let show = String::from_utf8_lossy(line);
            assert_eq!(parse(line), Err(ParseError::bad(Field::Time, 1)), "{show}");
            assert!(starts_record(line), "{show}");
        }
        assert!(parse(b"[29-Feb-2024 10:00:00]  [pool www] pid 1").is_ok());
    }

    #[test]
    fn huge_block() {
        let mut b = block().into_bytes();
        for i in 0..50_000 {
            b.extend_from_slice(format!("[0x{i:016x}] f() /a.php:{i}\n").as_bytes());
        }
        let r = ok(&b);
        assert_eq!(r.pid, 12345);
        assert!(r.message.ends_with(b"/a.php:49999"));
        assert_eq!(r.frames, 50_004);
    }

    #[test]
    fn record_starts() {
        assert!(starts_record(
            b"[22-Nov-2026 10:00:00]  [pool www] pid 12345"
        ));
        assert!(starts_record(
            b"[22-Nov-2026 10:00:00.123456]  [pool www] pid 1\r"
        ));
        assert!(!starts_record(
            b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 1 started"
        ));
        assert!(!starts_record(
            b"[22-Nov-2026 10:00:00] NOTICE: ready to handle connections"
        ));
        assert!(!starts_record(
            b"[22-Nov-2026 10:00:00 UTC] PHP Warning:  x"
        ));
        assert!(!starts_record(b"script_filename = /a.php"));
        assert!(!starts_record(
            b"[0x00007f3c2a8150a0] curl_exec() /a.php:205"
        ));
        assert!(!starts_record(b""));
    }

    /// testdata/php/fpm-slow.log: php-fpm 8.2 tracing all.php (asleep in
    /// `usleep()` under two calls) once with `log_level = debug`, whose
    /// header time has microseconds, and once with `notice`.
    #[test]
    fn real_slow_log() {
        let file = include_bytes!("testdata/php/fpm-slow.log");
        let (r, seen) = crate::parse::php::tests::run_corpus("fpm-slow.log", file);
        assert_eq!(r.source, Some(LogFormat::FpmSlow));
        let blocks: Vec<_> = seen
            .iter()
            .filter(|s| s.source == LogFormat::FpmSlow)
            .collect();
        assert_eq!(blocks.len(), 2, "{seen:#?}");
        // FPM writes a blank line *before* each header (`"\n%s [pool %s]
        // pid %d\n"`, fpm_php_trace.c): each one after the first ends the
        // block before it; the file's first line, with no block before it,
        // is today a record of its own, empty and without error (the framer
        // could fold it into the block it precedes).
        assert_eq!(blocks[1].lines, 5);
        match seen.len() {
            3 => {
                assert_eq!((seen[0].source, seen[0].lines), (LogFormat::Text, 1));
                assert_eq!((seen[0].message.as_str(), seen[0].error), ("", None));
                assert_eq!(blocks[0].lines, 6);
            }
            2 => assert_eq!(blocks[0].lines, 7),
            n => panic!("{n} records: {seen:#?}"),
        }
        for b in &blocks {
            assert_eq!((b.level, b.event), (Level::Warning, Event::SlowTrace));
            assert_eq!(b.pool, "www");
            assert_eq!(b.script, "/tmp/sitepulse-php-corpus/www/all.php");
            assert_eq!(b.frames, 3);
            assert!(b.message.starts_with("[0x"), "{b:?}");
            assert!(
                b.message
                    .ends_with("] run() /tmp/sitepulse-php-corpus/www/all.php:4"),
                "{b:?}"
            );
        }
        // The same pids as the error log's `executing too slow` lines.
        assert_eq!((blocks[0].pid, blocks[1].pid), (13848, 14287));
        assert_eq!(
            blocks[0].ts_ns,
            crate::time::parse_rfc3339(b"2026-12-03T13:40:25.547791Z")
        );
        assert_eq!(
            blocks[1].ts_ns,
            crate::time::parse_rfc3339(b"2026-12-03T13:40:36Z")
        );
    }

    pub(crate) const SAMPLE_LINES: &[&[u8]] = &[
        b"",
        b"[22-Nov-2026 10:00:00]  [pool www] pid 12345",
        b"script_filename = /var/www/html/index.php",
        b"[0x00007f3c2a8150a0] curl_exec() /var/www/html/wp-includes/Requests/src/Transport/Curl.php:205",
        b"[0x00007f3c2a814f90] request() /var/www/html/wp-includes/Requests/src/Requests.php:469",
        b"",
        b"[22-Nov-2026 10:00:07]  [pool site042] pid 12346",
        b"script_filename = /var/www/site042/wp-cron.php",
        b"[0x00007f3c2a8150a0] mysqli_query() /var/www/site042/wp-includes/class-wpdb.php:2351",
        b"",
        b"[22-Nov-2026 10:00:09]  [pool www] pid 12347",
        b"script_filename = /var/www/html/wp-admin/admin-ajax.php",
        b"[0x00007f3c2a8150a0] sleep() /var/www/html/wp-content/plugins/x/x.php:10",
    ];

    #[test]
    fn detect_picks_fpm_slow() {
        assert_eq!(
            crate::parse::detect(SAMPLE_LINES.iter().copied()),
            Some(LogFormat::FpmSlow)
        );
    }

    proptest! {


        /// Oracle: `fpm_php_trace_dump()`'s header and script line read back.
        #[test]
        fn header_roundtrip(
            pool in "[a-z0-9_.-]{1,20}",
            pid in 1u32..4_000_000,
            script in "/[a-zA-Z0-9_/.-]{1,60}",
        ) {
            let b = format!("[22-Nov-2026 10:00:00]  [pool {pool}] pid {pid}\nscript_filename = {script}\n{FRAMES}\n\n");
            prop_assert!(starts_record(b.lines().next().unwrap().as_bytes()));
            let r = parse(b.as_bytes()).unwrap();
            prop_assert_eq!(r.pool, pool.as_bytes());
            prop_assert_eq!(r.pid, pid);
            prop_assert_eq!(r.script, script.as_bytes());
            prop_assert_eq!(r.message, FRAMES.as_bytes());
        }
    }

    #[test]
    fn never_panics() {
        let b = block();
        crate::parse::test_support::never_panics(
            |line| {
                let _ = parse(line);
                let _ = starts_record(line);
            },
            &[b.as_bytes(), include_bytes!("testdata/php/fpm-slow.log")],
        );
    }
}
