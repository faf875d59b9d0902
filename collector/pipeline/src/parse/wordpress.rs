//! WordPress / PHP `debug.log` (PHP's `error_log` file): records start with
//! `[22-Nov-2026 10:00:00 UTC] ` and may continue over several lines (an
//! uncaught exception's `Stack trace:`, a message with newlines, Xdebug's
//! time-stamped `PHP Stack trace:` lines); the framer joins those, and this
//! module types PHP errors and `WordPress database error` lines.

use crate::parse::ParseError;
use crate::parse::php::{
    bracketed_time, classify_php, count_frames, is_db_error, is_xdebug_trace, php_script,
    time_layout_prefix,
};
use crate::record::{Event, Level, LogFormat, Record};

/// Parses one record: a `[time] message` line plus any joined continuation
/// lines (separated by `\n`; trailing blank lines and `\r` are ignored).
///
/// PHP errors (`PHP Fatal error:`, `Parse error:`, `Recoverable` and
/// `Catchable fatal error:`, `Warning:`, `Notice:`, `Deprecated:`, `Strict
/// Standards:`) set `level`, `event` and `level_raw` (the type as written,
/// `Fatal error`), and `message` is the text after the type. `WordPress
/// database error ...` is [`Event::DatabaseError`] at [`Level::Error`], its
/// message intact (from `WordPress` to the caller list). Other text (a
/// plugin's `error_log()`) has no level and no event, and is accepted only
/// when the time carries a zone, as PHP's logger always writes one.
/// `script` is the file of `in /path on line N`, `in /path:N` or `thrown in
/// /path on line N`; `frames` counts the `#N` lines of a joined stack trace
/// and Xdebug's `PHP   N.` lines. A named zone is read through the
/// time-zone database; an unknown one is a bad time.
///
/// # Errors
/// [`ParseError::Empty`] for a blank block, [`ParseError::Format`] when it
/// does not start with `[time] ` or a zone-less time is followed by an
/// unrecognised message (an FPM error-log line), and
/// [`ParseError::BadField`] / [`ParseError::Truncated`] for a bad time or
/// zone.
///
/// # Performance
/// Prefix comparisons, a reverse substring search for `script` and one
/// `memchr` pass for the frames; no allocation.
pub fn parse(block: &[u8]) -> Result<Record<'_>, ParseError> {
    let block = block.trim_ascii_end();
    if block.is_empty() {
        return Err(ParseError::Empty);
    }
    let (ts, zoned, rest) = bracketed_time(block)?;
    let text = rest.strip_prefix(b" ").ok_or(ParseError::Format)?;
    let mut rec = Record {
        source: LogFormat::WordPress,
        ts_ns: Some(ts),
        ..Record::default()
    };
    if let Some(php) = classify_php(text) {
        rec.level = php.level;
        rec.level_raw = php.level_raw;
        rec.event = php.event;
        rec.message = php.message;
        rec.script = php_script(php.message);
    } else if is_db_error(text) {
        rec.level = Level::Error;
        rec.event = Event::DatabaseError;
        rec.message = text;
    } else if zoned {
        rec.message = text;
    } else {
        return Err(ParseError::Format);
    }
    rec.frames = count_frames(text);
    Ok(rec)
}

