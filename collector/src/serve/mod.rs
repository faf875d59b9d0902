//! `run`'s HTTP server: axum routes over the published snapshots, behind
//! limits a hostile or broken client cannot get around.
//!
//! - a cap on open connections (`server.max_connections`): past it, a new
//!   connection is answered `503` with `Retry-After` and closed at once,
//!   so the accept queue never hides a stalled server;
//! - a header-read timeout (`server.header_read_timeout_secs`): a client
//!   that connects and sends nothing, or half a request, is dropped, so
//!   idle connections cannot pin the cap;
//! - a request timeout (`server.request_timeout_secs`, `408`) and a body
//!   limit (`server.max_body_bytes`, `413`) as tower layers;
//! - `/healthz` (the process serves) and `/readyz` (checkpoints loaded,
//!   first scan done, checkpoint saves and file opens succeeding).
//!
//! Handlers read the latest snapshot ([`LiveState`]) and never touch the
//! pipeline, so readers cost ingest nothing but CPU.

pub mod api;
pub mod metrics;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::TimeoutLayer;

use crate::run::LiveState;

/// `server:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP endpoints (`/api/v1/sites`, `/api/v1/status`,
    /// `/metrics`, `/healthz`, `/readyz`); loopback unless set otherwise.
    /// Port 0 picks a free one.
    pub listen: String,
    /// After SIGTERM/SIGINT: how long everything may take before the
    /// process exits anyway. Open HTTP requests get up to half of it;
    /// in-flight batches and the checkpoint get the rest.
    pub shutdown_grace_secs: u64,
    /// Open connections at most; past it new ones get `503` and are
    /// closed.
    pub max_connections: usize,
    /// A connection that has not sent a request's headers within this
    /// long (idle keep-alive included) is closed.
    pub header_read_timeout_secs: u64,
    /// A request not answered within this long gets `408`.
    pub request_timeout_secs: u64,
    /// Largest request body accepted (`413` beyond).
    pub max_body_bytes: usize,
    /// How often the per-site snapshot every reader sees (the API,
    /// /metrics, the autoscaler interfaces) is taken: a line is visible
    /// within this plus the read's own latency. Each costs a window merge
    /// per site (about 1 ms per 500 sites).
    pub publish_interval_ms: u64,
    /// Serve HTTPS with this certificate chain (PEM; read again when it
    /// changes). Both or neither of the TLS files.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    pub tls_key_file: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
            shutdown_grace_secs: 10,
            max_connections: 1024,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            max_body_bytes: 1 << 20,
            publish_interval_ms: 250,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// A `server:` field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server.{field}: {message}")]
pub struct ServerConfigError {
    /// The field, relative to `server:`.
    pub field: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ServerConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// The first [`ServerConfigError`].
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        let err = |field, message| Err(ServerConfigError { field, message });
        if let Err(e) = crate::listen::Listen::parse(&self.listen) {
            return err("listen", e);
        }
        let ranges: [(&'static str, u64, u64, u64); 6] = [
            ("publish_interval_ms", self.publish_interval_ms, 50, 1000),
            ("shutdown_grace_secs", self.shutdown_grace_secs, 1, 3600),
            ("max_connections", self.max_connections as u64, 1, 1 << 20),
            (
                "header_read_timeout_secs",
                self.header_read_timeout_secs,
                1,
                3600,
            ),
            ("request_timeout_secs", self.request_timeout_secs, 1, 3600),
            ("max_body_bytes", self.max_body_bytes as u64, 0, 1 << 30),
        ];
        for (field, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return err(field, format!("must be between {lo} and {hi}, got {v}"));
            }
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (None, None) => {}
            (Some(c), Some(k)) => {
                if let Err(e) = crate::autoscale::external::tls::ReloadingCert::open(c, k) {
                    return err("tls_cert_file", e.to_string());
                }
            }
            (Some(_), None) => {
                return err("tls_key_file", "give the key with tls_cert_file".into());
            }
            (None, Some(_)) => {
                return err(
                    "tls_cert_file",
                    "give the certificate with tls_key_file".into(),
                );
            }
        }
        Ok(())
    }

    /// The TLS acceptor, when both TLS files are set.
    ///
    /// # Errors
    /// Files that cannot be read or do not make a certificate and key.
    pub fn tls_acceptor(&self) -> Result<Option<tokio_rustls::TlsAcceptor>, String> {
        let (Some(c), Some(k)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return Ok(None);
        };
        let cert = crate::autoscale::external::tls::ReloadingCert::open(c, k)
            .map_err(|e| e.to_string())?;
        let cfg = crate::autoscale::external::tls::server_config_plain(Arc::new(cert))
            .map_err(|e| e.to_string())?;
        Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg))))
    }
}

