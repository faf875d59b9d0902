//! The Kubernetes external metrics API (`external.metrics.k8s.io/v1beta1`)
//! over TLS. (Being written: the config, [`quantity`] and [`selector`] so
//! far.)
//!
//! - [`selector`]: the metric name and `labelSelector` of a request;
//! - [`quantity`]: values as canonical Kubernetes Quantity strings.

pub mod quantity;
pub mod selector;

use serde::Deserialize;

use super::AutoscaleConfigError;

/// `autoscale.external_metrics:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalMetricsConfig {
    /// Address of the HTTPS server; empty (the default) turns it off.
    pub listen: String,
}

impl ExternalMetricsConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// The first unusable field.
    pub fn validate(&self) -> Result<(), AutoscaleConfigError> {
        if !self.listen.is_empty() {
            crate::listen::Listen::parse(&self.listen).map_err(|message| AutoscaleConfigError {
                field: "external_metrics.listen".into(),
                message,
            })?;
        }
        Ok(())
    }
}
