//! The alerting API through a real `sitepulse run`: who may change what
//! (each bad case refused with a clear 4xx and nothing changed), deploy
//! deadlines driven by webhook events (on time, stalled, slow, unhealthy
//! each with its own outcome), alerts and silences.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sitepulse::slo::auth::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_request};
use sitepulse_tests::http::{get_with, request};
use sitepulse_tests::unix_now;
use sitepulse_tests::{Collector, append, clf_line, tmpdir, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_sitepulse");
const CI: (&str, &str) = ("authorization", "Bearer ci-t0ken");
const READER: (&str, &str) = ("authorization", "Bearer read-t0ken");
const ARGO_KEY: &[u8] = b"argo-hmac-k3y";

fn start(d: &Path) -> Collector {
    std::fs::write(d.join("ci.token"), "ci-t0ken\n").unwrap();
    std::fs::write(d.join("read.token"), "read-t0ken").unwrap();
    std::fs::write(d.join("argo.key"), ARGO_KEY).unwrap();
    let cfg: PathBuf = d.join("sitepulse.yaml");
    std::fs::write(
        &cfg,
        format!(
            concat!(
                "tail:\n  sources:\n    - include: [\"{0}/logs/*.log\"]\n",
                "  read_existing: beginning\n  checkpoint_path: \"{0}/ckpt.json\"\n",
                "server:\n  listen: \"127.0.0.1:0\"\n",
                "alerting:\n  page_for_secs: 0\n",
                "  deploys:\n    health_soak_secs: 1\n    default_deadline_secs: 600\n",
                "  api:\n    max_body_bytes: 2048\n",
                "    writers:\n",
                "      - {{name: ci, token_file: \"{0}/ci.token\"}}\n",
                "      - {{name: argocd, hmac_key_file: \"{0}/argo.key\"}}\n",
                "    readers:\n",
                "      - {{name: grafana, token_file: \"{0}/read.token\"}}\n",
            ),
            d.display()
        ),
    )
    .unwrap();
    Collector::start(BIN, &[Path::new("--config"), &cfg], &d.join("run.log"))
}

/// Headers, body, the status expected and what its message says.
type Case<'a> = (&'a [(&'a str, &'a str)], String, u16, &'a str);

fn post(c: &Collector, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let (st, text) = request("POST", c.port, path, headers, body.as_bytes()).unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn get(c: &Collector, path: &str) -> Value {
    let (st, body) = get_with(c.port, path, &[READER]).unwrap();
    assert_eq!(st, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn each_bad_request_is_refused_and_changes_nothing() {
    let d = tmpdir("alerting", "auth");
    let c = start(&d);
    let ev = r#"{"site":"shop","version":"v1"}"#;
    let cases: [Case; 8] = [
        (&[], ev.into(), 401, "Authorization: Bearer"),
        (
            &[("authorization", "Bearer wrong")],
            ev.into(),
            401,
            "matches no writer",
        ),
        (&[READER], ev.into(), 401, "matches no writer"),
        (
            &[(SIGNATURE_HEADER, "sha256=00"), (TIMESTAMP_HEADER, "1")],
            ev.into(),
            401,
            "X-Sitepulse-Timestamp 1 is more than",
        ),
        (&[CI], "x".repeat(3000), 413, "max_body_bytes"),
        (&[CI], "{not json".into(), 400, "keys: site"),
        (
            &[CI],
            r#"{"site":"shop","version":"v1","colour":"red"}"#.into(),
            400,
            "unknown field",
        ),
        (
            &[CI],
            r#"{"site":"shop","version":"v1","event":"finished"}"#.into(),
            409,
            "no rollout in progress",
        ),
    ];
    for (headers, body, status, says) in cases {
        let (st, answer) = post(&c, "/api/v1/deploys", headers, &body);
        assert_eq!(st, status, "{answer}");
        assert!(
            answer["error"].as_str().unwrap_or("").contains(says),
            "{says}: {answer}"
        );
    }
    // A signature over another body, and a good one replayed on another
    // path or too late.
    let (t, sig) = sign_request(ARGO_KEY, unix_now(), "POST", "/api/v1/deploys", b"{}");
    let (st, _) = post(
        &c,
        "/api/v1/deploys",
        &[(TIMESTAMP_HEADER, &t), (SIGNATURE_HEADER, &sig)],
        ev,
    );
    assert_eq!(st, 401);
    let (t, sig) = sign_request(
        ARGO_KEY,
        unix_now(),
        "POST",
        "/api/v1/silences",
        ev.as_bytes(),
    );
    let (st, _) = post(
        &c,
        "/api/v1/deploys",
        &[(TIMESTAMP_HEADER, &t), (SIGNATURE_HEADER, &sig)],
        ev,
    );
    assert_eq!(st, 401);
    let (t, sig) = sign_request(
        ARGO_KEY,
        unix_now() - 3600,
        "POST",
        "/api/v1/deploys",
        ev.as_bytes(),
    );
    let (st, a) = post(
        &c,
        "/api/v1/deploys",
        &[(TIMESTAMP_HEADER, &t), (SIGNATURE_HEADER, &sig)],
        ev,
    );
    assert_eq!(st, 401);
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .contains("X-Sitepulse-Timestamp"),
        "{a}"
    );
    // Nothing was accepted.
    assert_eq!(
        get(&c, "/api/v1/deploys")["active"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Reads need a reader's (or writer's) token.
    for path in [
        "/api/v1/alerts",
        "/api/v1/silences",
        "/api/v1/deploys",
        "/api/v1/slos",
    ] {
        let (st, body) = get_with(c.port, path, &[]).unwrap();
        assert_eq!(st, 401, "{path}: {body}");
        assert_eq!(get_with(c.port, path, &[CI]).unwrap().0, 200, "{path}");
    }
    let (st, body) = get_with(c.port, "/api/v1/alerts?state=burning", &[READER]).unwrap();
    assert_eq!(st, 400, "{body}");
    // Bad silences.
    for body in [
        r#"{"matchers":[],"endsAt":4000000000,"comment":"x"}"#,
        r#"{"matchers":["site=~\".*\""],"endsAt":4000000000,"comment":"x"}"#,
        r#"{"matchers":["site=\"shop\""],"endsAt":1,"comment":"x"}"#,
        r#"{"matchers":["site=\"shop\""],"endsAt":4000000000}"#,
        r#"{"matchers":["site==shop"],"endsAt":4000000000,"comment":"x"}"#,
    ] {
        let (st, answer) = post(&c, "/api/v1/silences", &[CI], body);
        assert_eq!(st, 400, "{body}: {answer}");
    }
    assert_eq!(
        get(&c, "/api/v1/silences")["silences"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (st, _) = request(
        "DELETE",
        c.port,
        "/api/v1/silences/0123456789abcdef",
        &[CI],
        b"",
    )
    .unwrap();
    assert_eq!(st, 404);
}

fn deploy_outcome(c: &Collector, site: &str) -> Option<String> {
    let v = get(c, "/api/v1/deploys");
    v["recent"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["active"].as_array().unwrap())
        .find(|r| r["site"] == site)
        .and_then(|r| r["outcome"].as_str().map(str::to_owned))
}

#[test]
fn deploys_by_webhook_and_silences() {
    let d = tmpdir("alerting", "deploys");
    let log = d.join("logs/access.log");
    append(&log, &clf_line("sick", 200, 10));
    let c = start(&d);
    let start = |site: &str, deadline: u32| {
        let body = format!(
            r#"{{"site":"{site}","version":"v2","deadline_secs":{deadline},"rollback":"argocd app rollback {site}"}}"#
        );
        let (st, a) = post(&c, "/api/v1/deploys", &[CI], &body);
        assert_eq!(st, 202, "{a}");
    };
    start("ontime", 30);
    start("stalled", 30);
    start("slow", 2);
    start("sick", 30);
    // Argo CD signs its events.
    let done = r#"{"site":"ontime","version":"v2","event":"finished"}"#;
    let (t, sig) = sign_request(
        ARGO_KEY,
        unix_now(),
        "POST",
        "/api/v1/deploys",
        done.as_bytes(),
    );
    let (st, a) = post(
        &c,
        "/api/v1/deploys",
        &[(TIMESTAMP_HEADER, &t), (SIGNATURE_HEADER, &sig)],
        done,
    );
    assert_eq!(st, 202, "{a}");
    let failed =
        r#"{"site":"stalled","version":"v2","event":"failed","reason":"ProgressDeadlineExceeded"}"#;
    assert_eq!(post(&c, "/api/v1/deploys", &[CI], failed).0, 202);
    // The new version of `sick` answers 5xx to most requests.
    let mut lines = String::new();
    for i in 0..200 {
        lines += &clf_line("sick", if i % 4 == 0 { 200 } else { 503 }, 10);
    }
    append(&log, &lines);
    wait_for("every outcome", Duration::from_secs(30), || {
        ["ontime", "stalled", "slow", "sick"]
            .iter()
            .all(|s| deploy_outcome(&c, s).is_some())
    });
    assert_eq!(deploy_outcome(&c, "ontime").as_deref(), Some("passed"));
    assert_eq!(deploy_outcome(&c, "stalled").as_deref(), Some("stalled"));
    assert_eq!(deploy_outcome(&c, "slow").as_deref(), Some("slow"));
    assert_eq!(deploy_outcome(&c, "sick").as_deref(), Some("unhealthy"));
    let stats = &get(&c, "/api/v1/deploys")["stats"];
    assert!(stats["deadline_misses"].as_u64().unwrap() >= 1, "{stats}");
    // Each failed outcome is a firing alert with the rollback hint.
    let mut alerts = Value::Null;
    wait_for("three deploy alerts", Duration::from_secs(15), || {
        alerts = get(&c, "/api/v1/alerts?state=firing");
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == "SitepulseDeployDeadline")
            .count()
            == 3
    });
    let sick = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["labels"]["site"] == "sick" && a["labels"]["alertname"] == "SitepulseDeployDeadline"
        })
        .unwrap();
    assert_eq!(sick["labels"]["outcome"], "unhealthy");
    assert_eq!(sick["annotations"]["rollback"], "argocd app rollback sick");
    assert!(
        sick["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("errors in"),
        "{sick}"
    );

    // A silence on the sick site, made by ci, mutes its alerts.
    let (st, s) = post(
        &c,
        "/api/v1/silences",
        &[CI],
        r#"{"matchers":["site=\"sick\""],"endsAt":4000000000,"comment":"rolling back"}"#,
    );
    assert_eq!(st, 200, "{s}");
    let id = s["silenceID"].as_str().unwrap().to_owned();
    wait_for("the alert silenced", Duration::from_secs(10), || {
        let a = get(&c, "/api/v1/alerts?state=firing");
        a["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["site"] == "sick" && a["silenced_by"][0] == id.as_str())
    });
    // Expired by argocd (a signed DELETE with an empty body; the path is
    // signed, so this signature expires this silence only).
    let path = format!("/api/v1/silences/{id}");
    let (t, sig) = sign_request(ARGO_KEY, unix_now(), "DELETE", &path, b"");
    let (st, body) = request(
        "DELETE",
        c.port,
        &path,
        &[(TIMESTAMP_HEADER, &t), (SIGNATURE_HEADER, &sig)],
        b"",
    )
    .unwrap();
    assert_eq!(st, 200, "{body}");
    let list = get(&c, "/api/v1/silences");
    assert_eq!(list["silences"][0]["expiredBy"], "argocd");
    assert_eq!(list["silences"][0]["createdBy"], "ci");
    assert_eq!(list["silences"][0]["status"]["state"], "expired");
    // Every accepted change is in the log with who made it.
    let log = std::fs::read_to_string(d.join("run.log")).unwrap();
    assert!(
        log.contains("silence created") && log.contains("by=ci"),
        "{log}"
    );
    assert!(
        log.contains("deploy event accepted") && log.contains("webhook:argocd"),
        "{log}"
    );
}
