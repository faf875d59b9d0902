//! What readers see of the per-site windows: an immutable copy taken by the
//! aggregate's owner (once a tick, or when asked) and shared behind an
//! `Arc`. Readers — the HTTP API, /metrics, and later the autoscaler APIs,
//! SLO evaluation and sinks — read the latest snapshot and never reach into
//! the aggregator, so however many of them there are, ingest never waits
//! for one.
//!
//! A snapshot holds numbers, not sketches: each window's counters and the
//! latency quantiles of [`QUANTILES`], so taking one for 2,000 sites costs
//! a few hundred KiB and a few milliseconds once a second.

use crate::aggregate::{
    AggStats, Aggregator, BucketExemplars, LATENCY_BUCKETS_SECS, PHP_ERROR_LEVELS, PoolTotals,
    Totals, WindowStats, per_sec,
};
use crate::label::{LabelStats, Labeler, Namer, SiteId};

/// Window lengths every snapshot carries, in seconds (`1m`, `5m`, `1h`).
pub const WINDOWS_SECS: [u32; 3] = [60, 300, 3600];

/// The names of [`WINDOWS_SECS`] as the API and metrics spell them.
pub const WINDOW_NAMES: [&str; 3] = ["1m", "5m", "1h"];

/// Latency quantiles every window carries.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

/// One window of one site, reduced to numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowSummary {
    /// Window length in seconds.
    pub secs: u32,
    /// Seconds the window covers: `secs` once full, less right after a
    /// start (see [`WindowStats::covered_secs`]). Rates divide by it.
    pub covered_secs: f64,
    /// Requests by status class ([`crate::aggregate::CLASS_NAMES`]).
    pub class: [u64; 5],
    /// Requests per [`crate::aggregate::TRACKED_CODES`] entry.
    pub codes: [u64; 5],
    /// FPM and PHP events per [`crate::aggregate::EVENT_NAMES`] entry.
    pub events: [u64; 4],
    /// Response bytes.
    pub bytes: u64,
    /// Summed request durations, µs.
    pub dur_us: u64,
    /// Latency quantiles of [`QUANTILES`], in ms (`None` without requests).
    pub quantiles_ms: [Option<f64>; 4],
}

impl WindowSummary {
    /// Reduces a window to its numbers.
    pub fn of(w: &WindowStats) -> Self {
        WindowSummary {
            secs: w.secs,
            covered_secs: w.covered_secs,
            class: w.class,
            codes: w.codes,
            events: w.events,
            bytes: w.bytes,
            dur_us: w.dur_us,
            quantiles_ms: QUANTILES.map(|q| w.quantile_ms(q)),
        }
    }

    /// All requests.
    pub fn requests(&self) -> u64 {
        self.class.iter().sum()
    }

    /// Requests per second over the time the window covers.
    pub fn rps(&self) -> f64 {
        per_sec(self.requests() as f64, self.covered_secs)
    }

    /// Fraction of requests with a 5xx status (0 when idle).
    pub fn error_ratio(&self) -> f64 {
        match self.requests() {
            0 => 0.0,
            n => self.class[4] as f64 / n as f64,
        }
    }

    /// Mean requests in flight by Little's law: summed durations / the
    /// time covered.
    pub fn in_flight(&self) -> f64 {
        per_sec(self.dur_us as f64 / 1e6, self.covered_secs)
    }

    /// The latency quantile `q` in ms, when `q` is one of [`QUANTILES`].
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let i = QUANTILES.iter().position(|&x| x == q)?;
        self.quantiles_ms[i]
    }
}

/// The request-duration histogram of a site since start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyHistogram {
    /// Requests per [`LATENCY_BUCKETS_SECS`] bucket, not cumulative; the
    /// last entry is `+Inf`.
    pub buckets: [u64; LATENCY_BUCKETS_SECS.len() + 1],
    /// Requests with a duration.
    pub count: u64,
    /// Their summed durations, seconds.
    pub sum_secs: f64,
    /// The latest request with a trace id per bucket (OpenMetrics
    /// exemplars); `None` for a site that never had one.
    pub exemplars: Option<Box<BucketExemplars>>,
}

