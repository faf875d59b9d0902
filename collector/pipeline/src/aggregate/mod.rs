//! Per-site aggregation keyed by each line's own timestamp. Every site has
//! two rings: one-second counter buckets for the last `fine_secs` (the 1m
//! and 5m windows, exact to the second), and `slot_secs`-wide slots over
//! `retention_secs` holding counters, FPM/PHP event counts and a latency
//! sketch (the 1h window, and latency for every window). Windows are read
//! from the rings at query time; cumulative totals feed counters.
//!
//! Why not one-second state for the whole hour: at 40 bytes per
//! site-second that is 69 MiB for 500 sites before any latency data, and a
//! 1h window gains nothing from 1-second edges (10 s is 0.3% of the
//! window). With the defaults a site costs 12 KB (fine ring of 40-byte
//! seconds) + 34.6 KB (360 slots of 96 bytes) plus its sketch entries (one
//! word per distinct latency bucket per slot, and a cumulative sketch that
//! is sparse for quiet sites): 37.6 MiB when all 500 sites are busy every
//! second for an hour (budget 64 MiB, tests/tests/alloc.rs; 31.6 MiB with
//! the 16-bit, eagerly cleared buckets this replaced).
//!
//! Counters cannot wrap or stop where traffic can reach: a one-second
//! bucket and a slot count requests, tracked codes and events in 32 bits
//! (4 billion per second for one site), durations and a slot's bytes in 64,
//! a second's bytes in 32 (4 GiB a second for one site, past any node's
//! network). Only an absurd field value saturates, and every saturation is
//! counted in [`AggStats::saturated`]. Cumulative totals are 64-bit.
//!
//! A window's rate divides by the time it actually covers
//! ([`WindowStats::covered_secs`]), not by its length: right after a start
//! (or the first line of a replay) a 1m window covers a few seconds, and
//! dividing by 60 would show a steady load as a climbing one.

use serde::Deserialize;

use crate::label::SiteId;

mod pods;
mod totals;

use crate::record::{Event, LogFormat, Record};
use crate::sketch::{DenseSketch, SparseSketch};
use totals::php_error_slot;
pub use totals::{
    BucketExemplars, Exemplar, LATENCY_BUCKETS_SECS, MAX_POOLS_PER_SITE, OTHER_POOL,
    PHP_ERROR_LEVELS, PoolTotals, Totals,
};

/// Aggregation settings (`aggregate:` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateConfig {
    /// How far back state is kept; the longest window. A multiple of
    /// `slot_secs`.
    pub retention_secs: u32,
    /// Width of the coarse slots (counters, events, latency sketches).
    pub slot_secs: u32,
    /// How far back one-second counters are kept (windows up to this long
    /// are exact to the second).
    pub fine_secs: u32,
    /// Access-log formats whose lines count as requests. A node that tails
    /// both Traefik and the nginx sidecars (or FPM access logs) sees each
    /// request once per tier; list only the outermost tier there, e.g.
    /// `[traefik_clf, traefik_json]`. Lines of other formats still count
    /// their events.
    pub request_sources: Vec<LogFormat>,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        Self {
            retention_secs: 3600,
            slot_secs: 10,
            fine_secs: 300,
            request_sources: LogFormat::ALL
                .into_iter()
                .filter(|s| s.is_access())
                .collect(),
        }
    }
}

/// A config value that cannot be used; `field` is its name under `aggregate.`.
#[derive(Debug, thiserror::Error)]
#[error("aggregate.{field}: {message}")]
pub struct AggregateConfigError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// HTTP status codes counted individually.
pub const TRACKED_CODES: [u16; 5] = [499, 500, 502, 503, 504];

/// Status classes: index 0 holds 1xx and unknown codes, 1..=4 hold 2xx..5xx.
pub const CLASS_NAMES: [&str; 5] = ["other", "2xx", "3xx", "4xx", "5xx"];

/// FPM / PHP events counted per site.
pub const EVENT_NAMES: [&str; 4] = [
    "fpm_max_children_reached",
    "fpm_slow_requests",
    "fpm_child_terminations",
    "php_fatals",
];

