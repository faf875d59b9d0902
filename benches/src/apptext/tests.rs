//! The application-log corpus line by line: every line is in one of the
//! loggers' documented shapes, the counts match the lines, and the value
//! writers print what Go and Python print.

use regex::Regex;

use super::go::{Quote, push_logfmt};
use super::*;
use crate::{CorpusConfig, Format, generate_vec};

fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut b = Vec::new();
    f(&mut b);
    String::from_utf8(b).unwrap()
}

#[test]
fn values_print_as_go_prints_them() {
    // time.Duration.String: "1.5ms", "12.345ms", "3s", "1.000001s".
    assert_eq!(s(|b| push_go_duration(b, 1_500)), "1.5ms");
    assert_eq!(s(|b| push_go_duration(b, 12_345)), "12.345ms");
    assert_eq!(s(|b| push_go_duration(b, 3_000_000)), "3s");
    assert_eq!(s(|b| push_go_duration(b, 1_000_001)), "1.000001s");
    // strconv.FormatFloat(f, 'f', -1, 64) of seconds and milliseconds.
    assert_eq!(s(|b| push_float(b, 12_300, 6)), "0.0123");
    assert_eq!(s(|b| push_float(b, 2_000, 3)), "2");
    // time.RFC3339Nano drops trailing zeros.
    let t = 1_795_341_600_000_000_000;
    assert_eq!(
        s(|b| push_rfc3339_nano(b, t + 120_000_000)),
        "2026-11-22T10:00:00.12Z"
    );
    assert_eq!(s(|b| push_rfc3339_nano(b, t)), "2026-11-22T10:00:00Z");
    // Python's asctime: "%Y-%m-%d %H:%M:%S,mmm".
    assert_eq!(
        s(|b| push_time(b, t + 5_900_000, b'-', b' ', 3, b',', b"")),
        "2026-11-22 10:00:00,005"
    );
    // logfmt quoting: logrus quotes a ':', slog does not.
    assert_eq!(s(|b| push_logfmt(b, b"a:1", Quote::Logrus)), "\"a:1\"");
    assert_eq!(s(|b| push_logfmt(b, b"a:1", Quote::Slog)), "a:1");
    assert_eq!(
        s(|b| push_logfmt(b, b"say \"x\"", Quote::Slog)),
        r#""say \"x\"""#
    );
}

