//! SLOs through a real `sitepulse run`: `/api/v1/slos` reports budgets,
//! burn rates and which alert rows fire per site; the per-site counts
//! survive a restart (the count file); a bad spec is refused by
//! `validate` naming the file and field.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sitepulse_tests::http::{get_with, json};
use sitepulse_tests::{Collector, append, clf_line, tmpdir, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");

fn config(d: &Path, extra: &str) -> PathBuf {
    let p = d.join("sitepulse.yaml");
    std::fs::write(
        &p,
        format!(
            "tail:\n  sources:\n    - include: [\"{0}/logs/*.log\"]\n  read_existing: beginning\n  checkpoint_path: \"{0}/ckpt.json\"\nserver:\n  listen: \"127.0.0.1:0\"\n{extra}",
            d.display()
        ),
    )
    .unwrap();
    p
}

fn slo<'a>(doc: &'a Value, site: &str, name: &str) -> &'a Value {
    doc["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == site && s["slo"] == name)
        .unwrap_or_else(|| panic!("no {site}/{name} in {doc}"))
}

fn lines(site: &str, n: usize, status: u16, ms: u32) -> String {
    (0..n).map(|_| clf_line(site, status, ms)).collect()
}

#[test]
fn slos_are_evaluated_served_and_kept_across_a_restart() {
    let d = tmpdir("slo", "api");
    let log = d.join("logs/access.log");
    // shop: 3% errors (30x the 0.1% budget) over 1,000 requests: both
    // page rows burn. quiet: 1 error in 3 requests, under min_requests.
    // slow: every request 900 ms, past the 500 ms latency objective.
    let mut text = lines("shop", 970, 200, 20);
    text += &lines("shop", 30, 503, 20);
    text += &lines("quiet", 2, 200, 20);
    text += &lines("quiet", 1, 500, 20);
    text += &lines("slow", 200, 200, 900);
    append(&log, &text);
    let cfg = config(&d, "slo:\n  save_interval_secs: 1\n");
    let mut c = Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run.log"));
    let mut doc = Value::Null;
    wait_for(
        "1,000 shop requests in /api/v1/slos",
        Duration::from_secs(30),
        || {
            doc = json(c.port, "/api/v1/slos");
            doc["slos"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|s| s["site"] == "shop" && s["period_requests"] == 1000)
            }) && doc["slos"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|s| s["site"] == "slow" && s["period_requests"] == 200)
            })
        },
    );
    let shop = slo(&doc, "shop", "availability");
    assert_eq!(shop["period_bad"], 30);
    assert_eq!(shop["objective_percent"], 99.9);
    assert_eq!(shop["period"], "30d");
    assert_eq!(shop["state"], "page", "{shop}");
    let rate = shop["burn_rates"]["5m"].as_f64().unwrap();
    assert!((rate - 30.0).abs() < 1e-6, "{rate}");
    let budget = shop["budget_remaining"].as_f64().unwrap();
    assert!((budget - (1.0 - 30.0 / 1.0)).abs() < 1e-6, "{budget}");
    assert_eq!(shop["checks"][0]["severity"], "page");
    assert_eq!(shop["checks"][0]["alerting"], true);
    assert!((shop["checks"][0]["factor"].as_f64().unwrap() - 14.4).abs() < 1e-9);
    assert_eq!(slo(&doc, "shop", "latency")["state"], "ok");

    let quiet = slo(&doc, "quiet", "availability");
    assert_eq!(quiet["state"], "ok", "{quiet}");
    assert_eq!(quiet["checks"][0]["below_min_requests"], true);

    let slow = slo(&doc, "slow", "latency");
    assert_eq!(
        (slow["period_bad"].as_u64(), slow["state"].as_str()),
        (Some(200), Some("page"))
    );
    assert_eq!(slow["threshold_ms"], 500);
    assert_eq!(slo(&doc, "slow", "availability")["state"], "ok");

    // Filters, and errors in the API's one shape.
    let alerting = json(c.port, "/api/v1/slos?alerting=true");
    let mut firing: Vec<String> = alerting["slos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["site"].as_str().unwrap(),
                s["slo"].as_str().unwrap()
            )
        })
        .collect();
    firing.sort();
    assert_eq!(firing, ["shop/availability", "slow/latency"]);
    assert_eq!(
        json(c.port, "/api/v1/slos/quiet")["slos"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, body) = get_with(c.port, "/api/v1/slos/nosuchsite", &[]).unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no site named"), "{body}");
    let (status, body) = get_with(c.port, "/api/v1/slos?sight=shop", &[]).unwrap();
    assert_eq!(status, 400, "{body}");

    // The same on /metrics, accepted by promtool.
    let (_, metrics) = get_with(c.port, "/metrics", &[("accept", "text/plain")]).unwrap();
    for want in [
        "sitepulse_slo_burn_rate{site=\"shop\",slo=\"availability\",window=\"5m\"} 30",
        "sitepulse_slo_objective_ratio{site=\"shop\",slo=\"availability\"} 0.999",
        "sitepulse_slo_alerting{site=\"shop\",slo=\"availability\",severity=\"page\"} 1",
        "sitepulse_slo_alerting{site=\"quiet\",slo=\"availability\",severity=\"page\"} 0",
        "sitepulse_alerts{state=\"firing\"}",
        "sitepulse_deploy_duration_seconds_bucket{le=\"+Inf\"} 0",
    ] {
        assert!(metrics.contains(want), "{want} missing:\n{metrics}");
    }
    if let Some((ok, said)) = sitepulse_tests::prometheus::promtool_check(&metrics) {
        assert!(ok, "promtool:\n{said}");
    }

    // A restart: the lines are not read again (the checkpoint), the
    // counts come back from the count file.
    wait_for("the count file", Duration::from_secs(10), || {
        d.join("slo-counts").exists()
    });
    c.sigterm(Duration::from_secs(10)).unwrap();
    let c = Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run2.log"));
    append(&log, &lines("shop", 10, 200, 20));
    wait_for(
        "1,010 shop requests after the restart",
        Duration::from_secs(30),
        || {
            // 404 until the first evaluation after the start.
            let Ok((200, body)) = get_with(c.port, "/api/v1/slos/shop", &[]) else {
                return false;
            };
            doc = serde_json::from_str(&body).unwrap();
            doc["slos"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|s| s["slo"] == "availability" && s["period_requests"] == 1010)
            })
        },
    );
    assert_eq!(slo(&doc, "shop", "availability")["period_bad"], 30);
}

