//! The sinks of a running collector: their producers (the log sinks go to
//! the pipeline thread, which offers them every record), and their senders
//! on a small tokio runtime of their own, so a slow or dead receiver never
//! holds up ingest or the HTTP server.
//!
//! The set outlives engines: a reload that leaves `sinks:` unchanged hands
//! the producers to the new pipeline thread and the senders keep going;
//! one that changes it stops them (after the old engine committed every
//! batch to the spools) and opens the new ones on the same spools.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sitepulse_sinks::logs::LogSink;
use sitepulse_sinks::{SinkError, SinksConfig, loki, otlp, remote_write};

use super::LiveState;
use super::ship::SinkView;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stop waits for senders to finish their current try.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The running senders of one `sinks:` config.
#[derive(Debug)]
pub(crate) struct SinkSet {
    rt: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    senders: Vec<JoinHandle<()>>,
}

/// Where spools live: `sinks.spool_dir`, or `spool/` beside the checkpoint
/// file for `auto`.
pub(crate) fn spool_root(setting: &str, checkpoint: &Path) -> PathBuf {
    if setting.is_empty() || setting == "auto" {
        checkpoint
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("spool")
    } else {
        PathBuf::from(setting)
    }
}

impl SinkSet {
    /// Opens every configured sink: spools read back, senders started.
    ///
    /// # Errors
    /// A spool that cannot be opened, a client that cannot be built.
    pub(crate) fn open(
        cfg: &SinksConfig,
        state: &LiveState,
    ) -> Result<(SinkSet, Vec<Box<dyn LogSink>>), SinkError> {
        let checkpoint = state.checkpoint_path();
        let (stop, stop_rx) = watch::channel(false);
        let mut set = SinkSet {
            rt: None,
            stop,
            senders: Vec::new(),
        };
        let mut logs: Vec<Box<dyn LogSink>> = Vec::new();
        if !cfg.any() {
            state.set_metric_sinks(Vec::new());
            return Ok((set, logs));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sitepulse-sinks")
            .enable_all()
            .build()
            .map_err(|e| SinkError::Other(format!("starting the sinks' runtime: {e}")))?;
        let root = spool_root(&cfg.spool_dir, checkpoint);
        if let Some(l) = &cfg.loki {
            // The HTTP client wants a runtime around it when built.
            let _guard = rt.enter();
            let (sink, sender) = loki::open(l, &root.join("loki"), stop_rx.clone())?;
            set.senders.push(rt.spawn(sender));
            logs.push(Box::new(sink));
            tracing::info!(endpoint = %l.endpoint, spool = %root.join("loki").display(), "shipping records to Loki");
        }
        let mut metric_sinks = Vec::new();
        if let Some(o) = &cfg.otlp {
            let _guard = rt.enter();
            let dir = root.join("otlp");
            if o.logs {
                let (sink, sender) = otlp::open_logs(o, &dir, stop_rx.clone())?;
                set.senders.push(rt.spawn(sender));
                logs.push(Box::new(sink));
            }
            if o.metrics {
                let (stats, fut) =
                    otlp::open_metrics(o, &dir, state.snapshot_source(), stop_rx.clone())?;
                set.senders.push(rt.spawn(fut));
                metric_sinks.push(SinkView {
                    name: "otlp_metrics",
                    stats,
                    lagging_files: 0,
                    lag_bytes: 0,
                });
            }
            tracing::info!(endpoint = %o.endpoint, logs = o.logs, metrics = o.metrics, "exporting over OTLP");
        }
        if let Some(r) = &cfg.prometheus_remote_write {
            let _guard = rt.enter();
            let dir = root.join(remote_write::NAME);
            let (stats, fut) =
                remote_write::open(r, &dir, state.snapshot_source(), stop_rx.clone())?;
            set.senders.push(rt.spawn(fut));
            metric_sinks.push(SinkView {
                name: remote_write::NAME,
                stats,
                lagging_files: 0,
                lag_bytes: 0,
            });
            tracing::info!(endpoint = %r.endpoint, interval_secs = r.interval_secs, "pushing per-site series with remote_write");
        }
        state.set_metric_sinks(metric_sinks);
        set.rt = Some(rt);
        Ok((set, logs))
    }

    /// Stops the senders (each finishes its current try; what they did not
    /// send stays in the spools for the next start).
    pub(crate) fn stop(mut self) {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + STOP_WAIT;
        while Instant::now() < deadline && self.senders.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
