//! Prometheus remote_write 1.0 (being written).

use serde::Deserialize;

/// The `sinks.prometheus_remote_write:` section.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {}

impl RemoteWriteConfig {
    pub fn problems(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}
