//! `sitepulse run`: starts the collector threads and the HTTP endpoints,
//! and stops gracefully on SIGTERM / SIGINT (finish what was read, write
//! the checkpoint, exit 0 within `server.shutdown_grace_secs`). A stop
//! that could not write the checkpoint (or ran out of time) exits 1 with
//! the cause logged; a start that fails exits 2.
//!
//! SIGHUP reloads the `--config` file ([`sitepulse::run::reload`]): a
//! config with problems is refused (each logged) and the running one
//! stays; a reload that leaves no engine running stops the process with
//! exit status 1.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use sitepulse::config::{Config, summary};
use sitepulse::demo::{DemoConfig, DemoWriter, SAMPLES, write_samples};
use sitepulse::listen::Listen;
use sitepulse::run::reload::ReloadError;
use sitepulse::run::{Live, LiveState};
use sitepulse::serve::{self, AppState};
use sitepulse_pipeline::FormatChoice;
use sitepulse_pipeline::record::LogFormat;
use sitepulse_tail::{ReadExisting, SourceConfig};

/// Options of `run` besides the config it starts with.
pub struct RunOpts {
    /// The config file, read again on SIGHUP.
    pub config: Option<PathBuf>,
    /// Overrides `server.listen`.
    pub listen: Option<String>,
    /// Append every record as JSON with its dedup key here.
    pub tap: Option<PathBuf>,
    /// Tail a demo directory a bundled writer appends to.
    pub demo: Option<PathBuf>,
}

/// What the command line changes in every config `run` uses: the first
/// and each reloaded one.
#[derive(Clone)]
struct Overrides {
    listen: Option<String>,
    demo: Option<PathBuf>,
    nofile: u64,
}

impl Overrides {
    fn apply(&self, cfg: &mut Config) {
        if let Some(l) = &self.listen {
            cfg.server.listen.clone_from(l);
        }
        if let Some(dir) = &self.demo {
            demo_config(cfg, dir);
        }
        if cfg.tail.max_open_files == 0 {
            cfg.tail.max_open_files =
                sitepulse::limits::tail_budget(self.nofile, cfg.server.max_connections as u64);
        }
    }

    /// The loud warning for a config that tails nothing.
    fn warn_if_idle(&self, cfg: &Config) {
        if self.demo.is_none() && cfg.tail.sources.is_empty() {
            tracing::warn!("{}", summary::NO_SOURCES);
        }
    }
}

/// Points the config at the demo directory: every `*.log` under it, read
/// from the beginning, checkpoints beside it.
fn demo_config(cfg: &mut Config, dir: &std::path::Path) {
    cfg.tail.sources = vec![SourceConfig {
        include: vec![format!("{}/**/*.log", dir.display())],
        exclude: Vec::new(),
        format: FormatChoice::Auto,
        multiline: None,
    }];
    cfg.tail.exclude = Vec::new();
    cfg.tail.read_existing = ReadExisting::Beginning;
    cfg.tail.checkpoint_path = dir.join("checkpoints.json").display().to_string();
    // The demo's Traefik is the only access tier.
    cfg.aggregate.request_sources = vec![LogFormat::TraefikClf, LogFormat::TraefikJson];
}

