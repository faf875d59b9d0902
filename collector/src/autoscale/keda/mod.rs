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
mod limits;
#[cfg(test)]
mod limits_tests;
mod service;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tonic::transport::Server;

use super::AutoscaleConfigError;
use super::values::Freshness;
use crate::run::LiveState;
use externalscaler::external_scaler_server::ExternalScalerServer;

/// `autoscale.keda:`. The limits keep one misbehaving client from taking
/// the scaler from everyone else; past one a call is refused at once
/// (ResourceExhausted naming the key, or the connection closed) and
/// counted in `sitepulse_keda_rejected{limit}`. The defaults serve about
/// 1,000 ScaledObjects polled every second, each with a `StreamIsActive`
/// stream, with room to spare.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KedaConfig {
    /// Address of the gRPC service; empty turns it off.
    pub listen: String,
    /// Connections open at once (1–65536, default 1024). One past it is
    /// closed as soon as it is accepted. KEDA shares one connection per
    /// `scalerAddress` among all its triggers, so a few are the norm.
    pub max_connections: usize,
    /// `StreamIsActive` streams open at once, over all connections
    /// (1–65536, default 4096). One more is refused with
    /// ResourceExhausted; KEDA retries it after its backoff (2 s, doubling
    /// to a minute).
    pub max_streams: usize,
    /// Calls being read and answered at once, over all connections
    /// (1–65536, default 1024); a `StreamIsActive` counts until its first
    /// state is ready, then under `max_streams`. One more is refused with
    /// ResourceExhausted, not queued.
    pub max_concurrent_requests: usize,
    /// The longest a call may take to be read and answered (100–60000,
    /// default 5000); past it DeadlineExceeded. An open stream is not
    /// timed: it lasts as long as its client. A client's shorter
    /// `grpc-timeout` applies too.
    pub request_timeout_ms: u64,
    /// The largest request message accepted, in bytes (1024–4194304,
    /// default 65536: a trigger's metadata is a few hundred bytes); a
    /// larger one is refused with OutOfRange.
    pub max_request_bytes: usize,
    /// HTTP/2 pings to each client this often (1–3600, default 30), so the
    /// streams of a client that vanished (a node lost, no FIN) end and
    /// free their slots instead of waiting for the TCP timeout.
    pub http2_keepalive_interval_secs: u64,
    /// A connection whose ping is not answered within this is closed
    /// (1–600, default 20).
    pub http2_keepalive_timeout_secs: u64,
}

impl Default for KedaConfig {
    fn default() -> Self {
        KedaConfig {
            listen: "127.0.0.1:9465".into(),
            max_connections: 1024,
            max_streams: 4096,
            max_concurrent_requests: 1024,
            request_timeout_ms: 5000,
            max_request_bytes: 64 * 1024,
            http2_keepalive_interval_secs: 30,
            http2_keepalive_timeout_secs: 20,
        }
    }
}

impl KedaConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// An address that cannot be listened on, a limit out of its range.
    pub fn validate(&self) -> Result<(), AutoscaleConfigError> {
        if !self.listen.is_empty() {
            crate::listen::Listen::parse(&self.listen).map_err(|message| AutoscaleConfigError {
                field: "keda.listen".into(),
                message,
            })?;
        }
        let as_u64 = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        let ranges: [(&str, u64, u64, &str, u64); 7] = [
            (
                "max_connections",
                1,
                65_536,
                "",
                as_u64(self.max_connections),
            ),
            ("max_streams", 1, 65_536, "", as_u64(self.max_streams)),
            (
                "max_concurrent_requests",
                1,
                65_536,
                "",
                as_u64(self.max_concurrent_requests),
            ),
            (
                "request_timeout_ms",
                100,
                60_000,
                " ms",
                self.request_timeout_ms,
            ),
            (
                "max_request_bytes",
                1024,
                4 * 1024 * 1024,
                " bytes",
                as_u64(self.max_request_bytes),
            ),
            (
                "http2_keepalive_interval_secs",
                1,
                3600,
                " s",
                self.http2_keepalive_interval_secs,
            ),
            (
                "http2_keepalive_timeout_secs",
                1,
                600,
                " s",
                self.http2_keepalive_timeout_secs,
            ),
        ];
        for (key, lo, hi, unit, v) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(AutoscaleConfigError {
                    field: format!("keda.{key}"),
                    message: format!("must be between {lo} and {hi}{unit}, got {v}"),
                });
            }
        }
        Ok(())
    }
}

