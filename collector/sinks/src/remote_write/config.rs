//! The `sinks.prometheus_remote_write:` section.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::retry::RetryConfig;
use crate::series::LABEL_NAMES;
use crate::spool::SpoolConfig;

/// Headers the sink sets itself (the specification's); `headers` may not
/// replace them.
pub const OWN_HEADERS: [&str; 3] = [
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
];

/// The `sinks.prometheus_remote_write:` section: the per-site series of
/// `/metrics`, pushed every `interval_secs` to a Prometheus remote_write
/// 1.0 receiver (Prometheus with `--web.enable-remote-write-receiver`,
/// Mimir, Thanos Receive, VictoriaMetrics, ...).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    /// The write URL (`http://prometheus:9090/api/v1/write`,
    /// `http://mimir:8080/api/v1/push`).
    pub endpoint: String,
    /// Seconds between two pushes: each push is one sample of every series
    /// at the snapshot's time, like one scrape.
    pub interval_secs: u64,
    /// Per-request timeout.
    pub timeout_secs: u64,
    /// Extra request headers (`Authorization: Bearer ...`,
    /// `X-Scope-OrgID` for Mimir tenants).
    pub headers: BTreeMap<String, String>,
    /// Labels every series gets (`node: web-3`, `cluster: eu-1`), as
    /// Prometheus' `external_labels`: they tell apart the nodes that push
    /// the same sites.
    pub external_labels: BTreeMap<String, String>,
    pub retry: RetryConfig,
    pub spool: SpoolConfig,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            endpoint: String::new(),
            interval_secs: 15,
            timeout_secs: 10,
            headers: BTreeMap::new(),
            external_labels: BTreeMap::new(),
            retry: RetryConfig::default(),
            spool: SpoolConfig::default(),
        }
    }
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name_ok(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl RemoteWriteConfig {
    /// Problems, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            out.push((
                "endpoint".into(),
                "must be an http:// or https:// URL (http://prometheus:9090/api/v1/write)".into(),
            ));
        }
        if !(1..=3600).contains(&self.interval_secs) {
            out.push(("interval_secs".into(), "must be between 1 and 3600".into()));
        }
        if self.timeout_secs == 0 {
            out.push(("timeout_secs".into(), "must be at least 1".into()));
        }
        for (k, v) in &self.external_labels {
            if !label_name_ok(k) || k.starts_with("__") {
                out.push((
                    "external_labels".into(),
                    format!(
                        "{k:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                    ),
                ));
            } else if LABEL_NAMES.contains(&k.as_str()) {
                out.push((
                    "external_labels".into(),
                    format!(
                        "{k:?} is a label of the series themselves ({})",
                        LABEL_NAMES.join(", ")
                    ),
                ));
            }
            if v.is_empty() {
                // Prometheus treats an empty value as no label at all.
                out.push((
                    "external_labels".into(),
                    format!("{k:?} has an empty value"),
                ));
            }
        }
        for (k, v) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                out.push(("headers".into(), format!("{k:?} is not a header name")));
            } else if OWN_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                out.push((
                    "headers".into(),
                    format!("{k:?} is set by the sink (remote_write 1.0 fixes it)"),
                ));
            }
            if reqwest::header::HeaderValue::from_str(v).is_err() {
                out.push((
                    "headers".into(),
                    format!("the value of {k:?} is not a valid header value"),
                ));
            }
        }
        out.extend(crate::nested("retry", self.retry.problems()));
        out.extend(crate::nested("spool", self.spool.problems()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_only_an_endpoint() {
        let mut cfg = RemoteWriteConfig::default();
        let fields: Vec<String> = cfg.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["endpoint"]);
        cfg.endpoint = "http://127.0.0.1:9090/api/v1/write".into();
        assert!(cfg.problems().is_empty());
        assert_eq!(cfg.interval_secs, 15);
    }

    #[test]
    fn parses_and_names_each_problem() {
        let cfg: RemoteWriteConfig = serde_json::from_value(serde_json::json!({
            "endpoint": "prometheus:9090",
            "interval_secs": 0,
            "timeout_secs": 0,
            "headers": {"Authorization": "Bearer x", "Content-Type": "text/plain", "bad name": "v"},
            "external_labels": {"node": "web-3", "site": "x", "__x": "y", "empty": ""},
            "spool": {"max_bytes": 1024},
        }))
        .unwrap();
        let got: Vec<(String, String)> = cfg.problems();
        let fields: Vec<&str> = got.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            fields,
            [
                "endpoint",
                "interval_secs",
                "timeout_secs",
                "external_labels",
                "external_labels",
                "external_labels",
                "headers",
                "headers",
                "spool.max_bytes",
                "spool.segment_bytes",
            ],
            "{got:#?}"
        );
        assert!(got[3].1.contains("__x"), "{got:?}");
        assert!(got[4].1.contains("empty"), "{got:?}");
        assert!(got[5].1.contains("series themselves"), "{got:?}");
        assert!(
            serde_json::from_value::<RemoteWriteConfig>(serde_json::json!({"url": "x"})).is_err()
        );
    }
}