#[inline]
fn class_of(status: u16) -> usize {
    match status {
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 0,
    }
}

#[inline]
fn code_slot(status: u16) -> Option<usize> {
    match status {
        499 => Some(0),
        500 => Some(1),
        502 => Some(2),
        503 => Some(3),
        504 => Some(4),
        _ => None,
    }
}

#[inline]
fn event_slot(event: Event) -> Option<usize> {
    match event {
        Event::MaxChildrenReached => Some(0),
        Event::SlowRequest => Some(1),
        Event::ChildTerminated => Some(2),
        Event::PhpFatal => Some(3),
        _ => None,
    }
}

/// One second of one site (fine ring). It holds the counts of second
/// `sec` only: a bucket tagged with another second is stale, read as empty
/// and reset when written, so moving a quiet site to a new second costs
/// nothing (clearing the gap eagerly cost a 10 KB memset per line on a farm
/// of quiet sites). Tracked codes are counted per slot only. `bytes` is
/// 32-bit: 4 GiB for one site in one second is past any node's network (a
/// saturation would be counted).
#[derive(Debug, Clone, Copy)]
struct SecBucket {
    sec: i64,
    class: [u32; 5],
    bytes: u32,
    dur_us: u64,
}

impl Default for SecBucket {
    fn default() -> Self {
        SecBucket {
            sec: i64::MIN,
            class: [0; 5],
            bytes: 0,
            dur_us: 0,
        }
    }
}

/// One slot of one site (coarse ring), tagged with its slot number
/// (`block`) as a second's bucket is with its second.
#[derive(Debug, Clone)]
struct Slot {
    block: i64,
    class: [u32; 5],
    codes: [u32; 5],
    events: [u32; 4],
    bytes: u64,
    dur_us: u64,
    sketch: SparseSketch,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            block: i64::MIN,
            class: [0; 5],
            codes: [0; 5],
            events: [0; 4],
            bytes: 0,
            dur_us: 0,
            sketch: SparseSketch::default(),
        }
    }
}

impl Slot {
    /// Makes the slot hold `block`, emptying it if it held another.
    #[inline]
    fn claim(&mut self, block: i64) {
        if self.block != block {
            self.block = block;
            self.class = [0; 5];
            self.codes = [0; 5];
            self.events = [0; 4];
            self.bytes = 0;
            self.dur_us = 0;
            self.sketch.clear();
        }
    }
}

/// Where one second lands: its slot number (`sec / slot_secs`) and its
/// indices in the slot ring and the one-second ring.
#[derive(Debug, Clone, Copy, Default)]
struct RingPos {
    block: i64,
    slot: usize,
    fine: usize,
}

#[derive(Debug, Clone)]
struct SiteSeries {
    /// Latest second written or cleared; `None` before the first record.
    head: Option<i64>,
    /// `head`'s slot number and ring indices, so records of the current
    /// second (most of a busy site's) cost no division.
    head_at: RingPos,
    secs: Box<[SecBucket]>,
    slots: Box<[Slot]>,
    totals: Totals,
    /// Traefik upstream addresses of the last minute.
    pods: pods::PodSet,
}

/// A rolling window's view of one site.
#[derive(Debug, Clone, Default)]
pub struct WindowStats {
    /// Window length in seconds.
    pub secs: u32,
    /// Seconds of the window that lie after the data began (the start of
    /// `run`, or the first line of a replay): `secs` once the window is
    /// full, less before. Rates divide by it.
    pub covered_secs: f64,
    /// Requests by status class.
    pub class: [u64; 5],
    /// Requests per [`TRACKED_CODES`] entry (slot granularity).
    pub codes: [u64; 5],
    /// Response bytes.
    pub bytes: u64,
    /// Summed request durations, µs.
    pub dur_us: u64,
    /// Events per [`EVENT_NAMES`] entry (slot granularity).
    pub events: [u64; 4],
    /// Latencies in the window (slot granularity at the window's start).
    pub latency: DenseSketch,
}

impl WindowStats {
    /// All requests.
    pub fn requests(&self) -> u64 {
        self.class.iter().sum()
    }

