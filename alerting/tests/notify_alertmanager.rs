//! The Alertmanager and webhook notifiers against a real Alertmanager
//! (Debian's `prometheus-alertmanager`, 0.25 at the time of writing),
//! started on 127.0.0.1 with clustering off and stopped by each test:
//!
//! - the push notifier's alerts read back through `GET /api/v2/alerts`
//!   (labels, annotations, Alertmanager's own fingerprint, active), then
//!   resolved and gone; with a dead second URL (HA: any success counts);
//! - our webhook payload against the one Alertmanager itself sends to a
//!   webhook receiver for the same alert: the same JSON, firing and
//!   resolved; plus our bearer and HMAC headers.
//!
//! Alertmanager must be installed (`apt-get install -y
//! prometheus-alertmanager`); `ALERTMANAGER` names another binary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use sitepulse_alerting::notify::webhook::DEFAULT_SIGNATURE_HEADER;
use sitepulse_alerting::notify::{
    Alert, AlertStatus, AlertmanagerConfig, FailureReason, Notification, Notifier, NotifierConfig,
    NotifyError, RetryConfig, WebhookConfig,
};
use sitepulse_tests::servers::{Alertmanager, free_port};
use tokio::sync::mpsc;

const ALERT_NAME: &str = "SitepulseSLOBurnRate";

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Active alerts named `ALERT_NAME`.
fn alerts(am: &Alertmanager) -> Vec<serde_json::Value> {
    am.alerts(&[
        ("filter", &format!("alertname=\"{ALERT_NAME}\"")),
        ("active", "true"),
    ])
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn burn_alert(site: &str) -> Alert {
    Alert {
        labels: map(&[
            ("alertname", ALERT_NAME),
            ("site", site),
            ("slo", "availability"),
            ("severity", "page"),
        ]),
        annotations: map(&[
            (
                "summary",
                "shop: SLO availability burning its error budget 14.9x too fast",
            ),
            ("burn_rate_long", "14.9"),
            ("burn_rate_short", "15.2"),
            ("budget_remaining", "0.8123"),
        ]),
        // A minute ago.
        starts_at: unix_ms() - 60_000,
        ends_at: None,
        generator_url: format!("http://127.0.0.1:9000/slo?site={site}&slo=availability"),
        status: AlertStatus::Firing,
    }
}

fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 2,
        initial_backoff_ms: 10,
        max_backoff_secs: 1,
    }
}

fn push_notifier(urls: Vec<String>) -> Notifier {
    let cfg = NotifierConfig::Alertmanager(AlertmanagerConfig {
        urls,
        resend_interval_secs: 60,
        bearer_token_file: None,
        timeout_secs: 5,
    });
    Notifier::build("am", &cfg, fast_retry()).unwrap()
}

fn one_alert(a: Alert) -> Notification {
    Notification::new("am", "", BTreeMap::new(), "", vec![a])
}

