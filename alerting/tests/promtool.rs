//! The generated Prometheus rules ([`sitepulse_alerting::promrules`])
//! against promtool: `promtool check rules` on the embedded default spec
//! and on a custom one, and `promtool test rules` on synthetic collector
//! series with known increases, asserting exact recorded ratios, the
//! period's error budget remaining, and which burn-rate alerts fire.
//!
//! promtool must be installed (`apt-get install prometheus`;
//! tests/run-all.sh installs it); `PROMTOOL` names another binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use sitepulse_alerting::promrules::{ALERT_NAME, generate, rule_file};
use sitepulse_alerting::spec::{DEFAULT_SPEC_YAML, SloSet};

/// A 28-day period, an availability SLO counting 499 with a label of its
/// own, a 250 ms latency SLO, and a site named only in the spec.
const CUSTOM_SPEC: &str = r#"
version: sitepulse/v1
period: 28d
defaults:
  - name: availability
    kind: availability
    objective: 99.5
    errors_include_499: true
    labels: {team: web}
  - name: latency-fast
    kind: latency
    objective: 95
    threshold_ms: 250
sites:
  named-only:
    slos:
      - name: availability
        objective: 99.9
"#;

fn promtool() -> PathBuf {
    let bin = PathBuf::from(std::env::var_os("PROMTOOL").unwrap_or_else(|| "promtool".into()));
    match Command::new(&bin).arg("--version").output() {
        Ok(out) if out.status.success() => bin,
        other => panic!(
            "`{} --version` failed ({other:?}): these tests need promtool; \
             install it with `apt-get install prometheus` (tests/run-all.sh does), \
             or set PROMTOOL to its path",
            bin.display()
        ),
    }
}

/// A fresh directory for one test.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("promrules")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs promtool in `dir`; fails the test with its output unless it
/// succeeds.
fn run_promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {args:?} in {} failed:\n{text}",
        dir.display()
    );
    text
}

fn default_set() -> SloSet {
    SloSet::from_texts(&[(Path::new("rules/slos.yaml"), DEFAULT_SPEC_YAML)]).unwrap()
}

fn custom_set() -> SloSet {
    SloSet::from_texts(&[(Path::new("custom.yaml"), CUSTOM_SPEC)]).unwrap()
}

fn sites(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Writes the rules for `set` and `sites` to `dir/rules.yaml` and checks
/// them.
fn write_checked(dir: &Path, set: &SloSet, site_names: &[&str]) -> String {
    let rules = generate(set, &sites(site_names)).unwrap();
    std::fs::write(dir.join("rules.yaml"), &rules).unwrap();
    let out = run_promtool(dir, &["check", "rules", "rules.yaml"]);
    assert!(out.contains("SUCCESS"), "{out}");
    rules
}

/// The head of a `promtool test rules` file for `rules.yaml`: without
/// `group_eval_order` promtool runs the groups in random order, so an
/// alert would read this minute's SLI or the last one's by chance.
fn test_head(set: &SloSet, site_names: &[&str]) -> String {
    let file = rule_file(set, &sites(site_names)).unwrap();
    let mut head =
        "rule_files: [rules.yaml]\nevaluation_interval: 1m\ngroup_eval_order:\n".to_owned();
    for g in &file.groups {
        head += &format!("  - {}\n", g.name);
    }
    head + "tests:\n"
}

/// `1 - ratio / (1 - objective)`, with the objective as the spec reads
/// it (`99.9 / 100`) and in the order Prometheus computes
/// `slo:period_error_budget_remaining:ratio`, so the value is exact.
fn remaining(errors: f64, total: f64, objective_percent: f64) -> f64 {
    1.0 - (errors / total) / (1.0 - objective_percent / 100.0)
}

#[test]
fn default_spec_rules_pass_promtool_check() {
    let dir = workdir("default-check");
    let rules = write_checked(
        &dir,
        &default_set(),
        &["shop-example-com", "site042", "_unknown"],
    );
    // 3 sites × 2 SLOs × (sli, meta, alerts).
    assert_eq!(rules.matches("\n- name: sloth-slo-").count(), 18, "{rules}");
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"] {
        assert!(
            rules.contains(&format!("record: slo:sli_error:ratio_rate{w}\n")),
            "{w}"
        );
    }
}

