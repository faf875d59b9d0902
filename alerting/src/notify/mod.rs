//! Notifiers: what tells people and other systems about alerts. A
//! [`Notifier`] is one of three kinds, built from a [`NotifierConfig`]:
//!
//! - [`webhook`]: Alertmanager's webhook payload, version 4
//!   (`prometheus/alertmanager:notify/webhook/webhook.go`,
//!   `template/template.go`), with an optional HMAC-SHA256 header;
//! - [`alertmanager`]: pushes to Alertmanager's `POST /api/v2/alerts`
//!   (`api/v2/openapi.yaml`), to every member of an HA pair;
//! - [`email`]: SMTP with a text and an HTML part.
//!
//! [`Notifier::send`] retries failures that may pass ([`retry`]) and
//! counts what it sent, lost and retried in [`NotifierStats`]. Errors are
//! [`NotifyError`]s naming the notifier, the URL or host and what
//! happened. Secret files are read at build time, so a missing one fails
//! at startup.

pub mod alertmanager;
pub mod email;
pub mod error;
pub mod model;
pub mod retry;
pub mod webhook;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use alertmanager::{Alertmanager, AlertmanagerConfig};
pub use email::{Email, EmailConfig, SmtpTls};
pub use error::{FailureReason, NotifyError};
pub use model::{Alert, AlertStatus, Notification};
pub use retry::{NotifierStats, RetryConfig, StatsSnapshot, with_retry};
pub use webhook::{Webhook, WebhookConfig};

/// One notifier's configuration, by kind: `{webhook: {...}}`,
/// `{alertmanager: {...}}` or `{email: {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NotifierConfig {
    /// POST Alertmanager's webhook payload.
    Webhook(WebhookConfig),
    /// Push alerts to Alertmanager.
    Alertmanager(AlertmanagerConfig),
    /// Send e-mail.
    Email(EmailConfig),
}

impl NotifierConfig {
    /// `webhook`, `alertmanager` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            NotifierConfig::Webhook(_) => "webhook",
            NotifierConfig::Alertmanager(_) => "alertmanager",
            NotifierConfig::Email(_) => "email",
        }
    }
}

/// A built notifier of one of the three kinds.
#[derive(Debug)]
pub enum Notifier {
    /// A webhook.
    Webhook(Common, Webhook),
    /// Alertmanagers.
    Alertmanager(Common, Alertmanager),
    /// An SMTP server.
    Email(Common, Email),
}

/// What every kind of notifier has: its name, retry policy and counters.
#[derive(Debug)]
pub struct Common {
    name: String,
    retry: RetryConfig,
    stats: Arc<NotifierStats>,
}

impl Notifier {
    /// Builds the notifier `name` from `cfg`: checks every field and
    /// reads secret files, so what passes here can only fail on the
    /// network later.
    ///
    /// # Errors
    /// A [`NotifyError::Config`] or [`NotifyError::SecretFile`] naming
    /// the field.
    pub fn build(
        name: &str,
        cfg: &NotifierConfig,
        retry: RetryConfig,
    ) -> Result<Self, NotifyError> {
        let who = format!("{} {name:?}", cfg.kind());
        if retry.max_attempts == 0 {
            return Err(NotifyError::Config {
                notifier: who,
                field: "retry.max_attempts",
                detail: "must be at least 1".into(),
            });
        }
        let common = Common {
            name: name.to_owned(),
            retry,
            stats: Arc::default(),
        };
        Ok(match cfg {
            NotifierConfig::Webhook(c) => Notifier::Webhook(common, Webhook::build(&who, c)?),
            NotifierConfig::Alertmanager(c) => {
                Notifier::Alertmanager(common, Alertmanager::build(&who, c)?)
            }
            NotifierConfig::Email(c) => Notifier::Email(common, Email::build(&who, c)?),
        })
    }

    fn common(&self) -> &Common {
        match self {
            Notifier::Webhook(c, _) | Notifier::Alertmanager(c, _) | Notifier::Email(c, _) => c,
        }
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.common().name
    }

    /// `webhook`, `alertmanager` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            Notifier::Webhook(..) => "webhook",
            Notifier::Alertmanager(..) => "alertmanager",
            Notifier::Email(..) => "email",
        }
    }

    /// Its counters, shared: keep the `Arc` to read them at scrape time.
    pub fn stats(&self) -> Arc<NotifierStats> {
        Arc::clone(&self.common().stats)
    }

    /// Delivers `n`, retrying failures that may pass with backoff.
    ///
    /// # Errors
    /// The last attempt's error, once attempts are spent or the error
    /// will not pass by retrying (HTTP 4xx, SMTP 5xx, TLS).
    pub async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let c = self.common();
        with_retry(&c.retry, &c.stats, || self.send_once(n)).await
    }

    /// One attempt at delivering `n`, counted nowhere.
    ///
    /// # Errors
    /// As [`Notifier::send`], without retry.
    pub async fn send_once(&self, n: &Notification) -> Result<(), NotifyError> {
        match self {
            Notifier::Webhook(_, w) => w.send_once(n).await,
            Notifier::Alertmanager(_, a) => a.send_once(n, unix_ms_now()).await,
            Notifier::Email(_, e) => e.send_once(n).await,
        }
    }
}

