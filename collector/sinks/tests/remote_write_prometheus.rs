//! The remote_write sink against a real Prometheus (Debian's, 2.42, with
//! `--web.enable-remote-write-receiver`) on 127.0.0.1:
//!
//! - a generated Traefik corpus through a real pipeline, pushed: PromQL's
//!   requests per site equal the generator's counts, the duration
//!   histogram counts every request, and a push older than what Prometheus
//!   holds is refused (400) and counted as dropped, not retried;
//! - an outage: nothing listens, then a proxy answers 503, then 429, then
//!   forwards; the sink is shut down and reopened on its spool in the
//!   middle. Every interval's sample ends up in Prometheus, in order.
//!
//! Needs `/usr/bin/prometheus` (Debian's `prometheus` package); skipped with
//! a loud message without it (a failure under CI).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sitepulse_pipeline::{NoObserver, Pipeline, PipelineConfig};
use sitepulse_sinks::SnapshotSource;
use sitepulse_sinks::remote_write::{self, RemoteWriteConfig};
use sitepulse_sinks::retry::RetryConfig;
use sitepulse_sinks::send::unix_ms;
use sitepulse_sinks::stats::SinkStats;
use sitepulse_tests::prometheus::corpus::{CorpusConfig, Format, generate_vec, site_slug};
use sitepulse_tests::prometheus::{percent_encode, prometheus_bin, skip};
use sitepulse_tests::servers::free_port;
use tokio::sync::watch;

/// A Prometheus that takes remote_write pushes and scrapes nothing;
/// killed on drop.
struct Receiver {
    child: Child,
    port: u16,
    dir: PathBuf,
    client: reqwest::Client,
}