#[test]
fn custom_spec_rules_pass_promtool_check() {
    let dir = workdir("custom-check");
    let rules = write_checked(&dir, &custom_set(), &["shop"]);
    assert!(rules.contains("record: slo:sli_error:ratio_rate4w\n"));
    assert!(!rules.contains("ratio_rate30d"));
    assert!(rules.contains(r#"le="0.25""#));
    assert!(rules.contains(r#"sitepulse_site_requests_by_code_total{code="499", site="shop"}"#));
    assert!(rules.contains("- name: sloth-slo-alerts-named-only-availability\n"));
}

/// The default spec (99.9% availability, 99% within 500 ms, 30 days, the
/// workbook's table, 100 requests at least) on three sites, 1000
/// requests a minute but `tiny`'s one every other minute:
///
/// - `spike`: no error for an hour, then 2% 5xx: at 90m the 30m/6h page
///   row (6×) and the 2h/1d ticket row (3×) fire, at 120m the 5m/1h row
///   (14.4×) too;
/// - `slow`: 0.5% 5xx all along: only the ticket (3×, not 6×);
/// - `tiny`: every request a 5xx, but under 100 in any window: nothing.
#[test]
fn default_spec_records_and_alerts_as_expected() {
    let dir = workdir("default-test");
    let set = default_set();
    let names = ["spike", "slow", "tiny"];
    write_checked(&dir, &set, &names);
    let ratio = |site: &str, slo: &str, w: &str, v: f64| {
        format!(
            "      - expr: slo:sli_error:ratio_rate{w}{{sloth_id=\"{site}-{slo}\"}}
        eval_time: 90m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate{w}{{site=\"{site}\", sloth_id=\"{site}-{slo}\", sloth_service=\"{site}\", sloth_slo=\"{slo}\", sloth_window=\"{w}\"}}'
            value: {v:?}
"
        )
    };
    let budget = |site: &str, v: f64| {
        format!(
            "      - expr: slo:period_error_budget_remaining:ratio{{sloth_id=\"{site}-availability\"}}
        eval_time: 90m
        exp_samples:
          - labels: 'slo:period_error_budget_remaining:ratio{{site=\"{site}\", sloth_id=\"{site}-availability\", sloth_service=\"{site}\", sloth_slo=\"availability\", sloth_window=\"30d\"}}'
            value: {v:?}
"
        )
    };
    let alert = |site: &str, sev: &str, value: &str, rows: &str| {
        format!(
            "          - exp_labels:
              severity: {sev}
              sloth_severity: {sev}
              site: {site}
              slo: availability
              sloth_id: {site}-availability
              sloth_service: {site}
              sloth_slo: availability
            exp_annotations:
              title: ({sev}) {site} availability SLO error budget burn rate is too fast.
              summary: 'Site {site}: SLO availability burns its error budget too fast.'
              description: 'Site {site}, SLO availability (99.9% over 30d): {value} of requests failed over the short window, a burn rate of the error budget above {rows}.'
"
        )
    };
    let page = "14.4x over 1h and 5m, or 6x over 6h and 30m";
    let ticket = "3x over 1d and 2h, or 1x over 3d and 6h";
    let mut exprs = String::new();
    exprs += &ratio("spike", "availability", "5m", 0.02);
    exprs += &ratio("slow", "availability", "5m", 0.005);
    exprs += &ratio("tiny", "availability", "5m", 1.0);
    exprs += &ratio("tiny", "availability", "1h", 1.0);
    exprs += &ratio("spike", "latency", "5m", 0.005);
    exprs += &ratio("slow", "availability", "30d", 0.005);
    exprs += &budget("spike", remaining(600.0, 90_000.0, 99.9));
    exprs += &budget("slow", remaining(450.0, 90_000.0, 99.9));
    let test = format!(
        "{head}  - interval: 1m
    input_series:
      - series: 'sitepulse_site_requests_total{{site=\"spike\", code_class=\"2xx\"}}'
        values: '0+1000x60 60980+980x59'
      - series: 'sitepulse_site_requests_total{{site=\"spike\", code_class=\"5xx\"}}'
        values: '0x60 20+20x59'
      - series: 'sitepulse_site_request_duration_seconds_count{{site=\"spike\"}}'
        values: '0+1000x120'
      - series: 'sitepulse_site_request_duration_seconds_bucket{{site=\"spike\", le=\"0.5\"}}'
        values: '0+995x120'
      - series: 'sitepulse_site_requests_total{{site=\"slow\", code_class=\"2xx\"}}'
        values: '0+995x120'
      - series: 'sitepulse_site_requests_total{{site=\"slow\", code_class=\"5xx\"}}'
        values: '0+5x120'
      - series: 'sitepulse_site_requests_total{{site=\"tiny\", code_class=\"2xx\"}}'
        values: '0x120'
      - series: 'sitepulse_site_requests_total{{site=\"tiny\", code_class=\"5xx\"}}'
        values: '{tiny}'
    promql_expr_test:
{exprs}    alert_rule_test:
      - eval_time: 10m
        alertname: {ALERT_NAME}
        exp_alerts:
{slow_ticket_10}      - eval_time: 90m
        alertname: {ALERT_NAME}
        exp_alerts:
{spike_page_90}{spike_ticket_90}{slow_ticket}      - eval_time: 120m
        alertname: {ALERT_NAME}
        exp_alerts:
{spike_page_120}{spike_ticket_120}{slow_ticket}",
        head = test_head(&set, &names),
        tiny = (0..=120)
            .map(|m| (m / 2).to_string())
            .collect::<Vec<_>>()
            .join(" "),
        slow_ticket_10 = alert("slow", "ticket", "0.5%", ticket),
        // 600 of 30,000 over 30m (not 14.4x over 1h yet: 600 of 60,000);
        // 600 of 90,000 over 2h.
        spike_page_90 = alert("spike", "page", "2%", page),
        spike_ticket_90 = alert("spike", "ticket", "0.6667%", ticket),
        // 100 of 5000 over 5m; 1200 of 120,000 over 2h.
        spike_page_120 = alert("spike", "page", "2%", page),
        spike_ticket_120 = alert("spike", "ticket", "1%", ticket),
        slow_ticket = alert("slow", "ticket", "0.5%", ticket),
    );
    std::fs::write(dir.join("test.yaml"), test).unwrap();
    run_promtool(&dir, &["test", "rules", "test.yaml"]);
}

/// The custom spec on `shop`, 1000 requests a minute: 2 5xx and 1 499 a
/// minute (0.3% of 99.5%'s 0.5% budget), and 20 of 800 timed requests
/// over 250 ms (2.5% of 95%'s 5%); `quiet` has no 499 series at all.
#[test]
fn custom_spec_counts_499_and_the_latency_bucket() {
    let dir = workdir("custom-test");
    let set = custom_set();
    let names = ["shop", "quiet"];
    write_checked(&dir, &set, &names);
    let head = test_head(&set, &names);
    let sample = |metric: &str, site: &str, slo: &str, labels: &str, v: f64| {
        format!(
            "      - expr: {metric}{{sloth_id=\"{site}-{slo}\"}}
        eval_time: 60m
        exp_samples:
          - labels: '{metric}{{site=\"{site}\", sloth_id=\"{site}-{slo}\", sloth_service=\"{site}\", sloth_slo=\"{slo}\"{labels}}}'
            value: {v:?}
"
        )
    };
    let web = ", team=\"web\"";
    let mut exprs = String::new();
    for (w, errs, total) in [("5m", 15.0, 5000.0), ("4w", 180.0, 60_000.0)] {
        let l = format!("{web}, sloth_window=\"{w}\"");
        exprs += &sample(
            &format!("slo:sli_error:ratio_rate{w}"),
            "shop",
            "availability",
            &l,
            errs / total,
        );
    }
    exprs += &sample(
        "slo:sli_error:ratio_rate5m",
        "shop",
        "latency-fast",
        ", sloth_window=\"5m\"",
        100.0 / 4000.0,
    );
    exprs += &sample(
        "slo:sli_error:ratio_rate5m",
        "quiet",
        "availability",
        &format!("{web}, sloth_window=\"5m\""),
        5.0 / 5000.0,
    );
    exprs += &sample(
        "slo:period_error_budget_remaining:ratio",
        "shop",
        "availability",
        &format!("{web}, sloth_window=\"4w\""),
        remaining(180.0, 60_000.0, 99.5),
    );
    exprs += &sample(
        "slo:period_error_budget_remaining:ratio",
        "shop",
        "latency-fast",
        ", sloth_window=\"4w\"",
        remaining(1200.0, 48_000.0, 95.0),
    );
    exprs += &sample("slo:time_period:days", "shop", "latency-fast", "", 28.0);
    let test = format!(
        "{head}  - interval: 1m
    input_series:
      - series: 'sitepulse_site_requests_total{{site=\"shop\", code_class=\"2xx\"}}'
        values: '0+997x60'
      - series: 'sitepulse_site_requests_total{{site=\"shop\", code_class=\"5xx\"}}'
        values: '0+2x60'
      - series: 'sitepulse_site_requests_total{{site=\"shop\", code_class=\"4xx\"}}'
        values: '0+1x60'
      - series: 'sitepulse_site_requests_by_code_total{{site=\"shop\", code=\"499\"}}'
        values: '0+1x60'
      - series: 'sitepulse_site_request_duration_seconds_count{{site=\"shop\"}}'
        values: '0+800x60'
      - series: 'sitepulse_site_request_duration_seconds_bucket{{site=\"shop\", le=\"0.25\"}}'
        values: '0+780x60'
      - series: 'sitepulse_site_requests_total{{site=\"quiet\", code_class=\"2xx\"}}'
        values: '0+999x60'
      - series: 'sitepulse_site_requests_total{{site=\"quiet\", code_class=\"5xx\"}}'
        values: '0+1x60'
    promql_expr_test:
{exprs}    alert_rule_test:
      - eval_time: 60m
        alertname: {ALERT_NAME}
"
    );
    std::fs::write(dir.join("test.yaml"), test).unwrap();
    run_promtool(&dir, &["test", "rules", "test.yaml"]);
}