pub fn cmd_run(mut cfg: Config, opts: RunOpts) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sitepulse-http")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Before anything else: SIGHUP's default action ends the process.
    let hup = rt
        .block_on(async { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) })
        .context("listening for SIGHUP")?;
    let ov = Overrides {
        listen: opts.listen.clone(),
        demo: opts.demo.clone(),
        nofile: sitepulse::limits::raise_nofile(),
    };
    ov.apply(&mut cfg);
    let listen = Listen::parse(&cfg.server.listen).map_err(|e| anyhow!("listen address: {e}"))?;
    let addrs = listen
        .resolve()
        .map_err(|e| anyhow!("listen address {}: {e}", cfg.server.listen))?;
    let writer = match &opts.demo {
        Some(dir) => {
            if !dir.exists() {
                write_samples(dir).with_context(|| {
                    format!("writing the bundled sample logs to {}", dir.display())
                })?;
                tracing::info!(
                    files = SAMPLES.len(),
                    "demo: the bundled sample logs are read first"
                );
            }
            let w = DemoWriter::start(DemoConfig {
                dir: dir.clone(),
                ..DemoConfig::default()
            })
            .with_context(|| format!("starting the demo writer in {}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "demo: a bundled writer appends Traefik, PHP-FPM and WordPress logs here");
            Some(w)
        }
        None => None,
    };
    ov.warn_if_idle(&cfg);
    let live = Live::start(&cfg, opts.tap.as_deref())?;
    tracing::info!(
        checkpoint = %live.state().checkpoint_path().display(),
        sources = cfg.tail.sources.len(),
        "tailing"
    );
    let state = live.state().clone();
    let live = Arc::new(Mutex::new(Some(live)));
    let server = cfg.server.clone();
    let autoscale_cfg = cfg.clone();
    let demo = writer.is_some();
    let signalled = Arc::new(std::sync::OnceLock::<std::time::Instant>::new());
    let on_signal = Arc::clone(&signalled);
    // A reload that left no engine running: stop, and exit 1.
    let broken = Arc::new(AtomicBool::new(false));
    let reloader = Reloader {
        live: Arc::clone(&live),
        path: opts.config.clone(),
        ov: ov.clone(),
    };
    let on_broken = Arc::clone(&broken);
    rt.block_on(async move {
        let signals = stop_signals();
        let listener = tokio::net::TcpListener::bind(&addrs[..])
            .await
            .with_context(|| format!("binding {}", server.listen))?;
        let local = listener.local_addr()?;
        let scheme = if server.tls_cert_file.is_some() { "https" } else { "http" };
        tracing::info!("listening on {scheme}://{local}");
        if demo {
            tracing::info!("live per-site numbers: curl -s http://{local}/api/v1/sites | head; status: /api/v1/status, metrics: /metrics");
            tokio::spawn(print_table(state.clone()));
        }
        let fatal = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(reload_on_hup(hup, reloader, Arc::clone(&fatal)));
        // The autoscaler interfaces on their own ports, and what feeds
        // them, stop when the HTTP server does.
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let stopped = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        };
        let mut autoscale = sitepulse::autoscale::start::start(&autoscale_cfg, &state, stopped)
            .await
            .context("starting the autoscaler interfaces")?;
        let slo = {
            let mut rx = stop_tx.subscribe();
            sitepulse::slo::start(&autoscale_cfg.slo, &autoscale_cfg.alerting, &state, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .context("starting SLO evaluation")?
        };
        let mut app = AppState::new(state);
        if let Some(shared) = autoscale.metrics_api.take() {
            app = app.with_autoscale(shared);
        }
        // Rollouts from the Deployments, for deploy deadlines.
        let _deploy_watch = match slo.as_ref().and_then(|t| t.hub.clone()) {
            Some(hub) => sitepulse::kube::deployments::start(
                &autoscale_cfg.kubernetes,
                hub,
                &tokio::runtime::Handle::current(),
            )
            .context("watching Deployments")?,
            None => sitepulse::kube::pods::KubeTask::none(),
        };
        if let Some(t) = &slo {
            app.live.set_slo(Arc::clone(&t.shared), t.hub.clone());
            app = app.with_slo(Arc::clone(&t.shared), t.hub.clone());
        }
        let http = Arc::clone(&app.http);
        let router = serve::router(app, &server);
        let shutdown = async move {
            tokio::select! {
                () = shutdown_signal(signals) => {}
                () = fatal.notified() => on_broken.store(true, Ordering::SeqCst),
            }
            let _ = on_signal.set(std::time::Instant::now());
            let _ = stop_tx.send(true);
        };
        let served = serve::serve(listener, router, &server, http, shutdown)
            .await
            .context("serving HTTP");
        // The SLO counts' last save, before the runtime goes.
        if let Some(t) = slo
            && tokio::time::timeout(Duration::from_secs(5), t.join).await.is_err()
        {
            tracing::warn!("the SLO counts' final save did not finish within 5 s");
        }
        served
    })?;
    // Requests still running after serve's drain (half the grace) are
    // dropped with the runtime (and a reload waiting for SIGHUP with it).
    rt.shutdown_timeout(Duration::from_millis(100));
    let live = live.lock().unwrap_or_else(|p| p.into_inner()).take();
    let code = match live {
        Some(live) => stop(live, &cfg, &signalled),
        None => ExitCode::from(1),
    };
    let code = if broken.load(Ordering::SeqCst) {
        ExitCode::from(1)
    } else {
        code
    };
    if let Some(w) = writer
        && let Err(e) = w.stop()
    {
        tracing::error!("demo writer: {e:#}");
        return Ok(ExitCode::from(1));
    }
    Ok(code)
}

/// The final stop: one grace period from the signal for everything; what
/// the HTTP drain left of it goes to the checkpoint.
fn stop(live: Live, cfg: &Config, signalled: &std::sync::OnceLock<std::time::Instant>) -> ExitCode {
    tracing::info!("stopping: finishing in-flight batches and writing the checkpoint");
    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs)
        .saturating_sub(signalled.get().map_or(Duration::ZERO, |t| t.elapsed()));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(live.stop());
    });
    match rx.recv_timeout(grace) {
        Ok(Ok(())) => {
            tracing::info!("checkpoint written; bye");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            tracing::error!(
                "{:#}; a restart reads again what came after the last good checkpoint",
                anyhow::Error::new(e)
            );
            ExitCode::from(1)
        }
        Err(_) => {
            tracing::error!(
                "shutdown did not finish within server.shutdown_grace_secs ({} s); exiting anyway",
                cfg.server.shutdown_grace_secs
            );
            ExitCode::from(1)
        }
    }
}

