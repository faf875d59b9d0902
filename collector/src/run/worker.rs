//! The pipeline thread of `run`: takes the reader's batches in file order,
//! feeds them through frame → parse → label → aggregate, writes the tap,
//! saves checkpoints, and publishes snapshots for the readers. It is the
//! only owner of the pipeline: nothing else locks or reads it.
//!
//! A checkpoint only passes lines whose effects are committed: fed to the
//! aggregate, written to the tap (flushed and `fdatasync`ed before each
//! checkpoint save), and not held back in a partial CRI line or an open
//! multi-line record. Delivery is therefore at-least-once: after a crash
//! the lines past the last checkpoint are read again, each with the same
//! dedup key (file identity and end offset). A graceful stop saves the
//! checkpoint at exactly what was delivered, so a restart re-reads nothing.
//!
//! A failing save is retried every interval; readers see it (the error,
//! a failure count) and the log says it once per change of error and
//! once on recovery. The final save's error is returned to whoever stops
//! the collector, so a stop that lost the checkpoint does not pass for a
//! clean one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime};

use sitepulse_pipeline::frame::RawLine;
use sitepulse_pipeline::join::JoinRule;
use sitepulse_pipeline::record::LogFormat;
use sitepulse_pipeline::{FileFeed, FileReport, FormatChoice, Pipeline};
use sitepulse_tail::{CheckpointError, Checkpoints, FileId, StreamId};

use super::batch::{Batch, Msg, SNIFF_BYTES, head_hash};
use super::catchup::{CatchUp, Turn};
use super::ship::{Outputs, SinkView};
use super::state::{IngestSnapshot, LiveState, Published};

/// How often the windows advance with the wall clock and a snapshot is
/// published.
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// Shortest gap between two saves for newly registered files.
const URGENT_SAVE_GAP: Duration = Duration::from_millis(100);

/// Shortest gap between two publications asked for by readers.
const MIN_PUBLISH_GAP: Duration = Duration::from_millis(100);

/// The key a checkpoint entry records: only when it differs from the
/// file's own inode (a rotated copy).
fn copy_key(id: &FileId, key: (u64, u64)) -> Option<(u64, u64)> {
    (key != (id.dev, id.ino)).then_some(key)
}

/// A checkpoint save that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The tap could not be made durable, so the checkpoint was not moved
    /// past records it may have lost.
    #[error("tap: {0}")]
    Tap(#[source] io::Error),
    /// A log sink's spool could not be written or synced, so the
    /// checkpoint was not moved past records it may have lost.
    #[error("sink {sink}: {error}")]
    Sink {
        sink: &'static str,
        #[source]
        error: sitepulse_sinks::spool::SpoolError,
    },
    /// Writing the checkpoint file failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
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
    pub(crate) fn add(&mut self, r: &FileReport, bytes: u64) {
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
pub(crate) struct StreamState {
    /// The file's path (its feed's name, `display`ed, when one is opened:
    /// not kept twice for thousands of idle streams).
    path: PathBuf,
    id: FileId,
    /// `(dev, ino)` of the dedup key (the original's, for a rotated copy).
    key: (u64, u64),
    format: FormatChoice,
    /// The source's own multi-line rule.
    join: Option<Arc<JoinRule>>,
    /// When the last lines were fed (an open multi-line record is flushed
    /// after its `max_wait_ms` without more).
    last_fed: Instant,
    head: Option<u64>,
    /// Boxed: most streams of a node are idle, their feed dropped, and an
    /// inline `FileFeed` would cost its ~1 KiB in every slot of the map.
    feed: Option<Box<FileFeed>>,
    /// Where the stream was opened.
    start: u64,
    /// Everything before this is committed.
    committed: u64,
    /// Highest end offset fed.
    fed: u64,
    /// Per log sink: its shipping cursor while it lags behind `committed`
    /// (`None`: in step, records go to it as they are read).
    ship: Vec<Option<u64>>,
}

impl StreamState {
    fn source_name(&self) -> &'static str {
        self.feed
            .as_ref()
            .and_then(|f| f.report().source)
            .map_or("unknown", |s| s.name())
    }
}

/// The pipeline and the state of every stream, owned by the pipeline
/// thread.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) pipeline: Pipeline,
    pub(crate) streams: HashMap<StreamId, StreamState>,
    pub(crate) closed: BTreeMap<&'static str, SourceCounts>,
    pub(crate) checkpoint_saved: Option<SystemTime>,
    pub(crate) checkpoint_saves: u64,
    pub(crate) checkpoint_failures: u64,
    pub(crate) checkpoint_error: Option<String>,
    pub(crate) tap_errors: u64,
}

