//! sitepulse's sinks: where records and per-site series leave the node.
//!
//! - [`loki`]: every record as a Loki log entry (push API, protobuf +
//!   snappy, or JSON), low-cardinality stream labels, the rest as
//!   structured metadata.
//! - [`remote_write`]: the per-site series of `/metrics`, pushed with
//!   Prometheus remote_write 1.0.
//! - [`otlp`]: records as OTLP logs and the per-site series as OTLP
//!   metrics, over gRPC.
//!
//! Every sink is at-least-once behind its own bounded on-disk
//! [`spool`]: the pipeline thread encodes batches into the spool (and syncs
//! it before a checkpoint passes their lines); a sender task per sink
//! drains it in order ([`send::run_sender`]), retrying with backoff and
//! jitter ([`retry`]). A full spool refuses frames (`when_full: block`):
//! the caller then holds the files' shipping cursors back and re-reads
//! later, or drops the oldest frames, counted ([`stats`]).
//!
//! Nothing here reads a log file or the pipeline's state: records come in
//! through the pipeline's `Observer`, per-site numbers as `SitesSnapshot`s.

pub mod entry;
pub mod http;
pub mod logs;
pub mod loki;
pub mod otlp;
pub mod remote_write;
pub mod retry;
pub mod send;
pub mod series;
pub mod spool;
pub mod stats;

use std::sync::Arc;

use serde::Deserialize;
use sitepulse_pipeline::snapshot::SitesSnapshot;

/// Where the metrics sinks read per-site numbers: the latest published
/// snapshot (the same the HTTP API and /metrics read), and the wall-clock
/// time it was taken, Unix milliseconds.
pub type SnapshotSource = Arc<dyn Fn() -> (Arc<SitesSnapshot>, u64) + Send + Sync>;

/// The `sinks:` section.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinksConfig {
    /// Where each sink keeps its spool (`<spool_dir>/<sink>/`); `auto` is
    /// `spool/` beside the checkpoint file.
    pub spool_dir: String,
    /// Loki's push API.
    pub loki: Option<loki::LokiConfig>,
    /// Prometheus remote_write.
    pub prometheus_remote_write: Option<remote_write::RemoteWriteConfig>,
    /// An OpenTelemetry Collector (OTLP/gRPC).
    pub otlp: Option<otlp::OtlpConfig>,
}

/// A sink that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("spool: {0}")]
    Spool(#[from] spool::SpoolError),
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("{0}")]
    Other(String),
}

/// One problem in the `sinks:` section: a field path below `sinks` and
/// what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl SinksConfig {
    /// Every problem, with its field path (`loki.batch_bytes`).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut add = |prefix: &str, list: Vec<(String, String)>| {
            for (f, m) in list {
                out.push(Problem {
                    field: format!("{prefix}.{f}"),
                    message: m,
                });
            }
        };
        if let Some(l) = &self.loki {
            add("loki", l.problems());
        }
        if let Some(r) = &self.prometheus_remote_write {
            add("prometheus_remote_write", r.problems());
        }
        if let Some(o) = &self.otlp {
            add("otlp", o.problems());
        }
        out
    }

    /// Whether any sink is configured.
    pub fn any(&self) -> bool {
        self.loki.is_some() || self.prometheus_remote_write.is_some() || self.otlp.is_some()
    }
}

/// Prefixes nested problems (`spool.max_bytes`).
pub(crate) fn nested(prefix: &str, list: Vec<(&'static str, String)>) -> Vec<(String, String)> {
    list.into_iter()
        .map(|(f, m)| (format!("{prefix}.{f}"), m))
        .collect()
}
