//! PHP-FPM master error log (`error_log` in `php-fpm.conf`): one line per
//! record, `[22-Nov-2026 10:00:00] WARNING: [pool www] server reached
//! pm.max_children setting (5), consider raising it`. Messages are matched
//! against the texts php-src writes (`sapi/fpm/fpm/*.c`) and typed as
//! [`Event`]s the aggregator counts.

use std::sync::LazyLock;

use memchr::memmem;

use crate::parse::ParseError;
use crate::parse::php::{self, bracketed_time};
use crate::parse::trim_eol;
use crate::record::{Event, Level, LogFormat, Record};
use crate::time;

/// `child N, script '...' (request: "...") ...` (`fpm_request.c`): the
/// script ends where the request starts.
static REQUEST_OPEN: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"' (request: \""));

/// Parses one FPM error-log line. A trailing `\r` or `\n` is ignored.
///
/// Sets `ts_ns`, `level` (`ALERT` becomes [`Level::Fatal`]), `pool`, `pid`
/// (the child's, else the master's from `fpm is running, pid N` or the
/// `log_level = debug` prefix), `message` (the text after the level, the
/// debug prefix and `[pool ...]`) and `event`. Slow and timed-out requests
/// also set `script`, `method`, `path` and `duration_ns`; PHP errors a child
/// wrote to stderr set `level`, `event`, `message` and `script` from the
/// PHP message. Well-formed lines with an unrecognised message get
/// [`Event::None`].
///
/// # Errors
/// [`ParseError::Empty`] for a blank line, [`ParseError::Format`] when the
/// line does not start with `[time] LEVEL:`, and [`ParseError::BadField`]
/// for an unreadable time.
///
/// # Performance
/// Prefix comparisons and `memchr`; no allocation.
pub fn parse(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let line = trim_eol(line);
    if line.trim_ascii().is_empty() {
        return Err(ParseError::Empty);
    }
    let (ts, _zoned, rest) = bracketed_time(line)?;
    let rest = rest.strip_prefix(b" ").ok_or(ParseError::Format)?;
    let (level, mut msg) = split_level(rest).ok_or(ParseError::Format)?;
    let mut rec = Record {
        source: LogFormat::FpmError,
        ts_ns: Some(ts),
        level,
        ..Record::default()
    };
    // zlog_buf_prefix() with log_level = debug: "pid %d, %s(), line %d: ".
    if let Some((pid, after)) = debug_prefix(msg) {
        rec.pid = pid;
        msg = after;
    }
    if let Some(after) = msg.strip_prefix(b"[pool ")
        && let Some(end) = memchr::memchr(b']', after)
    {
        rec.pool = &after[..end];
        let after = &after[end + 1..];
        msg = after.strip_prefix(b" ").unwrap_or(after);
    }
    rec.message = msg;
    classify(&mut rec, msg);
    Ok(rec)
}

/// `zlog.c` `level_names[]`, each followed by `": "` (or ending the line).
fn split_level(rest: &[u8]) -> Option<(Level, &[u8])> {
    const LEVELS: [(&[u8], Level); 5] = [
        (b"DEBUG:", Level::Debug),
        (b"NOTICE:", Level::Notice),
        (b"WARNING:", Level::Warning),
        (b"ERROR:", Level::Error),
        (b"ALERT:", Level::Fatal),
    ];
    LEVELS.iter().find_map(|&(name, level)| {
        let after = rest.strip_prefix(name)?;
        match after {
            [] => Some((level, after)),
            [b' ', msg @ ..] => Some((level, msg)),
            _ => None,
        }
    })
}

/// `pid 1, fpm_scoreboard_init(), line 45: ` → (1, rest).
fn debug_prefix(msg: &[u8]) -> Option<(u32, &[u8])> {
    let rest = msg.strip_prefix(b"pid ")?;
    let (pid, rest) = leading_u32(rest)?;
    let rest = rest.strip_prefix(b", ")?;
    let open = memchr::memchr(b'(', rest.get(..128).unwrap_or(rest))?;
    if rest[..open].contains(&b' ') {
        return None;
    }
    let rest = rest[open..].strip_prefix(b"(), line ")?;
    let (_, rest) = leading_u32(rest)?;
    let rest = rest.strip_prefix(b":")?;
    Some((pid, rest.strip_prefix(b" ").unwrap_or(rest)))
}

/// Leading decimal digits as a `u32`, and the rest.
fn leading_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let (digits, rest) = (b.get(..n)?, b.get(n..)?);
    let v = u32::try_from(time::parse_u64(digits)?).ok()?;
    Some((v, rest))
}

/// Sets `event` (and the fields some messages carry) from the message text
/// after the pool.
fn classify<'b>(rec: &mut Record<'b>, msg: &'b [u8]) {
    // fpm_process_ctl.c: "[pool %s] server reached pm.max_children setting
    // (%d), consider raising it" (dynamic) and "... server reached
    // max_children setting (%d) ..." (ondemand).
    if msg.starts_with(b"server reached pm.max_children setting")
        || msg.starts_with(b"server reached max_children setting")
    {
        rec.event = Event::MaxChildrenReached;
    // fpm_process_ctl.c: "[pool %s] seems busy (you may need to increase
    // pm.start_servers, or pm.min/max_spare_servers), spawning %d children,
    // there are %d idle, and %d total children".
    } else if msg.starts_with(b"seems busy") {
        rec.event = Event::SeemsBusy;
    } else if let Some(rest) = msg.strip_prefix(b"child ") {
        classify_child(rec, rest);
    // fpm.c: "fpm is running, pid %d".
    } else if let Some(rest) = msg.strip_prefix(b"fpm is running, pid ") {
        rec.event = Event::Lifecycle;
        if let Some((pid, _)) = leading_u32(rest) {
            rec.pid = pid;
        }
    } else if is_lifecycle(msg) {
        rec.event = Event::Lifecycle;
    }
}