impl Core {
    /// Lines, bytes, records and parse errors per format, over every
    /// stream this run (closed and open).
    fn source_counts(&self) -> BTreeMap<&'static str, SourceCounts> {
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

    fn ingest(&self) -> IngestSnapshot {
        IngestSnapshot {
            sources: self.source_counts(),
            committed: self
                .streams
                .iter()
                .map(|(k, s)| (*k, s.committed))
                .collect(),
            checkpoint_saved: self.checkpoint_saved,
            checkpoint_saves: self.checkpoint_saves,
            checkpoint_failures: self.checkpoint_failures,
            checkpoint_error: self.checkpoint_error.clone(),
            tap_errors: self.tap_errors,
            sinks: Vec::new(),
        }
    }
}

pub(crate) struct Worker {
    pub(crate) core: Core,
    pub(crate) shared: LiveState,
    pub(crate) seq: u64,
    pub(crate) obs: Outputs,
    pub(crate) catchup: CatchUp,
    pub(crate) checkpoints: Checkpoints,
    pub(crate) free: SyncSender<Batch>,
    pub(crate) interval: Duration,
    /// How often a snapshot is published (`server.publish_interval_ms`).
    pub(crate) publish_every: Duration,
    pub(crate) forget_secs: u64,
    /// A new file was registered: save the checkpoint now.
    pub(crate) urgent: bool,
}

