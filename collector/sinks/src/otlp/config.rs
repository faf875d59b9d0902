//! The `sinks.otlp:` section.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::retry::RetryConfig;
use crate::spool::SpoolConfig;

/// The largest `batch_bytes`: an OpenTelemetry Collector's OTLP receiver
/// refuses gRPC messages over 4 MiB unless its `max_recv_msg_size_mib` is
/// raised, and a batch is sealed only after the entry that filled it.
pub const MAX_BATCH_BYTES: u64 = 3 << 20;

/// The `sinks.otlp:` section: records as OTLP logs, the per-site series
/// as OTLP metrics, to an OpenTelemetry Collector's OTLP/gRPC receiver.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// The receiver, `http://host:4317` (or `https://` for TLS, verified
    /// against the system's roots).
    pub endpoint: String,
    /// gRPC metadata sent with every export (`authorization: Bearer ...`).
    /// Keys are lower-case; values plain ASCII.
    pub headers: BTreeMap<String, String>,
    /// Per-export timeout (also sent as `grpc-timeout`).
    pub timeout_secs: u64,
    /// Send every record as an OTLP log record.
    pub logs: bool,
    /// Send the per-site series as OTLP metrics.
    pub metrics: bool,
    /// How often the per-site series are exported.
    pub metrics_interval_secs: u64,
    /// A logs batch is sealed when its encoded records reach this many
    /// bytes ...
    pub batch_bytes: u64,
    /// ... or its oldest record waited this long.
    pub batch_wait_ms: u64,
    /// Resource attributes of every export (`deployment.environment.name:
    /// prod`, `k8s.cluster.name: eu-1`); `service.name` replaces the
    /// default `sitepulse`.
    pub resource_attributes: BTreeMap<String, String>,
    pub retry: RetryConfig,
    /// The spool of each signal: logs in `<spool_dir>/logs`, metrics in
    /// `<spool_dir>/metrics`, each up to `max_bytes`.
    pub spool: SpoolConfig,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: "http://127.0.0.1:4317".into(),
            headers: BTreeMap::new(),
            timeout_secs: 10,
            logs: true,
            metrics: true,
            metrics_interval_secs: 15,
            batch_bytes: 1 << 20,
            batch_wait_ms: 1_000,
            resource_attributes: BTreeMap::new(),
            retry: RetryConfig::default(),
            spool: SpoolConfig::default(),
        }
    }
}

/// A gRPC metadata key we may send as ASCII: lower-case letters, digits,
/// `-`, `_`, `.` (gRPC over HTTP/2, "Custom-Metadata"), not reserved
/// (`grpc-`), not binary (`-bin`), and not a header HTTP/2 or gRPC sets.
fn metadata_key_ok(k: &str) -> bool {
    !k.is_empty()
        && k.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.')
        })
        && !k.starts_with("grpc-")
        && !k.ends_with("-bin")
        && !matches!(
            k,
            "content-type" | "te" | "user-agent" | "host" | "connection"
        )
}

impl OtlpConfig {
    /// Problems, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let authority = self
            .endpoint
            .strip_prefix("http://")
            .or_else(|| self.endpoint.strip_prefix("https://"));
        match authority {
            Some(a) if !a.is_empty() && !a.starts_with('/') => {
                if tonic::transport::Endpoint::from_shared(self.endpoint.clone()).is_err() {
                    out.push(("endpoint".into(), "is not a valid URL".into()));
                }
            }
            _ => out.push((
                "endpoint".into(),
                "must be an http:// or https:// URL with a host (http://otel-collector:4317)"
                    .into(),
            )),
        }
        for (k, v) in &self.headers {
            if !metadata_key_ok(k) {
                out.push((
                    "headers".into(),
                    format!(
                        "{k:?} is not a gRPC metadata key we send (lower-case a-z 0-9 - _ ., \
                         not grpc-*, not *-bin)"
                    ),
                ));
            }
            if !v.bytes().all(|c| (0x20..0x7f).contains(&c)) {
                out.push((
                    "headers".into(),
                    format!("the value of {k:?} must be printable ASCII"),
                ));
            }
        }
        if self.timeout_secs == 0 {
            out.push(("timeout_secs".into(), "must be at least 1".into()));
        }
        if !self.logs && !self.metrics {
            out.push((
                "logs".into(),
                "logs and metrics are both off: remove the section instead".into(),
            ));
        }
        if self.metrics_interval_secs == 0 || self.metrics_interval_secs > 3_600 {
            out.push((
                "metrics_interval_secs".into(),
                "must be between 1 and 3600".into(),
            ));
        }
        if self.batch_bytes < 1024 || self.batch_bytes > MAX_BATCH_BYTES {
            out.push((
                "batch_bytes".into(),
                format!(
                    "must be between 1024 and {MAX_BATCH_BYTES} (a Collector refuses gRPC \
                     messages over 4 MiB by default)"
                ),
            ));
        }
        if self.batch_wait_ms == 0 {
            out.push(("batch_wait_ms".into(), "must be at least 1".into()));
        }
        for k in self.resource_attributes.keys() {
            if k.is_empty() {
                out.push((
                    "resource_attributes".into(),
                    "an attribute needs a name".into(),
                ));
            }
        }
        if self.spool.max_bytes < 2 * self.batch_bytes {
            out.push((
                "spool.max_bytes".into(),
                "must hold at least two batches (2 × batch_bytes)".into(),
            ));
        }
        out.extend(crate::nested("retry", self.retry.problems()));
        out.extend(crate::nested("spool", self.spool.problems()));
        out
    }
}
