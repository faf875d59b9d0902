//! The alert lifecycle, as Prometheus's rule evaluation has it: a
//! condition that becomes true makes a *pending* alert; once it has held
//! for the severity's `for`, the alert is *firing*; when the condition is
//! false again a firing alert is *resolved* (a pending one is dropped).
//! Resolved alerts stay listed for `RESOLVED_RETENTION_SECS` so every
//! receiver can be told. Alerts are known by their labels
//! ([`fingerprint`]), so the same burn is one alert however often it is
//! evaluated; the states are saved with the notification log so a restart
//! neither re-waits `for` nor pages again.
//!
//! Conditions come from SLO evaluation ([`slo_conditions`]): one alert per
//! site, SLO and severity whose burn-rate row alerts, plus a farm-wide
//! incident when many sites page at once (it inhibits the per-site ones).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::inhibit::FARM_INCIDENT;
use crate::burn::Severity;
use crate::engine::SloStatus;

/// The alert name of SLO burn alerts.
pub const SLO_BURN: &str = crate::promrules::ALERT_NAME;

/// Resolved alerts are kept (and notified) this long.
pub const RESOLVED_RETENTION_SECS: i64 = 15 * 60;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// True, not yet for long enough.
    Pending,
    /// True for at least `for`.
    Firing,
    /// Was firing, is no longer.
    Resolved,
}

/// A condition that is true now.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Identify the alert (alertname, site, slo, severity, ...).
    pub labels: BTreeMap<String, String>,
    /// Say what is going on (summary, description, burn rates, links).
    pub annotations: BTreeMap<String, String>,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The latest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its state.
    pub state: AlertState,
    /// When its condition became true (Unix seconds).
    pub active_at: i64,
    /// When it started firing.
    pub fired_at: Option<i64>,
    /// When it resolved.
    pub resolved_at: Option<i64>,
    /// A resolved alert true again, pending: its previous episode's
    /// (fired, resolved) times, restored if the new one never fires, so
    /// the resolution is still told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened: Option<(i64, i64)>,
}

/// A stable id of a label set, as Prometheus's
/// `model.LabelSet.Fingerprint` computes it (see
/// [`crate::notify::model::fingerprint`]).
pub use crate::notify::model::fingerprint;

/// How long a condition must hold per severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForSecs {
    /// Pages.
    pub page: i64,
    /// Tickets.
    pub ticket: i64,
}

/// Every alert, by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertSet {
    alerts: BTreeMap<u64, Tracked>,
}

impl AlertSet {
    /// Applies the conditions true at `now`; returns the fingerprints
    /// that changed state (to firing or resolved).
    pub fn update(&mut self, conditions: Vec<Condition>, for_secs: ForSecs, now: i64) -> Vec<u64> {
        let mut changed = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for c in conditions {
            let fp = fingerprint(&c.labels);
            seen.insert(fp);
            let hold = match c.labels.get("severity").map(String::as_str) {
                Some("ticket") => for_secs.ticket,
                _ => for_secs.page,
            };
            let a = self.alerts.entry(fp).or_insert_with(|| Tracked {
                labels: c.labels.clone(),
                annotations: BTreeMap::new(),
                state: AlertState::Pending,
                active_at: now,
                fired_at: None,
                resolved_at: None,
                reopened: None,
            });
            a.annotations = c.annotations;
            if a.state == AlertState::Resolved {
                // True again: a new episode.
                a.reopened = a.fired_at.zip(a.resolved_at);
                a.state = AlertState::Pending;
                a.active_at = now;
                a.fired_at = None;
                a.resolved_at = None;
            }
            if a.state == AlertState::Pending && now - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(now);
                a.reopened = None;
                changed.push(fp);
            }
        }
        self.alerts.retain(|fp, a| {
            if seen.contains(fp) {
                return true;
            }
            match a.state {
                // A new episode that never fired: the previous one's
                // resolution stands (and is still to be told).
                AlertState::Pending => match a.reopened.take() {
                    Some((fired, resolved)) => {
                        a.state = AlertState::Resolved;
                        a.fired_at = Some(fired);
                        a.resolved_at = Some(resolved);
                        now - resolved < RESOLVED_RETENTION_SECS
                    }
                    None => false,
                },
                AlertState::Firing => {
                    a.state = AlertState::Resolved;
                    a.resolved_at = Some(now);
                    changed.push(*fp);
                    true
                }
                AlertState::Resolved => a
                    .resolved_at
                    .is_some_and(|t| now - t < RESOLVED_RETENTION_SECS),
            }
        });
        changed
    }

    /// Every alert, by fingerprint.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Tracked)> {
        self.alerts.iter().map(|(fp, a)| (*fp, a))
    }

    /// One alert.
    pub fn get(&self, fp: u64) -> Option<&Tracked> {
        self.alerts.get(&fp)
    }

    /// Alerts kept.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// How SLO statuses become conditions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloAlertConfig {
    /// `{site}` in it is the site: a dashboard link in every alert.
    pub dashboard_url: String,
    /// A farm-wide incident: at least this many sites paging at once...
    pub farm_min_sites: usize,
    /// ... and at least this fraction of the sites with traffic.
    pub farm_min_fraction: f64,
}