    /// Requests per second over the time the window covers (0 when it
    /// covers none).
    pub fn rps(&self) -> f64 {
        per_sec(self.requests() as f64, self.covered_secs)
    }

    /// Fraction of requests with a 5xx status (0 when idle).
    pub fn error_ratio(&self) -> f64 {
        let n = self.requests();
        if n == 0 {
            0.0
        } else {
            self.class[4] as f64 / n as f64
        }
    }

    /// Mean requests in flight by Little's law: summed durations / the
    /// time covered.
    pub fn in_flight(&self) -> f64 {
        per_sec(self.dur_us as f64 / 1e6, self.covered_secs)
    }

    /// Latency quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.latency.quantile_us(q).map(|us| us / 1000.0)
    }
}

/// `x` per second of `secs`; 0 when `secs` is not positive.
pub fn per_sec(x: f64, secs: f64) -> f64 {
    if secs > 0.0 { x / secs } else { 0.0 }
}

/// Aggregator counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggStats {
    /// Records aggregated.
    pub records: u64,
    /// Records older than the retention (dropped from windows, kept in totals).
    pub late: u64,
    /// Records dated beyond the future limit (a bad clock or a bogus date:
    /// dropped from windows so they cannot move `now`, kept in totals).
    pub future: u64,
    /// Window counters that hit their ceiling (32-bit counts, 64-bit bytes
    /// and durations): only absurd field values get there.
    pub saturated: u64,
}

/// Per-site state for all sites. A plain struct, driven by one owner.
#[derive(Debug, Clone)]
pub struct Aggregator {
    retention: i64,
    slot_secs: i64,
    fine: i64,
    sites: Vec<SiteSeries>,
    /// Per [`LogFormat`] (by discriminant): whether its lines are requests.
    requests_from: [bool; LogFormat::ALL.len()],
    /// Records after this second are [`AggStats::future`].
    future_limit: i64,
    /// Latest event second seen (the windows' end).
    now: Option<i64>,
    /// `now`'s slot number.
    now_block: i64,
    first: Option<i64>,
    /// When live data began (Unix seconds, fractional): see
    /// [`mark_start`](Self::mark_start).
    start: Option<f64>,
    /// The wall clock of the latest tick (fractional), when it lies in
    /// the second `now`: how much of that second has passed.
    clock: Option<f64>,
    stats: AggStats,
}

impl Aggregator {
    /// Validates the config and builds an empty aggregator.
    ///
    /// # Errors
    /// [`AggregateConfigError`] when the sizes are out of range.
    pub fn new(cfg: &AggregateConfig) -> Result<Self, AggregateConfigError> {
        let (r, s, f) = (cfg.retention_secs, cfg.slot_secs, cfg.fine_secs);
        let err = |field, message: String| Err(AggregateConfigError { field, message });
        if !(60..=86_400).contains(&r) {
            return err("retention_secs", format!("must be 60..=86400, got {r}"));
        }
        if !(1..=60).contains(&s) || r % s != 0 {
            return err(
                "slot_secs",
                format!("must be 1..=60 and divide retention_secs ({r}), got {s}"),
            );
        }
        if !(60..=r).contains(&f) {
            return err(
                "fine_secs",
                format!("must be 60..=retention_secs ({r}), got {f}"),
            );
        }
        let mut requests_from = [false; LogFormat::ALL.len()];
        for src in &cfg.request_sources {
            if !src.is_access() {
                return err(
                    "request_sources",
                    format!("{} is not an access log format", src.name()),
                );
            }
            requests_from[*src as usize] = true;
        }
        Ok(Self {
            retention: i64::from(r),
            slot_secs: i64::from(s),
            fine: i64::from(f),
            requests_from,
            future_limit: i64::MAX,
            now_block: 0,
            sites: Vec::new(),
            now: None,
            first: None,
            start: None,
            clock: None,
            stats: AggStats::default(),
        })
    }

    fn new_series(&self) -> SiteSeries {
        SiteSeries {
            head: None,
            head_at: RingPos::default(),
            secs: vec![SecBucket::default(); self.fine as usize].into_boxed_slice(),
            slots: vec![Slot::default(); (self.retention / self.slot_secs) as usize]
                .into_boxed_slice(),
            totals: Totals::default(),
            pods: pods::PodSet::default(),
        }
    }

