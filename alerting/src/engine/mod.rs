//! The SLO engine: per-site counts taken from successive published
//! snapshots (the difference of each site's totals since the last one,
//! placed at the snapshot's time), and the state of every site's SLOs
//! computed from the count store: budget remaining over the period, burn
//! rate per window, and which burn-rate rows alert.
//!
//! It reads `SitesSnapshot`s only, never the pipeline: the collector hands
//! it each snapshot it publishes (or, in a replay, each one the replay
//! takes as event time moves on).

use std::collections::HashMap;

use serde::Serialize;
use sitepulse_pipeline::snapshot::{SiteTotals, SitesSnapshot};

use crate::burn::{BurnTable, Severity, burn_rate};
use crate::spec::{Sli, Slo, SloSet, Span, latency_bounds_ms};
use crate::store::{Counts, Store};

/// The windows every SLO reports a burn rate for (the table's windows are
/// added when it reads others).
pub const REPORTED_WINDOWS: [Span; 7] = [
    Span(300),
    Span(1800),
    Span(3600),
    Span(7200),
    Span(6 * 3600),
    Span(86_400),
    Span(3 * 86_400),
];

/// How often state of sites that went away is dropped.
const PRUNE_EVERY_SECS: i64 = 3600;

/// What a site's totals said last time, to take differences.
#[derive(Debug, Clone, Default)]
struct Last {
    requests: u64,
    class5xx: u64,
    code499: u64,
    timed: u64,
    /// Cumulative latency histogram counts per bound (requests at most).
    le: Vec<u64>,
}

impl Last {
    fn of(t: &SiteTotals) -> Last {
        let mut acc = 0;
        let le = t
            .latency
            .buckets
            .iter()
            .map(|b| {
                acc += b;
                acc
            })
            .collect();
        Last {
            requests: t.requests(),
            class5xx: t.class[4],
            code499: t.codes[0],
            timed: t.latency.count,
            le,
        }
    }

    /// Counts for `sli` from the totals `self` over `prev`.
    fn counts(&self, prev: &Last, sli: Sli) -> Counts {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        match sli {
            Sli::Availability { with_499 } => {
                let mut bad = d(self.class5xx, prev.class5xx);
                if with_499 {
                    bad += d(self.code499, prev.code499);
                }
                Counts {
                    total: d(self.requests, prev.requests),
                    bad,
                }
            }
            Sli::Latency { threshold_ms } => {
                let total = d(self.timed, prev.timed);
                let i = latency_bounds_ms()
                    .iter()
                    .position(|&b| b == threshold_ms)
                    .unwrap_or(usize::MAX);
                let good = match (self.le.get(i), prev.le.get(i)) {
                    (Some(&a), Some(&b)) => d(a, b),
                    (Some(&a), None) => a,
                    _ => 0,
                };
                Counts {
                    total,
                    bad: total.saturating_sub(good),
                }
            }
        }
    }

    /// Whether the counters went back (the pipeline was rebuilt).
    fn went_back(&self, prev: &Last) -> bool {
        self.requests < prev.requests || self.timed < prev.timed
    }
}

/// The burn over one window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowBurn {
    /// `5m`, `1h`, ...
    pub window: Span,
    /// Requests counted.
    pub requests: u64,
    /// Bad ones.
    pub bad: u64,
    /// The error ratio over the budget; `None` without requests.
    pub burn_rate: Option<f64>,
}

/// One row of the alert table for one SLO.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BurnCheck {
    /// `page` or `ticket`.
    pub severity: Severity,
    /// Long window.
    pub long: Span,
    /// Short window.
    pub short: Span,
    /// Burn rate above which it alerts.
    pub factor: f64,
    /// Burn rate over the long window.
    pub long_burn_rate: Option<f64>,
    /// Burn rate over the short window.
    pub short_burn_rate: Option<f64>,
    /// Requests in the long window.
    pub long_requests: u64,
    /// Both windows burn faster than the factor, with enough requests.
    pub alerting: bool,
    /// Both burn faster but the long window has fewer requests than the
    /// table's `min_requests`: held back.
    pub below_min_requests: bool,
}

/// Where one SLO of one site stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloStatus {
    /// The site.
    pub site: String,
    /// The SLO.
    pub slo: Slo,
    /// Requests over the period (what the store holds of it).
    pub period_requests: u64,
    /// Bad ones.
    pub period_bad: u64,
    /// Good requests over the period / requests (`None` without any).
    pub sli: Option<f64>,
    /// Fraction of the period's error budget left: 1 − bad / (budget ×
    /// requests); negative once overspent; 1 without requests.
    pub budget_remaining: f64,
    /// Burn rate per window.
    pub windows: Vec<WindowBurn>,
    /// The alert table's rows.
    pub checks: Vec<BurnCheck>,
}

impl SloStatus {
    /// The most urgent severity alerting, if any.
    pub fn alerting(&self) -> Option<Severity> {
        self.checks
            .iter()
            .filter(|c| c.alerting)
            .map(|c| c.severity)
            .min()
    }
}

