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
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use serde::Deserialize;

use super::checkpoint::Checkpoints;
use super::discover::{Discovery, GlobError};
use super::follow::{
    Checks, FollowConfig, FollowEvent, FollowStats, Follower, StartAt, StreamId, find_copy,
};
use super::identity::FileId;
use crate::config::FormatChoice;

/// `tail:` section: which files, where to start, how often to look.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Globs to tail, each with an optional format.
    pub sources: Vec<SourceConfig>,
    /// Globs never tailed, whatever source matches them.
    pub exclude: Vec<String>,
    /// Where files already present at the very first start are read from.
    pub read_existing: ReadExisting,
    /// Files not modified for this long are not read until they change
    /// (0 = no limit).
    pub ignore_older_secs: u64,
    /// Full sweep: rediscover files and check every one for rotation.
    pub rescan_secs: u64,
    /// Wake on inotify events (otherwise poll every `poll_ms`).
    pub inotify: bool,
    /// Poll interval for files no inotify watch covers.
    pub poll_ms: u64,
    /// inotify events are gathered for up to this long and then handled
    /// together (fewer wakeups on busy nodes; the added latency).
    pub notify_latency_ms: u64,
    /// How long a rotated-away file stays open after it stopped growing.
    pub linger_secs: u64,
    /// Checkpoint file; `auto` is `/var/lib/sitepulse/checkpoints.json`
    /// when that directory is writable, else
    /// `$XDG_STATE_HOME/sitepulse/checkpoints.json` (`~/.local/state`).
    pub checkpoint_path: String,
    /// How often checkpoints are written (and at shutdown).
    pub checkpoint_interval_ms: u64,
    /// Checkpoint entries of files no longer open are dropped after this.
    pub forget_after_secs: u64,
    /// Read buffer per open file.
    pub read_buffer_bytes: usize,
    /// Bytes of lines handed over per batch.
    pub batch_bytes: usize,
    /// Batches in flight between reading and parsing; when they are all
    /// taken, reading waits (backpressure).
    pub queue_batches: usize,
}

impl Default for TailConfig {
    fn default() -> Self {
        Self {
            sources: default_sources(),
            exclude: vec!["/var/log/pods/*_sitepulse-*/**".into()],
            read_existing: ReadExisting::End,
            ignore_older_secs: 86_400,
            rescan_secs: 60,
            inotify: true,
            poll_ms: 250,
            notify_latency_ms: 100,
            linger_secs: 30,
            checkpoint_path: "auto".into(),
            checkpoint_interval_ms: 1000,
            forget_after_secs: 86_400,
            read_buffer_bytes: 64 * 1024,
            batch_bytes: 256 * 1024,
            queue_batches: 32,
        }
    }
}

/// The Kubernetes node layout plus the usual host paths of Traefik,
/// nginx, PHP-FPM and WordPress.
fn default_sources() -> Vec<SourceConfig> {
    let src = |globs: &[&str]| SourceConfig {
        include: globs.iter().map(|g| (*g).to_owned()).collect(),
        exclude: Vec::new(),
        format: FormatChoice::Auto,
    };
    vec![
        src(&["/var/log/pods/*/*/*.log", "/var/log/containers/*.log"]),
        src(&["/var/log/traefik/*.log"]),
        src(&["/var/log/nginx/*.log"]),
        src(&["/var/log/php*-fpm.log", "/var/log/php-fpm/*.log"]),
        src(&[
            "/var/www/*/wp-content/debug.log",
            "/var/www/*/*/wp-content/debug.log",
        ]),
    ]
}

/// One `tail.sources` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Globs (`*`, `?`, `[..]`, `**`) of files to tail.
    pub include: Vec<String>,
    /// Globs this source leaves out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Format of these files, or `auto`.
    #[serde(default)]
    pub format: FormatChoice,
}

/// Where files present at the first start are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadExisting {
    /// Only lines written from now on (the default: a first start on a
    /// busy node does not replay days of logs).
    #[default]
    End,
    /// Everything in them.
    Beginning,
}

