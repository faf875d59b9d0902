//! `sitepulse run` exporting over OTLP/gRPC to a real tonic receiver
//! (tests/otlp_receiver.rs): every line written arrives as one log record
//! with its body, event time, severity and attributes, and the per-site
//! metrics equal what `/api/v1/sites` of the same run says; through an
//! outage — connection refused, then UNAVAILABLE with RetryInfo, a restart
//! of `run` in the middle — no line is lost and duplicates are identical.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sitepulse_tests::http::json;
use sitepulse_tests::otlp_receiver::proto::common::v1::{KeyValue, any_value};
use sitepulse_tests::otlp_receiver::proto::logs::v1::LogRecord;
use sitepulse_tests::otlp_receiver::proto::metrics::v1::{metric, number_data_point};
use sitepulse_tests::otlp_receiver::{Code, OtlpReceiver};
use sitepulse_tests::{Collector, append, clf_time, tmpdir, unix_now, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const GRACE: Duration = Duration::from_secs(15);
const WAIT: Duration = Duration::from_secs(40);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(d: &Path, otlp: &str) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            "tail:\n  sources:\n    - include: [\"{logs}/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{ck}\"\n  checkpoint_interval_ms: 100\n\
             server:\n  listen: \"127.0.0.1:0\"\n\
             sinks:\n  otlp:\n{otlp}",
            logs = d.join("logs").display(),
            ck = d.join("ckpt.json").display(),
        ),
    )
    .unwrap();
    p
}

fn start(cfg: &Path, d: &Path, n: u32) -> Collector {
    Collector::start(
        BIN,
        &["--config".as_ref(), cfg.as_os_str()],
        &d.join(format!("run{n}.log")),
    )
}

fn sink_status(c: &Collector, name: &str) -> serde_json::Value {
    let s = c.status().unwrap();
    s["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no sink {name} in {s}"))
        .clone()
}