/// A site's counters since start: monotonic, for Prometheus counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteTotals {
    /// Requests by status class ([`crate::aggregate::CLASS_NAMES`]).
    pub class: [u64; 5],
    /// Requests per [`crate::aggregate::TRACKED_CODES`] entry.
    pub codes: [u64; 5],
    /// Response bytes.
    pub bytes: u64,
    /// Summed request durations, µs.
    pub dur_us: u64,
    /// Events per [`crate::aggregate::EVENT_NAMES`] entry.
    pub events: [u64; 4],
    /// Request durations.
    pub latency: LatencyHistogram,
    /// PHP errors per [`PHP_ERROR_LEVELS`] entry.
    pub php_errors: [u64; PHP_ERROR_LEVELS.len()],
    /// FPM events per pool.
    pub pools: Vec<PoolTotals>,
}

impl SiteTotals {
    fn of(t: &Totals) -> Self {
        SiteTotals {
            class: t.class,
            codes: t.codes,
            bytes: t.bytes,
            dur_us: t.dur_us,
            events: t.events,
            latency: LatencyHistogram {
                buckets: t.latency_buckets,
                count: t.timed_requests,
                sum_secs: t.dur_us as f64 / 1e6,
                exemplars: t.exemplars.clone(),
            },
            php_errors: t.php_errors,
            pools: t.pools.clone(),
        }
    }

    /// All requests.
    pub fn requests(&self) -> u64 {
        self.class.iter().sum()
    }
}

/// One site in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSnapshot {
    /// The site's id in this process's site table.
    pub id: SiteId,
    /// The site's name.
    pub name: String,
    /// One summary per [`WINDOWS_SECS`] entry.
    pub windows: [WindowSummary; 3],
    /// Counters since start.
    pub totals: SiteTotals,
    /// Distinct pods that served the site in the last minute (Traefik's
    /// upstream addresses; see `aggregate::pods`); 0 when the logs do not
    /// say.
    pub pods: u32,
}

impl SiteSnapshot {
    /// The window called `name` (`1m`, `5m`, `1h`).
    pub fn window(&self, name: &str) -> Option<&WindowSummary> {
        let i = WINDOW_NAMES.iter().position(|n| *n == name)?;
        Some(&self.windows[i])
    }

    /// Requests since start.
    pub fn total_requests(&self) -> u64 {
        self.totals.requests()
    }
}

/// Every site's windows at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SitesSnapshot {
    /// The windows' end (Unix seconds); `None` before the first record or
    /// tick.
    pub now_unix: Option<i64>,
    /// Every site in the table, busiest (5m rps) first, then by total
    /// requests and name.
    pub sites: Vec<SiteSnapshot>,
    /// Aggregator counters.
    pub agg: AggStats,
    /// Labeler counters.
    pub label: LabelStats,
    /// The first pairs of names that disagreed (a line's own key named the
    /// first site, its file's namespace the second): see
    /// [`Labeler::conflicts`].
    pub conflicts: Vec<(String, String)>,
    /// Sites that look like one site under two naming schemes (`site007`
    /// and `site007-example-com`): see [`Labeler::split_names`].
    pub split_names: Vec<(String, String)>,
    /// How the site table writes names, so [`site`](Self::site) finds a
    /// site by any spelling of its name.
    pub namer: Namer,
}

impl SitesSnapshot {
    /// Takes a snapshot of `agg` for the sites `labeler` knows.
    ///
    /// # Performance
    /// One window merge per site and window: called by the aggregate's
    /// owner once a tick, never per reader.
    pub fn take(agg: &Aggregator, labeler: &Labeler) -> Self {
        let mut sites: Vec<SiteSnapshot> = labeler
            .sites()
            .iter()
            .map(|(id, name)| SiteSnapshot {
                id,
                name: name.to_owned(),
                windows: WINDOWS_SECS.map(|s| WindowSummary::of(&agg.window(id, s))),
                totals: agg.totals(id).map(SiteTotals::of).unwrap_or_default(),
                pods: agg.pods(id),
            })
            .collect();
        sites.sort_by(|a, b| {
            b.windows[1]
                .rps()
                .total_cmp(&a.windows[1].rps())
                .then(b.total_requests().cmp(&a.total_requests()))
                .then(a.name.cmp(&b.name))
        });
        SitesSnapshot {
            now_unix: agg.now(),
            sites,
            agg: agg.stats(),
            label: labeler.stats(),
            namer: labeler.sites().namer().clone(),
            split_names: labeler.split_names(16),
            conflicts: labeler
                .conflicts()
                .iter()
                .map(|&(a, b)| {
                    let t = labeler.sites();
                    (t.name(a).to_owned(), t.name(b).to_owned())
                })
                .collect(),
        }
    }

