//! The FPM error-log parser's tests: lines from php-src's own format
//! strings, and the corpora php-fpm 8.2 wrote (testdata/php/).
use super::*;
use crate::parse::Field;
use proptest::prelude::*;

const T: i64 = 1_795_341_600 * 1_000_000_000; // 2026-11-22T10:00:00Z

fn ok(line: &[u8]) -> Record<'_> {
    match parse(line) {
        Ok(r) => r,
        Err(e) => panic!("{e}: {}", String::from_utf8_lossy(line)),
    }
}

#[test]
fn max_children_dynamic_and_ondemand() {
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it");
    assert_eq!(r.source, LogFormat::FpmError);
    assert_eq!(r.ts_ns, Some(T));
    assert_eq!(r.level, Level::Warning);
    assert_eq!(r.event, Event::MaxChildrenReached);
    assert_eq!(r.pool, b"www");
    assert_eq!(r.pid, 0);
    assert_eq!(
        r.message,
        b"server reached pm.max_children setting (5), consider raising it"
    );
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool site042] server reached max_children setting (10), consider raising it");
    assert_eq!(r.event, Event::MaxChildrenReached);
    assert_eq!(r.pool, b"site042");
}

#[test]
fn child_exited_with_code() {
    let r = ok(b"[22-Nov-2026 10:00:00] NOTICE: [pool www] child 123 exited with code 0 after 12.345678 seconds from start");
    assert_eq!(r.level, Level::Notice);
    assert_eq!(r.event, Event::ChildExited);
    assert_eq!(r.pid, 123);
    assert_eq!(r.pool, b"www");
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 124 exited with code 255 after 0.5 seconds from start");
    assert_eq!(
        (r.level, r.event, r.pid),
        (Level::Warning, Event::ChildExited, 124)
    );
}

#[test]
fn child_exited_on_signal() {
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 123 exited on signal 9 (SIGKILL) after 30.001234 seconds from start");
    assert_eq!(
        (r.level, r.event, r.pid),
        (Level::Warning, Event::ChildTerminated, 123)
    );
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 7 exited on signal 11 (SIGSEGV - core dumped) after 1.000000 seconds from start");
    assert_eq!((r.event, r.pid), (Event::ChildTerminated, 7));
    let r = ok(b"[22-Nov-2026 10:00:00] NOTICE: [pool www] child 8 exited on signal 3 (SIGQUIT) after 100.000000 seconds from start");
    assert_eq!(
        (r.level, r.event, r.pid),
        (Level::Notice, Event::ChildExited, 8)
    );
}

#[test]
fn execution_timed_out() {
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 123, script '/var/www/html/index.php' (request: \"GET /index.php\") execution timed out (31.000123 sec), terminating");
    assert_eq!(r.level, Level::Warning);
    assert_eq!(r.event, Event::RequestTimeout);
    assert_eq!(r.pid, 123);
    assert_eq!(r.pool, b"www");
    assert_eq!(r.script, b"/var/www/html/index.php");
    assert_eq!(r.method, b"GET");
    assert_eq!(r.path, b"/index.php");
    assert_eq!(r.duration_ns, Some(31_000_123_000));
}

#[test]
fn executing_too_slow() {
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 99, script '/var/www/html/wp-cron.php' (request: \"POST /wp-cron.php?doing_wp_cron=1795341600.1\") executing too slow (5.123456 sec), logging");
    assert_eq!(r.event, Event::SlowRequest);
    assert_eq!(r.pid, 99);
    assert_eq!(r.script, b"/var/www/html/wp-cron.php");
    assert_eq!(r.method, b"POST");
    assert_eq!(r.path, b"/wp-cron.php?doing_wp_cron=1795341600.1");
    assert_eq!(r.duration_ns, Some(5_123_456_000));
}

#[test]
fn seems_busy() {
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers), spawning 8 children, there are 0 idle, and 12 total children");
    assert_eq!((r.level, r.event), (Level::Warning, Event::SeemsBusy));
    assert_eq!(r.pool, b"www");
}

