//! The autoscaler interfaces against their targets (issue 17), on a real
//! `sitepulse run`:
//!
//! 1. **Freshness**: a line for a new site is appended to a tailed file and
//!    each interface is polled (every 2 ms) until it knows the site:
//!    `/api/v1/autoscale/{site}` turns from 404 to 200, KEDA's `GetMetrics`
//!    from NotFound to a value. Target: p99 under 1 s from the append.
//! 2. **Load**: 1,000 triggers a second — half KEDA `GetMetrics` over gRPC,
//!    half metrics-api GETs over keep-alive HTTP, spread evenly over the
//!    second, over 500 sites — while the collector ingests a Traefik
//!    corpus; answer latency percentiles, and ingest time against the same
//!    corpus with no readers, alternating, in the same run. Target: p99
//!    answer under 5 ms, ingest unaffected.
//! 3. **Steady**: the same 1,000 triggers a second while the collector
//!    tails a steady 20,000 lines a second (a busy node's Traefik, nginx
//!    and FPM logs together), the load the target is about: answer
//!    latency percentiles.
//!
//! `cargo bench -p sitepulse --bench autoscale` (optimised; 300 probes,
//! 2,000,000 lines, 3 rounds each way). Under `cargo test --benches` it
//! runs once, small, and checks what it measures is sane.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sitepulse::autoscale::keda::externalscaler::external_scaler_client::ExternalScalerClient;
use sitepulse::autoscale::keda::externalscaler::{GetMetricsRequest, ScaledObjectRef};
use sitepulse::autoscale::query::{Metric, Query, Window};
use sitepulse_benches::{CorpusConfig, generate};
use sitepulse_tests::{Collector, append, clf_line, tmpdir, wait_for};
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");

struct Sizes {
    probes: usize,
    steady_secs: u64,
    lines: u64,
    rounds: usize,
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes = if bench {
        Sizes {
            probes: 300,
            steady_secs: 20,
            lines: 2_000_000,
            rounds: 3,
        }
    } else {
        Sizes {
            probes: 10,
            steady_secs: 2,
            lines: 20_000,
            rounds: 1,
        }
    };
    sitepulse_tests::install_tls();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tmpdir("bench-autoscale", "run");
    let run = start(&dir);
    let keda = keda_port(&run);
    freshness(&rt, &run, keda, &dir, sizes.probes);
    drop(run);
    steady(&rt, &dir, &sizes);
    load(&rt, &dir, &sizes);
    let _ = std::fs::remove_dir_all(&dir);
}

fn start(dir: &Path) -> Collector {
    let cfg = dir.join("sitepulse.yaml");
    std::fs::write(
        &cfg,
        format!(
            "tail:\n  sources:\n    - include: [\"{d}/logs/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{d}/ckpt-{n}.json\"\nserver:\n  listen: \"127.0.0.1:0\"\n",
            d = dir.display(),
            n = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()),
        ),
    )
    .unwrap();
    let _ = std::fs::remove_file(dir.join("ckpt.json"));
    let log = dir.join(format!("run-{}.log", sitepulse_tests::unix_now()));
    Collector::start(BIN, &["--config".as_ref(), cfg.as_os_str()], &log)
}