/// Attributes as `key → value`, every value as text (`i:` before an
/// int, `d:` before a double).
fn attrs(kv: &[KeyValue]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => format!("i:{i}"),
                Some(any_value::Value::DoubleValue(d)) => format!("d:{d}"),
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

/// A Traefik common-format line for `site`, request `i`, at `t`.
fn traefik(site: &str, i: u32, status: u16, t: i64) -> String {
    format!(
        "10.42.0.{} - - [{}] \"GET /x/{i}?n={i} HTTP/1.1\" {status} {} \"-\" \"curl/8\" 1 \"websecure-{site}@kubernetes\" \"http://10.42.1.1:80\" {}ms\n",
        1 + i % 200,
        clf_time(t),
        100 + i,
        1 + i % 400
    )
}

/// A PHP-FPM master log time (`22-Nov-2026 10:00:00`, UTC) from CLF's.
fn fpm_time(t: i64) -> String {
    let clf = clf_time(t); // 22/Nov/2026:10:00:00 +0000
    format!("{} {}", clf[..11].replace('/', "-"), &clf[12..20])
}

/// What a record must arrive as: severity number and text, attributes
/// (those the line determines; `log.file.path` is checked apart).
struct Want {
    ts_ns: u64,
    severity: (i32, &'static str),
    attrs: BTreeMap<String, String>,
}

fn want_traefik(site: &str, i: u32, status: u16, t: i64) -> Want {
    let severity = match status {
        500.. => (17, "ERROR"),
        400.. => (13, "WARN"),
        _ => (9, "INFO"),
    };
    let attrs = [
        ("sitepulse.site", site.to_owned()),
        ("sitepulse.source", "traefik_clf".into()),
        ("http.request.method", "GET".into()),
        ("url.path", format!("/x/{i}")),
        ("url.query", format!("n={i}")),
        ("http.response.status_code", format!("i:{status}")),
        ("sitepulse.duration_ms", format!("d:{}", 1 + i % 400)),
        ("client.address", format!("10.42.0.{}", 1 + i % 200)),
    ];
    Want {
        ts_ns: t as u64 * 1_000_000_000,
        severity,
        attrs: attrs.map(|(k, v)| (k.to_owned(), v)).into(),
    }
}

/// Every accepted log record, by body; duplicates (the same body twice)
/// must be identical but for `observed_time_unix_nano`, which says when
/// the collector read the line (a line read again after a restart was
/// observed again).
fn records_by_body(rx: &OtlpReceiver) -> (BTreeMap<String, LogRecord>, usize) {
    let mut out: BTreeMap<String, LogRecord> = BTreeMap::new();
    let mut dups = 0;
    for (res, mut r) in rx.log_records() {
        assert_eq!(
            attrs(&res).get("service.name").map(String::as_str),
            Some("sitepulse"),
            "{res:?}"
        );
        let b = body(&r);
        if let Some(first) = out.get(&b) {
            r.observed_time_unix_nano = first.observed_time_unix_nano;
            assert_eq!(first, &r, "a duplicate differs");
            dups += 1;
        } else {
            out.insert(b, r);
        }
    }
    (out, dups)
}

/// `sitepulse_site_requests` of the latest metrics export: requests per
/// site (summed over status classes), and the same from the duration
/// histogram's counts; `None` before any export.
fn latest_requests(rx: &OtlpReceiver) -> Option<(BTreeMap<String, u64>, BTreeMap<String, u64>)> {
    // time → site → (requests, histogram count)
    let mut by_time: BTreeMap<u64, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
    for req in rx.metrics() {
        for rm in &req.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    match (&m.name[..], &m.data) {
                        ("sitepulse_site_requests", Some(metric::Data::Sum(s))) => {
                            assert!(s.is_monotonic);
                            for p in &s.data_points {
                                let site = attrs(&p.attributes)["site"].clone();
                                let Some(number_data_point::Value::AsInt(v)) = &p.value else {
                                    panic!("{p:?}");
                                };
                                by_time
                                    .entry(p.time_unix_nano)
                                    .or_default()
                                    .entry(site)
                                    .or_default()
                                    .0 += *v as u64;
                            }
                        }
                        (
                            "sitepulse_site_request_duration_seconds",
                            Some(metric::Data::Histogram(h)),
                        ) => {
                            for p in &h.data_points {
                                let site = attrs(&p.attributes)["site"].clone();
                                by_time
                                    .entry(p.time_unix_nano)
                                    .or_default()
                                    .entry(site)
                                    .or_default()
                                    .1 += p.count;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let (_, last) = by_time.pop_last()?;
    Some((
        last.iter().map(|(s, v)| (s.clone(), v.0)).collect(),
        last.iter().map(|(s, v)| (s.clone(), v.1)).collect(),
    ))
}

/// `/api/v1/sites`: requests since start of every site that had one.
fn api_requests(c: &Collector) -> BTreeMap<String, u64> {
    json(c.port, "/api/v1/sites")["sites"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["total_requests"].as_u64() > Some(0))
        .map(|s| {
            (
                s["site"].as_str().unwrap().to_owned(),
                s["total_requests"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_line_is_a_log_record_and_metrics_equal_the_api() {
    let rt = runtime();
    let rx = rt.block_on(OtlpReceiver::start());
    let d = tmpdir("otlp", "basic");
    let cfg = config(
        &d,
        &format!(
            "    endpoint: \"{}\"\n    metrics_interval_secs: 1\n    batch_wait_ms: 200\n",
            rx.endpoint()
        ),
    );
    let t0 = unix_now() - 60;
    let mut want: BTreeMap<String, Want> = BTreeMap::new();
    let mut text = String::new();
    let mut per_site: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..1500u32 {
        let site = format!("site{}", i % 6);
        let status = [200, 301, 404, 503][i as usize % 4];
        let t = t0 + i64::from(i) / 100;
        let l = traefik(&site, i, status, t);
        want.insert(l.trim_end().to_owned(), want_traefik(&site, i, status, t));
        *per_site.entry(site).or_default() += 1;
        text.push_str(&l);
    }
    append(&d.join("logs/access.log"), &text);
    // FPM's master log: levels of its own, pools named after sites.
    let mut text = String::new();
    for i in 0..300u32 {
        let pool = ["shop", "blog"][i as usize % 2];
        let t = t0 + i64::from(i) / 10;
        let (l, severity) = if i % 3 == 0 {
            (
                format!(
                    "[{}] WARNING: [pool {pool}] child {i} exited on signal 9 (SIGKILL) after 1.000000 seconds from start\n",
                    fpm_time(t)
                ),
                (13, "WARN"),
            )
        } else {
            (
                format!(
                    "[{}] NOTICE: [pool {pool}] child {i} started\n",
                    fpm_time(t)
                ),
                (10, "INFO2"),
            )
        };
        let a = [
            ("sitepulse.site", pool),
            ("sitepulse.source", "fpm_error"),
            ("sitepulse.fpm.pool", pool),
        ];
        want.insert(
            l.trim_end().to_owned(),
            Want {
                ts_ns: t as u64 * 1_000_000_000,
                severity,
                attrs: a.map(|(k, v)| (k.to_owned(), v.to_owned())).into(),
            },
        );
        text.push_str(&l);
    }
    append(&d.join("logs/fpm-error.log"), &text);

    let mut c = start(&cfg, &d, 1);
    wait_for("1800 log records", WAIT, || rx.log_records().len() >= 1800);
    let (got, dups) = records_by_body(&rx);
    assert_eq!(dups, 0, "no duplicate without a failure");
    assert_eq!(
        got.keys().collect::<BTreeSet<_>>(),
        want.keys().collect::<BTreeSet<_>>(),
        "every line, as written, once"
    );
    let started_ns = (t0 as u64 - 3600) * 1_000_000_000;
    for (b, r) in &got {
        let w = &want[b];
        assert_eq!(r.time_unix_nano, w.ts_ns, "{b}");
        assert!(r.observed_time_unix_nano > started_ns, "{b}: {r:?}");
        assert_eq!(
            (r.severity_number, r.severity_text.as_str()),
            w.severity,
            "{b}"
        );
        let mut a = attrs(&r.attributes);
        let file = a.remove("log.file.path").unwrap_or_default();
        let name = if w.attrs["sitepulse.source"] == "fpm_error" {
            "fpm-error.log"
        } else {
            "access.log"
        };
        assert_eq!(Path::new(&file), d.join("logs").join(name), "{b}");
        assert_eq!(a, w.attrs, "{b}");
        assert!(r.trace_id.is_empty(), "{b}");
    }

    // The per-site metrics: an export after the last line equals the API's
    // numbers, which equal the lines written.
    let deadline = Instant::now() + WAIT;
    let api = loop {
        let api = api_requests(&c);
        if let Some((requests, timed)) = latest_requests(&rx)
            && requests == api
        {
            assert_eq!(timed, api, "the duration histogram counts every request");
            break api;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never equal /api/v1/sites {api:?}: {:?}",
            latest_requests(&rx)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(api, per_site);

    let logs = sink_status(&c, "otlp");
    assert_eq!(logs["sent_items"], 1800, "{logs}");
    for s in [logs, sink_status(&c, "otlp_metrics")] {
        assert_eq!(s["dropped_items"], serde_json::json!({}), "{s}");
        assert_eq!(s["failed_requests"], serde_json::json!({}), "{s}");
    }
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_outage_and_a_restart_lose_no_line() {
    let rt = runtime();
    let mut rx = rt.block_on(OtlpReceiver::start());
    // Down: connection refused.
    rt.block_on(rx.stop());
    let d = tmpdir("otlp", "outage");
    let cfg = config(
        &d,
        &format!(
            "    endpoint: \"{}\"\n    metrics_interval_secs: 1\n    batch_wait_ms: 100\n    batch_bytes: 16384\n    retry: {{initial_backoff_ms: 20, max_backoff_ms: 500}}\n",
            rx.endpoint()
        ),
    );
    let log = d.join("logs/access.log");
    let t = unix_now() - 120;
    let mut written = 0u32;
    let mut write = |n: u32| {
        let mut text = String::new();
        for _ in 0..n {
            let status = [200, 404, 502][written as usize % 3];
            text.push_str(&traefik(
                &format!("site{}", written % 5),
                written,
                status,
                t + i64::from(written / 500),
            ));
            written += 1;
        }
        append(&log, &text);
    };
    let mut c = start(&cfg, &d, 1);
    for _ in 0..3 {
        write(1000);
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for(
        "every line spooled while the receiver is down",
        WAIT,
        || sink_status(&c, "otlp")["accepted_items"] == 3000,
    );
    wait_for("metrics spooled for 2 s", WAIT, || {
        sink_status(&c, "otlp_metrics")["oldest_unacked_age_secs"].as_f64() >= Some(2.0)
    });

    // Up, but UNAVAILABLE for 12 calls, each asking for 500 ms.
    rx.fail_next(Code::Unavailable, 12, Some(Duration::from_millis(500)));
    let up_ns = sitepulse_sinks::send::unix_ms() * 1_000_000;
    rt.block_on(rx.restart());
    wait_for("refused exports", WAIT, || rx.refused() >= 4);

    // A restart in the middle.
    let s = sink_status(&c, "otlp");
    assert_eq!(s["sent_items"], 0, "{s}");
    c.sigterm(GRACE).unwrap();
    let mut c = start(&cfg, &d, 2);
    write(1500);
    wait_for("the receiver to stop refusing", WAIT, || rx.refused() == 12);

    let deadline = Instant::now() + WAIT;
    let (got, dups) = loop {
        let (got, dups) = records_by_body(&rx);
        if got.len() as u32 >= written {
            break (got, dups);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {written} lines received; sink {}",
            got.len(),
            sink_status(&c, "otlp")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let paths: BTreeSet<String> = got
        .values()
        .map(|r| attrs(&r.attributes)["url.path"].clone())
        .collect();
    let want: BTreeSet<String> = (0..written).map(|i| format!("/x/{i}")).collect();
    assert_eq!(paths, want, "every line arrives");
    for (b, r) in &got {
        let i: u32 = attrs(&r.attributes)["url.path"][3..].parse().unwrap();
        assert_eq!(
            r.time_unix_nano,
            (t as u64 + u64::from(i / 500)) * 1_000_000_000,
            "{b}"
        );
    }
    // Metrics exported while the receiver was down arrived after, with
    // the time they were taken (one export a second).
    let times: BTreeSet<u64> = rx
        .metrics()
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter_map(|m| match &m.data {
            Some(metric::Data::Sum(s)) => s.data_points.first().map(|p| p.time_unix_nano),
            _ => None,
        })
        .collect();
    let early = times.range(..up_ns).count();
    assert!(
        early >= 2,
        "{early} exports from the outage: {times:?}, up at {up_ns}"
    );
    let s = sink_status(&c, "otlp");
    assert_eq!(s["dropped_items"], serde_json::json!({}), "{s}");
    assert!(
        s["failed_requests"]
            .as_object()
            .is_some_and(|m| !m.is_empty()),
        "{s}"
    );
    assert_eq!(
        sink_status(&c, "otlp_metrics")["dropped_items"],
        serde_json::json!({})
    );
    eprintln!(
        "outage: {written} lines, {} records received ({dups} duplicates), {} calls ({} refused); status {s}",
        got.len() + dups,
        rx.calls(),
        rx.refused()
    );
    c.sigterm(GRACE).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}
