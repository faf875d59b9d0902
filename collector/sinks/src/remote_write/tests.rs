use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use sitepulse_pipeline::snapshot::SitesSnapshot;
use tokio::sync::watch;

use super::encode::{Encoder, decode};
use super::proto::{Label, is_stale};
use super::*;
use crate::series::{Family, Kind, Series, Value};

fn family(name: &'static str, kind: Kind, series: Vec<Series>) -> Family {
    Family {
        name,
        help: "h",
        kind,
        series,
    }
}

fn counter(site: &str, v: u64) -> Series {
    Series {
        labels: vec![("site", site.to_owned())],
        value: Value::Counter(v),
    }
}

fn names(labels: &[Label]) -> Vec<(&str, &str)> {
    labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect()
}

#[test]
fn labels_are_sorted_with_name_and_external_labels() {
    let ext = BTreeMap::from([
        ("node".to_owned(), "web-3".to_owned()),
        ("Zone".to_owned(), "a".to_owned()),
    ]);
    let mut enc = Encoder::new(&ext);
    let fams = [family(
        "sitepulse_site_response_bytes",
        Kind::Counter,
        vec![counter("s1", 7)],
    )];
    let req = enc.request(&fams, 1_000);
    assert_eq!(req.timeseries.len(), 1);
    let ts = &req.timeseries[0];
    assert_eq!(
        names(&ts.labels),
        [
            ("Zone", "a"),
            ("__name__", "sitepulse_site_response_bytes_total"),
            ("node", "web-3"),
            ("site", "s1"),
        ]
    );
    assert_eq!((ts.samples[0].value, ts.samples[0].timestamp), (7.0, 1_000));
}

#[test]
fn a_histogram_is_cumulative_buckets_sum_and_count() {
    let mut enc = Encoder::new(&BTreeMap::new());
    let fams = [family(
        "sitepulse_x_seconds",
        Kind::Histogram {
            bounds: &[0.5, 1.0],
        },
        vec![Series {
            labels: vec![("site", "s".to_owned())],
            value: Value::Histogram(crate::series::Histogram {
                counts: vec![2, 0, 3],
                sum: 9.5,
                count: 5,
            }),
        }],
    )];
    let req = enc.request(&fams, 5);
    let got: Vec<(String, f64)> = req
        .timeseries
        .iter()
        .map(|t| {
            let l: Vec<String> = t
                .labels
                .iter()
                .filter(|l| l.name != "site")
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            (l.join(","), t.samples[0].value)
        })
        .collect();
    let want: Vec<(String, f64)> = [
        ("__name__=sitepulse_x_seconds_bucket,le=0.5", 2.0),
        ("__name__=sitepulse_x_seconds_bucket,le=1.0", 2.0),
        ("__name__=sitepulse_x_seconds_bucket,le=+Inf", 5.0),
        ("__name__=sitepulse_x_seconds_sum", 9.5),
        ("__name__=sitepulse_x_seconds_count", 5.0),
    ]
    .map(|(a, b)| (a.to_owned(), b))
    .to_vec();
    assert_eq!(got, want);
}

#[test]
fn a_series_that_is_gone_gets_one_stale_marker() {
    let mut enc = Encoder::new(&BTreeMap::new());
    let two = [family(
        "sitepulse_g",
        Kind::Gauge,
        vec![
            Series {
                labels: vec![("site", "a".into())],
                value: Value::Gauge(1.5),
            },
            Series {
                labels: vec![("site", "b".into())],
                value: Value::Gauge(2.5),
            },
        ],
    )];
    let mut one = two.clone();
    one[0].series.truncate(1);
    assert_eq!(enc.request(&two, 1).timeseries.len(), 2);
    let req = enc.request(&one, 2);
    assert_eq!(req.timeseries.len(), 2);
    assert_eq!(req.timeseries[0].samples[0].value, 1.5);
    let gone = &req.timeseries[1];
    assert_eq!(
        names(&gone.labels),
        [("__name__", "sitepulse_g"), ("site", "b")]
    );
    assert!(is_stale(gone.samples[0].value));
    assert_eq!(gone.samples[0].timestamp, 2);
    // Only once.
    assert_eq!(enc.request(&one, 3).timeseries.len(), 1);
}