/// One regex per logger shape, from its documentation's examples.
fn shapes() -> Vec<(&'static str, Regex)> {
    let r = |p: &str| Regex::new(p).unwrap();
    vec![
        // zap NewProduction: {"level":"info","ts":1257894000.000000,"caller":"x.go:1","msg":".."}
        (
            "zap",
            r(
                r#"^\{"level":"(debug|info|warn|error)","ts":\d{10}(\.\d+)?,"caller":"[a-z/]+\.go:\d+","msg":"#,
            ),
        ),
        // zerolog: {"level":"info",...,"time":"2026-11-22T10:00:00Z","message":".."}
        (
            "zerolog",
            r(
                r#"^\{"level":"(debug|info|warn|error)",.*"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","message":"[^"]+"\}$"#,
            ),
        ),
        // logrus JSONFormatter: sorted keys, RFC 3339 time.
        (
            "logrus_json",
            r(
                r#"^\{"[a-z_]+":.*"level":"(debug|info|warning|error)",.*"msg":"[^"]+",.*"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ""#,
            ),
        ),
        // slog JSONHandler: {"time":"..","level":"INFO","msg":".."}
        (
            "slog_json",
            r(
                r#"^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z","level":"(DEBUG|INFO|WARN|ERROR)","msg":"#,
            ),
        ),
        // logrus TextFormatter: time="..." level=info msg="..."
        (
            "logrus_text",
            r(
                r#"^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=(debug|info|warning|error) msg="[^"]+""#,
            ),
        ),
        // slog TextHandler: time=2026-11-22T10:00:00.000Z level=INFO msg="..."
        (
            "slog_text",
            r(
                r#"^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(DEBUG|INFO|WARN|ERROR) msg="[^"]+""#,
            ),
        ),
        // klog: Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg
        (
            "klog",
            r(r"^[IWE]\d{4} \d\d:\d\d:\d\d\.\d{6} {7}1 [a-z]+\.go:\d+\] \S"),
        ),
        (
            "python",
            r(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [a-z.]+ - (DEBUG|INFO|WARNING|ERROR) - \S"),
        ),
        ("python_basic", r(r"^(DEBUG|INFO|WARNING|ERROR):[a-z.]+:\S")),
        (
            "gunicorn",
            r(
                r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\] \[\d+\] \[(DEBUG|INFO|WARNING|ERROR)\] \S",
            ),
        ),
        ("uvicorn", r(r"^(DEBUG|INFO|WARNING|ERROR):\s+\S")),
        (
            "spring",
            r(
                r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG| INFO| WARN|ERROR) 1 --- \[[ a-z0-9-]{15}\] [a-zA-Z.]{1,40} +: \S",
            ),
        ),
        (
            "logback",
            r(r"^\d\d:\d\d:\d\d\.\d{3} \[[a-z0-9-]+\] (DEBUG|INFO |WARN |ERROR) [a-zA-Z.]+ - \S"),
        ),
        ("go_log", r(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \S")),
    ]
}

#[test]
fn every_line_has_a_loggers_shape() {
    let (bytes, stats) = generate_vec(&CorpusConfig {
        format: Format::Text,
        lines: 20_000,
        seed: 11,
        ..CorpusConfig::default()
    })
    .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let shapes = shapes();
    let trace = Regex::new(
        r#"^(\tat [\w$./]+\(\w+\.java:\d+\)|\t\.\.\. \d+ more|Caused by: [\w.]+: .+|[\w.]+(Exception|Error): .+|Traceback \(most recent call last\):|  File "[^"]+", line \d+, in \w+|    .+|[A-Z]\w*(Error|Exception): .+|worker\.errors\.TaskError: .+|During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:|panic: .+|fatal error: .+|\[signal SIGSEGV: .+\]|goroutine \d+ \[[a-z ]+\]:|[\w./()*-]+\(.*\)|\t/\S+\.go:\d+( \+0x[0-9a-f]+)?|created by .+ in goroutine \d+)$"#,
    )
    .unwrap();
    let mut seen = vec![0u64; shapes.len()];
    let (mut json, mut bare) = (0u64, 0u64);
    for line in text.lines() {
        if line.is_empty() || trace.is_match(line) {
            continue;
        }
        match shapes.iter().position(|(_, re)| re.is_match(line)) {
            Some(i) => seen[i] += 1,
            None => bare += 1,
        }
        if line.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(v.is_object());
            json += 1;
        }
        // No line of the mix looks like a trace's continuation by accident.
        assert!(!line.starts_with([' ', '\t', '#']), "{line}");
    }
    for (i, (name, _)) in shapes.iter().enumerate() {
        assert!(seen[i] > 20, "{name}: {}", seen[i]);
    }
    assert_eq!(json, stats.text.json);
    let t = &stats.text;
    assert_eq!(
        t.json + t.logfmt + t.klog + t.plain + t.traces(),
        stats.records
    );
    assert!(t.java > 0 && t.python > 0 && t.go > 0, "{t:?}");
    // Bare console lines (and the Go `log` lines' bare twins) are about 5%.
    assert!(bare > 500 && bare < 1500, "{bare}");
    assert!(stats.lines > stats.records + 10 * t.traces());
}

#[test]
fn logrus_json_keys_are_sorted() {
    let (bytes, _) = generate_vec(&CorpusConfig {
        format: Format::Text,
        lines: 3_000,
        seed: 12,
        ..CorpusConfig::default()
    })
    .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let key = Regex::new(r#"[{,]"([a-z_]+)":"#).unwrap();
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| l.contains(r#""msg":"#) && !l.contains(r#""ts":"#))
    {
        if !line.starts_with('{') || line.starts_with(r#"{"time""#) {
            continue;
        }
        let keys: Vec<&str> = key
            .captures_iter(line)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "{line}");
        n += 1;
    }
    assert!(n > 50, "{n}");
}
