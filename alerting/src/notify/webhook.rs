//! The webhook notifier: POSTs a [`Notification`] as Alertmanager's
//! webhook payload, version `"4"`, so any receiver written for
//! Alertmanager takes ours unchanged.
//!
//! The payload is `notify/webhook/webhook.go`'s `Message` (an embedded
//! `template.Data` followed by `version`, `groupKey`, `truncatedAlerts`)
//! from `prometheus/alertmanager` v0.25, with `template/template.go`'s
//! `Data` and `Alert` fields, in Go's field order, times as Go marshals
//! `time.Time`, `endsAt` of a firing alert Go's zero time, and Go's HTML
//! escaping of `<`, `>`, `&` (`json.NewEncoder` default) and its trailing
//! newline. Newer Alertmanagers (0.32+) add `notification_reason` and
//! `routeLabels`; receivers ignore keys they do not know. `max_alerts`
//! keeps the first alerts and counts the rest in `truncatedAlerts`, as
//! `truncateAlerts` does.
//!
//! On top of Alertmanager: an optional HMAC-SHA256 of the body, as
//! lowercase hex in a header, so the receiver can check who sent it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{NotifyError, excerpt, from_reqwest, redact_url};
use super::model::{Alert, AlertStatus, Notification, ends_at_text, format_go_time, status_of};
use super::{http_client, read_secret};

/// The webhook payload version Alertmanager 0.25 to 0.34 sends.
pub const PAYLOAD_VERSION: &str = "4";

/// The default header carrying the body's HMAC.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Sitepulse-Signature-SHA256";

/// A webhook receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST (`http://` or `https://`).
    pub url: String,
    /// A file whose content (trimmed) is sent as `Authorization: Bearer
    /// <token>`; read when the notifier is built.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// A file whose content (trimmed) is the key of an HMAC-SHA256 over
    /// the exact body, sent as lowercase hex in `signature_header`.
    #[serde(default)]
    pub hmac_secret_file: Option<PathBuf>,
    /// The header that carries the HMAC.
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// The limit on one request, connect included, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// The most alerts in one payload, 0 for all; the rest are counted in
    /// `truncatedAlerts` (Alertmanager's `max_alerts`).
    #[serde(default)]
    pub max_alerts: u64,
}

fn default_signature_header() -> String {
    DEFAULT_SIGNATURE_HEADER.to_owned()
}

fn default_timeout_secs() -> u64 {
    10
}

/// A built webhook notifier.
#[derive(Debug)]
pub struct Webhook {
    who: String,
    url: reqwest::Url,
    target: String,
    bearer: Option<String>,
    hmac: Option<(reqwest::header::HeaderName, ring::hmac::Key)>,
    timeout_secs: u64,
    max_alerts: u64,
    client: reqwest::Client,
}

