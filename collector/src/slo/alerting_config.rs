//! The `alerting:` section: how SLO burn and deploy outcomes become
//! alerts (the `for` per severity, the farm-wide incident, inhibition),
//! where they are routed and who may change state through the API.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sitepulse_alerting::alert::dispatch::Route;
use sitepulse_alerting::alert::inhibit::{InhibitRule, default_rules};
use sitepulse_alerting::deploy::DeployConfig;
use sitepulse_alerting::notify::{
    AlertmanagerConfig, EmailConfig, Notifier, NotifierConfig, RetryConfig, WebhookConfig,
};

use super::auth::ApiAccessConfig;

/// One receiver: a name and one notifier.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// What routes call it.
    pub name: String,
    /// POST Alertmanager's webhook payload (version 4) to a URL.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Push alerts to Alertmanager's `/api/v2/alerts`.
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerConfig>,
    /// Send e-mail over SMTP.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// Attempts and backoff per notification.
    #[serde(default)]
    pub retry: RetryConfig,
}

impl ReceiverConfig {
    /// Its notifier's config.
    ///
    /// # Errors
    /// None or more than one kind given.
    pub fn notifier(&self) -> Result<NotifierConfig, String> {
        match (&self.webhook, &self.alertmanager, &self.email) {
            (Some(w), None, None) => Ok(NotifierConfig::Webhook(w.clone())),
            (None, Some(a), None) => Ok(NotifierConfig::Alertmanager(a.clone())),
            (None, None, Some(e)) => Ok(NotifierConfig::Email(e.clone())),
            _ => Err(format!(
                "receiver `{}`: give exactly one of webhook, alertmanager, email",
                self.name
            )),
        }
    }

    /// Builds it (secret files read).
    ///
    /// # Errors
    /// As [`Notifier::build`].
    pub fn build(&self) -> Result<Notifier, String> {
        Notifier::build(&self.name, &self.notifier()?, self.retry.clone())
            .map_err(|e| e.to_string())
    }
}

/// The `alerting:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Turn SLO burn and deploy outcomes into alerts (`/api/v1/alerts`)
    /// and notify the receivers.
    pub enabled: bool,
    /// A page's condition must hold this long before it fires.
    pub page_for_secs: u64,
    /// A ticket's condition must hold this long before it fires.
    pub ticket_for_secs: u64,
    /// A link to the site's dashboard in every alert; `{site}` is
    /// replaced (`https://grafana.example.com/d/sitepulse-site?var-site={site}`).
    pub dashboard_url: String,
    /// This collector's address as receivers should link to it
    /// (Alertmanager's `externalURL`, `generatorURL`).
    pub external_url: String,
    /// A farm-wide incident alert fires when at least this many sites
    /// page at once (0: never)...
    pub farm_incident_min_sites: usize,
    /// ... and they are at least this fraction of the sites with traffic.
    pub farm_incident_min_fraction: f64,
    /// Alertmanager-style inhibition; absent: a page mutes the ticket of
    /// the same site and SLO, and a farm-wide incident mutes per-site
    /// alerts.
    pub inhibit_rules: Option<Vec<InhibitRule>>,
    /// Where alerts go: the first route whose matchers match (and the
    /// next ones while `continue`), grouped by `group_by`.
    pub routes: Vec<Route>,
    /// The receivers routes name: each one webhook, Alertmanager or email.
    pub receivers: Vec<ReceiverConfig>,
    /// Deploy deadlines.
    pub deploys: DeployConfig,
    /// Who may change state (deploy events, silences, test
    /// notifications) and read.
    pub api: ApiAccessConfig,
    /// Where alert states, the notification log, deploys and silences are
    /// kept; `auto` is `alerting/` beside the checkpoint file.
    pub state_dir: String,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            enabled: true,
            page_for_secs: 60,
            ticket_for_secs: 600,
            dashboard_url: String::new(),
            external_url: String::new(),
            farm_incident_min_sites: 10,
            farm_incident_min_fraction: 0.2,
            inhibit_rules: None,
            routes: Vec::new(),
            receivers: Vec::new(),
            deploys: DeployConfig::default(),
            api: ApiAccessConfig::default(),
            state_dir: "auto".into(),
        }
    }
}

