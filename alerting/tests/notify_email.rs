//! The e-mail notifier against a real SMTP server: aiosmtpd (Python)
//! on 127.0.0.1, storing what it receives in a Maildir, started and
//! stopped by each test. Python's own `email` package reads the stored
//! message back (subject, text and HTML parts, decoded), so the check
//! does not rely on our MIME writer.
//!
//! - a burn alert arrives with site, SLO, burn rates and budget in both
//!   parts;
//! - an outage: the notifier sends while nothing listens, retries with
//!   backoff, the server starts, the message arrives.
//!
//! Needs a Python with aiosmtpd: `SITEPULSE_PYTHON` (tests/run-all.sh
//! sets it to `target/pyvenv/bin/python` and installs aiosmtpd there), or
//! that venv itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sitepulse_alerting::notify::{
    Alert, AlertStatus, EmailConfig, FailureReason, Notification, Notifier, NotifierConfig,
    RetryConfig, SmtpTls,
};
use sitepulse_tests::servers::{Smtpd, free_port, python};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn notification() -> Notification {
    let a = Alert {
        labels: map(&[
            ("alertname", "SitepulseSLOBurnRate"),
            ("site", "shop.example"),
            ("slo", "availability"),
            ("severity", "page"),
        ]),
        annotations: map(&[
            (
                "summary",
                "shop.example: SLO availability burning its error budget 14.9x too fast",
            ),
            ("burn_rate_long", "14.9"),
            ("burn_rate_short", "15.2"),
            ("budget_remaining", "0.8123"),
        ]),
        starts_at: 1_795_428_000_000,
        ends_at: None,
        generator_url: String::new(),
        status: AlertStatus::Firing,
    };
    Notification::new(
        "ops",
        "{}:{alertname=\"SitepulseSLOBurnRate\", site=\"shop.example\"}",
        map(&[
            ("alertname", "SitepulseSLOBurnRate"),
            ("site", "shop.example"),
        ]),
        "http://127.0.0.1:9000",
        vec![a],
    )
}

fn email_notifier(port: u16, retry: RetryConfig) -> Notifier {
    email_notifier_tls(port, retry, SmtpTls::None, None)
}

fn email_notifier_tls(
    port: u16,
    retry: RetryConfig,
    tls: SmtpTls,
    ca_file: Option<PathBuf>,
) -> Notifier {
    let cfg = NotifierConfig::Email(EmailConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls,
        ca_file,
        username: None,
        password_file: None,
        from: "sitepulse <sitepulse@example.org>".into(),
        to: vec![
            "ops@example.org".into(),
            "Oncall <oncall@example.org>".into(),
        ],
        dashboard_url: "https://grafana.example/d/site?var-site={site}".into(),
        timeout_secs: 5,
    });
    Notifier::build("ops", &cfg, retry).unwrap()
}

fn check_message(m: &serde_json::Value) {
    assert_eq!(
        m["subject"], "[FIRING:1] SitepulseSLOBurnRate shop.example",
        "{m:#}"
    );
    assert_eq!(m["from"], "sitepulse <sitepulse@example.org>");
    assert_eq!(
        m["to"], "ops@example.org, Oncall <oncall@example.org>",
        "{m:#}"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    let text = m["text"].as_str().unwrap();
    let html = m["html"].as_str().unwrap();
    for want in [
        "Site: shop.example",
        "SLO: availability",
        "Severity: page",
        "Burn rate: 14.9x (long window), 15.2x (short window)",
        "Error budget remaining: 81.2%",
        "Dashboard: https://grafana.example/d/site?var-site=shop.example",
        "[FIRING] shop.example: SLO availability burning its error budget 14.9x too fast",
    ] {
        assert!(text.contains(want), "{want:?} not in text part:\n{text}");
    }
    for want in [
        "<td>shop.example</td>",
        "<td>availability</td>",
        "<td>14.9x (long window), 15.2x (short window)</td>",
        "<td>81.2%</td>",
        "<a href=\"https://grafana.example/d/site?var-site=shop.example\">",
    ] {
        assert!(html.contains(want), "{want:?} not in HTML part:\n{html}");
    }
}

#[tokio::test]
async fn burn_alert_arrives_with_both_parts() {
    python(); // Fails here, naming the install command, without aiosmtpd.
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let port = free_port();
    let smtpd = Smtpd::start(port, &maildir);
    let n = email_notifier(port, RetryConfig::default());
    n.send(&notification()).await.unwrap();
    let got = smtpd.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    check_message(&got[0]);
    let s = n.stats().snapshot();
    assert_eq!((s.sent, s.retries, s.failed_total()), (1, 0, 0));
}

#[tokio::test]
async fn outage_is_retried_until_the_server_is_back() {
    python(); // Fails here, naming the install command, without aiosmtpd.
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let port = free_port();
    let n = std::sync::Arc::new(email_notifier(
        port,
        RetryConfig {
            max_attempts: 30,
            initial_backoff_ms: 100,
            max_backoff_secs: 1,
        },
    ));

    // Nothing listens: one attempt, refused, no retry left.
    let once = email_notifier(
        port,
        RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        },
    );
    let err = once.send(&notification()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "email \"ops\": cannot connect to 127.0.0.1:{port}"
        )),
        "{msg}"
    );
    assert_eq!(once.stats().failed(FailureReason::Connect), 1);

    let sending = tokio::spawn({
        let n = std::sync::Arc::clone(&n);
        async move { n.send(&notification()).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!sending.is_finished(), "sent with no server");
    assert!(n.stats().retries() >= 2, "{:?}", n.stats().snapshot());
    let smtpd = Smtpd::start(port, &maildir);
    tokio::time::timeout(Duration::from_secs(20), sending)
        .await
        .expect("delivered within 20 s of the server starting")
        .unwrap()
        .unwrap();
    let got = smtpd.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    check_message(&got[0]);
    let s = n.stats().snapshot();
    assert_eq!((s.sent, s.failed_total()), (1, 0));
}

/// A self-signed certificate for 127.0.0.1 (`openssl req`), as
/// (certificate, key) paths in `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test]
async fn starttls_and_implicit_tls_with_a_private_ca() {
    python(); // Fails here, naming the install command, without aiosmtpd.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());
    for (mode, flags) in [
        (SmtpTls::Starttls, ["--tlscert", cert_s, "--tlskey", key_s]),
        (SmtpTls::Tls, ["--smtpscert", cert_s, "--smtpskey", key_s]),
    ] {
        let maildir = dir.path().join(format!("maildir-{mode:?}"));
        let port = free_port();
        let smtpd = Smtpd::start_with(port, &maildir, &flags);
        let retry = RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        };
        // Without the CA the certificate is refused, and not retried.
        let untrusted = email_notifier_tls(port, retry.clone(), mode, None);
        let err = untrusted.send(&notification()).await.unwrap_err();
        assert_eq!(err.reason(), FailureReason::Tls, "{mode:?}: {err}");
        // With it, the message arrives.
        let n = email_notifier_tls(port, retry, mode, Some(cert.clone()));
        n.send(&notification()).await.unwrap();
        let got = smtpd.wait_for_messages(1, Duration::from_secs(10));
        check_message(&got[0]);
    }
}
