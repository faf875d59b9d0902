//! Lines in the shapes real loggers write (each cited), and the property
//! that any bytes give a record.

use super::*;
use crate::time::parse_rfc3339;

fn ts(s: &str) -> Option<i64> {
    parse_rfc3339(s.as_bytes())
}

fn lvl(line: &str) -> (Level, String, Option<i64>, String) {
    let r = parse(line.as_bytes());
    assert_eq!(r.source, LogFormat::Text);
    (
        r.level,
        String::from_utf8_lossy(r.level_raw).into_owned(),
        r.ts_ns,
        String::from_utf8_lossy(r.message).into_owned(),
    )
}

#[test]
fn plain_text_keeps_the_whole_line() {
    let (l, raw, t, m) = lvl("Starting nginx 1.25.3 ...\n");
    assert_eq!((l, raw.as_str(), t), (Level::None, "", None));
    assert_eq!(m, "Starting nginx 1.25.3 ...");
    // Prose that mentions an error is not an error level.
    assert_eq!(lvl("Retrying after error: timeout").0, Level::None);
    assert_eq!(lvl("").0, Level::None);
}

#[test]
fn klog_header() {
    // k8s.io/klog: "Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg"
    let (l, raw, t, m) = lvl(
        "E1122 10:00:00.123456       1 reflector.go:138] failed to list *v1.Pod: context canceled",
    );
    assert_eq!((l, raw.as_str(), t), (Level::Error, "E", None));
    assert_eq!(m, "failed to list *v1.Pod: context canceled");
    assert_eq!(lvl("I1122 10:00:00.000001 7 main.go:1] ok").0, Level::Info);
    assert_eq!(
        lvl("W1122 10:00:00.000001 7 main.go:1] hm").0,
        Level::Warning
    );
    assert_eq!(
        lvl("F1122 10:00:00.000001 7 main.go:1] bye").0,
        Level::Fatal
    );
    // glog with an ISO time (Outline).
    let (l, _, t, m) = lvl("I2022-12-26T09:01:41.545Z 12 main.js:102] Listening on 3000");
    assert_eq!(
        (l, t, m.as_str()),
        (
            Level::Info,
            ts("2022-12-26T09:01:41.545Z"),
            "Listening on 3000"
        )
    );
    // Not klog: an English word.
    assert_eq!(lvl("Everything is fine").0, Level::None);
}

