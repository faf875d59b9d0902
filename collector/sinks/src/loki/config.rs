//! The `sinks.loki:` section.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::entry::FIELDS;
use crate::retry::RetryConfig;
use crate::spool::SpoolConfig;

/// How a push request is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// `logproto.PushRequest`, snappy block-compressed (what Promtail and
    /// Alloy send).
    #[default]
    Protobuf,
    /// The JSON form of the push API (structured metadata as each value's
    /// third element).
    Json,
}

/// The `sinks.loki:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LokiConfig {
    /// The push URL (`http://loki:3100/loki/api/v1/push`).
    pub endpoint: String,
    pub encoding: Encoding,
    /// Stream labels, from the fields a record has (see docs/sinks.md):
    /// keep them few and bounded.
    pub labels: Vec<String>,
    /// Labels every stream gets (`cluster: eu-1`).
    pub static_labels: BTreeMap<String, String>,
    /// Fields sent as structured metadata, not labels (high cardinality).
    pub structured_metadata: Vec<String>,
    /// `X-Scope-OrgID` for sites no `tenants` entry names; empty: none.
    pub tenant_id: String,
    /// Per-tenant site lists: a site named here goes to that tenant.
    pub tenants: BTreeMap<String, Vec<String>>,
    /// A batch is sealed when its lines reach this many bytes ...
    pub batch_bytes: u64,
    /// ... or its oldest line waited this long.
    pub batch_wait_ms: u64,
    /// Per-request timeout.
    pub timeout_secs: u64,
    /// Extra request headers (`Authorization`).
    pub headers: BTreeMap<String, String>,
    pub retry: RetryConfig,
    pub spool: SpoolConfig,
}

impl Default for LokiConfig {
    fn default() -> Self {
        LokiConfig {
            endpoint: String::new(),
            encoding: Encoding::Protobuf,
            labels: ["site", "source", "level", "namespace", "node"]
                .map(String::from)
                .to_vec(),
            static_labels: BTreeMap::new(),
            structured_metadata: [
                "pod",
                "container",
                "file",
                "method",
                "path",
                "status",
                "trace_id",
            ]
            .map(String::from)
            .to_vec(),
            tenant_id: String::new(),
            tenants: BTreeMap::new(),
            batch_bytes: 1 << 20,
            batch_wait_ms: 1_000,
            timeout_secs: 10,
            headers: BTreeMap::new(),
            retry: RetryConfig::default(),
            spool: SpoolConfig::default(),
        }
    }
}

/// A Prometheus/Loki label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name_ok(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl LokiConfig {
    /// Problems, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let allowed = FIELDS.join(", ");
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            out.push((
                "endpoint".into(),
                "must be an http:// or https:// URL (http://loki:3100/loki/api/v1/push)".into(),
            ));
        }
        if self.labels.is_empty() && self.static_labels.is_empty() {
            out.push((
                "labels".into(),
                "a stream needs at least one label (Loki refuses a stream without one)".into(),
            ));
        }
        for (key, list) in [
            ("labels", &self.labels),
            ("structured_metadata", &self.structured_metadata),
        ] {
            for f in list {
                if !FIELDS.contains(&f.as_str()) {
                    out.push((
                        key.into(),
                        format!("unknown field {f:?}; allowed: {allowed}"),
                    ));
                }
            }
        }
        for f in &self.labels {
            if self.structured_metadata.contains(f) {
                out.push((
                    "structured_metadata".into(),
                    format!("{f:?} is already a label"),
                ));
            }
        }
        for k in self.static_labels.keys() {
            if !label_name_ok(k) {
                out.push((
                    "static_labels".into(),
                    format!("{k:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                ));
            }
        }
        if self.batch_bytes < 1024 || self.batch_bytes > 64 << 20 {
            out.push((
                "batch_bytes".into(),
                "must be between 1024 and 67108864".into(),
            ));
        }
        if self.batch_wait_ms == 0 {
            out.push(("batch_wait_ms".into(), "must be at least 1".into()));
        }
        if self.timeout_secs == 0 {
            out.push(("timeout_secs".into(), "must be at least 1".into()));
        }
        if self.spool.max_bytes >= 1 << 20 && self.spool.max_bytes < 2 * self.batch_bytes {
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
