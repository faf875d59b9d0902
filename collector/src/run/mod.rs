//! `sitepulse run`'s engine: a reader thread runs the [`Tailer`] and hands
//! complete lines to a pipeline thread in batches through a bounded queue
//! ([`batch`]); the pipeline thread feeds them through the pipeline, writes
//! the tap ([`tap`]) and saves checkpoints ([`worker`]); both publish
//! immutable snapshots that every reader loads without a lock ([`state`]).

pub mod batch;
pub(crate) mod catchup;
pub mod reload;
pub mod ship;
pub(crate) mod sinks;
pub mod state;
pub mod tap;
pub mod worker;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use sitepulse_pipeline::join::JoinRule;
use sitepulse_pipeline::{FormatChoice, Pipeline, PipelineError};
use sitepulse_tail::{CheckpointError, Checkpoints, TailError, TailStats, Tailer};

use crate::config::Config;
use batch::{Batch, Batcher, Msg};
use catchup::CatchUp;
use ship::{Outputs, ShipObserver};
use sinks::SinkSet;
use sitepulse_sinks::logs::LogSink;
pub use state::{IngestSnapshot, LiveState, Published, TailSnapshot};
use tap::{Tap, TapObserver};
use worker::{Core, TICK, Worker};
pub use worker::{SaveError, SourceCounts};

/// The collector cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The pipeline config is invalid.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A tail glob is invalid.
    #[error(transparent)]
    Tail(#[from] TailError),
    /// The checkpoint file cannot be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The tap file or a thread could not be created.
    #[error("{what}")]
    Io { what: String, source: io::Error },
    /// A sink could not be opened (its spool, its client).
    #[error("sinks: {0}")]
    Sinks(#[from] sitepulse_sinks::SinkError),
}

/// The collector did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The last checkpoint save failed: a restart re-reads what was
    /// delivered since the last good one.
    #[error("the final checkpoint save failed")]
    Save(#[source] SaveError),
    /// A thread panicked (the pipeline thread's final save did not run).
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

/// A running collector: the published state readers share, and the
/// engine (reader and pipeline threads) that a reload replaces.
#[derive(Debug)]
pub struct Live {
    state: LiveState,
    /// The pipeline thread's queue outlives the engines: the readers'
    /// state wakes whichever pipeline thread runs now through it.
    tx: SyncSender<Msg>,
    tap: Option<PathBuf>,
    /// The config the engine runs with.
    cfg: Config,
    engine: Option<Engine>,
    /// The sinks' senders (the producers run in the engine).
    sinks: Option<SinkSet>,
}

/// The reader and pipeline threads of one config.
#[derive(Debug)]
struct Engine {
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<TailStats>>,
    worker: Option<JoinHandle<WorkerEnd>>,
}

/// What a pipeline thread hands back when it stops, for the next engine.
struct WorkerEnd {
    saved: Result<(), SaveError>,
    pipeline: Pipeline,
    checkpoints: Checkpoints,
    rx: Receiver<Msg>,
    /// The log sinks' producers, committed.
    log_sinks: Vec<Box<dyn LogSink>>,
}

impl std::fmt::Debug for WorkerEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerEnd")
            .field("saved", &self.saved)
            .finish_non_exhaustive()
    }
}

/// Where the next engine starts from.
struct Handover {
    checkpoints: Checkpoints,
    pipeline: Pipeline,
    rx: Receiver<Msg>,
    /// Counters of the engines before (tailer and ingest), so what
    /// readers see keeps counting across a reload.
    tail_base: TailStats,
    ingest: IngestSnapshot,
    seq: u64,
    log_sinks: Vec<Box<dyn LogSink>>,
}

