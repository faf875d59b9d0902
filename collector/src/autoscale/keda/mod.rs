//! KEDA's external scaler: the `externalscaler.ExternalScaler` gRPC
//! service (`collector/proto/externalscaler.proto`, KEDA's own), answered
//! from the latest snapshots through [`View`](super::values::View).
//!
//! # The trigger contract
//!
//! ```yaml
//! apiVersion: keda.sh/v1alpha1
//! kind: ScaledObject
//! metadata: { name: site042, namespace: sites }
//! spec:
//!   scaleTargetRef: { name: site042 }
//!   minReplicaCount: 1
//!   maxReplicaCount: 16
//!   triggers:
//!     - type: external            # or external-push (StreamIsActive)
//!       metadata:
//!         scalerAddress: sitepulse.monitoring.svc:9465
//!         site: site042           # or siteFromEnv: SITE (a variable of the target's container)
//!         metric: rps             # rps (default), rps_per_pod, inflight, fpm_queue,
//!                                 # fpm_busy_ratio, fpm_active, p95_ms, error_ratio,
//!                                 # fpm_max_children_rate, fpm_slow_rate
//!         target: "15"            # per pod (required, > 0)
//!         activationThreshold: "1" # optional: active above it (default 0)
//!         window: 1m              # optional: 1m (default) or 5m
//! ```
//!
//! - `GetMetricSpec` answers one metric, named [`Query::metric_name`]
//!   (`site042-rps`; KEDA prefixes `s{trigger index}-`), with `target` in
//!   `targetSizeFloat` and, rounded up (at least 1), in the deprecated
//!   `targetSize`. KEDA's default metric type is `AverageValue`: the HPA
//!   divides the value by the pod count and compares it with the target.
//! - `GetMetrics` answers that metric's value for the whole site (not per
//!   pod), in `metricValueFloat` and, rounded, in `metricValue`. A
//!   `metricName` other than the trigger's is refused (InvalidArgument).
//! - `IsActive` is `value > activationThreshold`. `StreamIsActive` sends
//!   the state at once and then each change, checked every
//!   [`STREAM_CHECK`]; it ends when KEDA goes away, when the server shuts
//!   down, or with the error once the value cannot be read (KEDA logs it
//!   and opens a new stream after its backoff).
//! - `StreamMetricSpec` answers Unimplemented: a trigger's target comes
//!   from its own metadata and never changes, and KEDA then keeps using
//!   `GetMetricSpec` (kedacore/keda `pkg/scalers/external_scaler.go`,
//!   `streamMetricSpecOnce`).
//!
//! Errors are statuses with a message, never a 0: a bad key in the
//! metadata is InvalidArgument naming the key; an unknown site NotFound;
//! no snapshot yet or a stale one Unavailable; a metric the site cannot
//! have (`fpm_queue` of pools on Unix sockets, FPM metrics without a
//! status target) FailedPrecondition. KEDA then logs the error, and
//! `GetMetrics` errors make the ScaledObject use its `fallback` replicas
//! when one is set.
//!
//! What KEDA sends, from kedacore/keda `pkg/scalers/external_scaler.go`
//! (`parseExternalScalerMetadata`, `GetMetricsAndActivity`): the trigger's
//! metadata as written, except that a `…FromEnv` key carries the
//! variable's *value* (under the same key), and is left out when the
//! container has no such variable; `enableTLS` and `unsafeSsl` are KEDA's
//! own keys and pass through. `GetMetrics` carries the metric name without
//! KEDA's `sN-` prefix, and KEDA calls `IsActive` right after it.

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod externalscaler;
mod service;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::AutoscaleConfigError;
use super::values::Freshness;
use crate::run::LiveState;
use externalscaler::external_scaler_server::ExternalScalerServer;

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

/// How often an open `StreamIsActive` reads the value again. Snapshots
/// are published every second, so a change reaches KEDA within about
/// 1.1 s; a check is one snapshot load and a hash lookup.
pub const STREAM_CHECK: Duration = Duration::from_millis(100);