    /// Adds one labelled record at event second `sec` (Unix seconds).
    ///
    /// # Performance
    /// Array indexing and a sparse-sketch insert; allocates only when a site
    /// is first seen or a slot's sketch needs a bucket it never held.
    #[inline]
    pub fn record(&mut self, site: SiteId, sec: i64, rec: &Record<'_>) {
        let idx = site.index();
        if idx >= self.sites.len() {
            self.grow(idx);
        }
        self.stats.records += 1;
        let future = sec > self.future_limit;
        if !future && self.now.is_none_or(|n| sec > n) {
            self.now = Some(sec);
            self.now_block = sec.div_euclid(self.slot_secs);
        }
        if !future && self.first.is_none_or(|f| sec < f) {
            self.first = Some(sec);
        }
        let now = self.now.unwrap_or(sec);
        let (slot_secs, fine) = (self.slot_secs, self.fine);
        let series = &mut self.sites[idx];
        let nslots = series.slots.len() as i64;
        let at = if series.head == Some(sec) {
            series.head_at
        } else {
            let block = sec.div_euclid(slot_secs);
            RingPos {
                block,
                slot: block.rem_euclid(nslots) as usize,
                fine: sec.rem_euclid(fine) as usize,
            }
        };
        // Whole slots: the oldest block of an unaligned hour shares its ring
        // index with the newest, so a line that old is late.
        let in_ring = !future && at.block > self.now_block - nslots;
        if in_ring && series.head.is_none_or(|h| sec > h) {
            series.advance(sec, at);
        }
        let is_request = self.requests_from[rec.source as usize];
        let dur_us = rec.duration_ns.map(|ns| ns / 1000);
        let class = class_of(rec.status);
        let code = code_slot(rec.status);
        let ev = event_slot(rec.event);
        if matches!(rec.source, LogFormat::TraefikClf | LogFormat::TraefikJson) {
            series.pods.note(rec.service_url, sec);
        }
        let t = &mut series.totals;
        if is_request {
            t.class[class] += 1;
            if let Some(c) = code {
                t.codes[c] += 1;
            }
            t.bytes = t.bytes.saturating_add(rec.bytes);
            if let Some(us) = dur_us {
                let ts_ns = rec.ts_ns.unwrap_or(sec.saturating_mul(1_000_000_000));
                t.add_duration(us, rec.trace_id, ts_ns);
            }
        }
        if let Some(e) = ev {
            t.events[e] += 1;
            if e < 2 {
                t.pool_event(rec.pool, rec.json_escaped, rec.event);
            }
        }
        if let Some(p) = php_error_slot(rec.event) {
            t.php_errors[p] += 1;
        }
        if !in_ring {
            if future {
                self.stats.future += 1;
            } else {
                self.stats.late += 1;
            }
            return;
        }
        let slot = &mut series.slots[at.slot];
        slot.claim(at.block);
        let mut saturated = 0;
        if let Some(e) = ev {
            saturated += sat_inc(&mut slot.events[e]);
        }
        if is_request {
            saturated += sat_inc(&mut slot.class[class]);
            if let Some(c) = code {
                saturated += sat_inc(&mut slot.codes[c]);
            }
            saturated += sat_add(&mut slot.bytes, rec.bytes);
            if let Some(us) = dur_us {
                saturated += sat_add(&mut slot.dur_us, us);
                slot.sketch.add_us(us);
            }
            if sec > now - fine {
                let b = &mut series.secs[at.fine];
                if b.sec != sec {
                    *b = SecBucket {
                        sec,
                        ..SecBucket::default()
                    };
                }
                saturated += sat_inc(&mut b.class[class]);
                let bytes = u32::try_from(rec.bytes).unwrap_or(u32::MAX);
                saturated += u64::from(b.bytes.checked_add(bytes).is_none());
                b.bytes = b.bytes.saturating_add(bytes);
                if let Some(us) = dur_us {
                    saturated += sat_add(&mut b.dur_us, us);
                }
            }
        }
        self.stats.saturated += saturated;
    }

