//! SLO evaluation in `run`: a task on the HTTP runtime feeds each
//! published snapshot to the [`SloEngine`] (once per
//! `slo.evaluate_interval_secs`), publishes the result for
//! `/api/v1/slos` ([`api`]) behind an `ArcSwap`, and saves the per-site
//! counts every `slo.save_interval_secs` and at shutdown, so the period's
//! budget survives restarts (docs/slo.md).
//!
//! The engine's work (differences of totals, bucket sums) runs on the
//! blocking pool, never on the runtime's workers that answer autoscalers.

pub mod alerting_config;
pub mod alerts_api;
pub mod api;
pub mod auth;
pub mod config;
pub mod hub;
pub mod notify;
pub mod rebuild;
pub mod replay;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use sitepulse_alerting::engine::SloEngine;
use sitepulse_alerting::store::Store;
use sitepulse_alerting::{SloStatus, persist};
use tokio::task::JoinHandle;

pub use alerting_config::AlertingConfig;
pub use config::{SloConfig, SloConfigError};
pub use hub::AlertHub;

use crate::run::LiveState;

use crate::unix_now;

/// The latest evaluation.
#[derive(Debug, Default)]
pub struct SloView {
    /// When it was computed.
    pub evaluated: Option<SystemTime>,
    /// The pipeline's clock the counts are placed by (Unix seconds).
    pub clock_unix: Option<i64>,
    /// Every site's SLOs, sites in name order.
    pub statuses: Vec<SloStatus>,
    /// Series (site × way of counting) in the count store.
    pub series: usize,
    /// Bytes their buckets take.
    pub store_bytes: usize,
    /// The last successful save of the counts.
    pub saved: Option<SystemTime>,
    /// The last save's error, while saves fail.
    pub save_error: Option<String>,
}

/// What the API reads.
#[derive(Debug, Default)]
pub struct SloShared {
    view: ArcSwap<SloView>,
}

impl SloShared {
    /// The latest evaluation.
    pub fn view(&self) -> Arc<SloView> {
        self.view.load_full()
    }
}

/// The running evaluation: await `join` after the stop signal so the
/// final save finishes.
#[derive(Debug)]
pub struct SloTask {
    /// For the API.
    pub shared: Arc<SloShared>,
    /// Alerts, silences and deploys, when `alerting.enabled`.
    pub hub: Option<Arc<AlertHub>>,
    /// Ends after the final save.
    pub join: JoinHandle<()>,
}

/// SLO evaluation cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SloStartError {
    /// The specs are invalid.
    #[error("slo.{}: {}", .0.field, .0.message)]
    Config(SloConfigError),
    /// The alerting state cannot be opened.
    #[error("alerting: {0}")]
    Alerting(String),
}

/// Starts the evaluation on the current runtime; `None` when
/// `slo.enabled` is false. Stops after `stopped`, saving the counts.
///
/// # Errors
/// Specs that cannot be loaded. A count file that cannot be read is set
/// aside (`<file>.corrupt`) and evaluation starts empty, logged.
pub fn start(
    cfg: &SloConfig,
    alerting: &AlertingConfig,
    state: &LiveState,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<SloTask>, SloStartError> {
    if !cfg.enabled {
        return Ok(None);
    }
    let set = cfg.load().map_err(SloStartError::Config)?;
    let path = cfg.state_file(state.checkpoint_path());
    let hours = Store::new(SloEngine::longest(&set)).hours();
    let store = match persist::load(&path, hours) {
        Ok(Some(s)) => {
            tracing::info!(path = %path.display(), series = s.len(), "SLO counts read back");
            Some(s)
        }
        Ok(None) => None,
        Err(e) => {
            let aside = path.with_extension("corrupt");
            let moved = std::fs::rename(&path, &aside).is_ok();
            tracing::error!(error = %e, set_aside = moved, "SLO counts cannot be read; starting without them (budgets count from now)");
            None
        }
    };
    let rebuild = (store.is_none() && !cfg.rebuild_from_prometheus.is_empty()).then(|| {
        (
            cfg.rebuild_from_prometheus.clone(),
            Duration::from_secs(cfg.rebuild_timeout_secs),
            set.clone(),
        )
    });
    let engine = SloEngine::new(set, store);
    let shared = Arc::new(SloShared::default());
    let hub = if alerting.enabled {
        let dir = alerting.state_dir(state.checkpoint_path());
        Some(Arc::new(
            AlertHub::open(alerting, dir).map_err(SloStartError::Alerting)?,
        ))
    } else {
        None
    };
    let every = Duration::from_secs(cfg.evaluate_interval_secs);
    let save_every = Duration::from_secs(cfg.save_interval_secs);
    let join = tokio::spawn(run(
        engine,
        rebuild,
        state.clone(),
        Arc::clone(&shared),
        hub.clone(),
        path,
        every,
        save_every,
        stopped,
    ));
    Ok(Some(SloTask { shared, hub, join }))
}

#[allow(clippy::too_many_arguments)]
async fn run(
    mut engine: SloEngine,
    rebuild: Option<(String, Duration, sitepulse_alerting::SloSet)>,
    state: LiveState,
    shared: Arc<SloShared>,
    hub: Option<Arc<AlertHub>>,
    path: std::path::PathBuf,
    every: Duration,
    save_every: Duration,
    stopped: impl Future<Output = ()>,
) {
    if let Some((url, timeout, set)) = rebuild {
        match rebuild::rebuild(&mut engine, &set, &url, timeout, unix_now()).await {
            Ok((sites, hours)) => {
                tracing::info!(prometheus = %url, sites, hours, "SLO counts rebuilt from Prometheus (hour buckets)");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild the SLO counts from Prometheus; budgets count from now");
            }
        }
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopped = std::pin::pin!(stopped);
    let mut last_save = Instant::now();
    let mut saved = None;
    let mut save_error: Option<String> = None;
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            () = &mut stopped => true,
        };
        let published = state.published();
        let due = stop || last_save.elapsed() >= save_every;
        let p = path.clone();
        let h = hub.clone();
        let job = tokio::task::spawn_blocking(move || {
            engine.observe(&published.sites);
            let statuses = engine.evaluate();
            // Before the first snapshot with a clock there is nothing to
            // evaluate: a tick then would resolve every alert read back
            // after a restart (and page again a second later).
            let outgoing = h
                .filter(|_| engine.now_unix().is_some())
                .map(|h| h.tick(&statuses, &mut engine, unix_now()))
                .unwrap_or_default();
            let saved = due.then(|| persist::save(engine.store(), &p));
            (engine, statuses, saved, outgoing)
        });
        let (e, statuses, result, outgoing) = match job.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "SLO evaluation failed; it stops");
                return;
            }
        };
        engine = e;
        if let Some(h) = &hub {
            notify::dispatch(h, outgoing);
        }
        match result {
            Some(Ok(())) => {
                last_save = Instant::now();
                saved = Some(SystemTime::now());
                if save_error.take().is_some() {
                    tracing::info!(path = %path.display(), "SLO counts saved again");
                }
            }
            Some(Err(e)) => {
                last_save = Instant::now();
                if save_error.is_none() {
                    tracing::error!(error = %e, "cannot save the SLO counts; a restart would lose what came since the last save");
                }
                save_error = Some(e.to_string());
            }
            None => {}
        }
        shared.view.store(Arc::new(SloView {
            evaluated: Some(SystemTime::now()),
            clock_unix: engine.now_unix(),
            statuses,
            series: engine.store().len(),
            store_bytes: engine.store().bytes(),
            saved,
            save_error: save_error.clone(),
        }));
        if stop {
            return;
        }
    }
}
