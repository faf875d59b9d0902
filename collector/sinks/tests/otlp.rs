//! The OTLP sink against a real OTLP/gRPC receiver (tonic, serving
//! opentelemetry-proto's `LogsService` and `MetricsService` on 127.0.0.1):
//! every record arrives with its body, times, severity, attributes and
//! resource; an outage (receiver down, then refusing, with a sink restart
//! in the middle) loses nothing; exported metrics equal the snapshot's.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sitepulse_pipeline::record::Level;
use sitepulse_sinks::entry::LogEntry;
use sitepulse_sinks::logs::LogSink;
use sitepulse_sinks::otlp::{self, OtlpConfig};
use sitepulse_sinks::retry::RetryConfig;
use sitepulse_tests::otlp_receiver::proto::common::v1::{KeyValue, any_value};
use sitepulse_tests::otlp_receiver::proto::logs::v1::LogRecord;
use sitepulse_tests::otlp_receiver::{Code, OtlpReceiver};
use tokio::sync::watch;

/// Polls `f` until it holds; panics naming `what` after `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn spool_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sitepulse-otlp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(endpoint: String) -> OtlpConfig {
    OtlpConfig {
        endpoint,
        headers: BTreeMap::from([("authorization".into(), "Bearer test-token".into())]),
        timeout_secs: 5,
        batch_bytes: 4096,
        retry: RetryConfig {
            initial_backoff_ms: 20,
            max_backoff_ms: 200,
        },
        ..OtlpConfig::default()
    }
}

/// The owned parts of test entry `i`: its line and trace id.
struct Owned {
    line: String,
    trace: String,
}

const SITES: [&str; 3] = ["shop", "blog", "docs"];
const PODS: [&str; 2] = ["traefik-7d9f", "wordpress-0"];
const T0: i64 = 1_767_000_000_000_000_000;

fn owned(i: usize) -> Owned {
    Owned {
        line: format!("entry {i} of the test: GET /p/{i} {}", "x".repeat(i % 97)),
        trace: if i.is_multiple_of(3) {
            format!("{:032x}", 0xabc0_0000_u128 + i as u128)
        } else {
            String::new()
        },
    }
}

/// Entry `i`: every third one has a trace id, every fourth one is an
/// access line (status, method, path, host), the rest PHP errors at
/// varying levels; three sites on two pods.
fn entry(i: usize, o: &Owned) -> LogEntry<'_> {
    let access = i.is_multiple_of(4);
    let levels = [Level::Warning, Level::Error, Level::Notice, Level::Fatal];
    LogEntry {
        ts_ns: T0 + i as i64 * 1_000_003,
        line: o.line.as_bytes(),
        site: SITES[i % 3],
        source: if access { "traefik_json" } else { "fpm_error" },
        level: if access { Level::None } else { levels[i % 4] },
        node: "node-a",
        namespace: "hosting",
        pod: PODS[i % 2],
        container: if i.is_multiple_of(2) {
            "traefik"
        } else {
            "php"
        },
        stream: "stdout",
        file: "/var/log/pods/hosting_x/0.log",
        end_offset: i as u64,
        method: if access { b"POST" } else { b"" },
        path: if access {
            b"/wp-admin/admin-ajax.php"
        } else {
            b""
        },
        status: if access { [200, 404, 502][i % 3] } else { 0 },
        duration_ns: access.then_some(1_000_000 * i as u64),
        host: if access { b"shop.example.com" } else { b"" },
        client: if access { b"203.0.113.9" } else { b"" },
        pool: if access { b"" } else { b"www" },
        trace_id: o.trace.as_bytes(),
    }
}

fn attrs(kv: &[KeyValue]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn body(r: &LogRecord) -> String {
    match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("body {other:?}"),
    }
}

