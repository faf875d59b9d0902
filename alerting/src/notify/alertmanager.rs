//! The Alertmanager notifier: pushes alerts to `POST /api/v2/alerts` of
//! one or more Alertmanagers, as Prometheus does, so Alertmanager does
//! the routing, grouping, silencing and paging.
//!
//! The body is a JSON array of `postableAlert` (`prometheus/alertmanager:
//! api/v2/openapi.yaml`): `labels`, `annotations`, `startsAt`, `endsAt`,
//! `generatorURL` (left out when empty: it has `format: uri`).
//! Alertmanager resolves an alert whose `endsAt` has passed, and one sent
//! without `endsAt` after its `resolve_timeout` (`api/v2/api.go`,
//! `postAlertsHandler`). So, as Prometheus does (`rules/alerting.go`,
//! `ValidUntil`): a firing alert is sent with `endsAt` four
//! `resend_interval_secs` ahead, and must be sent again every
//! `resend_interval_secs` while it fires ([`Alertmanager::resend_interval`]
//! tells the dispatcher); a resolved alert is sent with its end, or now
//! when it has none.
//!
//! Alertmanagers of an HA pair share alerts by gossip but each must be
//! told: the notifier sends to every URL and succeeds if any accepted.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{NotifyError, excerpt, from_reqwest, redact_url};
use super::model::{Alert, AlertStatus, Notification, format_go_time};
use super::{http_client, read_secret};

/// The API path alerts are posted to, under each Alertmanager's URL.
pub const ALERTS_PATH: &str = "api/v2/alerts";

/// How many resend intervals a firing alert's `endsAt` lies ahead, as
/// Prometheus's rule manager sets it.
pub const ENDS_AT_RESENDS: i64 = 4;

/// Alertmanagers to push to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Each Alertmanager's base URL (`http://am-0:9093`, or with the
    /// `--web.route-prefix` path); `/api/v2/alerts` is appended. Every
    /// one is sent every alert.
    pub urls: Vec<String>,
    /// How often firing alerts are sent again, in seconds; keep it well
    /// under Alertmanager's `resolve_timeout` (5 min by default).
    #[serde(default = "default_resend_interval_secs")]
    pub resend_interval_secs: u64,
    /// A file whose content (trimmed) is sent as `Authorization: Bearer
    /// <token>`; read when the notifier is built.
    #[serde(default)]
    pub bearer_token_file: Option<std::path::PathBuf>,
    /// The limit on one request to one Alertmanager, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_resend_interval_secs() -> u64 {
    60
}

fn default_timeout_secs() -> u64 {
    10
}

/// A built Alertmanager notifier.
#[derive(Debug)]
pub struct Alertmanager {
    who: String,
    targets: Vec<(reqwest::Url, String)>,
    resend_interval: Duration,
    bearer: Option<String>,
    timeout_secs: u64,
    client: reqwest::Client,
}

impl Alertmanager {
    /// Checks `cfg`, reads its token file and builds the HTTP client.
    ///
    /// # Errors
    /// No URL, a URL that is not http(s), a zero interval or timeout, an
    /// unreadable token file, or a TLS setup failure.
    pub fn build(who: &str, cfg: &AlertmanagerConfig) -> Result<Self, NotifyError> {
        let bad = |field, detail: &str| NotifyError::Config {
            notifier: who.to_owned(),
            field,
            detail: detail.to_owned(),
        };
        if cfg.urls.is_empty() {
            return Err(bad("urls", "name at least one Alertmanager"));
        }
        if cfg.resend_interval_secs == 0 {
            return Err(bad("resend_interval_secs", "must be at least 1"));
        }
        if cfg.timeout_secs == 0 {
            return Err(bad("timeout_secs", "must be at least 1"));
        }
        let mut targets = Vec::with_capacity(cfg.urls.len());
        for raw in &cfg.urls {
            let mut base = super::parse_http_url(who, "urls", raw)?;
            if !base.path().ends_with('/') {
                let p = format!("{}/", base.path());
                base.set_path(&p);
            }
            let url = base.join(ALERTS_PATH).map_err(|e| NotifyError::Config {
                notifier: who.to_owned(),
                field: "urls",
                detail: format!("{raw}: {e}"),
            })?;
            let target = redact_url(&url);
            targets.push((url, target));
        }
        let bearer = match &cfg.bearer_token_file {
            Some(p) => Some(read_secret(who, "bearer_token_file", p)?),
            None => None,
        };
        Ok(Alertmanager {
            who: who.to_owned(),
            targets,
            resend_interval: Duration::from_secs(cfg.resend_interval_secs),
            bearer,
            timeout_secs: cfg.timeout_secs,
            client: http_client(who, Duration::from_secs(cfg.timeout_secs))?,
        })
    }

    /// How often the caller must send firing alerts again.
    pub fn resend_interval(&self) -> Duration {
        self.resend_interval
    }

    /// The full `/api/v2/alerts` URLs, in configured order.
    pub fn urls(&self) -> impl Iterator<Item = &reqwest::Url> {
        self.targets.iter().map(|(u, _)| u)
    }

