//! Rollouts from the Deployment watch: kubectl rollout status's
//! criteria, revisions starting rollouts, and the events reaching the
//! alerting hub through the fake API server.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sitepulse_alerting::deploy::DeployEventKind;

use super::super::deployments::{Deployment, Rollout, events};
use super::fake::Fake;
use super::{LABEL, tmp, until, write_token};
use crate::kube::KubeConfig;
use crate::slo::{AlertHub, AlertingConfig};

/// A Deployment as `kubectl get deploy -o json` prints one (trimmed of
/// fields nobody reads but with the shapes the controller writes).
fn deploy(name: &str, site: &str, rev: u32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": format!("wp-{site}"),
            "generation": rev,
            "labels": {LABEL: site, "app.kubernetes.io/name": "wordpress"},
            "annotations": {"deployment.kubernetes.io/revision": rev.to_string(), "meta.helm.sh/release-name": site},
            "uid": "8a3c4d4e-0c1e-4e8b-9a53-4f1c6b2f0a11",
            "creationTimestamp": "2026-11-30T09:12:44Z"
        },
        "spec": {
            "replicas": 3,
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {LABEL: site}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {LABEL: site}},
                "spec": {"containers": [
                    {"name": "php", "image": image, "ports": [{"containerPort": 9000, "protocol": "TCP"}]},
                    {"name": "nginx", "image": "nginx:1.27-alpine"}
                ]}
            }
        },
        "status": {
            "observedGeneration": rev,
            "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": "2026-12-01T10:00:00Z", "lastTransitionTime": "2026-12-01T10:00:00Z"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{name}-7d4b9c8f6d\" has successfully progressed."),
                 "lastUpdateTime": "2026-12-01T10:00:00Z", "lastTransitionTime": "2026-11-30T09:12:44Z"}
            ]
        }
    })
}

/// Mid-rollout: a new generation, one of three pods updated.
fn rolling(mut d: Value, rev: u32, image: &str) -> Value {
    d["metadata"]["generation"] = json!(rev);
    d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(rev.to_string());
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    d["status"]["observedGeneration"] = json!(rev);
    d["status"]["replicas"] = json!(4);
    d["status"]["updatedReplicas"] = json!(1);
    d["status"]["availableReplicas"] = json!(3);
    d["status"]["conditions"][1]["reason"] = json!("ReplicaSetUpdated");
    d["status"]["conditions"][1]["message"] = json!("ReplicaSet is progressing.");
    d
}

fn done(mut d: Value) -> Value {
    d["status"]["replicas"] = json!(3);
    d["status"]["updatedReplicas"] = json!(3);
    d["status"]["availableReplicas"] = json!(3);
    d["status"]["conditions"][1]["reason"] = json!("NewReplicaSetAvailable");
    d
}

fn stalled(mut d: Value) -> Value {
    d["status"]["conditions"][1]["status"] = json!("False");
    d["status"]["conditions"][1]["reason"] = json!("ProgressDeadlineExceeded");
    d["status"]["conditions"][1]["message"] =
        json!("ReplicaSet \"shop-5f9c\" has timed out progressing.");
    d
}

