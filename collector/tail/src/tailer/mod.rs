//! The tailing engine: discovers the files the sources' globs select,
//! follows each through rotations, decides where each starts (checkpoint,
//! `read_existing`, `ignore_older_secs`), finds rotated files a checkpoint
//! names again after a restart, and wakes on inotify events with a
//! periodic full sweep as the safety net.
//!
//! Everything happens on the caller's thread: [`Tailer::step`] waits for
//! events (at most until the next sweep), polls the files they name, and
//! hands every [`FollowEvent`] to a [`TailSink`]. A sink that blocks (a
//! full queue) pauses reading; nothing is buffered here.
//!
//! inotify (`inotify(7)`) watches directories, not files: the parent
//! directory of every followed file (and of a symlink's target), plus
//! every directory the globs' fixed prefixes and wildcard directory levels
//! reach, so a new pod directory or a rotation is seen at once. The
//! descriptor is non-blocking: the tailer wakes every `notify_latency_ms`
//! and handles what queued up, so a busy node costs a few wakeups a
//! second, not one per write; past the kernel's `max_queued_events` it
//! gets an overflow and answers with a full sweep.
//! When inotify is off or a watch cannot be added (`max_user_watches`),
//! every file is polled every `poll_ms` instead.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod config;
mod recovery;
mod scan;
#[cfg(test)]
mod tests;
mod watch;

pub use config::{ReadExisting, SourceConfig, TailConfig};
use scan::SourceGlobs;
use watch::{Watch, start_inotify, symlink_target};

use crate::checkpoint::Checkpoints;
use crate::discover::{Discovery, GlobError};
use crate::follow::{Checks, FollowConfig, FollowEvent, FollowStats, Follower, StreamId};
use crate::identity::FileId;

/// Index of a `tail.sources` entry; `None` for a file no source matches
/// any more (a rotated file found again from the checkpoint).
pub type SourceIndex = Option<usize>;

/// Receives what the tailer reads. May block (backpressure).
pub trait TailSink {
    /// A follower event of a file matched by `source`.
    fn event(&mut self, ev: FollowEvent<'_>, source: SourceIndex);
    /// A step finished: hand over anything batched.
    fn flush(&mut self) {}
}

/// The tailer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// A glob of `tail.sources[index]` or `tail.exclude` does not compile.
    #[error("tail.{section}: {source}")]
    Glob { section: String, source: GlobError },
    /// A setting is out of range (`field` is relative to `tail:`).
    #[error("tail.{field}: {message}")]
    Invalid { field: String, message: String },
}

/// Counters of the tailer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TailStats {
    /// Paths followed now.
    pub files: u64,
    /// Directories watched by inotify.
    pub dirs_watched: u64,
    /// Whether inotify is in use (false: polling every `poll_ms`).
    pub inotify: bool,
    /// inotify watches that could not be added.
    pub watch_errors: u64,
    /// inotify queue overflows (each answered by a full sweep).
    pub overflows: u64,
    /// Discovery scans.
    pub scans: u64,
    /// Full sweeps (scan + every file checked).
    pub sweeps: u64,
    /// Rotations, truncations, copy bytes and closes, of every follower
    /// this tailer had.
    pub follow: FollowStats,
    /// Poll errors (the file is retried on the next poll).
    pub read_errors: u64,
    /// The last file open failed for want of file descriptors (`EMFILE`,
    /// `ENFILE`); cleared by the next successful open.
    pub fd_exhausted: bool,
    /// Files left unread because they were older than `ignore_older_secs`.
    pub ignored_old: u64,
    /// Rotated files named by the checkpoint, found again after a restart.
    pub orphans_recovered: u64,
    /// Checkpointed files not found again (deleted while we were down).
    pub orphans_lost: u64,
    /// Rotated generations read that had left the path before any poll
    /// saw them.
    pub unseen_generations: u64,
    /// File descriptors the tailer holds now (current files and rotated
    /// ones being drained).
    pub open_fds: u64,
    /// The most it may hold (`tail.max_open_files`).
    pub max_open_fds: u64,
    /// Followed files whose descriptor was given back while idle (read to
    /// their end): reopened by identity when they change.
    pub parked: u64,
    /// Files waiting for a descriptor (new files or parked ones that
    /// changed, while every descriptor of the budget is reading).
    pub waiting: u64,
    /// Times a file was parked.
    pub parks: u64,
}

