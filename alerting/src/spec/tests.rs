use std::path::Path;

use super::*;

fn set(files: &[&str]) -> Result<SloSet, SpecError> {
    let named: Vec<(String, &str)> = files
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("f{i}.yaml"), *t))
        .collect();
    let refs: Vec<(&Path, &str)> = named
        .iter()
        .map(|(p, t)| (Path::new(p.as_str()), *t))
        .collect();
    SloSet::from_texts(&refs)
}

#[test]
fn the_embedded_default_gives_every_site_two_slos() {
    let s = SloSet::load(&[]).unwrap();
    let slos = s.for_site("anything");
    assert_eq!(slos.len(), 2);
    assert_eq!(slos[0].name, "availability");
    assert_eq!(slos[0].sli, Sli::Availability { with_499: false });
    assert!((slos[0].objective - 0.999).abs() < 1e-12);
    assert_eq!(slos[0].period, Span(30 * 86_400));
    assert_eq!(slos[1].sli, Sli::Latency { threshold_ms: 500 });
    assert_eq!(s.burn, BurnTable::default());
}

#[test]
fn groups_then_sites_override_by_name() {
    let s = set(&[r#"
period: 28d
defaults:
  - {name: availability, kind: availability, objective: 99.9}
  - {name: latency, kind: latency, objective: 99, threshold_ms: 500}
groups:
  - name: shops
    sites: ["shop-*", "site042"]
    slos:
      - {name: availability, objective: 99.95, labels: {team: shops}}
    disable: [latency]
sites:
  shop-b:
    slos:
      - {name: latency, kind: latency, objective: 95, threshold_ms: 1000}
      - {name: availability, errors_include_499: true}
"#])
    .unwrap();
    let plain = s.for_site("blog");
    assert_eq!(plain.len(), 2);
    assert_eq!(plain[0].period, Span(28 * 86_400));
    let a = s.for_site("shop-a");
    assert_eq!(a.len(), 1);
    assert!((a[0].objective - 0.9995).abs() < 1e-12);
    assert_eq!(a[0].labels["team"], "shops");
    let b = s.for_site("shop-b");
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].sli, Sli::Availability { with_499: true });
    assert!((b[0].objective - 0.9995).abs() < 1e-12);
    assert_eq!(b[1].sli, Sli::Latency { threshold_ms: 1000 });
    assert_eq!(s.for_site("site042").len(), 1);
}

#[test]
fn each_problem_names_the_file_and_field() {
    let cases = [
        (
            "defaults:\n  - {name: a, kind: availability}\n",
            "defaults[0].objective",
        ),
        (
            "defaults:\n  - {name: a, kind: latency, objective: 99}\n",
            "defaults[0].threshold_ms",
        ),
        (
            "defaults:\n  - {name: a, kind: latency, objective: 99, threshold_ms: 300}\n",
            "defaults[0].threshold_ms",
        ),
        (
            "defaults:\n  - {name: a, kind: availability, objective: 100}\n",
            "defaults[0].objective",
        ),
        (
            "defaults:\n  - {name: 'a b', kind: availability, objective: 99}\n",
            "defaults[0].name",
        ),
        (
            "defaults:\n  - {name: a, kind: availability, objective: 99, period: 1000d}\n",
            "defaults[0].period",
        ),
        (
            "sites:\n  x:\n    slos:\n      - {name: new, objective: 99}\n",
            "sites.x.slos[0].kind",
        ),
        ("groups:\n  - {name: g, sites: []}\n", "groups[0].sites"),
        ("version: v9\n", "version"),
        (
            "burn_alerts:\n  windows:\n    - {severity: page, long: 5m, short: 1h, budget_percent: 2}\n",
            "burn_alerts.windows[0].short",
        ),
    ];
    for (text, field) in cases {
        match set(&[text]) {
            Err(SpecError::Invalid {
                path,
                field: f,
                message,
            }) => {
                assert_eq!(path, Path::new("f0.yaml"));
                assert_eq!(f, field, "{text}: {message}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    // Unknown keys and types are the YAML reader's, with a position.
    let e = set(&["defaults:\n  - {name: a, kind: availability, objectiv: 99}\n"]).unwrap_err();
    assert!(matches!(e, SpecError::Yaml { .. }), "{e}");
    assert!(e.to_string().contains("objectiv"), "{e}");
    let e = set(&["period: 30 days\n"]).unwrap_err();
    assert!(e.to_string().contains("not a duration"), "{e}");
}

#[test]
fn sloth_specs_add_slos_to_their_site() {
    let ours = "defaults:\n  - {name: availability, kind: availability, objective: 99.9}\n";
    // The shape of Sloth's own examples (examples/getting-started.yml).
    let sloth = r##"
version: "prometheus/v1"
service: "shop-a"
labels:
  owner: "myteam"
slos:
  - name: "requests-availability"
    objective: 99.95
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
          routing_key: myteam
      ticket_alert:
        labels:
          severity: "slack"
          slack_channel: "#alerts-myteam"
  - name: "requests-latency"
    objective: 99
    sli:
      raw:
        error_ratio_query: |
          1 - (sum(rate(http_request_duration_seconds_bucket{le="0.25"}[{{.window}}])) / sum(rate(http_request_duration_seconds_count[{{.window}}])))
  - name: "checkout"
    objective: 99.5
    sli:
      plugin:
        id: "sitepulse/availability"
        options:
          errors_include_499: "true"
"##;
    let s = set(&[ours, sloth]).unwrap();
    let slos = s.for_site("shop-a");
    let names: Vec<&str> = slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "availability",
            "requests-availability",
            "requests-latency",
            "checkout"
        ]
    );
    assert_eq!(slos[1].sli, Sli::Availability { with_499: false });
    assert_eq!(slos[1].labels["owner"], "myteam");
    assert_eq!(slos[1].labels["category"], "availability");
    assert_eq!(slos[2].sli, Sli::Latency { threshold_ms: 250 });
    assert_eq!(slos[3].sli, Sli::Availability { with_499: true });
    assert_eq!(s.for_site("other").len(), 1);

    let unknown = sloth.replace(
        "sitepulse/availability",
        "sloth-common/kubernetes/apiserver/availability",
    );
    let e = set(&[ours, &unknown]).unwrap_err();
    assert!(e.to_string().contains("slos[2].sli"), "{e}");
    assert!(e.to_string().contains("f1.yaml"), "{e}");
}

#[test]
fn globs() {
    assert!(glob_match("shop-*", "shop-a"));
    assert!(glob_match("*", ""));
    assert!(glob_match("a*b*c", "a-b-c"));
    assert!(!glob_match("a*b*c", "a-c"));
    assert!(!glob_match("ab*ba", "aba"));
    assert!(glob_match("site042", "site042"));
    assert!(!glob_match("site042", "site0421"));
}
