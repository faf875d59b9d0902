//! Deploy deadlines. A rollout starts when a deploy webhook says so (or
//! the Kubernetes watch sees a Deployment's generation change) and has
//! its own deadline, timed from that observed start. It *passes* when it
//! is done (the webhook's `finished`, or kubectl-rollout-status's
//! criteria plus `NewReplicaSetAvailable`) and healthy before the
//! deadline. Otherwise its outcome says why, each reported on its own:
//!
//! - `stalled`: the rollout stopped making progress
//!   (`ProgressDeadlineExceeded`, or the webhook's `failed`);
//! - `slow`: still rolling at the deadline, or done after it;
//! - `unhealthy`: the site's error ratio since the start burned its
//!   availability budget faster than the SLO's first page row allows
//!   (with at least `min_requests`), while rolling or within
//!   `health_soak_secs` after done.
//!
//! Each failed outcome is an alert (site, version, elapsed time, a
//! rollback hint) until `alert_ttl_secs` passed or a newer rollout of the
//! site passed.

pub mod event;

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

pub use event::{DeployEvent, DeployEventKind, EventError};

use crate::alert::state::Condition;
use crate::store::Counts;

/// The alert name of failed deploys.
pub const DEPLOY_ALERT: &str = "SitepulseDeployDeadline";

/// A rollout's start may be at most this old when announced.
pub const MAX_START_AGE_SECS: i64 = 86_400;

/// The longest deadline.
pub const MAX_DEADLINE_SECS: i64 = 7 * 86_400;

/// Rollouts kept in the history.
pub const HISTORY: usize = 1000;

/// Sites with a rollout in progress at most (a webhook client cannot grow
/// memory without bound).
pub const MAX_ACTIVE: usize = 10_000;

/// How deploys are judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeployConfig {
    /// A rollout's deadline when its event names none.
    pub default_deadline_secs: u64,
    /// How long after done the site must stay healthy.
    pub health_soak_secs: u64,
    /// A failed outcome alerts this long (unless a newer rollout passes).
    pub alert_ttl_secs: u64,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            default_deadline_secs: 600,
            health_soak_secs: 120,
            alert_ttl_secs: 3600,
        }
    }
}

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done and healthy before its deadline.
    Passed,
    /// Not done by its deadline (or done after it).
    Slow,
    /// Stopped making progress.
    Stalled,
    /// The site's errors burned the budget too fast.
    Unhealthy,
    /// A newer rollout of the site started before this one ended.
    Superseded,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Slow => "slow",
            Outcome::Stalled => "stalled",
            Outcome::Unhealthy => "unhealthy",
            Outcome::Superseded => "superseded",
        }
    }
}

/// One rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// The site.
    pub site: String,
    /// What is rolled out (image tag, git revision, Deployment revision).
    pub version: String,
    /// Where the start came from (`webhook:<who>`, `kubernetes`).
    pub source: String,
    /// Observed start (Unix seconds).
    pub started_at: i64,
    /// Started + its deadline.
    pub deadline_at: i64,
    /// When it was done.
    pub done_at: Option<i64>,
    /// Why it stalled, if it did.
    pub stalled: Option<String>,
    /// Its outcome, once decided.
    pub outcome: Option<Outcome>,
    /// When the outcome was decided.
    pub decided_at: Option<i64>,
    /// Requests and errors since the start, at the last look.
    pub requests: u64,
    /// Errors among them.
    pub errors: u64,
    /// The error ratio the site may not exceed.
    pub max_error_ratio: Option<f64>,
    /// How to roll back (`kubectl rollout undo ...`), when known.
    pub rollback_hint: String,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployStats {
    /// Rollouts decided, by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Deadlines missed (slow or stalled).
    pub deadline_misses: u64,
    /// Done rollouts' durations, seconds: count per [`DURATION_BUCKETS_SECS`]
    /// bound (not cumulative; the last is +Inf).
    pub duration_buckets: Vec<u64>,
    /// Their sum.
    pub duration_sum_secs: f64,
}

/// Bounds of the deploy duration histogram.
pub const DURATION_BUCKETS_SECS: [f64; 9] = [
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// A site's requests since a time and the error ratio it may not
/// exceed (see [`crate::engine::SloEngine::health_since`]).
pub type Health<'a> = dyn FnMut(&str, i64) -> Option<(Counts, f64)> + 'a;

/// Every rollout in progress and the recent ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployTracker {
    active: BTreeMap<String, Rollout>,
    history: VecDeque<Rollout>,
    /// Counters.
    pub stats: DeployStats,
}