/// HTTP/2 pings on idle connections, so the stream of a KEDA that
/// vanished (a node lost, no FIN) ends within a minute instead of at the
/// TCP timeout.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The service could not run.
#[derive(Debug, thiserror::Error)]
pub enum KedaError {
    /// The gRPC server failed (accepting connections).
    #[error("KEDA external scaler: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// The service's methods, for [`KedaStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `IsActive`.
    IsActive,
    /// `StreamIsActive`.
    StreamIsActive,
    /// `GetMetricSpec`.
    GetMetricSpec,
    /// `GetMetrics`.
    GetMetrics,
    /// `StreamMetricSpec` (always Unimplemented).
    StreamMetricSpec,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 5] = [
        Method::IsActive,
        Method::StreamIsActive,
        Method::GetMetricSpec,
        Method::GetMetrics,
        Method::StreamMetricSpec,
    ];

    /// The gRPC method name (`GetMetrics`), for a `method` label.
    pub fn name(self) -> &'static str {
        match self {
            Method::IsActive => "IsActive",
            Method::StreamIsActive => "StreamIsActive",
            Method::GetMetricSpec => "GetMetricSpec",
            Method::GetMetrics => "GetMetrics",
            Method::StreamMetricSpec => "StreamMetricSpec",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Calls and errors per method, counted by the service; cheap to read at
/// scrape time.
#[derive(Debug, Default)]
pub struct KedaStats {
    calls: [AtomicU64; 5],
    errors: [AtomicU64; 5],
    streams_open: AtomicU64,
}

impl KedaStats {
    /// Calls of `m` so far (a stream counts once, when opened).
    pub fn calls(&self, m: Method) -> u64 {
        self.calls[m.index()].load(Ordering::Relaxed)
    }

    /// Calls of `m` answered with an error status so far (a stream that
    /// ends with one counts too).
    pub fn errors(&self, m: Method) -> u64 {
        self.errors[m.index()].load(Ordering::Relaxed)
    }

    /// `StreamIsActive` streams open now.
    pub fn streams_open(&self) -> u64 {
        self.streams_open.load(Ordering::Relaxed)
    }

    fn call(&self, m: Method) {
        self.calls[m.index()].fetch_add(1, Ordering::Relaxed);
    }

    fn error(&self, m: Method) {
        self.errors[m.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// The external scaler of a running collector.
#[derive(Debug, Clone)]
pub struct KedaScaler {
    live: LiveState,
    freshness: Freshness,
    stats: Arc<KedaStats>,
}

impl KedaScaler {
    /// A scaler answering from `live`, refusing data older than
    /// `freshness` allows.
    pub fn new(live: LiveState, freshness: Freshness) -> Self {
        KedaScaler {
            live,
            freshness,
            stats: Arc::default(),
        }
    }

    /// Its counters (for `/metrics`).
    pub fn stats(&self) -> Arc<KedaStats> {
        Arc::clone(&self.stats)
    }

    /// Serves on `listener` until `shutdown` completes. Open
    /// `StreamIsActive` streams end at once then, so the graceful shutdown
    /// does not wait for KEDA to hang up.
    ///
    /// # Errors
    /// [`KedaError::Serve`] when the server fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), KedaError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let svc = service::Service {
            scaler: self,
            stop: stop_rx,
        };
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .add_service(ExternalScalerServer::new(svc))
            .serve_with_incoming_shutdown(incoming, async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            })
            .await?;
        Ok(())
    }
}

/// Serves KEDA's external scaler from `live` on `listener` until
/// `shutdown` completes. [`KedaScaler`] does the same and hands out its
/// counters first.
///
/// # Errors
/// [`KedaError::Serve`] when the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    live: LiveState,
    freshness: Freshness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), KedaError> {
    KedaScaler::new(live, freshness)
        .serve(listener, shutdown)
        .await
}