/// Receives what the tailer reads. May block (backpressure).
pub trait TailSink {
    /// A follower event; `format` is the matching source's.
    fn event(&mut self, ev: FollowEvent<'_>, format: FormatChoice);
    /// A step finished: hand over anything batched.
    fn flush(&mut self) {}
}

/// The tailer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// A glob of `tail.sources[index]` or `tail.exclude` does not compile.
    #[error("tail.{section}: {source}")]
    Glob { section: String, source: GlobError },
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
    /// Files left unread because they were older than `ignore_older_secs`.
    pub ignored_old: u64,
    /// Rotated files named by the checkpoint, found again after a restart.
    pub orphans_recovered: u64,
    /// Checkpointed files not found again (deleted while we were down).
    pub orphans_lost: u64,
    /// Rotated generations read that had left the path before any poll
    /// saw them.
    pub unseen_generations: u64,
}

/// One open file, for the status endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// The followed path.
    pub path: PathBuf,
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
}

struct Tracked {
    follower: Follower,
    format: FormatChoice,
    /// Where a symlink at the path pointed when last looked at (events
    /// arrive for the target's directory).
    target: Option<PathBuf>,
}

struct Source {
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
    format: FormatChoice,
}

/// One inotify event, copied out of the read buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WatchEvent {
    wd: WatchDescriptor,
    mask: EventMask,
    name: Option<OsString>,
}

struct Watch {
    ino: Inotify,
    watches: Watches,
    dirs: HashMap<WatchDescriptor, PathBuf>,
    watched: HashSet<PathBuf>,
    buf: Vec<u8>,
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
    sources: Vec<Source>,
    discovery: Discovery,
    follow: FollowConfig,
    files: HashMap<PathBuf, Tracked>,
    /// Event path (followed path or symlink target) → followed path.
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
}

/// Closed streams remembered to recognise their rotated copies.
const RECENT_IDS: usize = 1024;

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
        }
    }
}

