//! The long-running collector behind `sitepulse run`: a reader thread
//! runs the [`Tailer`] and hands complete lines over in batches through a
//! bounded queue (when parsing falls behind, the queue fills and reading
//! waits: memory stays bounded); a pipeline thread feeds them through
//! frame → parse → label → aggregate, writes the optional tap, and saves
//! checkpoints.
//!
//! A checkpoint only passes lines whose effects are committed: fed to the
//! aggregate, written to the tap (flushed and `fdatasync`ed before each
//! checkpoint save), and not held back in a partial CRI line or an open
//! multi-line record. Delivery is therefore at-least-once: after a crash
//! the lines past the last checkpoint are read again, each with the same
//! dedup key (file identity and end offset). A graceful stop saves the
//! checkpoint at exactly what was delivered, so a restart re-reads nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Config, FormatChoice};
use crate::frame::RawLine;
use crate::label::SiteId;
use crate::output;
use crate::pipeline::{FileFeed, FileReport, Observer, Origin, Pipeline, PipelineError};
use crate::record::Record;
use crate::tail::checkpoint::{CheckpointError, Checkpoints};
use crate::tail::follow::{FollowEvent, StreamId};
use crate::tail::identity::{FINGERPRINT_BYTES, FileId};
use crate::tail::tailer::{FileStatus, TailError, TailSink, TailStats, Tailer};

/// Bytes read from the start of a file opened past its start, to detect
/// its framing and format.
const SNIFF_BYTES: usize = 64 * 1024;

/// How often the windows advance with the wall clock and the reader
/// publishes its file list.
const TICK: Duration = Duration::from_secs(1);

/// One line's place in a [`Batch`].
#[derive(Debug, Clone, Copy)]
struct LineMeta {
    /// End of the line's bytes in `Batch::data` (its `\n` follows).
    end: u32,
    start_offset: u64,
    end_offset: u64,
    truncated: bool,
    unterminated: bool,
}

/// Complete lines of one stream, copied out of the reader's buffer.
#[derive(Debug, Default)]
struct Batch {
    stream: StreamId,
    id: Option<FileId>,
    data: Vec<u8>,
    lines: Vec<LineMeta>,
}

impl Batch {
    fn clear(&mut self) {
        self.data.clear();
        self.lines.clear();
    }
}

/// What the reader hands to the pipeline thread, in file order per stream.
#[derive(Debug)]
enum Msg {
    Opened {
        stream: StreamId,
        id: FileId,
        key: (u64, u64),
        path: PathBuf,
        offset: u64,
        format: FormatChoice,
        /// The file's first bytes when it was opened past its start.
        prefix: Vec<u8>,
        /// Hash of the first line, when already known.
        head: Option<u64>,
    },
    Lines(Batch),
    Closed {
        stream: StreamId,
        id: FileId,
    },
}

/// The FNV-1a hash of a file's first line (at most [`FINGERPRINT_BYTES`],
/// without its `\n` or a trailing `\r`): the stable part of a dedup key.
/// Unlike the fingerprint, it does not change as a short file grows, and
/// the first line is complete before any line of the file is delivered.
fn head_hash(line: &[u8]) -> u64 {
    use std::hash::Hasher;
    let line = &line[..line.len().min(FINGERPRINT_BYTES)];
    let mut h = fnv::FnvHasher::default();
    h.write(line);
    h.finish()
}

fn read_prefix(file: &File, max: usize) -> Vec<u8> {
    let mut buf = vec![0u8; max];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    buf.truncate(n);
    buf
}

fn first_line(prefix: &[u8]) -> Option<&[u8]> {
    let nl = memchr::memchr(b'\n', prefix)?;
    let line = &prefix[..nl];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// The reader side: turns follower events into messages.
struct Batcher {
    tx: SyncSender<Msg>,
    free: Receiver<Batch>,
    cur: Batch,
    batch_bytes: usize,
    /// The receiver is gone: stop reading.
    closed: bool,
}

impl Batcher {
    fn send(&mut self, msg: Msg) {
        if !self.closed && self.tx.send(msg).is_err() {
            self.closed = true;
        }
    }

    fn flush_batch(&mut self) {
        if self.cur.lines.is_empty() {
            return;
        }
        let next = match self.free.try_recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Batch {
                data: Vec::with_capacity(self.batch_bytes + 4096),
                ..Batch::default()
            },
        };
        let full = std::mem::replace(&mut self.cur, next);
        self.send(Msg::Lines(full));
    }
}