#[test]
fn child_started() {
    let r = ok(b"[22-Nov-2026 10:00:00] NOTICE: [pool www] child 456 started");
    assert_eq!(
        (r.level, r.event, r.pid),
        (Level::Notice, Event::ChildStarted, 456)
    );
    assert_eq!(r.message, b"child 456 started");
}

#[test]
fn lifecycle() {
    let r = ok(b"[22-Nov-2026 10:00:00] NOTICE: fpm is running, pid 1");
    assert_eq!(
        (r.level, r.event, r.pid),
        (Level::Notice, Event::Lifecycle, 1)
    );
    assert_eq!(r.pool, b"");
    for line in [
        &b"[22-Nov-2026 10:00:00] NOTICE: ready to handle connections"[..],
        b"[22-Nov-2026 10:00:00] NOTICE: Reloading in progress ...",
        b"[22-Nov-2026 10:00:00] NOTICE: Terminating ...",
        b"[22-Nov-2026 10:00:00] NOTICE: exiting, bye-bye!",
        b"[22-Nov-2026 10:00:00] NOTICE: reloading: execvp(\"/usr/sbin/php-fpm\", {\"/usr/sbin/php-fpm\", \"--nodaemonize\"})",
    ] {
        assert_eq!(ok(line).event, Event::Lifecycle, "{}", String::from_utf8_lossy(line));
    }
}

#[test]
fn error_and_alert_levels() {
    let r = ok(b"[22-Nov-2026 10:00:00] ERROR: unable to bind listening socket for address '/run/php/www.sock': Address already in use (98)");
    assert_eq!((r.level, r.event), (Level::Error, Event::None));
    assert_eq!(r.message, b"unable to bind listening socket for address '/run/php/www.sock': Address already in use (98)");
    let r = ok(b"[22-Nov-2026 10:00:00] ALERT: oops, unknown child (4242) exited on signal 9 (SIGKILL). Please open a bug report (https://bugs.php.net).");
    assert_eq!((r.level, r.event), (Level::Alert, Event::None));
}

/// zlog.c's `level_names[]`, as written: DEBUG, NOTICE, WARNING,
/// ERROR, ALERT (issue 14: ALERT and others read as fatal).
#[test]
fn levels_as_written() {
    for (word, level) in [
        ("DEBUG", Level::Debug),
        ("NOTICE", Level::Notice),
        ("WARNING", Level::Warning),
        ("ERROR", Level::Error),
        ("ALERT", Level::Alert),
    ] {
        let line = format!("[22-Nov-2026 10:00:00] {word}: [pool www] something");
        let r = ok(line.as_bytes());
        assert_eq!((r.level, r.level_raw), (level, word.as_bytes()), "{word}");
        assert_eq!((r.pool, r.message), (&b"www"[..], &b"something"[..]));
    }
    for bad in ["Notice", "WARN", "FATAL", "CRITICAL", "NOTICE "] {
        let line = format!("[22-Nov-2026 10:00:00] {bad}: x");
        assert_eq!(parse(line.as_bytes()), Err(ParseError::Format), "{bad}");
    }
}

/// Lines of testdata/php/fpm-error-config.log: php-fpm 8.2 refusing a
/// pool with `pm.max_children = 0`.
#[test]
fn real_config_errors() {
    let (_, seen) = php::tests::run_corpus(
        "fpm-error-config.log",
        include_bytes!("../testdata/php/fpm-error-config.log"),
    );
    let got: Vec<_> = seen
        .iter()
        .map(|s| {
            (
                s.level,
                s.level_raw.as_str(),
                s.pool.as_str(),
                s.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Level::Alert,
                "ALERT",
                "bad",
                "pm.max_children must be a positive value"
            ),
            (
                Level::Error,
                "ERROR",
                "",
                "failed to post process the configuration"
            ),
            (Level::Error, "ERROR", "", "FPM initialization failed"),
        ]
    );
}

