//! How a file's lines join into records: a format's own rule, the common
//! stack-trace shapes (on by default for lines of no known format), the
//! user's patterns, or not at all.
//!
//! The common shapes, from the languages' own output:
//! - Java (`Throwable.printStackTrace`): an exception header
//!   (`java.lang.IllegalStateException: boom`), tab-indented `at …`
//!   frames, `... N more`, `Caused by: …`, `Suppressed: …`;
//! - Python (`traceback.print_exc`): `Traceback (most recent call
//!   last):`, indented `File "…", line N, in f` and source lines, the final
//!   `ValueError: msg`, and the chained-exception sentences between
//!   tracebacks;
//! - Go (`runtime`): `panic: …` or `fatal error: …`, blank lines,
//!   `goroutine N [state]:`, `pkg.func(…)` lines with tab-indented
//!   `file.go:12 +0x1d`, `created by …`, `[signal …]`, `exit status N`;
//! - PHP (`Exception::__toString`, xdebug): `Stack trace:`, `#N …`,
//!   `thrown in … on line N`, `Next …Exception`, `PHP Stack trace:`,
//!   `PHP   N. …`.
//!
//! These are the shapes Fluent Bit's built-in `java`/`python`/`go`
//! multiline parsers and Vector's/Promtail's documented examples cover; a
//! line of none of them starts a new record.

use std::sync::Arc;

use regex::bytes::Regex;

use super::RecordStart;

/// How lines join into records for one file.
#[derive(Debug, Clone, Default)]
pub enum Multiline {
    /// Every message is a record.
    #[default]
    Off,
    /// A format's own rule: a line for which this is true starts a record.
    Starts(RecordStart),
    /// The common stack-trace shapes join the line they follow.
    Auto,
    /// The user's patterns.
    Custom(Arc<CustomRule>),
}

/// A user's multi-line rule: a line matching `start` starts a record; a
/// line matching `continues` continues the open one; with only `start`,
/// every other line continues; with only `continues`, every other line
/// starts.
#[derive(Debug)]
pub struct CustomRule {
    /// What starts a record.
    pub start: Option<Regex>,
    /// What continues one.
    pub continues: Option<Regex>,
}

/// Which stack trace the open record is in (per stream), and whether it
/// began with a timestamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineState {
    mode: Mode,
    /// The open record's first line starts with a time (or a klog
    /// header): an indented or blank line after it belongs to it (a
    /// logger printing a multi-line message), and the next timed line
    /// starts the next record.
    timed: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    None,
    Java,
    /// After a Java exception header (or `Caused by:`), before its first
    /// `at` frame: the exception's message may span lines.
    JavaHeader,
    /// Inside a Python traceback, before its exception line.
    Python,
    /// After a Python traceback's exception line: a chained traceback or
    /// another indented line may follow.
    PythonEnd,
    Go,
    Php,
}

impl Multiline {
    /// Whether lines are joined at all.
    pub fn is_on(&self) -> bool {
        !matches!(self, Multiline::Off)
    }

    /// Whether `line` starts a record, given the state of its stream's
    /// open record (`open`: one is open), which it updates.
    ///
    /// # Performance
    /// Auto: a few byte tests per line. Custom: one or two regex matches.
    #[inline]
    pub fn starts(&self, st: &mut LineState, line: &[u8], open: bool) -> bool {
        match self {
            Multiline::Off => true,
            Multiline::Starts(f) => f(line),
            Multiline::Auto => {
                let cont = auto_continues(st, line) && open;
                if !cont {
                    // Marked by a level word only: a record of its own,
                    // but it does not take the unmarked lines after it.
                    st.timed = timed(line, false);
                }
                !cont
            }
            Multiline::Custom(rule) => {
                let cont = match (&rule.start, &rule.continues) {
                    (Some(s), Some(c)) => !s.is_match(line) && c.is_match(line),
                    (Some(s), None) => !s.is_match(line),
                    (None, Some(c)) => c.is_match(line),
                    (None, None) => false,
                };
                !(open && cont)
            }
        }
    }

    /// Whether a continuation with no record open opens one (the rules
    /// that know no format: a trace whose first line was before the file
    /// start still becomes one record).
    pub fn orphans_open(&self) -> bool {
        matches!(self, Multiline::Auto | Multiline::Custom(_))
    }
}