impl Webhook {
    /// Checks `cfg`, reads its secret files and builds the HTTP client.
    /// `who` names the notifier in errors.
    ///
    /// # Errors
    /// A URL that does not parse or is not http(s), a zero timeout, a
    /// bad header name, an unreadable or empty secret file, or a TLS
    /// setup failure.
    pub fn build(who: &str, cfg: &WebhookConfig) -> Result<Self, NotifyError> {
        let url = super::parse_http_url(who, "url", &cfg.url)?;
        let bad = |field, detail: String| NotifyError::Config {
            notifier: who.to_owned(),
            field,
            detail,
        };
        if cfg.timeout_secs == 0 {
            return Err(bad("timeout_secs", "must be at least 1".into()));
        }
        let bearer = match &cfg.bearer_token_file {
            Some(p) => Some(read_secret(who, "bearer_token_file", p)?),
            None => None,
        };
        let hmac = match &cfg.hmac_secret_file {
            Some(p) => {
                let key = read_secret(who, "hmac_secret_file", p)?;
                let name = reqwest::header::HeaderName::from_bytes(cfg.signature_header.as_bytes())
                    .map_err(|e| bad("signature_header", format!("not a header name: {e}")))?;
                Some((
                    name,
                    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes()),
                ))
            }
            None => None,
        };
        let client = http_client(who, Duration::from_secs(cfg.timeout_secs))?;
        Ok(Webhook {
            who: who.to_owned(),
            target: redact_url(&url),
            url,
            bearer,
            hmac,
            timeout_secs: cfg.timeout_secs,
            max_alerts: cfg.max_alerts,
            client,
        })
    }

    /// The notifier's name in errors.
    pub fn who(&self) -> &str {
        &self.who
    }

    /// One POST of `n`, no retry.
    ///
    /// # Errors
    /// Connection, timeout, TLS, or a status other than 2xx (with the
    /// start of the body).
    pub async fn send_once(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = encode(n, self.max_alerts);
        let mut req = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.bearer {
            req = req.bearer_auth(token);
        }
        if let Some((name, key)) = &self.hmac {
            req = req.header(name.clone(), sign(key, &body));
        }
        let fail = |e: reqwest::Error| from_reqwest(&self.who, &self.target, self.timeout_secs, &e);
        let resp = req.body(body).send().await.map_err(fail)?;
        let status = resp.status();
        // Read the body either way so the connection can be reused.
        let text = resp.bytes().await.map_err(fail)?;
        if status.is_success() {
            return Ok(());
        }
        Err(NotifyError::HttpStatus {
            notifier: self.who.clone(),
            target: self.target.clone(),
            status: status.as_u16(),
            body: excerpt(&text),
        })
    }
}

/// Lowercase hex HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &ring::hmac::Key, body: &[u8]) -> String {
    let tag = ring::hmac::sign(key, body);
    let mut out = String::with_capacity(64);
    for b in tag.as_ref() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `template.Data` plus the webhook `Message` fields, in Go's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    receiver: &'a str,
    status: AlertStatus,
    alerts: Vec<PayloadAlert<'a>>,
    group_labels: &'a BTreeMap<String, String>,
    common_labels: &'a BTreeMap<String, String>,
    common_annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: u64,
}

/// `template.Alert`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PayloadAlert<'a> {
    status: AlertStatus,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: String,
}

impl<'a> PayloadAlert<'a> {
    fn new(a: &'a Alert) -> Self {
        PayloadAlert {
            status: a.status,
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: format_go_time(a.starts_at),
            ends_at: ends_at_text(a),
            generator_url: &a.generator_url,
            fingerprint: a.fingerprint(),
        }
    }
}

