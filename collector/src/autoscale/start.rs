//! Starts, beside `run`'s HTTP server, the autoscaler interfaces that
//! listen on their own ports (KEDA's gRPC scaler, the external metrics
//! API) and what feeds them besides the pipeline (the PHP-FPM scraper and,
//! when enabled, the Kubernetes API watcher). Everything runs on the
//! runtime of the HTTP server and stops with it.
//!
//! These are read at start: a SIGHUP reload keeps them as they are
//! (docs/autoscale.md).

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::keda::KedaStats;
use super::metrics_api::{Access, Shared};
use crate::config::Config;
use crate::listen::Listen;
use crate::run::LiveState;

/// What runs; dropping it stops the scraper and the watcher (the servers
/// stop with the shutdown future they were given).
#[derive(Debug)]
pub struct Running {
    /// `/api/v1/autoscale`'s access rules and limits, for the HTTP router.
    pub metrics_api: Option<Shared>,
    /// Where KEDA's scaler listens.
    pub keda_addr: Option<std::net::SocketAddr>,
    /// Its call counters.
    pub keda_stats: Option<Arc<KedaStats>>,
    /// Where the external metrics API listens.
    pub external_addr: Option<std::net::SocketAddr>,
    _fpm: crate::fpm::FpmTask,
    _kube: crate::kube::KubeTask,
}

/// The interfaces cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address cannot be bound.
    #[error("autoscale.{field}: binding {addr}: {source}")]
    Bind {
        /// The config field.
        field: &'static str,
        /// The address as written.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A config value cannot be used.
    #[error(transparent)]
    Config(#[from] super::AutoscaleConfigError),
    /// The Kubernetes API client cannot be built.
    #[error("kubernetes: {0}")]
    Kube(#[from] crate::kube::KubeError),
}

async fn bind(field: &'static str, addr: &str) -> Result<TcpListener, StartError> {
    let err = |source: std::io::Error| StartError::Bind {
        field,
        addr: addr.to_owned(),
        source,
    };
    let invalid = |m: String| err(std::io::Error::new(std::io::ErrorKind::InvalidInput, m));
    let addrs = Listen::parse(addr)
        .and_then(|l| l.resolve())
        .map_err(invalid)?;
    TcpListener::bind(&addrs[..]).await.map_err(err)
}

/// Binds and spawns everything `cfg` asks for on the current runtime;
/// each server stops when `shutdown` completes.
///
/// # Errors
/// A port that cannot be bound, unusable TLS files or secrets, a
/// Kubernetes client that cannot be built.
pub async fn start<S>(cfg: &Config, live: &LiveState, shutdown: S) -> Result<Running, StartError>
where
    S: Future<Output = ()> + Send + 'static,
{
    let a = &cfg.autoscale;
    let freshness = a.freshness.limits();
    let rt = tokio::runtime::Handle::current();
    // One shutdown future, many servers.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let metrics_api = Shared {
        access: Access::new(&a.metrics_api)?,
        freshness,
    };
    let (mut keda_addr, mut keda_stats) = (None, None);
    if !a.keda.listen.is_empty() {
        let listener = bind("keda.listen", &keda_listen(cfg)).await?;
        keda_addr = listener.local_addr().ok();
        let scaler = super::keda::KedaScaler::with_config(live.clone(), freshness, &a.keda);
        keda_stats = Some(scaler.stats());
        live.set_keda_stats(scaler.stats());
        let stop = stopped();
        tokio::spawn(async move {
            if let Err(e) = scaler.serve(listener, stop).await {
                tracing::error!("KEDA external scaler: {e}");
            }
        });
        tracing::info!("KEDA external scaler (gRPC) on {}", fmt_addr(keda_addr));
    }
    let mut external_addr = None;
    if !a.external_metrics.listen.is_empty() {
        let listener = bind("external_metrics.listen", &a.external_metrics.listen).await?;
        external_addr = listener.local_addr().ok();
        let (ecfg, live, stop) = (a.external_metrics.clone(), live.clone(), stopped());
        tokio::spawn(async move {
            if let Err(e) = super::external::serve(&ecfg, listener, live, freshness, stop).await {
                tracing::error!("external metrics API: {e}");
            }
        });
        tracing::info!(
            "Kubernetes external metrics API (external.metrics.k8s.io/v1beta1) on https://{}",
            fmt_addr(external_addr)
        );
    }
    let (targets_tx, targets_rx) = watch::channel(Vec::new());
    let kube = crate::kube::start(&cfg.kubernetes, live.clone(), &rt, targets_tx)?;
    let fpm = crate::fpm::start(&cfg.fpm_status, live.clone(), &rt, targets_rx);
    Ok(Running {
        metrics_api: Some(metrics_api),
        keda_addr,
        keda_stats,
        external_addr,
        _fpm: fpm,
        _kube: kube,
    })
}

fn fmt_addr(a: Option<std::net::SocketAddr>) -> String {
    a.map_or_else(|| "?".into(), |a| a.to_string())
}

/// KEDA's address: as configured, except that the default port follows a
/// `server.listen` with port 0 ("any free port": tests, several
/// collectors on one machine) to a free port of its own.
fn keda_listen(cfg: &Config) -> String {
    let default = super::keda::KedaConfig::default().listen;
    let free = Listen::parse(&cfg.server.listen)
        .ok()
        .and_then(|l| l.resolve().ok())
        .is_some_and(|a| a.iter().all(|a| a.port() == 0));
    if cfg.autoscale.keda.listen == default && free {
        default.replace(":9465", ":0")
    } else {
        cfg.autoscale.keda.listen.clone()
    }
}
