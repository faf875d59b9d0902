//! What each site has counted since start: monotonic totals for the
//! Prometheus counters (requests by class and code, bytes, an exact
//! request-duration histogram with its latest exemplar per bucket, PHP
//! errors by level, FPM events by pool).

use crate::record::{Event, trace_id_bytes};
use crate::sketch::TotalSketch;

/// Upper bounds (seconds) of the request-duration histogram every site
/// keeps since start: PHP requests from 5 ms to a minute (FPM's usual
/// `request_terminate_timeout`). The last bucket, `+Inf`, is implied.
pub const LATENCY_BUCKETS_SECS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// The same bounds in µs, compared against each request's duration.
const LATENCY_BUCKETS_US: [u64; 14] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000, 20_000_000, 30_000_000, 60_000_000,
];

/// PHP error kinds counted per site, by the record's [`Event`]: PHP's
/// fatal (fatal, parse and uncaught), warning, notice and deprecation
/// messages, and WordPress database errors, from `debug.log`, PHP's error
/// log or FPM's captured worker output.
pub const PHP_ERROR_LEVELS: [&str; 5] = ["fatal", "warning", "notice", "deprecated", "database"];

#[inline]
pub(super) fn php_error_slot(event: Event) -> Option<usize> {
    match event {
        Event::PhpFatal => Some(0),
        Event::PhpWarning => Some(1),
        Event::PhpNotice => Some(2),
        Event::PhpDeprecated => Some(3),
        Event::DatabaseError => Some(4),
        _ => None,
    }
}

/// Pools counted by name per site; events of further pools count under
/// [`OTHER_POOL`], so a site's label set stays small.
pub const MAX_POOLS_PER_SITE: usize = 8;

/// The pool name that collects pools beyond [`MAX_POOLS_PER_SITE`] and
/// events with no pool.
pub const OTHER_POOL: &str = "_other";

/// FPM events of one pool of one site since start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolTotals {
    /// The pool's name (`pool` of the FPM line), or [`OTHER_POOL`].
    pub name: Box<str>,
    /// `server reached pm.max_children setting` warnings.
    pub max_children_reached: u64,
    /// Slow requests (`executing too slow`).
    pub slow_requests: u64,
}

/// One request of a histogram bucket that carried a trace id: an
/// OpenMetrics exemplar (a trace id, the observed value and its time), so
/// a dashboard can jump from a latency bucket to a trace.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Exemplar {
    /// The W3C trace id's 16 bytes; all zero (an invalid id, never kept)
    /// when the bucket has no exemplar yet.
    pub trace_id: [u8; 16],
    /// The request's duration, seconds (µs precision, as the bucket was
    /// chosen, so the value lies within its bucket).
    pub value_secs: f64,
    /// The record's event time, Unix nanoseconds.
    pub ts_ns: i64,
}

impl Exemplar {
    /// Whether the slot holds an exemplar.
    pub fn is_set(&self) -> bool {
        self.trace_id != [0; 16]
    }
}

/// The latest exemplar per [`LATENCY_BUCKETS_SECS`] bucket (the last entry
/// is `+Inf`); unset slots have no request with a trace id yet.
pub type BucketExemplars = [Exemplar; LATENCY_BUCKETS_SECS.len() + 1];

/// Cumulative per-site totals since start (monotonic, for counters).
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Requests by status class ([`CLASS_NAMES`]).
    pub class: [u64; 5],
    /// Requests per [`TRACKED_CODES`] entry.
    pub codes: [u64; 5],
    /// Response bytes.
    pub bytes: u64,
    /// Summed request durations, µs.
    pub dur_us: u64,
    /// Events per [`EVENT_NAMES`] entry.
    pub events: [u64; 4],
    /// All request latencies.
    pub latency: TotalSketch,
    /// Requests per [`LATENCY_BUCKETS_SECS`] bucket (not cumulative; the
    /// last entry is `+Inf`), exact.
    pub latency_buckets: [u64; LATENCY_BUCKETS_SECS.len() + 1],
    /// Requests with a duration (the histogram's count).
    pub timed_requests: u64,
    /// The latest request with a trace id per bucket; allocated when the
    /// site's first one comes, so sites without traces hold nothing.
    pub exemplars: Option<Box<BucketExemplars>>,
    /// PHP errors per [`PHP_ERROR_LEVELS`] entry.
    pub php_errors: [u64; PHP_ERROR_LEVELS.len()],
    /// FPM events per pool, in order of first appearance.
    pub pools: Vec<PoolTotals>,
}

impl Totals {
    /// All requests.
    pub fn requests(&self) -> u64 {
        self.class.iter().sum()
    }

    /// Counts a request of `us` µs; with a trace id (`trace`, as
    /// [`crate::record::Record::trace_id`] holds it), the request becomes
    /// its bucket's exemplar, stamped `ts_ns`.
    ///
    /// # Performance
    /// No allocation but the site's first exemplar array; a trace id costs
    /// a 32-digit hex decode.
    #[inline]
    pub(super) fn add_duration(&mut self, us: u64, trace: &[u8], ts_ns: i64) {
        self.dur_us = self.dur_us.saturating_add(us);
        self.latency.add_us(us);
        self.timed_requests += 1;
        // Branch-free: how many bounds lie below the duration.
        let b: usize = LATENCY_BUCKETS_US
            .iter()
            .map(|&le| usize::from(le < us))
            .sum();
        self.latency_buckets[b] += 1;
        if !trace.is_empty() {
            self.keep_exemplar(b, us, trace, ts_ns);
        }
    }

    fn keep_exemplar(&mut self, bucket: usize, us: u64, trace: &[u8], ts_ns: i64) {
        let Some(trace_id) = trace_id_bytes(trace) else {
            return;
        };
        let slots = self.exemplars.get_or_insert_with(Box::default);
        if let Some(slot) = slots.get_mut(bucket) {
            *slot = Exemplar {
                trace_id,
                value_secs: us as f64 / 1e6,
                ts_ns,
            };
        }
    }

    /// Counts a max-children or slow-request event for `pool`.
    #[cold]
    pub(super) fn pool_event(&mut self, pool: &[u8], escaped: bool, event: Event) {
        let named = (!pool.is_empty() && !escaped && pool.len() <= 64)
            .then(|| std::str::from_utf8(pool).ok())
            .flatten()
            .filter(|p| *p != OTHER_POOL);
        let i = match named.and_then(|p| self.pools.iter().position(|t| &*t.name == p)) {
            Some(i) => i,
            None => {
                let name = match named {
                    Some(p) if self.pools.len() < MAX_POOLS_PER_SITE => p,
                    _ => OTHER_POOL,
                };
                match self.pools.iter().position(|t| &*t.name == name) {
                    Some(i) => i,
                    None => {
                        self.pools.push(PoolTotals {
                            name: name.into(),
                            ..PoolTotals::default()
                        });
                        self.pools.len() - 1
                    }
                }
            }
        };
        let t = &mut self.pools[i];
        match event {
            Event::MaxChildrenReached => t.max_children_reached += 1,
            _ => t.slow_requests += 1,
        }
    }
}