/// Connection counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections refused at the cap.
    pub rejected: AtomicU64,
    /// `accept(2)` errors (descriptors exhausted, say).
    pub accept_errors: AtomicU64,
}

/// What the handlers share: the published state and the server's own
/// counters.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Snapshots of the collector.
    pub live: LiveState,
    /// Connection counters.
    pub http: Arc<HttpStats>,
    /// Rendered `/metrics` and `/api/v1/sites` bodies, per snapshot.
    pub cache: Arc<api::RenderCache>,
    /// What `/metrics` encodes.
    pub registry: Arc<prometheus_client::registry::Registry>,
    /// `/api/v1/autoscale`'s access rules and freshness limits.
    pub autoscale: Arc<crate::autoscale::metrics_api::Shared>,
    /// The SLO evaluation, when `slo.enabled`.
    pub slo: Option<Arc<crate::slo::SloShared>>,
    /// Alerts, silences and deploys, when `alerting.enabled`.
    pub alerts: Option<Arc<crate::slo::AlertHub>>,
}

impl AppState {
    /// State over a running collector.
    pub fn new(live: LiveState) -> Self {
        let http = Arc::<HttpStats>::default();
        AppState {
            registry: Arc::new(metrics::registry(live.clone(), Arc::clone(&http))),
            live,
            http,
            cache: Arc::default(),
            autoscale: Arc::default(),
            slo: None,
            alerts: None,
        }
    }

    /// With the SLO evaluation's latest results and the alerting hub.
    pub fn with_slo(
        mut self,
        slo: Arc<crate::slo::SloShared>,
        alerts: Option<Arc<crate::slo::AlertHub>>,
    ) -> Self {
        self.slo = Some(slo);
        self.alerts = alerts;
        self
    }

    /// With `/api/v1/autoscale`'s access rules and limits.
    pub fn with_autoscale(mut self, shared: crate::autoscale::metrics_api::Shared) -> Self {
        self.autoscale = Arc::new(shared);
        self
    }
}

/// The routes with their request timeout and body limit; testable without
/// a socket (`tower::ServiceExt::oneshot`).
pub fn router(state: AppState, cfg: &ServerConfig) -> Router {
    let routes = Router::new()
        .route("/api/v1/sites", get(api::sites))
        .route("/api/v1/sites/{site}", get(api::site))
        .route("/api/v1/status", get(api::status))
        .route(
            "/api/v1/autoscale/{site}",
            get(crate::autoscale::metrics_api::site),
        )
        .route("/api/v1/slos", get(crate::slo::api::slos))
        .route("/api/v1/slos/{site}", get(crate::slo::api::site_slos))
        .route("/api/v1/alerts", get(crate::slo::alerts_api::alerts))
        .route(
            "/api/v1/silences",
            get(crate::slo::alerts_api::silences).post(crate::slo::alerts_api::create_silence),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(crate::slo::alerts_api::expire_silence),
        )
        .route(
            "/api/v1/notifications/test",
            axum::routing::post(crate::slo::alerts_api::test_notification),
        )
        .route(
            "/api/v1/deploys",
            get(crate::slo::alerts_api::deploys).post(crate::slo::alerts_api::deploy_event),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .fallback(api::no_route)
        .method_not_allowed_fallback(api::no_method);
    with_limits(routes, cfg).with_state(state)
}

/// The request timeout and body limit, over every route added before.
fn with_limits<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    cfg: &ServerConfig,
) -> Router<S> {
    routes
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(cfg.request_timeout_secs),
        ))
}