    /// One push of `n`'s alerts to every Alertmanager, at once, with
    /// `now_ms` (Unix milliseconds) as the time the `endsAt` values are
    /// computed from; no retry.
    ///
    /// # Errors
    /// [`NotifyError::AllFailed`] when no Alertmanager accepted, with one
    /// error per Alertmanager.
    pub async fn send_once(&self, n: &Notification, now_ms: i64) -> Result<(), NotifyError> {
        let body = encode(&n.alerts, now_ms, self.resend_interval);
        let sends = self
            .targets
            .iter()
            .map(|(url, target)| self.post(url, target, &body));
        let results = futures_util::future::join_all(sends).await;
        let mut errors = Vec::new();
        let mut ok = false;
        for r in results {
            match r {
                Ok(()) => ok = true,
                Err(e) => errors.push(e),
            }
        }
        if ok {
            for e in &errors {
                tracing::warn!(error = %e, "one Alertmanager did not take the alerts");
            }
            return Ok(());
        }
        if errors.len() == 1
            && let Some(e) = errors.pop()
        {
            return Err(e);
        }
        Err(NotifyError::AllFailed {
            notifier: self.who.clone(),
            errors,
        })
    }

    async fn post(&self, url: &reqwest::Url, target: &str, body: &[u8]) -> Result<(), NotifyError> {
        let fail = |e: reqwest::Error| from_reqwest(&self.who, target, self.timeout_secs, &e);
        let mut req = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.body(body.to_vec()).send().await.map_err(fail)?;
        let status = resp.status();
        let text = resp.bytes().await.map_err(fail)?;
        if status.is_success() {
            return Ok(());
        }
        Err(NotifyError::HttpStatus {
            notifier: self.who.clone(),
            target: target.to_owned(),
            status: status.as_u16(),
            body: excerpt(&text),
        })
    }
}

/// `postableAlert`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Postable<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
}

/// The `POST /api/v2/alerts` body for `alerts` at `now_ms`: firing alerts
/// end [`ENDS_AT_RESENDS`] `resend_interval`s ahead, resolved ones at
/// their end (or `now_ms`).
pub fn encode(alerts: &[Alert], now_ms: i64, resend_interval: Duration) -> Vec<u8> {
    let ahead = i64::try_from(resend_interval.as_millis())
        .unwrap_or(i64::MAX)
        .saturating_mul(ENDS_AT_RESENDS);
    let body: Vec<Postable<'_>> = alerts
        .iter()
        .map(|a| Postable {
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: format_go_time(a.starts_at),
            ends_at: format_go_time(match a.status {
                AlertStatus::Firing => now_ms.saturating_add(ahead),
                AlertStatus::Resolved => a.ends_at.unwrap_or(now_ms),
            }),
            generator_url: &a.generator_url,
        })
        .collect();
    // Serialising plain maps and strings cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: AlertStatus, ends_at: Option<i64>) -> Alert {
        Alert {
            labels: [("alertname", "X"), ("site", "shop")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            annotations: BTreeMap::new(),
            starts_at: 1_795_428_000_000,
            ends_at,
            generator_url: String::new(),
            status,
        }
    }

    #[test]
    fn postable_alerts() {
        let now = 1_795_428_100_000;
        let alerts = [
            alert(AlertStatus::Firing, None),
            alert(AlertStatus::Resolved, Some(1_795_428_090_000)),
            alert(AlertStatus::Resolved, None),
        ];
        let body = encode(&alerts, now, Duration::from_secs(60));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let first = v[0].as_object().unwrap();
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        // No generatorURL when empty (format: uri).
        assert_eq!(keys, ["annotations", "endsAt", "labels", "startsAt"]);
        assert_eq!(v[0]["startsAt"], "2026-11-23T10:00:00Z");
        assert_eq!(v[0]["endsAt"], "2026-11-23T10:05:40Z");
        assert_eq!(v[1]["endsAt"], "2026-11-23T10:01:30Z");
        assert_eq!(v[2]["endsAt"], "2026-11-23T10:01:40Z");
        assert_eq!(v[0]["labels"]["site"], "shop");
    }

    #[test]
    fn build_checks_config() {
        let cfg = AlertmanagerConfig {
            urls: vec!["http://127.0.0.1:9093/prefix".into()],
            resend_interval_secs: 60,
            bearer_token_file: None,
            timeout_secs: 5,
        };
        let am = Alertmanager::build("alertmanager \"am\"", &cfg).unwrap();
        let urls: Vec<String> = am.urls().map(ToString::to_string).collect();
        assert_eq!(urls, ["http://127.0.0.1:9093/prefix/api/v2/alerts"]);
        let empty = AlertmanagerConfig {
            urls: Vec::new(),
            ..cfg.clone()
        };
        let e = Alertmanager::build("alertmanager \"am\"", &empty).unwrap_err();
        assert!(e.to_string().contains("urls"), "{e}");
        let ftp = AlertmanagerConfig {
            urls: vec!["ftp://x".into()],
            ..cfg
        };
        assert!(Alertmanager::build("alertmanager \"am\"", &ftp).is_err());
    }
}
