//! Per-site metrics from the latest snapshot: counters from each site's
//! totals since start, the request-duration histogram, and gauges from its
//! windows. The only per-site label is the site's name, so series are
//! bounded by the site table (`sites.max_sites`); the others (`code_class`,
//! `code`, `level`, `window`, `pool`) take a handful of fixed values
//! (pools: at most `MAX_POOLS_PER_SITE` per site, the rest `_other`).

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sitepulse_pipeline::aggregate::{
    CLASS_NAMES, LATENCY_BUCKETS_SECS, PHP_ERROR_LEVELS, PoolTotals,
};
use sitepulse_pipeline::snapshot::{SiteSnapshot, SitesSnapshot, WINDOW_NAMES};

use super::own::Get;
use crate::run::LiveState;

/// Where the snapshot comes from.
#[derive(Debug)]
enum Source {
    Live(LiveState),
    Fixed(Arc<SitesSnapshot>),
}

/// The scrape-time collector of the per-site families.
#[derive(Debug)]
pub struct SiteMetrics {
    source: Source,
}

impl SiteMetrics {
    /// Over a running collector's latest snapshot.
    pub fn live(live: LiveState) -> Self {
        SiteMetrics {
            source: Source::Live(live),
        }
    }

    /// Over one fixed snapshot (benchmarks, tests).
    pub fn fixed(snap: Arc<SitesSnapshot>) -> Self {
        SiteMetrics {
            source: Source::Fixed(snap),
        }
    }
}

/// `EVENT_NAMES` index of FPM children killed.
const CHILD_TERMINATIONS: usize = 2;

/// Status codes as label values, in `TRACKED_CODES` order.
const CODE_LABELS: [&str; 5] = ["499", "500", "502", "503", "504"];

fn counter(fam: &mut MetricEncoder, labels: &[(&str, &str)], v: u64) -> fmt::Result {
    ConstCounter::new(v).encode(fam.encode_family(&labels)?)
}

fn gauge(fam: &mut MetricEncoder, labels: &[(&str, &str)], v: f64) -> fmt::Result {
    ConstGauge::new(v).encode(fam.encode_family(&labels)?)
}

/// One family over every site `rows` emits for.
fn family(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    sites: &[SiteSnapshot],
    mut rows: impl FnMut(&mut MetricEncoder, &SiteSnapshot) -> fmt::Result,
) -> fmt::Result {
    let mut fam = enc.encode_descriptor(name, help, None, kind)?;
    for s in sites {
        rows(&mut fam, s)?;
    }
    Ok(())
}

/// Encodes every per-site family of `snap`.
///
/// # Errors
/// Only the writer's.
///
/// # Performance
/// No allocation per site: labels borrow the snapshot's names.
pub fn encode_sites(snap: &SitesSnapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    use MetricType::{Counter, Gauge, Histogram};
    let sites = &snap.sites[..];
    // Request families only for sites that have had requests (an FPM-only
    // site has none), with every class once it has.
    let served = |s: &SiteSnapshot| s.totals.requests() > 0;
    family(
        enc,
        "site_requests",
        "Requests since start, by site and status class (other: 1xx and no status).",
        Counter,
        sites,
        |f, s| {
            if served(s) {
                for (class, v) in CLASS_NAMES.iter().zip(s.totals.class) {
                    counter(f, &[("site", &s.name), ("code_class", class)], v)?;
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "site_requests_by_code",
        "Requests since start with a status of interest (499, 500, 502, 503, 504), by site and code.",
        Counter,
        sites,
        |f, s| {
            for (code, v) in CODE_LABELS.iter().zip(s.totals.codes) {
                if v > 0 {
                    counter(f, &[("site", &s.name), ("code", code)], v)?;
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "site_response_bytes",
        "Response body bytes since start, by site.",
        Counter,
        sites,
        |f, s| {
            if served(s) {
                counter(f, &[("site", &s.name)], s.totals.bytes)?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "site_request_duration_seconds",
        "Request durations since start, by site (requests whose line has a duration).",
        Histogram,
        sites,
        |f, s| {
            if !served(s) {
                return Ok(());
            }
            let h = &s.totals.latency;
            let mut buckets = [(f64::INFINITY, 0u64); LATENCY_BUCKETS_SECS.len() + 1];
            for (i, b) in buckets.iter_mut().enumerate() {
                *b = (
                    LATENCY_BUCKETS_SECS
                        .get(i)
                        .copied()
                        .unwrap_or(f64::INFINITY),
                    h.buckets[i],
                );
            }
            f.encode_family(&[("site", s.name.as_str())])?
                .encode_histogram::<NoLabelSet>(h.sum_secs, h.count, &buckets, None)
        },
    )?;
    family(
        enc,
        "site_in_flight",
        "Mean requests in flight over the last minute (Little's law: summed durations / seconds covered), by site.",
        Gauge,
        sites,
        |f, s| {
            if served(s) {
                gauge(f, &[("site", &s.name)], s.windows[0].in_flight())?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "site_rps",
        "Requests per second over the window (requests / seconds the window covers), by site and window.",
        Gauge,
        sites,
        |f, s| {
            if served(s) {
                for (w, name) in s.windows.iter().zip(WINDOW_NAMES) {
                    gauge(f, &[("site", &s.name), ("window", name)], w.rps())?;
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "php_errors",
        "PHP errors since start (debug.log, PHP's error log, FPM worker output), by site and level.",
        Counter,
        sites,
        |f, s| {
            for (level, v) in PHP_ERROR_LEVELS.iter().zip(s.totals.php_errors) {
                if v > 0 {
                    counter(f, &[("site", &s.name), ("level", level)], v)?;
                }
            }
            Ok(())
        },
    )?;
    let pools: [(&str, &str, Get<PoolTotals>); 2] = [
        (
            "fpm_max_children_reached",
            "Times an FPM pool reached pm.max_children, by site and pool.",
            |p| p.max_children_reached,
        ),
        (
            "fpm_slow_requests",
            "FPM requests logged as executing too slow, by site and pool.",
            |p| p.slow_requests,
        ),
    ];
    for (name, help, get) in pools {
        family(enc, name, help, Counter, sites, |f, s| {
            for p in &s.totals.pools {
                counter(f, &[("site", &s.name), ("pool", &p.name)], get(p))?;
            }
            Ok(())
        })?;
    }
    family(
        enc,
        "fpm_child_terminations",
        "FPM children killed (signal exits: request timeouts, OOM), by site.",
        Counter,
        sites,
        |f, s| match s.totals.events[CHILD_TERMINATIONS] {
            0 => Ok(()),
            v => counter(f, &[("site", &s.name)], v),
        },
    )?;
    Ok(())
}

impl Collector for SiteMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        match &self.source {
            Source::Live(live) => encode_sites(&live.published().sites, &mut enc),
            Source::Fixed(snap) => encode_sites(snap, &mut enc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sitepulse_pipeline::aggregate::{EVENT_NAMES, TRACKED_CODES};

    #[test]
    fn fixed_label_values_follow_the_pipeline() {
        assert_eq!(TRACKED_CODES.map(|c| c.to_string()), CODE_LABELS);
        assert_eq!(EVENT_NAMES[CHILD_TERMINATIONS], "fpm_child_terminations");
    }
}
