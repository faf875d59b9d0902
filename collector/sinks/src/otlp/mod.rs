//! OTLP/gRPC logs and metrics (being written).

use serde::Deserialize;

/// The `sinks.otlp:` section.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {}

impl OtlpConfig {
    pub fn problems(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}