#[test]
fn json_loggers() {
    // zap production encoder: epoch seconds with a fraction.
    let (l, raw, t, m) = lvl(
        r#"{"level":"error","ts":1795341600.5,"caller":"x/y.go:12","msg":"dial failed","error":"refused"}"#,
    );
    assert_eq!(
        (l, raw.as_str(), m.as_str()),
        (Level::Error, "error", "dial failed")
    );
    assert_eq!(t, Some(1_795_341_600_500_000_000));
    // zerolog: RFC 3339 time, "message".
    let (l, _, t, m) =
        lvl(r#"{"level":"warn","time":"2026-11-22T10:00:00+01:00","message":"slow"}"#);
    assert_eq!(
        (l, t, m.as_str()),
        (Level::Warning, ts("2026-11-22T09:00:00Z"), "slow")
    );
    // logrus JSON formatter: "level", "msg", "time".
    assert_eq!(
        lvl(r#"{"level":"info","msg":"started","time":"2026-11-22T10:00:00Z"}"#).0,
        Level::Info
    );
    // pino/bunyan: numeric levels, epoch milliseconds.
    let (l, raw, t, _) = lvl(r#"{"level":50,"time":1795341600123,"pid":1,"msg":"boom"}"#);
    assert_eq!(
        (l, raw.as_str(), t),
        (Level::Error, "50", Some(1_795_341_600_123_000_000))
    );
    // Google Cloud structured logging: "severity".
    assert_eq!(
        lvl(r#"{"severity":"CRITICAL","message":"x"}"#).0,
        Level::Critical
    );
    // Escaped message text is flagged for the output to unescape.
    let r = parse(br#"{"msg":"a \"b\"","level":"debug"}"#);
    assert!(r.json_escaped);
    assert_eq!(r.message, br#"a \"b\""#);
    assert_eq!(r.attrs, br#"{"msg":"a \"b\"","level":"debug"}"#);
    // Not an object: plain text.
    assert_eq!(lvl("{not json").3, "{not json");
}

#[test]
fn logfmt_loggers() {
    // logrus text formatter (no TTY) / Go slog TextHandler / Loki.
    let (l, raw, t, m) = lvl(
        r#"time="2026-11-22T10:00:00Z" level=warning msg="could not reach \"db\"" component=x"#,
    );
    assert_eq!(
        (l, raw.as_str(), t),
        (Level::Warning, "warning", ts("2026-11-22T10:00:00Z"))
    );
    assert_eq!(m, r#"could not reach \"db\""#);
    let (l, _, t, m) =
        lvl("level=error ts=2026-11-22T10:00:00.123456789Z caller=main.go:1 msg=oops");
    assert_eq!(
        (l, t, m.as_str()),
        (Level::Error, ts("2026-11-22T10:00:00.123456789Z"), "oops")
    );
    // A key=value line with none of the known keys stays plain text.
    assert_eq!(lvl("a=1 b=2").3, "a=1 b=2");
}

#[test]
fn leading_time_then_level() {
    // Python logging: "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
    let (l, raw, t, _) = lvl("2026-11-22 10:00:00,123 - app.db - ERROR - connection lost");
    assert_eq!(
        (l, raw.as_str(), t),
        (Level::Error, "ERROR", ts("2026-11-22T10:00:00.123Z"))
    );
    // Python basicConfig default "%(levelname)s:%(name)s:%(message)s"
    let (l, raw, t, _) = lvl("WARNING:root:disk almost full");
    assert_eq!((l, raw.as_str(), t), (Level::Warning, "WARNING", None));
    // Spring Boot default console pattern.
    let (l, _, t, _) = lvl(
        "2026-11-22T10:00:00.123Z ERROR 1 --- [           main] o.s.boot.SpringApplication : Application run failed",
    );
    assert_eq!((l, t), (Level::Error, ts("2026-11-22T10:00:00.123Z")));
    // logback default: "%d{HH:mm:ss.SSS} [%thread] %-5level %logger{36} - %msg"
    // with a date: level after the bracketed thread name.
    assert_eq!(
        lvl("2026-11-22 10:00:00.001 [main] INFO  com.example.App - up").0,
        Level::Info
    );
    // Go's log package: "2026/11/22 10:00:00 msg".
    let (l, _, t, _) = lvl("2026/11/22 10:00:00 http: TLS handshake error from 10.0.0.1:5000: EOF");
    assert_eq!((l, t), (Level::None, ts("2026-11-22T10:00:00Z")));
    // Bracketed levels.
    assert_eq!(lvl("[ERROR] something broke").0, Level::Error);
    assert_eq!(
        lvl("[2026-11-22 10:00:00] [warn] low memory").0,
        Level::Warning
    );
    assert_eq!(
        lvl("[2026-11-22 10:00:00] [warn] low memory").2,
        ts("2026-11-22T10:00:00Z")
    );
    // Not a time: a version number.
    assert_eq!(lvl("2026-11-22T10:00:00abc").2, None);
}

#[test]
fn level_words_as_written() {
    for (w, l) in [
        ("FATAL", Level::Fatal),
        ("PANIC", Level::Fatal),
        ("CRIT", Level::Critical),
        ("EMERG", Level::Emergency),
        ("NOTICE", Level::Notice),
        ("TRACE", Level::Trace),
        ("DEBUG", Level::Debug),
        ("WARN", Level::Warning),
    ] {
        let line = format!("2026-11-22T10:00:00Z {w} x");
        let (got, raw, _, _) = lvl(&line);
        assert_eq!((got, raw.as_str()), (l, w), "{line}");
    }
}

#[test]
fn joined_traces_count_their_frames() {
    let java = "2026-11-22 10:00:00 ERROR failed\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)\n\tat a.B.main(B.java:2)\nCaused by: x.Y: z\n\t... 1 more";
    let r = parse(java.as_bytes());
    assert_eq!((r.frames, r.level), (2, Level::Error));
    let py = "Traceback (most recent call last):\n  File \"/a.py\", line 1, in <module>\n    f()\nValueError: x";
    assert_eq!(parse(py.as_bytes()).frames, 1);
    let go =
        "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/tmp/x.go:8 +0x1d\nexit status 2";
    assert_eq!(parse(go.as_bytes()).frames, 1);
    assert_eq!(parse(b"one line").frames, 0);
}

proptest::proptest! {
    #[test]
    fn any_bytes_give_a_text_record(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let r = parse(&b);
        proptest::prop_assert_eq!(r.source, LogFormat::Text);
    }

    #[test]
    fn shaped_lines_never_panic(
        head in proptest::sample::select(vec![
            "{\"level\":", "level=", "time=\"", "E1122 10:00:00.123456 ", "2026-11-22 10:00:00,",
            "[2026-11-22 10:00:00", "{\"ts\":", "WARNING:", "2026/11/22 10:00:00.",
        ]),
        tail in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
    ) {
        let mut line = head.as_bytes().to_vec();
        line.extend_from_slice(&tail);
        let _ = parse(&line);
    }
}
