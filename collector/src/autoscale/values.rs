//! A site's autoscaling values, read from the latest snapshots: the
//! pipeline's windows, the FPM scraper's pools and (when enabled) the
//! Kubernetes API's ready pods. Nothing here takes a lock or waits: a
//! thousand polls a second cost ingest nothing.
//!
//! Missing or stale data is an error, never a silent 0: KEDA and the HPA
//! keep their fallback (or the current replica count) on an error, and
//! would scale a busy site down on a wrong 0.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sitepulse_pipeline::snapshot::SiteSnapshot;

use super::query::{Metric, Query, Window};
use crate::fpm::{FpmSnapshot, SiteFpm};
use crate::run::{LiveState, Published};

/// Ready pods per site, from the Kubernetes API (when enabled).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadyPods {
    /// Ready pods per site name (as the site table writes it, or any
    /// spelling with the same canonical form).
    pub by_site: HashMap<String, u32>,
    /// When the counts were last known to be current (the last list or
    /// watch event); `None` until the first list.
    pub synced: Option<SystemTime>,
}

/// How old data may be before it is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Freshness {
    /// The pipeline's snapshot (published every `server.publish_interval_ms`,
    /// 250 ms by default).
    pub max_snapshot_age: Duration,
    /// An FPM pool's last good scrape.
    pub max_fpm_age: Duration,
    /// The Kubernetes API's pod counts.
    pub max_pods_age: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            max_snapshot_age: Duration::from_secs(5),
            max_fpm_age: Duration::from_secs(10),
            max_pods_age: Duration::from_secs(120),
        }
    }
}

/// Why a value cannot be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// No site of that name (in any spelling).
    #[error("unknown site `{0}`")]
    UnknownSite(String),
    /// The collector has not published yet (just started).
    #[error("no data yet: the collector started less than a second ago")]
    NotReady,
    /// The data is older than allowed.
    #[error("{what} is {age_secs:.1} s old (at most {max_secs:.0} s allowed)")]
    Stale {
        /// Which data (`the pipeline's snapshot`, `PHP-FPM status`, …).
        what: &'static str,
        /// Its age.
        age_secs: f64,
        /// The limit.
        max_secs: f64,
    },
    /// The metric cannot be measured for this site.
    #[error("{metric} is unavailable for site `{site}`: {why}")]
    Unavailable {
        /// The metric.
        metric: Metric,
        /// The site.
        site: String,
        /// Why (no FPM target, a Unix-socket pool has no listen queue, …).
        why: String,
    },
}

/// The snapshots one answer reads, loaded once.
#[derive(Debug, Clone)]
pub struct View {
    /// The pipeline's.
    pub published: Arc<Published>,
    /// The FPM scraper's.
    pub fpm: Arc<FpmSnapshot>,
    /// The Kubernetes API's, when enabled.
    pub pods: Option<Arc<ReadyPods>>,
    /// The time of the answer.
    pub now: SystemTime,
    /// The limits.
    pub freshness: Freshness,
}

/// FPM numbers of a site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FpmValues {
    /// Requests waiting for a worker; `None` when every pool listens on a
    /// Unix socket (FPM cannot measure it there).
    pub listen_queue: Option<u64>,
    /// Busy workers.
    pub active_processes: u64,
    /// Idle workers.
    pub idle_processes: u64,
    /// All workers.
    pub total_processes: u64,
    /// `active / total`.
    pub busy_ratio: f64,
    /// Pools whose numbers are current (scraped, or saturated).
    pub pools_up: usize,
    /// Of `pools_up`, those saturated: connected, no answer in time,
    /// every worker busy (`PoolStatus::saturated`).
    pub pools_saturated: usize,
    /// Pools whose last scrape failed.
    pub pools_down: usize,
    /// Seconds since the oldest good scrape.
    pub age_secs: f64,
}

/// Every value of one site over one window: the metrics-api answer, and
/// what each single-value query picks from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteValues {
    /// The site's name as the site table writes it.
    pub site: String,
    /// `1m` or `5m`.
    pub window: &'static str,
    /// Seconds the window covers (less than its length right after a
    /// start).
    pub covered_secs: f64,
    /// The windows' end, Unix seconds.
    pub at_unix: i64,
    /// Seconds since the snapshot was taken.
    pub age_secs: f64,
    /// Requests in the window.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Pods serving the site; `None` when no source knows, or the
    /// Kubernetes API's list is stale (`pods_error` says which).
    pub pods: Option<u32>,
    /// Where `pods` comes from: `kubernetes` (ready pods) or `logs`
    /// (distinct upstream pods in the last minute).
    pub pods_source: Option<&'static str>,
    /// Why `pods` is `None`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_message")]
    pub pods_error: Option<ValueError>,
    /// `rps / pods`.
    pub rps_per_pod: Option<f64>,
    /// Requests in flight (Little's law); `None` when the window has
    /// requests but none of their log lines gives a duration (Common Log
    /// Format without one).
    pub inflight: Option<f64>,
    /// 95th percentile duration, ms; `None` for a window without a
    /// request that has a duration.
    pub p95_ms: Option<f64>,
    /// Fraction of requests answered 5xx.
    pub error_ratio: f64,
    /// `server reached pm.max_children` per second (FPM's log).
    pub fpm_max_children_rate: f64,
    /// Slow requests per second (FPM's log).
    pub fpm_slow_rate: f64,
    /// FPM's status pages, when the site has targets and at least one
    /// pool's numbers are current; `None` otherwise (`fpm_error` says
    /// why), so an autoscaler reading `fpm.busy_ratio` gets an error and
    /// keeps its fallback rather than reading a 0.
    pub fpm: Option<FpmValues>,
    /// Why `fpm` is `None`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_message")]
    pub fpm_error: Option<ValueError>,
}