/// Where `auto` puts checkpoints: `/var/lib/sitepulse` when it can be
/// created and written (a DaemonSet's hostPath), else the user's state
/// directory.
pub fn resolve_checkpoint_path(setting: &str) -> PathBuf {
    if setting != "auto" {
        return PathBuf::from(setting);
    }
    let system = Path::new("/var/lib/sitepulse");
    let writable = std::fs::create_dir_all(system).is_ok() && tempfile_probe(system).is_ok();
    if writable {
        return system.join("checkpoints.json");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("sitepulse/checkpoints.json")
}

fn tempfile_probe(dir: &Path) -> io::Result<()> {
    let p = dir.join(format!(".probe-{}", std::process::id()));
    File::create(&p)?;
    std::fs::remove_file(&p)
}

impl Live {
    /// Loads the checkpoint, opens the tap (appending), and starts the
    /// reader and pipeline threads.
    ///
    /// # Errors
    /// [`LiveError`] for a bad checkpoint file, an unwritable tap or
    /// checkpoint directory, or invalid globs.
    pub fn start(cfg: &Config, tap: Option<&Path>) -> Result<Live, LiveError> {
        let checkpoint_path = resolve_checkpoint_path(&cfg.tail.checkpoint_path);
        if let Some(dir) = checkpoint_path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| LiveError::Io {
                what: format!("checkpoint directory {}", dir.display()),
                source,
            })?;
        }
        let (checkpoints, opened) =
            Checkpoints::open(&checkpoint_path, cfg.tail.checkpoint_corrupt)?;
        if let Some(tmp) = &opened.stale_tmp_removed {
            tracing::info!(
                path = %tmp.display(),
                "removed the temporary file of a checkpoint save that was interrupted"
            );
        }
        if let Some(q) = &opened.quarantined {
            tracing::error!(
                path = %q.from.display(),
                moved_to = %q.to.display(),
                error = %q.reason,
                "the checkpoint file is corrupt: moved aside; starting without it, as on a first start (tail.read_existing applies; tail.checkpoint_corrupt: fail refuses instead)"
            );
        }
        let now = crate::unix_now_f64();
        let mut pipeline = Pipeline::new(&cfg.pipeline(), now.floor() as i64)?;
        pipeline.start_live(now);
        let queue = cfg.tail.queue_batches.max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(queue);
        let state = LiveState::new(tx.clone(), checkpoint_path, opened.quarantined);
        let (sink_set, log_sinks) = SinkSet::open(&cfg.sinks, &state)?;
        let mut live = Live {
            state,
            tx,
            tap: tap.map(Path::to_owned),
            cfg: cfg.clone(),
            engine: None,
            sinks: Some(sink_set),
        };
        let handover = Handover {
            checkpoints,
            pipeline,
            rx,
            tail_base: TailStats::default(),
            ingest: IngestSnapshot::default(),
            seq: 0,
            log_sinks,
        };
        live.engine = Some(live.spawn(cfg, handover)?);
        Ok(live)
    }

    /// Starts the reader and pipeline threads of `cfg` from `h`.
    fn spawn(&self, cfg: &Config, h: Handover) -> Result<Engine, LiveError> {
        let tailer = Tailer::new(&cfg.tail, h.checkpoints.clone())?;
        let tap = match &self.tap {
            Some(p) => Some(Tap::open(p).map_err(|source| LiveError::Io {
                what: format!("tap {}", p.display()),
                source,
            })?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let queue = cfg.tail.queue_batches.max(1);
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Batch>(queue + 2);
        let batch_bytes = cfg.tail.batch_bytes;
        // Validated with the config: compiling cannot fail here.
        let formats: Vec<(FormatChoice, Option<Arc<JoinRule>>)> = cfg
            .tail
            .sources
            .iter()
            .map(|s| {
                let join = s.multiline.as_ref().and_then(|m| JoinRule::compile(m).ok());
                (s.format, join.map(Arc::new))
            })
            .collect();
        let reader = {
            let stop = Arc::clone(&stop);
            let shared = self.state.clone();
            let tx = self.tx.clone();
            let base = h.tail_base;
            std::thread::Builder::new()
                .name("sitepulse-tail".into())
                .spawn(move || {
                    let batcher = Batcher {
                        tx,
                        free: free_rx,
                        cur: Batch {
                            data: Vec::with_capacity(batch_bytes + 4096),
                            ..Batch::default()
                        },
                        batch_bytes,
                        formats,
                        closed: false,
                    };
                    read_loop(tailer, batcher, &stop, &shared, &base)
                })
                .map_err(|source| LiveError::Io {
                    what: "starting the reader thread".into(),
                    source,
                })?
        };
        let worker = {
            let shared = self.state.clone();
            let interval = Duration::from_millis(cfg.tail.checkpoint_interval_ms.max(10));
            let publish_every =
                Duration::from_millis(cfg.server.publish_interval_ms.clamp(10, 1000));
            let forget_secs = cfg.tail.forget_after_secs;
            let Handover {
                checkpoints,
                pipeline,
                rx,
                ingest,
                seq,
                log_sinks,
                ..
            } = h;
            let pcfg = cfg.pipeline();
            std::thread::Builder::new()
                .name("sitepulse-pipeline".into())
                .spawn(move || {
                    let obs = Outputs {
                        tap: TapObserver {
                            tap,
                            key: String::new(),
                            errors: ingest.tap_errors,
                        },
                        ship: ShipObserver::new(log_sinks, ship::node_name()),
                    };
                    let mut w = Worker {
                        core: Core {
                            pipeline,
                            streams: HashMap::new(),
                            // What the engines before counted.
                            closed: ingest.sources,
                            checkpoint_saved: ingest.checkpoint_saved,
                            checkpoint_saves: ingest.checkpoint_saves,
                            checkpoint_failures: ingest.checkpoint_failures,
                            checkpoint_error: ingest.checkpoint_error,
                            tap_errors: ingest.tap_errors,
                        },
                        shared,
                        seq,
                        obs,
                        catchup: CatchUp::new(pcfg),
                        checkpoints,
                        free: free_tx,
                        interval,
                        publish_every,
                        forget_secs,
                        urgent: false,
                    };
                    let saved = w.run(&rx);
                    WorkerEnd {
                        saved,
                        pipeline: w.core.pipeline,
                        checkpoints: w.checkpoints,
                        rx,
                        log_sinks: w.obs.ship.sinks,
                    }
                })
                .map_err(|source| LiveError::Io {
                    what: "starting the pipeline thread".into(),
                    source,
                })?
        };
        Ok(Engine {
            stop,
            reader: Some(reader),
            worker: Some(worker),
        })
    }

    /// The state the HTTP server reads.
    pub fn state(&self) -> &LiveState {
        &self.state
    }

    /// The config the collector runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Stops reading, lets the pipeline thread finish what was read, and
    /// saves the checkpoint. Returns once both threads are done.
    ///
    /// # Errors
    /// [`StopError`] when the final checkpoint save failed or a thread
    /// panicked: the checkpoint on disk may be behind what was delivered.
    pub fn stop(mut self) -> Result<(), StopError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), StopError> {
        let r = match self.engine.take().map(Engine::stop) {
            None => Ok(()),
            Some(Ok((end, _))) => end.saved.map_err(StopError::Save),
            Some(Err(e)) => Err(e),
        };
        // After the engine: its last save committed every batch to the
        // spools, and the senders may take their time on what is left.
        if let Some(s) = self.sinks.take() {
            s.stop();
        }
        r
    }
}