/// How often an open `StreamIsActive` reads the value again. Snapshots
/// are published every 250 ms, so a change reaches KEDA within about
/// 350 ms; a check is one snapshot load and a hash lookup.
pub const STREAM_CHECK: Duration = Duration::from_millis(100);

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

/// The limits (`autoscale.keda.*`) a call can be refused by, for
/// [`KedaStats::rejected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// A connection past `max_connections`, closed when accepted.
    MaxConnections,
    /// A call past `max_concurrent_requests` (ResourceExhausted).
    MaxConcurrentRequests,
    /// A `StreamIsActive` past `max_streams` (ResourceExhausted).
    MaxStreams,
    /// A call not answered within `request_timeout_ms` (DeadlineExceeded).
    RequestTimeout,
    /// A request larger than `max_request_bytes` (OutOfRange).
    MaxRequestBytes,
}

impl Limit {
    /// Every limit.
    pub const ALL: [Limit; 5] = [
        Limit::MaxConnections,
        Limit::MaxConcurrentRequests,
        Limit::MaxStreams,
        Limit::RequestTimeout,
        Limit::MaxRequestBytes,
    ];

    /// Its config key under `autoscale.keda`, for a `limit` label.
    pub fn key(self) -> &'static str {
        match self {
            Limit::MaxConnections => "max_connections",
            Limit::MaxConcurrentRequests => "max_concurrent_requests",
            Limit::MaxStreams => "max_streams",
            Limit::RequestTimeout => "request_timeout_ms",
            Limit::MaxRequestBytes => "max_request_bytes",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Calls and errors per method, refusals per limit, counted by the
/// service; cheap to read at scrape time.
#[derive(Debug, Default)]
pub struct KedaStats {
    calls: [AtomicU64; 5],
    errors: [AtomicU64; 5],
    rejected: [AtomicU64; 5],
    streams_open: AtomicU64,
    connections_open: AtomicU64,
}

impl KedaStats {
    /// Calls of `m` so far (a stream counts once, when opened).
    pub fn calls(&self, m: Method) -> u64 {
        self.calls[m.index()].load(Ordering::Relaxed)
    }

    /// Calls of `m` answered with an error status so far (a stream that
    /// ends with one counts too). Refusals by a limit are not calls:
    /// they count in [`rejected`](Self::rejected) only.
    pub fn errors(&self, m: Method) -> u64 {
        self.errors[m.index()].load(Ordering::Relaxed)
    }

    /// Calls (or, for `max_connections`, connections) refused by `l` so
    /// far.
    pub fn rejected(&self, l: Limit) -> u64 {
        self.rejected[l.index()].load(Ordering::Relaxed)
    }

    /// Client connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
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

    fn reject(&self, l: Limit) {
        self.rejected[l.index()].fetch_add(1, Ordering::Relaxed);
        tracing::debug!(limit = l.key(), "KEDA call refused by autoscale.keda limit");
    }
}

/// The external scaler of a running collector.
#[derive(Debug, Clone)]
pub struct KedaScaler {
    live: LiveState,
    freshness: Freshness,
    limits: limits::Limits,
    stats: Arc<KedaStats>,
}

impl KedaScaler {
    /// A scaler answering from `live`, refusing data older than
    /// `freshness` allows, with the default limits.
    pub fn new(live: LiveState, freshness: Freshness) -> Self {
        KedaScaler::with_config(live, freshness, &KedaConfig::default())
    }

    /// The same with the limits of `cfg` (validated:
    /// [`KedaConfig::validate`]; `listen` is not read).
    pub fn with_config(live: LiveState, freshness: Freshness, cfg: &KedaConfig) -> Self {
        KedaScaler {
            live,
            freshness,
            limits: limits::Limits::new(cfg),
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
        let (l, stats) = (self.limits.clone(), self.stats());
        let svc = service::Service {
            scaler: self,
            stop: stop_rx,
        };
        let svc = ExternalScalerServer::new(svc).max_decoding_message_size(l.max_request_bytes);
        let incoming = limits::incoming(listener, l.max_connections, Arc::clone(&stats));
        Server::builder()
            .http2_keepalive_interval(Some(l.keepalive_interval))
            .http2_keepalive_timeout(Some(l.keepalive_timeout))
            .max_concurrent_streams(l.http2_max_concurrent_streams())
            .layer(limits::InFlightLayer::new(&l, stats))
            .add_service(svc)
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