impl DeployTracker {
    /// Applies an event at `now`.
    ///
    /// # Errors
    /// A `finished`/`failed`/`stalled` for a site with no rollout in
    /// progress, or for another version than the one rolling; too many
    /// rollouts in progress.
    pub fn apply(
        &mut self,
        ev: DeployEvent,
        cfg: &DeployConfig,
        now: i64,
    ) -> Result<(), EventError> {
        match ev.kind {
            DeployEventKind::Started { deadline_secs } => {
                if let Some(old) = self.active.remove(&ev.site) {
                    if old.version == ev.version {
                        // The same rollout announced twice (a retried
                        // webhook, a relisted watch): keep the first start.
                        self.active.insert(ev.site, old);
                        return Ok(());
                    }
                    self.finish(old, Outcome::Superseded, now);
                }
                if self.active.len() >= MAX_ACTIVE {
                    return Err(EventError::TooMany(MAX_ACTIVE));
                }
                let started = ev.at.unwrap_or(now);
                if started < now - MAX_START_AGE_SECS || started > now + 300 {
                    return Err(EventError::Invalid {
                        field: "started_at",
                        message: format!(
                            "{started}: within the last {} h, and at most 5 minutes ahead of this clock ({now})",
                            MAX_START_AGE_SECS / 3600
                        ),
                    });
                }
                let deadline = deadline_secs
                    .unwrap_or(cfg.default_deadline_secs)
                    .min(MAX_DEADLINE_SECS as u64) as i64;
                self.active.insert(
                    ev.site.clone(),
                    Rollout {
                        site: ev.site,
                        version: ev.version,
                        source: ev.source,
                        started_at: started,
                        deadline_at: started + deadline,
                        done_at: None,
                        stalled: None,
                        outcome: None,
                        decided_at: None,
                        requests: 0,
                        errors: 0,
                        max_error_ratio: None,
                        rollback_hint: ev.rollback_hint.unwrap_or_default(),
                    },
                );
                Ok(())
            }
            DeployEventKind::Finished | DeployEventKind::Failed { .. } => {
                let r = self
                    .active
                    .get_mut(&ev.site)
                    .ok_or_else(|| EventError::NoRollout(ev.site.clone()))?;
                if r.version != ev.version {
                    return Err(EventError::OtherVersion {
                        site: ev.site,
                        rolling: r.version.clone(),
                        got: ev.version,
                    });
                }
                match ev.kind {
                    DeployEventKind::Failed { reason } => {
                        r.stalled.get_or_insert(reason);
                    }
                    _ => {
                        r.done_at.get_or_insert(ev.at.unwrap_or(now));
                    }
                }
                Ok(())
            }
        }
    }

    fn finish(&mut self, mut r: Rollout, outcome: Outcome, now: i64) {
        if r.outcome.is_none() {
            r.outcome = Some(outcome);
            r.decided_at = Some(now);
            self.count(&r);
        }
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(r);
    }

    fn count(&mut self, r: &Rollout) {
        let Some(o) = r.outcome else {
            return;
        };
        *self
            .stats
            .outcomes
            .entry(o.as_str().to_owned())
            .or_default() += 1;
        if matches!(o, Outcome::Slow | Outcome::Stalled) {
            self.stats.deadline_misses += 1;
        }
        if let Some(done) = r.done_at {
            let d = (done - r.started_at).max(0) as f64;
            if self.stats.duration_buckets.len() != DURATION_BUCKETS_SECS.len() + 1 {
                self.stats.duration_buckets = vec![0; DURATION_BUCKETS_SECS.len() + 1];
            }
            let i = DURATION_BUCKETS_SECS
                .iter()
                .position(|&b| d <= b)
                .unwrap_or(DURATION_BUCKETS_SECS.len());
            self.stats.duration_buckets[i] += 1;
            self.stats.duration_sum_secs += d;
        }
    }