/// What a SIGHUP needs.
#[derive(Clone)]
struct Reloader {
    live: Arc<Mutex<Option<Live>>>,
    path: Option<PathBuf>,
    ov: Overrides,
}

/// Reloads on every SIGHUP, one at a time; a reload that leaves no engine
/// running wakes `fatal`.
async fn reload_on_hup(
    mut hup: tokio::signal::unix::Signal,
    reloader: Reloader,
    fatal: Arc<tokio::sync::Notify>,
) {
    while hup.recv().await.is_some() {
        let r = reloader.clone();
        match tokio::task::spawn_blocking(move || r.reload()).await {
            Ok(Ok(())) => {}
            Ok(Err(())) | Err(_) => {
                fatal.notify_one();
                return;
            }
        }
    }
}

impl Reloader {
    /// One reload. `Err` when the collector no longer runs.
    fn reload(&self) -> Result<(), ()> {
        let Some(path) = &self.path else {
            tracing::info!("SIGHUP: no --config file, the embedded default has nothing to reload");
            return Ok(());
        };
        tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
        let mut cfg = match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                refused(path, &e.problems());
                return Ok(());
            }
        };
        self.ov.apply(&mut cfg);
        if let Err(e) = Listen::parse(&cfg.server.listen) {
            refused(
                path,
                &[sitepulse::config::Problem {
                    line: 0,
                    column: 0,
                    field: "server.listen".into(),
                    message: e,
                }],
            );
            return Ok(());
        }
        self.ov.warn_if_idle(&cfg);
        let mut guard = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let Some(live) = guard.as_mut() else {
            return Ok(());
        };
        match live.reload(cfg) {
            Ok(done) => {
                for field in &done.needs_restart {
                    tracing::warn!(
                        "{field}: changed in {}, takes effect at the next start; the running value stays",
                        path.display()
                    );
                }
                if let Some(e) = &done.save_error {
                    tracing::error!(
                        error = %e,
                        "the checkpoint save before the reload failed; the positions held in memory go on and the next save writes them"
                    );
                }
                let c = live.config();
                tracing::info!(
                    sources = c.tail.sources.len(),
                    windows = if done.windows_kept {
                        "kept"
                    } else {
                        "restarted (parse, sites or aggregate changed)"
                    },
                    "config reloaded"
                );
                Ok(())
            }
            Err(e @ ReloadError::Refused(_)) => {
                tracing::error!("{:#}", anyhow::Error::new(e));
                Ok(())
            }
            Err(e) => {
                tracing::error!("{:#}; stopping", anyhow::Error::new(e));
                guard.take();
                Err(())
            }
        }
    }
}

/// Logs a refused reload: a summary, then each problem on its own line.
fn refused(path: &Path, problems: &[sitepulse::config::Problem]) {
    tracing::error!(
        config = %path.display(),
        problems = problems.len(),
        "reload refused: the new config has problems; the running config stays"
    );
    for p in problems {
        tracing::error!("{}", p.display(path));
    }
}

/// SIGTERM and SIGINT, registered before the first `listening on` line:
/// a signal that comes while the rest starts is then a clean stop, not
/// the default action (death without a checkpoint).
fn stop_signals() -> Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)> {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => Some((t, i)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT");
            None
        }
    }
}

async fn shutdown_signal(
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
) {
    let Some((mut term, mut int)) = signals else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
}

/// The demo's live view: the busiest sites every 2 seconds.
async fn print_table(state: LiveState) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        let published = state.published();
        let text = {
            let mut t = format!(
                "\n{:<24} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}\n",
                "site (last 1m)", "rps", "p50 ms", "p95 ms", "p99 ms", "5xx %", "in-flight"
            );
            let mut rows: Vec<_> = published
                .sites
                .sites
                .iter()
                .filter(|s| s.windows[0].requests() > 0)
                .collect();
            rows.sort_by_key(|s| std::cmp::Reverse(s.windows[0].requests()));
            for s in rows.iter().take(12) {
                let w = &s.windows[0];
                let q = |x: f64| w.quantile_ms(x).map_or("-".into(), |v| format!("{v:.1}"));
                t.push_str(&format!(
                    "{:<24} {:>8.1} {:>8} {:>8} {:>8} {:>7.2} {:>9.2}\n",
                    s.name,
                    w.rps(),
                    q(0.5),
                    q(0.95),
                    q(0.99),
                    w.error_ratio() * 100.0,
                    w.in_flight()
                ));
            }
            t
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
