use super::*;
use sitepulse_pipeline::record::LogFormat;

fn err(text: &str) -> String {
    Config::from_yaml(Path::new("c.yaml"), text)
        .unwrap_err()
        .to_string()
}

fn problems(text: &str) -> Vec<(u64, u64, String)> {
    check_with(text, &|_| None)
        .problems
        .into_iter()
        .map(|p| (p.line, p.column, p.field))
        .collect()
}

fn p(line: u64, column: u64, field: &str) -> (u64, u64, String) {
    (line, column, field.to_owned())
}

#[test]
fn embedded_default_is_valid_and_matches_defaults() {
    let cfg = Config::embedded();
    assert_eq!(cfg.parse.max_line_bytes, 256 * 1024);
    assert_eq!(cfg.sites.max_sites, 2000);
    assert_eq!(cfg.aggregate.retention_secs, 3600);
    // The embedded file documents the defaults: it must spell them exactly.
    assert_eq!(format!("{cfg:?}"), format!("{:?}", Config::default()));
    assert!(Config::from_yaml(Path::new("x"), "").is_ok());
    assert!(Config::from_yaml(Path::new("x"), "# only a comment\n").is_ok());
}

#[test]
fn unknown_field_names_file_line_column_and_field() {
    let e = err("parse:\n  format: auto\n  max_line_byte: 10\n");
    assert_eq!(
        e,
        "c.yaml:3:3: parse.max_line_byte: unknown key `max_line_byte` (did you mean `max_line_bytes`?); allowed here: format, framing, max_line_bytes, detect_lines, multiline"
    );
}

#[test]
fn bad_value_type_names_line_and_what_is_allowed() {
    let e = err("sites:\n  max_sites: lots\n");
    assert_eq!(
        e,
        "c.yaml:2:14: sites.max_sites: expected a whole number, 0 or more"
    );
}