impl TailSink for Batcher {
    fn event(&mut self, ev: FollowEvent<'_>, format: FormatChoice) {
        match ev {
            FollowEvent::Opened {
                stream,
                id,
                key,
                path,
                file,
                offset,
            } => {
                self.flush_batch();
                let (prefix, head) = if offset > 0 {
                    let prefix = read_prefix(file, SNIFF_BYTES);
                    let head = first_line(&prefix).map(head_hash);
                    (prefix, head)
                } else {
                    (Vec::new(), None)
                };
                self.send(Msg::Opened {
                    stream,
                    id,
                    key,
                    path: path.to_owned(),
                    offset,
                    format,
                    prefix,
                    head,
                });
            }
            FollowEvent::Line { stream, id, line } => {
                if self.cur.stream != stream && !self.cur.lines.is_empty() {
                    self.flush_batch();
                }
                self.cur.stream = stream;
                self.cur.id = Some(id);
                self.cur.data.extend_from_slice(line.bytes);
                self.cur.lines.push(LineMeta {
                    end: self.cur.data.len() as u32,
                    start_offset: line.start_offset,
                    end_offset: line.end_offset,
                    truncated: line.truncated,
                    unterminated: line.unterminated,
                });
                self.cur.data.push(b'\n');
                if self.cur.data.len() >= self.batch_bytes {
                    self.flush_batch();
                }
            }
            FollowEvent::Closed { stream, id, .. } => {
                self.flush_batch();
                self.send(Msg::Closed { stream, id });
            }
        }
    }

    fn flush(&mut self) {
        self.flush_batch();
    }
}

/// The key a checkpoint entry records: only when it differs from the
/// file's own inode (a rotated copy).
fn copy_key(id: &FileId, key: (u64, u64)) -> Option<(u64, u64)> {
    (key != (id.dev, id.ino)).then_some(key)
}

/// Per-format counters for self-metrics (as `/api/v1/status` shows them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceCounts {
    /// Physical lines.
    pub lines: u64,
    /// Bytes of those lines.
    pub bytes: u64,
    /// Records parsed.
    pub records: u64,
    /// Lines that did not parse, by reason.
    #[serde(rename = "parse_errors")]
    pub unparsed: BTreeMap<&'static str, u64>,
    /// Lines cut at `max_line_bytes`.
    pub truncated: u64,
}

impl SourceCounts {
    fn add(&mut self, r: &FileReport, bytes: u64) {
        self.lines += r.lines;
        self.bytes += bytes;
        self.records += r.records;
        self.truncated += r.truncated;
        for (k, v) in &r.unparsed {
            *self.unparsed.entry(k).or_default() += v;
        }
    }
}

/// One stream as the pipeline thread sees it.
#[derive(Debug)]
struct StreamState {
    path: PathBuf,
    name: String,
    id: FileId,
    /// `(dev, ino)` of the dedup key (the original's, for a rotated copy).
    key: (u64, u64),
    format: FormatChoice,
    head: Option<u64>,
    feed: Option<FileFeed>,
    /// Where the stream was opened.
    start: u64,
    /// Everything before this is committed.
    committed: u64,
    /// Highest end offset fed.
    fed: u64,
}

impl StreamState {
    fn source_name(&self) -> &'static str {
        self.feed
            .as_ref()
            .and_then(|f| f.report().source)
            .map_or("unknown", |s| s.name())
    }
}

/// What the HTTP side reads: the pipeline and the stream states, under one
/// lock the pipeline thread takes per batch.
#[derive(Debug)]
pub struct Core {
    /// The hot path and its aggregate.
    pub pipeline: Pipeline,
    streams: HashMap<StreamId, StreamState>,
    closed: BTreeMap<&'static str, SourceCounts>,
    /// Last successful checkpoint save.
    pub checkpoint_saved: Option<SystemTime>,
    /// Checkpoint saves so far.
    pub checkpoint_saves: u64,
    /// The last checkpoint save error, if the last save failed.
    pub checkpoint_error: Option<String>,
    /// Tap write errors.
    pub tap_errors: u64,
}