impl Engine {
    /// Stops reading and waits for both threads: the pipeline thread
    /// finishes what was read and saves the checkpoint a last time.
    fn stop(mut self) -> Result<(WorkerEnd, TailStats), StopError> {
        self.stop.store(true, Ordering::SeqCst);
        let reader = self.reader.take().map(JoinHandle::join);
        let worker = self.worker.take().map(JoinHandle::join);
        // The pipeline thread's outcome first: it owns the checkpoint.
        let end = match worker {
            Some(Ok(end)) => end,
            _ => return Err(StopError::Panicked("pipeline")),
        };
        match reader {
            Some(Ok(stats)) => Ok((end, stats)),
            _ => Err(StopError::Panicked("reader")),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Dropped on an error path (not stopped): stop the threads anyway.
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // Already stopped by `stop`, or dropped on an error path where a
        // second error would only hide the first.
        let _ = self.shutdown();
    }
}

/// How often the reader refreshes the file list when nobody asks for it.
const PUBLISH_IDLE: Duration = Duration::from_secs(10);

fn read_loop(
    mut tailer: Tailer,
    mut sink: Batcher,
    stop: &AtomicBool,
    shared: &LiveState,
    base: &TailStats,
) -> TailStats {
    let mut next_publish = Instant::now();
    while !stop.load(Ordering::SeqCst) && !sink.closed {
        tailer.step(TICK, &mut sink);
        let now = Instant::now();
        // The file list (thousands of paths) is built when the status
        // endpoint asks, or now and then: not on every tick of an idle node.
        if shared.take_tail_wanted() || now >= next_publish {
            next_publish = now + PUBLISH_IDLE;
            shared.publish_tail(TailSnapshot {
                seq: 0,
                files: tailer.files(),
                stats: reload::add_counters(base, tailer.stats()),
                taken: Some(SystemTime::now()),
                first_scan_done: true,
            });
        }
    }
    // Dropping the batcher flushes it and tells the pipeline thread it has
    // every batch.
    drop(sink);
    reload::add_counters(base, tailer.stats())
}