/// The wall clock in Unix milliseconds.
fn unix_ms_now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Installs rustls' ring provider as the process default, which reqwest
/// (built without a provider of its own) and lettre need; later calls
/// find it set.
pub(crate) fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client of the HTTP notifiers: reqwest on rustls with ring,
/// as `sitepulse-sinks`' `http::client` builds it.
fn http_client(who: &str, timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    install_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("sitepulse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Tls {
            notifier: who.to_owned(),
            target: String::new(),
            detail: error::chain(&e),
        })
}

/// `raw` as an http(s) URL with a host.
fn parse_http_url(who: &str, field: &'static str, raw: &str) -> Result<reqwest::Url, NotifyError> {
    let bad = |detail: String| NotifyError::Config {
        notifier: who.to_owned(),
        field,
        detail,
    };
    let url = reqwest::Url::parse(raw).map_err(|e| bad(format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(format!(
            "{raw:?}: want an http:// or https:// URL with a host"
        )));
    }
    Ok(url)
}

/// The trimmed content of the secret file `path`, which must not be
/// empty.
fn read_secret(who: &str, field: &'static str, path: &Path) -> Result<String, NotifyError> {
    let text = std::fs::read_to_string(path).map_err(|source| NotifyError::SecretFile {
        notifier: who.to_owned(),
        field,
        path: path.to_owned(),
        source,
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(NotifyError::Config {
            notifier: who.to_owned(),
            field,
            detail: format!("{} is empty", path.display()),
        });
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_denies_unknown_fields() {
        let yaml = "webhook:\n  url: http://127.0.0.1:9/hook\n  max_alerts: 10\n";
        let cfg: NotifierConfig = serde_saphyr::from_str(yaml).unwrap();
        let NotifierConfig::Webhook(w) = &cfg else {
            panic!("{cfg:?}")
        };
        assert_eq!(w.max_alerts, 10);
        assert_eq!(w.timeout_secs, 10);
        assert_eq!(w.signature_header, webhook::DEFAULT_SIGNATURE_HEADER);
        let typo = "webhook:\n  url: http://127.0.0.1:9/hook\n  timeout: 3\n";
        assert!(serde_saphyr::from_str::<NotifierConfig>(typo).is_err());
        let email =
            "email:\n  host: smtp.example.org\n  from: a@example.org\n  to: [b@example.org]\n";
        let cfg: NotifierConfig = serde_saphyr::from_str(email).unwrap();
        let NotifierConfig::Email(e) = &cfg else {
            panic!("{cfg:?}")
        };
        assert_eq!(e.tls, SmtpTls::Starttls);
        let am = "alertmanager:\n  urls: [http://a:9093, http://b:9093]\n";
        let cfg: NotifierConfig = serde_saphyr::from_str(am).unwrap();
        assert_eq!(cfg.kind(), "alertmanager");
    }

    #[test]
    fn build_names_notifier_and_field() {
        let cfg = NotifierConfig::Webhook(WebhookConfig {
            url: "http://127.0.0.1:9/hook".into(),
            bearer_token_file: Some("/nonexistent/sitepulse-token".into()),
            hmac_secret_file: None,
            signature_header: webhook::DEFAULT_SIGNATURE_HEADER.into(),
            timeout_secs: 1,
            max_alerts: 0,
        });
        let e = Notifier::build("ops", &cfg, RetryConfig::default()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "webhook \"ops\": cannot read bearer_token_file /nonexistent/sitepulse-token"
            ),
            "{msg}"
        );
        assert_eq!(e.reason(), FailureReason::Config);
        let bad = NotifierConfig::Webhook(WebhookConfig {
            url: "not a url".into(),
            bearer_token_file: None,
            hmac_secret_file: None,
            signature_header: webhook::DEFAULT_SIGNATURE_HEADER.into(),
            timeout_secs: 1,
            max_alerts: 0,
        });
        let e = Notifier::build("ops", &bad, RetryConfig::default()).unwrap_err();
        assert!(e.to_string().starts_with("webhook \"ops\": url: "), "{e}");
    }
}
