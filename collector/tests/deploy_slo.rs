//! deploy/slo as a user applies it: the alerting config validates with
//! `sitepulse validate` (secrets and the SLO ConfigMap's specs written
//! where it expects them), and Argo CD notifications' templates, rendered
//! as Argo CD would for an Application, are deploy events sitepulse
//! accepts, in an order that makes a rollout pass. The manifests'
//! schemas are checked with the autoscale ones (external_metrics.rs,
//! `kubernetes-validate --strict`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sitepulse_alerting::deploy::{DeployConfig, DeployEvent, DeployTracker, Outcome};
use sitepulse_tests::tmpdir;

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");

fn manifest(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/slo")
            .join(name),
    )
    .unwrap()
}

/// The first document of a manifest file, as JSON.
fn first_doc(text: &str) -> Value {
    let first = text.split("\n---\n").next().unwrap();
    serde_saphyr::from_str(first).unwrap()
}

#[test]
fn the_alerting_config_validates() {
    let d = tmpdir("deploy-slo", "config");
    let cm = first_doc(&manifest("config.yaml"));
    let mut cfg = cm["data"]["config.yaml"].as_str().unwrap().to_owned();
    let secrets = d.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for f in [
        "smtp-password",
        "tickets-token",
        "argocd-token",
        "ci-hmac-key",
        "grafana-token",
    ] {
        std::fs::write(secrets.join(f), format!("{f}-value\n")).unwrap();
    }
    let slos = d.join("slos");
    std::fs::create_dir_all(&slos).unwrap();
    let specs = first_doc(&manifest("slos-configmap.yaml"));
    std::fs::write(
        slos.join("slos.yaml"),
        specs["data"]["slos.yaml"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        specs["data"]["slos.yaml"].as_str().unwrap(),
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/slos.yaml"))
            .unwrap(),
        "deploy/slo/slos-configmap.yaml is rules/slos.yaml"
    );
    cfg = cfg
        .replace("/etc/sitepulse/secrets", &secrets.display().to_string())
        .replace("/etc/sitepulse/slos", &slos.display().to_string())
        .replace("/var/lib/sitepulse", &d.display().to_string());
    let p = d.join("c.yaml");
    std::fs::write(&p, cfg).unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("slo: specs {}", slos.join("slos.yaml").display())),
        "{text}"
    );
}

#[test]
fn argo_cd_templates_render_to_accepted_deploy_events() {
    let cm = first_doc(&manifest("argocd-notifications.yaml"));
    let data = &cm["data"];
    let service: Value =
        serde_saphyr::from_str(data["service.webhook.sitepulse"].as_str().unwrap()).unwrap();
    assert!(
        service["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/deploys")
    );
    // What Argo CD substitutes for an Application `shop` syncing 4f2a9c1.
    let render = |key: &str| -> DeployEvent {
        let t: Value = serde_saphyr::from_str(data[key].as_str().unwrap()).unwrap();
        assert_eq!(t["webhook"]["sitepulse"]["method"], "POST");
        let body = t["webhook"]["sitepulse"]["body"]
            .as_str()
            .unwrap()
            .replace("{{.app.metadata.name}}", "shop")
            .replace(
                "{{.app.status.operationState.operation.sync.revision}}",
                "4f2a9c1",
            )
            .replace("{{.app.status.operationState.phase}}", "Failed");
        assert!(!body.contains("{{"), "unrendered: {body}");
        DeployEvent::from_json(body.as_bytes(), "argocd")
            .unwrap_or_else(|e| panic!("{key}: {e}: {body}"))
    };
    let (started, finished, failed) = (
        render("template.sitepulse-deploy-started"),
        render("template.sitepulse-deploy-finished"),
        render("template.sitepulse-deploy-failed"),
    );
    for k in [
        "trigger.on-sitepulse-sync-running",
        "trigger.on-sitepulse-deployed",
        "trigger.on-sitepulse-sync-failed",
    ] {
        let t: Value = serde_saphyr::from_str(data[k].as_str().unwrap()).unwrap();
        assert!(
            t[0]["send"][0]
                .as_str()
                .unwrap()
                .starts_with("sitepulse-deploy-"),
            "{k}"
        );
    }
    let cfg = DeployConfig {
        health_soak_secs: 0,
        ..DeployConfig::default()
    };
    let mut t = DeployTracker::default();
    t.apply(started.clone(), &cfg, 1000).unwrap();
    t.apply(finished, &cfg, 1100).unwrap();
    t.evaluate(&cfg, 1100, 100, &mut |_, _| None);
    assert_eq!(t.history().last().unwrap().outcome, Some(Outcome::Passed));
    assert_eq!(
        t.history().last().unwrap().rollback_hint,
        "argocd app rollback shop"
    );
    let mut t = DeployTracker::default();
    t.apply(started, &cfg, 1000).unwrap();
    t.apply(failed, &cfg, 1100).unwrap();
    t.evaluate(&cfg, 1100, 100, &mut |_, _| None);
    assert_eq!(t.history().last().unwrap().outcome, Some(Outcome::Stalled));
}