    /// The site called `name`, or whose name has the same canonical form
    /// (`site042.example.com` finds `site042-example-com`, and `site042`
    /// when `example.com` is a farm domain; docs/sites.md).
    pub fn site(&self, name: &str) -> Option<&SiteSnapshot> {
        if let Some(s) = self.sites.iter().find(|s| s.name == name) {
            return Some(s);
        }
        let key = self.namer.canonical(name)?;
        self.sites.iter().find(|s| s.name == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregateConfig;
    use crate::label::SitesConfig;
    use crate::record::{LogFormat, Record};

    #[test]
    fn snapshot_matches_the_windows_and_sorts_busiest_first() {
        let mut labeler = Labeler::new(&SitesConfig::default()).unwrap();
        let mut agg = Aggregator::new(&AggregateConfig::default()).unwrap();
        let now = 1_796_083_200;
        let file = labeler.file_sites(&crate::label::FileKeys::default());
        for (router, n, status) in [("quiet", 3, 200), ("busy", 30, 503)] {
            let router = format!("websecure-{router}@kubernetes");
            for i in 0..n {
                let rec = Record {
                    source: LogFormat::TraefikClf,
                    status,
                    duration_ns: Some(10_000_000),
                    router: router.as_bytes(),
                    ..Record::default()
                };
                let site = labeler.label(&rec, &file);
                agg.record(site, now - i % 50, &rec);
            }
        }
        agg.advance_to(now);
        let snap = SitesSnapshot::take(&agg, &labeler);
        assert_eq!(snap.now_unix, Some(now));
        let names: Vec<&str> = snap.sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[..2], ["busy", "quiet"]);
        let busy = snap.site("busy").unwrap();
        let direct = agg.window(busy.id, 60);
        assert_eq!(busy.windows[0], WindowSummary::of(&direct));
        assert_eq!(busy.windows[0].requests(), 30);
        assert_eq!(busy.windows[0].error_ratio(), 1.0);
        assert_eq!(busy.windows[1].secs, 300);
        assert_eq!(busy.total_requests(), 30);
        assert_eq!(busy.windows[0].quantile_ms(0.99), direct.quantile_ms(0.99));
        assert!(busy.windows[0].quantile_ms(0.42).is_none());
        // Any spelling with the same canonical form finds the site.
        assert_eq!(snap.site("BUSY").map(|s| s.id), Some(busy.id));
        assert!(busy.totals.latency.exemplars.is_none());
    }

    /// Issue 16: a bucket's latest request with a trace id reaches the
    /// snapshot as its exemplar.
    #[test]
    fn exemplars_reach_the_snapshot() {
        let mut labeler = Labeler::new(&SitesConfig::default()).unwrap();
        let mut agg = Aggregator::new(&AggregateConfig::default()).unwrap();
        let now = 1_796_083_200;
        let file = labeler.file_sites(&crate::label::FileKeys::default());
        let line = br#"{"RequestMethod":"GET","DownstreamStatus":200,"Duration":30000000,"RouterName":"websecure-traced@kubernetes","StartUTC":"2026-12-01T00:00:00.5Z","TraceId":"4bf92f3577b34da6a3ce929d0e0e4736"}"#;
        let rec = crate::parse::traefik_json::parse(line).unwrap();
        let site = labeler.label(&rec, &file);
        agg.record(site, now, &rec);
        agg.advance_to(now);
        let snap = SitesSnapshot::take(&agg, &labeler);
        let h = &snap.site("traced").unwrap().totals.latency;
        let ex = h.exemplars.as_deref().unwrap();
        // 30 ms: the bucket of 0.05 s.
        let b = LATENCY_BUCKETS_SECS
            .iter()
            .position(|&le| le == 0.05)
            .unwrap();
        assert_eq!(h.buckets[b], 1);
        assert_eq!(
            &crate::record::trace_id_hex(&ex[b].trace_id),
            b"4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!((ex[b].value_secs, ex[b].ts_ns), (0.03, rec.ts_ns.unwrap()));
        assert_eq!(ex.iter().filter(|e| e.is_set()).count(), 1);
    }
}
