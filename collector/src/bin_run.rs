//! `sitepulse run`: starts the collector threads and the HTTP endpoints,
//! and stops gracefully on SIGTERM / SIGINT (finish what was read, write
//! the checkpoint, exit 0 within `server.shutdown_grace_secs`). A stop
//! that could not write the checkpoint (or ran out of time) exits 1 with
//! the cause logged; a start that fails exits 2.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use sitepulse::config::Config;
use sitepulse::demo::{DemoConfig, DemoWriter, SAMPLES, write_samples};
use sitepulse::run::{Live, LiveState};
use sitepulse::serve::{self, AppState};
use sitepulse_pipeline::FormatChoice;
use sitepulse_pipeline::record::LogFormat;
use sitepulse_tail::{ReadExisting, SourceConfig};

/// Options of `run` besides the config file.
pub struct RunOpts {
    /// Overrides `server.listen`.
    pub listen: Option<String>,
    /// Append every record as JSON with its dedup key here.
    pub tap: Option<PathBuf>,
    /// Tail a demo directory a bundled writer appends to.
    pub demo: Option<PathBuf>,
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("SITEPULSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
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
    init_tracing();
    if let Some(l) = opts.listen {
        cfg.server.listen = l;
    }
    let addr: SocketAddr = cfg
        .server
        .listen
        .parse()
        .with_context(|| format!("--listen {:?}: not an address:port", cfg.server.listen))?;
    let writer = match &opts.demo {
        Some(dir) => {
            demo_config(&mut cfg, dir);
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
    let nofile = sitepulse::limits::raise_nofile();
    if cfg.tail.max_open_files == 0 {
        cfg.tail.max_open_files =
            sitepulse::limits::tail_budget(nofile, cfg.server.max_connections as u64);
    }
    let live = Live::start(&cfg, opts.tap.as_deref())?;
    tracing::info!(
        checkpoint = %live.state().checkpoint_path().display(),
        sources = cfg.tail.sources.len(),
        "tailing"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sitepulse-http")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let state = live.state().clone();
    let server = cfg.server.clone();
    let demo = writer.is_some();
    let signalled = std::sync::Arc::new(std::sync::OnceLock::<std::time::Instant>::new());
    let on_signal = std::sync::Arc::clone(&signalled);
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!("listening on http://{local}");
        if demo {
            tracing::info!("live per-site numbers: curl -s http://{local}/api/v1/sites | head; status: /api/v1/status, metrics: /metrics");
            tokio::spawn(print_table(state.clone()));
        }
        let app = AppState::new(state);
        let http = std::sync::Arc::clone(&app.http);
        let router = serve::router(app, &server);
        let shutdown = async move {
            shutdown_signal().await;
            let _ = on_signal.set(std::time::Instant::now());
        };
        serve::serve(listener, router, &server, http, shutdown)
            .await
            .context("serving HTTP")
    })?;
    // Requests still running after serve's drain (half the grace) are
    // dropped with the runtime.
    rt.shutdown_timeout(Duration::from_millis(100));
    tracing::info!("stopping: finishing in-flight batches and writing the checkpoint");
    // One grace period from the signal for everything: what the HTTP drain
    // left of it goes to the checkpoint.
    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs)
        .saturating_sub(signalled.get().map_or(Duration::ZERO, |t| t.elapsed()));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(live.stop());
    });
    let code = match rx.recv_timeout(grace) {
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
    };
    if let Some(w) = writer {
        w.stop().context("demo writer")?;
    }
    Ok(code)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
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