/// One open file, for the status endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// The followed path.
    pub path: std::sync::Arc<Path>,
    /// The stream reading it.
    pub stream: StreamId,
    /// Who it is.
    pub id: FileId,
    /// Offset just after the last line read.
    pub offset: u64,
    /// Size when last looked at.
    pub size: u64,
    /// The file the path names (not a rotated-away one being drained).
    pub current: bool,
    /// Its descriptor was given back while it is idle.
    pub parked: bool,
}

struct Tracked {
    follower: Follower,
    source: SourceIndex,
    /// Where a symlink at the path pointed when last looked at (events
    /// arrive for the target's directory).
    target: Option<PathBuf>,
    /// When a poll last read something (or the file was opened).
    last_active: Instant,
}

impl Tracked {
    fn new(follower: Follower, source: SourceIndex, target: Option<PathBuf>) -> Tracked {
        Tracked {
            follower,
            source,
            target,
            last_active: Instant::now(),
        }
    }
}

const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Shortest time between two discovery scans triggered by events.
const MIN_SCAN_GAP: Duration = Duration::from_millis(200);

/// The tailing engine. See the module docs.
pub struct Tailer {
    cfg: TailConfig,
    sources: Vec<SourceGlobs>,
    discovery: Discovery,
    follow: FollowConfig,
    files: HashMap<std::sync::Arc<Path>, Tracked>,
    /// Symlink target → followed path (events arrive for the target's
    /// directory); a followed path is its own key in `files`.
    by_path: HashMap<PathBuf, PathBuf>,
    /// Files read to their end and closed this run.
    finished: HashMap<(u64, u64), FileId>,
    /// Files skipped as too old: (dev, ino) → size then.
    ignored: HashMap<(u64, u64), u64>,
    checkpoints: Checkpoints,
    first_start: bool,
    started: bool,
    watch: Option<Watch>,
    /// Some directory could not be watched: poll everything.
    poll_all: bool,
    stats: TailStats,
    retired: FollowStats,
    next_sweep: Instant,
    next_poll: Instant,
    last_scan: Instant,
    scan_pending: bool,
    /// Files whose last poll stopped at the per-poll budget.
    backlog: HashSet<PathBuf>,
    /// Checkpoint entries the initial scan resumed from (the others are
    /// looked for as rotated files).
    resumed: HashSet<(u64, u64)>,
    /// Identities of the streams closed most recently.
    recent: std::collections::VecDeque<FileId>,
    /// Descriptors held by followers (kept up to date by every poll,
    /// recounted at each sweep).
    open_fds: usize,
    /// `tail.max_open_files` (`usize::MAX` when 0).
    max_open: usize,
    /// New files not opened yet for want of a descriptor, with their
    /// source and whether the initial scan found them; oldest first.
    waiting_new: std::collections::VecDeque<(PathBuf, SourceIndex, bool)>,
    /// The paths in `waiting_new`.
    waiting_paths: HashSet<PathBuf>,
    /// Parked files that changed while no descriptor was free.
    waiting_unpark: HashSet<PathBuf>,
}

/// Above this share of the budget, a file read to its end is parked at
/// once rather than after `close_inactive_secs`.
const PARK_EAGERLY_ABOVE: usize = 2;

/// Closed streams remembered to recognise their rotated copies.
const RECENT_IDS: usize = 1024;

/// Remembers a closed file: how far it was read, in case a glob matches
/// it again under another name, and what it started with, so a rotated
/// copy of it is not taken for a generation never seen.
fn note_closed(
    finished: &mut HashMap<(u64, u64), FileId>,
    recent: &mut std::collections::VecDeque<FileId>,
    ev: &FollowEvent<'_>,
) {
    if let FollowEvent::Closed { id, .. } = ev {
        finished.insert((id.dev, id.ino), *id);
        if recent.len() >= RECENT_IDS {
            recent.pop_front();
        }
        recent.push_back(*id);
    }
}