/// Whether a line starts like a record of its own: with a time
/// (`2026-11-22`, `2026/11/22`, `[2026-11-22`, `[22-Nov-2026`), a klog or
/// glog header (`I1122 10:00:00`, `I2022-12-26T…`), a JSON object, a
/// logfmt pair, or (`with_level`) an upper-case level word (`INFO:`,
/// `[ERROR]`).
fn timed(line: &[u8], with_level: bool) -> bool {
    let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    let date = |b: &[u8]| {
        b.len() >= 10 && digits(&b[..4]) && matches!(b[4], b'-' | b'/') && b[7] == b[4]
            || b.len() >= 11 && digits(&b[..2]) && b[2] == b'-' && b[6] == b'-'
    };
    // A structured line (a JSON object, logfmt's `key=`) is a record of
    // its own too.
    let logfmt = || {
        let key = line
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'@'))
            .count();
        key > 0 && line.get(key) == Some(&b'=')
    };
    // A level word first (`INFO:     …` uvicorn, `[ERROR] …`, `WARN …`).
    let level_first = || {
        if !with_level {
            return false;
        }
        let end = line.iter().position(|&c| c == b' ').unwrap_or(line.len());
        let mut w = &line[..end];
        if let [b'[', inner @ .., b']'] = w {
            w = inner;
        }
        let w = w.strip_suffix(b":").unwrap_or(w);
        w.len() >= 4
            && w.iter().all(u8::is_ascii_uppercase)
            && crate::record::Level::from_word(w).is_some()
    };
    match line {
        [b'{', ..] => true,
        [b'[', rest @ ..] => date(rest) || level_first(),
        [b'I' | b'W' | b'E' | b'F', rest @ ..] => {
            rest.len() >= 10 && digits(&rest[..4]) && rest[4] == b' ' && rest[7] == b':'
                || date(rest)
                || logfmt()
                || level_first()
        }
        _ => date(line) || logfmt() || level_first(),
    }
}

/// The auto rule: whether `line` continues the open record; updates the
/// trace mode.
fn auto_continues(st: &mut LineState, line: &[u8]) -> bool {
    let timed_record = st.timed;
    let mode = &mut st.mode;
    let indented = matches!(line.first(), Some(b' ' | b'\t'));
    let s = line.trim_ascii_start();
    if s.is_empty() {
        // Blank lines separate goroutines, chained tracebacks, a Java
        // exception from the message it follows.
        return timed_record
            || matches!(
                *mode,
                Mode::Go | Mode::Python | Mode::PythonEnd | Mode::Java | Mode::JavaHeader
            );
    }
    // A line that starts with a time starts the next record.
    if !indented && timed(line, true) {
        *mode = Mode::None;
        return false;
    }
    // Java.
    if indented && (s.starts_with(b"at ") || s.starts_with(b"Suppressed: "))
        || (s.starts_with(b"... ") && (s.ends_with(b" more") || s.ends_with(b" omitted")))
    {
        *mode = Mode::Java;
        return true;
    }
    if s.starts_with(b"Caused by: ") {
        *mode = Mode::JavaHeader;
        return true;
    }
    // PHP.
    if s.first() == Some(&b'#') && s.get(1).is_some_and(u8::is_ascii_digit)
        || s.starts_with(b"Stack trace:")
        || s.starts_with(b"PHP Stack trace:")
        || s.starts_with(b"thrown in ")
        || (s.starts_with(b"PHP ") && php_xdebug_frame(&s[4..]))
    {
        *mode = Mode::Php;
        return true;
    }
    if *mode == Mode::Php && s.starts_with(b"Next ") {
        return true;
    }
    // Python.
    if s.starts_with(b"Traceback (most recent call last):") {
        *mode = Mode::Python;
        return true;
    }
    match *mode {
        Mode::Python if indented => return true,
        Mode::Python => {
            // The exception line ends the traceback.
            *mode = Mode::PythonEnd;
            return true;
        }
        Mode::PythonEnd
            if indented
                || s.starts_with(b"During handling of the above exception")
                || s.starts_with(b"The above exception was the direct cause") =>
        {
            return true;
        }
        // A Java exception's message, over several lines.
        Mode::JavaHeader => return true,
        _ => {}
    }
    // Go.
    if s.starts_with(b"goroutine ") && s.ends_with(b"]:") {
        *mode = Mode::Go;
        return true;
    }
    if *mode == Mode::Go
        && (indented
            || s.starts_with(b"created by ")
            || s.starts_with(b"[signal ")
            || s.starts_with(b"exit status ")
            || (s.ends_with(b")") && memchr::memchr(b'(', s).is_some())
            || s.ends_with(b" [recovered]"))
    {
        return true;
    }
    // A Go panic opens a trace of its own, even under a timed line.
    if s.starts_with(b"panic: ") || s.starts_with(b"fatal error: ") {
        *mode = Mode::Go;
        return false;
    }
    // Kubernetes' utiltrace steps under a klog line.
    if s.starts_with(b"Trace[") {
        return true;
    }
    // A Java exception header joins the line it follows (loggers print the
    // message, then the throwable).
    if java_exception_header(s) {
        *mode = Mode::JavaHeader;
        return true;
    }
    // A logger's multi-line message: in a file whose records start with a
    // time, a line without one belongs to the record above it (Spring's
    // failure report, Hibernate's indented details, a printed banner).
    if timed_record {
        return true;
    }
    *mode = Mode::None;
    false
}

