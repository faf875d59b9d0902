//! `/metrics` over a real `sitepulse run`: OpenMetrics when the scraper
//! asks for it (Prometheus' `Accept`), the classic text format otherwise;
//! `promtool check metrics` passes on the classic body; per-site counters
//! count the lines written; the self-metrics say what was read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sitepulse_tests::http::json;
use sitepulse_tests::prometheus::promtool_check;
use sitepulse_tests::{Collector, append, clf_line, tmpdir, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const WAIT: Duration = Duration::from_secs(20);

/// What Prometheus 2.42 sends (`prometheus/prometheus:scrape/scrape.go`).
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn config(d: &Path) -> PathBuf {
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

/// The value of the sample `series` (name and labels as written).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// GET /metrics with `accept`: content type and body.
fn scrape(port: u16, accept: Option<&str>) -> (String, String) {
    sitepulse_tests::install_tls();
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let mut req = client.get(format!("http://127.0.0.1:{port}/metrics"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (ct, resp.text().unwrap())
}

#[test]
fn both_formats_per_site_counters_and_promtool() {
    let d = tmpdir("http-metrics", "formats");
    let mut text = String::new();
    for _ in 0..7 {
        text += &clf_line("shop-example-com", 200, 20);
    }
    text += &clf_line("shop-example-com", 502, 900);
    text += &clf_line("blog-example-com", 404, 120);
    append(&d.join("logs/access.log"), &text);
    let cfg = config(&d);
    let mut c = Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run.log"));
    let port = c.port;
    wait_for("9 lines", WAIT, || {
        json(port, "/api/v1/status")["lines"] == 9
    });

    let (ct, om) = scrape(port, Some(PROMETHEUS_ACCEPT));
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE sitepulse_site_requests counter\n"),
        "{om}"
    );

    let (ct, classic) = scrape(port, None);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!classic.contains("# EOF"), "{classic}");
    assert!(
        classic.contains("# TYPE sitepulse_site_requests_total counter\n"),
        "{classic}"
    );
    let (ct, _) = scrape(port, Some("*/*"));
    assert!(ct.starts_with("text/plain"), "{ct}");

    for body in [&om, &classic] {
        let s = |series: &str| sample(body, series);
        assert_eq!(
            s("sitepulse_site_requests_total{site=\"shop-example-com\",code_class=\"2xx\"}"),
            Some(7.0)
        );
        assert_eq!(
            s("sitepulse_site_requests_total{site=\"shop-example-com\",code_class=\"5xx\"}"),
            Some(1.0)
        );
        assert_eq!(
            s("sitepulse_site_requests_by_code_total{site=\"shop-example-com\",code=\"502\"}"),
            Some(1.0)
        );
        assert_eq!(
            s("sitepulse_site_requests_total{site=\"blog-example-com\",code_class=\"4xx\"}"),
            Some(1.0)
        );
        assert_eq!(
            s(
                "sitepulse_site_request_duration_seconds_bucket{le=\"0.025\",site=\"shop-example-com\"}"
            ),
            Some(7.0)
        );
        assert_eq!(
            s(
                "sitepulse_site_request_duration_seconds_bucket{le=\"1.0\",site=\"shop-example-com\"}"
            ),
            Some(8.0)
        );
        assert_eq!(
            s("sitepulse_read_lines_total{format=\"traefik_clf\"}"),
            Some(9.0)
        );
        assert_eq!(s("sitepulse_files_watched"), Some(1.0));
        assert!(s("process_resident_memory_bytes").is_some_and(|v| v > 0.0));
        assert!(s("process_open_fds").is_some_and(|v| v > 0.0));
        assert!(!body.contains("path=\"") && !body.contains("ino=\""));
    }
    // One scrape of each format when the classic body was rendered.
    assert_eq!(
        sample(
            &classic,
            "sitepulse_http_metrics_scrapes_total{format=\"openmetrics\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &classic,
            "sitepulse_http_metrics_scrapes_total{format=\"classic\"}"
        ),
        Some(1.0),
        "the body counts the scrape that asked for it"
    );
    if let Some((ok, said)) = promtool_check(&classic) {
        assert!(ok && said.trim().is_empty(), "promtool:\n{said}\n{classic}");
    }

    c.sigterm(Duration::from_secs(10)).unwrap();
    let _ = std::fs::remove_dir_all(&d);
}