impl std::fmt::Debug for Tailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tailer")
            .field("files", &self.files.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn compile(section: &str, globs: &[String]) -> Result<Vec<glob::Pattern>, TailError> {
    globs
        .iter()
        .map(|g| {
            glob::Pattern::new(g).map_err(|e| TailError::Glob {
                section: section.to_owned(),
                source: GlobError {
                    field: "glob",
                    pattern: g.clone(),
                    message: e.to_string(),
                },
            })
        })
        .collect()
}

impl TailError {
    /// The config field at fault, below `tail.`.
    pub fn section(&self) -> &str {
        match self {
            TailError::Glob { section, .. } => section,
            TailError::Invalid { field, .. } => field,
        }
    }
}

impl Tailer {
    /// Checks that every glob compiles (config validation).
    ///
    /// # Errors
    /// The first glob that does not.
    pub fn check_globs<F>(cfg: &TailConfig<F>) -> Result<(), TailError> {
        for (i, s) in cfg.sources.iter().enumerate() {
            compile(&format!("sources[{i}].include"), &s.include)?;
            compile(&format!("sources[{i}].exclude"), &s.exclude)?;
        }
        compile("exclude", &cfg.exclude)?;
        Ok(())
    }

    /// Compiles the globs and starts inotify (falling back to polling
    /// when it is unavailable). `checkpoints` are the positions loaded at
    /// start: files they name resume there.
    ///
    /// # Errors
    /// [`TailError`] naming the glob that does not compile.
    pub fn new<F>(cfg: &TailConfig<F>, checkpoints: Checkpoints) -> Result<Tailer, TailError> {
        let mut sources = Vec::new();
        let mut include = Vec::new();
        for (i, s) in cfg.sources.iter().enumerate() {
            let section = format!("sources[{i}]");
            sources.push(SourceGlobs {
                include: compile(&format!("{section}.include"), &s.include)?,
                exclude: compile(&format!("{section}.exclude"), &s.exclude)?,
            });
            include.extend(s.include.iter().cloned());
        }
        let discovery = Discovery::new(&include, &cfg.exclude).map_err(|e| TailError::Glob {
            section: if e.field == "include" {
                "sources".into()
            } else {
                "exclude".into()
            },
            source: e,
        })?;
        let sweep = Duration::from_secs(cfg.rescan_secs.max(1));
        let linger_polls = (cfg.linger_secs / cfg.rescan_secs.max(1)).max(1) as u32;
        let watch = if cfg.inotify {
            match start_inotify() {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "inotify unavailable; polling every {} ms", cfg.poll_ms);
                    None
                }
            }
        } else {
            None
        };
        let now = Instant::now();
        Ok(Tailer {
            sources,
            discovery,
            follow: FollowConfig {
                buffer_bytes: cfg.read_buffer_bytes,
                linger_polls,
                ..FollowConfig::default()
            },
            files: HashMap::new(),
            by_path: HashMap::new(),
            finished: HashMap::new(),
            ignored: HashMap::new(),
            first_start: !checkpoints.existed(),
            checkpoints,
            started: false,
            poll_all: watch.is_none(),
            stats: TailStats {
                inotify: watch.is_some(),
                ..TailStats::default()
            },
            watch,
            retired: FollowStats::default(),
            next_sweep: now + sweep,
            next_poll: now,
            last_scan: now,
            scan_pending: false,
            backlog: HashSet::new(),
            resumed: HashSet::new(),
            recent: std::collections::VecDeque::new(),
            open_fds: 0,
            max_open: match cfg.max_open_files {
                0 => usize::MAX,
                n => usize::try_from(n).unwrap_or(usize::MAX).max(1),
            },
            waiting_new: std::collections::VecDeque::new(),
            waiting_paths: HashSet::new(),
            waiting_unpark: HashSet::new(),
            cfg: cfg.without_formats(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> TailStats {
        let mut s = self.stats;
        s.files = self.files.len() as u64;
        s.dirs_watched = self.watch.as_ref().map_or(0, |w| w.dirs.len() as u64);
        s.inotify = self.watch.is_some() && !self.poll_all;
        s.open_fds = self.open_fds as u64;
        s.max_open_fds = self.cfg.max_open_files;
        s.waiting = (self.waiting_new.len() + self.waiting_unpark.len()) as u64;
        let mut f = self.retired;
        for t in self.files.values() {
            s.parked += u64::from(t.follower.is_parked());
            let x = t.follower.stats();
            f.rotations += x.rotations;
            f.truncations += x.truncations;
            f.copy_bytes += x.copy_bytes;
            f.closed += x.closed;
        }
        s.follow = f;
        s
    }

    /// Every open file with its read position and size.
    pub fn files(&self) -> Vec<FileStatus> {
        let mut out: Vec<FileStatus> = self
            .files
            .iter()
            .flat_map(|(path, t)| {
                t.follower.open_files().map(|o| FileStatus {
                    path: std::sync::Arc::clone(path),
                    stream: o.stream,
                    id: o.id,
                    offset: o.offset,
                    size: o.size,
                    current: o.current,
                    parked: o.parked,
                })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path).then(a.stream.cmp(&b.stream)));
        out
    }

    /// Waits up to `max_wait` for something to do (an inotify event, a
    /// poll or sweep deadline), then does it. The first call discovers
    /// and opens every file.
    pub fn step(&mut self, max_wait: Duration, sink: &mut impl TailSink) {
        if !self.started {
            self.started = true;
            self.scan(sink);
            self.recover_orphans(sink);
            sink.flush();
            return;
        }
        let now = Instant::now();
        let mut deadline = (now + max_wait).min(self.next_sweep);
        if self.poll_all {
            deadline = deadline.min(self.next_poll);
        }
        if self.scan_pending {
            deadline = deadline.min(self.last_scan + MIN_SCAN_GAP);
        }
        if !self.backlog.is_empty() {
            deadline = now;
        }
        if !self.waiting_new.is_empty() || !self.waiting_unpark.is_empty() {
            // Retried as descriptors come free: soon, not at once.
            deadline = deadline.min(now + Duration::from_millis(20));
        }
        // Events are gathered for up to `notify_latency_ms` and handled in
        // one go: a busy directory costs one wakeup per interval, not one
        // per write.
        if self.watch.is_some() && !self.poll_all {
            deadline = deadline.min(now + Duration::from_millis(self.cfg.notify_latency_ms));
        }
        std::thread::sleep(deadline.saturating_duration_since(now));
        let mut data: HashSet<PathBuf> = std::mem::take(&mut self.backlog);
        let mut full: HashSet<PathBuf> = HashSet::new();
        let mut sweep = false;
        self.read_events(&mut data, &mut full, &mut sweep);

        let now = Instant::now();
        if now >= self.next_sweep || sweep {
            self.sweep(sink);
            sink.flush();
            return;
        }
        if self.poll_all && now >= self.next_poll {
            self.next_poll = now + Duration::from_millis(self.cfg.poll_ms.max(10));
            let paths: Vec<std::sync::Arc<Path>> = self.files.keys().cloned().collect();
            for p in paths {
                self.poll(&p, Checks::ALL, sink);
            }
        }
        for p in &full {
            self.poll(p, Checks::ALL, sink);
        }
        for p in data.difference(&full) {
            self.poll(p, Checks::DATA, sink);
        }
        if self.scan_pending && now >= self.last_scan + MIN_SCAN_GAP {
            self.scan(sink);
        }
        self.retry_waiting(sink);
        sink.flush();
    }

    /// Every file checked for rotation and truncation, then a scan; files
    /// inactive for `close_inactive_secs` give their descriptor back.
    fn sweep(&mut self, sink: &mut impl TailSink) {
        self.stats.sweeps += 1;
        self.next_sweep = Instant::now() + Duration::from_secs(self.cfg.rescan_secs.max(1));
        let paths: Vec<std::sync::Arc<Path>> = self.files.keys().cloned().collect();
        for p in paths {
            self.poll(&p, Checks::ALL, sink);
        }
        self.open_fds = self.files.values().map(|t| t.follower.open_count()).sum();
        if self.cfg.close_inactive_secs > 0 {
            let inactive = Duration::from_secs(self.cfg.close_inactive_secs);
            let now = Instant::now();
            for t in self.files.values_mut() {
                if now.duration_since(t.last_active) >= inactive
                    && let Some(ev) = t.follower.park()
                {
                    sink.event(ev, t.source);
                    self.open_fds -= 1;
                    self.stats.parks += 1;
                }
            }
        }
        self.scan(sink);
        self.retry_waiting(sink);
    }

    /// Whether a descriptor may be taken now; when the budget is spent,
    /// parks the files idle longest (read to their end) to make room for
    /// this one and a tenth of the budget more, so this is rare.
    fn fd_available(&mut self, sink: &mut impl TailSink) -> bool {
        if self.open_fds < self.max_open {
            return true;
        }
        // Rotated files read to their end close now rather than linger.
        let draining: Vec<std::sync::Arc<Path>> = self
            .files
            .iter()
            .filter(|(_, t)| t.follower.draining_count() > 0)
            .map(|(p, _)| p.clone())
            .collect();
        for p in draining {
            if let Some(t) = self.files.get_mut(&p) {
                let source = t.source;
                let (finished, recent) = (&mut self.finished, &mut self.recent);
                let n = t.follower.close_drained(|ev| {
                    note_closed(finished, recent, &ev);
                    sink.event(ev, source);
                });
                self.open_fds = self.open_fds.saturating_sub(n);
            }
        }
        let mut idle: Vec<(Instant, std::sync::Arc<Path>)> = self
            .files
            .iter()
            .filter(|(p, t)| {
                t.follower.open_count() == 1
                    && !t.follower.is_parked()
                    && !self.backlog.contains(&***p)
            })
            .map(|(p, t)| (t.last_active, p.clone()))
            .collect();
        idle.sort_unstable_by_key(|(at, _)| *at);
        let target = self.max_open.saturating_sub(1 + self.max_open / 10);
        for (_, p) in idle {
            if self.open_fds <= target {
                break;
            }
            if let Some(t) = self.files.get_mut(&p)
                && let Some(ev) = t.follower.park()
            {
                sink.event(ev, t.source);
                self.open_fds -= 1;
                self.stats.parks += 1;
            }
        }
        self.open_fds < self.max_open
    }

    /// Opens new files and reopens changed parked ones that waited for a
    /// descriptor, as far as the budget allows.
    fn retry_waiting(&mut self, sink: &mut impl TailSink) {
        if !self.waiting_unpark.is_empty() {
            let paths: Vec<PathBuf> = self.waiting_unpark.drain().collect();
            for p in paths {
                self.poll(&p, Checks::ALL, sink);
            }
        }
        if self.waiting_new.is_empty() {
            return;
        }
        while !self.waiting_new.is_empty() && self.fd_available(sink) {
            let Some((path, source, initial)) = self.waiting_new.pop_front() else {
                break;
            };
            self.waiting_paths.remove(&path);
            if !self.files.contains_key(path.as_path()) {
                self.open_new(&path, source, initial, sink);
            }
        }
    }

    /// Follows `path` from now on (counting the descriptors it holds).
    fn track(&mut self, t: Tracked) {
        self.open_fds += t.follower.open_count();
        self.files.insert(t.follower.path_arc(), t);
    }

    fn poll(&mut self, path: &Path, checks: Checks, sink: &mut impl TailSink) {
        let parked = match self.files.get(path) {
            Some(t) => t.follower.is_parked(),
            None => return,
        };
        if parked && !self.fd_available(sink) {
            // Reopened when a descriptor comes free.
            self.waiting_unpark.insert(path.to_owned());
            return;
        }
        let Some(t) = self.files.get_mut(path) else {
            return;
        };
        let fds_before = t.follower.open_count();
        let mut read = false;
        let before = t.follower.current();
        let source = t.source;
        let finished = &mut self.finished;
        let recent = &mut self.recent;
        let result = t.follower.poll_with(checks, |ev| {
            read |= matches!(ev, FollowEvent::Line { .. });
            note_closed(finished, recent, &ev);
            sink.event(ev, source);
        });
        if read {
            t.last_active = Instant::now();
        }
        self.open_fds = (self.open_fds + t.follower.open_count()).saturating_sub(fds_before);
        if t.follower.has_backlog() {
            self.backlog.insert(path.to_owned());
        } else if self.open_fds > self.max_open / PARK_EAGERLY_ABOVE
            && let Some(ev) = t.follower.park()
        {
            // A tight budget: a file read to its end gives its descriptor
            // back at once.
            sink.event(ev, source);
            self.open_fds -= 1;
            self.stats.parks += 1;
        }
        if let Err(e) = result {
            self.stats.read_errors += 1;
            tracing::warn!(path = %path.display(), error = %e, "reading failed; retrying on the next poll");
        }
        let rotated_after = t.follower.take_rotated_after();
        let after = t.follower.current();
        let mut swapped: Option<(PathBuf, PathBuf)> = None;
        if before.map(|i| (i.dev, i.ino)) != after.map(|i| (i.dev, i.ino)) {
            // A symlink swapped or a new file: events for it come from the
            // target's directory now.
            let old_target = t.target.take();
            if let Some(old) = &old_target {
                self.by_path.remove(old);
            }
            t.target = symlink_target(path);
            let target = t.target.clone();
            if let (Some(old), Some(new)) = (old_target, target.clone()) {
                swapped = Some((old, new));
            }
            if let Some(target) = target {
                self.by_path.insert(target.clone(), path.to_owned());
                if let Some(dir) = target.parent() {
                    self.watch_dir(dir);
                }
            }
        }
        if let Some(after_ns) = rotated_after {
            self.read_unseen_generations(path, after_ns, swapped.as_ref(), sink);
        }
        let Some(t) = self.files.get(path) else {
            return;
        };
        if t.follower.is_idle() {
            // Gone and drained.
            let t = self.files.remove(path).expect("present above");
            if let Some(target) = &t.target {
                self.by_path.remove(target);
            }
            self.by_path.remove(path);
            let s = t.follower.stats();
            self.retired.rotations += s.rotations;
            self.retired.truncations += s.truncations;
            self.retired.copy_bytes += s.copy_bytes;
            self.retired.closed += s.closed;
        }
    }
}