    /// Decides what can be decided at `now`. `health(site, since)` gives
    /// the site's requests and errors since `since` and the error ratio it
    /// may not exceed; verdicts on health need `min_requests`.
    pub fn evaluate(
        &mut self,
        cfg: &DeployConfig,
        now: i64,
        min_requests: u64,
        health: &mut Health<'_>,
    ) {
        let mut done = Vec::new();
        for (site, r) in &mut self.active {
            if let Some((c, max)) = health(site, r.started_at) {
                r.requests = c.total;
                r.errors = c.bad;
                r.max_error_ratio = Some(max);
                let unhealthy = c.total >= min_requests && c.bad as f64 > max * c.total as f64;
                if unhealthy {
                    r.outcome.get_or_insert(Outcome::Unhealthy);
                }
            }
            if r.outcome.is_none() && r.stalled.is_some() {
                r.outcome = Some(Outcome::Stalled);
            }
            if r.outcome.is_none()
                && now >= r.deadline_at
                && r.done_at.is_none_or(|d| d > r.deadline_at)
            {
                r.outcome = Some(Outcome::Slow);
            }
            if r.outcome.is_some() && r.decided_at.is_none() {
                r.decided_at = Some(now);
            }
            // A rollout leaves the active set once done and soaked, or
            // once decided and done / stalled.
            let soaked = r
                .done_at
                .is_some_and(|d| now >= d + cfg.health_soak_secs as i64);
            if soaked || (r.outcome.is_some() && (r.done_at.is_some() || r.stalled.is_some())) {
                if r.outcome.is_none() {
                    r.outcome = Some(Outcome::Passed);
                    r.decided_at = Some(now);
                }
                done.push(site.clone());
            }
        }
        for site in done {
            if let Some(r) = self.active.remove(&site) {
                self.count(&r);
                if self.history.len() >= HISTORY {
                    self.history.pop_front();
                }
                self.history.push_back(r);
            }
        }
    }

    /// Rollouts in progress, by site.
    pub fn active(&self) -> impl Iterator<Item = &Rollout> {
        self.active.values()
    }

    /// Recent rollouts, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &Rollout> {
        self.history.iter()
    }

    /// Alerts for failed outcomes still worth telling.
    pub fn conditions(&self, cfg: &DeployConfig, now: i64) -> Vec<Condition> {
        // The newest decided rollout of each site.
        let mut newest: BTreeMap<&str, &Rollout> = BTreeMap::new();
        for r in self.history.iter().chain(self.active.values()) {
            if r.outcome.is_some() {
                newest.insert(&r.site, r);
            }
        }
        let mut out = Vec::new();
        for r in newest.values() {
            let Some(o) = r.outcome else {
                continue;
            };
            if matches!(o, Outcome::Passed | Outcome::Superseded) {
                continue;
            }
            if r.decided_at
                .is_some_and(|t| now - t >= cfg.alert_ttl_secs as i64)
            {
                continue;
            }
            let elapsed = r.done_at.unwrap_or(now) - r.started_at;
            let mut labels = BTreeMap::new();
            labels.insert("alertname".to_owned(), DEPLOY_ALERT.to_owned());
            labels.insert("site".to_owned(), r.site.clone());
            labels.insert("version".to_owned(), r.version.clone());
            labels.insert("outcome".to_owned(), o.as_str().to_owned());
            labels.insert("severity".to_owned(), "page".to_owned());
            let mut ann = BTreeMap::new();
            let why = match o {
                Outcome::Slow => format!(
                    "not done within its deadline of {} s ({} s elapsed{})",
                    r.deadline_at - r.started_at,
                    elapsed,
                    if r.done_at.is_some() {
                        ", done late"
                    } else {
                        ", still rolling"
                    }
                ),
                Outcome::Stalled => format!(
                    "stalled after {elapsed} s: {}",
                    r.stalled.as_deref().unwrap_or("no progress")
                ),
                Outcome::Unhealthy => format!(
                    "unhealthy {elapsed} s in: {} errors in {} requests ({:.2}%) since the start, more than the {:.2}% its SLO allows",
                    r.errors,
                    r.requests,
                    100.0 * r.errors as f64 / r.requests.max(1) as f64,
                    100.0 * r.max_error_ratio.unwrap_or(0.0)
                ),
                _ => String::new(),
            };
            ann.insert(
                "summary".to_owned(),
                format!("{}: deploy of {} {why}", r.site, r.version),
            );
            ann.insert("elapsed_secs".to_owned(), elapsed.to_string());
            ann.insert(
                "rollback".to_owned(),
                if r.rollback_hint.is_empty() {
                    format!("roll back {} to the version before {}", r.site, r.version)
                } else {
                    r.rollback_hint.clone()
                },
            );
            out.push(Condition {
                labels,
                annotations: ann,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