/// Whether `line` starts a record: `[` + a PHP date + `]`, unless what
/// follows is one of Xdebug's stack-trace lines (they continue the error
/// they follow). Stack-trace lines (`#0 ...`, `  thrown in ...`) and other
/// text continue the previous record. Only the date's layout is checked,
/// so a record with an impossible date (`[30-Feb-2026 ...]`) stands alone
/// and [`parse`] refuses it.
pub fn starts_record(line: &[u8]) -> bool {
    time_layout_prefix(line)
        .is_some_and(|after| !after.strip_prefix(b" ").is_some_and(is_xdebug_trace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Field;
    use crate::parse::php::PHP_TYPES;
    use proptest::prelude::*;

    const T: i64 = 1_795_341_600 * 1_000_000_000; // 2026-11-22T10:00:00Z

    fn ok(block: &[u8]) -> Record<'_> {
        match parse(block) {
            Ok(r) => r,
            Err(e) => panic!("{e}: {}", String::from_utf8_lossy(block)),
        }
    }

    const UNCAUGHT: &[u8] = b"[22-Nov-2026 10:00:00 UTC] PHP Fatal error:  Uncaught Error: Call to undefined function foo() in /var/www/html/wp-content/plugins/x/x.php:12\nStack trace:\n#0 /var/www/html/wp-includes/class-wp-hook.php(324): foo('')\n#1 {main}\n  thrown in /var/www/html/wp-content/plugins/x/x.php on line 12";

    #[test]
    fn uncaught_fatal_with_stack_trace() {
        let r = ok(UNCAUGHT);
        assert_eq!(r.source, LogFormat::WordPress);
        assert_eq!(r.ts_ns, Some(T));
        assert_eq!((r.level, r.event), (Level::Fatal, Event::PhpFatal));
        assert_eq!((r.level_raw, r.frames), (&b"Fatal error"[..], 2));
        assert_eq!(r.script, b"/var/www/html/wp-content/plugins/x/x.php");
        assert!(
            r.message
                .starts_with(b"Uncaught Error: Call to undefined function foo()")
        );
        assert!(r.message.ends_with(b"on line 12"));
        assert_eq!(r.message.len(), UNCAUGHT.len() - 45);
        // The framer's trailing blank line and CRLF endings are tolerated.
        let mut crlf = UNCAUGHT.to_vec();
        crlf.extend_from_slice(b"\r\n\r\n");
        let r2 = ok(&crlf);
        assert_eq!(
            (r2.event, r2.script, r2.message),
            (r.event, r.script, r.message)
        );
    }

    #[test]
    fn thrown_in_only() {
        // First line cut short (log_errors_max_len): file from "thrown in".
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Fatal error:  Uncaught TypeError: count(): Argument #1 ...\r\nStack trace:\r\n#0 {main}\r\n  thrown in /var/www/html/wp-content/themes/t/functions.php on line 88\r\n");
        assert_eq!(r.script, b"/var/www/html/wp-content/themes/t/functions.php");
    }

    #[test]
    fn warning_notice_deprecated() {
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Warning:  Undefined array key \"x\" in /path/file.php on line 5");
        assert_eq!((r.level, r.event), (Level::Warning, Event::PhpWarning));
        assert_eq!(
            r.message,
            b"Undefined array key \"x\" in /path/file.php on line 5"
        );
        assert_eq!(r.script, b"/path/file.php");
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Notice:  Function wpdb::prepare was called <strong>incorrectly</strong>. in /var/www/html/wp-includes/functions.php on line 6078");
        assert_eq!((r.level, r.event), (Level::Notice, Event::PhpNotice));
        assert_eq!(r.script, b"/var/www/html/wp-includes/functions.php");
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Deprecated:  Creation of dynamic property WP_Foo::$bar is deprecated in /var/www/html/wp-content/plugins/foo/foo.php on line 31");
        assert_eq!((r.level, r.event), (Level::Info, Event::PhpDeprecated));
        assert_eq!(r.script, b"/var/www/html/wp-content/plugins/foo/foo.php");
    }

    #[test]
    fn parse_and_catchable_errors() {
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Parse error:  syntax error, unexpected token \"}\" in /var/www/html/wp-config.php on line 90");
        assert_eq!((r.level, r.event), (Level::Fatal, Event::PhpFatal));
        assert_eq!(r.script, b"/var/www/html/wp-config.php");
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Catchable fatal error:  Object of class WP_Error could not be converted to string in /var/www/html/wp-includes/formatting.php on line 1103");
        assert_eq!((r.level, r.event), (Level::Fatal, Event::PhpFatal));
        assert_eq!(r.script, b"/var/www/html/wp-includes/formatting.php");
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Recoverable fatal error:  Object of class X could not be converted to string in /a/b.php on line 3");
        assert_eq!(
            (r.level, r.event, r.script),
            (Level::Fatal, Event::PhpFatal, &b"/a/b.php"[..])
        );
    }

    #[test]
    fn database_error() {
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] WordPress database error Table 'wp.wp_options' doesn't exist for query SELECT option_value FROM wp_options WHERE option_name = 'siteurl' LIMIT 1 made by require('wp-blog-header.php'), require_once('wp-load.php'), wp_not_installed");
        assert_eq!((r.level, r.event), (Level::Error, Event::DatabaseError));
        assert_eq!(r.level_raw, b"");
        // The message intact: `wpdb::print_error()`'s whole sentence.
        assert_eq!(r.message, &b"WordPress database error Table 'wp.wp_options' doesn't exist for query SELECT option_value FROM wp_options WHERE option_name = 'siteurl' LIMIT 1 made by require('wp-blog-header.php'), require_once('wp-load.php'), wp_not_installed"[..]);
        assert_eq!(r.script, b"");
        // A query written over several lines stays in the one record.
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] WordPress database error You have an error in your SQL syntax for query SELECT *\n\t\t\tFROM wp_posts\n\t\t\tWHERE x made by require('wp-blog-header.php')");
        assert_eq!(r.event, Event::DatabaseError);
        assert!(
            r.message
                .ends_with(b"WHERE x made by require('wp-blog-header.php')")
        );
    }

    #[test]
    fn zones() {
        // Named zones are read through the time-zone database: 11:00 in
        // Berlin in November (CET) is 10:00 UTC; 05:00 in New York (EST).
        let r = ok(b"[22-Nov-2026 11:00:00 Europe/Berlin] PHP Warning:  x in /a.php on line 1");
        assert_eq!(r.ts_ns, Some(T));
        let r = ok(b"[22-Nov-2026 05:00:00 America/New_York] x");
        assert_eq!(r.ts_ns, Some(T));
        // Never silently UTC: an unknown zone is a bad time, at the zone.
        assert_eq!(
            parse(b"[22-Nov-2026 10:00:00 Europe/Atlantis] PHP Warning:  x"),
            Err(ParseError::bad(Field::Time, 22))
        );
        let r = ok(b"[22-Nov-2026 10:00:00] PHP Warning:  x in /a.php on line 1");
        assert_eq!((r.ts_ns, r.event), (Some(T), Event::PhpWarning));
    }

    #[test]
    fn plugin_error_log_output() {
        let r =
            ok(b"[22-Nov-2026 10:00:00 UTC] WooCommerce: payment gateway timeout for order 123");
        // `error_log()` writes no level: none is made up.
        assert_eq!(
            (r.level, r.level_raw, r.event),
            (Level::None, &b""[..], Event::None)
        );
        assert_eq!(
            r.message,
            b"WooCommerce: payment gateway timeout for order 123"
        );
        assert_eq!(r.script, b"");
        // Without a zone, unrecognised text is another format (FPM's log).
        assert_eq!(
            parse(b"[22-Nov-2026 10:00:00] NOTICE: ready to handle connections"),
            Err(ParseError::Format)
        );
        assert_eq!(
            parse(b"[22-Nov-2026 10:00:00]  [pool www] pid 1\nscript_filename = /a.php"),
            Err(ParseError::Format)
        );
    }

    #[test]
    fn rejects_and_edges() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"\n\r\n"), Err(ParseError::Empty));
        assert_eq!(parse(b"Stack trace:"), Err(ParseError::Format));
        assert_eq!(
            parse(b"[22-Nov-2026 10:0"),
            Err(ParseError::Truncated { field: Field::Time })
        );
        // Issue 13: an impossible date is a bad time; the line still starts
        // a record, so it is counted rather than joined to the previous one.
        for line in [
            &b"[30-Feb-2026 10:00:00 UTC] PHP Warning:  x in /a.php on line 1"[..],
            b"[29-Feb-2025 10:00:00 UTC] PHP Warning:  x in /a.php on line 1",
            b"[31-Apr-2026 10:00:00 UTC] PHP Warning:  x in /a.php on line 1",
            b"[22-Nov-2026 24:00:00 UTC] PHP Warning:  x in /a.php on line 1",
        ] {
            let show = String::from_utf8_lossy(line);
            assert_eq!(parse(line), Err(ParseError::bad(Field::Time, 1)), "{show}");
            assert!(starts_record(line), "{show}");
        }
        let r = ok(b"[29-Feb-2024 10:00:00 UTC] PHP Warning:  x in /a.php on line 1");
        assert_eq!(r.ts_ns, Some(1_709_200_800 * 1_000_000_000));
        // Message truncated mid-word: accepted, no script.
        let r =
            ok(b"[22-Nov-2026 10:00:00 UTC] PHP Warning:  Undefined variable $x in /var/www/ht");
        assert_eq!((r.event, r.script), (Event::PhpWarning, &b""[..]));
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Warning:");
        assert_eq!((r.event, r.message), (Event::PhpWarning, &b""[..]));
        // "in" not followed by a path on a colon form is not a script.
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Notice:  waiting in queue:3");
        assert_eq!(r.script, b"");
        let r = ok(b"[22-Nov-2026 10:00:00 UTC] PHP Warning:  Module \"x\" is already loaded in Unknown on line 0");
        assert_eq!(r.script, b"Unknown");
    }

    #[test]
    fn huge_message() {
        let mut b = b"[22-Nov-2026 10:00:00 UTC] PHP Warning:  ".to_vec();
        b.extend(std::iter::repeat_n(b'y', 1 << 20));
        b.extend_from_slice(b" in /a.php on line 7");
        let r = ok(&b);
        assert_eq!((r.event, r.script), (Event::PhpWarning, &b"/a.php"[..]));
    }

    #[test]
    fn record_starts() {
        assert!(starts_record(b"[22-Nov-2026 10:00:00 UTC] PHP Warning:  x"));
        assert!(starts_record(
            b"[22-Nov-2026 10:00:00 America/Argentina/Buenos_Aires] x"
        ));
        assert!(starts_record(b"[22-Nov-2026 10:00:00] x"));
        assert!(!starts_record(b"Stack trace:"));
        assert!(!starts_record(
            b"#0 /var/www/html/wp-includes/class-wp-hook.php(324): foo('')"
        ));
        assert!(!starts_record(b"  thrown in /a.php on line 1"));
        assert!(!starts_record(
            b"[0x00007f3c2a8150a0] curl_exec() /a.php:205"
        ));
        assert!(!starts_record(b"[22-Nov-2026 10:00"));
        assert!(!starts_record(b""));
    }

    use crate::parse::php::tests::{Seen, run_corpus};

    const ALL_PHP: &str = "/tmp/sitepulse-php-corpus/www/all.php";

    /// Runs a corpus written by PHP 8.2 (testdata/php/generate.sh) and
    /// checks it was detected as a WordPress debug.log.
    fn corpus(name: &str, file: &[u8]) -> Vec<Seen> {
        let (r, seen) = run_corpus(name, file);
        assert_eq!(r.source, Some(LogFormat::WordPress), "{name}");
        seen
    }

    /// The span of the FPM logs written in the same runs (FPM ran with
    /// TZ=UTC, so its zone-less times are UTC): every PHP entry falls inside.
    fn fpm_span() -> (i64, i64) {
        let first = fpm_error_first_ts(include_bytes!("testdata/php/fpm-error-debug.log"));
        let last = include_bytes!("testdata/php/fpm-error-notice.log")
            .trim_ascii_end()
            .rsplit(|&c| c == b'\n')
            .next()
            .and_then(|l| crate::parse::fpm_error::parse(l).ok())
            .and_then(|r| r.ts_ns)
            .unwrap();
        (first, last)
    }

    fn fpm_error_first_ts(file: &[u8]) -> i64 {
        let line = file.split(|&c| c == b'\n').next().unwrap();
        crate::parse::fpm_error::parse(line).unwrap().ts_ns.unwrap()
    }

    /// What one request to all.php leaves in debug.log, in order: PHP's
    /// type as written, its level, the event, the frames joined.
    const ALL_PHP_ENTRIES: [(&str, Level, Event, u32); 8] = [
        ("Warning", Level::Warning, Event::PhpWarning, 0),
        ("Notice", Level::Notice, Event::PhpNotice, 0),
        ("Deprecated", Level::Info, Event::PhpDeprecated, 0),
        ("Warning", Level::Warning, Event::PhpWarning, 0),
        ("Deprecated", Level::Info, Event::PhpDeprecated, 0),
        ("", Level::None, Event::None, 0),
        ("", Level::Error, Event::DatabaseError, 0),
        ("Fatal error", Level::Fatal, Event::PhpFatal, 5),
    ];

    fn check_all_php(seen: &[Seen], zone: &str) {
        let (from, to) = fpm_span();
        for (s, want) in seen.iter().zip(ALL_PHP_ENTRIES) {
            assert_eq!(
                (s.level_raw.as_str(), s.level, s.event, s.frames),
                want,
                "{zone}: {s:?}"
            );
            let ts = s.ts_ns.unwrap();
            assert!(
                (from..=to).contains(&ts),
                "{zone}: {ts} outside {from}..{to}"
            );
            if s.event != Event::DatabaseError && s.event != Event::None {
                assert_eq!(s.script, ALL_PHP, "{s:?}");
            }
        }
        assert_eq!(
            seen[5].message,
            "line one of a message\nline two of it\nline three"
        );
        assert_eq!(seen[5].lines, 3);
        assert_eq!(
            seen[6].message,
            "WordPress database error Table 'wp.wp_nope' doesn't exist for query SELECT option_value FROM wp_nope WHERE option_name = 'siteurl' made by require('wp-blog-header.php'), require_once('wp-load.php'), require_once('wp-config.php')"
        );
        assert_eq!(
            seen[7].lines, 8,
            "message, Stack trace:, 5 frames, thrown in"
        );
        assert!(
            seen[7]
                .message
                .starts_with("Uncaught RuntimeException: boom from test in")
        );
        assert!(
            seen[7]
                .message
                .ends_with("  thrown in /tmp/sitepulse-php-corpus/www/all.php on line 14")
        );
        assert_eq!(
            seen[0].message,
            format!("user warning from test in {ALL_PHP} on line 5")
        );
    }

    #[test]
    fn real_debug_log_utc() {
        let seen = corpus(
            "debug-utc.log",
            include_bytes!("testdata/php/debug-utc.log"),
        );
        // Two runs, each: all.php's 8 entries, a user error, a parse error.
        assert_eq!(seen.len(), 20);
        for run in seen.chunks(10) {
            check_all_php(&run[..8], "UTC");
            let fatal = (run[8].level_raw.as_str(), run[8].level, run[8].event);
            assert_eq!(fatal, ("Fatal error", Level::Fatal, Event::PhpFatal));
            assert_eq!(
                run[8].message,
                "user error from test in /tmp/sitepulse-php-corpus/www/usererror.php on line 2"
            );
            let parse = (run[9].level_raw.as_str(), run[9].level, run[9].event);
            assert_eq!(parse, ("Parse error", Level::Fatal, Event::PhpFatal));
            assert_eq!(run[9].script, "/tmp/sitepulse-php-corpus/www/broken.inc");
        }
        // 13:40:25 UTC, as written.
        assert_eq!(
            seen[0].ts_ns,
            crate::time::parse_rfc3339(b"2026-12-03T13:40:25Z")
        );
    }

    #[test]
    fn real_debug_log_named_zones() {
        let seen = corpus(
            "debug-berlin.log",
            include_bytes!("testdata/php/debug-berlin.log"),
        );
        assert_eq!(seen.len(), 16);
        seen.chunks(8)
            .for_each(|run| check_all_php(run, "Europe/Berlin"));
        // `[03-Dec-2026 14:40:27 Europe/Berlin]`: CET, one hour ahead.
        assert_eq!(
            seen[0].ts_ns,
            crate::time::parse_rfc3339(b"2026-12-03T13:40:27Z")
        );
        let seen = corpus(
            "debug-new-york.log",
            include_bytes!("testdata/php/debug-new-york.log"),
        );
        assert_eq!(seen.len(), 16);
        seen.chunks(8)
            .for_each(|run| check_all_php(run, "America/New_York"));
        // `[03-Dec-2026 08:40:28 America/New_York]`: EST, five hours behind.
        assert_eq!(
            seen[0].ts_ns,
            crate::time::parse_rfc3339(b"2026-12-03T13:40:28Z")
        );
    }

    /// Xdebug 3.2 (develop mode) logs its own stack trace, one time-stamped
    /// line per frame: they join the warning they follow.
    #[test]
    fn real_xdebug_stack_traces() {
        let seen = corpus(
            "debug-xdebug.log",
            include_bytes!("testdata/php/debug-xdebug.log"),
        );
        assert_eq!(seen.len(), 2, "{seen:#?}");
        let w = &seen[0];
        assert_eq!(
            (w.level_raw.as_str(), w.event, w.frames, w.lines),
            ("Warning", Event::PhpWarning, 3, 5)
        );
        assert_eq!(w.script, "/tmp/sitepulse-php-corpus/www/xdebug.php");
        assert!(w.message.starts_with("Undefined array key \"missing\" in "));
        let f = &seen[1];
        assert_eq!(
            (f.level_raw.as_str(), f.event, f.frames, f.lines),
            ("Fatal error", Event::PhpFatal, 2, 5)
        );
        assert_eq!(f.script, "/tmp/sitepulse-php-corpus/www/xdebug.php");
    }

    /// A file of many entries of every shape gives exactly one record per
    /// entry (issue 14: 48 entries gave 64 records).
    #[test]
    fn one_record_per_entry() {
        let mut file = Vec::new();
        for part in [
            &include_bytes!("testdata/php/debug-utc.log")[..],
            include_bytes!("testdata/php/debug-berlin.log"),
            include_bytes!("testdata/php/debug-xdebug.log"),
            include_bytes!("testdata/php/debug-new-york.log"),
        ] {
            file.extend_from_slice(part);
        }
        let entries = 20 + 16 + 2 + 16;
        let seen = corpus("all", &file);
        assert_eq!(seen.len(), entries);
        // CRLF line ends change nothing.
        let crlf: Vec<u8> = file
            .iter()
            .flat_map(|&c| if c == b'\n' { vec![b'\r', c] } else { vec![c] })
            .collect();
        let crlf_seen = corpus("crlf", &crlf);
        assert_eq!(crlf_seen.len(), entries);
        for (a, b) in seen.iter().zip(&crlf_seen) {
            assert_eq!(
                (a.ts_ns, a.event, &a.level_raw, a.frames, &a.script),
                (b.ts_ns, b.event, &b.level_raw, b.frames, &b.script)
            );
        }
    }

    pub(crate) const SAMPLE_LINES: &[&[u8]] = &[
        b"[22-Nov-2026 10:00:00 UTC] PHP Fatal error:  Uncaught Error: Call to undefined function foo() in /var/www/html/wp-content/plugins/x/x.php:12",
        b"Stack trace:",
        b"#0 /var/www/html/wp-includes/class-wp-hook.php(324): foo('')",
        b"#1 {main}",
        b"  thrown in /var/www/html/wp-content/plugins/x/x.php on line 12",
        b"[22-Nov-2026 10:00:01 UTC] PHP Warning:  Undefined array key \"x\" in /var/www/html/wp-content/themes/t/header.php on line 5",
        b"[22-Nov-2026 10:00:02 UTC] PHP Deprecated:  strpos(): Passing null to parameter #1 ($haystack) of type string is deprecated in /var/www/html/wp-includes/formatting.php on line 4387",
        b"[22-Nov-2026 10:00:03 UTC] WordPress database error Deadlock found when trying to get lock; try restarting transaction for query UPDATE wp_options SET option_value = '1' made by do_action('init'), WP_Hook->do_action",
        b"[22-Nov-2026 10:00:04 Europe/Berlin] cron: 3 events run",
    ];

    #[test]
    fn detect_picks_wordpress() {
        assert_eq!(
            crate::parse::detect(SAMPLE_LINES.iter().copied()),
            Some(LogFormat::WordPress)
        );
    }

    /// Each format's lines are refused by the other three parsers, so
    /// `detect` cannot confuse them.
    #[test]
    fn formats_do_not_cross() {
        use crate::parse::{fpm_access, fpm_error, fpm_slow};
        let show = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
        for s in fpm_error::tests::SAMPLES {
            assert!(parse(s).is_err(), "{}", show(s));
            assert!(fpm_slow::parse(s).is_err(), "{}", show(s));
            assert!(!fpm_slow::starts_record(s), "{}", show(s));
            assert!(fpm_access::parse(s).is_err(), "{}", show(s));
        }
        for s in SAMPLE_LINES.iter().chain([&UNCAUGHT]) {
            assert!(fpm_error::parse(s).is_err(), "{}", show(s));
            assert!(fpm_slow::parse(s).is_err(), "{}", show(s));
            assert!(!fpm_slow::starts_record(s), "{}", show(s));
            assert!(fpm_access::parse(s).is_err(), "{}", show(s));
        }
        for s in fpm_slow::tests::SAMPLE_LINES {
            assert!(fpm_error::parse(s).is_err(), "{}", show(s));
            assert!(parse(s).is_err(), "{}", show(s));
            assert!(fpm_access::parse(s).is_err(), "{}", show(s));
        }
        for s in fpm_access::tests::SAMPLES {
            assert!(fpm_error::parse(s).is_err(), "{}", show(s));
            assert!(fpm_slow::parse(s).is_err(), "{}", show(s));
            assert!(parse(s).is_err(), "{}", show(s));
            assert!(!starts_record(s), "{}", show(s));
        }
    }

    proptest! {


        /// Oracle: PHP's `"PHP %s:  %s in %s on line %d"` reads back exactly.
        #[test]
        fn php_error_roundtrip(
            ty in 0usize..PHP_TYPES.len(),
            text in "[a-zA-Z0-9 ():$\"'_-]{0,60}",
            file in "/[a-z0-9_/.-]{1,40}",
            line in 0u32..100_000,
        ) {
            let (name, level, event) = PHP_TYPES[ty];
            let name = std::str::from_utf8(name).unwrap();
            let s = format!("[22-Nov-2026 10:00:00 UTC] PHP {name}:  {text} in {file} on line {line}");
            let r = parse(s.as_bytes()).unwrap();
            prop_assert_eq!((r.level, r.event), (level, event));
            prop_assert_eq!(r.level_raw, name.as_bytes());
            prop_assert_eq!(r.script, file.as_bytes());
            prop_assert_eq!(r.ts_ns, Some(T));
        }
    }

    #[test]
    fn never_panics() {
        let mut all = vec![UNCAUGHT];
        all.extend_from_slice(SAMPLE_LINES);
        // Lines PHP 8.2 and Xdebug 3.2 wrote (testdata/php/).
        all.extend_from_slice(&[
            &b"[03-Dec-2026 14:40:27 Europe/Berlin] PHP Warning:  user warning from test in /tmp/sitepulse-php-corpus/www/all.php on line 5"[..],
            b"[03-Dec-2026 08:40:28 America/New_York] WordPress database error Table 'wp.wp_nope' doesn't exist for query SELECT 1 made by require('wp-blog-header.php')",
            b"[03-Dec-2026 13:40:45 UTC] PHP Warning:  Undefined array key \"missing\" in /tmp/x.php on line 2\n[03-Dec-2026 13:40:45 UTC] PHP Stack trace:\n[03-Dec-2026 13:40:45 UTC] PHP   1. {main}() /tmp/x.php:0",
        ]);
        crate::parse::test_support::never_panics(
            |line| {
                let _ = parse(line);
                let _ = starts_record(line);
                let _ = php_script(line);
            },
            &all,
        );
    }
}
