//! PHP-FPM's own view of its pools: the status page (`pm.status_path`,
//! `?json&full` off) scraped over FastCGI straight from the pool's listen
//! socket, or over HTTP through an nginx sidecar. The logs tell how many
//! requests a site gets and how long they take; only FPM can tell how many
//! are waiting for a worker (`listen queue`) and how many workers are busy,
//! which is what an autoscaler of PHP sites needs.
//!
//! The scraper publishes an immutable [`FpmSnapshot`] after each round;
//! readers (the autoscaler APIs, `/metrics`) load it without a lock.

pub mod fastcgi;
pub mod scrape;
pub mod status;

use std::time::SystemTime;

pub use scrape::{FpmConfig, FpmConfigError, FpmTask, start};

/// Where one pool's status page is scraped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FpmTarget {
    /// The site the pool serves (any spelling the site table accepts).
    pub site: String,
    /// `tcp://host:port` or `unix:///path.sock` (FastCGI straight to the
    /// pool), or `http://host:port/path` (through a web server that
    /// passes the status path to FPM, such as an nginx sidecar).
    pub address: String,
    /// The pool's `pm.status_path`, for FastCGI addresses.
    #[serde(default = "default_status_path")]
    pub status_path: String,
}

fn default_status_path() -> String {
    "/status".into()
}

/// One pool's status as of its last scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolStatus {
    /// The site the target belongs to (as configured or discovered).
    pub site: String,
    /// The pool's name as FPM reports it (`pool` of the status page), or
    /// the target's address before the first good scrape.
    pub pool: String,
    /// Where it is scraped (`tcp://…`, `unix://…`, `http://…`), for the
    /// `scrape_uri` label.
    pub address: String,
    /// The last scrape succeeded.
    pub up: bool,
    /// The last scrape connected (the listen socket accepted it) but got
    /// no answer in time. FPM answers its status page from one of the
    /// pool's own workers, so this is how a pool with every worker busy
    /// looks, exactly when an autoscaler needs it. On a Unix socket a
    /// listen backlog that stayed full (connect answered `EAGAIN` until
    /// the time ran out) is saturation too: requests are queued for the
    /// busy workers faster than they take them. A refused or unreachable
    /// pool is not saturated. `up` stays false (and `error`
    /// says why) for `phpfpm_up`, but `status` holds the last good numbers
    /// with every worker active (`active = total`, `idle = 0`; the listen
    /// queue as last seen), and [`FpmSnapshot::site`] counts the pool as
    /// up with them.
    pub saturated: bool,
    /// Why the last scrape failed.
    pub error: Option<String>,
    /// When the last scrape (good or not) ended.
    pub scraped: Option<SystemTime>,
    /// The last good scrape's numbers (changed as `saturated` says while
    /// the pool is saturated).
    pub status: Option<FpmStatus>,
    /// Scrapes that failed since start.
    pub scrape_failures: u64,
}

/// The fields of FPM's status page (`fpm_status.c`), the ones
/// php-fpm_exporter exports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FpmStatus {
    /// `start since`: seconds since the pool started.
    pub start_since_secs: u64,
    /// `accepted conn`.
    pub accepted_conn: u64,
    /// `listen queue`: requests waiting for a worker. `None` when the pool
    /// listens on a Unix socket, where FPM cannot measure it (it reads
    /// `TCP_INFO` of the listening socket) and reports 0: scraped on a
    /// `unix://` address, or the page says `listen queue len` 0 (see
    /// [`status`]). Rely on the busy ratio and `max children reached` then.
    pub listen_queue: Option<u64>,
    /// `max listen queue`.
    pub max_listen_queue: Option<u64>,
    /// `listen queue len`: the socket's backlog size.
    pub listen_queue_len: Option<u64>,
    /// `idle processes`.
    pub idle_processes: u64,
    /// `active processes`.
    pub active_processes: u64,
    /// `total processes`.
    pub total_processes: u64,
    /// `max active processes`.
    pub max_active_processes: u64,
    /// `max children reached`: times the pool hit `pm.max_children`.
    pub max_children_reached: u64,
    /// `slow requests`.
    pub slow_requests: u64,
}