impl Core {
    /// Lines, bytes, records and parse errors per format, over every
    /// stream this run (closed and open).
    pub fn source_counts(&self) -> BTreeMap<&'static str, SourceCounts> {
        let mut out = self.closed.clone();
        for s in self.streams.values() {
            if let Some(f) = &s.feed {
                out.entry(s.source_name())
                    .or_default()
                    .add(f.report(), s.fed.saturating_sub(s.start));
            }
        }
        out
    }

    /// The committed offset of each open stream, by stream.
    pub fn committed(&self) -> HashMap<StreamId, u64> {
        self.streams
            .iter()
            .map(|(k, s)| (*k, s.committed))
            .collect()
    }
}

/// What the reader publishes for the status endpoint.
#[derive(Debug, Clone, Default)]
pub struct TailSnapshot {
    /// Open files.
    pub files: Vec<FileStatus>,
    /// Tailer counters.
    pub stats: TailStats,
    /// When this was taken.
    pub taken: Option<SystemTime>,
    /// A reader of the status wants a fresh one (taken within ~100 ms).
    pub wanted: bool,
}

/// Handles shared with the HTTP server.
#[derive(Debug, Clone)]
pub struct LiveState {
    /// Pipeline, streams, checkpoint status.
    pub core: Arc<Mutex<Core>>,
    /// Files and tailer counters.
    pub tail: Arc<Mutex<TailSnapshot>>,
    /// When the collector started.
    pub started: SystemTime,
    /// Where checkpoints are saved.
    pub checkpoint_path: PathBuf,
}

/// Locks, ignoring poisoning: the state is counters and windows, still
/// meaningful after a panic elsewhere.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

/// A running collector.
#[derive(Debug)]
pub struct Live {
    state: LiveState,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
}

/// The tap: every record as a JSON line with its dedup key. Lines are
/// written whole (a `write(2)` per 256 KiB of complete lines), so a crash
/// leaves at most one torn line at the end, which the next start closes
/// with a `\n` before appending.
struct Tap {
    out: File,
    pending: Vec<u8>,
    scratch: Vec<u8>,
}

const TAP_WRITE_BYTES: usize = 256 * 1024;

impl Tap {
    fn open(path: &Path) -> io::Result<Tap> {
        let mut out = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let len = out.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            out.read_exact_at(&mut last, len - 1)?;
            if last[0] != b'\n' {
                out.write_all(b"\n")?;
            }
        }
        Ok(Tap {
            out,
            pending: Vec::with_capacity(TAP_WRITE_BYTES + 4096),
            scratch: Vec::with_capacity(4096),
        })
    }

    /// Writes the complete lines held; on error they stay held (and the
    /// checkpoint does not move) until a later write succeeds.
    fn write_pending(&mut self) -> io::Result<()> {
        self.out.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }
}

/// The pipeline thread's observer: writes the tap.
struct LiveObserver {
    tap: Option<Tap>,
    /// `dev:ino:head:` of the stream being fed.
    key: String,
    errors: u64,
}

impl Observer for LiveObserver {
    fn record(&mut self, origin: &Origin<'_>, rec: &Record<'_>, _site: SiteId, site_name: &str) {
        let Some(tap) = &mut self.tap else {
            return;
        };
        tap.scratch.clear();
        let stream = match origin.message.stream {
            crate::frame::Stream::Unknown => "",
            s => s.name(),
        };
        output::write_record(
            &mut tap.scratch,
            rec,
            &output::Origin {
                site: site_name,
                file: origin.name,
                offset: origin.message.end_offset,
                stream,
            },
        );
        let end = origin.message.end_offset;
        let _ = write!(tap.pending, "{{\"key\":\"{}{end}\",", self.key);
        tap.pending.extend_from_slice(&tap.scratch[1..]);
        if tap.pending.len() >= TAP_WRITE_BYTES && tap.write_pending().is_err() {
            self.errors += 1;
        }
    }
}