#[test]
fn child_said_php_errors() {
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 12 said into stderr: \"PHP Fatal error:  Uncaught Error: Call to undefined function foo() in /var/www/html/wp-content/plugins/x/x.php:12\"");
    assert_eq!(
        (r.level, r.event, r.pid),
        (Level::Fatal, Event::PhpFatal, 12)
    );
    assert_eq!(r.pool, b"www");
    assert_eq!(r.script, b"/var/www/html/wp-content/plugins/x/x.php");
    assert_eq!(
        r.message,
        b"Uncaught Error: Call to undefined function foo() in /var/www/html/wp-content/plugins/x/x.php:12"
    );
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 13 said into stderr: \"NOTICE: PHP message: PHP Warning:  Undefined array key \"x\" in /var/www/html/a.php on line 5\", pipe is closed");
    assert_eq!(
        (r.level, r.event, r.pid),
        (Level::Warning, Event::PhpWarning, 13)
    );
    assert_eq!(r.script, b"/var/www/html/a.php");
    assert_eq!(
        r.message,
        b"Undefined array key \"x\" in /var/www/html/a.php on line 5"
    );
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 14 said into stdout: \"hello\"");
    assert_eq!((r.level, r.event, r.pid), (Level::Warning, Event::None, 14));
    assert_eq!(r.message, b"hello");
}

#[test]
fn debug_microseconds() {
    let r = ok(b"[22-Nov-2026 10:00:00.123456] DEBUG: pid 1, fpm_scoreboard_init(), line 45: initializing scoreboard");
    assert_eq!(r.ts_ns, Some(T + 123_456_000));
    assert_eq!((r.level, r.event, r.pid), (Level::Debug, Event::None, 1));
    assert_eq!(r.message, b"initializing scoreboard");
    let r = ok(b"[22-Nov-2026 10:00:00.000001] NOTICE: pid 1, fpm_children_make(), line 400: [pool www] child 77 started");
    assert_eq!(r.ts_ns, Some(T + 1_000));
    assert_eq!((r.event, r.pid), (Event::ChildStarted, 77));
    assert_eq!(r.pool, b"www");
}

#[test]
fn crlf_and_unknown() {
    let r = ok(b"[22-Nov-2026 10:00:00] NOTICE: [pool www] child 456 started\r\n");
    assert_eq!((r.event, r.pid), (Event::ChildStarted, 456));
    assert_eq!(r.message, b"child 456 started");
    let r = ok(b"[22-Nov-2026 10:00:00] NOTICE: something new in PHP 9\r");
    assert_eq!((r.level, r.event), (Level::Notice, Event::None));
    assert_eq!(r.message, b"something new in PHP 9");
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING:");
    assert_eq!((r.level, r.message), (Level::Warning, &b""[..]));
}