async fn readyz(State(st): State<AppState>) -> (StatusCode, String) {
    match st.live.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Refused connections being answered at once; past this they are closed
/// without an answer.
const MAX_REFUSING: usize = 64;

/// A connection's slot under the cap, counted in `open` while held.
struct Open {
    _permit: tokio::sync::OwnedSemaphorePermit,
    stats: Arc<HttpStats>,
}

impl Open {
    fn new(permit: tokio::sync::OwnedSemaphorePermit, stats: Arc<HttpStats>) -> Self {
        stats.open.fetch_add(1, Ordering::Relaxed);
        Open {
            _permit: permit,
            stats,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a connection past the cap gets before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 21\r\n\r\ntoo many connections\n";

/// Answers a connection past the cap with [`BUSY`] and closes it the way
/// a client can read: our side's FIN first, then whatever the client sent
/// is drained (briefly), so closing with unread bytes does not turn into a
/// reset that discards the answer.
async fn refuse(mut stream: tokio::net::TcpStream) {
    let drain = async {
        stream.write_all(BUSY).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Serves `app` on `listener` under `cfg`'s connection limits until
/// `shutdown` completes, then lets open requests finish for up to half of
/// `shutdown_grace_secs`.
///
/// # Errors
/// None in practice: accept errors (descriptors exhausted) are counted,
/// logged and retried after a pause.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cfg: &ServerConfig,
    stats: Arc<HttpStats>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSING));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_timeout = Duration::from_secs(cfg.header_read_timeout_secs);
    let tls = cfg.tls_acceptor().map_err(io::Error::other)?;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            // A flood past the cap gets a few polite answers; the rest are
            // closed at once, so refusals cannot pile up either.
            if let Ok(slot) = Arc::clone(&refusals).try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(slot);
                });
            }
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let open = Open::new(permit, Arc::clone(&stats));
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            b
        };
        match &tls {
            None => {
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), svc));
                tokio::spawn(async move {
                    let _ = conn.await;
                    // The slot goes back however the connection ended (a
                    // panicking handler included: `open` is dropped then too).
                    drop(open);
                });
            }
            Some(acceptor) => {
                // The handshake runs in the connection's task, under the
                // header-read timeout, so a silent client holds only its
                // own slot.
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(header_timeout, acceptor.accept(stream)).await
                    {
                        let conn = watcher.watch(builder.serve_connection(TokioIo::new(tls), svc));
                        let _ = conn.await;
                    }
                    drop(open);
                });
            }
        }
    }
    drop(listener);
    // Half the grace period: the other half is the checkpoint's.
    let drain = Duration::from_secs(cfg.shutdown_grace_secs) / 2;
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "HTTP requests still running after {} ms; they are dropped",
            drain.as_millis()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::http::Request;
    use axum::routing::post;
    use tower::ServiceExt;

    fn limited(cfg: &ServerConfig) -> Router {
        let routes = Router::new()
            .route(
                "/echo",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        with_limits(routes, cfg)
    }

    async fn call(app: Router, req: Request<Body>) -> (StatusCode, String) {
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn bodies_past_the_limit_get_413() {
        let cfg = ServerConfig {
            max_body_bytes: 1024,
            ..ServerConfig::default()
        };
        let post = |n: usize| {
            Request::post("/echo")
                .header("content-length", n)
                .body(Body::from(vec![b'x'; n]))
                .unwrap()
        };
        assert_eq!(
            call(limited(&cfg), post(1024)).await,
            (StatusCode::OK, "1024".into())
        );
        assert_eq!(
            call(limited(&cfg), post(1025)).await.0,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_handlers_get_408() {
        let cfg = ServerConfig {
            request_timeout_secs: 1,
            ..ServerConfig::default()
        };
        let req = Request::get("/slow").body(Body::empty()).unwrap();
        assert_eq!(
            call(limited(&cfg), req).await.0,
            StatusCode::REQUEST_TIMEOUT
        );
    }

    #[test]
    fn config_ranges_name_the_field() {
        let bad = ServerConfig {
            max_connections: 0,
            ..ServerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "max_connections");
        let bad = ServerConfig {
            listen: "localhost".into(),
            ..ServerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "listen");
        assert!(ServerConfig::default().validate().is_ok());
        for ok in [":9464", "localhost:9464", "0.0.0.0:9464", "[::1]:9464"] {
            let cfg = ServerConfig {
                listen: ok.into(),
                ..ServerConfig::default()
            };
            assert!(cfg.validate().is_ok(), "{ok}");
        }
    }
}
