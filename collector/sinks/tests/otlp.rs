//! The OTLP sink against a real OTLP/gRPC receiver (tonic, serving
//! opentelemetry-proto's `LogsService` and `MetricsService` on 127.0.0.1):
//! every record arrives with its body, times, severity, attributes and
//! resource; an outage (receiver down, then refusing, with a sink restart
//! in the middle) loses nothing; exported metrics equal the snapshot's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sitepulse_pipeline::aggregate::CLASS_NAMES;
use sitepulse_pipeline::record::Level;
use sitepulse_pipeline::{NoObserver, Pipeline, PipelineConfig};
use sitepulse_sinks::entry::LogEntry;
use sitepulse_sinks::logs::LogSink;
use sitepulse_sinks::otlp::{self, OtlpConfig};
use sitepulse_sinks::retry::RetryConfig;
use sitepulse_sinks::series::{self, Value};
use sitepulse_tests::otlp_receiver::proto::common::v1::{KeyValue, any_value};
use sitepulse_tests::otlp_receiver::proto::logs::v1::LogRecord;
use sitepulse_tests::otlp_receiver::proto::metrics::v1::{
    AggregationTemporality, Metric, metric, number_data_point,
};
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

/// The Prometheus sample names a Collector's Prometheus exporters make of
/// an OTLP metric ("OTLP Metric points to Prometheus" in
/// <https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/>):
/// the unit's suffix unless the name has it, `_total` for a monotonic
/// cumulative sum, `_bucket`/`_sum`/`_count` for a histogram.
fn prometheus_names(m: &Metric) -> Vec<String> {
    let suffix = match m.unit.as_str() {
        "" => "",
        "s" => "_seconds",
        "By" => "_bytes",
        u => panic!("{}: unit {u:?} not expected", m.name),
    };
    let mut base = m.name.clone();
    if !base.ends_with(suffix) {
        base.push_str(suffix);
    }
    let cumulative = AggregationTemporality::Cumulative as i32;
    match m.data.as_ref().unwrap() {
        metric::Data::Sum(s) => {
            assert!(s.is_monotonic && s.aggregation_temporality == cumulative);
            vec![format!("{base}_total")]
        }
        metric::Data::Gauge(_) => vec![base],
        metric::Data::Histogram(h) => {
            assert_eq!(h.aggregation_temporality, cumulative);
            ["_bucket", "_sum", "_count"]
                .map(|s| format!("{base}{s}"))
                .to_vec()
        }
        other => panic!("{other:?}"),
    }
}

