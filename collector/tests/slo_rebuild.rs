//! Rebuilding lost SLO counts from a real Prometheus (Debian's): three
//! days of sitepulse's series are backfilled into its TSDB with
//! `promtool tsdb create-blocks-from openmetrics`, then `sitepulse run`
//! starts with no count file and `slo.rebuild_from_prometheus`: the
//! period's requests, errors and slow requests come back (Prometheus's
//! `increase()` estimates), and the short windows stay empty, so nothing
//! pages from rebuilt history alone.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sitepulse_tests::http::get_with;
use sitepulse_tests::prometheus::{Prometheus, prometheus_bin};
use sitepulse_tests::{Collector, tmpdir, unix_now, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");

/// Site `shop` for the past 3 days, a sample every 5 minutes: 10 req/s,
/// 0.5% 5xx, 1% slower than 500 ms.
fn openmetrics(now: i64) -> String {
    let from = now - 3 * 86_400;
    let times: Vec<i64> = (0..)
        .map(|i| from + i * 300)
        .take_while(|t| *t < now - 600)
        .collect();
    let mut out = String::new();
    let series = |out: &mut String, name: &str, labels: &str, per_step: u64| {
        for (i, t) in times.iter().enumerate() {
            let _ = writeln!(out, "{name}{{{labels}}} {} {t}", per_step * i as u64);
        }
    };
    out.push_str("# HELP sitepulse_site_requests Requests by status class.\n# TYPE sitepulse_site_requests counter\n");
    series(
        &mut out,
        "sitepulse_site_requests_total",
        "site=\"shop\",code_class=\"2xx\"",
        2985,
    );
    series(
        &mut out,
        "sitepulse_site_requests_total",
        "site=\"shop\",code_class=\"5xx\"",
        15,
    );
    out.push_str("# HELP sitepulse_site_request_duration_seconds Request durations.\n# TYPE sitepulse_site_request_duration_seconds histogram\n");
    series(
        &mut out,
        "sitepulse_site_request_duration_seconds_bucket",
        "site=\"shop\",le=\"0.5\"",
        2970,
    );
    series(
        &mut out,
        "sitepulse_site_request_duration_seconds_bucket",
        "site=\"shop\",le=\"+Inf\"",
        3000,
    );
    series(
        &mut out,
        "sitepulse_site_request_duration_seconds_count",
        "site=\"shop\"",
        3000,
    );
    out.push_str("# EOF\n");
    out
}

#[test]
fn lost_counts_are_rebuilt_from_prometheus() {
    let bin = prometheus_bin()
        .expect("prometheus missing: apt-get install prometheus (tests/run-all.sh does)");
    let promtool = bin.with_file_name("promtool");
    let d = tmpdir("slo-rebuild", "prom");
    let now = unix_now();
    let om = d.join("backfill.om");
    std::fs::write(&om, openmetrics(now)).unwrap();
    let data = d.join("prom/data");
    std::fs::create_dir_all(&data).unwrap();
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let prom = Prometheus::start(&bin, &d.join("prom"), "none", &[], 60);
    let cfg = d.join("sitepulse.yaml");
    std::fs::write(
        &cfg,
        format!(
            "tail:\n  sources: []\n  checkpoint_path: \"{0}/ckpt.json\"\nserver:\n  listen: \"127.0.0.1:0\"\nslo:\n  rebuild_from_prometheus: \"http://127.0.0.1:{1}\"\n",
            d.display(),
            prom.port
        ),
    )
    .unwrap();
    let c = Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run.log"));
    let mut doc = Value::Null;
    wait_for("the rebuilt shop", Duration::from_secs(30), || {
        let Ok((200, body)) = get_with(c.port, "/api/v1/slos/shop", &[]) else {
            return false;
        };
        doc = serde_json::from_str(&body).unwrap();
        doc["slos"].as_array().is_some_and(|a| a.len() == 2)
    });
    let log = std::fs::read_to_string(d.join("run.log")).unwrap();
    assert!(log.contains("SLO counts rebuilt from Prometheus"), "{log}");
    let slo = |name: &str| {
        doc["slos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slo"] == name)
            .unwrap()
            .clone()
    };
    let avail = slo("availability");
    let n = avail["period_requests"].as_f64().unwrap();
    // About 71 whole hours of 36,000 requests (the first and last hours
    // of the data are partial; increase() extrapolates within 10%).
    assert!((2.3e6..2.8e6).contains(&n), "{avail}");
    let ratio = avail["period_bad"].as_f64().unwrap() / n;
    assert!((ratio - 0.005).abs() < 0.0003, "{ratio} {avail}");
    assert!(
        (avail["budget_remaining"].as_f64().unwrap() - (1.0 - 5.0)).abs() < 0.3,
        "{avail}"
    );
    let lat = slo("latency");
    let slow = lat["period_bad"].as_f64().unwrap() / lat["period_requests"].as_f64().unwrap();
    assert!((slow - 0.01).abs() < 0.0005, "{slow} {lat}");
    // The short windows are live-only: rebuilt history pages nobody.
    assert!(avail["burn_rates"]["5m"].is_null(), "{avail}");
    assert_eq!(avail["state"], "ok", "{avail}");
    assert!(avail["burn_rates"]["1d"].as_f64().unwrap() > 4.0, "{avail}");
}