impl AlertingConfig {
    /// The inhibition rules in force.
    pub fn inhibit(&self) -> Vec<InhibitRule> {
        self.inhibit_rules.clone().unwrap_or_else(default_rules)
    }

    /// Where state is kept.
    pub fn state_dir(&self, checkpoint: &Path) -> PathBuf {
        if self.state_dir.is_empty() || self.state_dir == "auto" {
            checkpoint
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join("alerting")
        } else {
            PathBuf::from(&self.state_dir)
        }
    }

    /// `(field, message)` for the first problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (f, v, max) in [
            ("page_for_secs", self.page_for_secs, 86_400),
            ("ticket_for_secs", self.ticket_for_secs, 86_400),
            (
                "deploys.default_deadline_secs",
                self.deploys.default_deadline_secs,
                7 * 86_400,
            ),
            (
                "deploys.health_soak_secs",
                self.deploys.health_soak_secs,
                86_400,
            ),
            (
                "deploys.alert_ttl_secs",
                self.deploys.alert_ttl_secs,
                7 * 86_400,
            ),
        ] {
            if v > max {
                return Err((f.into(), format!("{v}: at most {max}")));
            }
        }
        if self.deploys.default_deadline_secs == 0 {
            return Err(("deploys.default_deadline_secs".into(), "above 0".into()));
        }
        if !(0.0..=1.0).contains(&self.farm_incident_min_fraction) {
            return Err((
                "farm_incident_min_fraction".into(),
                "between 0 and 1".into(),
            ));
        }
        for (i, r) in self.receivers.iter().enumerate() {
            let at = |f: &str| format!("receivers[{i}].{f}");
            if r.name.is_empty() {
                return Err((at("name"), "name the receiver".into()));
            }
            if self.receivers[..i].iter().any(|o| o.name == r.name) {
                return Err((at("name"), format!("`{}` is named twice", r.name)));
            }
            r.build().map_err(|m| (at("name"), m))?;
        }
        for (i, r) in self.routes.iter().enumerate() {
            let at = |f: &str| format!("routes[{i}].{f}");
            let Some(rcv) = self.receivers.iter().find(|x| x.name == r.receiver) else {
                let names: Vec<&str> = self.receivers.iter().map(|x| x.name.as_str()).collect();
                return Err((
                    at("receiver"),
                    format!("`{}` is not a receiver; receivers: {names:?}", r.receiver),
                ));
            };
            // Alertmanager forgets an alert not sent again within its
            // resolve_timeout: a route to it must repeat at least as often
            // as the receiver's resend interval.
            if let Some(am) = &rcv.alertmanager
                && r.repeat_interval_secs > am.resend_interval_secs
            {
                return Err((
                    at("repeat_interval_secs"),
                    format!(
                        "{}: at most the Alertmanager receiver's resend_interval_secs ({}), or Alertmanager resolves the alerts between sends",
                        r.repeat_interval_secs, am.resend_interval_secs
                    ),
                ));
            }
            // A resolved alert is kept 15 minutes: a group must be looked
            // at within that, or its resolution is never told.
            let keep = sitepulse_alerting::alert::state::RESOLVED_RETENTION_SECS as u64;
            if r.group_interval_secs >= keep || r.group_wait_secs >= keep {
                return Err((
                    at("group_interval_secs"),
                    format!(
                        "group_wait_secs and group_interval_secs below {keep} (resolved alerts are kept that long)"
                    ),
                ));
            }
            if r.group_interval_secs == 0 || r.repeat_interval_secs == 0 {
                return Err((
                    at("group_interval_secs"),
                    "group_interval_secs and repeat_interval_secs above 0".into(),
                ));
            }
        }
        self.api
            .validate()
            .map_err(|(f, m)| (format!("api.{f}"), m))?;
        Ok(())
    }
}