#[test]
fn encode_compresses_a_request_that_decodes_back() {
    let mut enc = Encoder::new(&BTreeMap::new());
    assert!(enc.encode(&SitesSnapshot::default(), 1).is_none());
    let (src, _) = source(0);
    let (snap, _) = src();
    let e = enc.encode(&snap, 42).unwrap();
    let want = Encoder::new(&BTreeMap::new()).request(&crate::series::site_families(&snap), 42);
    assert_eq!(decode(&e.body), Some(want));
    assert_eq!((e.samples, e.stale), (27, 0));
    // The site is gone: one stale marker per series, nothing else.
    let e = enc.encode(&SitesSnapshot::default(), 43).unwrap();
    assert_eq!((e.samples, e.stale), (27, 27));
}

/// What the test receiver saw: each request's headers and body.
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(HeaderMap, Bytes)>>,
    /// Answers to give, in order, before 204s: (status, body).
    script: Mutex<Vec<(u16, &'static str)>>,
    tries: AtomicUsize,
}

async fn receiver(seen: Arc<Seen>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                seen.tries.fetch_add(1, Ordering::Relaxed);
                let next = {
                    let mut s = seen.script.lock().unwrap();
                    (!s.is_empty()).then(|| s.remove(0))
                };
                if let Some((st, msg)) = next {
                    return (StatusCode::from_u16(st).unwrap(), msg);
                }
                seen.requests.lock().unwrap().push((headers, body));
                (StatusCode::NO_CONTENT, "")
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (addr, h)
}

/// A source whose snapshot has one served site and whose time moves a
/// second per call.
fn source(start_ms: u64) -> (SnapshotSource, Arc<AtomicUsize>) {
    let mut cfg = sitepulse_pipeline::PipelineConfig::default();
    cfg.sites.domains = vec!["example.com".into()];
    let mut p = sitepulse_pipeline::Pipeline::new(&cfg, 1_796_083_200).unwrap();
    let line = "10.42.0.1 - - [30/Nov/2026:23:59:30 +0000] \"GET / HTTP/1.1\" 200 10 \"-\" \"curl/8\" 1 \"websecure-site001-example-com@kubernetes\" \"http://10.42.1.1:80\" 3ms\n";
    p.process(
        "a",
        None,
        line.as_bytes(),
        &mut sitepulse_pipeline::NoObserver,
        &mut |_| {},
    )
    .unwrap();
    p.tick(1_796_083_200);
    let snap = Arc::new(p.snapshot());
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let f: SnapshotSource = Arc::new(move || {
        let n = c.fetch_add(1, Ordering::Relaxed) as u64;
        (snap.clone(), start_ms + n * 1_000)
    });
    (f, calls)
}

fn test_cfg(addr: SocketAddr) -> RemoteWriteConfig {
    RemoteWriteConfig {
        endpoint: format!("http://{addr}/api/v1/write"),
        interval_secs: 1,
        timeout_secs: 2,
        headers: BTreeMap::from([("Authorization".into(), "Bearer t0k".into())]),
        external_labels: BTreeMap::from([("node".into(), "n1".into())]),
        retry: crate::retry::RetryConfig {
            initial_backoff_ms: 20,
            max_backoff_ms: 100,
        },
        ..RemoteWriteConfig::default()
    }
}