#[tokio::test]
async fn pushes_alerts_to_alertmanager_and_resolves_them() {
    let am = Alertmanager::start("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let push = push_notifier(vec![dead.clone(), am.base.clone()]);

    let mut a = burn_alert("shop");
    let sent_at = unix_ms();
    push.send(&one_alert(a.clone())).await.unwrap();
    let stats = push.stats().snapshot();
    assert_eq!((stats.sent, stats.failed_total()), (1, 0));

    let got = alerts(&am);
    assert_eq!(got.len(), 1, "{got:?}");
    let g = &got[0];
    let labels: BTreeMap<String, String> = serde_json::from_value(g["labels"].clone()).unwrap();
    assert_eq!(labels, a.labels);
    let ann: BTreeMap<String, String> = serde_json::from_value(g["annotations"].clone()).unwrap();
    assert_eq!(ann, a.annotations);
    // Alertmanager's own fingerprint of the labels equals ours.
    assert_eq!(g["fingerprint"], a.fingerprint());
    assert_eq!(g["status"]["state"], "active");
    assert_eq!(g["generatorURL"], a.generator_url);
    let ms = |k: &str| {
        let t = g[k].as_str().unwrap();
        sitepulse_pipeline::time::parse_rfc3339(t.as_bytes()).unwrap() / 1_000_000
    };
    assert_eq!(ms("startsAt"), a.starts_at);
    // endsAt four resend intervals (4 min) after the push.
    let ends = ms("endsAt");
    assert!(
        (sent_at + 240_000..=unix_ms() + 240_000).contains(&ends),
        "endsAt {ends} vs sent {sent_at}"
    );

    // Resolve it: it is no longer listed as active.
    a.status = AlertStatus::Resolved;
    a.ends_at = Some(unix_ms());
    push.send(&one_alert(a.clone())).await.unwrap();
    let mut left = alerts(&am);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = alerts(&am);
    }
    assert!(left.is_empty(), "still active: {left:?}");
    assert_eq!(push.stats().sent(), 2);

    // Only the dead URL: connection refused, retried once, then lost.
    let dead_only = push_notifier(vec![dead.clone()]);
    let err = dead_only.send(&one_alert(a)).await.unwrap_err();
    assert!(matches!(err, NotifyError::Connect { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("alertmanager \"am\": cannot connect to "),
        "{msg}"
    );
    assert!(msg.contains(&format!("{dead}/api/v2/alerts")), "{msg}");
    let s = dead_only.stats().snapshot();
    assert_eq!(
        (s.sent, s.retries, s.failed(FailureReason::Connect)),
        (0, 1, 1)
    );
}

/// What the test's webhook receiver got: path, headers, body.
type Received = (String, HeaderMap, Bytes);

/// A webhook receiver on 127.0.0.1 taking POST /{path}, 200 to each.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel::<Received>();
    let app = axum::Router::new()
        .route(
            "/{path}",
            axum::routing::post(
                |State(tx): State<Arc<mpsc::UnboundedSender<Received>>>,
                 Path(path): Path<String>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let _ = tx.send((path, headers, body));
                    "ok"
                },
            ),
        )
        .with_state(Arc::new(tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>, path: &str) -> Received {
    let got = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no POST /{path} within 30 s"))
        .unwrap();
    assert_eq!(got.0, path);
    got
}

#[tokio::test]
async fn webhook_payload_is_the_one_alertmanager_sends() {
    let (hook, mut rx) = receiver().await;
    let am = Alertmanager::start(&format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  \
         group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook}/am\n        \
         send_resolved: true\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let key = dir.path().join("hmac");
    std::fs::write(&key, "hmac-key").unwrap();
    let ours = Notifier::build(
        "hook",
        &NotifierConfig::Webhook(WebhookConfig {
            url: format!("{hook}/ours"),
            bearer_token_file: Some(token),
            hmac_secret_file: Some(key),
            signature_header: DEFAULT_SIGNATURE_HEADER.into(),
            timeout_secs: 5,
            max_alerts: 0,
        }),
        fast_retry(),
    )
    .unwrap();
    let push = push_notifier(vec![am.base.clone()]);

    let mut a = burn_alert("shop");
    a.starts_at = a.starts_at / 1000 * 1000 + 250;
    for status in [AlertStatus::Firing, AlertStatus::Resolved] {
        a.status = status;
        if status == AlertStatus::Resolved {
            a.ends_at = Some(unix_ms() - 1000);
        }
        push.send(&one_alert(a.clone())).await.unwrap();
        let (_, _, theirs) = next(&mut rx, "am").await;
        let theirs_v: serde_json::Value = serde_json::from_slice(&theirs).unwrap();
        assert_eq!(theirs_v["status"], status.as_str());
        assert_eq!(theirs_v["externalURL"], am.base);

        // The same group as Alertmanager's, from its payload's group fields.
        let field = |k: &str| theirs_v[k].as_str().unwrap().to_owned();
        let group_labels = serde_json::from_value(theirs_v["groupLabels"].clone()).unwrap();
        let n = Notification::new(
            field("receiver"),
            field("groupKey"),
            group_labels,
            field("externalURL"),
            vec![a.clone()],
        );
        ours.send(&n).await.unwrap();
        let (_, headers, body) = next(&mut rx, "ours").await;

        let ours_v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(ours_v, theirs_v, "ours:\n{ours_v:#}\ntheirs:\n{theirs_v:#}");
        // Byte for byte too: Go's field order, time format, escaping.
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&theirs),
            "bytes differ"
        );
        assert_eq!(headers["authorization"], "Bearer s3cret-token");
        assert_eq!(headers["content-type"], "application/json");
        let sig = headers[DEFAULT_SIGNATURE_HEADER].to_str().unwrap();
        let tag: Vec<u8> = (0..sig.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&sig[i..i + 2], 16).unwrap())
            .collect();
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"hmac-key");
        ring::hmac::verify(&k, &body, &tag).expect("HMAC-SHA256 of the body under the key");
    }
    assert_eq!(ours.stats().sent(), 2);
}

#[tokio::test]
async fn webhook_errors_name_status_and_body() {
    // A server that answers 503 then 400: the first is retried, the
    // second is not.
    let codes = Arc::new(std::sync::Mutex::new(vec![400u16, 503]));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(c): State<Arc<std::sync::Mutex<Vec<u16>>>>| async move {
                    let code = c.lock().unwrap().pop().unwrap_or(500);
                    (
                        axum::http::StatusCode::from_u16(code).unwrap(),
                        format!("refused with {code}"),
                    )
                },
            ),
        )
        .with_state(Arc::clone(&codes));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hook?token=hidden",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let n = Notifier::build(
        "ops",
        &NotifierConfig::Webhook(WebhookConfig {
            url,
            bearer_token_file: None,
            hmac_secret_file: None,
            signature_header: DEFAULT_SIGNATURE_HEADER.into(),
            timeout_secs: 5,
            max_alerts: 0,
        }),
        RetryConfig {
            max_attempts: 5,
            initial_backoff_ms: 10,
            max_backoff_secs: 1,
        },
    )
    .unwrap();
    let err = n.send(&one_alert(burn_alert("shop"))).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("webhook \"ops\": http://127.0.0.1:"),
        "{msg}"
    );
    assert!(
        msg.ends_with("/hook answered HTTP 400: refused with 400"),
        "{msg}"
    );
    assert!(!msg.contains("hidden"), "{msg}");
    let s = n.stats().snapshot();
    assert_eq!(
        (s.sent, s.retries, s.failed(FailureReason::HttpStatus)),
        (0, 1, 1)
    );
}
