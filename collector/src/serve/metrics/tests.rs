use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use super::*;
use crate::serve::api::fixture;

/// The `Accept` header Prometheus 2.42 sends
/// (`prometheus/prometheus:scrape/scrape.go`, `scrapeAcceptHeader`).
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[test]
fn negotiation_prefers_what_the_scraper_prefers() {
    assert_eq!(
        Format::negotiate(Some(PROMETHEUS_ACCEPT)),
        Format::OpenMetrics
    );
    // curl's default, no header, the classic type, OpenMetrics refused.
    assert_eq!(Format::negotiate(Some("*/*")), Format::Classic);
    assert_eq!(Format::negotiate(None), Format::Classic);
    assert_eq!(
        Format::negotiate(Some("text/plain;version=0.0.4")),
        Format::Classic
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=0,text/plain")),
        Format::Classic
    );
    assert_eq!(
        Format::negotiate(Some(
            "text/plain;q=0.5, application/openmetrics-text;version=1.0.0"
        )),
        Format::OpenMetrics
    );
    assert_eq!(Format::negotiate(Some("application/json")), Format::Classic);
}

/// `promtool check metrics` on `text`: `None` when promtool is missing
/// (the test then says so loudly), else its exit status and output.
pub(crate) fn promtool_check(text: &str) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "\n!!! SKIPPED: promtool not found ({e}); install Debian's `prometheus` package to check the exposition !!!\n"
            );
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

fn full_registry() -> Registry {
    let live = fixture::live(fixture::snapshot());
    let http = Arc::new(HttpStats::default());
    http.rejected.fetch_add(3, Ordering::Relaxed);
    registry(live, http)
}

#[test]
fn openmetrics_has_the_self_process_and_site_families() {
    let text = render(&full_registry(), Format::OpenMetrics).unwrap();
    for want in [
        "# TYPE sitepulse_read_lines counter\n",
        "# TYPE sitepulse_checkpoint_age_seconds gauge\n",
        "sitepulse_checkpoint_age_seconds -1.0\n",
        "sitepulse_http_connections_rejected_total 3\n",
        "# TYPE sitepulse_build info\n",
        "# TYPE process_cpu_seconds counter\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "# TYPE process_start_time_seconds gauge\n",
        "# TYPE sitepulse_site_request_duration_seconds histogram\n",
        "# TYPE sitepulse_lag_seconds gauge\n",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    let build = format!(
        "sitepulse_build_info{{version=\"{}\",revision=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        env!("SITEPULSE_REVISION")
    );
    assert!(text.contains(&build), "{text}");
    assert!(text.ends_with("# EOF\n"));
    // No per-file labels: their values are unbounded.
    assert!(
        !text.contains("path=\"") && !text.contains("ino=\""),
        "{text}"
    );
}

/// Per-site samples, checked against the fixture's lines: 8 × 200, 1 ×
/// 404 and 1 × 503 for shop (nine at 20 ms, one at 900 ms), two
/// max-children warnings and a slow request in pool shop, two PHP warnings
/// and a fatal error in /var/www/shop/.
#[test]
fn site_families_count_the_fixture_lines() {
    let snap = fixture::snapshot();
    let text = render(&snapshot_registry(Arc::new(snap)), Format::OpenMetrics).unwrap();
    for want in [
        "sitepulse_site_requests_total{site=\"shop-example-com\",code_class=\"2xx\"} 8\n",
        "sitepulse_site_requests_total{site=\"shop-example-com\",code_class=\"4xx\"} 1\n",
        "sitepulse_site_requests_total{site=\"shop-example-com\",code_class=\"5xx\"} 1\n",
        "sitepulse_site_requests_total{site=\"shop-example-com\",code_class=\"other\"} 0\n",
        "sitepulse_site_requests_by_code_total{site=\"shop-example-com\",code=\"503\"} 1\n",
        "sitepulse_site_response_bytes_total{site=\"shop-example-com\"} 5120\n",
        "sitepulse_site_request_duration_seconds_bucket{le=\"0.025\",site=\"shop-example-com\"} 9\n",
        "sitepulse_site_request_duration_seconds_bucket{le=\"0.5\",site=\"shop-example-com\"} 9\n",
        "sitepulse_site_request_duration_seconds_bucket{le=\"1.0\",site=\"shop-example-com\"} 10\n",
        "sitepulse_site_request_duration_seconds_bucket{le=\"+Inf\",site=\"shop-example-com\"} 10\n",
        "sitepulse_site_request_duration_seconds_count{site=\"shop-example-com\"} 10\n",
        "sitepulse_site_request_duration_seconds_sum{site=\"shop-example-com\"} 1.08\n",
        "sitepulse_site_requests_total{site=\"blog-example-com\",code_class=\"2xx\"} 3\n",
        "sitepulse_site_request_duration_seconds_bucket{le=\"1.0\",site=\"blog-example-com\"} 0\n",
        "sitepulse_site_request_duration_seconds_bucket{le=\"2.5\",site=\"blog-example-com\"} 3\n",
        "sitepulse_fpm_max_children_reached_total{site=\"shop\",pool=\"shop\"} 2\n",
        "sitepulse_fpm_slow_requests_total{site=\"shop\",pool=\"shop\"} 1\n",
        "sitepulse_fpm_max_children_reached_total{site=\"blog\",pool=\"blog\"} 1\n",
        "sitepulse_php_errors_total{site=\"shop\",level=\"warning\"} 2\n",
        "sitepulse_php_errors_total{site=\"shop\",level=\"fatal\"} 1\n",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    // The 1m window's rate and in-flight come from the snapshot as is.
    let snap = fixture::snapshot();
    let w = &snap.site("shop-example-com").unwrap().windows[0];
    let rps = sample(
        &text,
        "sitepulse_site_rps{site=\"shop-example-com\",window=\"1m\"}",
    );
    assert!(
        w.rps() > 0.0 && (rps - w.rps()).abs() < 1e-12,
        "{rps} {w:?}"
    );
    let inflight = sample(&text, "sitepulse_site_in_flight{site=\"shop-example-com\"}");
    assert!((inflight - w.in_flight()).abs() < 1e-12, "{inflight} {w:?}");
    // A site with no requests has no request series.
    assert!(!text.contains("sitepulse_site_requests_total{site=\"shop\""));
}

/// The value of the sample whose name and labels are `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn classic_text_passes_promtool() {
    let text = render(&full_registry(), Format::Classic).unwrap();
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE sitepulse_site_requests_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE sitepulse_build_info gauge\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
    if let Some((ok, said)) = promtool_check(&text) {
        assert!(ok && said.trim().is_empty(), "promtool:\n{said}\n{text}");
    }
}

/// promtool 2.42 reads the classic format only: the OpenMetrics body is
/// checked by Prometheus itself in `tests/tests/prometheus.rs`. Here: the
/// OpenMetrics body converts to the classic body (one encoder, two
/// spellings), so what promtool passes is what Prometheus is sent.
#[test]
fn openmetrics_and_classic_carry_the_same_samples() {
    let snap = Arc::new(fixture::snapshot());
    let reg = snapshot_registry(snap);
    let om = render(&reg, Format::OpenMetrics).unwrap();
    let classic = render(&reg, Format::Classic).unwrap();
    let samples = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| !l.starts_with("process_"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(samples(&om), samples(&classic));
}