#[test]
fn rejects() {
    assert_eq!(parse(b""), Err(ParseError::Empty));
    assert_eq!(parse(b" \r\n"), Err(ParseError::Empty));
    assert_eq!(parse(b"hello"), Err(ParseError::Format));
    assert_eq!(
        parse(b"[22-Nov-2026 10:00:00 UTC] PHP Warning:  x in /a.php on line 1"),
        Err(ParseError::Format)
    );
    assert_eq!(
        parse(b"[22-Nov-2026 10:00:00]  [pool www] pid 12345"),
        Err(ParseError::Format)
    );
    assert_eq!(
        parse(b"[0x00007f3c2a8150a0] curl_exec() /a.php:205"),
        Err(ParseError::Format)
    );
    assert_eq!(
        parse(b"[22-Nov-2026 10:00"),
        Err(ParseError::Truncated { field: Field::Time })
    );
    assert_eq!(
        parse(b"[22-Foo-2026 10:00:00] NOTICE: x"),
        Err(ParseError::bad(Field::Time, 1))
    );
    // Issue 13: impossible dates are bad times.
    for line in [
        &b"[30-Feb-2026 10:00:00] NOTICE: x"[..],
        b"[29-Feb-2025 10:00:00] NOTICE: x",
        b"[31-Apr-2026 10:00:00] NOTICE: x",
        b"[22-Nov-2026 24:00:00] NOTICE: x",
    ] {
        let show = String::from_utf8_lossy(line);
        assert_eq!(parse(line), Err(ParseError::bad(Field::Time, 1)), "{show}");
    }
    assert!(parse(b"[29-Feb-2024 10:00:00] NOTICE: fpm is running, pid 1").is_ok());
    // Years whose nanoseconds overflow an i64 are refused, not wrapped.
    assert_eq!(
        parse(b"[22-Nov-9999 10:00:00] NOTICE: x"),
        Err(ParseError::bad(Field::Time, 1))
    );
    assert_eq!(
        parse(b"[22-Nov-0000 10:00:00] NOTICE: x"),
        Err(ParseError::bad(Field::Time, 1))
    );
    assert_eq!(
        parse(b"[22-Nov-2026 10:00:00] NOTICEX: x"),
        Err(ParseError::Format)
    );
}