    #[cold]
    fn grow(&mut self, idx: usize) {
        while self.sites.len() <= idx {
            let s = self.new_series();
            self.sites.push(s);
        }
    }

    /// Records dated after `sec` (Unix seconds) are counted as
    /// [`AggStats::future`] and kept out of the windows, so one line with a
    /// bogus date cannot move the windows' end and make every later line
    /// late. The pipeline sets it to wall-clock time plus a skew allowance.
    pub fn set_future_limit(&mut self, sec: i64) {
        self.future_limit = sec;
    }

    /// Moves the windows' end forward to `sec` even if no record arrived
    /// (wall-clock ticks in live mode).
    pub fn advance_to(&mut self, sec: i64) {
        if self.now.is_none_or(|n| sec > n) {
            self.now = Some(sec);
            self.now_block = sec.div_euclid(self.slot_secs);
        }
    }

    /// Marks when live reading began (wall clock, Unix seconds). Windows
    /// then cover time from this instant, unless lines dated earlier were
    /// read (a backlog), in which case from the first of them. Without it
    /// (replay) they cover time from the first line's second.
    pub fn mark_start(&mut self, unix: f64) {
        self.start = Some(unix);
    }

    /// Advances the windows' end to the wall clock `unix` (Unix seconds,
    /// fractional): the current second counts as far as it has passed.
    pub fn set_clock(&mut self, unix: f64) {
        let sec = unix.floor() as i64;
        self.advance_to(sec);
        self.clock = Some(unix);
    }

    /// Where covered time begins (see [`mark_start`](Self::mark_start)).
    fn origin(&self) -> Option<f64> {
        match (self.start, self.first) {
            (Some(s), Some(f)) if (f as f64) < s.floor() => Some(f as f64),
            (Some(s), _) => Some(s),
            (None, f) => f.map(|f| f as f64),
        }
    }

    /// Where covered time ends: the wall clock when it lies in the second
    /// `now`, else the end of second `now` (replay, or lines dated ahead
    /// of the clock).
    fn end(&self, now: i64) -> f64 {
        match self.clock {
            Some(c) if c.floor() as i64 == now => c,
            _ => (now + 1) as f64,
        }
    }

    /// The windows' end: the latest event second seen or advanced to.
    pub fn now(&self) -> Option<i64> {
        self.now
    }

    /// The earliest event second seen.
    pub fn first(&self) -> Option<i64> {
        self.first
    }

    /// Counters so far.
    pub fn stats(&self) -> AggStats {
        self.stats
    }

    /// Number of site slots allocated (highest site id seen + 1).
    pub fn site_count(&self) -> usize {
        self.sites.len()
    }

    /// Cumulative totals of a site (`None` for ids above the highest one
    /// that had a record; all zero for a lower id that had none).
    pub fn totals(&self, site: SiteId) -> Option<&Totals> {
        self.sites.get(site.index()).map(|s| &s.totals)
    }

    /// Distinct Traefik upstream addresses (pods) of `site` in the minute
    /// ending at [`now`](Self::now).
    pub fn pods(&self, site: SiteId) -> u32 {
        match (self.sites.get(site.index()), self.now) {
            (Some(s), Some(now)) => s.pods.count(now),
            _ => 0,
        }
    }