/// Per-site SLO state.
#[derive(Debug)]
pub struct SloEngine {
    set: SloSet,
    store: Store,
    last: HashMap<String, Last>,
    /// SLOs per site, resolved once per name.
    slos: HashMap<String, Vec<Slo>>,
    /// Their distinct ways of counting, per site.
    slis: HashMap<String, Vec<Sli>>,
    /// Every window reported (the fixed ones and the table's), sorted.
    spans: Vec<Span>,
    /// The newest snapshot time seen.
    now_unix: Option<i64>,
    /// When state of sites that went away was last dropped.
    pruned_at: i64,
}

impl SloEngine {
    /// An engine over `set`, starting from `store` (loaded from disk) or
    /// empty.
    pub fn new(set: SloSet, store: Option<Store>) -> SloEngine {
        let longest = Self::longest(&set);
        let store = match store {
            Some(s) if s.hours() == Store::new(longest).hours() => s,
            _ => Store::new(longest),
        };
        let set_windows = set.burn.windows_used();
        SloEngine {
            set,
            store,
            last: HashMap::new(),
            slos: HashMap::new(),
            slis: HashMap::new(),
            spans: {
                let mut v: Vec<Span> = REPORTED_WINDOWS.to_vec();
                v.extend(set_windows);
                v.sort();
                v.dedup();
                v
            },
            now_unix: None,
            pruned_at: 0,
        }
    }

    /// The longest span the store must keep: the default period, every
    /// period a site names, and the table's windows.
    pub fn longest(set: &SloSet) -> Span {
        let mut longest = crate::spec::DEFAULT_PERIOD.max(set.longest_period());
        for w in set.burn.windows_used() {
            longest = longest.max(w);
        }
        longest
    }

    /// The spec in use.
    pub fn set(&self) -> &SloSet {
        &self.set
    }

    /// The count store (to save it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The count store, to fill it (a rebuild from Prometheus).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The newest snapshot time seen (Unix seconds).
    pub fn now_unix(&self) -> Option<i64> {
        self.now_unix
    }

    /// A site's SLOs.
    pub fn slos_of(&mut self, site: &str) -> &[Slo] {
        self.cache(site);
        &self.slos[site]
    }

    /// Resolves a site's SLOs once.
    fn cache(&mut self, site: &str) {
        if !self.slos.contains_key(site) {
            let v = self.set.for_site(site);
            let mut slis: Vec<Sli> = v.iter().map(|s| s.sli).collect();
            slis.sort();
            slis.dedup();
            self.slis.insert(site.to_owned(), slis);
            self.slos.insert(site.to_owned(), v);
        }
    }

    /// Takes each site's requests since the previous snapshot into the
    /// store at the snapshot's time (`_unknown`, the records no key named a
    /// site, has no SLO). A snapshot without a time (nothing
    /// read yet) or older than the newest seen is skipped.
    pub fn observe(&mut self, snap: &SitesSnapshot) {
        let Some(now) = snap.now_unix else {
            return;
        };
        if self.now_unix.is_some_and(|t| now < t) {
            return;
        }
        self.now_unix = Some(now);
        if now - self.pruned_at >= PRUNE_EVERY_SECS {
            self.prune(snap, now);
        }
        for site in &snap.sites {
            // Records no key named a site: not anyone's SLO.
            if site.name == sitepulse_pipeline::label::UNKNOWN_SITE {
                continue;
            }
            let cur = Last::of(&site.totals);
            if !self.slis.contains_key(&site.name) {
                self.cache(&site.name);
            }
            let zero = Last::default();
            let prev = match self.last.get(&site.name) {
                Some(p) if !cur.went_back(p) => p,
                // First sight, or counters reset: all of them are new.
                _ => &zero,
            };
            if cur.requests != prev.requests || cur.timed != prev.timed {
                for &sli in &self.slis[&site.name] {
                    self.store.add(&site.name, sli, now, cur.counts(prev, sli));
                }
            }
            match self.last.get_mut(&site.name) {
                Some(l) => *l = cur,
                None => {
                    self.last.insert(site.name.clone(), cur);
                }
            }
        }
    }

    /// Drops buckets that aged out and every trace of a site with no
    /// counts left that the snapshot no longer lists.
    fn prune(&mut self, snap: &SitesSnapshot, now: i64) {
        self.pruned_at = now;
        self.store.prune(now);
        let listed: std::collections::HashSet<&str> =
            snap.sites.iter().map(|s| s.name.as_str()).collect();
        let store = &self.store;
        let keep = |k: &String| listed.contains(k.as_str()) || store.has_site(k);
        self.last.retain(|k, _| keep(k));
        self.slos.retain(|k, _| keep(k));
        self.slis.retain(|k, _| keep(k));
    }