#[test]
fn truncated_message_fields() {
    // Cut inside the request: event stays unset, nothing panics.
    let r = ok(
        b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 9, script '/a.php' (request: \"GET /a",
    );
    assert_eq!((r.pid, r.event), (9, Event::None));
    assert_eq!(r.script, b"/a.php");
    let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www");
    assert_eq!(r.pool, b"");
    assert_eq!(r.message, b"[pool www");
}

#[test]
fn huge_message() {
    let mut line =
        b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 1 said into stderr: \"".to_vec();
    line.extend(std::iter::repeat_n(b'x', 1 << 20));
    line.extend_from_slice(b"...\"");
    let r = ok(&line);
    assert_eq!(r.pid, 1);
    assert_eq!(r.message.len(), (1 << 20) + 3);
}

const ALL_PHP: &str = "/tmp/sitepulse-php-corpus/www/all.php";

/// What the `stderr` pool's child (catch_workers_output, no PHP
/// error_log) said about one request to all.php, line by line: FPM's
/// level or PHP's type as written, the level, the event, the message.
/// PHP 8.2's child logger wrote each PHP message, FPM one record per
/// line of it.
fn check_child_said(seen: &[php::tests::Seen], child: u32) {
    let said: Vec<_> = seen
        .iter()
        .filter(|s| s.pool == "stderr" && s.pid == child && s.level_raw != "DEBUG")
        .filter(|s| s.event != Event::RequestTimeout && s.event != Event::ChildTerminated)
        .collect();
    let x = |n: usize| "x".repeat(n);
    // log_limit = 1024: 3000 x's in four slices, each line 1024 bytes
    // plus the quote and newline; the prefix is shorter without debug.
    let got: Vec<_> = said
        .iter()
        .map(|s| (s.level_raw.as_str(), s.level, s.event, s.frames))
        .collect();
    let mut want = vec![
        ("Warning", Level::Warning, Event::PhpWarning, 0),
        ("Notice", Level::Notice, Event::PhpNotice, 0),
        ("Deprecated", Level::Info, Event::PhpDeprecated, 0),
        ("Warning", Level::Warning, Event::PhpWarning, 0),
        ("Deprecated", Level::Info, Event::PhpDeprecated, 0),
        ("NOTICE", Level::Notice, Event::None, 0),
        ("WARNING", Level::Warning, Event::None, 0),
        ("WARNING", Level::Warning, Event::None, 0),
        ("NOTICE", Level::Error, Event::DatabaseError, 0),
    ];
    want.extend([("WARNING", Level::Warning, Event::None, 0); 5]);
    want.push(("Fatal error", Level::Fatal, Event::PhpFatal, 0));
    want.push(("WARNING", Level::Warning, Event::None, 0));
    want.extend([("WARNING", Level::Warning, Event::None, 1); 5]);
    want.push(("WARNING", Level::Warning, Event::None, 0));
    assert_eq!(got, want);
    assert_eq!(
        said[0].message,
        format!("user warning from test in {ALL_PHP} on line 5")
    );
    assert_eq!(said[0].script, ALL_PHP);
    assert_eq!(said[5].message, "line one of a message");
    assert_eq!(said[6].message, "line two of it");
    assert_eq!(said[7].message, "line three");
    assert_eq!(
        said[8].message,
        "WordPress database error Table 'wp.wp_nope' doesn't exist for query SELECT option_value FROM wp_nope WHERE option_name = 'siteurl' made by require('wp-blog-header.php'), require_once('wp-load.php'), require_once('wp-config.php')"
    );
    let slices: Vec<usize> = said[9..13].iter().map(|s| s.message.len()).collect();
    assert_eq!(slices.iter().sum::<usize>(), 3000);
    assert!(
        said[9..13]
            .iter()
            .all(|s| s.message.bytes().all(|c| c == b'x'))
    );
    assert_eq!(said[9].message, x(slices[0]));
    assert_eq!(said[13].message, "second stderr line");
    assert_eq!(
        said[14].message,
        format!("Uncaught RuntimeException: boom from test in {ALL_PHP}:14")
    );
    assert_eq!(said[14].script, ALL_PHP);
    assert_eq!(said[15].message, "Stack trace:");
    assert_eq!(said[16].message, format!("#0 {ALL_PHP}(14): deep()"));
    assert_eq!(said[20].message, "#4 {main}");
    assert_eq!(
        said[21].message,
        format!("  thrown in {ALL_PHP} on line 14")
    );
}

/// php-fpm 8.2 with `log_level = debug` (testdata/php/generate.sh):
/// every line a record with its level as written; the master's pid and
/// `func(), line N:` prefix (also `(null)()` for what children said)
/// taken off the message.
#[test]
fn real_debug_log() {
    let file = include_bytes!("../testdata/php/fpm-error-debug.log");
    let (r, seen) = php::tests::run_corpus("fpm-error-debug.log", file);
    assert_eq!(r.source, Some(LogFormat::FpmError));
    assert_eq!(seen.len(), 90);
    assert!(seen.iter().all(|s| s.source == LogFormat::FpmError));
    let raw = |w: &str| seen.iter().filter(|s| s.level_raw == w).count();
    // As written (grep -c): 51 DEBUG, 9 NOTICE, 30 WARNING lines; the
    // 6 WARNING lines carrying a PHP error show PHP's type instead, and
    // the 2 a child wrote at NOTICE its level.
    assert_eq!(
        (raw("DEBUG"), raw("NOTICE"), raw("WARNING")),
        (51, 9 + 2, 30 - 6 - 2)
    );
    let master = 13845;
    for s in &seen {
        assert!(s.pid != 0, "{s:?}");
        assert!(!s.message.starts_with("pid "), "{s:?}");
        assert!(!s.message.contains("(), line "), "{s:?}");
        // The master's own lines carry its pid; `child N stopped for
        // tracing` (no pool) the child's.
        if s.pool.is_empty() && !s.message.starts_with("child ") {
            assert_eq!(s.pid, master, "{s:?}");
        }
    }
    let first = &seen[3];
    assert_eq!(
        (first.event, first.pid, first.message.as_str()),
        (Event::Lifecycle, master, "fpm is running, pid 13845")
    );
    assert_eq!(
        first.ts_ns,
        crate::time::parse_rfc3339(b"2026-12-03T13:40:23.867518Z")
    );
    let started: Vec<_> = seen
        .iter()
        .filter(|s| s.event == Event::ChildStarted)
        .map(|s| (s.pool.as_str(), s.pid))
        .collect();
    assert_eq!(
        started,
        [
            ("www", 13848),
            ("berlin", 13849),
            ("newyork", 13850),
            ("stderr", 13851),
            ("stderr", 14282)
        ]
    );
    let slow = seen.iter().find(|s| s.event == Event::SlowRequest).unwrap();
    assert_eq!(
        (slow.pool.as_str(), slow.pid, slow.script.as_str()),
        ("www", 13848, ALL_PHP)
    );
    let timeout = seen
        .iter()
        .find(|s| s.event == Event::RequestTimeout)
        .unwrap();
    assert_eq!((timeout.pool.as_str(), timeout.pid), ("stderr", 13851));
    // The timed-out child's SIGTERM is a killed request; the four
    // SIGTERMs of the shutdown (logged at DEBUG) are not.
    let killed: Vec<_> = seen
        .iter()
        .filter(|s| s.event == Event::ChildTerminated)
        .map(|s| s.pid)
        .collect();
    assert_eq!(killed, [13851]);
    check_child_said(&seen, 13851);
    // The www pool's child (PHP errors went to its error_log) said only
    // the stderr text.
    let www: Vec<_> = seen
        .iter()
        .filter(|s| {
            s.pool == "www" && s.pid == 13848 && s.level_raw == "WARNING" && s.event == Event::None
        })
        .map(|s| s.message.len())
        .collect();
    assert_eq!(www.iter().sum::<usize>(), 3000 + "second stderr line".len());
}

/// The same requests with `log_level = notice`: no debug prefix, the
/// child's own logger writes `NOTICE: PHP message: ...`.
#[test]
fn real_notice_log() {
    let file = include_bytes!("../testdata/php/fpm-error-notice.log");
    let (r, seen) = php::tests::run_corpus("fpm-error-notice.log", file);
    assert_eq!(r.source, Some(LogFormat::FpmError));
    assert_eq!(seen.len(), 39);
    let raw = |w: &str| seen.iter().filter(|s| s.level_raw == w).count();
    assert_eq!((raw("NOTICE"), raw("WARNING")), (9 + 2, 30 - 6 - 2));
    let child = seen
        .iter()
        .find(|s| s.event == Event::RequestTimeout)
        .unwrap()
        .pid;
    check_child_said(&seen, child);
    assert_eq!(seen[0].message, "fpm is running, pid 14284");
    assert_eq!(seen[0].pid, 14284);
    assert_eq!(
        seen[0].ts_ns,
        crate::time::parse_rfc3339(b"2026-12-03T13:40:34Z")
    );
}

pub(crate) const SAMPLES: &[&[u8]] = &[
    b"[22-Nov-2026 10:00:00] NOTICE: fpm is running, pid 1",
    b"[22-Nov-2026 10:00:00] NOTICE: ready to handle connections",
    b"[22-Nov-2026 10:00:01] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it",
    b"[22-Nov-2026 10:00:02] WARNING: [pool www] child 123, script '/var/www/html/index.php' (request: \"GET /index.php\") execution timed out (31.000000 sec), terminating",
    b"[22-Nov-2026 10:00:03] WARNING: [pool www] child 123 exited on signal 15 (SIGTERM) after 31.5 seconds from start",
    b"[22-Nov-2026 10:00:03] NOTICE: [pool www] child 456 started",
    b"[22-Nov-2026 10:00:04] WARNING: [pool www] child 12 said into stderr: \"NOTICE: PHP message: PHP Fatal error:  Allowed memory size of 134217728 bytes exhausted (tried to allocate 20480 bytes) in /var/www/html/wp-includes/wp-db.php on line 2056\"",
    b"[22-Nov-2026 10:00:05.123456] DEBUG: pid 1, fpm_pctl_perform_idle_server_maintenance(), line 378: [pool www] currently 0 active children, 2 spare children, 2 running children. Spawning rate 1\r",
];

#[test]
fn samples_parse() {
    for s in SAMPLES {
        ok(s);
    }
}

#[test]
fn detect_picks_fpm_error() {
    assert_eq!(
        crate::parse::detect(SAMPLES.iter().copied()),
        Some(LogFormat::FpmError)
    );
}

proptest! {


    /// Oracle: a formatted `child N started` line reads back exactly.
    #[test]
    fn child_started_roundtrip(pool in "[a-z0-9_.-]{1,20}", pid in 1u32..4_000_000, us in 0u32..1_000_000) {
        let line = format!("[22-Nov-2026 10:00:00.{us:06}] NOTICE: [pool {pool}] child {pid} started");
        let r = parse(line.as_bytes()).unwrap();
        prop_assert_eq!(r.ts_ns, Some(T + i64::from(us) * 1000));
        prop_assert_eq!(r.pool, pool.as_bytes());
        prop_assert_eq!(r.pid, pid);
        prop_assert_eq!(r.event, Event::ChildStarted);
    }
}

/// Lines php-fpm 8.2 wrote (testdata/php/fpm-error-debug.log) beside the
/// documented ones: a panic on any mutation of them fails.
const REAL: &[&[u8]] = &[
    b"[03-Dec-2026 13:40:29.745108] WARNING: pid 13845, (null)(), line 0: [pool stderr] child 13851 said into stderr: \"NOTICE: sapi_cgi_log_message(), line 632: PHP message: PHP Warning:  user warning from test in /tmp/sitepulse-php-corpus/www/all.php on line 5\"",
    b"[03-Dec-2026 13:40:29.745194] WARNING: pid 13845, (null)(), line 0: [pool stderr] child 13851 said into stderr: \"#0 /tmp/sitepulse-php-corpus/www/all.php(14): deep()\"",
    b"[03-Dec-2026 13:40:04] ALERT: [pool bad] pm.max_children must be a positive value",
];

#[test]
fn never_panics() {
    let mut all = SAMPLES.to_vec();
    all.extend_from_slice(REAL);
    crate::parse::test_support::never_panics(|line| drop(parse(line)), &all);
}

/// The forms of a child's words: php-fpm 8.2 at debug level (the master's
/// `(null)()` prefix, the child's `func(), line N:`), at notice level, and
/// a line older FPMs cut at `log_limit` with `...` and no closing quote
/// (`zlog_truncate_buf()`, php-src 7.2 zlog.c).
#[test]
fn child_said_forms() {
    let r = ok(REAL[0]);
    assert_eq!((r.pid, r.pool), (13851, &b"stderr"[..]));
    assert_eq!(
        (r.level, r.level_raw, r.event),
        (Level::Warning, &b"Warning"[..], Event::PhpWarning)
    );
    assert_eq!(
        r.message,
        b"user warning from test in /tmp/sitepulse-php-corpus/www/all.php on line 5"
    );
    assert_eq!(r.script, b"/tmp/sitepulse-php-corpus/www/all.php");
    let r = ok(REAL[1]);
    assert_eq!((r.level_raw, r.frames), (&b"WARNING"[..], 1));
    assert_eq!(
        r.message,
        b"#0 /tmp/sitepulse-php-corpus/www/all.php(14): deep()"
    );
    let r = ok(b"[03-Dec-2026 13:40:29] WARNING: [pool stderr] child 7 said into stderr: \"NOTICE: PHP message: line one of a message\"");
    assert_eq!(
        (r.level, r.level_raw, r.event),
        (Level::Notice, &b"NOTICE"[..], Event::None)
    );
    assert_eq!(r.message, b"line one of a message");
    let r = ok(b"[03-Dec-2026 13:40:29] WARNING: [pool www] child 7 said into stderr: \"NOTICE: PHP message: WordPress database error Deadlock found for query UPDATE x made by f\", pipe is closed");
    assert_eq!((r.level, r.event), (Level::Error, Event::DatabaseError));
    assert_eq!(
        r.message,
        b"WordPress database error Deadlock found for query UPDATE x made by f"
    );
    let r =
        ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 7 said into stderr: \"xxxxxxxx...");
    assert_eq!((r.pid, r.message), (7, &b"xxxxxxxx..."[..]));
}