#[test]
fn invalid_value_names_line_and_field() {
    let e = err(
        "# comment\nparse:\n  format: nginx\nsites:\n  max_sites: 100\n  router_pattern: \"(\"\n",
    );
    assert!(e.starts_with("c.yaml:6:19: sites.router_pattern: "), "{e}");
    let e = err("parse:\n  max_line_bytes: 10\n");
    assert_eq!(
        e,
        "c.yaml:2:19: parse.max_line_bytes: must be between 1024 and 67108864, got 10"
    );
    let e = err("aggregate:\n  retention_secs: 7\n");
    assert!(
        e.starts_with("c.yaml:2:19: aggregate.retention_secs: "),
        "{e}"
    );
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let text = "\
parse:
  max_line_bytes: 10
  detect_line: 3
sites:
  max_sites: lots
tail:
  sources:
    - include: [\"/ok/*.log\"]
      format: apache
    - include: [\"/a/*.log\", \"/var/log/[\"]
    - format: auto
  poll_ms: 1
server:
  listen: localhost
  max_connections: 0
";
    assert_eq!(
        problems(text),
        [
            p(2, 19, "parse.max_line_bytes"),
            p(3, 3, "parse.detect_line"),
            p(5, 14, "sites.max_sites"),
            p(9, 15, "tail.sources[0].format"),
            p(10, 29, "tail.sources[1].include[1]"),
            p(11, 7, "tail.sources[2]"),
            p(12, 12, "tail.poll_ms"),
            p(14, 11, "server.listen"),
            p(15, 20, "server.max_connections"),
        ]
    );
    let e = err(text);
    assert_eq!(e.lines().count(), 9, "{e}");
    assert!(e.contains("unknown format \"apache\""), "{e}");
    assert!(e.contains("the required key `include` is missing"), "{e}");
    assert!(e.contains("\"/var/log/[\""), "{e}");
}

#[test]
fn later_problems_read_values_as_the_typed_read_does() {
    // `off` is a mode, `yes` a boolean, `1234` a name: none is a problem
    // in the passes after the first error.
    let text = "parse:\n  multiline:\n    mode: off\n    max_line: 3\ntail:\n  inotify: yes\n  checkpoint_path: 1234\n  poll_ms: 1\n";
    assert_eq!(
        problems(text),
        [
            p(4, 5, "parse.multiline.max_line"),
            p(8, 12, "tail.poll_ms")
        ]
    );
}

#[test]
fn flow_style_has_real_positions() {
    // Line 0 before: the old line finder only knew block style.
    let text = "{tail: {sources: [{include: [a], formt: x}]}, sites: {max_sites: 0}}";
    assert_eq!(
        problems(text),
        [
            p(1, 34, "tail.sources[0].formt"),
            p(1, 66, "sites.max_sites")
        ]
    );
    assert!(
        err(text).starts_with("c.yaml:1:34: tail.sources[0].formt: unknown key `formt` (did you mean `format`?); allowed here: include, exclude, format, multiline\n"),
        "{}",
        err(text)
    );
}

#[test]
fn library_wording_does_not_leak() {
    for text in [
        "sites:\n  max_sites: 3\n  max_sites: 4\n",
        "sites: [\n",
        "a: 1\n---\nb: 2\n",
        "sites:\n  router_pattern: ~\n",
        "tail:\n\tpoll_ms: 3\n",
    ] {
        let e = err(text);
        for word in [
            "<input>",
            "DuplicateKeyPolicy",
            "Option<",
            "from_str",
            "u32",
            "usize",
        ] {
            assert!(!e.contains(word), "{word} in {e}");
        }
        assert!(e.starts_with("c.yaml:"), "{e}");
        assert!(!e.starts_with("c.yaml:0"), "{e}");
    }
    assert_eq!(
        err("sites:\n  max_sites: 3\n  max_sites: 4\n"),
        "c.yaml:3:3: sites.max_sites: set twice (first on line 2); a key may appear once per section"
    );
}

#[test]
fn env_references_expand_and_missing_ones_are_named() {
    let env = |n: &str| match n {
        "LISTEN" => Some("127.0.0.1:9999".to_owned()),
        _ => None,
    };
    let text = "server:\n  listen: ${LISTEN}\n  shutdown_grace_secs: ${GRACE:-7}\ntail:\n  checkpoint_path: ${CKPT}\n";
    let c = check_with(text, &env);
    assert_eq!(
        c.problems,
        [Problem {
            line: 5,
            column: 20,
            field: "tail.checkpoint_path".into(),
            message:
                "environment variable CKPT is not set (give a default with `${CKPT:-default}`)"
                    .into()
        }]
    );
    let c = check_with(&text.replace("${CKPT}", "/x/c.json"), &env);
    let cfg = c.config.unwrap();
    assert_eq!(cfg.server.listen, "127.0.0.1:9999");
    assert_eq!(cfg.server.shutdown_grace_secs, 7);
    assert_eq!(
        c.env.iter().map(String::as_str).collect::<Vec<_>>(),
        ["GRACE", "LISTEN"]
    );
}

#[test]
fn positions_after_an_expanded_value_are_the_files() {
    // `${PAD}` is 6 characters written and 20 expanded: the bad value
    // after it is still reported where it is written.
    let env = |n: &str| (n == "PAD").then(|| "x".repeat(20));
    let c = check_with(
        "{server: {listen: \"${PAD}:1\", max_connections: -1}}",
        &env,
    );
    let got: Vec<_> = c
        .problems
        .iter()
        .map(|p| (p.column, p.field.as_str()))
        .collect();
    assert!(got.contains(&(48, "server.max_connections")), "{got:?}");
}

#[test]
fn listen_forms() {
    for ok in [":9464", "localhost:9464", "0.0.0.0:9464", "[::1]:9464"] {
        let text = format!("server:\n  listen: \"{ok}\"\n");
        assert!(Config::from_yaml(Path::new("c"), &text).is_ok(), "{ok}");
    }
    let e = err("server:\n  listen: \"9464\"\n");
    assert!(
        e.starts_with("c.yaml:2:11: server.listen: \"9464\" has no port"),
        "{e}"
    );
}

#[test]
fn multiline_per_source_and_its_errors() {
    let ok = "tail:\n  sources:\n    - include: [/x/*.log]\n      multiline:\n        mode: custom\n        start_pattern: '^\\['\n        max_lines: 50\n";
    let cfg = Config::from_yaml(Path::new("c.yaml"), ok).unwrap();
    let m = cfg.tail.sources[0].multiline.as_ref().unwrap();
    assert_eq!(
        (m.max_lines, m.start_pattern.as_deref()),
        (50, Some("^\\["))
    );
    let bad = ok.replace("'^\\['", "'('");
    let e = err(&bad);
    assert!(
        e.starts_with("c.yaml:6:24: tail.sources[0].multiline.start_pattern"),
        "{e}"
    );
    let global = "parse:\n  multiline:\n    mode: off\n    max_wait_ms: 0\n";
    assert!(err(global).contains("parse.multiline.max_wait_ms"));
    let unknown = "parse:\n  multiline:\n    mode: off\n    max_line: 3\n";
    assert!(err(unknown).starts_with("c.yaml:4:5: parse.multiline.max_line: unknown key"));
}

#[test]
fn format_names_come_from_sources() {
    let cfg = Config::from_yaml(Path::new("c.yaml"), "parse:\n  format: wordpress\n").unwrap();
    assert_eq!(cfg.parse.format.source(), Some(LogFormat::WordPress));
    let e = err("parse:\n  format: apache\n");
    assert!(
        e.starts_with("c.yaml:2:11: parse.format: unknown format \"apache\""),
        "{e}"
    );
}

#[test]
fn summary_says_what_would_run() {
    let d = std::env::temp_dir().join(format!("sitepulse-summary-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a.log"), "x\n").unwrap();
    std::fs::write(d.join("b.log"), "x\n").unwrap();
    let text = format!(
        "tail:\n  sources:\n    - include: [\"{}/*.log\"]\n      format: nginx\n  checkpoint_path: /x/c.json\nserver:\n  listen: \":0\"\n",
        d.display()
    );
    let cfg = Config::from_yaml(Path::new("c"), &text).unwrap();
    let s = summary::summary(&cfg, &[("HOME".into(), true)]);
    assert!(s.contains("environment: HOME\n"), "{s}");
    assert!(
        s.contains("sources: 1\n  [0] format nginx, multiline parse.multiline, 2 files match now"),
        "{s}"
    );
    assert!(
        s.contains("checkpoint: /x/c.json, saved every 1000 ms"),
        "{s}"
    );
    assert!(s.contains("windows: 1m, 5m, 1h"), "{s}");
    assert!(s.contains("server: listen :0 (0.0.0.0:0)"), "{s}");
    assert!(summary::warnings(&cfg).is_empty());
    let none = Config::from_yaml(Path::new("c"), "tail:\n  sources: []\n").unwrap();
    assert_eq!(summary::warnings(&none), [summary::NO_SOURCES]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sink_problems_name_their_line() {
    let text = "\
sinks:
  loki:
    endpoint: ftp://loki:3100
    labels: [site, bogus]
    batch_wait_ms: 0
    spool:
      max_bytes: 10
  prometheus_remote_write:
    endpoint: http://prometheus:9090/api/v1/write
    interval_seconds: 15
";
    assert_eq!(
        problems(text),
        [
            p(3, 15, "sinks.loki.endpoint"),
            p(4, 13, "sinks.loki.labels"),
            p(5, 20, "sinks.loki.batch_wait_ms"),
            p(6, 5, "sinks.loki.spool.segment_bytes"),
            p(7, 18, "sinks.loki.spool.max_bytes"),
            p(10, 5, "sinks.prometheus_remote_write.interval_seconds"),
        ]
    );
    let e = err(text);
    assert!(e.contains("unknown field \"bogus\""), "{e}");
    assert!(e.contains("http:// or https://"), "{e}");
}

#[test]
fn a_watch_held_longer_than_pod_counts_may_age_is_refused() {
    let e = err(
        "kubernetes:\n  enabled: true\n  resync_secs: 300\nautoscale:\n  freshness:\n    max_pods_age_secs: 120\n",
    );
    assert!(e.contains("kubernetes.resync_secs: must be below autoscale.freshness.max_pods_age_secs (120), got 300"), "{e}");
    // Off, the Kubernetes section is not read.
    assert!(
        Config::from_yaml(
            Path::new("c.yaml"),
            "kubernetes:\n  resync_secs: 300\nautoscale:\n  freshness:\n    max_pods_age_secs: 120\n"
        )
        .is_ok()
    );
}