impl LiveObserver {
    /// Makes everything written so far durable.
    fn sync(&mut self) -> io::Result<()> {
        if let Some(tap) = &mut self.tap {
            tap.write_pending()?;
            tap.out.sync_data()?;
        }
        Ok(())
    }
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
        let checkpoints = Checkpoints::load(&checkpoint_path)?;
        let tailer = Tailer::new(&cfg.tail, checkpoints.clone())?;
        let tap = match tap {
            Some(p) => Some(Tap::open(p).map_err(|source| LiveError::Io {
                what: format!("tap {}", p.display()),
                source,
            })?),
            None => None,
        };
        let mut pipeline = Pipeline::new(cfg)?;
        pipeline.tick();
        let state = LiveState {
            core: Arc::new(Mutex::new(Core {
                pipeline,
                streams: HashMap::new(),
                closed: BTreeMap::new(),
                checkpoint_saved: None,
                checkpoint_saves: 0,
                checkpoint_error: None,
                tap_errors: 0,
            })),
            tail: Arc::new(Mutex::new(TailSnapshot::default())),
            started: SystemTime::now(),
            checkpoint_path: checkpoint_path.clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(cfg.tail.queue_batches.max(1));
        let (free_tx, free_rx) =
            std::sync::mpsc::sync_channel::<Batch>(cfg.tail.queue_batches.max(1) + 2);
        let batch_bytes = cfg.tail.batch_bytes;
        let reader = {
            let stop = Arc::clone(&stop);
            let snap = Arc::clone(&state.tail);
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
                        closed: false,
                    };
                    read_loop(tailer, batcher, &stop, &snap);
                })
                .map_err(|source| LiveError::Io {
                    what: "starting the reader thread".into(),
                    source,
                })?
        };
        let worker = {
            let core = Arc::clone(&state.core);
            let interval = Duration::from_millis(cfg.tail.checkpoint_interval_ms.max(10));
            let forget_secs = cfg.tail.forget_after_secs;
            std::thread::Builder::new()
                .name("sitepulse-pipeline".into())
                .spawn(move || {
                    let obs = LiveObserver {
                        tap,
                        key: String::new(),
                        errors: 0,
                    };
                    let mut w = Worker {
                        core,
                        obs,
                        checkpoints,
                        free: free_tx,
                        interval,
                        forget_secs,
                        urgent: false,
                    };
                    w.run(&rx);
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
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
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
        self.shutdown();
    }
}

/// How often the reader refreshes the file list when nobody asks for it.
const PUBLISH_IDLE: Duration = Duration::from_secs(10);

fn read_loop(mut tailer: Tailer, mut sink: Batcher, stop: &AtomicBool, snap: &Mutex<TailSnapshot>) {
    let mut next_publish = Instant::now();
    while !stop.load(Ordering::SeqCst) && !sink.closed {
        tailer.step(TICK, &mut sink);
        let now = Instant::now();
        // The file list (thousands of paths) is built when the status
        // endpoint asks, or now and then: not on every tick of an idle node.
        let wanted = lock(snap).wanted;
        if wanted || now >= next_publish {
            next_publish = now + PUBLISH_IDLE;
            let files = tailer.files();
            let stats = tailer.stats();
            let mut s = lock(snap);
            s.files = files;
            s.stats = stats;
            s.taken = Some(SystemTime::now());
            s.wanted = false;
        }
    }
    sink.flush();
    // Dropping the sender ends the pipeline thread's loop once it has
    // taken every batch.
}

struct Worker {
    core: Arc<Mutex<Core>>,
    obs: LiveObserver,
    checkpoints: Checkpoints,
    free: SyncSender<Batch>,
    interval: Duration,
    forget_secs: u64,
    /// A new file was registered: save the checkpoint now.
    urgent: bool,
}

impl Worker {
    fn run(&mut self, rx: &Receiver<Msg>) {
        let mut next_tick = Instant::now() + TICK;
        let mut next_save = Instant::now() + self.interval;
        loop {
            let wait = next_tick
                .min(next_save)
                .saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(msg) => {
                    self.handle(msg);
                    // Whatever else is queued, before the clock work.
                    for _ in 0..1024 {
                        match rx.try_recv() {
                            Ok(msg) => self.handle(msg),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if std::mem::take(&mut self.urgent) {
                self.save();
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                lock(&self.core).pipeline.tick();
            }
            if now >= next_save {
                next_save = now + self.interval;
                self.save();
            }
        }
        self.save();
    }

    fn handle(&mut self, msg: Msg) {
        let mut core = lock(&self.core);
        let core = &mut *core;
        match msg {
            Msg::Opened {
                stream,
                id,
                key,
                path,
                offset,
                format,
                prefix,
                head,
            } => {
                let name = path.display().to_string();
                // A file not in the checkpoint yet gets its entry saved at
                // once: if it is rotated away while we are down, the
                // restart finds it by this entry.
                let known = self.checkpoints.get(id.dev, id.ino).is_some_and(|e| {
                    e.id.fp_len <= id.fp_len && (e.id.fp == id.fp || e.id.fp_len < id.fp_len)
                });
                if !known {
                    self.checkpoints
                        .commit(id, &path, offset, copy_key(&id, key));
                    self.urgent = true;
                }
                let feed = (!prefix.is_empty()).then(|| {
                    let complete = prefix.len() < SNIFF_BYTES;
                    core.pipeline
                        .open_feed_as(&name, Some(&path), &prefix, complete, format)
                });
                core.streams.insert(
                    stream,
                    StreamState {
                        path,
                        name,
                        id,
                        key,
                        format,
                        head,
                        feed,
                        start: offset,
                        committed: offset,
                        fed: offset,
                    },
                );
            }
            Msg::Lines(batch) => {
                if let Some(s) = core.streams.get_mut(&batch.stream) {
                    if let Some(id) = batch.id {
                        s.id = id;
                    }
                    let first = batch.lines.first().copied();
                    if s.head.is_none()
                        && let Some(l) = first
                        && l.start_offset == 0
                    {
                        s.head = Some(head_hash(&batch.data[..l.end as usize]));
                    }
                    let feed = s.feed.get_or_insert_with(|| {
                        // Opened at 0 (or empty): detect from these lines.
                        core.pipeline.open_feed_as(
                            &s.name,
                            Some(&s.path),
                            &batch.data,
                            true,
                            s.format,
                        )
                    });
                    self.obs.key.clear();
                    let _ = write!(
                        self.obs.key,
                        "{}:{}:{:016x}:",
                        s.key.0,
                        s.key.1,
                        s.head.unwrap_or(0)
                    );
                    let mut start = 0usize;
                    for l in &batch.lines {
                        let line = RawLine {
                            bytes: &batch.data[start..l.end as usize],
                            start_offset: l.start_offset,
                            end_offset: l.end_offset,
                            truncated: l.truncated,
                            unterminated: l.unterminated,
                        };
                        core.pipeline.feed(feed, line, &mut self.obs);
                        start = l.end as usize + 1;
                    }
                    if let Some(last) = batch.lines.last() {
                        s.fed = last.end_offset;
                        s.committed = feed
                            .pending_offset()
                            .map_or(last.end_offset, |p| p.min(last.end_offset));
                    }
                }
                core.tap_errors = self.obs.errors;
                let _ = self.free.try_send(batch);
            }
            Msg::Closed { stream, id } => {
                if let Some(mut s) = core.streams.remove(&stream) {
                    // The file ended: what the framer holds is complete.
                    if let Some(feed) = &mut s.feed {
                        core.pipeline.flush(feed, &mut self.obs);
                    }
                    s.committed = s.fed;
                    self.checkpoints
                        .commit(id, &s.path, s.committed, copy_key(&id, s.key));
                    if let Some(f) = &s.feed {
                        core.closed
                            .entry(s.source_name())
                            .or_default()
                            .add(f.report(), s.fed.saturating_sub(s.start));
                    }
                }
            }
        }
    }

    /// Makes the tap durable, then records every stream's committed offset
    /// and writes the checkpoint file.
    fn save(&mut self) {
        let open: HashSet<(u64, u64)> = {
            let core = lock(&self.core);
            for s in core.streams.values() {
                self.checkpoints
                    .commit(s.id, &s.path, s.committed, copy_key(&s.id, s.key));
            }
            core.streams
                .values()
                .map(|s| (s.id.dev, s.id.ino))
                .collect()
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let forget = self.forget_secs as i64;
        self.checkpoints
            .retain(|e| open.contains(&(e.id.dev, e.id.ino)) || now - e.updated_unix_secs < forget);
        if !self.checkpoints.is_dirty() {
            // Nothing moved: the file on disk is current.
            lock(&self.core).checkpoint_saved = Some(SystemTime::now());
            return;
        }
        if let Err(e) = self.obs.sync() {
            // The tap did not reach the disk: do not move the checkpoint
            // past lines it may have lost.
            let mut core = lock(&self.core);
            core.tap_errors += 1;
            core.checkpoint_error = Some(format!("tap: {e}"));
            return;
        }
        let saved = self.checkpoints.save();
        let mut core = lock(&self.core);
        match saved {
            Ok(()) => {
                core.checkpoint_saved = Some(SystemTime::now());
                core.checkpoint_saves += 1;
                core.checkpoint_error = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "saving the checkpoint failed; retrying");
                core.checkpoint_error = Some(e.to_string());
            }
        }
    }
}
