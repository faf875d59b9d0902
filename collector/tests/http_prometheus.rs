//! A real Prometheus scrapes a real `sitepulse run`: the generator writes a
//! Traefik corpus over 40 sites, the collector reads it, Prometheus
//! (Debian's 2.42, which asks for OpenMetrics first) scrapes `/metrics`
//! every second, and a PromQL query for the requests per site returns
//! exactly the generator's per-site counts. The target must be healthy
//! (no parse error on the OpenMetrics body it negotiated: promtool 2.42
//! reads only the classic format, so this is the OpenMetrics check) and
//! the process and build families must be there.
//!
//! Needs `/usr/bin/prometheus` (Debian's `prometheus` package; skipped with
//! a loud message without it).

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::Path;
use std::time::{Duration, Instant};

use sitepulse_tests::http::json;
use sitepulse_tests::prometheus::corpus::{CorpusConfig, Format, generate, site_slug};
use sitepulse_tests::prometheus::{Prometheus, prometheus_bin, skip};
use sitepulse_tests::{Collector, tmpdir, unix_now, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const WAIT: Duration = Duration::from_secs(60);

fn config(d: &Path) -> std::path::PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            "tail:\n  sources:\n    - include: [\"{}/logs/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{}/ckpt.json\"\nserver:\n  listen: \"127.0.0.1:0\"\n",
            d.display(),
            d.display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn promql_per_site_counts_equal_the_corpus() {
    let Some(prom_bin) = prometheus_bin() else {
        skip("prometheus", "not on PATH");
        return;
    };
    let d = tmpdir("prometheus", "per-site");
    let cfg = CorpusConfig {
        format: Format::TraefikClf,
        sites: 40,
        lines: 20_000,
        rps: Some(200.0),
        start_unix_secs: unix_now() - 120,
        ..CorpusConfig::default()
    };
    let out = std::fs::File::create(d.join("logs/access.log")).unwrap();
    let stats = generate(&cfg, &mut BufWriter::new(out)).unwrap();

    let conf = config(&d);
    let mut c = Collector::start(BIN, &[Path::new("--config"), &conf], &d.join("run.log"));
    wait_for("the corpus to be read", WAIT, || {
        json(c.port, "/api/v1/status")["lines"] == stats.lines
    });

    let mut prom = Prometheus::start(&prom_bin, &d.join("prometheus"), "sitepulse", &[c.port], 1);
    // Until a scrape after the last line has been stored.
    let deadline = Instant::now() + WAIT;
    let total = loop {
        let v = prom
            .vector("sum(sitepulse_site_requests_total)", "")
            .unwrap();
        if let Some((_, n)) = v.first()
            && *n as u64 == stats.records
        {
            break *n;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw {} requests: {v:?}\n{}",
            stats.records,
            prom.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(total as u64, stats.records);

    let got: BTreeMap<String, u64> = prom
        .vector("sum by (site) (sitepulse_site_requests_total)", "site")
        .unwrap()
        .into_iter()
        .map(|(site, n)| (site, n as u64))
        .collect();
    // The generator's truth: requests per site (router
    // websecure-siteNNN-example-com → site siteNNN-example-com), and the
    // requests no router matched, which no site claims.
    let mut want: BTreeMap<String, u64> = stats
        .site_records
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (format!("{}-example-com", site_slug(i)), *n))
        .collect();
    if stats.stray_host_records > 0 {
        want.insert("_unknown".into(), stats.stray_host_records);
    }
    assert_eq!(got, want);

    // Every request line has a duration: the histogram counts them all.
    let timed = prom
        .vector("sum(sitepulse_site_request_duration_seconds_count)", "")
        .unwrap();
    assert_eq!(timed[0].1 as u64, stats.records, "{timed:?}");

    // The target is healthy: Prometheus parsed every scrape.
    let targets = sitepulse_tests::http::get(prom.port, "/api/v1/targets").unwrap();
    let targets: serde_json::Value = serde_json::from_str(&targets).unwrap();
    let t = &targets["data"]["activeTargets"][0];
    assert_eq!(t["health"], "up", "{t}");
    assert_eq!(t["lastError"], "", "{t}");
    // Prometheus asked for OpenMetrics and got it, every time.
    let formats: BTreeMap<String, f64> = prom
        .vector("sitepulse_http_metrics_scrapes_total", "format")
        .unwrap()
        .into_iter()
        .collect();
    assert!(formats["openmetrics"] > 0.0, "{formats:?}");
    assert_eq!(formats["classic"], 0.0, "{formats:?}");
    for q in [
        "sitepulse_build_info",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "sitepulse_read_lines_total",
    ] {
        let v = prom.vector(q, "").unwrap();
        assert!(v.first().is_some_and(|(_, n)| *n > 0.0), "{q}: {v:?}");
    }

    prom.stop();
    c.sigterm(Duration::from_secs(10)).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}
