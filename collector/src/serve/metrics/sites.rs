//! Per-site metrics from the latest snapshot: counters from each site's
//! totals since start, the request-duration histogram, and gauges from its
//! windows. The only per-site label is the site's name, so series are
//! bounded by the site table (`sites.max_sites`); the others (`code_class`,
//! `code`, `level`, `window`, `pool`) take a handful of fixed values
//! (pools: at most `MAX_POOLS_PER_SITE` per site, the rest `_other`).
//!
//! The histogram's buckets carry OpenMetrics exemplars: per bucket, the
//! latest request whose line had a trace id. prometheus-client 0.25 writes
//! exemplars only of metrics it owns (its `Exemplar` has no public
//! constructor), so [`encode_sites`] notes them and [`with_exemplars`]
//! appends them to the encoded bucket samples.

use std::cell::RefCell;
use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sitepulse_pipeline::aggregate::{
    BucketExemplars, CLASS_NAMES, Exemplar, LATENCY_BUCKETS_SECS, PHP_ERROR_LEVELS, PoolTotals,
};
use sitepulse_pipeline::record::trace_id_hex;
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

/// The histogram's buckets per site, `+Inf` included.
const BUCKETS: usize = LATENCY_BUCKETS_SECS.len() + 1;

/// The name of the histogram's bucket samples, less the registry's prefix.
const BUCKET_SAMPLE: &str = "site_request_duration_seconds_bucket";

/// The exemplars of the histogram [`encode_sites`] last encoded on this
/// thread, for [`with_exemplars`].
#[derive(Debug, Default)]
struct Noted {
    /// Sites the histogram has samples for (each [`BUCKETS`] buckets).
    sites: usize,
    /// Of those with an exemplar: the site's place among them, and its
    /// exemplars.
    exemplars: Vec<(usize, BucketExemplars)>,
}

thread_local! {
    // The encoding of one body runs on one thread, from `text::encode` to
    // `with_exemplars`; concurrent scrapes each have their own.
    static NOTED: RefCell<Noted> = RefCell::new(Noted::default());
}

/// Encodes every per-site family of `snap`, and notes the histogram's
/// exemplars for [`with_exemplars`].
///
/// # Errors
/// Only the writer's.
///
/// # Performance
/// No allocation per site: labels borrow the snapshot's names; exemplars
/// are copied for the sites that have them.
pub fn encode_sites(snap: &SitesSnapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    use MetricType::{Counter, Gauge, Histogram};
    let sites = &snap.sites[..];
    // Nothing stale if this encoding fails half way.
    NOTED.with(RefCell::take);
    let mut noted = Noted::default();
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
            if let Some(ex) = h.exemplars.as_deref() {
                noted.exemplars.push((noted.sites, *ex));
            }
            noted.sites += 1;
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
    NOTED.with(|n| *n.borrow_mut() = noted);
    Ok(())
}

/// `om`, OpenMetrics text with the histogram [`encode_sites`] last encoded
/// on this thread, with that histogram's exemplars appended to their
/// bucket samples: `<sample> # {trace_id="<32 hex>"} <seconds> <unix time>`
/// (OpenMetrics 1.0, "Exemplars",
/// <https://github.com/prometheus/OpenMetrics/blob/v1.0.0/specification/OpenMetrics.md#exemplars>;
/// the timestamp in seconds to the millisecond, as Prometheus keeps it).
/// Buckets are matched by position: [`BUCKETS`] samples per site, in the
/// order encoded; `om` comes back unchanged when its bucket samples do not
/// line up so, or when there is no exemplar.
pub(super) fn with_exemplars(om: String) -> String {
    let noted = NOTED.with(|n| std::mem::take(&mut *n.borrow_mut()));
    if noted.exemplars.is_empty() {
        return om;
    }
    let is_bucket = |line: &str| {
        !line.starts_with('#')
            && line
                .split_once('{')
                .is_some_and(|(name, _)| name.ends_with(BUCKET_SAMPLE))
    };
    let mut out = String::with_capacity(om.len() + noted.exemplars.len() * BUCKETS * 80);
    let mut seen = 0;
    let mut next = noted.exemplars.iter().peekable();
    for line in om.split_inclusive('\n') {
        if !is_bucket(line) {
            out.push_str(line);
            continue;
        }
        let (site, b) = (seen / BUCKETS, seen % BUCKETS);
        seen += 1;
        if b == BUCKETS - 1 && !line.contains("le=\"+Inf\"") {
            return om;
        }
        while next.peek().is_some_and(|(at, _)| *at < site) {
            next.next();
        }
        let ex = next
            .peek()
            .filter(|(at, _)| *at == site)
            .map(|(_, ex)| &ex[b])
            .filter(|e| e.is_set());
        match ex {
            Some(e) => {
                out.push_str(line.trim_end_matches('\n'));
                push_exemplar(&mut out, e);
                out.push('\n');
            }
            None => out.push_str(line),
        }
    }
    if seen != noted.sites * BUCKETS {
        return om;
    }
    out
}