/// An error as its message, in the JSON.
fn as_message<S: serde::Serializer>(e: &Option<ValueError>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.collect_str(e),
        None => s.serialize_none(),
    }
}

fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

impl View {
    /// Loads the latest snapshots of a running collector.
    pub fn load(live: &LiveState, freshness: Freshness) -> View {
        View {
            published: live.published(),
            fpm: live.fpm(),
            pods: live.ready_pods(),
            now: SystemTime::now(),
            freshness,
        }
    }

    /// The site called `name` (any spelling), from a fresh snapshot.
    ///
    /// # Errors
    /// [`ValueError::NotReady`], [`ValueError::Stale`],
    /// [`ValueError::UnknownSite`].
    pub fn site(&self, name: &str) -> Result<&SiteSnapshot, ValueError> {
        let Some(taken) = self.published.taken else {
            return Err(ValueError::NotReady);
        };
        let a = age(self.now, taken);
        if a > self.freshness.max_snapshot_age {
            return Err(ValueError::Stale {
                what: "the pipeline's snapshot",
                age_secs: a.as_secs_f64(),
                max_secs: self.freshness.max_snapshot_age.as_secs_f64(),
            });
        }
        self.published
            .sites
            .site(name)
            .ok_or_else(|| ValueError::UnknownSite(name.to_owned()))
    }

    /// The FPM pools of `site`, summed.
    fn site_fpm(&self, site: &SiteSnapshot) -> Option<SiteFpm> {
        let namer = &self.published.sites.namer;
        self.fpm
            .site(|name| name == site.name || namer.canonical(name).is_some_and(|c| c == site.name))
    }

    /// Ready pods of `site` from the Kubernetes API, when enabled and
    /// current; `Err` says why a stale list is refused.
    fn k8s_pods(&self, site: &SiteSnapshot) -> Result<Option<u32>, ValueError> {
        let Some(pods) = &self.pods else {
            return Ok(None);
        };
        let Some(synced) = pods.synced else {
            return Ok(None);
        };
        let a = age(self.now, synced);
        if a > self.freshness.max_pods_age {
            return Err(ValueError::Stale {
                what: "the Kubernetes API's pod list",
                age_secs: a.as_secs_f64(),
                max_secs: self.freshness.max_pods_age.as_secs_f64(),
            });
        }
        let namer = &self.published.sites.namer;
        Ok(pods
            .by_site
            .iter()
            .find(|(name, _)| {
                **name == site.name || namer.canonical(name).is_some_and(|c| c == site.name)
            })
            .map(|(_, &n)| n))
    }

    /// The FPM numbers of `site` when current; `Err` says why not
    /// (`Ok(None)`: no target at all).
    fn fpm_values(&self, site: &SiteSnapshot) -> Result<Option<FpmValues>, ValueError> {
        let Some(f) = self.site_fpm(site) else {
            return Ok(None);
        };
        if f.pools_up == 0 {
            return Err(ValueError::Unavailable {
                metric: Metric::FpmBusyRatio,
                site: site.name.clone(),
                why: format!(
                    "every PHP-FPM status scrape of this site fails ({} pools down)",
                    f.pools_down
                ),
            });
        }
        let age_secs = f
            .oldest_scrape
            .map_or(f64::INFINITY, |t| age(self.now, t).as_secs_f64());
        let max = self.freshness.max_fpm_age.as_secs_f64();
        if age_secs > max {
            return Err(ValueError::Stale {
                what: "PHP-FPM status",
                age_secs,
                max_secs: max,
            });
        }
        Ok(Some(FpmValues {
            listen_queue: f.listen_queue,
            active_processes: f.active_processes,
            idle_processes: f.idle_processes,
            total_processes: f.total_processes,
            busy_ratio: f.busy_ratio(),
            pools_up: f.pools_up,
            pools_saturated: f.pools_saturated,
            pools_down: f.pools_down,
            age_secs,
        }))
    }