/// The KEDA port from the `KEDA external scaler (gRPC) on` line.
fn keda_port(run: &Collector) -> u16 {
    const NEEDLE: &str = "KEDA external scaler (gRPC) on 127.0.0.1:";
    let mut port = 0;
    wait_for("the KEDA scaler's line", Duration::from_secs(10), || {
        let text = run.log_text();
        if let Some(at) = text.find(NEEDLE) {
            let digits: String = text[at + NEEDLE.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            port = digits.parse().unwrap();
        }
        port != 0
    });
    port
}

fn percentiles(mut v: Vec<f64>) -> [f64; 4] {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    [at(0.5), at(0.9), at(0.99), v[v.len() - 1]]
}

fn metrics_req(site: &str, metric: &str) -> GetMetricsRequest {
    GetMetricsRequest {
        scaled_object_ref: Some(ScaledObjectRef {
            name: "bench".into(),
            namespace: "default".into(),
            scaler_metadata: [
                ("site".to_owned(), site.to_owned()),
                ("metric".to_owned(), metric.to_owned()),
                ("target".to_owned(), "15".to_owned()),
            ]
            .into(),
        }),
        // KEDA sends the name GetMetricSpec gave (less its `sN-` prefix).
        metric_name: Query {
            site: site.to_owned(),
            metric: Metric::parse(metric).unwrap(),
            window: Window::OneMinute,
        }
        .metric_name(),
    }
}

async fn keda_client(port: u16) -> ExternalScalerClient<Channel> {
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    ExternalScalerClient::new(channel)
}

fn freshness(rt: &tokio::runtime::Runtime, run: &Collector, keda: u16, dir: &Path, probes: usize) {
    let file = dir.join("logs/probe.log");
    wait_for("readiness", Duration::from_secs(30), || {
        sitepulse_tests::http::get(run.port, "/readyz").is_ok()
    });
    std::thread::sleep(Duration::from_millis(500));
    let (http_port, mut http_ms, mut grpc_ms) = (run.port, Vec::new(), Vec::new());
    rt.block_on(async {
        let mut grpc = keda_client(keda).await;
        let client = reqwest::Client::new();
        for i in 0..probes {
            // Appends fall anywhere in the publication period.
            tokio::time::sleep(Duration::from_millis(20 + (i as u64 * 37) % 250)).await;
            let site = format!("probe{i}");
            let t0 = Instant::now();
            append(&file, &clf_line(&site, 200, 12));
            let url = format!("http://127.0.0.1:{http_port}/api/v1/autoscale/{site}");
            let http = async {
                loop {
                    let r = client.get(&url).send().await.unwrap();
                    if r.status() == 200 {
                        return t0.elapsed();
                    }
                    assert_eq!(r.status(), 404, "{url}");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            let mut g = grpc.clone();
            let grpc_seen = async {
                loop {
                    match g.get_metrics(metrics_req(&site, "rps")).await {
                        Ok(_) => return t0.elapsed(),
                        Err(s) => assert_eq!(s.code(), tonic::Code::NotFound, "{s:?}"),
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            let (h, g) = tokio::time::timeout(Duration::from_secs(10), async {
                tokio::join!(http, grpc_seen)
            })
            .await
            .expect("a probe line never became visible");
            http_ms.push(h.as_secs_f64() * 1e3);
            grpc_ms.push(g.as_secs_f64() * 1e3);
        }
        let _ = grpc.get_metrics(metrics_req("probe0", "rps")).await;
    });
    println!("freshness: line appended → visible, {probes} probes (ms)");
    for (name, v) in [
        ("metrics-api (HTTP)", http_ms),
        ("KEDA GetMetrics (gRPC)", grpc_ms),
    ] {
        let [p50, p90, p99, max] = percentiles(v);
        println!("  {name:<24} p50 {p50:7.1}  p90 {p90:7.1}  p99 {p99:7.1}  max {max:7.1}");
        // The target (issue 17): visible within 1 s p99. The small run
        // under `cargo test --benches` is a debug build on a shared CI
        // machine: 10 probes, checked against twice that.
        let limit_ms = if probes >= 100 { 1000.0 } else { 2000.0 };
        assert!(p99 < limit_ms, "{name}: p99 {p99} ms (at most {limit_ms})");
    }
}

/// Requests answered, their latencies (µs) and failures, under load.
#[derive(Default)]
struct Answers {
    lat_us: std::sync::Mutex<Vec<u64>>,
    failed: AtomicU64,
}

/// 1,000 triggers a second until `stop`: request `k` goes out at
/// `k` ms, to site `k % 500`, alternately over gRPC and HTTP.
async fn poll(http_port: u16, keda: u16, stop: Arc<AtomicU64>, answers: Arc<Answers>) {
    let grpc = keda_client(keda).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let metrics = ["rps", "p95_ms", "error_ratio", "inflight"];
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut k = 0usize;
    while stop.load(Ordering::Relaxed) == 0 {
        tick.tick().await;
        let site = sitepulse_benches::site_name(k % 500);
        let metric = metrics[(k / 2) % metrics.len()];
        let answers = Arc::clone(&answers);
        if k.is_multiple_of(2) {
            let mut g = grpc.clone();
            tokio::spawn(async move {
                let t0 = Instant::now();
                let ok = g.get_metrics(metrics_req(&site, metric)).await.is_ok();
                answers.record(t0, ok);
            });
        } else {
            let url = format!("http://127.0.0.1:{http_port}/api/v1/autoscale/{site}");
            let c = client.clone();
            tokio::spawn(async move {
                let t0 = Instant::now();
                let ok = matches!(c.get(&url).send().await, Ok(r) if r.status() == 200);
                answers.record(t0, ok);
            });
        }
        k += 1;
    }
}

impl Answers {
    fn record(&self, t0: Instant, ok: bool) {
        let us = t0.elapsed().as_micros() as u64;
        if ok {
            self.lat_us.lock().unwrap().push(us);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Moves a corpus into the tailed directory of a fresh collector and
/// waits until every line is read; with `readers`, 1,000 triggers a
/// second poll meanwhile. The ingest time, and the answers.
fn ingest(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    corpus: &Path,
    lines: u64,
    readers: bool,
) -> (Duration, Option<Arc<Answers>>) {
    let _ = std::fs::remove_dir_all(dir.join("logs"));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let run = start(dir);
    let keda = keda_port(&run);
    // Every site known first (one line each), so the load's answers are
    // values, not NotFound.
    let mut warm = String::new();
    for i in 0..500 {
        warm.push_str(&clf_line(&sitepulse_benches::site_name(i), 200, 10));
    }
    append(&dir.join("logs/warm.log"), &warm);
    let port = run.port;
    wait_for("the warm-up lines", Duration::from_secs(30), || {
        sitepulse_tests::http::json(port, "/api/v1/status")["lines"] == 500
    });
    let stop = Arc::new(AtomicU64::new(0));
    let answers = Arc::new(Answers::default());
    let poller =
        readers.then(|| rt.spawn(poll(port, keda, Arc::clone(&stop), Arc::clone(&answers))));
    // Let the load settle before the corpus arrives.
    std::thread::sleep(Duration::from_millis(if readers { 1000 } else { 0 }));
    let t0 = Instant::now();
    std::fs::copy(corpus, dir.join("logs/.corpus.tmp")).unwrap();
    std::fs::rename(dir.join("logs/.corpus.tmp"), dir.join("logs/corpus.log")).unwrap();
    let want = serde_json::Value::from(lines + 500);
    wait_for("the corpus", Duration::from_secs(600), || {
        std::thread::sleep(Duration::from_millis(20));
        sitepulse_tests::http::json(port, "/api/v1/status")["lines"] == want
    });
    let took = t0.elapsed();
    stop.store(1, Ordering::Relaxed);
    if let Some(p) = poller {
        rt.block_on(p).unwrap();
        // The last answers.
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(run);
    (took, readers.then_some(answers))
}

/// 1,000 triggers a second over a collector tailing 20,000 lines a
/// second, for `steady_secs`.
fn steady(rt: &tokio::runtime::Runtime, dir: &Path, sizes: &Sizes) {
    let _ = std::fs::remove_dir_all(dir.join("logs"));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let run = start(dir);
    let keda = keda_port(&run);
    let port = run.port;
    let mut warm = String::new();
    for i in 0..500 {
        warm.push_str(&clf_line(&sitepulse_benches::site_name(i), 200, 10));
    }
    append(&dir.join("logs/warm.log"), &warm);
    wait_for("the warm-up lines", Duration::from_secs(30), || {
        sitepulse_tests::http::json(port, "/api/v1/status")["lines"] == 500
    });
    // The writer: 200 lines every 10 ms, dated now, over the 500 sites.
    let stop = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, file) = (Arc::clone(&stop), dir.join("logs/steady.log"));
        std::thread::spawn(move || {
            let mut out = sitepulse_tests::open_append(&file);
            let (mut k, mut written) = (0usize, 0u64);
            let mut next = Instant::now();
            while stop.load(Ordering::Relaxed) == 0 {
                let mut batch = String::with_capacity(200 * 200);
                for _ in 0..200 {
                    let site = sitepulse_benches::site_name((k * 7919) % 500);
                    batch.push_str(&clf_line(&site, if k % 97 == 0 { 503 } else { 200 }, 20));
                    k += 1;
                }
                std::io::Write::write_all(&mut out, batch.as_bytes()).unwrap();
                written += 200;
                next += Duration::from_millis(10);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            written
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let answers = Arc::new(Answers::default());
    let poll_stop = Arc::new(AtomicU64::new(0));
    let poller = rt.spawn(poll(
        port,
        keda,
        Arc::clone(&poll_stop),
        Arc::clone(&answers),
    ));
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(sizes.steady_secs));
    poll_stop.store(1, Ordering::Relaxed);
    rt.block_on(poller).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let secs = t0.elapsed().as_secs_f64();
    stop.store(1, Ordering::Relaxed);
    let written = writer.join().unwrap();
    wait_for("the steady lines", Duration::from_secs(60), || {
        sitepulse_tests::http::json(port, "/api/v1/status")["lines"] == written + 500
    });
    drop(run);
    let lat: Vec<f64> = answers
        .lat_us
        .lock()
        .unwrap()
        .iter()
        .map(|&us| us as f64 / 1e3)
        .collect();
    let failed = answers.failed.load(Ordering::Relaxed);
    let n = lat.len();
    let [p50, p90, p99, max] = percentiles(lat);
    println!(
        "steady: 1,000 triggers/s for {secs:.0} s over a collector tailing 20,000 lines/s ({written} lines, all read): {n} answered, {failed} failed; ms p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  max {max:.2}"
    );
    assert_eq!(failed, 0, "answers failed");
}

fn load(rt: &tokio::runtime::Runtime, dir: &Path, sizes: &Sizes) {
    let corpus = dir.join("corpus.clf");
    let now = sitepulse_tests::unix_now();
    let cfg = CorpusConfig {
        lines: sizes.lines,
        start_unix_secs: now - 60,
        rps: Some(sizes.lines as f64 / 60.0),
        ..CorpusConfig::default()
    };
    generate(
        &cfg,
        &mut std::io::BufWriter::new(std::fs::File::create(&corpus).unwrap()),
    )
    .unwrap();
    let (mut quiet, mut loaded, mut lat, mut failed) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..sizes.rounds {
        quiet.push(ingest(rt, dir, &corpus, sizes.lines, false).0);
        let (t, a) = ingest(rt, dir, &corpus, sizes.lines, true);
        loaded.push(t);
        let a = a.unwrap();
        lat.extend(a.lat_us.lock().unwrap().iter().map(|&us| us as f64 / 1e3));
        failed += a.failed.load(Ordering::Relaxed);
    }
    let secs = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let rate = |v: &[Duration]| {
        let best = v.iter().min().unwrap().as_secs_f64();
        sizes.lines as f64 / best
    };
    println!(
        "ingest of {} Traefik lines (s per round): no readers [{}] best {:.0} lines/s; 1,000 triggers/s [{}] best {:.0} lines/s",
        sizes.lines,
        secs(&quiet),
        rate(&quiet),
        secs(&loaded),
        rate(&loaded)
    );
    let n = lat.len();
    let [p50, p90, p99, max] = percentiles(lat);
    println!(
        "answers under load: {n} answered, {failed} failed; ms p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  max {max:.2}"
    );
    assert_eq!(failed, 0, "answers failed under load");
}
