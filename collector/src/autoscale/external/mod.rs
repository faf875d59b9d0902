//! The Kubernetes external metrics API (`external.metrics.k8s.io/v1beta1`)
//! over TLS, for the HPA's `type: External` metrics where KEDA is not
//! installed (a cluster registers one APIService per group, and KEDA's
//! metrics server takes this one: with KEDA, scale through its external
//! scaler instead; docs/autoscale.md).
//!
//! - [`api`]: discovery documents, the metric values, health, `Status`
//!   errors;
//! - [`selector`]: the metric name and `labelSelector` of a request;
//! - [`quantity`]: values as canonical Kubernetes Quantity strings;
//! - [`tls`]: the serving certificate (reloaded when its files change) and
//!   the front proxy's client certificates.
//!
//! The accept loop here follows `serve/mod.rs`: a cap on open
//! connections (past it a connection is closed at once), and a deadline
//! for the TLS handshake and for each request's headers, so idle or
//! half-open clients cannot pin the cap.

pub mod api;
pub mod quantity;
pub mod selector;
pub mod tls;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::AutoscaleConfigError;
use super::values::Freshness;
use crate::run::LiveState;
use api::{ApiState, Peer};

/// `autoscale.external_metrics:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalMetricsConfig {
    /// Address of the HTTPS server (the APIService's Service targets it,
    /// conventionally `:6443`); empty (the default) turns it off.
    pub listen: String,
    /// PEM certificate chain served (the server's certificate first);
    /// read again when it changes. Required when `listen` is set.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file` (PKCS#8, PKCS#1 or SEC1).
    /// Required when `listen` is set.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA that signs the aggregation layer's front-proxy client
    /// certificate: `requestheader-client-ca-file` of the
    /// `kube-system/extension-apiserver-authentication` ConfigMap.
    /// Required when `listen` is set; read at start.
    pub client_ca_file: Option<PathBuf>,
    /// Client certificate CNs admitted (`requestheader-allowed-names`,
    /// usually `front-proxy-client`); empty admits any certificate
    /// `client_ca_file` signed.
    pub allowed_names: Vec<String>,
    /// Open connections at most; past it new ones are closed at once.
    pub max_connections: usize,
    /// A connection that has not finished its TLS handshake, or sent a
    /// request's headers, within this long is closed.
    pub header_read_timeout_secs: u64,
}

impl Default for ExternalMetricsConfig {
    fn default() -> Self {
        ExternalMetricsConfig {
            listen: String::new(),
            tls_cert_file: None,
            tls_key_file: None,
            client_ca_file: None,
            allowed_names: Vec::new(),
            max_connections: 256,
            header_read_timeout_secs: 10,
        }
    }
}

fn field_error(field: &str, message: impl Into<String>) -> AutoscaleConfigError {
    AutoscaleConfigError {
        field: format!("external_metrics.{field}"),
        message: message.into(),
    }
}

impl From<tls::TlsError> for AutoscaleConfigError {
    fn from(e: tls::TlsError) -> Self {
        field_error(e.field, format!("{}: {}", e.path, e.message))
    }
}

/// The server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// A setting or one of the TLS files it names is unusable.
    #[error(transparent)]
    Config(#[from] AutoscaleConfigError),
}

/// The TLS file paths, each required once the server is on.
struct Files<'a> {
    cert: &'a Path,
    key: &'a Path,
    ca: &'a Path,
}

impl ExternalMetricsConfig {
    /// Checks every value; when `listen` is set, that the three TLS files
    /// are given, readable, and make a server config (the key matches the
    /// certificate, the CA file holds a certificate).
    ///
    /// # Errors
    /// The first unusable field.
    pub fn validate(&self) -> Result<(), AutoscaleConfigError> {
        if !(1..=65_536).contains(&self.max_connections) {
            return Err(field_error(
                "max_connections",
                format!("must be between 1 and 65536, got {}", self.max_connections),
            ));
        }
        if !(1..=300).contains(&self.header_read_timeout_secs) {
            return Err(field_error(
                "header_read_timeout_secs",
                format!(
                    "must be between 1 and 300, got {}",
                    self.header_read_timeout_secs
                ),
            ));
        }
        if let Some(n) = self
            .allowed_names
            .iter()
            .find(|n| n.is_empty() || n.trim() != n.as_str())
        {
            return Err(field_error(
                "allowed_names",
                format!("{n:?} is not a certificate CN (empty or padded with spaces)"),
            ));
        }
        if self.listen.is_empty() {
            return Ok(());
        }
        crate::listen::Listen::parse(&self.listen).map_err(|m| field_error("listen", m))?;
        let files = self.files()?;
        self.tls_config(&files)?;
        Ok(())
    }

    fn files(&self) -> Result<Files<'_>, AutoscaleConfigError> {
        fn need<'a>(field: &str, p: &'a Option<PathBuf>) -> Result<&'a Path, AutoscaleConfigError> {
            p.as_deref().ok_or_else(|| {
                field_error(
                    field,
                    "is required when listen is set: the aggregation layer talks only TLS, with client certificates",
                )
            })
        }
        Ok(Files {
            cert: need("tls_cert_file", &self.tls_cert_file)?,
            key: need("tls_key_file", &self.tls_key_file)?,
            ca: need("client_ca_file", &self.client_ca_file)?,
        })
    }

    fn tls_config(&self, f: &Files<'_>) -> Result<rustls::ServerConfig, AutoscaleConfigError> {
        let cert = Arc::new(tls::ReloadingCert::open(f.cert, f.key)?);
        Ok(tls::server_config(cert, f.ca)?)
    }
}

/// How long open requests may take after `shutdown`.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves the external metrics API on `listener` over TLS until `shutdown`
/// completes, then lets open requests finish for a few seconds. `listen`
/// is not read: the caller bound `listener` from it.
///
/// # Errors
/// [`ExternalError::Config`] when the TLS files are missing or unusable;
/// nothing once serving (accept errors are logged and retried).
pub async fn serve(
    cfg: &ExternalMetricsConfig,
    listener: TcpListener,
    live: LiveState,
    freshness: Freshness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ExternalError> {
    let files = cfg.files()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg.tls_config(&files)?));
    let app = api::router(ApiState {
        live,
        freshness,
        allowed_names: Arc::new(cfg.allowed_names.clone()),
    });
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let deadline = Duration::from_secs(cfg.header_read_timeout_secs);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "external metrics API (external.metrics.k8s.io/v1beta1) listening over TLS");
    }
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "external metrics API: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(peer = %addr, "external metrics API: connection cap reached; closed");
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %addr, error = %e, "external metrics API: TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %addr, "external metrics API: TLS handshake timed out");
                    return;
                }
            };
            let certs = tls.get_ref().1.peer_certificates().unwrap_or_default();
            let peer = Peer {
                has_cert: !certs.is_empty(),
                cn: certs.first().and_then(|c| tls::common_name(c)),
            };
            let svc = tower::ServiceExt::map_request(
                app,
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(peer.clone());
                    req
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(deadline)
                .serve_connection(
                    TokioIo::new(tls),
                    hyper_util::service::TowerToHyperService::new(svc),
                );
            let _ = watcher.watch(conn).await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("external metrics API: requests still open after {DRAIN:?}; dropped");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