async fn wait(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_with_the_spec_headers_and_survives_503_and_400() {
    let seen = Arc::new(Seen::default());
    seen.script.lock().unwrap().extend([
        (503, "busy"),
        (429, "slow down"),
        (400, "out of order sample"),
    ]);
    let (addr, server) = receiver(seen.clone()).await;
    let dir = std::env::temp_dir().join(format!("sitepulse-rw-unit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (src, _) = source(1_800_000_000_000);
    let (tx, rx) = watch::channel(false);
    let (stats, run) = open(&test_cfg(addr), &dir, src, rx).unwrap();
    let task = tokio::spawn(run);
    // The first frame: 503, 429 (retried), then 400 (dropped); the second
    // and third arrive.
    wait("two accepted pushes", || {
        seen.requests.lock().unwrap().len() >= 2
    })
    .await;
    tx.send(true).unwrap();
    task.await.unwrap();
    server.abort();

    let reqs = seen.requests.lock().unwrap();
    let (h, body) = &reqs[0];
    assert_eq!(h["content-encoding"], "snappy");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(h["authorization"], "Bearer t0k");
    assert!(h["user-agent"].to_str().unwrap().starts_with("sitepulse/"));
    let req = decode(body).expect("a snappy block of a WriteRequest");
    let per_frame = req.timeseries.len() as u64;
    // 5 classes + bytes + 15 buckets, sum, count + in-flight + 3 rps.
    assert_eq!(per_frame, 5 + 1 + 17 + 1 + 3);
    // The first frame (t0) was refused: the first stored is t0 + 1 s.
    for t in &req.timeseries {
        assert_eq!(t.samples.len(), 1);
        assert_eq!(t.samples[0].timestamp, 1_800_000_001_000);
        assert!(t.labels.windows(2).all(|w| w[0].name < w[1].name));
        assert!(t.labels.iter().any(|l| l.name == "node" && l.value == "n1"));
    }
    let total = req
        .timeseries
        .iter()
        .filter(|t| {
            t.labels
                .iter()
                .any(|l| l.value == "sitepulse_site_requests_total")
        })
        .map(|t| t.samples[0].value)
        .sum::<f64>();
    assert_eq!(total, 1.0);
    let s = stats.snapshot(unix_ms());
    assert_eq!(
        s.dropped_items.get("rejected_out_of_order"),
        Some(&per_frame)
    );
    assert_eq!(s.failed_requests.get("http_503"), Some(&1));
    assert_eq!(s.failed_requests.get("http_429"), Some(&1));
    assert!(s.retries >= 2, "{s:?}");
    assert!(s.sent_items >= 2 * per_frame, "{s:?}");
    assert!(s.accepted_items >= 3 * per_frame, "{s:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nothing listens: every frame stays in a spool with room for two and a
/// half of the first. Frames are snappy-compressed, so a later one can be
/// smaller and a third fit: the spooled count is returned (2 or 3).
async fn full_spool(
    when_full: crate::spool::WhenFull,
) -> (crate::stats::SinkStatsSnapshot, u64, u64, u64) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "sitepulse-rw-full-{:?}-{}",
        when_full,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let (src, calls) = source(1_800_000_000_000);
    let mut cfg = test_cfg(addr);
    let (frame, per_frame) = {
        let (snap, _) = src();
        let e = Encoder::new(&cfg.external_labels)
            .encode(&snap, 1_800_000_000_000)
            .unwrap();
        (e.body.len() as u64, u64::from(e.samples))
    };
    cfg.spool.max_bytes = 2 * (frame + crate::spool::HEADER_BYTES) + frame / 2;
    cfg.spool.segment_bytes = cfg.spool.max_bytes;
    cfg.spool.when_full = when_full;
    let (tx, rx) = watch::channel(false);
    let (stats, run) = open(&cfg, &dir, src, rx).unwrap();
    let task = tokio::spawn(run);
    // The call above was the source's first.
    wait("five intervals", || calls.load(Ordering::Relaxed) >= 6).await;
    tx.send(true).unwrap();
    task.await.unwrap();
    let frames = calls.load(Ordering::Relaxed) as u64 - 1;
    let spooled = Spool::open(&dir, cfg.spool.clone()).unwrap().frames();
    assert!((2..=3).contains(&spooled), "{spooled} frames spooled");
    let _ = std::fs::remove_dir_all(&dir);
    (stats.snapshot(unix_ms()), frames, per_frame, spooled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_under_block_skips_intervals_and_counts_them() {
    let (s, frames, per_frame, spooled) = full_spool(crate::spool::WhenFull::Block).await;
    assert_eq!(s.sent_items, 0);
    assert_eq!(s.accepted_items, spooled * per_frame);
    assert_eq!(
        s.dropped_items["spool_full"],
        (frames - spooled) * per_frame
    );
    assert!(s.blocked);
    assert!(s.failed_requests["connect"] >= 1, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_under_drop_oldest_keeps_the_newest() {
    let (s, frames, per_frame, spooled) = full_spool(crate::spool::WhenFull::DropOldest).await;
    assert_eq!(s.sent_items, 0);
    assert_eq!(s.accepted_items, frames * per_frame);
    assert_eq!(
        s.dropped_items["spool_full"],
        (frames - spooled) * per_frame
    );
    assert!(!s.blocked);
}
