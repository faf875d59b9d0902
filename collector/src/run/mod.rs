//! `sitepulse run`'s engine: a reader thread runs the [`Tailer`] and hands
//! complete lines to a pipeline thread in batches through a bounded queue
//! ([`batch`]); the pipeline thread feeds them through the pipeline, writes
//! the tap ([`tap`]) and saves checkpoints ([`worker`]); both publish
//! immutable snapshots that every reader loads without a lock ([`state`]).

pub mod batch;
pub mod state;
pub mod tap;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use sitepulse_pipeline::join::JoinRule;
use sitepulse_pipeline::{FormatChoice, Pipeline, PipelineError};
use sitepulse_tail::{CheckpointError, Checkpoints, TailError, Tailer};

use crate::config::Config;
use batch::{Batch, Batcher, Msg};
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

/// A running collector.
#[derive(Debug)]
pub struct Live {
    state: LiveState,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<Result<(), SaveError>>>,
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
        let tailer = Tailer::new(&cfg.tail, checkpoints.clone())?;
        let tap = match tap {
            Some(p) => Some(Tap::open(p).map_err(|source| LiveError::Io {
                what: format!("tap {}", p.display()),
                source,
            })?),
            None => None,
        };
        let now = crate::unix_now_f64();
        let mut pipeline = Pipeline::new(&cfg.pipeline(), now.floor() as i64)?;
        pipeline.start_live(now);
        let stop = Arc::new(AtomicBool::new(false));
        let queue = cfg.tail.queue_batches.max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(queue);
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Batch>(queue + 2);
        let state = LiveState::new(tx.clone(), checkpoint_path, opened.quarantined);
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
            let shared = state.clone();
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
                    read_loop(tailer, batcher, &stop, &shared);
                })
                .map_err(|source| LiveError::Io {
                    what: "starting the reader thread".into(),
                    source,
                })?
        };
        let worker = {
            let shared = state.clone();
            let interval = Duration::from_millis(cfg.tail.checkpoint_interval_ms.max(10));
            let forget_secs = cfg.tail.forget_after_secs;
            std::thread::Builder::new()
                .name("sitepulse-pipeline".into())
                .spawn(move || {
                    let obs = TapObserver {
                        tap,
                        key: String::new(),
                        errors: 0,
                    };
                    let mut w = Worker {
                        core: Core {
                            pipeline,
                            streams: HashMap::new(),
                            closed: BTreeMap::new(),
                            checkpoint_saved: None,
                            checkpoint_saves: 0,
                            checkpoint_failures: 0,
                            checkpoint_error: None,
                            tap_errors: 0,
                        },
                        shared,
                        seq: 0,
                        obs,
                        checkpoints,
                        free: free_tx,
                        interval,
                        forget_secs,
                        urgent: false,
                    };
                    w.run(&rx)
                })
                .map_err(|source| LiveError::Io {
                    what: "starting the pipeline thread".into(),
                    source,
                })?
        };
        Ok(Live {
            state,
            stop,
            reader: Some(reader),
            worker: Some(worker),
        })
    }

    /// The state the HTTP server reads.
    pub fn state(&self) -> &LiveState {
        &self.state
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
        self.stop.store(true, Ordering::SeqCst);
        let reader = self.reader.take().map(JoinHandle::join);
        let worker = self.worker.take().map(JoinHandle::join);
        // The pipeline thread's outcome first: it owns the checkpoint.
        match worker {
            Some(Err(_)) => return Err(StopError::Panicked("pipeline")),
            Some(Ok(Err(e))) => return Err(StopError::Save(e)),
            _ => {}
        }
        match reader {
            Some(Err(_)) => Err(StopError::Panicked("reader")),
            _ => Ok(()),
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

fn read_loop(mut tailer: Tailer, mut sink: Batcher, stop: &AtomicBool, shared: &LiveState) {
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
                stats: tailer.stats(),
                taken: Some(SystemTime::now()),
                first_scan_done: true,
            });
        }
    }
    // Dropping the batcher flushes it and tells the pipeline thread it has
    // every batch.
    drop(sink);
}
