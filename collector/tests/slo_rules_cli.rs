//! `sitepulse rules generate` as a user runs it: rules for the named
//! sites from the config's specs, accepted by `promtool check rules`
//! (Debian's prometheus package; tests/run-all.sh installs it).

use std::process::Command;

use sitepulse_tests::tmpdir;

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");

fn promtool() -> String {
    let p = std::env::var("PROMTOOL").unwrap_or_else(|_| "/usr/bin/promtool".into());
    assert!(
        std::path::Path::new(&p).exists(),
        "{p} missing: apt-get install prometheus (tests/run-all.sh does)"
    );
    p
}

#[test]
fn generated_rules_pass_promtool() {
    let d = tmpdir("slo-rules", "cli");
    let spec = d.join("slos.yaml");
    std::fs::write(
        &spec,
        "period: 28d\ndefaults:\n  - {name: availability, kind: availability, objective: 99.9}\nsites:\n  vip:\n    slos:\n      - {name: fast, kind: latency, objective: 99, threshold_ms: 250}\n",
    )
    .unwrap();
    let sites = d.join("sites.txt");
    std::fs::write(&sites, "# from /api/v1/sites\nblog\n\n").unwrap();
    let out = d.join("rules.yaml");
    let st = Command::new(BIN)
        .args(["rules", "generate", "--spec"])
        .arg(&spec)
        .args(["--site", "shop", "--sites-file"])
        .arg(&sites)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    for want in [
        "slo:sli_error:ratio_rate5m",
        "slo:period_error_budget_remaining:ratio",
        "sloth_service: shop",
        "sloth_service: blog",
        "sloth_service: vip",
        "le=\"0.25\"",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    let check = Command::new(promtool())
        .args(["check", "rules"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // No site at all is an error that says how to name them.
    let plain = d.join("plain.yaml");
    std::fs::write(
        &plain,
        "defaults:\n  - {name: a, kind: availability, objective: 99}\n",
    )
    .unwrap();
    let st = Command::new(BIN)
        .args(["rules", "generate", "--spec"])
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stderr).contains("--site"));
}