/// Every pool's latest status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FpmSnapshot {
    /// One entry per target.
    pub pools: Vec<PoolStatus>,
}

/// A site's pools summed: what the autoscaler APIs read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteFpm {
    /// Requests waiting for a worker over the pools that can measure it;
    /// `None` when none can (every pool on a Unix socket).
    pub listen_queue: Option<u64>,
    /// Busy workers, less the one each answered scrape occupied (see
    /// [`FpmSnapshot::site`]).
    pub active_processes: u64,
    /// Idle workers, with the scrape's own worker counted idle.
    pub idle_processes: u64,
    /// All workers.
    pub total_processes: u64,
    /// `max children reached`, summed (a counter).
    pub max_children_reached: u64,
    /// `slow requests`, summed (a counter).
    pub slow_requests: u64,
    /// Pools whose numbers are current: the last scrape succeeded, or the
    /// pool is saturated.
    pub pools_up: usize,
    /// Of `pools_up`, the saturated ones (every worker busy, the status
    /// page unanswered in time).
    pub pools_saturated: usize,
    /// Pools whose last scrape failed otherwise (refused, unreachable, an
    /// error answer), or saturated before any good scrape.
    pub pools_down: usize,
    /// The oldest last scrape among the pools that are up (for a
    /// saturated pool, the scrape that timed out: it is what tells that
    /// every worker is busy now).
    pub oldest_scrape: Option<SystemTime>,
}

impl SiteFpm {
    /// Busy workers / all workers (0 without workers).
    pub fn busy_ratio(&self) -> f64 {
        match self.total_processes {
            0 => 0.0,
            n => self.active_processes as f64 / n as f64,
        }
    }
}

impl FpmSnapshot {
    /// The pools whose site `is_site` accepts, summed; `None` when there
    /// are none.
    ///
    /// Two corrections make the sum mean what an autoscaler asks ("how
    /// busy are the workers with the site's requests?"):
    /// - **Saturated pools count as up**, with their last numbers and
    ///   every worker active (see [`PoolStatus::saturated`]): a busy ratio
    ///   of 1, not an error, when the pool is too busy to answer.
    /// - **The scrape's own worker is not load.** FPM serves the status
    ///   page from a worker of the pool, which then counts itself active:
    ///   an idle two-worker pool reports one active. For each pool that
    ///   answered, one active worker is counted idle instead (never below
    ///   0) — except when its listen queue shows requests waiting: then
    ///   the worker the scrape frees takes the next of them at once, so
    ///   every worker it reported is busy with requests anyway.
    pub fn site(&self, is_site: impl Fn(&str) -> bool) -> Option<SiteFpm> {
        let mut out = SiteFpm::default();
        let mut any = false;
        for p in self.pools.iter().filter(|p| is_site(&p.site)) {
            any = true;
            let Some(s) = p.status.as_ref().filter(|_| p.up || p.saturated) else {
                out.pools_down += 1;
                continue;
            };
            out.pools_up += 1;
            if let Some(q) = s.listen_queue {
                *out.listen_queue.get_or_insert(0) += q;
            }
            let (mut active, mut idle) = (s.active_processes, s.idle_processes);
            if p.up && s.listen_queue.is_none_or(|q| q == 0) && active > 0 {
                active -= 1;
                idle += 1;
            }
            out.pools_saturated += usize::from(!p.up);
            out.active_processes += active;
            out.idle_processes += idle;
            out.total_processes += s.total_processes;
            out.max_children_reached += s.max_children_reached;
            out.slow_requests += s.slow_requests;
            if let Some(t) = p.scraped {
                out.oldest_scrape = Some(out.oldest_scrape.map_or(t, |o| o.min(t)));
            }
        }
        any.then_some(out)
    }
}

#[cfg(test)]
mod tests;