    /// Every value of `name` over `window`.
    ///
    /// # Errors
    /// As [`View::site`]. A stale pod list or FPM status only empties
    /// `pods` or `fpm` (with the reason beside it): the other values stay.
    pub fn values(&self, name: &str, window: Window) -> Result<SiteValues, ValueError> {
        let site = self.site(name)?;
        let w = &site.windows[window.index()];
        let rps = w.rps();
        let (pods, pods_source, pods_error) = match self.k8s_pods(site) {
            Ok(Some(n)) => (Some(n), Some("kubernetes"), None),
            Ok(None) if site.pods > 0 => (Some(site.pods), Some("logs"), None),
            Ok(None) => (None, None, None),
            Err(e) => (None, None, Some(e)),
        };
        let (fpm, fpm_error) = match self.fpm_values(site) {
            Ok(f) => (f, None),
            Err(e) => (None, Some(e)),
        };
        let per_sec = |n: u64| {
            if w.covered_secs > 0.0 {
                n as f64 / w.covered_secs
            } else {
                0.0
            }
        };
        let requests = w.requests();
        let p95_ms = w.quantile_ms(0.95);
        // Little's law needs durations: a window whose requests all came
        // without one (Common Log Format) has no in-flight figure, where
        // a window without requests truly has none in flight.
        let inflight = (requests == 0 || p95_ms.is_some()).then(|| w.in_flight());
        Ok(SiteValues {
            site: site.name.clone(),
            window: window.name(),
            covered_secs: w.covered_secs,
            at_unix: self.published.sites.now_unix.unwrap_or(0),
            age_secs: self
                .published
                .taken
                .map_or(0.0, |t| age(self.now, t).as_secs_f64()),
            requests,
            rps,
            pods,
            pods_source,
            pods_error,
            rps_per_pod: pods.filter(|&n| n > 0).map(|n| rps / f64::from(n)),
            inflight,
            p95_ms,
            error_ratio: w.error_ratio(),
            fpm_max_children_rate: per_sec(w.events[0]),
            fpm_slow_rate: per_sec(w.events[1]),
            fpm,
            fpm_error,
        })
    }

    /// One value.
    ///
    /// # Errors
    /// As [`View::values`]; [`ValueError::Unavailable`] for an FPM metric
    /// of a site without (current) FPM status, a queue no pool can
    /// measure, pods no source knows (or a stale pod list), a latency of
    /// a window without durations.
    pub fn value(&self, q: &Query) -> Result<f64, ValueError> {
        let v = self.values(&q.site, q.window)?;
        Self::pick(&v, q.metric)
    }

    /// One metric of values already computed.
    ///
    /// # Errors
    /// As [`View::value`].
    pub fn pick(v: &SiteValues, metric: Metric) -> Result<f64, ValueError> {
        let unavailable = |why: &str| ValueError::Unavailable {
            metric,
            site: v.site.clone(),
            why: why.to_owned(),
        };
        // A stored error names the metric it was found for: answer with
        // the one asked.
        let refuse = |e: &ValueError| match e {
            ValueError::Unavailable { why, .. } => unavailable(why),
            e => e.clone(),
        };
        let fpm = || -> Result<&FpmValues, ValueError> {
            match (&v.fpm, &v.fpm_error) {
                (Some(f), _) => Ok(f),
                (None, Some(e)) => Err(refuse(e)),
                (None, None) => Err(unavailable(
                    "no PHP-FPM status target for this site (fpm_status.targets or pod annotations)",
                )),
            }
        };
        Ok(match metric {
            Metric::Rps => v.rps,
            Metric::RpsPerPod => match (v.rps_per_pod, &v.pods_error) {
                (Some(r), _) => r,
                (None, Some(e)) => return Err(refuse(e)),
                (None, None) => return Err(unavailable(
                    "no pod count: no upstream pod in the last minute's logs and no Kubernetes API",
                )),
            },
            Metric::Inflight => v.inflight.ok_or_else(|| {
                unavailable("the window's log lines carry no request duration")
            })?,
            Metric::P95Ms => v.p95_ms.ok_or_else(|| {
                unavailable("no request with a duration in the window")
            })?,
            Metric::ErrorRatio => v.error_ratio,
            Metric::FpmMaxChildrenRate => v.fpm_max_children_rate,
            Metric::FpmSlowRate => v.fpm_slow_rate,
            Metric::FpmQueue => fpm()?.listen_queue.ok_or_else(|| {
                unavailable("its pools listen on Unix sockets, where FPM cannot measure the listen queue; scale on fpm_busy_ratio or fpm_max_children_rate")
            })? as f64,
            Metric::FpmBusyRatio => fpm()?.busy_ratio,
            Metric::FpmActive => fpm()?.active_processes as f64,
        })
    }
}