/// Checks one received record against entry `i`.
fn check(i: usize, res: &[KeyValue], rec: &LogRecord, observed_from_ns: u64) {
    let o = owned(i);
    let e = entry(i, &o);
    assert_eq!(body(rec), o.line);
    assert_eq!(rec.time_unix_nano, e.ts_ns as u64, "entry {i}");
    assert!(rec.observed_time_unix_nano >= observed_from_ns, "entry {i}");
    let (num, text) = match (e.level, e.status) {
        (Level::None, 200) => (9, "INFO"),
        (Level::None, 404) => (13, "WARN"),
        (Level::None, _) => (17, "ERROR"),
        (l, _) => (i32::from(l.severity_number()), l.severity_text()),
    };
    assert_eq!(
        (rec.severity_number, rec.severity_text.as_str()),
        (num, text),
        "entry {i}"
    );
    if o.trace.is_empty() {
        assert!(rec.trace_id.is_empty());
    } else {
        let hex: String = rec.trace_id.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, o.trace);
    }
    let a = attrs(&rec.attributes);
    assert_eq!(a["sitepulse.site"], e.site);
    assert_eq!(a["sitepulse.source"], e.source);
    assert_eq!(a["log.file.path"], e.file);
    assert_eq!(a["log.iostream"], "stdout");
    if e.status > 0 {
        assert_eq!(a["http.request.method"], "POST");
        assert_eq!(a["url.path"], "/wp-admin/admin-ajax.php");
        assert_eq!(a["http.response.status_code"], e.status.to_string());
        assert_eq!(a["server.address"], "shop.example.com");
        assert_eq!(a["client.address"], "203.0.113.9");
        assert_eq!(a["sitepulse.duration_ms"], i.to_string());
        assert_eq!(a.len(), 10, "{a:?}");
    } else {
        assert_eq!(a["sitepulse.fpm.pool"], "www");
        assert_eq!(a.len(), 5, "{a:?}");
    }
    let r = attrs(res);
    assert_eq!(
        r,
        BTreeMap::from(
            [
                ("service.name", "sitepulse"),
                ("k8s.namespace.name", "hosting"),
                ("k8s.pod.name", e.pod),
                ("k8s.container.name", e.container),
                ("k8s.node.name", "node-a"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        ),
        "entry {i}"
    );
}

/// The test index of a received record (from its body).
fn index(rec: &LogRecord) -> usize {
    let b = body(rec);
    b.strip_prefix("entry ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a test record: {b}"))
}