/// The webhook body for `n`, keeping at most `max_alerts` alerts (0: all),
/// byte for byte as Alertmanager's `json.Encoder` writes it.
pub fn encode(n: &Notification, max_alerts: u64) -> Vec<u8> {
    let keep = match usize::try_from(max_alerts) {
        Ok(m) if m > 0 => m.min(n.alerts.len()),
        _ => n.alerts.len(),
    };
    let alerts = &n.alerts[..keep];
    let msg = Message {
        receiver: &n.receiver,
        status: status_of(alerts),
        alerts: alerts.iter().map(PayloadAlert::new).collect(),
        group_labels: &n.group_labels,
        common_labels: &n.common_labels,
        common_annotations: &n.common_annotations,
        external_url: &n.external_url,
        version: PAYLOAD_VERSION,
        group_key: &n.group_key,
        truncated_alerts: n.truncated_alerts + (n.alerts.len() - keep) as u64,
    };
    // Serialising plain maps, strings and numbers cannot fail.
    let mut out = serde_json::to_vec(&msg).unwrap_or_default();
    out = go_html_escape(out);
    out.push(b'\n');
    out
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 in
/// strings; JSON has them nowhere else, so replacing every occurrence in
/// the serialised text is exact.
fn go_html_escape(json: Vec<u8>) -> Vec<u8> {
    let needs = |b: &u8| matches!(b, b'<' | b'>' | b'&' | 0xe2);
    if !json.iter().any(needs) {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        match b {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
            0xe2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                let last = if json.get(i + 2) == Some(&0xa8) {
                    b'8'
                } else {
                    b'9'
                };
                out.extend_from_slice(b"\\u202");
                out.push(last);
                i += 3;
                continue;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::model::GO_ZERO_TIME;
    use crate::test_util::labels as map;

    fn alert(site: &str, status: AlertStatus) -> Alert {
        Alert {
            labels: map(&[("alertname", "SitepulseSLOBurnRate"), ("site", site)]),
            annotations: map(&[("summary", "burning <fast> & hot")]),
            starts_at: 1_795_428_000_250,
            ends_at: (status == AlertStatus::Resolved).then_some(1_795_428_060_000),
            generator_url: "http://sp:9000/alerts?site=a&x=1".into(),
            status,
        }
    }

    fn notification(alerts: Vec<Alert>) -> Notification {
        Notification::new(
            "ops",
            "{}:{alertname=\"SitepulseSLOBurnRate\"}",
            map(&[("alertname", "SitepulseSLOBurnRate")]),
            "http://sp:9000",
            alerts,
        )
    }

    #[test]
    fn payload_has_alertmanager_keys_in_go_order() {
        let n = notification(vec![alert("a", AlertStatus::Firing)]);
        let body = encode(&n, 0);
        let text = std::str::from_utf8(&body).unwrap();
        assert!(text.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "alerts",
            "commonAnnotations",
            "commonLabels",
            "externalURL",
            "groupKey",
            "groupLabels",
            "receiver",
            "status",
            "truncatedAlerts",
            "version",
        ];
        want.sort_unstable();
        assert_eq!(keys, want);
        let a = &v["alerts"][0];
        let akeys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            akeys,
            [
                "annotations",
                "endsAt",
                "fingerprint",
                "generatorURL",
                "labels",
                "startsAt",
                "status"
            ]
        );
        assert_eq!(v["version"], "4");
        assert_eq!(v["status"], "firing");
        assert_eq!(a["startsAt"], "2026-11-23T10:00:00.25Z");
        assert_eq!(a["endsAt"], GO_ZERO_TIME);
        assert_eq!(a["fingerprint"], n.alerts[0].fingerprint());
        assert_eq!(a["annotations"]["summary"], "burning <fast> & hot");
        // Go's field order and HTML escaping, byte for byte.
        assert!(text.starts_with(
            "{\"receiver\":\"ops\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\",\
             \"labels\":{\"alertname\":\"SitepulseSLOBurnRate\",\"site\":\"a\"},\
             \"annotations\":{\"summary\":\"burning \\u003cfast\\u003e \\u0026 hot\"},"
        ));
        assert!(text.ends_with(
            "\"externalURL\":\"http://sp:9000\",\"version\":\"4\",\
             \"groupKey\":\"{}:{alertname=\\\"SitepulseSLOBurnRate\\\"}\",\"truncatedAlerts\":0}\n"
        ));
    }

    #[test]
    fn truncates_like_alertmanager() {
        let mut n = notification(vec![
            alert("a", AlertStatus::Resolved),
            alert("b", AlertStatus::Firing),
            alert("c", AlertStatus::Firing),
        ]);
        n.truncated_alerts = 1;
        let v: serde_json::Value = serde_json::from_slice(&encode(&n, 1)).unwrap();
        assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(v["truncatedAlerts"], 3);
        // Status is over the alerts sent, as Alertmanager truncates first.
        assert_eq!(v["status"], "resolved");
        assert_eq!(v["alerts"][0]["endsAt"], "2026-11-23T10:01:00Z");
        let v: serde_json::Value = serde_json::from_slice(&encode(&n, 0)).unwrap();
        assert_eq!(v["alerts"].as_array().unwrap().len(), 3);
        assert_eq!(v["truncatedAlerts"], 1);
        assert_eq!(v["status"], "firing");
    }

    #[test]
    fn line_separators_escaped_as_go_does() {
        let out = go_html_escape("\"a\u{2028}b\u{2029}c→\"".as_bytes().to_vec());
        assert_eq!(std::str::from_utf8(&out).unwrap(), "\"a\\u2028b\\u2029c→\"");
    }

    #[test]
    fn hmac_sha256_matches_rfc4231() {
        // RFC 4231 test case 2.
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe");
        assert_eq!(
            sign(&key, b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