impl Worker {
    /// Runs until the reader is done, then saves the checkpoint a last
    /// time and publishes.
    ///
    /// # Errors
    /// The final save's [`SaveError`]: the checkpoint on disk is older than
    /// what was delivered.
    pub(crate) fn run(&mut self, rx: &Receiver<Msg>) -> Result<(), SaveError> {
        let mut next_tick = Instant::now() + TICK;
        let mut next_save = Instant::now() + self.interval;
        let mut last_urgent = Instant::now() - URGENT_SAVE_GAP;
        let mut last_publish = Instant::now();
        let mut next_publish = last_publish + self.publish_every;
        loop {
            let mut deadline = next_tick.min(next_save).min(next_publish);
            if self.urgent {
                deadline = deadline.min(last_urgent + URGENT_SAVE_GAP);
            }
            if self.shared.publish_wanted() {
                deadline = deadline.min(last_publish + MIN_PUBLISH_GAP);
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            let mut done = false;
            match rx.recv_timeout(wait) {
                Ok(msg) => {
                    done |= self.handle(msg);
                    // Whatever else is queued, before the clock work.
                    for _ in 0..1024 {
                        if done {
                            break;
                        }
                        match rx.try_recv() {
                            Ok(msg) => done |= self.handle(msg),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => done = true,
            }
            if done {
                break;
            }
            // A failing save is recorded for readers and retried; only the
            // final one's error goes further.
            // New files are saved soon, but not once per file: a node that
            // starts with 50,000 files would write the whole checkpoint
            // 50,000 times.
            if self.urgent && last_urgent.elapsed() >= URGENT_SAVE_GAP {
                self.urgent = false;
                last_urgent = Instant::now();
                let _ = self.save();
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.core.pipeline.tick_at(crate::unix_now_f64());
                self.flush_waiting(now);
                self.poll_sinks();
            }
            if now >= next_publish {
                next_publish = now + self.publish_every;
                // This publication also answers any reader that asked.
                self.shared.take_publish_wanted();
                self.publish();
                last_publish = now;
            } else if now >= last_publish + MIN_PUBLISH_GAP && self.shared.take_publish_wanted() {
                // On demand, but not more often than this however many
                // readers ask: a snapshot costs a window merge per site.
                self.publish();
                last_publish = now;
            }
            if now >= next_save {
                next_save = now + self.interval;
                let _ = self.save();
            }
            self.catch_up();
        }
        let saved = self.save();
        self.publish();
        saved
    }

    /// Hands on the multi-line records that waited longer than their
    /// `max_wait_ms` for a next line: the trace is over, and its lines
    /// must not wait for the file's next write to be counted, tapped and
    /// committed.
    fn flush_waiting(&mut self, now: Instant) {
        let core = &mut self.core;
        for s in core.streams.values_mut() {
            if let Some(feed) = &mut s.feed
                && feed.pending_offset().is_some()
                && now.duration_since(s.last_fed) >= Duration::from_millis(feed.max_wait_ms())
            {
                self.obs.ship.begin(&s.ship);
                core.pipeline.flush(feed, &mut self.obs);
                self.obs.ship.end(&mut s.ship);
                s.committed = s.fed;
            }
        }
    }

    /// Publishes a snapshot of the windows and counters for the readers.
    fn publish(&mut self) {
        self.seq += 1;
        // Rates cover time up to now, not to the last tick.
        self.core.pipeline.tick_at(crate::unix_now_f64());
        let sites = self.core.pipeline.snapshot();
        let published = self.shared.published();
        for (short, long) in sites
            .split_names
            .iter()
            .filter(|p| !published.sites.split_names.contains(p))
        {
            tracing::warn!(
                site = %short,
                other = %long,
                "sites {short:?} and {long:?} look like one site under two naming schemes; \
                 if so, add the domain to sites.domains or map them in sites.static_sites \
                 (docs/sites.md)"
            );
        }
        let before = published.sites.conflicts.len();
        for (own, ns) in sites.conflicts.iter().skip(before) {
            tracing::warn!(
                site = %own,
                namespace_site = %ns,
                "lines of namespace {ns:?} name site {own:?}: the naming schemes disagree; \
                 if they are one site, add its domain to sites.domains or map them in \
                 sites.static_sites (docs/sites.md)"
            );
        }
        let mut ingest = self.core.ingest();
        ingest.sinks = self.sink_views();
        self.shared.publish(Published {
            seq: self.seq,
            taken: Some(SystemTime::now()),
            sites,
            ingest,
        });
    }

    /// Handles one message; `true` when the reader is done.
    fn handle(&mut self, msg: Msg) -> bool {
        let core = &mut self.core;
        match msg {
            Msg::Publish => {}
            Msg::Done => return true,
            Msg::Opened {
                stream,
                id,
                key,
                path,
                offset,
                format,
                join,
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
                // A restart: the sinks that lagged behind this file's live
                // cursor still do.
                let ship = self
                    .obs
                    .ship
                    .sinks
                    .iter()
                    .map(|k| {
                        self.checkpoints
                            .get(id.dev, id.ino)
                            .and_then(|e| e.ship.get(k.name()).copied())
                            .filter(|&at| at < offset)
                    })
                    .collect();
                let feed = (!prefix.is_empty()).then(|| {
                    let complete = prefix.len() < SNIFF_BYTES;
                    Box::new(core.pipeline.open_feed_as(
                        &name,
                        Some(&path),
                        &prefix,
                        complete,
                        format,
                        join.as_deref(),
                    ))
                });
                core.streams.insert(
                    stream,
                    StreamState {
                        path,
                        id,
                        key,
                        format,
                        join,
                        last_fed: Instant::now(),
                        head,
                        feed,
                        start: offset,
                        committed: offset,
                        fed: offset,
                        ship,
                    },
                );
            }
            Msg::Lines(batch) => {
                if let Some(s) = core.streams.get_mut(&batch.stream) {
                    s.last_fed = Instant::now();
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
                        Box::new(core.pipeline.open_feed_as(
                            &s.path.display().to_string(),
                            Some(&s.path),
                            &batch.data,
                            true,
                            s.format,
                            s.join.as_deref(),
                        ))
                    });
                    self.obs.tap.key.clear();
                    let _ = write!(
                        self.obs.tap.key,
                        "{}:{}:{:016x}:",
                        s.key.0,
                        s.key.1,
                        s.head.unwrap_or(0)
                    );
                    self.obs.ship.begin(&s.ship);
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
                    self.obs.ship.end(&mut s.ship);
                    if let Some(last) = batch.lines.last() {
                        s.fed = last.end_offset;
                        s.committed = feed
                            .pending_offset()
                            .map_or(last.end_offset, |p| p.min(last.end_offset));
                    }
                }
                core.tap_errors = self.obs.tap.errors;
                let _ = self.free.try_send(batch);
            }
            Msg::Parked { stream } => {
                // An idle file: its open multi-line record is complete, and
                // its feed (framer, report) is folded into the closed
                // counts and dropped unless it holds a container partial
                // line; the next lines open a new one with the format
                // already detected. Thousands of quiet files then cost a
                // few hundred bytes each here.
                if let Some(s) = core.streams.get_mut(&stream)
                    && let Some(feed) = &mut s.feed
                    && feed.partial_offset().is_none()
                    && feed.pending_offset().is_some()
                {
                    self.obs.ship.begin(&s.ship);
                    core.pipeline.flush(feed, &mut self.obs);
                    self.obs.ship.end(&mut s.ship);
                    s.committed = s.fed;
                }
                if let Some(s) = core.streams.get_mut(&stream)
                    && let Some(feed) = s.feed.take_if(|f| f.pending_offset().is_none())
                {
                    // `text` is what no detection found: the next lines
                    // are sniffed again (a file that began with a banner).
                    if let Some(source) = feed.report().source
                        && source != LogFormat::Text
                    {
                        s.format = FormatChoice::Fixed(source);
                    }
                    core.closed
                        .entry(feed.report().source.map_or("unknown", |x| x.name()))
                        .or_default()
                        .add(feed.report(), s.fed.saturating_sub(s.start));
                    s.start = s.fed;
                }
            }
            Msg::Closed { stream, id } => {
                if let Some(mut s) = core.streams.remove(&stream) {
                    // The file ended: what the framer holds is complete.
                    if let Some(feed) = &mut s.feed {
                        self.obs.ship.begin(&s.ship);
                        core.pipeline.flush(feed, &mut self.obs);
                        self.obs.ship.end(&mut s.ship);
                    }
                    s.committed = s.fed;
                    self.checkpoints
                        .commit(id, &s.path, s.committed, copy_key(&id, s.key));
                    // A sink behind on a closed file catches up from the
                    // checkpoint entry.
                    for (k, at) in self.obs.ship.sinks.iter().zip(&s.ship) {
                        self.checkpoints.set_ship(id.dev, id.ino, k.name(), *at);
                    }
                    if (0..self.obs.ship.sinks.len()).any(|i| self.catchup.is_current(i, &id)) {
                        self.catchup.drop_current();
                    }
                    if let Some(f) = &s.feed {
                        core.closed
                            .entry(s.source_name())
                            .or_default()
                            .add(f.report(), s.fed.saturating_sub(s.start));
                    }
                }
            }
        }
        false
    }

    /// Makes the tap durable, then records every stream's committed offset
    /// and writes the checkpoint file; the outcome also goes to the
    /// published state (error, failure count) and, on a change, the log.
    fn save(&mut self) -> Result<(), SaveError> {
        // The sinks' records first: sealed into their spools and synced,
        // or the checkpoint does not pass them.
        let now_ms = sitepulse_sinks::send::unix_ms();
        for sink in &mut self.obs.ship.sinks {
            if let Err(error) = sink.commit(now_ms) {
                let e = SaveError::Sink {
                    sink: sink.name(),
                    error,
                };
                self.save_failed(&e);
                return Err(e);
            }
        }
        let open: HashSet<(u64, u64)> = {
            let core = &self.core;
            for s in core.streams.values() {
                self.checkpoints
                    .commit(s.id, &s.path, s.committed, copy_key(&s.id, s.key));
                for (k, at) in self.obs.ship.sinks.iter().zip(&s.ship) {
                    self.checkpoints.set_ship(s.id.dev, s.id.ino, k.name(), *at);
                }
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
        // A file a sink still has to catch up on is kept.
        self.checkpoints.retain(|e| {
            open.contains(&(e.id.dev, e.id.ino))
                || !e.ship.is_empty()
                || now - e.updated_unix_secs < forget
        });
        if !self.checkpoints.is_dirty() {
            // Nothing moved: the file on disk is current.
            self.core.checkpoint_saved = Some(SystemTime::now());
            return Ok(());
        }
        // The tap did not reach the disk: do not move the checkpoint past
        // lines it may have lost.
        let saved = match self.obs.tap.sync() {
            Ok(()) => self.checkpoints.save().map_err(SaveError::from),
            Err(e) => {
                // Counted where the batch handler reads tap errors from.
                self.obs.tap.errors += 1;
                self.core.tap_errors = self.obs.tap.errors;
                Err(SaveError::Tap(e))
            }
        };
        let core = &mut self.core;
        match &saved {
            Ok(()) => {
                core.checkpoint_saved = Some(SystemTime::now());
                core.checkpoint_saves += 1;
                if let Some(e) = core.checkpoint_error.take() {
                    tracing::info!(
                        failures = core.checkpoint_failures,
                        last_error = %e,
                        "checkpoint saves succeed again"
                    );
                }
            }
            Err(e) => self.save_failed(e),
        }
        saved
    }

    /// Records a failed save for readers and, once per change of error,
    /// the log.
    fn save_failed(&mut self, e: &SaveError) {
        let core = &mut self.core;
        core.checkpoint_failures += 1;
        let msg = e.to_string();
        if core.checkpoint_error.as_deref() != Some(msg.as_str()) {
            tracing::error!(
                error = %msg,
                "checkpoint saves are failing; retrying every {} ms (readiness fails meanwhile)",
                self.interval.as_millis()
            );
        }
        core.checkpoint_error = Some(msg);
    }

    /// Seals the sinks' batches that waited long enough.
    fn poll_sinks(&mut self) {
        let now_ms = sitepulse_sinks::send::unix_ms();
        for sink in &mut self.obs.ship.sinks {
            if let Err(e) = sink.poll(now_ms) {
                tracing::warn!(sink = sink.name(), error = %e, "sealing a batch into the spool failed; retried");
            }
        }
    }

    /// One turn of re-reading for a log sink that lags, if one does and
    /// its spool has room (see [`super::catchup`]).
    fn catch_up(&mut self) {
        for i in 0..self.obs.ship.sinks.len() {
            if !self.obs.ship.sinks[i].can_resume() {
                continue;
            }
            self.obs.ship.sinks[i].resume();
            let name = self.obs.ship.sinks[i].name();
            // An open file first, else one closed while lagging.
            let open = self
                .core
                .streams
                .iter()
                .filter_map(|(k, s)| s.ship.get(i).copied().flatten().map(|at| (*k, at)))
                .min_by_key(|&(k, _)| (!self.catchup.is_current(i, &self.core.streams[&k].id), k));
            let (from, target, id, path, format, join, stream) = if let Some((k, at)) = open {
                let s = &self.core.streams[&k];
                (
                    at,
                    s.committed,
                    s.id,
                    s.path.clone(),
                    s.format,
                    s.join.clone(),
                    Some(k),
                )
            } else {
                let open_ids: HashSet<(u64, u64)> = self
                    .core
                    .streams
                    .values()
                    .map(|s| (s.id.dev, s.id.ino))
                    .collect();
                let Some(e) = self.checkpoints.entries().find(|e| {
                    e.ship.contains_key(name) && !open_ids.contains(&(e.id.dev, e.id.ino))
                }) else {
                    continue;
                };
                (
                    e.ship[name],
                    e.offset,
                    e.id,
                    PathBuf::from(&e.path),
                    FormatChoice::Auto,
                    None,
                    None,
                )
            };
            self.obs.ship.now_ms = sitepulse_sinks::send::unix_ms();
            let turn = self.catchup.turn(
                i,
                &id,
                &path,
                from,
                target,
                format,
                join.as_ref(),
                &mut self.obs.ship,
            );
            let at = match turn {
                Ok(Turn::At(at)) => Some(at),
                Ok(Turn::Done) => None,
                Ok(Turn::Lost { why }) => {
                    let stats = self.obs.ship.sinks[i].stats();
                    stats.lost(why, target.saturating_sub(from));
                    tracing::error!(
                        sink = name,
                        path = %path.display(),
                        bytes = target.saturating_sub(from),
                        why,
                        "lines the sink did not get yet are gone from the file ({why}); \
                         counted in sitepulse_sink_lost_bytes_total"
                    );
                    None
                }
                Err(e) => {
                    tracing::warn!(sink = name, path = %path.display(), error = %e, "re-reading for the sink failed; retried");
                    return;
                }
            };
            match stream {
                Some(k) => {
                    if let Some(s) = self.core.streams.get_mut(&k) {
                        s.ship[i] = at;
                    }
                }
                None => self.checkpoints.set_ship(id.dev, id.ino, name, at),
            }
            // One turn per loop: live batches come first.
            return;
        }
    }

    /// The log sinks as readers see them.
    fn sink_views(&self) -> Vec<SinkView> {
        let mut views: Vec<SinkView> = self
            .obs
            .ship
            .sinks
            .iter()
            .map(|k| SinkView {
                name: k.name(),
                stats: k.stats(),
                lagging_files: 0,
                lag_bytes: 0,
            })
            .collect();
        let open: HashSet<(u64, u64)> = self
            .core
            .streams
            .values()
            .map(|s| (s.id.dev, s.id.ino))
            .collect();
        for s in self.core.streams.values() {
            for (v, at) in views.iter_mut().zip(&s.ship) {
                if let Some(at) = at {
                    v.lagging_files += 1;
                    v.lag_bytes += s.committed.saturating_sub(*at);
                }
            }
        }
        for e in self.checkpoints.entries() {
            if open.contains(&(e.id.dev, e.id.ino)) {
                continue;
            }
            for v in &mut views {
                if let Some(at) = e.ship.get(v.name) {
                    v.lagging_files += 1;
                    v.lag_bytes += e.offset.saturating_sub(*at);
                }
            }
        }
        views
    }
}
