//! KEDA's external scaler: the `externalscaler.ExternalScaler` gRPC
//! service. (Being written: config only so far.)

use serde::Deserialize;

use super::AutoscaleConfigError;

/// `autoscale.keda:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KedaConfig {
    /// Address of the gRPC service; empty turns it off.
    pub listen: String,
}

impl Default for KedaConfig {
    fn default() -> Self {
        KedaConfig {
            listen: "127.0.0.1:9465".into(),
        }
    }
}

impl KedaConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// An address that cannot be listened on.
    pub fn validate(&self) -> Result<(), AutoscaleConfigError> {
        if !self.listen.is_empty() {
            crate::listen::Listen::parse(&self.listen).map_err(|message| AutoscaleConfigError {
                field: "keda.listen".into(),
                message,
            })?;
        }
        Ok(())
    }
}