/// Labels of a data point, as `(name, value)` in order.
fn labels(kv: &[KeyValue]) -> Vec<(String, String)> {
    attrs(kv).into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_metrics_equal_the_snapshot() {
    let now = sitepulse_tests::unix_now();
    let mut p = Pipeline::new(&PipelineConfig::default(), now).unwrap();
    let lines: String = [
        ("site001", 200, 3),
        ("site001", 200, 40),
        ("site001", 502, 1500),
        ("site001", 404, 7),
        ("site002", 499, 70_000),
        ("site002", 200, 120),
    ]
    .map(|(site, status, ms)| sitepulse_tests::clf_line(site, status, ms))
    .concat();
    let r = p
        .process(
            "access",
            None,
            lines.as_bytes(),
            &mut NoObserver,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(r.records, 6);
    p.tick(now);
    let snap = Arc::new(p.snapshot());
    let taken_ms = now as u64 * 1000;
    let shared = snap.clone();
    let source: sitepulse_sinks::SnapshotSource = Arc::new(move || (shared.clone(), taken_ms));

    let rx = OtlpReceiver::start().await;
    let dir = spool_dir("metrics");
    let cfg = OtlpConfig {
        metrics_interval_secs: 1,
        ..config(rx.endpoint())
    };
    let (stop, stop_rx) = watch::channel(false);
    let (stats, task) = otlp::open_metrics(&cfg, &dir, source, stop_rx).unwrap();
    let task = tokio::spawn(task);
    wait_until("an export", Duration::from_secs(10), || {
        !rx.metrics().is_empty()
    })
    .await;
    // The snapshot does not change: later ticks export nothing more.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let exports = rx.metrics();
    assert_eq!(exports.len(), 1);
    let rm = &exports[0].resource_metrics;
    assert_eq!(rm.len(), 1);
    let res = attrs(&rm[0].resource.as_ref().unwrap().attributes);
    assert_eq!(res["service.name"], "sitepulse");
    assert!(res.contains_key("service.instance.id"), "{res:?}");
    assert_eq!(rm[0].scope_metrics.len(), 1);
    assert_eq!(
        rm[0].scope_metrics[0].scope.as_ref().unwrap().name,
        "sitepulse"
    );
    let metrics = &rm[0].scope_metrics[0].metrics;

    // Every series of the snapshot, exactly, as one data point.
    let families = series::site_families(&snap);
    let mut points = 0u64;
    for fam in families.iter().filter(|f| !f.series.is_empty()) {
        let m = metrics
            .iter()
            .find(|m| m.name == fam.name)
            .unwrap_or_else(|| panic!("no metric {}", fam.name));
        assert_eq!(m.description, fam.help);
        for s in &fam.series {
            let want: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect();
            points += 1;
            match (&s.value, m.data.as_ref().unwrap()) {
                (Value::Counter(v), metric::Data::Sum(sum)) => {
                    let p = sum
                        .data_points
                        .iter()
                        .find(|p| labels(&p.attributes) == want)
                        .unwrap_or_else(|| panic!("{} {want:?}", fam.name));
                    assert_eq!(p.value, Some(number_data_point::Value::AsInt(*v as i64)));
                    assert_eq!(p.time_unix_nano, taken_ms * 1_000_000);
                    assert!(
                        p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano
                    );
                }
                (Value::Gauge(v), metric::Data::Gauge(g)) => {
                    let p = g
                        .data_points
                        .iter()
                        .find(|p| labels(&p.attributes) == want)
                        .unwrap_or_else(|| panic!("{} {want:?}", fam.name));
                    assert_eq!(p.value, Some(number_data_point::Value::AsDouble(*v)));
                }
                (Value::Histogram(h), metric::Data::Histogram(hist)) => {
                    let p = hist
                        .data_points
                        .iter()
                        .find(|p| labels(&p.attributes) == want)
                        .unwrap_or_else(|| panic!("{} {want:?}", fam.name));
                    assert_eq!(p.bucket_counts, h.counts);
                    assert_eq!((p.count, p.sum), (h.count, Some(h.sum)));
                    let series::Kind::Histogram { bounds } = fam.kind else {
                        panic!()
                    };
                    assert_eq!(p.explicit_bounds, bounds);
                }
                (v, d) => panic!("{}: {v:?} exported as {d:?}", fam.name),
            }
        }
    }
    assert_eq!(stats.snapshot(0).sent_items, points);

    // And against the snapshot itself, for a few numbers.
    let point = |name: &str, l: &[(&str, &str)]| {
        let want: Vec<(String, String)> = l
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect();
        let m = metrics.iter().find(|m| m.name == name).unwrap();
        match m.data.as_ref().unwrap() {
            metric::Data::Sum(s) => s
                .data_points
                .iter()
                .find(|p| labels(&p.attributes) == want)
                .map(|p| p.value),
            metric::Data::Gauge(g) => g
                .data_points
                .iter()
                .find(|p| labels(&p.attributes) == want)
                .map(|p| p.value),
            _ => None,
        }
        .flatten()
        .unwrap_or_else(|| panic!("{name} {l:?}"))
    };
    let s1 = snap.site("site001").unwrap();
    let class = |c: &str| CLASS_NAMES.iter().position(|n| *n == c).unwrap();
    assert_eq!(s1.totals.class[class("2xx")], 2);
    assert_eq!(
        point(
            "sitepulse_site_requests",
            &[("site", "site001"), ("code_class", "2xx")]
        ),
        number_data_point::Value::AsInt(2)
    );
    assert_eq!(
        point(
            "sitepulse_site_requests_by_code",
            &[("site", "site002"), ("code", "499")]
        ),
        number_data_point::Value::AsInt(1)
    );
    assert_eq!(
        point(
            "sitepulse_site_rps",
            &[("site", "site001"), ("window", "1m")]
        ),
        number_data_point::Value::AsDouble(s1.window("1m").unwrap().rps())
    );
    let hist = metrics
        .iter()
        .find(|m| m.name == "sitepulse_site_request_duration_seconds")
        .unwrap();
    let Some(metric::Data::Histogram(h)) = &hist.data else {
        panic!()
    };
    let p = h
        .data_points
        .iter()
        .find(|p| attrs(&p.attributes)["site"] == "site001")
        .unwrap();
    assert_eq!(p.count, 4);
    assert!((p.sum.unwrap() - 1.55).abs() < 1e-9, "{:?}", p.sum);

    // A Collector's Prometheus exporter gives back the names of /metrics.
    let exported: BTreeSet<String> = metrics.iter().flat_map(prometheus_names).collect();
    let mut scraped = BTreeSet::new();
    for f in &families {
        f.for_each_sample(|s| {
            scraped.insert(s.name.to_owned());
        });
    }
    assert_eq!(exported, scraped);

    stop.send(true).unwrap();
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