/// A client for loopback (no proxy from the environment). Built through
/// the sink's own, which installs the process's rustls provider that
/// reqwest needs before any client is built.
fn client() -> reqwest::Client {
    sitepulse_sinks::http::client(Duration::from_secs(5)).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

impl Receiver {
    async fn start(bin: &Path, name: &str) -> Receiver {
        let dir = tmp(name);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let mut r = Receiver {
            child,
            port,
            dir,
            client: client(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = r
                .client
                .get(format!("http://127.0.0.1:{port}/-/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return r;
            }
            if let Some(st) = r.child.try_wait().unwrap() {
                panic!("prometheus exited at start ({st}):\n{}", r.log());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready:\n{}",
                r.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `data.result` of a PromQL instant query.
    async fn query(&self, promql: &str) -> Vec<Value> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.port,
            percent_encode(promql)
        );
        let body = self
            .client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .text()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success", "{promql}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// An instant vector: label `by` → value.
    async fn vector(&self, promql: &str, by: &str) -> BTreeMap<String, f64> {
        self.query(promql)
            .await
            .iter()
            .map(|s| {
                let v = s["value"][1].as_str().unwrap().parse().unwrap();
                (s["metric"][by].as_str().unwrap_or("").to_owned(), v)
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sitepulse-rw-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(endpoint: String) -> RemoteWriteConfig {
    RemoteWriteConfig {
        endpoint,
        interval_secs: 1,
        timeout_secs: 5,
        external_labels: BTreeMap::from([("node".into(), "test-node".into())]),
        retry: RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 400,
        },
        ..RemoteWriteConfig::default()
    }
}

/// Polls `f` until it holds; panics naming `what` after `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs a sink until `stop` holds of its stats; returns them.
async fn run_sink(
    cfg: &RemoteWriteConfig,
    spool: &Path,
    source: SnapshotSource,
    what: &str,
    mut stop: impl FnMut(&SinkStats) -> bool,
) -> Arc<SinkStats> {
    let (tx, rx) = watch::channel(false);
    let (stats, run) = remote_write::open(cfg, spool, source, rx).unwrap();
    let task = tokio::spawn(run);
    wait_until(what, Duration::from_secs(30), || stop(&stats)).await;
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the sink stops within 10 s of shutdown")
        .unwrap();
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_per_site_counts_equal_the_corpus() {
    let Some(bin) = prometheus_bin() else {
        skip("prometheus", "not on PATH");
        return;
    };
    let prom = Receiver::start(&bin, "corpus").await;
    let now = unix_ms() / 1000;
    let c = CorpusConfig {
        format: Format::TraefikClf,
        sites: 40,
        lines: 20_000,
        rps: Some(400.0),
        start_unix_secs: now as i64 - 120,
        ..CorpusConfig::default()
    };
    let (bytes, truth) = generate_vec(&c).unwrap();
    let mut p = Pipeline::new(&PipelineConfig::default(), now as i64).unwrap();
    let r = p
        .process("access", None, &bytes[..], &mut NoObserver, &mut |_| {})
        .unwrap();
    assert_eq!(r.records, truth.records);
    p.tick(now as i64);
    let snap = Arc::new(p.snapshot());
    let pushed_at = unix_ms();
    let source: SnapshotSource = {
        let snap = snap.clone();
        Arc::new(move || (snap.clone(), pushed_at))
    };

    let spool = tmp("corpus-spool");
    let cfg = config(prom.url());
    let stats = run_sink(&cfg, &spool, source, "the push", |s| {
        s.sent_requests.load(Ordering::Relaxed) > 0
    })
    .await;
    let samples = stats.snapshot(0).sent_items;
    assert!(samples > 40 * 20, "{samples} samples");

    // The generator's truth: requests per site (router
    // websecure-siteNNN-example-com → site siteNNN-example-com), and the
    // requests no router matched, which no site claims.
    let mut want: BTreeMap<String, f64> = truth
        .site_records
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (format!("{}-example-com", site_slug(i)), *n as f64))
        .collect();
    if truth.stray_host_records > 0 {
        want.insert("_unknown".into(), truth.stray_host_records as f64);
    }
    let got = prom
        .vector(
            "sum by (site) (sitepulse_site_requests_total{node=\"test-node\"})",
            "site",
        )
        .await;
    assert_eq!(got, want, "{}", prom.log());
    // Every line has a duration: the histogram counts every request, and
    // its +Inf bucket equals its count.
    let count = prom
        .vector("sum(sitepulse_site_request_duration_seconds_count)", "")
        .await;
    assert_eq!(count[""], truth.records as f64);
    let inf = prom
        .vector(
            "sum(sitepulse_site_request_duration_seconds_bucket{le=\"+Inf\"})",
            "",
        )
        .await;
    assert_eq!(inf[""], truth.records as f64);
    // Every series was stored, and every one has the snapshot's time.
    let series = prom.vector("count({node=\"test-node\"})", "").await;
    assert_eq!(series[""], samples as f64);
    for agg in ["min", "max"] {
        let t = prom
            .vector(
                &format!("{agg}(timestamp(sitepulse_site_request_duration_seconds_bucket))"),
                "",
            )
            .await;
        assert!(
            (t[""] - pushed_at as f64 / 1e3).abs() < 1e-3,
            "{agg}: {t:?} vs {pushed_at}"
        );
    }

    // The same series a minute earlier: Prometheus refuses the push (400,
    // out of order); the sink drops and counts it rather than retry.
    let older: SnapshotSource = Arc::new(move || (snap.clone(), pushed_at - 60_000));
    let spool2 = tmp("corpus-spool-older");
    let stats = run_sink(&cfg, &spool2, older, "the refusal", |s| {
        !s.snapshot(0).dropped_items.is_empty()
    })
    .await;
    let s = stats.snapshot(0);
    assert_eq!(
        s.dropped_items,
        BTreeMap::from([("rejected_out_of_order".to_owned(), samples)]),
        "{s:?}"
    );
    assert_eq!((s.sent_items, s.retries), (0, 0), "{s:?}");
    assert!(s.last_error.unwrap_or_default().contains("out of order"));
    let _ = std::fs::remove_dir_all(&spool);
    let _ = std::fs::remove_dir_all(&spool2);
}

/// What the proxy in front of Prometheus does.
const DOWN_503: u16 = 503;
const DOWN_429: u16 = 429;
const FORWARD: u16 = 0;

/// A proxy on `port` that answers `mode`'s status, or forwards to `to`.
async fn proxy(port: u16, to: String, mode: Arc<AtomicU16>) -> tokio::task::AbortHandle {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let client = client();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (client, to, mode) = (client.clone(), to.clone(), mode.clone());
            async move {
                let m = mode.load(Ordering::Relaxed);
                if m != FORWARD {
                    return (StatusCode::from_u16(m).unwrap(), "not now".to_owned());
                }
                let mut req = client.post(&to).body(body.to_vec());
                for h in [
                    "content-encoding",
                    "content-type",
                    "x-prometheus-remote-write-version",
                ] {
                    if let Some(v) = headers.get(h) {
                        req = req.header(h, v.to_str().unwrap());
                    }
                }
                match req.send().await {
                    Ok(r) => (
                        StatusCode::from_u16(r.status().as_u16()).unwrap(),
                        r.text().await.unwrap_or_default(),
                    ),
                    Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    })
    .abort_handle()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_restart_lose_no_interval() {
    let Some(bin) = prometheus_bin() else {
        skip("prometheus", "not on PATH");
        return;
    };
    let prom = Receiver::start(&bin, "outage").await;
    // Snapshots that change: each interval, one more request of one site.
    let now = (unix_ms() / 1000) as i64;
    let mut cfg = PipelineConfig::default();
    cfg.sites.domains = vec!["example.com".into()];
    let pipeline = Arc::new(Mutex::new(Pipeline::new(&cfg, now).unwrap()));
    let frames = Arc::new(AtomicU64::new(0));
    let source: SnapshotSource = {
        let (pipeline, frames) = (pipeline.clone(), frames.clone());
        Arc::new(move || {
            let mut p = pipeline.lock().unwrap();
            let line = format!(
                "10.42.0.1 - - [{}] \"GET / HTTP/1.1\" 200 10 \"-\" \"curl/8\" 1 \"websecure-outage-example-com@kubernetes\" \"http://10.42.1.1:80\" 3ms\n",
                sitepulse_pipeline::time::format_clf(now)
            );
            p.process("a", None, line.as_bytes(), &mut NoObserver, &mut |_| {})
                .unwrap();
            frames.fetch_add(1, Ordering::Relaxed);
            (Arc::new(p.snapshot()), unix_ms())
        })
    };
    let port = free_port();
    let rw = config(format!("http://127.0.0.1:{port}/api/v1/write"));
    let spool = tmp("outage-spool");
    let mode = Arc::new(AtomicU16::new(DOWN_503));
    let start = Instant::now();
    let at = move |secs: u64| start + Duration::from_secs(secs);

    // Nothing listens for 3 s, then 503 for 2 s, then 429; the sink stops
    // at 6 s.
    let (m, to) = (mode.clone(), prom.url());
    let server = tokio::spawn(async move {
        tokio::time::sleep_until(at(3).into()).await;
        let h = proxy(port, to, m.clone()).await;
        tokio::time::sleep_until(at(5).into()).await;
        m.store(DOWN_429, Ordering::Relaxed);
        h
    });
    let first = run_sink(&rw, &spool, source.clone(), "6 s", |_| {
        Instant::now() >= at(6)
    })
    .await;
    let s = first.snapshot(0);
    assert_eq!(s.sent_items, 0, "{s:?}");
    for reason in ["connect", "http_503", "http_429"] {
        assert!(
            s.failed_requests.get(reason).is_some_and(|n| *n > 0),
            "{reason}: {s:?}"
        );
    }
    let spooled = frames.load(Ordering::Relaxed);
    assert!(spooled >= 5, "{spooled} frames");

    // Reopened on the same spool: 429 for another second, then Prometheus
    // takes everything; a few more intervals go through as they come.
    let server = server.await.unwrap();
    let m = mode.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(at(8).into()).await;
        m.store(FORWARD, Ordering::Relaxed);
    });
    let second = run_sink(&rw, &spool, source, "the spool to drain", |s| {
        let s = s.snapshot(0);
        s.spool_bytes == 0 && s.sent_requests > spooled + 3
    })
    .await;
    server.abort();
    let total = frames.load(Ordering::Relaxed);
    let s = second.snapshot(0);
    assert!(s.dropped_items.is_empty(), "{s:?}");
    assert!(
        s.failed_requests.get("http_429").is_some_and(|n| *n > 0),
        "{s:?}"
    );

    // Every interval's sample, in order: the request counter went 1, 2, …
    // one per frame, at increasing times.
    let raw = prom
        .query("sitepulse_site_requests_total{site=\"outage\",code_class=\"2xx\"}[10m]")
        .await;
    assert_eq!(raw.len(), 1, "{raw:?}");
    let values: Vec<(f64, f64)> = raw[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v[0].as_f64().unwrap(),
                v[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let counts: Vec<f64> = values.iter().map(|v| v.1).collect();
    let want: Vec<f64> = (1..=total).map(|n| n as f64).collect();
    assert_eq!(counts, want, "{}", prom.log());
    assert!(values.windows(2).all(|w| w[0].0 < w[1].0));
    let n = prom.vector(
        "count_over_time(sitepulse_site_requests_total{site=\"outage\",code_class=\"2xx\"}[10m])",
        "",
    ).await;
    assert_eq!(n.values().copied().collect::<Vec<_>>(), [total as f64]);
    let _ = std::fs::remove_dir_all(&spool);
}