#[test]
fn slo_evaluation_can_be_off_and_bad_specs_are_named() {
    let d = tmpdir("slo", "off");
    let cfg = config(&d, "slo:\n  enabled: false\n");
    let c = Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run.log"));
    let (status, body) = get_with(c.port, "/api/v1/slos", &[]).unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("slo.enabled: false"), "{body}");
    drop(c);

    let spec = d.join("slos.yaml");
    std::fs::write(
        &spec,
        "defaults:\n  - {name: availability, kind: availability, objective: 99.9}\nsites:\n  shop:\n    slos:\n      - {name: latency, kind: latency, objective: 99, threshold_ms: 300}\n",
    )
    .unwrap();
    let cfg = config(&d, &format!("slo:\n  specs: [\"{}\"]\n", spec.display()));
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("slo.specs[0]"), "{err}");
    assert!(
        err.contains(&format!(
            "{}: sites.shop.slos[0].threshold_ms: 300",
            spec.display()
        )),
        "{err}"
    );
    // A directory of specs, one of them Sloth's.
    let dir = d.join("rules");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        "defaults:\n  - {name: availability, kind: availability, objective: 99.5}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yml"),
        "version: prometheus/v1\nservice: shop\nslos:\n  - name: checkout\n    objective: 99.9\n    sli:\n      plugin:\n        id: sitepulse/availability\n",
    )
    .unwrap();
    let cfg = config(&d, &format!("slo:\n  specs: [\"{}\"]\n", dir.display()));
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