impl Tailer {
    /// Checks that every glob compiles (config validation).
    ///
    /// # Errors
    /// The first glob that does not.
    pub fn check_globs(cfg: &TailConfig) -> Result<(), TailError> {
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
    pub fn new(cfg: &TailConfig, checkpoints: Checkpoints) -> Result<Tailer, TailError> {
        let mut sources = Vec::new();
        let mut include = Vec::new();
        for (i, s) in cfg.sources.iter().enumerate() {
            let section = format!("sources[{i}]");
            sources.push(Source {
                include: compile(&format!("{section}.include"), &s.include)?,
                exclude: compile(&format!("{section}.exclude"), &s.exclude)?,
                format: s.format,
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
            cfg: cfg.clone(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> TailStats {
        let mut s = self.stats;
        s.files = self.files.len() as u64;
        s.dirs_watched = self.watch.as_ref().map_or(0, |w| w.dirs.len() as u64);
        s.inotify = self.watch.is_some() && !self.poll_all;
        let mut f = self.retired;
        for t in self.files.values() {
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
                    path: path.clone(),
                    stream: o.stream,
                    id: o.id,
                    offset: o.offset,
                    size: o.size,
                    current: o.current,
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
        let mut events = Vec::new();
        if let Some(w) = &mut self.watch {
            loop {
                match w.ino.read_events(&mut w.buf) {
                    Ok(evs) => {
                        let before = events.len();
                        events.extend(evs.map(|e| WatchEvent {
                            wd: e.wd,
                            mask: e.mask,
                            name: e.name.map(ToOwned::to_owned),
                        }));
                        if events.len() == before {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        if !self.poll_all {
                            tracing::warn!(error = %e, "reading inotify events failed; polling every {} ms", self.cfg.poll_ms);
                        }
                        self.poll_all = true;
                        break;
                    }
                }
            }
            for ev in events {
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    self.stats.overflows += 1;
                    sweep = true;
                    continue;
                }
                if ev.mask.contains(EventMask::IGNORED) {
                    if let Some(dir) = w.dirs.remove(&ev.wd) {
                        w.watched.remove(&dir);
                    }
                    continue;
                }
                let (Some(dir), Some(name)) = (w.dirs.get(&ev.wd), &ev.name) else {
                    continue;
                };
                let path = dir.join(name);
                let followed = self.by_path.get(&path).cloned();
                if ev.mask.intersects(EventMask::MODIFY) && !ev.mask.contains(EventMask::ISDIR) {
                    if let Some(p) = followed {
                        data.insert(p);
                    }
                } else {
                    // Created, moved or deleted: a rotation, a new file or
                    // directory. Check the file the name belongs to and look
                    // for new ones (other files in a watched directory, a
                    // checkpoint being saved, say, do not matter).
                    let relevant = followed.is_some()
                        || ev.mask.contains(EventMask::ISDIR)
                        || self
                            .sources
                            .iter()
                            .any(|s| s.include.iter().any(|p| p.matches_path_with(&path, MATCH)));
                    if let Some(p) = followed {
                        full.insert(p);
                    }
                    self.scan_pending |= relevant;
                }
            }
        }

        let now = Instant::now();
        if now >= self.next_sweep || sweep {
            self.sweep(sink);
            sink.flush();
            return;
        }
        if self.poll_all && now >= self.next_poll {
            self.next_poll = now + Duration::from_millis(self.cfg.poll_ms.max(10));
            let paths: Vec<PathBuf> = self.files.keys().cloned().collect();
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
        sink.flush();
    }

    /// Every file checked for rotation and truncation, then a scan.
    fn sweep(&mut self, sink: &mut impl TailSink) {
        self.stats.sweeps += 1;
        self.next_sweep = Instant::now() + Duration::from_secs(self.cfg.rescan_secs.max(1));
        let paths: Vec<PathBuf> = self.files.keys().cloned().collect();
        for p in paths {
            self.poll(&p, Checks::ALL, sink);
        }
        self.scan(sink);
    }

    fn poll(&mut self, path: &Path, checks: Checks, sink: &mut impl TailSink) {
        let Some(t) = self.files.get_mut(path) else {
            return;
        };
        let before = t.follower.current();
        let format = t.format;
        let finished = &mut self.finished;
        let recent = &mut self.recent;
        let result = t.follower.poll_with(checks, |ev| {
            if let FollowEvent::Closed { id, .. } = &ev {
                // Remember how far a closed file was read, in case a glob
                // matches it again under another name, and what it started
                // with, so a rotated copy of it is not taken for a
                // generation never seen.
                finished.insert((id.dev, id.ino), *id);
                if recent.len() >= RECENT_IDS {
                    recent.pop_front();
                }
                recent.push_back(*id);
            }
            sink.event(ev, format);
        });
        if t.follower.has_backlog() {
            self.backlog.insert(path.to_owned());
        }
        if let Err(e) = result {
            self.stats.read_errors += 1;
            tracing::warn!(path = %path.display(), error = %e, "reading failed; retrying on the next poll");
        }
        let rotated_after = t.follower.take_rotated_after();
        let after = t.follower.current();
        if before.map(|i| (i.dev, i.ino)) != after.map(|i| (i.dev, i.ino)) {
            // A symlink swapped or a new file: events for it come from the
            // target's directory now.
            if let Some(old) = t.target.take() {
                self.by_path.remove(&old);
            }
            t.target = symlink_target(path);
            let target = t.target.clone();
            if let Some(target) = target {
                self.by_path.insert(target.clone(), path.to_owned());
                if let Some(dir) = target.parent() {
                    self.watch_dir(dir);
                }
            }
        }
        if let Some(after_ns) = rotated_after {
            self.read_unseen_generations(path, after_ns, sink);
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

    /// A rotation was seen at `path`: generations newer than the one left
    /// (modified after `after_ns`) that no follower has open lived and
    /// left the path between two polls (a busy node, a slow poll, a
    /// restart); they are read whole.
    fn read_unseen_generations(&mut self, path: &Path, after_ns: i128, sink: &mut impl TailSink) {
        let open_ids: Vec<FileId> = self.open_ids().collect();
        let finished = &self.finished;
        // Generations a checkpoint names (by inode, or a copy by its first
        // bytes) resume from it instead.
        let dir = path.parent();
        let entries: Vec<&FileId> = self
            .checkpoints
            .entries()
            .filter(|e| Path::new(&e.path).parent() == dir)
            .map(|e| &e.id)
            .collect();
        let recent = &self.recent;
        let known = |file: &File, dev: u64, ino: u64| {
            let head = super::identity::head_of(file).unwrap_or_default();
            let starts_like = |id: &FileId| id.matches_head(&head);
            // Inodes are reused once a file is deleted: beyond files held
            // open, a file is recognised by its first bytes.
            open_ids.iter().any(|id| (id.dev, id.ino) == (dev, ino))
                || finished.get(&(dev, ino)).is_some_and(starts_like)
                || entries.iter().copied().any(starts_like)
                || recent.iter().any(starts_like)
                || open_ids.iter().any(starts_like)
        };
        let format = self
            .files
            .get(path)
            .map_or(FormatChoice::Auto, |t| t.format);
        let found = super::follow::unseen_generations(path, after_ns, &known);
        for (found, file) in found {
            if self.files.contains_key(&found) {
                continue;
            }
            self.stats.unseen_generations += 1;
            tracing::info!(path = %found.display(), "reading a rotated generation that was never opened");
            match Follower::drain(&found, file, StartAt::Beginning, self.follow, None, |ev| {
                sink.event(ev, format)
            }) {
                Ok(follower) => {
                    self.files.insert(
                        found.clone(),
                        Tracked {
                            follower,
                            format,
                            target: None,
                        },
                    );
                    self.poll(&found, Checks::ALL, sink);
                }
                Err(e) => {
                    self.stats.read_errors += 1;
                    tracing::warn!(path = %found.display(), error = %e, "cannot read rotated file");
                }
            }
        }
    }

    /// The source a path belongs to: the first whose include matches and
    /// whose exclude does not.
    fn source_of(&self, path: &Path) -> Option<&Source> {
        self.sources.iter().find(|s| {
            s.include.iter().any(|p| p.matches_path_with(path, MATCH))
                && !s.exclude.iter().any(|p| p.matches_path_with(path, MATCH))
        })
    }

    /// Discovers files and starts following new ones.
    fn scan(&mut self, sink: &mut impl TailSink) {
        self.stats.scans += 1;
        self.last_scan = Instant::now();
        self.scan_pending = false;
        let initial = self.stats.scans == 1;
        let (found, _) = self.discovery.scan();
        let open: HashSet<(u64, u64)> = self.open_ids().map(|id| (id.dev, id.ino)).collect();
        // Files read to their end that no longer exist can be forgotten.
        if self.finished.len() > 4 * self.files.len() + 1024 {
            let live: HashSet<(u64, u64)> = found.iter().map(|f| (f.dev, f.ino)).collect();
            self.finished.retain(|k, _| live.contains(k));
        }
        for f in found {
            if self.files.contains_key(&f.path) || open.contains(&(f.dev, f.ino)) {
                continue;
            }
            let Some(format) = self.source_of(&f.path).map(|s| s.format) else {
                continue;
            };
            if let Err(e) = self.start_file(&f.path, format, initial, sink) {
                self.stats.read_errors += 1;
                tracing::warn!(path = %f.path.display(), error = %e, "cannot open");
            }
        }
        self.watch_globs();
    }

    /// The identity of every open file (current and being drained).
    fn open_ids(&self) -> impl Iterator<Item = FileId> + '_ {
        self.files
            .values()
            .flat_map(|t| t.follower.open_files().map(|o| o.id))
    }

    /// Opens a newly discovered file at the right place.
    fn start_file(
        &mut self,
        path: &Path,
        format: FormatChoice,
        initial: bool,
        sink: &mut impl TailSink,
    ) -> io::Result<()> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let id = FileId::of(&file)?;
        let key = (id.dev, id.ino);
        let start = if let Some(off) = self.checkpoints.offset_of(&id, &file)? {
            self.resumed.insert(key);
            StartAt::Offset(off)
        } else if let Some(fid) = self.finished.get(&key)
            && fid.same_file(&id, &file)?
        {
            // Read to its end and closed earlier (now matched under
            // another name): only what was added since.
            StartAt::End
        } else if let Some(&size) = self.ignored.get(&key) {
            if meta.len() == size {
                return Ok(());
            }
            self.ignored.remove(&key);
            StartAt::Offset(size)
        } else if initial && self.too_old(&meta) {
            self.stats.ignored_old += 1;
            self.ignored.insert(key, meta.len());
            return Ok(());
        } else if initial && self.first_start {
            match self.cfg.read_existing {
                ReadExisting::End => StartAt::End,
                ReadExisting::Beginning => StartAt::Beginning,
            }
        } else {
            // Appeared while we were down or while running: all of it.
            StartAt::Beginning
        };
        let mut follower = Follower::new(path, self.follow);
        follower.open_file(file, start, &mut |ev| sink.event(ev, format))?;
        let target = symlink_target(path);
        self.by_path.insert(path.to_owned(), path.to_owned());
        if let Some(t) = &target {
            self.by_path.insert(t.clone(), path.to_owned());
        }
        for dir in [path.parent(), target.as_deref().and_then(Path::parent)]
            .into_iter()
            .flatten()
            .map(Path::to_owned)
            .collect::<Vec<_>>()
        {
            self.watch_dir(&dir);
        }
        self.files.insert(
            path.to_owned(),
            Tracked {
                follower,
                format,
                target,
            },
        );
        // What is there already is read now, not at the next event.
        self.poll(path, Checks::DATA, sink);
        Ok(())
    }

    fn too_old(&self, meta: &std::fs::Metadata) -> bool {
        if self.cfg.ignore_older_secs == 0 {
            return false;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        age > Duration::from_secs(self.cfg.ignore_older_secs)
    }

    /// After a restart: checkpointed files no glob matched any more were
    /// rotated away (renamed, or copied and truncated) while we were down.
    /// They are looked for in the directory the checkpoint names — the
    /// same inode under another name, or a copy starting with the same
    /// bytes — and read from the checkpoint to their end.
    fn recover_orphans(&mut self, sink: &mut impl TailSink) {
        let resumed = std::mem::take(&mut self.resumed);
        let orphans: Vec<_> = self
            .checkpoints
            .entries()
            .filter(|e| !resumed.contains(&(e.id.dev, e.id.ino)))
            .cloned()
            .collect();
        let mut recovered = Vec::new();
        for entry in orphans {
            let path = PathBuf::from(&entry.path);
            let format = self
                .source_of(&path)
                .map_or(FormatChoice::Auto, |s| s.format);
            match find_rotated(&path, &entry.id, entry.offset) {
                Some((found, file)) => {
                    use std::os::unix::fs::MetadataExt as _;
                    let own = (entry.id.dev, entry.id.ino);
                    let same_inode = file.metadata().is_ok_and(|m| (m.dev(), m.ino()) == own);
                    // A copy continues the original's dedup keys.
                    let as_key = if same_inode {
                        entry.key
                    } else {
                        Some(entry.key.unwrap_or(own))
                    };
                    self.stats.orphans_recovered += 1;
                    recovered.push((path.clone(), super::follow::mtime_ns(&file)));
                    tracing::info!(
                        checkpoint = %path.display(),
                        found = %found.display(),
                        offset = entry.offset,
                        "reading a rotated file from its checkpoint"
                    );
                    let follower = Follower::drain(
                        &found,
                        file,
                        StartAt::Offset(entry.offset),
                        self.follow,
                        as_key,
                        |ev| sink.event(ev, format),
                    );
                    match follower {
                        Ok(follower) => {
                            let key = found.clone();
                            self.files.insert(
                                key.clone(),
                                Tracked {
                                    follower,
                                    format,
                                    target: None,
                                },
                            );
                            self.poll(&key, Checks::ALL, sink);
                        }
                        Err(e) => {
                            self.stats.read_errors += 1;
                            tracing::warn!(path = %found.display(), error = %e, "cannot read rotated file");
                        }
                    }
                }
                None => self.stats.orphans_lost += 1,
            }
        }
        // Generations newer than a recovered one that the last run never
        // saw (rotated away while we were down).
        for (path, after_ns) in recovered {
            self.read_unseen_generations(&path, after_ns, sink);
        }
    }

    /// Adds inotify watches for the directories the include globs reach:
    /// each pattern's fixed prefix and every existing directory matching
    /// a prefix of its wildcard directory levels (up to a `**`).
    fn watch_globs(&mut self) {
        if self.watch.is_none() {
            return;
        }
        let mut dirs = Vec::new();
        for s in &self.sources {
            for p in &s.include {
                let comps: Vec<&str> = p.as_str().split('/').collect();
                let mut prefix = String::new();
                for (i, c) in comps.iter().enumerate().take(comps.len().saturating_sub(1)) {
                    if *c == "**" {
                        break;
                    }
                    if i > 0 {
                        prefix.push('/');
                    }
                    prefix.push_str(c);
                    if prefix.is_empty() {
                        continue;
                    }
                    if glob::Pattern::escape(c) == *c {
                        // Only the deepest fixed directory: its parents
                        // (/var, /var/log) are busy and say nothing.
                        let next_fixed = comps
                            .get(i + 1)
                            .is_some_and(|n| i + 2 < comps.len() && glob::Pattern::escape(n) == *n);
                        if !next_fixed {
                            dirs.push(PathBuf::from(&prefix));
                        }
                    } else if let Ok(paths) = glob::glob_with(&prefix, MATCH) {
                        dirs.extend(paths.flatten().filter(|d| d.is_dir()));
                    }
                }
            }
        }
        for d in dirs {
            if d.is_dir() {
                self.watch_dir(&d);
            }
        }
    }

    fn watch_dir(&mut self, dir: &Path) {
        let Some(w) = &mut self.watch else {
            return;
        };
        if w.watched.contains(dir) {
            return;
        }
        let mask = WatchMask::MODIFY
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::ONLYDIR;
        match w.watches.add(dir, mask) {
            Ok(wd) => {
                w.dirs.insert(wd, dir.to_owned());
                w.watched.insert(dir.to_owned());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                self.stats.watch_errors += 1;
                if !self.poll_all {
                    tracing::warn!(
                        dir = %dir.display(),
                        error = %e,
                        "cannot add an inotify watch (fs.inotify.max_user_watches?); polling every file every {} ms",
                        self.cfg.poll_ms
                    );
                }
                self.poll_all = true;
            }
        }
    }
}

/// Where a symlink at `path` points now (absolute), `None` for a regular
/// file.
fn symlink_target(path: &Path) -> Option<PathBuf> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    std::fs::canonicalize(path).ok()
}

/// A rotated file in `path`'s directory: the inode `id` names (renamed),
/// or else a copy starting with the bytes `id` was taken from
/// (copytruncate, see [`find_copy`]); it must reach past `offset`.
fn find_rotated(path: &Path, id: &FileId, offset: u64) -> Option<(PathBuf, File)> {
    const MAX_ENTRIES: usize = 4096;
    let dir = path.parent()?;
    for entry in std::fs::read_dir(dir).ok()?.take(MAX_ENTRIES).flatten() {
        let same_inode = entry
            .metadata()
            .is_ok_and(|m| (m.dev(), m.ino()) == (id.dev, id.ino));
        if !same_inode {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        let renamed = file
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() >= offset)
            && FileId::of(&file).is_ok_and(|now| id.same_file(&now, &file).unwrap_or(false));
        if renamed {
            return Some((entry.path(), file));
        }
    }
    find_copy(path, id, offset)
}

fn start_inotify() -> io::Result<Watch> {
    // Non-blocking (IN_NONBLOCK): the tailer reads what is queued when it
    // wakes.
    let ino = Inotify::init()?;
    let watches = ino.watches();
    Ok(Watch {
        ino,
        watches,
        dirs: HashMap::new(),
        watched: HashSet::new(),
        buf: vec![0u8; 64 * 1024],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tail::follow::tests::copytruncate;
    use std::io::Write;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sitepulse-tailer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("logs")).unwrap();
        d
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    /// Collects lines and where each stream ended.
    #[derive(Default)]
    struct Collect {
        lines: Vec<String>,
        /// stream → (id, end offset of its last line)
        ends: HashMap<StreamId, (FileId, PathBuf, u64)>,
        opened: Vec<(PathBuf, u64)>,
    }

    impl TailSink for Collect {
        fn event(&mut self, ev: FollowEvent<'_>, _format: FormatChoice) {
            match ev {
                FollowEvent::Opened {
                    stream,
                    id,
                    path,
                    offset,
                    ..
                } => {
                    self.opened.push((path.to_owned(), offset));
                    self.ends.insert(stream, (id, path.to_owned(), offset));
                }
                FollowEvent::Line { stream, id, line } => {
                    self.lines
                        .push(String::from_utf8_lossy(line.bytes).into_owned());
                    if let Some(e) = self.ends.get_mut(&stream) {
                        e.0 = id;
                        e.2 = line.end_offset;
                    }
                }
                FollowEvent::Closed { .. } => {}
            }
        }
    }

    fn config(d: &Path) -> TailConfig {
        TailConfig {
            sources: vec![SourceConfig {
                include: vec![format!("{}/logs/*.log", d.display())],
                exclude: vec![],
                format: FormatChoice::Auto,
            }],
            exclude: vec![],
            rescan_secs: 1,
            ..TailConfig::default()
        }
    }

    /// A tailer reading existing files from the beginning, with the
    /// checkpoint in `d` (empty at first), and its sink.
    fn start(d: &Path) -> (Tailer, Collect) {
        let cfg = TailConfig {
            read_existing: ReadExisting::Beginning,
            ..config(d)
        };
        let ck = Checkpoints::load(&d.join("ckpt.json")).unwrap();
        (Tailer::new(&cfg, ck).unwrap(), Collect::default())
    }

    fn steps(t: &mut Tailer, sink: &mut Collect, n: usize) {
        for _ in 0..n {
            t.step(Duration::from_millis(50), sink);
        }
    }

    /// Saves where every stream of `sink` got to, as the pipeline would.
    fn save(d: &Path, sink: &Collect) {
        let mut c = Checkpoints::load(&d.join("ckpt.json")).unwrap();
        for (id, path, off) in sink.ends.values() {
            c.commit(*id, path, *off, None);
        }
        c.save().unwrap();
    }

    #[test]
    fn first_start_reads_existing_from_end_new_files_from_beginning() {
        let d = tmp("first");
        append(&d.join("logs/old.log"), "old-1\nold-2\n");
        let ck = Checkpoints::load(&d.join("ckpt.json")).unwrap();
        let mut t = Tailer::new(&config(&d), ck).unwrap();
        let mut sink = Collect::default();
        steps(&mut t, &mut sink, 1);
        assert!(sink.lines.is_empty(), "{:?}", sink.lines);
        append(&d.join("logs/old.log"), "old-3\n");
        append(&d.join("logs/new.log"), "new-1\n");
        append(&d.join("logs/ignored.txt"), "nope\n");
        steps(&mut t, &mut sink, 6);
        sink.lines.sort();
        assert_eq!(sink.lines, ["new-1", "old-3"]);
        assert!(t.stats().scans >= 2);

        // beginning
        let d2 = tmp("first-beginning");
        append(&d2.join("logs/old.log"), "old-1\n");
        let (mut t, mut sink) = start(&d2);
        steps(&mut t, &mut sink, 1);
        assert_eq!(sink.lines, ["old-1"]);
    }

    #[test]
    fn restart_resumes_at_checkpoint_and_finds_rotated_files() {
        let d = tmp("restart");
        let a = d.join("logs/a.log");
        let b = d.join("logs/b.log");
        append(&a, "a-1\na-2\n");
        append(&b, "b-1\n");
        let (mut t, mut sink) = start(&d);
        steps(&mut t, &mut sink, 1);
        assert_eq!(sink.lines.len(), 3);
        save(&d, &sink);
        drop(t);

        // While down: a grows, b is renamed away (and grows) and a new b
        // appears, c appears.
        append(&a, "a-3\n");
        append(&b, "b-2\n");
        std::fs::rename(&b, d.join("logs/b.log.1")).unwrap();
        append(&b, "b-new-1\n");
        append(&d.join("logs/c.log"), "c-1\n");
        let (mut t, mut sink) = start(&d);
        steps(&mut t, &mut sink, 3);
        sink.lines.sort();
        assert_eq!(sink.lines, ["a-3", "b-2", "b-new-1", "c-1"]);
        assert_eq!(t.stats().orphans_recovered, 1);
    }

    #[test]
    fn copytruncate_while_down_reads_the_copy_tail() {
        let d = tmp("ct");
        let a = d.join("logs/a.log");
        append(&a, "a-1\n");
        let (mut t, mut sink) = start(&d);
        steps(&mut t, &mut sink, 1);
        save(&d, &sink);
        drop(t);
        append(&a, "a-2\n");
        copytruncate(&a, &d.join("logs/a.log.1"));
        append(&a, "a-3\n");
        let (mut t, mut sink) = start(&d);
        steps(&mut t, &mut sink, 3);
        sink.lines.sort();
        assert_eq!(sink.lines, ["a-2", "a-3"]);
    }

    /// Rotates `a.log` twice between two polls: the middle generation
    /// never was the path when the tailer looked.
    fn two_rotations_between_polls(copy: bool) {
        let d = tmp(if copy { "unseen-copy" } else { "unseen-rename" });
        let a = d.join("logs/a.log");
        let rotate = |n: usize| {
            let old = d.join(format!("logs/a.log.{n}"));
            if copy {
                copytruncate(&a, &old);
            } else {
                std::fs::rename(&a, &old).unwrap();
            }
        };
        append(&a, "g1-1\n");
        let (mut t, mut sink) = start(&d);
        steps(&mut t, &mut sink, 1);
        append(&a, "g1-2\n");
        std::thread::sleep(Duration::from_millis(20));
        rotate(1);
        append(&a, "g2-1\ng2-2\n");
        std::thread::sleep(Duration::from_millis(20));
        rotate(2);
        append(&a, "g3-1\n");
        steps(&mut t, &mut sink, 4);
        sink.lines.sort();
        assert_eq!(sink.lines, ["g1-1", "g1-2", "g2-1", "g2-2", "g3-1"]);
        assert_eq!(t.stats().unseen_generations, 1);
    }

    #[test]
    fn generation_rotated_between_polls_is_read() {
        two_rotations_between_polls(false);
        two_rotations_between_polls(true);
    }

    #[test]
    fn empty_file_copytruncated_before_a_poll_is_read_from_the_copy() {
        let d = tmp("empty-ct");
        let a = d.join("logs/a.log");
        append(&a, "");
        let (mut t, mut sink) = start(&d);
        steps(&mut t, &mut sink, 1);
        std::thread::sleep(Duration::from_millis(20));
        append(&a, "g1-1\ng1-2\n");
        copytruncate(&a, &d.join("logs/a.log.1"));
        append(&a, "g2-1 is longer\n");
        steps(&mut t, &mut sink, 4);
        sink.lines.sort();
        assert_eq!(sink.lines, ["g1-1", "g1-2", "g2-1 is longer"]);
    }

    #[test]
    fn ignore_older_skips_until_the_file_changes() {
        let d = tmp("older");
        let p = d.join("logs/stale.log");
        append(&p, "stale-1\n");
        let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let (mut t, mut sink) = start(&d);
        steps(&mut t, &mut sink, 1);
        assert!(sink.lines.is_empty());
        assert_eq!(t.stats().ignored_old, 1);
        append(&p, "fresh-1\n");
        std::thread::sleep(Duration::from_millis(1100));
        steps(&mut t, &mut sink, 3);
        assert_eq!(sink.lines, ["fresh-1"]);
    }

    #[test]
    fn bad_glob_names_the_source() {
        let cfg = TailConfig {
            sources: vec![SourceConfig {
                include: vec!["/var/log/[".into()],
                exclude: vec![],
                format: FormatChoice::Auto,
            }],
            ..TailConfig::default()
        };
        let e = Tailer::check_globs(&cfg).unwrap_err();
        assert_eq!(e.section(), "sources[0].include");
        assert!(e.to_string().contains("/var/log/["), "{e}");
    }
}
