use std::path::Path;

use super::query::{le_value, quote};
use super::*;
use crate::spec::DEFAULT_SPEC_YAML;
use crate::test_util::labels;

fn set(text: &str) -> SloSet {
    SloSet::from_texts(&[(Path::new("spec.yaml"), text)]).unwrap()
}

fn default_set() -> SloSet {
    set(DEFAULT_SPEC_YAML)
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn keys(m: &BTreeMap<String, String>) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

/// 99.5% availability with 499, over 28 days, with a label of its own.
const CUSTOM: &str = "
period: 28d
defaults:
  - name: availability
    kind: availability
    objective: 99.5
    errors_include_499: true
    labels: {team: web}
  - name: fast
    kind: latency
    objective: 95
    threshold_ms: 250
";

#[test]
fn windows_are_spelled_as_prometheus_spells_durations() {
    for (secs, want) in [
        (0, "0s"),
        (90, "1m30s"),
        (300, "5m"),
        (1800, "30m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (7200, "2h"),
        (86_400, "1d"),
        (3 * 86_400, "3d"),
        (7 * 86_400, "1w"),
        (28 * 86_400, "4w"),
        (30 * 86_400, "30d"),
        (90 * 86_400, "90d"),
        (365 * 86_400, "1y"),
    ] {
        assert_eq!(prom_duration(Span(secs)), want, "{secs}");
    }
}

#[test]
fn le_values_are_spelled_as_the_collector_spells_them() {
    assert_eq!(le_value(5).as_deref(), Some("0.005"));
    assert_eq!(le_value(250).as_deref(), Some("0.25"));
    assert_eq!(le_value(500).as_deref(), Some("0.5"));
    assert_eq!(le_value(1000).as_deref(), Some("1.0"));
    assert_eq!(le_value(2500).as_deref(), Some("2.5"));
    assert_eq!(le_value(60_000).as_deref(), Some("60.0"));
    assert_eq!(le_value(7), None);
    assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
}

#[test]
fn the_default_spec_gives_sloths_groups_names_and_labels() {
    let file = rule_file(&default_set(), &names(&["shop"])).unwrap();
    let groups: Vec<&str> = file.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        groups,
        [
            "sloth-slo-sli-recordings-shop-availability",
            "sloth-slo-meta-recordings-shop-availability",
            "sloth-slo-alerts-shop-availability",
            "sloth-slo-sli-recordings-shop-latency",
            "sloth-slo-meta-recordings-shop-latency",
            "sloth-slo-alerts-shop-latency",
        ]
    );
    let ids = [
        ("site", "shop"),
        ("sloth_id", "shop-availability"),
        ("sloth_service", "shop"),
        ("sloth_slo", "availability"),
    ];

    let sli = &file.groups[0].rules;
    let windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"];
    assert_eq!(sli.len(), windows.len());
    for (r, w) in sli.iter().zip(windows) {
        assert_eq!(
            r.record.as_deref(),
            Some(format!("slo:sli_error:ratio_rate{w}").as_str())
        );
        let mut want = labels(&ids);
        want.insert("sloth_window".into(), w.into());
        assert_eq!(r.labels, want);
        assert!(r.alert.is_none() && r.annotations.is_empty());
    }
    assert_eq!(
        sli[0].expr,
        "(sum(increase(sitepulse_site_requests_total{code_class=\"5xx\", site=\"shop\"}[5m])))\n\
         /\n\
         (sum(increase(sitepulse_site_requests_total{site=\"shop\"}[5m])))\n"
    );
    // The period's ratio is summed increases too, not an average of 5m
    // ratios.
    assert!(sli[7].expr.contains("[30d]"), "{}", sli[7].expr);
    assert!(!sli[7].expr.contains("_over_time"), "{}", sli[7].expr);

    let meta = &file.groups[1].rules;
    let records: Vec<&str> = meta.iter().filter_map(|r| r.record.as_deref()).collect();
    assert_eq!(
        records,
        [
            "slo:objective:ratio",
            "slo:error_budget:ratio",
            "slo:time_period:days",
            "slo:current_burn_rate:ratio",
            "slo:period_burn_rate:ratio",
            "slo:period_error_budget_remaining:ratio",
            "sloth_slo_info",
        ]
    );
    for r in &meta[..6] {
        assert_eq!(r.labels, labels(&ids), "{:?}", r.record);
    }
    assert_eq!(meta[0].expr, "vector(0.9990000000000001)");
    assert_eq!(meta[1].expr, "vector(1-0.9990000000000001)");
    assert_eq!(meta[2].expr, "vector(30)");
    let filter =
        r#"{sloth_id="shop-availability", sloth_service="shop", sloth_slo="availability"}"#;
    assert_eq!(
        meta[3].expr,
        format!(
            "slo:sli_error:ratio_rate5m{filter}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{filter}\n"
        )
    );
    assert!(meta[4].expr.starts_with("slo:sli_error:ratio_rate30d{"));
    assert_eq!(
        meta[5].expr,
        format!("1 - slo:period_burn_rate:ratio{filter}")
    );
    let info = &meta[6].labels;
    assert_eq!(
        keys(info),
        [
            "site",
            "sloth_id",
            "sloth_mode",
            "sloth_objective",
            "sloth_service",
            "sloth_slo",
            "sloth_spec",
            "sloth_version",
        ]
    );
    assert_eq!(info["sloth_objective"], "99.9");
    assert_eq!(info["sloth_spec"], "sitepulse/v1");

    let alerts = &file.groups[2].rules;
    assert_eq!(alerts.len(), 2);
    for (r, sev) in alerts.iter().zip(["page", "ticket"]) {
        assert_eq!(r.alert.as_deref(), Some(ALERT_NAME));
        assert_eq!(
            r.labels,
            labels(&[
                ("severity", sev),
                ("site", "shop"),
                ("slo", "availability"),
                ("sloth_severity", sev),
            ])
        );
        assert_eq!(keys(&r.annotations), ["description", "summary", "title"]);
        assert!(r.annotations["title"].starts_with(&format!("({sev}) ")));
    }
    let page = &alerts[0].expr;
    let budget = "0.0009999999999998899";
    for part in [
        format!(
            "max(slo:sli_error:ratio_rate5m{filter} > (14.4 * {budget})) without (sloth_window)"
        ),
        format!(
            "max(slo:sli_error:ratio_rate1h{filter} > (14.4 * {budget})) without (sloth_window)"
        ),
        format!("max(slo:sli_error:ratio_rate30m{filter} > (6 * {budget})) without (sloth_window)"),
        format!("max(slo:sli_error:ratio_rate6h{filter} > (6 * {budget})) without (sloth_window)"),
        "and on()\n    (sum(increase(sitepulse_site_requests_total{site=\"shop\"}[1h])) >= 100)"
            .into(),
        "(sum(increase(sitepulse_site_requests_total{site=\"shop\"}[6h])) >= 100)".into(),
    ] {
        assert!(page.contains(&part), "{part}\nnot in\n{page}");
    }
    assert_eq!(page.matches("\nor\n").count(), 1);
    let ticket = &alerts[1].expr;
    for part in [
        "(3 * ",
        "(1 * ",
        "ratio_rate2h{",
        "ratio_rate1d{",
        "ratio_rate3d{",
        "[3d])) >= 100)",
    ] {
        assert!(ticket.contains(part), "{part}\nnot in\n{ticket}");
    }
    assert!(
        alerts[0].annotations["description"]
            .contains("14.4x over 1h and 5m, or 6x over 6h and 30m")
    );

    let latency = &file.groups[3].rules[0].expr;
    assert_eq!(
        latency,
        "(sum(increase(sitepulse_site_request_duration_seconds_count{site=\"shop\"}[5m])) \
         - sum(increase(sitepulse_site_request_duration_seconds_bucket{le=\"0.5\", site=\"shop\"}[5m])))\n\
         /\n\
         (sum(increase(sitepulse_site_request_duration_seconds_count{site=\"shop\"}[5m])))\n"
    );
    assert!(
        file.groups[5].rules[0]
            .expr
            .contains("(sum(increase(sitepulse_site_request_duration_seconds_count{site=\"shop\"}[1h])) >= 100)"),
        "the latency guard counts timed requests"
    );
}

#[test]
fn a_28_day_period_labels_and_499() {
    let file = rule_file(&set(CUSTOM), &names(&["shop"])).unwrap();
    let sli = &file.groups[0].rules;
    assert_eq!(
        sli.last().and_then(|r| r.record.as_deref()),
        Some("slo:sli_error:ratio_rate4w")
    );
    assert_eq!(
        sli.last().map(|r| r.labels["sloth_window"].as_str()),
        Some("4w")
    );
    assert_eq!(sli[0].labels["team"], "web");
    assert_eq!(
        sli[0].expr,
        "(sum(increase(sitepulse_site_requests_total{code_class=\"5xx\", site=\"shop\"}[5m])) \
         + (sum(increase(sitepulse_site_requests_by_code_total{code=\"499\", site=\"shop\"}[5m])) or vector(0)))\n\
         /\n\
         (sum(increase(sitepulse_site_requests_total{site=\"shop\"}[5m])))\n"
    );
    let meta = &file.groups[1].rules;
    assert_eq!(meta[2].expr, "vector(28)");
    assert!(meta.iter().all(|r| r.labels["team"] == "web"));
    assert_eq!(meta[6].labels["sloth_objective"], "99.5");
    let page = &file.groups[2].rules[0];
    assert!(page.expr.contains("(13.44 * "), "{}", page.expr);
    assert!(page.annotations["description"].contains("(99.5% over 4w)"));
    // SLOs in name order: availability, then fast.
    assert_eq!(file.groups[3].name, "sloth-slo-sli-recordings-shop-fast");
    assert!(file.groups[3].rules[0].expr.contains(r#"le="0.25""#));
}

#[test]
fn sites_are_sorted_deduplicated_and_joined_by_the_specs_own() {
    let text = format!(
        "{CUSTOM}sites:\n  zz-named:\n    slos:\n      - name: fast\n        objective: 90\n"
    );
    let s = set(&text);
    let file = rule_file(&s, &names(&["b", "a", "b"])).unwrap();
    let sites: Vec<&str> = file
        .groups
        .iter()
        .filter(|g| g.name.starts_with("sloth-slo-sli-recordings-"))
        .map(|g| g.name.trim_start_matches("sloth-slo-sli-recordings-"))
        .collect();
    assert_eq!(
        sites,
        [
            "a-availability",
            "a-fast",
            "b-availability",
            "b-fast",
            "zz-named-availability",
            "zz-named-fast",
        ]
    );
    let one = generate(&s, &names(&["b", "a"])).unwrap();
    assert_eq!(one, generate(&s, &names(&["a", "b", "a"])).unwrap());
    assert!(one.starts_with("# Code generated by sitepulse"));
}

#[test]
fn the_yaml_reads_back_as_the_rules() {
    let s = set(CUSTOM);
    let sites = names(&["shop", "quote\"d"]);
    let yaml = generate(&s, &sites).unwrap();
    let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    let want = serde_json::to_value(rule_file(&s, &sites).unwrap()).unwrap();
    assert_eq!(back, want);
    assert!(yaml.contains(r#"site="quote\"d""#));
}

#[test]
fn bad_input_is_named() {
    let err = |text: &str, sites: &[&str]| rule_file(&set(text), &names(sites)).unwrap_err();
    let with_label = |k: &str| {
        format!(
            "defaults:\n  - name: a\n    kind: availability\n    objective: 99\n    labels: {{{k}: x}}\n"
        )
    };
    for (k, reason) in [
        ("sloth_team", "the rule generator writes this label itself"),
        ("site", "the rule generator writes this label itself"),
        ("severity", "the rule generator writes this label itself"),
        ("1team", "letters, digits and `_`, not first a digit"),
        ("my-team", "letters, digits and `_`, not first a digit"),
    ] {
        assert_eq!(
            err(&with_label(k), &["s"]),
            PromRulesError::BadLabel {
                site: "s".into(),
                slo: "a".into(),
                label: k.into(),
                reason,
            }
        );
    }
    let two = "defaults:\n  - {name: c, kind: availability, objective: 99}\n  - {name: b-c, kind: availability, objective: 99}\n";
    let e = err(two, &["a", "a-b"]);
    assert_eq!(
        e,
        PromRulesError::DuplicateId {
            id: "a-b-c".into(),
            first_site: "a".into(),
            first_slo: "b-c".into(),
            site: "a-b".into(),
            slo: "c".into(),
        }
    );
    assert!(e.to_string().contains("rename one"), "{e}");
    assert!(matches!(
        err(DEFAULT_SPEC_YAML, &[""]),
        PromRulesError::BadSite {
            reason: "empty",
            ..
        }
    ));
    assert!(matches!(
        err(DEFAULT_SPEC_YAML, &["a\nb"]),
        PromRulesError::BadSite { .. }
    ));
}