    /// Stats over the last `secs` seconds ending at [`now`](Self::now):
    /// seconds in `(now - secs, now]`, clamped to the retention. Windows up
    /// to `fine_secs` count requests to the second; longer ones, and
    /// latency and events in every window, to the slot.
    pub fn window(&self, site: SiteId, secs: u32) -> WindowStats {
        let mut w = WindowStats {
            secs: secs.min(self.retention as u32),
            ..WindowStats::default()
        };
        let Some(now) = self.now else {
            return w;
        };
        w.covered_secs = self.covered(now, w.secs);
        let Some(series) = self.sites.get(site.index()) else {
            return w;
        };
        let Some(head) = series.head else {
            return w;
        };
        let start = now - i64::from(w.secs) + 1;
        let end = now.min(head);
        if end < start {
            return w;
        }
        let fine = i64::from(w.secs) <= self.fine;
        if fine {
            for sec in start..=end {
                let b = &series.secs[sec.rem_euclid(self.fine) as usize];
                if b.sec != sec {
                    continue;
                }
                for i in 0..5 {
                    w.class[i] += u64::from(b.class[i]);
                }
                w.bytes = w.bytes.saturating_add(u64::from(b.bytes));
                w.dur_us = w.dur_us.saturating_add(b.dur_us);
            }
        }
        let nslots = series.slots.len() as i64;
        let last = end.div_euclid(self.slot_secs);
        // An unaligned window touches nslots + 1 blocks; the oldest shares its
        // ring index with the newest, so it is left out.
        let first = start.div_euclid(self.slot_secs).max(last - nslots + 1);
        for block in first..=last {
            let slot = &series.slots[block.rem_euclid(nslots) as usize];
            if slot.block != block {
                continue;
            }
            w.latency.merge_sparse(&slot.sketch);
            for i in 0..4 {
                w.events[i] += u64::from(slot.events[i]);
            }
            for i in 0..5 {
                w.codes[i] += u64::from(slot.codes[i]);
            }
            if !fine {
                for i in 0..5 {
                    w.class[i] += u64::from(slot.class[i]);
                }
                w.bytes = w.bytes.saturating_add(slot.bytes);
                w.dur_us = w.dur_us.saturating_add(slot.dur_us);
            }
        }
        w
    }

    /// Seconds of a `secs` window ending at `now` that lie after the
    /// origin; a window longer than `fine_secs` is read in whole slots, so
    /// its span starts at its oldest slot's start.
    fn covered(&self, now: i64, secs: u32) -> f64 {
        let end = self.end(now);
        let start = now - i64::from(secs) + 1;
        let span_start = if i64::from(secs) <= self.fine {
            start
        } else {
            let nslots = self.retention / self.slot_secs;
            let last = now.div_euclid(self.slot_secs);
            start.div_euclid(self.slot_secs).max(last - nslots + 1) * self.slot_secs
        };
        let from = self
            .origin()
            .map_or(span_start as f64, |o| o.max(span_start as f64));
        (end - from).max(0.0)
    }

    /// The seconds a `secs` window covers now (see
    /// [`WindowStats::covered_secs`]).
    pub fn covered_secs(&self, secs: u32) -> f64 {
        self.now.map_or(0.0, |now| {
            self.covered(now, secs.min(self.retention as u32))
        })
    }

    /// Heap bytes held by per-site state.
    pub fn heap_bytes(&self) -> usize {
        self.sites
            .iter()
            .map(|s| {
                std::mem::size_of_val(&*s.secs)
                    + std::mem::size_of_val(&*s.slots)
                    + s.slots.iter().map(|l| l.sketch.heap_bytes()).sum::<usize>()
                    + s.totals.latency.heap_bytes()
                    + s.totals
                        .exemplars
                        .as_deref()
                        .map_or(0, std::mem::size_of_val)
            })
            .sum::<usize>()
            + self.sites.capacity() * std::mem::size_of::<SiteSeries>()
    }
}

/// Adds one; at the ceiling the counter stays and `1` is returned for
/// [`AggStats::saturated`].
#[inline]
fn sat_inc(c: &mut u32) -> u64 {
    match c.checked_add(1) {
        Some(v) => {
            *c = v;
            0
        }
        None => 1,
    }
}

/// Adds `v`, saturating; returns `1` when it saturated.
#[inline]
fn sat_add(c: &mut u64, v: u64) -> u64 {
    match c.checked_add(v) {
        Some(x) => {
            *c = x;
            0
        }
        None => {
            *c = u64::MAX;
            1
        }
    }
}

impl SiteSeries {
    /// Moves the site's latest second to `sec` (at `at`). Nothing is
    /// cleared: buckets and slots carry the second and slot they hold.
    fn advance(&mut self, sec: i64, at: RingPos) {
        self.head = Some(sec);
        self.head_at = at;
    }
}

#[cfg(test)]
mod tests;