/// The conditions true in `statuses`.
pub fn slo_conditions(statuses: &[SloStatus], cfg: &SloAlertConfig) -> Vec<Condition> {
    let mut out = Vec::new();
    let mut paging = std::collections::BTreeSet::new();
    let mut with_traffic = std::collections::BTreeSet::new();
    for s in statuses {
        if s.period_requests > 0 {
            with_traffic.insert(s.site.as_str());
        }
        for sev in [Severity::Page, Severity::Ticket] {
            let rows: Vec<_> = s
                .checks
                .iter()
                .filter(|c| c.alerting && c.severity == sev)
                .collect();
            let Some(row) = rows.first() else {
                continue;
            };
            if sev == Severity::Page {
                paging.insert(s.site.as_str());
            }
            let mut labels: BTreeMap<String, String> = s.slo.labels.clone();
            labels.insert("alertname".into(), SLO_BURN.into());
            labels.insert("site".into(), s.site.clone());
            labels.insert("slo".into(), s.slo.name.clone());
            labels.insert("severity".into(), sev.as_str().into());
            let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.1}"));
            let mut ann = BTreeMap::new();
            ann.insert(
                "summary".into(),
                format!(
                    "{}: SLO {} burning its error budget {}x too fast ({} over {}, {} over {})",
                    s.site,
                    s.slo.name,
                    rate(row.long_burn_rate),
                    rate(row.long_burn_rate),
                    row.long,
                    rate(row.short_burn_rate),
                    row.short
                ),
            );
            let windows: Vec<String> = s
                .windows
                .iter()
                .map(|w| format!("{} {}", w.window, rate(w.burn_rate)))
                .collect();
            ann.insert(
                "description".into(),
                format!(
                    "Objective {:.3}% over {}. Error budget remaining: {:.1}%. Burn rates: {}. Alerting rows: {}.",
                    s.slo.objective * 100.0,
                    s.slo.period,
                    s.budget_remaining * 100.0,
                    windows.join(", "),
                    rows.iter()
                        .map(|r| format!("{}/{} > {:.2}x", r.long, r.short, r.factor))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            ann.insert(
                "budget_remaining".into(),
                format!("{:.4}", s.budget_remaining),
            );
            ann.insert("burn_rate_long".into(), rate(row.long_burn_rate));
            ann.insert("burn_rate_short".into(), rate(row.short_burn_rate));
            if !cfg.dashboard_url.is_empty() {
                ann.insert(
                    "dashboard".into(),
                    cfg.dashboard_url.replace("{site}", &s.site),
                );
            }
            out.push(Condition {
                labels,
                annotations: ann,
            });
        }
    }
    let n = paging.len();
    if cfg.farm_min_sites > 0
        && n >= cfg.farm_min_sites
        && n as f64 >= cfg.farm_min_fraction * with_traffic.len() as f64
    {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".into(), FARM_INCIDENT.into());
        labels.insert("severity".into(), "page".into());
        let mut ann = BTreeMap::new();
        ann.insert(
            "summary".into(),
            format!(
                "{n} of {} sites are paging at once: a farm-wide incident",
                with_traffic.len()
            ),
        );
        let first: Vec<&str> = paging.iter().take(20).copied().collect();
        ann.insert(
            "description".into(),
            format!(
                "Sites paging: {}{}",
                first.join(", "),
                if n > 20 { ", ..." } else { "" }
            ),
        );
        out.push(Condition {
            labels,
            annotations: ann,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(site: &str, sev: &str) -> Condition {
        let labels = [
            ("alertname", SLO_BURN),
            ("site", site),
            ("slo", "availability"),
            ("severity", sev),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        Condition {
            labels,
            annotations: BTreeMap::new(),
        }
    }

    const FOR: ForSecs = ForSecs {
        page: 60,
        ticket: 600,
    };

    #[test]
    fn pending_then_firing_then_resolved_then_forgotten() {
        let mut s = AlertSet::default();
        assert!(s.update(vec![cond("a", "page")], FOR, 1000).is_empty());
        let fp = s.iter().next().unwrap().0;
        assert_eq!(s.get(fp).unwrap().state, AlertState::Pending);
        assert!(s.update(vec![cond("a", "page")], FOR, 1059).is_empty());
        assert_eq!(s.update(vec![cond("a", "page")], FOR, 1060), [fp]);
        let a = s.get(fp).unwrap();
        assert_eq!(
            (a.state, a.active_at, a.fired_at),
            (AlertState::Firing, 1000, Some(1060))
        );
        assert_eq!(s.update(vec![], FOR, 1100), [fp]);
        assert_eq!(s.get(fp).unwrap().state, AlertState::Resolved);
        s.update(vec![], FOR, 1100 + RESOLVED_RETENTION_SECS);
        assert!(s.is_empty());
        // A pending alert whose condition goes away is dropped silently.
        s.update(vec![cond("b", "ticket")], FOR, 2000);
        assert!(s.update(vec![], FOR, 2001).is_empty());
        assert!(s.is_empty());
    }

    #[test]
    fn fingerprints_are_prometheus_label_set_fingerprints() {
        // The empty set is FNV-1a's offset basis, as in prometheus/common
        // (`emptyLabelSignature`); real Alertmanager's fingerprints are
        // compared in tests/notify_alertmanager.rs.
        let empty = BTreeMap::new();
        assert_eq!(fingerprint(&empty), 14_695_981_039_346_656_037);
        let l: BTreeMap<String, String> = [("foo".to_owned(), "bar".to_owned())].into();
        let l2: BTreeMap<String, String> = [("foo".to_owned(), "baz".to_owned())].into();
        assert_ne!(fingerprint(&l), fingerprint(&l2));
    }
}
