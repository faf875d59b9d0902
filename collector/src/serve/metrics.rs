//! `GET /metrics`: self-metrics in the OpenMetrics text format, encoded by
//! prometheus-client from a scrape-time [`Collector`] over the latest
//! snapshots (no metric handle is touched on the hot path). Names follow
//! Promtail's and Vector's where they have one. A rendered body is reused
//! for scrapes of the same snapshots within 100 ms, so a crowd of
//! scrapers costs one encoding per snapshot.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::api::status_json;
use super::{AppState, HttpStats};
use crate::run::{LiveState, SourceCounts};

/// The OpenMetrics text content type (what Prometheus asks for first).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry `/metrics` encodes: one collector over the snapshots and
/// the HTTP server's counters, every name prefixed `sitepulse_`.
pub fn registry(live: LiveState, http: Arc<HttpStats>) -> Registry {
    let mut r = Registry::with_prefix("sitepulse");
    r.register_collector(Box::new(SelfMetrics { live, http }));
    r
}

#[derive(Debug)]
struct SelfMetrics {
    live: LiveState,
    http: Arc<HttpStats>,
}

/// A counter family without labels.
fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let m = ConstCounter::new(v);
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

/// A gauge family without labels.
fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> fmt::Result {
    let m = ConstGauge::new(v);
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

/// A family with one sample per label set.
fn family<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (Vec<(&'a str, String)>, u64)>,
) -> fmt::Result {
    let mut fam = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in rows {
        let sample = fam.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(v).encode(sample)?,
            _ => ConstGauge::new(v as i64).encode(sample)?,
        }
    }
    Ok(())
}

impl Collector for SelfMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = status_json(&self.live);
        let e = &mut enc;
        gauge(
            e,
            "files_watched",
            "Paths being followed.",
            s.files_watched as f64,
        )?;
        let per_file = |get: fn(&super::api::FileJson) -> u64| {
            s.files.iter().map(move |f| {
                let labels = vec![("path", f.path.clone()), ("ino", f.ino.to_string())];
                (labels, get(f))
            })
        };
        family(
            e,
            "file_read_offset_bytes",
            "Offset just after the last line read, per open file.",
            MetricType::Gauge,
            per_file(|f| f.read_offset),
        )?;
        family(
            e,
            "file_behind_bytes",
            "File size minus read offset, per open file.",
            MetricType::Gauge,
            per_file(|f| f.behind_bytes),
        )?;
        gauge(
            e,
            "behind_bytes",
            "Bytes written to tailed files and not read yet.",
            s.behind_bytes as f64,
        )?;
        let per_format = |get: fn(&SourceCounts) -> u64| {
            s.sources
                .iter()
                .map(move |(fmt, c)| (vec![("format", (*fmt).to_owned())], get(c)))
        };
        for (name, help, get) in [
            (
                "read_lines",
                "Physical lines read, by detected format.",
                (|c: &SourceCounts| c.lines) as fn(&SourceCounts) -> u64,
            ),
            ("read_bytes", "Bytes read, by detected format.", |c| c.bytes),
            ("records", "Records parsed, by format.", |c| c.records),
            (
                "truncated_lines",
                "Lines cut at max_line_bytes, by format.",
                |c| c.truncated,
            ),
        ] {
            family(e, name, help, MetricType::Counter, per_format(get))?;
        }
        family(
            e,
            "parse_errors",
            "Lines that did not parse, by format and reason.",
            MetricType::Counter,
            s.sources.iter().flat_map(|(fmt, c)| {
                c.unparsed.iter().map(move |(reason, n)| {
                    let labels = vec![
                        ("format", (*fmt).to_owned()),
                        ("reason", (*reason).to_owned()),
                    ];
                    (labels, *n)
                })
            }),
        )?;
        let t = &s.tail;
        let counters: [(&str, &str, u64); 16] = [
            (
                "rotations",
                "Rotations seen (rename-and-create, symlink swaps).",
                s.rotations,
            ),
            (
                "truncations",
                "Truncations seen (copytruncate).",
                s.truncations,
            ),
            (
                "copy_recovered_bytes",
                "Bytes read from a rotated copy after a truncation.",
                s.copy_recovered_bytes,
            ),
            (
                "files_closed",
                "Files closed after they were rotated away or deleted and drained.",
                t.files_closed,
            ),
            ("tail_scans", "Discovery scans.", t.scans),
            ("tail_sweeps", "Full sweeps (every file checked).", t.sweeps),
            ("tail_read_errors", "Poll errors.", t.read_errors),
            ("inotify_overflows", "inotify queue overflows.", t.overflows),
            (
                "inotify_watch_errors",
                "inotify watches that could not be added.",
                t.watch_errors,
            ),
            (
                "checkpoint_saves",
                "Checkpoint files written.",
                s.checkpoint.saves,
            ),
            (
                "checkpoint_save_failures",
                "Checkpoint saves that failed (each retry counts).",
                s.checkpoint.failures,
            ),
            (
                "checkpoint_quarantined",
                "Corrupt checkpoint files moved aside at start.",
                u64::from(s.checkpoint.quarantined.is_some()),
            ),
            (
                "late_records",
                "Records dated before the retention window.",
                s.late_records,
            ),
            (
                "future_records",
                "Records dated too far in the future.",
                s.future_records,
            ),
            (
                "unknown_site_records",
                "Records no site could be found for.",
                s.unknown_site_records,
            ),
            ("tap_errors", "Tap write errors.", s.tap_errors),
        ];
        for (name, help, v) in counters {
            counter(e, name, help, v)?;
        }
        let gauges: [(&str, &str, f64); 7] = [
            (
                "inotify_enabled",
                "1 when inotify wakes the tailer, 0 when it polls.",
                f64::from(u8::from(t.inotify)),
            ),
            (
                "inotify_dirs_watched",
                "Directories under inotify watch.",
                t.dirs_watched as f64,
            ),
            (
                "checkpoint_age_seconds",
                "Seconds since the last checkpoint save (-1: none yet).",
                s.checkpoint.age_secs.unwrap_or(-1.0),
            ),
            (
                "checkpoint_failing",
                "1 while checkpoint saves fail (the last one failed), else 0.",
                f64::from(u8::from(s.checkpoint.error.is_some())),
            ),
            (
                "snapshot_age_seconds",
                "Age of the per-site snapshot readers are served (-1: none yet).",
                s.snapshot_age_secs.unwrap_or(-1.0),
            ),
            ("sites", "Sites in the site table.", s.sites as f64),
            (
                "uptime_seconds",
                "Seconds since start.",
                s.uptime_secs as f64,
            ),
        ];
        for (name, help, v) in gauges {
            gauge(e, name, help, v)?;
        }
        let h = &self.http;
        gauge(
            e,
            "http_connections_open",
            "HTTP connections open now.",
            h.open.load(Ordering::Relaxed) as f64,
        )?;
        for (name, help, v) in [
            (
                "http_connections_accepted",
                "HTTP connections accepted.",
                &h.accepted,
            ),
            (
                "http_connections_rejected",
                "HTTP connections refused at server.max_connections.",
                &h.rejected,
            ),
            ("http_accept_errors", "accept(2) errors.", &h.accept_errors),
        ] {
            counter(e, name, help, v.load(Ordering::Relaxed))?;
        }
        Ok(())
    }
}

/// `/metrics`. Asks the reader for a fresher file list for the next scrape
/// without waiting for it.
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    st.live.want_tail();
    let tenth = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() / 100) as u64;
    let key = (st.live.published().seq, st.live.tail().seq, tenth);
    let cached = st.cache.metrics.load_full();
    let body = match cached.as_deref() {
        Some((k, text)) if *k == key => text.clone(),
        _ => {
            let mut text = String::with_capacity(8192);
            if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &st.registry) {
                tracing::error!(error = %e, "encoding /metrics failed");
            }
            st.cache.metrics.store(Some(Arc::new((key, text.clone()))));
            text
        }
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_openmetrics_from_the_snapshots() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let live = LiveState::new(tx, "/tmp/c.json".into(), None);
        let http = Arc::new(HttpStats::default());
        http.rejected.fetch_add(3, Ordering::Relaxed);
        let reg = registry(live, http);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        assert!(
            text.contains("# TYPE sitepulse_read_lines counter\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE sitepulse_checkpoint_age_seconds gauge\n"));
        assert!(
            text.contains("sitepulse_checkpoint_age_seconds -1.0\n"),
            "{text}"
        );
        assert!(
            text.contains("sitepulse_http_connections_rejected_total 3\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