    /// Every site's SLOs as of the newest snapshot, sites in name order.
    pub fn evaluate(&mut self) -> Vec<SloStatus> {
        let Some(now) = self.now_unix else {
            return Vec::new();
        };
        let mut sites: Vec<String> = self.last.keys().cloned().collect();
        sites.extend(self.store.iter().map(|(site, _, _)| site.to_owned()));
        sites.sort();
        sites.dedup();
        for site in &sites {
            self.cache(site);
        }
        let mut out = Vec::with_capacity(sites.len() * 2);
        for site in &sites {
            for slo in &self.slos[site] {
                out.push(self.status(site, slo, now));
            }
        }
        out
    }

    /// One site's SLOs (empty for a site never seen).
    pub fn evaluate_site(&mut self, site: &str) -> Vec<SloStatus> {
        let Some(now) = self.now_unix else {
            return Vec::new();
        };
        if !self.last.contains_key(site) && !self.store.has_site(site) {
            return Vec::new();
        }
        self.cache(site);
        self.slos[site]
            .iter()
            .map(|s| self.status(site, s, now))
            .collect()
    }

    /// A site's requests since `since` (to the minute) by its first
    /// availability SLO, and the error ratio above which they burn its
    /// budget faster than the table's first page row allows: what a
    /// deploy's health is judged by. `None` for a site without an
    /// availability SLO.
    pub fn health_since(&mut self, site: &str, since: i64) -> Option<(Counts, f64)> {
        let now = self.now_unix?;
        // A name nobody's requests carry (a webhook may send any): no
        // verdict, and nothing cached for it.
        if !self.last.contains_key(site) && !self.store.has_site(site) {
            return None;
        }
        let slo = self
            .slos_of(site)
            .iter()
            .find(|s| matches!(s.sli, Sli::Availability { .. }))?
            .clone();
        let factor = self
            .set
            .burn
            .windows
            .iter()
            .find(|w| w.severity == Severity::Page)
            .map_or(1.0, |w| w.factor_for(slo.period));
        // Minutes from the start's minute to now's, both included; at
        // most the longest period kept.
        let minutes = (now.div_euclid(60) - since.div_euclid(60) + 1).clamp(1, 90 * 1440) as u64;
        let span = if minutes * 60 <= crate::burn::MINUTE_WINDOWS_UP_TO_SECS {
            Span(minutes * 60)
        } else {
            Span(minutes.div_ceil(60) * 3600)
        };
        let c = self
            .store
            .series(site, slo.sli)
            .map(|s| s.window(now, span))
            .unwrap_or_default();
        Some((c, factor * slo.budget()))
    }

    /// The table's minimum requests for a verdict.
    pub fn min_requests(&self) -> u64 {
        self.set.burn.min_requests
    }

    fn status(&self, site: &str, slo: &Slo, now: i64) -> SloStatus {
        // Every window this SLO reads (reported, the table's, the
        // period), summed in one pass.
        let mut spans = self.spans.clone();
        spans.push(slo.period);
        let sums = self
            .store
            .series(site, slo.sli)
            .map(|s| s.windows(now, &spans))
            .unwrap_or_else(|| vec![Counts::default(); spans.len()]);
        let window = |w: Span| {
            spans
                .iter()
                .position(|&s| s == w)
                .map(|i| sums[i])
                .unwrap_or_default()
        };
        let budget = slo.budget();
        let period = window(slo.period);
        let windows = self
            .spans
            .iter()
            .map(|&w| {
                let c = window(w);
                WindowBurn {
                    window: w,
                    requests: c.total,
                    bad: c.bad,
                    burn_rate: burn_rate(c.total, c.bad, budget),
                }
            })
            .collect();
        let checks = checks(&self.set.burn, slo, window);
        SloStatus {
            site: site.to_owned(),
            period_requests: period.total,
            period_bad: period.bad,
            sli: (period.total > 0).then(|| 1.0 - period.bad as f64 / period.total as f64),
            budget_remaining: if period.total == 0 {
                1.0
            } else {
                1.0 - period.bad as f64 / (budget * period.total as f64)
            },
            windows,
            checks,
            slo: slo.clone(),
        }
    }
}

fn checks(table: &BurnTable, slo: &Slo, window: impl Fn(Span) -> Counts) -> Vec<BurnCheck> {
    table
        .windows
        .iter()
        .map(|row| {
            let factor = row.factor_for(slo.period);
            let (l, s) = (window(row.long), window(row.short));
            let (lr, sr) = (
                burn_rate(l.total, l.bad, slo.budget()),
                burn_rate(s.total, s.bad, slo.budget()),
            );
            let burning = lr.is_some_and(|r| r > factor) && sr.is_some_and(|r| r > factor);
            let enough = l.total >= table.min_requests;
            BurnCheck {
                severity: row.severity,
                long: row.long,
                short: row.short,
                factor,
                long_burn_rate: lr,
                short_burn_rate: sr,
                long_requests: l.total,
                alerting: burning && enough,
                below_min_requests: burning && !enough,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