fn parse(v: &Value) -> Deployment {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn kubectl_rollout_status_criteria() {
    let d = deploy("shop", "shop", 3, "wordpress:6.6-php8.2-fpm");
    assert_eq!(parse(&d).rollout(), Rollout::Done);
    let r = rolling(d.clone(), 4, "wordpress:6.7-php8.3-fpm");
    assert_eq!(
        parse(&r).rollout(),
        Rollout::InProgress("1 of 3 new replicas updated".into())
    );
    let mut old = done(r.clone());
    old["status"]["replicas"] = json!(4);
    assert_eq!(
        parse(&old).rollout(),
        Rollout::InProgress("1 old replicas pending termination".into())
    );
    let mut unavailable = done(r.clone());
    unavailable["status"]["availableReplicas"] = json!(2);
    assert_eq!(
        parse(&unavailable).rollout(),
        Rollout::InProgress("2 of 3 updated replicas available".into())
    );
    let mut unobserved = done(r.clone());
    unobserved["metadata"]["generation"] = json!(5);
    assert!(matches!(
        parse(&unobserved).rollout(),
        Rollout::InProgress(_)
    ));
    assert!(
        matches!(parse(&stalled(r)).rollout(), Rollout::Stalled(m) if m.contains("timed out progressing"))
    );
}

#[test]
fn revisions_start_rollouts_and_states_end_them() {
    let mut store = BTreeMap::new();
    let mut seen = BTreeMap::new();
    let key = ("wp-shop".to_owned(), "shop".to_owned());
    let d = deploy("shop", "shop", 3, "wordpress:6.6");
    store.insert(key.clone(), parse(&d));
    // The first list: a finished Deployment starts nothing (it says
    // finished, for a rollout tracked before a restart).
    let first: Vec<_> = events(&store, &mut seen, LABEL, None)
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(first, [DeployEventKind::Finished]);
    // A new revision: started, with the annotation's deadline.
    let mut r = rolling(d.clone(), 4, "wordpress:6.7");
    r["metadata"]["annotations"]["sitepulse.io/deploy-deadline-secs"] = json!("300");
    store.insert(key.clone(), parse(&r));
    let ev = events(&store, &mut seen, LABEL, None);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0].kind,
        DeployEventKind::Started {
            deadline_secs: Some(300)
        }
    );
    assert_eq!(ev[0].site, "shop");
    assert!(
        ev[0].version.contains("rev 4") && ev[0].version.contains("wordpress:6.7"),
        "{}",
        ev[0].version
    );
    assert_eq!(
        ev[0].rollback_hint.as_deref(),
        Some("kubectl rollout undo deployment/shop -n wp-shop")
    );
    // Progress without news: nothing.
    assert!(events(&store, &mut seen, LABEL, None).is_empty());
    store.insert(key.clone(), parse(&done(r.clone())));
    let ev = events(&store, &mut seen, LABEL, None);
    assert_eq!(
        ev.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        [DeployEventKind::Finished]
    );
    assert!(
        events(&store, &mut seen, LABEL, None).is_empty(),
        "told once"
    );
    // A scale (new generation, same revision) is no rollout.
    let mut scaled = done(r.clone());
    scaled["metadata"]["generation"] = json!(5);
    scaled["status"]["observedGeneration"] = json!(5);
    store.insert(key.clone(), parse(&scaled));
    assert!(events(&store, &mut seen, LABEL, None).is_empty());
    // Another revision that stalls; one already mid-rollout at the first
    // list is tracked from then.
    store.insert(
        key.clone(),
        parse(&stalled(rolling(d.clone(), 6, "wordpress:6.8"))),
    );
    let kinds: Vec<_> = events(&store, &mut seen, LABEL, None)
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        matches!(kinds.as_slice(), [DeployEventKind::Started { .. }, DeployEventKind::Failed { reason }] if reason.contains("ProgressDeadlineExceeded"))
    );
    let mut fresh = BTreeMap::new();
    let kinds: Vec<_> = events(&store, &mut fresh, LABEL, Some(900))
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.len(), 2);
    assert_eq!(
        kinds[0],
        DeployEventKind::Started {
            deadline_secs: Some(900)
        }
    );
    // Without the site label: ignored.
    let mut other = d.clone();
    other["metadata"]["labels"] = json!({});
    let mut s2 = BTreeMap::new();
    s2.insert(
        ("x".to_owned(), "y".to_owned()),
        parse(&rolling(other, 2, "a")),
    );
    assert!(events(&s2, &mut BTreeMap::new(), LABEL, None).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_feeds_the_hub() {
    let fake = Fake::start("tok3n").await;
    let dir = tmp("deployments");
    let token = dir.join("token");
    write_token(&token, "tok3n");
    let cfg = KubeConfig {
        enabled: true,
        api_url: fake.url.clone(),
        token_file: token,
        ca_file: dir.join("ca.crt"),
        resync_secs: 30,
        ..KubeConfig::default()
    };
    let mut acfg = AlertingConfig::default();
    acfg.deploys.health_soak_secs = 0;
    let hub = Arc::new(AlertHub::open(&acfg, dir.join("alerting")).unwrap());
    let d = deploy("shop", "shop", 3, "wordpress:6.6");
    fake.put(d.clone());
    let _task =
        super::super::deployments::start(&cfg, hub.clone(), &tokio::runtime::Handle::current())
            .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    fake.put(rolling(d.clone(), 4, "wordpress:6.7"));
    let mut engine = sitepulse_alerting::engine::SloEngine::new(
        sitepulse_alerting::SloSet::load(&[]).unwrap(),
        None,
    );
    until("the rollout started", || {
        hub.tick(&[], &mut engine, crate::unix_now());
        hub.view()
            .deploys_active
            .iter()
            .any(|r| r.site == "shop" && r.source == "kubernetes")
    })
    .await;
    fake.put(done(rolling(d, 4, "wordpress:6.7")));
    until("the rollout passed", || {
        hub.tick(&[], &mut engine, crate::unix_now());
        hub.view().deploy_stats.outcomes.get("passed") == Some(&1)
    })
    .await;
    assert!(
        fake.seen()
            .iter()
            .all(|s| s.query.get("labelSelector").map(String::as_str) == Some(LABEL))
    );
}
