//! `sitepulse run` pushing its per-site series with Prometheus
//! remote_write 1.0 to a real Prometheus (Debian's 2.42, started with
//! `--web.enable-remote-write-receiver` and no scrape target): PromQL over
//! the pushed series gives back a generated corpus' per-site truth; and
//! through an outage — connection refused, then 503 and 429 from a proxy
//! in front of Prometheus, a restart of `run` in the middle — every
//! interval spooled reaches Prometheus, sample for sample.
//!
//! Needs `/usr/bin/prometheus` (Debian's `prometheus` package; skipped with
//! a loud message without it, a failure under CI).

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sitepulse_sinks::remote_write::encode::decode;
use sitepulse_sinks::spool::{Spool, SpoolConfig};
use sitepulse_tests::prometheus::corpus::{CorpusConfig, Format, generate, site_slug};
use sitepulse_tests::prometheus::{Prometheus, prometheus_bin, skip};
use sitepulse_tests::servers::free_port;
use sitepulse_tests::{Collector, append, clf_time, tmpdir, unix_now, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const GRACE: Duration = Duration::from_secs(15);
const WAIT: Duration = Duration::from_secs(40);
const RECEIVER: &str = "--web.enable-remote-write-receiver";

fn config(d: &Path, sinks: &str) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            "tail:\n  sources:\n    - include: [\"{logs}/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{ck}\"\n  checkpoint_interval_ms: 100\n\
             server:\n  listen: \"127.0.0.1:0\"\n\
             sinks:\n{sinks}",
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

fn sink_status(c: &Collector) -> serde_json::Value {
    let s = c.status().unwrap();
    s["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "prometheus_remote_write")
        .unwrap_or_else(|| panic!("no remote_write sink in {s}"))
        .clone()
}

/// A series as text, `name{a="1",b="2"}` with labels sorted by name: the
/// key under which pushed and stored samples are compared.
fn series_key<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut name = "";
    let mut rest = BTreeMap::new();
    for (k, v) in labels {
        if k == "__name__" {
            name = v;
        } else {
            rest.insert(k, v);
        }
    }
    let inner: Vec<String> = rest.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// One pushed interval: its time (every sample of a request has the
/// snapshot's time) and every series' value.
#[derive(Debug, Clone, PartialEq)]
struct Interval {
    ts_ms: i64,
    samples: BTreeMap<String, f64>,
}

/// Decodes a spooled or posted body into its interval.
fn interval(body: &[u8]) -> Interval {
    let req = decode(body).expect("a snappy-compressed WriteRequest");
    let mut ts = None;
    let mut samples = BTreeMap::new();
    for t in &req.timeseries {
        assert_eq!(t.samples.len(), 1, "one sample per series and push");
        let s = t.samples[0];
        assert!(
            ts.is_none_or(|ts| ts == s.timestamp),
            "one time per push: {ts:?} and {}",
            s.timestamp
        );
        ts = Some(s.timestamp);
        let key = series_key(t.labels.iter().map(|l| (&l.name[..], &l.value[..])));
        assert!(samples.insert(key, s.value).is_none(), "a series twice");
    }
    Interval {
        ts_ms: ts.expect("a push holds samples"),
        samples,
    }
}

/// Every interval left in a stopped collector's spool, oldest first,
/// read from a copy (reading acknowledges).
fn spooled(dir: &Path, copy: &Path) -> Vec<Interval> {
    std::fs::create_dir_all(copy).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let mut spool = Spool::open(copy, SpoolConfig::default()).unwrap();
    let mut out = Vec::new();
    while let Some(f) = spool.peek().unwrap() {
        let i = interval(&f.payload);
        assert_eq!(f.items as usize, i.samples.len());
        out.push(i);
        spool.ack().unwrap();
    }
    out
}

/// Every raw sample Prometheus stored for `selector` over the last
/// `range`: series key → time (ms) → value.
fn stored(prom: &Prometheus, selector: &str, range: &str) -> BTreeMap<String, BTreeMap<i64, f64>> {
    let mut out = BTreeMap::new();
    for s in prom.query(&format!("{selector}[{range}]")).unwrap() {
        let labels = s["metric"].as_object().unwrap();
        let key = series_key(labels.iter().map(|(k, v)| (&k[..], v.as_str().unwrap())));
        let points: &mut BTreeMap<i64, f64> = out.entry(key).or_default();
        for v in s["values"].as_array().unwrap() {
            let ts_ms = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
            points.insert(ts_ms, v[1].as_str().unwrap().parse().unwrap());
        }
    }
    out
}

#[test]
fn promql_over_pushed_series_equals_the_corpus() {
    let Some(prom_bin) = prometheus_bin() else {
        skip("prometheus", "not on PATH");
        return;
    };
    let d = tmpdir("remote-write", "corpus");
    let prom = Prometheus::start_with(
        &prom_bin,
        &d.join("prometheus"),
        "none",
        &[],
        1,
        &[RECEIVER],
    );
    let traefik = CorpusConfig {
        format: Format::TraefikClf,
        sites: 400,
        lines: 40_000,
        rps: Some(400.0),
        start_unix_secs: unix_now() - 120,
        ..CorpusConfig::default()
    };
    let fpm = CorpusConfig {
        format: Format::FpmError,
        sites: 400,
        lines: 6_000,
        rps: Some(100.0),
        start_unix_secs: unix_now() - 120,
        ..CorpusConfig::default()
    };
    let mut lines = 0;
    let mut corpus = |cfg: &CorpusConfig, name: &str| {
        let out = std::fs::File::create(d.join("logs").join(name)).unwrap();
        let stats = generate(cfg, &mut BufWriter::new(out)).unwrap();
        lines += stats.lines;
        stats
    };
    let traefik = corpus(&traefik, "traefik.log");
    let fpm = corpus(&fpm, "fpm-error.log");
    let cfg = config(
        &d,
        &format!(
            "  prometheus_remote_write:\n    endpoint: \"http://127.0.0.1:{}/api/v1/write\"\n    interval_secs: 1\n    external_labels: {{node: test-node}}\n",
            prom.port
        ),
    );
    let mut c = start(&cfg, &d, 1);
    wait_for("the corpora to be read", WAIT, || {
        c.status().unwrap()["lines"] == lines
    });

    // Until a push after the last line has been stored.
    let deadline = Instant::now() + WAIT;
    loop {
        let v = prom
            .vector("sum(sitepulse_site_requests_total)", "")
            .unwrap();
        if v.first().is_some_and(|(_, n)| *n as u64 == traefik.records) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had {} requests: {v:?}; sink {}\n{}",
            traefik.records,
            sink_status(&c),
            prom.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The latest sample of each site equals the generator's count for it
    // (router websecure-siteNNN-example-com → site siteNNN-example-com;
    // requests no router matched are `_unknown`'s).
    let got: BTreeMap<String, u64> = prom
        .vector("sum by (site) (sitepulse_site_requests_total)", "site")
        .unwrap()
        .into_iter()
        .map(|(site, n)| (site, n as u64))
        .collect();
    let mut want: BTreeMap<String, u64> = traefik
        .site_records
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (format!("{}-example-com", site_slug(i)), *n))
        .collect();
    if traefik.stray_host_records > 0 {
        want.insert("_unknown".into(), traefik.stray_host_records);
    }
    assert!(want.len() > 300, "{} sites", want.len());
    assert_eq!(got, want);

    let one = |q: &str| -> u64 {
        let v = prom.vector(q, "").unwrap();
        assert_eq!(v.len(), 1, "{q}: {v:?}");
        v[0].1 as u64
    };
    // Every request line has a duration: the histogram counts them all,
    // and its +Inf bucket is its count.
    assert_eq!(
        one("sum(sitepulse_site_request_duration_seconds_count)"),
        traefik.records
    );
    assert_eq!(
        one("sum(sitepulse_site_request_duration_seconds_bucket{le=\"+Inf\"})"),
        traefik.records
    );
    // The FPM master's events, by pool (pools are named after sites).
    assert_eq!(
        one("sum(sitepulse_fpm_max_children_reached_total)"),
        fpm.fpm.max_children
    );
    assert_eq!(one("sum(sitepulse_fpm_slow_requests_total)"), fpm.fpm.slow);
    assert_eq!(
        one("sum(sitepulse_fpm_child_terminations_total)"),
        fpm.fpm.terminated()
    );
    // external_labels on every series.
    assert_eq!(
        one("count({__name__=~\"sitepulse_.+\"})"),
        one("count({__name__=~\"sitepulse_.+\", node=\"test-node\"})")
    );
    let s = sink_status(&c);
    assert_eq!(s["dropped_items"], serde_json::json!({}), "{s}");
    assert_eq!(s["failed_requests"], serde_json::json!({}), "{s}");
    assert!(s["sent_requests"].as_u64() > Some(0), "{s}");
    c.sigterm(GRACE).unwrap();
    drop(prom);
    let _ = std::fs::remove_dir_all(&d);
}

/// What the proxy does with a push.
#[derive(Debug, Clone)]
enum Mode {
    /// Answer this status (503, 429 with `Retry-After: 1`).
    Fail(u16),
    /// POST it on to this URL and answer what it answered.
    Forward(String),
}

#[derive(Debug)]
struct ProxyState {
    mode: Mode,
    /// Answers given, by status.
    answers: BTreeMap<u16, u64>,
    /// Pushes being answered.
    in_flight: u32,
    /// Every push Prometheus answered 2xx, in order.
    forwarded: Vec<Interval>,
}

/// A remote_write proxy in front of Prometheus that can refuse, on
/// 127.0.0.1.
#[derive(Debug, Clone)]
struct Proxy {
    state: Arc<Mutex<ProxyState>>,
    client: reqwest::Client,
}

impl Proxy {
    fn new() -> Proxy {
        sitepulse_tests::install_tls();
        Proxy {
            state: Arc::new(Mutex::new(ProxyState {
                mode: Mode::Fail(503),
                answers: BTreeMap::new(),
                in_flight: 0,
                forwarded: Vec::new(),
            })),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ProxyState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    fn answered(&self, status: u16) -> u64 {
        self.lock().answers.get(&status).copied().unwrap_or(0)
    }

    fn in_flight(&self) -> u32 {
        self.lock().in_flight
    }

    fn forwarded(&self) -> Vec<Interval> {
        self.lock().forwarded.clone()
    }

    /// Serves on `addr` from the runtime `rt`.
    fn serve(&self, rt: &tokio::runtime::Runtime, addr: SocketAddr) {
        let app = axum::Router::new()
            .route("/api/v1/write", axum::routing::post(push))
            .with_state(self.clone());
        let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).unwrap();
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
}

async fn push(State(p): State<Proxy>, headers: HeaderMap, body: Bytes) -> Response {
    let mode = {
        let mut s = p.lock();
        s.in_flight += 1;
        s.mode.clone()
    };
    let (status, text) = match mode {
        Mode::Fail(st) => (st, "the test proxy refuses".to_owned()),
        Mode::Forward(url) => {
            let mut req = p.client.post(url).body(body.clone());
            for (k, v) in &headers {
                if k.as_str().starts_with("content-") || k.as_str().starts_with("x-prometheus") {
                    req = req.header(k, v);
                }
            }
            match req.send().await {
                Ok(r) => {
                    let st = r.status().as_u16();
                    (st, r.text().await.unwrap_or_default())
                }
                Err(e) => (502, e.to_string()),
            }
        }
    };
    let mut s = p.lock();
    s.in_flight -= 1;
    *s.answers.entry(status).or_default() += 1;
    if (200..300).contains(&status) {
        // Recorded before the collector hears the answer: it sends its
        // next push only after, so `forwarded` is in push order.
        s.forwarded.push(interval(&body));
    }
    drop(s);
    let mut resp = (StatusCode::from_u16(status).unwrap(), text).into_response();
    if status == 429 {
        resp.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    resp
}

fn line(site: &str, i: u32, t: i64) -> String {
    format!(
        "10.42.0.1 - - [{}] \"GET /p/{i} HTTP/1.1\" {} 512 \"-\" \"curl/8\" 1 \"websecure-{site}@kubernetes\" \"http://10.42.1.1:80\" {}ms\n",
        clf_time(t),
        [200, 200, 404, 503][i as usize % 4],
        5 + i % 300
    )
}

/// Lines for each of seven sites, in one write (one read, so the first
/// snapshot that has any site has them all).
fn write_lines(log: &Path, per_site: u32) {
    let t = unix_now() - 5;
    let mut text = String::new();
    for i in 0..per_site * 7 {
        text.push_str(&line(&format!("site{}", i % 7), i, t));
    }
    append(log, &text);
}

#[test]
fn an_outage_and_a_restart_lose_no_interval() {
    let Some(prom_bin) = prometheus_bin() else {
        skip("prometheus", "not on PATH");
        return;
    };
    let d = tmpdir("remote-write", "outage");
    // Nothing listens here yet: connection refused.
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let cfg = config(
        &d,
        &format!(
            "  spool_dir: \"{}\"\n  prometheus_remote_write:\n    endpoint: \"http://{addr}/api/v1/write\"\n    interval_secs: 1\n    timeout_secs: 5\n    retry: {{initial_backoff_ms: 20, max_backoff_ms: 1000}}\n",
            d.join("spool").display()
        ),
    );
    let log = d.join("logs/access.log");
    write_lines(&log, 30);
    let mut c = start(&cfg, &d, 1);
    wait_for("pushes refused", WAIT, || {
        sink_status(&c)["failed_requests"]["connect"].as_u64() >= Some(3)
    });
    std::thread::sleep(Duration::from_secs(2));

    // Up, but refusing: 503, then 429 with Retry-After.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let proxy = Proxy::new();
    proxy.serve(&rt, addr);
    wait_for("503s", WAIT, || proxy.answered(503) >= 3);
    proxy.set(Mode::Fail(429));
    wait_for("429s", WAIT, || proxy.answered(429) >= 2);

    // A restart in the middle: nothing was acknowledged, so the spool left
    // behind holds every interval the first run pushed.
    let s = sink_status(&c);
    assert_eq!(s["sent_requests"], 0, "{s}");
    for reason in ["connect", "http_503", "http_429"] {
        assert!(
            s["failed_requests"][reason].as_u64() > Some(0),
            "{reason}: {s}"
        );
    }
    c.sigterm(GRACE).unwrap();
    let before = spooled(&d.join("spool/prometheus_remote_write"), &d.join("copy"));
    assert!(before.len() >= 4, "{} intervals spooled", before.len());
    assert!(
        before.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms),
        "spooled in time order"
    );
    let mut c = start(&cfg, &d, 2);
    write_lines(&log, 20);
    let prom = Prometheus::start_with(
        &prom_bin,
        &d.join("prometheus"),
        "none",
        &[],
        1,
        &[RECEIVER],
    );
    let refused = proxy.answered(429);
    wait_for("429s after the restart", WAIT, || {
        proxy.answered(429) >= refused + 2
    });

    // Prometheus behind the proxy.
    proxy.set(Mode::Forward(format!(
        "http://127.0.0.1:{}/api/v1/write",
        prom.port
    )));
    let deadline = Instant::now() + WAIT;
    while proxy.forwarded().len() < before.len() + 3 {
        assert!(
            Instant::now() < deadline,
            "{} pushes forwarded; sink {}\nprometheus: {}",
            proxy.forwarded().len(),
            sink_status(&c),
            prom.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stop forwarding (and let a push being forwarded finish), so what
    // Prometheus holds and what the proxy saw no longer move, and the
    // collector's count of acknowledged pushes catches up with the proxy's.
    proxy.set(Mode::Fail(503));
    wait_for("the proxy idle", WAIT, || proxy.in_flight() == 0);
    let forwarded = proxy.forwarded();
    wait_for("acknowledgements counted", WAIT, || {
        sink_status(&c)["sent_requests"] == forwarded.len()
    });

    // The exact check. Prometheus appends a request whole or not at all,
    // and gets pushes only through the proxy, which records each one it
    // answered 2xx. So:
    // 1. the pushes forwarded are in time order, without a repeat (only an
    //    acknowledgement lost on the way back would repeat one);
    // 2. the first of them are the intervals the first run spooled, each
    //    one identical (same time, series and values): the restart lost,
    //    added and changed none, and sent them before the new ones;
    // 3. Prometheus holds exactly the samples of the forwarded pushes —
    //    every series at every push's time with its value, and nothing
    //    else: the raw samples of the range, not a count that a missing
    //    push and an extra one could balance.
    assert!(
        forwarded.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms),
        "forwarded out of order or twice: {:?}",
        forwarded.iter().map(|i| i.ts_ms).collect::<Vec<_>>()
    );
    assert_eq!(forwarded[..before.len()], before[..]);
    let mut want: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for i in &forwarded {
        for (k, v) in &i.samples {
            want.entry(k.clone()).or_default().insert(i.ts_ms, *v);
        }
    }
    let got = stored(&prom, "{__name__=~\"sitepulse_.+\"}", "5m");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, points) in &want {
        assert_eq!(&got[k], points, "{k}");
    }
    // And in PromQL's words: a series holds one sample per push that has
    // it (site0's first line is a 200, so every push but those before a
    // run read a line), the first run's included.
    let marker = "sitepulse_site_requests_total{code_class=\"2xx\",site=\"site0\"}";
    let with_marker = forwarded
        .iter()
        .filter(|i| i.samples.contains_key(marker))
        .count();
    let n = prom
        .vector(
            "count_over_time(sitepulse_site_requests_total{site=\"site0\",code_class=\"2xx\"}[5m])",
            "",
        )
        .unwrap();
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].1 as usize, with_marker);
    assert!(with_marker >= before.len() + 3, "{with_marker}");

    let s = sink_status(&c);
    assert_eq!(s["dropped_items"], serde_json::json!({}), "{s}");
    eprintln!(
        "outage: {} intervals spooled by the first run, {} forwarded; proxy answers {:?}",
        before.len(),
        forwarded.len(),
        proxy.lock().answers
    );
    c.sigterm(GRACE).unwrap();
    drop(prom);
    let _ = std::fs::remove_dir_all(&d);
}