/// Offers entries `range` and commits them.
fn offer(sink: &mut otlp::OtlpLogSink, range: std::ops::Range<usize>) {
    let now = sitepulse_sinks::send::unix_ms();
    for i in range {
        let o = owned(i);
        assert!(sink.offer(&entry(i, &o), now), "entry {i} refused");
    }
    sink.commit(now).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_arrives_with_body_time_severity_attributes_and_resource() {
    let rx = OtlpReceiver::start().await;
    let dir = spool_dir("logs");
    let (stop, stop_rx) = watch::channel(false);
    let (mut sink, sender) = otlp::open_logs(&config(rx.endpoint()), &dir, stop_rx).unwrap();
    assert_eq!(sink.name(), "otlp");
    let sender = tokio::spawn(sender);
    let from_ns = sitepulse_sinks::send::unix_ms() * 1_000_000;
    const N: usize = 400;
    offer(&mut sink, 0..N);
    wait_until("every record", Duration::from_secs(20), || {
        rx.log_records().len() >= N
    })
    .await;
    let got = rx.log_records();
    assert_eq!(got.len(), N, "no record twice without a failure");
    let mut seen = vec![false; N];
    for (res, rec) in &got {
        let i = index(rec);
        check(i, res, rec, from_ns);
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s));
    // Several frames (batch_bytes 4096), each grouping its records by
    // resource: one ResourceLogs per pod/container, one scope each.
    let exports = rx.logs();
    assert!(exports.len() > 5, "{} exports", exports.len());
    for req in &exports {
        assert!(req.resource_logs.len() <= 2);
        for rl in &req.resource_logs {
            assert_eq!(rl.scope_logs.len(), 1);
            assert_eq!(rl.scope_logs[0].scope.as_ref().unwrap().name, "sitepulse");
        }
    }
    assert!(
        rx.headers()
            .iter()
            .all(|h| h.get("authorization").map(String::as_str) == Some("Bearer test-token"))
    );
    let stats = sink.stats().snapshot(0);
    assert_eq!(
        (stats.accepted_items, stats.sent_items),
        (N as u64, N as u64)
    );
    assert_eq!(stats.sent_requests, exports.len() as u64);
    assert!(stats.dropped_items.is_empty());
    stop.send(true).unwrap();
    sender.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_restart_lose_nothing() {
    let mut rx = OtlpReceiver::start().await;
    rx.stop().await;
    let cfg = config(rx.endpoint());
    let dir = spool_dir("outage");

    // The receiver is down: connections are refused, frames wait.
    let (stop, stop_rx) = watch::channel(false);
    let (mut sink, sender) = otlp::open_logs(&cfg, &dir, stop_rx).unwrap();
    let stats = sink.stats();
    let sender = tokio::spawn(sender);
    offer(&mut sink, 0..150);
    wait_until("connection failures", Duration::from_secs(10), || {
        stats
            .snapshot(0)
            .failed_requests
            .get("grpc_unavailable")
            .copied()
            >= Some(3)
    })
    .await;
    assert_eq!(stats.snapshot(0).sent_items, 0);

    // Up, but refusing: UNAVAILABLE, then throttling (RESOURCE_EXHAUSTED
    // with RetryInfo), then accepting.
    rx.fail_next(Code::Unavailable, 6, None);
    rx.fail_next(Code::ResourceExhausted, 2, Some(Duration::from_millis(300)));
    rx.restart().await;
    wait_until("refusals", Duration::from_secs(10), || rx.refused() >= 2).await;

    // The sink restarts on the same spool while the receiver refuses.
    stop.send(true).unwrap();
    sender.await.unwrap();
    drop(sink);
    let (stop, stop_rx) = watch::channel(false);
    let (mut sink, sender) = otlp::open_logs(&cfg, &dir, stop_rx).unwrap();
    let stats = sink.stats();
    let sender = tokio::spawn(sender);
    offer(&mut sink, 150..300);
    wait_until("every record", Duration::from_secs(20), || {
        let mut idx: Vec<usize> = rx.log_records().iter().map(|(_, r)| index(r)).collect();
        idx.sort_unstable();
        idx.dedup();
        idx.len() == 300
    })
    .await;
    assert_eq!(rx.refused(), 8);
    let failed = stats.snapshot(0).failed_requests;
    assert!(
        failed.get("grpc_resource_exhausted") == Some(&2),
        "{failed:?}"
    );

    // Every entry arrived; a record that arrived twice is identical.
    let mut by_index: HashMap<usize, LogRecord> = HashMap::new();
    for (res, rec) in rx.log_records() {
        let i = index(&rec);
        check(i, &res, &rec, 0);
        if let Some(prev) = by_index.insert(i, rec.clone()) {
            assert_eq!(prev, rec, "entry {i} arrived twice, differently");
        }
    }
    assert_eq!(by_index.len(), 300);
    assert!(stats.snapshot(0).dropped_items.is_empty());
    stop.send(true).unwrap();
    sender.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_partial_successes_are_counted_not_retried() {
    let rx = OtlpReceiver::start().await;
    let dir = spool_dir("refusals");
    let (stop, stop_rx) = watch::channel(false);
    let (mut sink, sender) = otlp::open_logs(&config(rx.endpoint()), &dir, stop_rx).unwrap();
    let stats = sink.stats();
    let sender = tokio::spawn(sender);

    // INVALID_ARGUMENT: the whole export is dropped, counted, acknowledged.
    rx.fail_next(Code::InvalidArgument, 1, None);
    offer(&mut sink, 0..3);
    wait_until("the refusal", Duration::from_secs(10), || rx.refused() == 1).await;
    wait_until("the drop", Duration::from_secs(10), || {
        stats.dropped_count("rejected_invalid_argument") == 3
    })
    .await;

    // A partial success: the rejected count is dropped, the rest sent.
    rx.partial_next(2, "2 records had no body", 1);
    offer(&mut sink, 3..10);
    wait_until("the export", Duration::from_secs(10), || {
        rx.log_records().len() == 7
    })
    .await;
    wait_until("the partial drop", Duration::from_secs(10), || {
        stats.dropped_count("rejected_partial") == 2
    })
    .await;
    let s = stats.snapshot(0);
    assert_eq!((s.sent_items, s.retries), (5, 0));
    // Nothing was sent twice.
    assert_eq!(rx.calls(), 2);
    stop.send(true).unwrap();
    sender.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
