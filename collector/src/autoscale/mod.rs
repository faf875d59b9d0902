//! What autoscalers read: per-site values (request rate, rate per pod,
//! in-flight, p95, error ratio, PHP-FPM queue and busy workers) answered
//! from the latest snapshots, fresh to the second, through the three
//! interfaces a Kubernetes farm scales with:
//!
//! - [`keda`]: KEDA's external scaler gRPC service (`externalscaler.proto`),
//!   on its own port (`autoscale.keda.listen`, 9465);
//! - [`metrics_api`]: `GET /api/v1/autoscale/{site}` JSON for KEDA's
//!   `metrics-api` scaler, on the main HTTP port;
//! - [`external`]: the Kubernetes external metrics API
//!   (`external.metrics.k8s.io/v1beta1`) over TLS, for the HPA where KEDA
//!   is not installed.
//!
//! [`query`] is the vocabulary they share (site, metric, window, target);
//! [`values`] reads the snapshots and refuses missing or stale data rather
//! than answering 0. docs/autoscale.md is the user's side of it.

pub mod external;
pub mod keda;
pub mod metrics_api;
pub mod query;
pub mod start;
pub mod values;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Deserialize;

use values::Freshness;

/// `autoscale:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoscaleConfig {
    /// KEDA's external scaler (gRPC).
    pub keda: keda::KedaConfig,
    /// KEDA's metrics-api scaler (`/api/v1/autoscale/{site}`).
    pub metrics_api: metrics_api::MetricsApiConfig,
    /// The Kubernetes external metrics API (off unless `listen` is set).
    pub external_metrics: external::ExternalMetricsConfig,
    /// How old data may be before an answer is refused.
    pub freshness: FreshnessConfig,
}

/// `autoscale.freshness:`: past these ages an answer is an error, so the
/// autoscaler keeps its fallback instead of scaling on old numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreshnessConfig {
    /// The pipeline's per-site snapshot (published every
    /// `server.publish_interval_ms`, 250 ms by default).
    pub max_snapshot_age_secs: u64,
    /// A PHP-FPM pool's last good scrape.
    pub max_fpm_age_secs: u64,
    /// The Kubernetes API's pod counts.
    pub max_pods_age_secs: u64,
}

impl Default for FreshnessConfig {
    fn default() -> Self {
        let f = Freshness::default();
        FreshnessConfig {
            max_snapshot_age_secs: f.max_snapshot_age.as_secs(),
            max_fpm_age_secs: f.max_fpm_age.as_secs(),
            max_pods_age_secs: f.max_pods_age.as_secs(),
        }
    }
}

impl FreshnessConfig {
    /// The limits as durations.
    pub fn limits(&self) -> Freshness {
        Freshness {
            max_snapshot_age: Duration::from_secs(self.max_snapshot_age_secs),
            max_fpm_age: Duration::from_secs(self.max_fpm_age_secs),
            max_pods_age: Duration::from_secs(self.max_pods_age_secs),
        }
    }
}

/// An `autoscale:` field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("autoscale.{field}: {message}")]
pub struct AutoscaleConfigError {
    /// The field, relative to `autoscale:`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl AutoscaleConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// The first [`AutoscaleConfigError`].
    pub fn validate(&self) -> Result<(), AutoscaleConfigError> {
        let f = &self.freshness;
        for (field, v) in [
            ("freshness.max_snapshot_age_secs", f.max_snapshot_age_secs),
            ("freshness.max_fpm_age_secs", f.max_fpm_age_secs),
            ("freshness.max_pods_age_secs", f.max_pods_age_secs),
        ] {
            if !(1..=3600).contains(&v) {
                return Err(AutoscaleConfigError {
                    field: field.into(),
                    message: format!("must be between 1 and 3600, got {v}"),
                });
            }
        }
        self.keda.validate()?;
        self.metrics_api.validate()?;
        self.external_metrics.validate()?;
        Ok(())
    }
}