/// `N. func() /path:line` after `PHP ` (xdebug's trace in the error log).
fn php_xdebug_frame(s: &[u8]) -> bool {
    let s = s.trim_ascii_start();
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    digits > 0 && s.get(digits) == Some(&b'.')
}

/// `java.lang.IllegalStateException`, `com.x.FooError: msg`: a qualified
/// class name (two or more dotted parts) ending in Exception, Error or
/// Throwable, alone or followed by `:`.
fn java_exception_header(s: &[u8]) -> bool {
    let end = s
        .iter()
        .position(|&c| c == b':' || c == b' ')
        .unwrap_or(s.len());
    if end < s.len() && s[end] != b':' {
        return false;
    }
    let name = &s[..end];
    let dotted = name.iter().filter(|&&c| c == b'.').count() >= 1;
    dotted
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'$'))
        && name.first().is_some_and(u8::is_ascii_alphabetic)
        && (name.ends_with(b"Exception")
            || name.ends_with(b"Error")
            || name.ends_with(b"Throwable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the auto rule makes of `text`'s lines, joined with `\n`.
    fn join(text: &str) -> Vec<String> {
        let rule = Multiline::Auto;
        let mut st = LineState::default();
        let mut out: Vec<String> = Vec::new();
        for line in text.lines() {
            let open = !out.is_empty();
            if rule.starts(&mut st, line.as_bytes(), open) {
                out.push(line.to_owned());
            } else {
                let last = out.last_mut().unwrap();
                last.push('\n');
                last.push_str(line);
            }
        }
        out
    }

    #[test]
    fn java_stack_trace_joins_the_log_line() {
        let text = "2026-11-22 10:00:00.123 ERROR [main] c.e.App - request failed
java.lang.IllegalStateException: boom
\tat com.example.App.handle(App.java:42)
\tat com.example.App.main(App.java:10)
Caused by: java.io.IOException: broken pipe
\tat java.base/sun.nio.ch.IOUtil.write(IOUtil.java:62)
\t... 2 more
2026-11-22 10:00:01.000 INFO  [main] c.e.App - next";
        let r = join(text);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert!(r[0].ends_with("... 2 more"));
        assert!(r[1].ends_with("next"));
    }

    #[test]
    fn python_traceback_with_chained_exception() {
        let text = "ERROR:root:job failed
Traceback (most recent call last):
  File \"/app/job.py\", line 3, in <module>
    run()
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File \"/app/job.py\", line 5, in <module>
    raise ValueError(\"bad\")
ValueError: bad
INFO:root:retrying";
        let r = join(text);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert!(r[0].ends_with("ValueError: bad"));
        assert_eq!(r[1], "INFO:root:retrying");
    }

    #[test]
    fn go_panic_and_goroutines() {
        let text = "panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.main()
\t/tmp/sandbox/prog.go:8 +0x1d
net/http.(*conn).serve(0xc0000a2000, {0x7f0, 0xc0000b6000})
\t/usr/local/go/src/net/http/server.go:1995 +0x612
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3089 +0x5cb

goroutine 7 [IO wait]:
internal/poll.runtime_pollWait(0x7f, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:343 +0x85
exit status 2
level=info msg=\"restarted\"";
        let r = join(text);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert!(r[0].ends_with("exit status 2"));
    }

    #[test]
    fn php_stack_trace() {
        let text =
            "[22-Nov-2026 10:00:00 UTC] PHP Fatal error:  Uncaught Exception: x in /var/www/a.php:3
Stack trace:
#0 /var/www/b.php(10): f()
#1 {main}
  thrown in /var/www/a.php on line 3
[22-Nov-2026 10:00:01 UTC] PHP Notice:  y";
        let r = join(text);
        assert_eq!(r.len(), 2, "{r:#?}");
    }

    #[test]
    fn a_logger_s_indented_lines_and_multi_line_exception_messages() {
        // Hibernate under Spring Boot: tab-indented lines of one message.
        let text = "2025-08-04T15:11:20.221+09:00  INFO 6532 --- [main] o.h.o.c.pooling : HHH10001005: Database info:
\tDatabase JDBC URL [x]
\tDatabase version: 2.3.232
2025-08-04T15:11:21.241+09:00  INFO 6532 --- [main] o.h.e.t.j.p.i.Jta : HHH000489";
        assert_eq!(join(text).len(), 2, "{:#?}", join(text));
        // An exception after a blank line, its message over lines, frames.
        let text = "2021-03-01 10:00:00.000 ERROR 1 --- [main] c.z.h.p.HikariPool : Exception during pool initialization.

com.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure

The last packet sent successfully to the server was 0 milliseconds ago.
\tat com.mysql.cj.jdbc.exceptions.SQLError.createCommunicationsException(SQLError.java:174)
\t... 56 common frames omitted
Caused by: java.net.ConnectException: Connection refused
\tat java.base/java.net.PlainSocketImpl.socketConnect(Native Method)
\t... 59 common frames omitted

2021-03-01 10:00:01.000 INFO 1 --- [main] next";
        let r = join(text);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert!(r[0].ends_with("59 common frames omitted\n"));
        // Kubernetes utiltrace steps under their klog line.
        let text = "I0705 14:53:24.850232       1 trace.go:116] Trace[73044502]: \"Reflector ListAndWatch\" (started: 2020-07-05 14:52:54.849 +0000 UTC) (total time: 30.001104849s):
Trace[73044502]: [30.001104849s] [30.001104849s] END
E0705 14:53:24.850256       1 reflector.go:153] failed";
        assert_eq!(join(text).len(), 2);
    }

    #[test]
    fn structured_lines_are_records_of_their_own() {
        let text = "I2022-12-26T09:01:41.545Z 12 main.js:102] ======== Starting ========
ts=2022-12-26T09:01:41.587Z caller=main.go:541 level=info host_details=x
{\"level\":\"info\",\"msg\":\"up\"}
plain print under the JSON line
INFO:     127.0.0.1:50000 - \"GET / HTTP/1.1\" 200 OK
[WARN] low disk";
        // An unstructured line joins the record above it; a line that
        // starts with a level word does not (uvicorn's access lines).
        assert_eq!(join(text).len(), 5, "{:#?}", join(text));
    }

    #[test]
    fn plain_lines_stay_apart() {
        let text = "starting\n  indented config dump\nready\nmain.go: not a frame";
        // An indented line outside a trace is its own record.
        assert_eq!(join(text).len(), 4);
    }

    #[test]
    fn custom_patterns() {
        let rule = Multiline::Custom(Arc::new(CustomRule {
            start: Some(Regex::new(r"^\d{4}-").unwrap()),
            continues: None,
        }));
        let mut st = LineState::default();
        assert!(rule.starts(&mut st, b"2026-11-22 a", false));
        assert!(!rule.starts(&mut st, b"  more", true));
        assert!(rule.starts(&mut st, b"2026-11-22 b", true));
        // With no record open a continuation opens one.
        assert!(rule.orphans_open());
    }
}
