//! `GET /metrics`: the collector's own metrics, the `process_*` family and
//! per-site metrics, encoded by prometheus-client from scrape-time
//! collectors over the latest snapshots (no metric handle is touched on the
//! hot path). OpenMetrics text when the scraper's `Accept` header prefers
//! it (Prometheus does), the classic text format 0.0.4 otherwise (older
//! scrapers, `curl`). A rendered body is reused for scrapes of the same
//! snapshots and format within 100 ms, so a crowd of scrapers costs one
//! encoding per snapshot. Every family is listed in `docs/metrics.md`.

mod classic;
mod fpm;
mod keda;
mod own;
mod process;
mod sinks;
mod sites;
mod slo;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use sitepulse_pipeline::snapshot::SitesSnapshot;

pub use own::OwnMetrics;
pub use process::{ProcessMetrics, ProcessStats};
pub use sites::{SiteMetrics, encode_sites};

use super::{AppState, HttpStats};
use crate::run::LiveState;

/// The two exposition formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// The classic Prometheus text format, version 0.0.4.
    Classic,
}

impl Format {
    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format an `Accept` header asks for: its most preferred (highest
    /// `q`, then first) entry that is OpenMetrics text (any version) or
    /// `text/plain`/`*/*`; classic text when none is, or without a header
    /// (as client_golang's `expfmt.NegotiateIncludingOpenMetrics` does).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Classic;
        };
        let mut best: Option<(f32, Format)> = None;
        for entry in accept.split(',') {
            let mut parts = entry.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = v.parse().unwrap_or(0.0);
                }
            }
            let format = match media.as_str() {
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" | "text/*" | "*/*" => Format::Classic,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Classic, |(_, f)| f)
    }

    /// Its name in `sitepulse_http_metrics_scrapes_total{format}`.
    pub fn name(self) -> &'static str {
        match self {
            Format::OpenMetrics => "openmetrics",
            Format::Classic => "classic",
        }
    }

    fn index(self) -> usize {
        match self {
            Format::OpenMetrics => 0,
            Format::Classic => 1,
        }
    }
}

/// `sitepulse_build_info{version,revision} 1`: `version` from Cargo,
/// `revision` the git commit `build.rs` found (`unknown` without one).
fn build_info(r: &mut Registry) {
    let labels = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("revision", env!("SITEPULSE_REVISION")),
    ];
    r.register(
        "build",
        "The version and git revision sitepulse was built from",
        Info::new(labels),
    );
}

/// The registry `/metrics` encodes: the `process_*` family, and under the
/// `sitepulse_` prefix the build info, the self-metrics over the snapshots
/// and the HTTP server's counters, and the per-site families.
pub fn registry(live: LiveState, http: Arc<HttpStats>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(ProcessMetrics));
    r.register_collector(Box::new(fpm::FpmMetrics::new(live.clone())));
    let s = r.sub_registry_with_prefix("sitepulse");
    build_info(s);
    s.register_collector(Box::new(OwnMetrics::new(live.clone(), http)));
    s.register_collector(Box::new(ScrapeCounts));
    s.register_collector(Box::new(SiteMetrics::live(live)));
    r
}

/// A registry with the `process_*` family, the build info and the
/// per-site families of one fixed snapshot: what a scrape encodes, less
/// the self-metrics (benchmarks, tests).
pub fn snapshot_registry(snap: Arc<SitesSnapshot>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(ProcessMetrics));
    let s = r.sub_registry_with_prefix("sitepulse");
    build_info(s);
    s.register_collector(Box::new(SiteMetrics::fixed(snap)));
    r
}

/// Encodes `registry` in `format`.
///
/// # Errors
/// A collector's `fmt::Error` (none of ours returns one but the writer's,
/// and a `String` never fails).
pub fn render(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut om = String::with_capacity(64 * 1024);
    text::encode(&mut om, registry)?;
    let om = sites::with_exemplars(om);
    Ok(match format {
        Format::OpenMetrics => om,
        Format::Classic => {
            let mut out = String::with_capacity(om.len());
            classic::convert(&om, &mut out);
            out
        }
    })
}

/// `/metrics` requests answered, per format (process-wide, like the
/// `process_*` family: one server per process).
static SCRAPES: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// `sitepulse_http_metrics_scrapes_total{format}`: which format scrapers
/// get.
#[derive(Debug, Default)]
struct ScrapeCounts;

impl Collector for ScrapeCounts {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let mut fam = enc.encode_descriptor(
            "http_metrics_scrapes",
            "/metrics requests answered, by the format the Accept header chose.",
            None,
            MetricType::Counter,
        )?;
        for f in [Format::OpenMetrics, Format::Classic] {
            let n = SCRAPES[f.index()].load(Ordering::Relaxed);
            ConstCounter::new(n).encode(fam.encode_family(&[("format", f.name())])?)?;
        }
        Ok(())
    }
}

/// A rendered body with the (published, tail) `seq`s and the tenth of a
/// second it was rendered in.
type Rendered = ((u64, u64, u64), Bytes);

/// Rendered `/metrics` bodies, one per format.
#[derive(Debug, Default)]
pub struct MetricsCache {
    bodies: [arc_swap::ArcSwapOption<Rendered>; 2],
}

/// `/metrics`. Asks the reader for a fresher file list for the next scrape
/// without waiting for it.
pub async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    SCRAPES[format.index()].fetch_add(1, Ordering::Relaxed);
    st.live.want_tail();
    let tenth = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() / 100) as u64;
    let key = (st.live.published().seq, st.live.tail().seq, tenth);
    let slot = &st.cache.metrics.bodies[format.index()];
    let body = match slot.load_full().as_deref() {
        Some((k, body)) if *k == key => body.clone(),
        _ => {
            let text = render(&st.registry, format).unwrap_or_else(|e| {
                tracing::error!(error = %e, "encoding /metrics failed");
                String::new()
            });
            let body = Bytes::from(text);
            slot.store(Some(Arc::new((key, body.clone()))));
            body
        }
    };
    ([(header::CONTENT_TYPE, format.content_type())], body)
}

#[cfg(test)]
mod tests;