/// Master state changes: fpm_events.c (`ready to handle connections`,
/// `Reloading in progress ...`, `Terminating ...`, `Finishing ...`, log
/// re-opens on SIGUSR1), fpm_process_ctl.c (`reloading: execvp(...)`,
/// `exiting, bye-bye!`) and fpm_children.c (`failed processes threshold
/// (%d in %d sec) is reached, initiating reload`).
fn is_lifecycle(msg: &[u8]) -> bool {
    const LIFECYCLE: [&[u8]; 9] = [
        b"ready to handle connections",
        b"Reloading in progress",
        b"reloading: execvp(",
        b"Terminating ...",
        b"Finishing ...",
        b"exiting, bye-bye!",
        b"error log file re-opened",
        b"access log file re-opened",
        b"failed processes threshold",
    ];
    LIFECYCLE.iter().any(|p| msg.starts_with(p))
}

/// `child N ...` messages; `rest` starts at the pid.
fn classify_child<'b>(rec: &mut Record<'b>, rest: &'b [u8]) {
    let Some((pid, rest)) = leading_u32(rest) else {
        return;
    };
    rec.pid = pid;
    // fpm_children.c: "[pool %s] child %d started".
    if rest == b" started" {
        rec.event = Event::ChildStarted;
    // fpm_children.c: "[pool %s] child %d exited %s after %ld.%06d seconds
    // from start" with "with code %d" or "on signal %d (%s%s)".
    } else if rest.starts_with(b" exited with code ")
        || rest.starts_with(b" has been killed by the process management")
    {
        rec.event = Event::ChildExited;
    } else if let Some(sig) = rest.strip_prefix(b" exited on signal ") {
        // SIGQUIT is FPM's graceful stop (reload, idle kill); fpm_children.c
        // logs it at NOTICE because no request is lost. Others kill work.
        rec.event = match leading_u32(sig) {
            Some((3, _)) => Event::ChildExited,
            _ => Event::ChildTerminated,
        };
    } else if let Some(rest) = rest.strip_prefix(b", script '") {
        slow_or_timeout(rec, rest);
    // fpm_stdio.c: "[pool %s] child %d said into %s: " + quoted output,
    // optionally followed by ", pipe is closed".
    } else if let Some(out) = rest
        .strip_prefix(b" said into stderr: ")
        .or_else(|| rest.strip_prefix(b" said into stdout: "))
    {
        child_said(rec, out);
    }
}

/// fpm_request.c: `script '%s' (request: "%s %s%s%s") executing too slow
/// (%d.%06d sec), logging` and `... execution timed out (%d.%06d sec),
/// terminating`. `rest` starts after `script '`.
fn slow_or_timeout<'b>(rec: &mut Record<'b>, rest: &'b [u8]) {
    let Some(end) = REQUEST_OPEN.find(rest) else {
        return;
    };
    rec.script = &rest[..end];
    let rest = &rest[end + REQUEST_OPEN.needle().len()..];
    let Some(close) = memchr::memrchr(b'"', rest) else {
        return;
    };
    let request = &rest[..close];
    let tail = &rest[close + 1..];
    (rec.method, rec.path) = match memchr::memchr(b' ', request) {
        Some(sp) => (&request[..sp], &request[sp + 1..]),
        None => (request, &b""[..]),
    };
    let (event, tail) = if let Some(t) = tail.strip_prefix(b") executing too slow (") {
        (Event::SlowRequest, t)
    } else if let Some(t) = tail.strip_prefix(b") execution timed out (") {
        (Event::RequestTimeout, t)
    } else {
        return;
    };
    rec.event = event;
    if let Some(sp) = memchr::memchr(b' ', tail) {
        rec.duration_ns = time::parse_scaled(&tail[..sp], 1_000_000_000);
    }
}

/// Worker output captured by the master. PHP errors arrive as `PHP Fatal
/// error:  ...`, or wrapped by FPM's child logger as `NOTICE: PHP message:
/// PHP Warning:  ...`; those take PHP's level and event.
fn child_said<'b>(rec: &mut Record<'b>, out: &'b [u8]) {
    let out = out.strip_suffix(b", pipe is closed").unwrap_or(out);
    let out = out.strip_prefix(b"\"").unwrap_or(out);
    let out = out.strip_suffix(b"\"").unwrap_or(out);
    rec.message = out;
    let mut text = out;
    if let Ok((_, _, after)) = bracketed_time(text) {
        text = after.strip_prefix(b" ").unwrap_or(after);
    }
    if let Some((_, after)) = split_level(text) {
        text = after;
    }
    text = text.strip_prefix(b"PHP message: ").unwrap_or(text);
    if let Some((level, event, msg)) = php::classify_php(text) {
        rec.level = level;
        rec.event = event;
        rec.message = msg;
        rec.script = php::php_script(msg);
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
        assert_eq!((r.level, r.event), (Level::Fatal, Event::None));
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
        let r =
            ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 14 said into stdout: \"hello\"");
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
        let r = ok(b"[22-Nov-2026 10:00:00] WARNING: [pool www] child 9, script '/a.php' (request: \"GET /a");
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

    #[test]
    fn never_panics() {
        crate::parse::test_support::never_panics(|line| drop(parse(line)), SAMPLES);
    }
}