/// ` # {trace_id="…"} <value> <timestamp>`; no timestamp before 1970.
fn push_exemplar(out: &mut String, e: &Exemplar) {
    let hex = trace_id_hex(&e.trace_id);
    out.push_str(" # {trace_id=\"");
    // Hex digits are ASCII.
    out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    let _ = write!(out, "\"}} {}", e.value_secs);
    if e.ts_ns >= 0 {
        let ms = e.ts_ns / 1_000_000;
        let _ = write!(out, " {}.{:03}", ms / 1000, ms % 1000);
    }
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
    use crate::serve::api::fixture::T0;
    use crate::serve::metrics::tests::promtool_check;
    use crate::serve::metrics::{Format, render, snapshot_registry};
    use sitepulse_pipeline::aggregate::{EVENT_NAMES, TRACKED_CODES};
    use sitepulse_pipeline::{NoObserver, Pipeline, PipelineConfig};

    /// A Traefik JSON access line (v3, tracing on when `trace` is set).
    fn line(router: &str, ms: u64, sec: i64, trace: &str) -> String {
        let t = sitepulse_pipeline::time::format_rfc3339((T0 + sec) * 1_000_000_000 + 250_000_000);
        let trace = match trace {
            "" => String::new(),
            id => format!(r#","SpanId":"00f067aa0ba902b7","TraceId":"{id}""#),
        };
        format!(
            r#"{{"ClientHost":"10.42.0.1","DownstreamContentSize":5,"DownstreamStatus":200,"Duration":{},"RequestHost":"x","RequestMethod":"GET","RequestPath":"/","RouterName":"websecure-{router}@kubernetes","StartUTC":"{t}"{trace}}}"#,
            ms * 1_000_000
        ) + "\n"
    }

    /// Issue 16: requests with a trace id become exemplars of their
    /// buckets in the OpenMetrics body (the latest per bucket, on the
    /// right site whatever the sites around it); the classic body has the
    /// same samples without them, and promtool passes it.
    #[test]
    fn exemplars_on_the_bucket_samples() {
        let (a, b, c) = (
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "0af7651916cd43dd8448eb211c80319c",
            "5b8efff798038103d269b633813fc60c",
        );
        let mut log = String::new();
        // The busiest site, first in the body, has none.
        for _ in 0..5 {
            log += &line("blog-example-com", 40, 1, "");
        }
        log += &line("shop-example-com", 20, 10, a);
        log += &line("shop-example-com", 20, 11, b);
        log += &line("shop-example-com", 22, 12, "");
        log += &line("shop-example-com", 900, 13, c);
        log += &line("zeta-example-com", 61_000, 14, a);
        let mut p = Pipeline::new(&PipelineConfig::default(), T0 + 60).unwrap();
        p.process(
            "traefik",
            None,
            log.as_bytes(),
            &mut NoObserver,
            &mut |_| {},
        )
        .unwrap();
        p.tick(T0 + 60);
        let reg = snapshot_registry(Arc::new(p.snapshot()));
        let om = render(&reg, Format::OpenMetrics).unwrap();
        let bucket = |le: &str, site: &str| {
            let head = format!(
                "sitepulse_site_request_duration_seconds_bucket{{le=\"{le}\",site=\"{site}-example-com\"}} "
            );
            om.lines()
                .find_map(|l| l.strip_prefix(&head))
                .unwrap_or_else(|| panic!("no {head} in\n{om}"))
                .to_owned()
        };
        assert_eq!(
            bucket("0.025", "shop"),
            format!("3 # {{trace_id=\"{b}\"}} 0.02 1795341611.250")
        );
        assert_eq!(bucket("0.01", "shop"), "0");
        assert_eq!(
            bucket("1.0", "shop"),
            format!("4 # {{trace_id=\"{c}\"}} 0.9 1795341613.250")
        );
        assert_eq!(bucket("+Inf", "shop"), "4");
        assert_eq!(bucket("0.05", "blog"), "5");
        assert_eq!(
            bucket("+Inf", "zeta"),
            format!("1 # {{trace_id=\"{a}\"}} 61 1795341614.250")
        );
        assert_eq!(om.matches(" # {trace_id=").count(), 3, "{om}");

        let classic = render(&reg, Format::Classic).unwrap();
        assert!(!classic.contains("trace_id"), "{classic}");
        let samples = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with("process_"))
                .map(|l| l.split(" # ").next().unwrap_or(l).to_owned())
                .collect()
        };
        assert_eq!(samples(&om), samples(&classic));
        if let Some((ok, said)) = promtool_check(&classic) {
            assert!(ok && said.trim().is_empty(), "promtool:\n{said}\n{classic}");
        }
        // Without trace ids, nothing is added.
        let plain = render(
            &snapshot_registry(Arc::new(crate::serve::api::fixture::snapshot())),
            Format::OpenMetrics,
        )
        .unwrap();
        assert!(!plain.contains(" # {"));
    }

    #[test]
    fn fixed_label_values_follow_the_pipeline() {
        assert_eq!(TRACKED_CODES.map(|c| c.to_string()), CODE_LABELS);
        assert_eq!(EVENT_NAMES[CHILD_TERMINATIONS], "fpm_child_terminations");
    }
}
