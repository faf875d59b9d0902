//! Follows one path through rotations: the file behind the path is read
//! to its end on every poll; when the path starts naming another file
//! (rename-and-create, symlink swap) the old one is drained and then
//! closed; when the file shrinks below the read position or its first bytes
//! change (copytruncate) the lines written after the last poll are read
//! from the rotated copy next to it, and reading restarts at 0; when it is
//! deleted while open it is drained and closed.
//!
//! Each opened file is a *stream* with a process-unique [`StreamId`]; the
//! caller gets [`FollowEvent`]s: a stream opened, a line of it (with the
//! file identity and end offset that checkpoints record), a stream closed
//! after its last line.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::identity::FileId;
use sitepulse_lines::{LineReader, RawLine};

/// Where to start reading a file that is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// From the first byte (new files).
    Beginning,
    /// From the current end (files present at first start, by default).
    End,
    /// From a checkpointed offset (clamped to the file's size).
    Offset(u64),
}

/// Buffer sizes of a follower.
#[derive(Debug, Clone, Copy)]
pub struct FollowConfig {
    /// Read buffer per open file.
    pub buffer_bytes: usize,
    /// Longer lines are truncated.
    pub max_line_bytes: usize,
    /// Polls a rotated-away file stays open after it stopped growing, for
    /// writers that keep writing to the old file a little longer.
    pub linger_polls: u32,
    /// Bytes read from one file per poll at most, so one file with a large
    /// backlog does not hold up the others (or a shutdown); see
    /// [`Follower::has_backlog`].
    pub max_bytes_per_poll: u64,
}

impl Default for FollowConfig {
    fn default() -> Self {
        Self {
            buffer_bytes: 64 * 1024,
            max_line_bytes: sitepulse_lines::DEFAULT_MAX_LINE_BYTES,
            linger_polls: 2,
            max_bytes_per_poll: 4 * 1024 * 1024,
        }
    }
}

/// What a follower has seen happen to its path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowStats {
    /// The path came to name another file (rename-and-create, symlink swap).
    pub rotations: u64,
    /// The file shrank below the read position or was rewritten from its
    /// start (copytruncate).
    pub truncations: u64,
    /// Bytes read from a rotated copy after a truncation (lines that would
    /// otherwise have been lost).
    pub copy_bytes: u64,
    /// Files closed after they were deleted or rotated away and drained.
    pub closed: u64,
}

/// A process-unique number for one opened file (one pass over it: a
/// truncated file that starts over is a new stream).
pub type StreamId = u64;

static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Rotated away or deleted, and read to its end.
    Drained,
    /// Truncated (copytruncate): the file goes on as a new stream from 0.
    Truncated,
}

/// What a poll reports, in file order.
#[derive(Debug)]
pub enum FollowEvent<'a> {
    /// A file was opened; its lines follow as `Line`s of `stream`. `file`
    /// may be read positionally (format detection) but not seeked.
    Opened {
        stream: StreamId,
        id: FileId,
        /// `(dev, ino)` the stream's lines are keyed by: the file's own,
        /// or, for a rotated copy, the original's (a copy continues the
        /// original's lines, offsets and dedup keys).
        key: (u64, u64),
        path: &'a Path,
        file: &'a File,
        offset: u64,
    },
    /// A complete line (or a final unterminated one of a closed file).
    Line {
        stream: StreamId,
        id: FileId,
        line: RawLine<'a>,
    },
    /// Every line of `stream` has been delivered; it is closed.
    Closed {
        stream: StreamId,
        id: FileId,
        why: CloseReason,
    },
}

/// Which checks a poll makes besides reading to the end of what is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// `stat` the path: has it come to name another file (rotation)?
    pub path: bool,
    /// Re-read the first bytes: was the file rewritten from its start
    /// (copytruncate followed by writes past the old position)? A shrink
    /// is always noticed; this catches the rest.
    pub start: bool,
}

impl Checks {
    /// Everything: the periodic sweep, and polls without inotify.
    pub const ALL: Checks = Checks {
        path: true,
        start: true,
    };
    /// Read what was appended (an inotify `IN_MODIFY` on the file), after
    /// checking that the file was not truncated and rewritten past the
    /// read position since the last poll (one read of at most 1 KiB).
    pub const DATA: Checks = Checks {
        path: false,
        start: true,
    };
}

struct Open {
    stream: StreamId,
    id: FileId,
    reader: LineReader<File>,
    idle_polls: u32,
    /// File size at the last `fstat` (status: bytes behind).
    len_seen: u64,
    /// Something was read since the last full poll; an idle file's read
    /// buffer is freed at a full poll.
    active: bool,
    /// Modification time when opened (ns).
    opened_mtime: i128,
    /// `(dev, ino)` of the dedup key.
    key: (u64, u64),
}

impl Open {
    fn new(mut file: File, start: StartAt, cfg: &FollowConfig) -> io::Result<Open> {
        let id = FileId::of(&file)?;
        let len = file.metadata()?.len();
        let offset = match start {
            StartAt::Beginning => 0,
            StartAt::End => len,
            StartAt::Offset(o) => o.min(len),
        };
        file.seek(SeekFrom::Start(offset))?;
        let opened_mtime = mtime_ns(&file);
        let mut reader = LineReader::with_limits(file, cfg.buffer_bytes, cfg.max_line_bytes);
        reader.set_offset(offset);
        Ok(Open {
            stream: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
            id,
            reader,
            idle_polls: 0,
            len_seen: len,
            active: true,
            opened_mtime,
            key: (id.dev, id.ino),
        })
    }

    fn opened<'a>(&'a self, path: &'a Path) -> FollowEvent<'a> {
        FollowEvent::Opened {
            stream: self.stream,
            id: self.id,
            key: self.key,
            path,
            file: self.reader.get_ref(),
            offset: self.reader.offset(),
        }
    }

    /// Reads to the current end, or until `budget` bytes were read;
    /// returns whether anything was read and whether the budget ran out
    /// (more may be waiting).
    fn read_available(
        &mut self,
        budget: u64,
        f: &mut impl FnMut(FollowEvent<'_>),
    ) -> io::Result<(bool, bool)> {
        let before = self.reader.read_offset();
        let (stream, id) = (self.stream, self.id);
        let mut more = false;
        while self
            .reader
            .next_batch(|line| f(FollowEvent::Line { stream, id, line }))?
        {
            if self.reader.read_offset() - before >= budget {
                more = true;
                break;
            }
        }
        let read = self.reader.read_offset() != before;
        self.active |= read;
        Ok((read, more))
    }

    /// Delivers a pending unterminated last line and reports the close.
    fn close(mut self, why: CloseReason, f: &mut impl FnMut(FollowEvent<'_>)) {
        let (stream, id) = (self.stream, self.id);
        self.reader
            .finish(|line| f(FollowEvent::Line { stream, id, line }));
        f(FollowEvent::Closed { stream, id, why });
    }
}

/// The rotated copy of a truncated file: a sibling whose name extends the
/// file's (`app.log.1`, `app.log-20261122`, as logrotate names them) that
/// starts with the bytes `id` was taken from and reaches at least `offset`.
/// The newest such file wins.
pub(super) fn find_copy(path: &Path, id: &FileId, offset: u64) -> Option<(PathBuf, File)> {
    /// Directory entries looked at, at most (a log directory with thousands
    /// of rotated files should not stall the tailer).
    const MAX_ENTRIES: usize = 512;
    if id.fp_len == 0 {
        // An empty file when last seen: nothing to recognise the copy by.
        return None;
    }
    let dir = path.parent()?;
    let name = path.file_name()?.as_encoded_bytes();
    let mut best: Option<(i64, PathBuf, File)> = None;
    for entry in std::fs::read_dir(dir).ok()?.take(MAX_ENTRIES).flatten() {
        if !extends_name(name, entry.file_name().as_encoded_bytes()) {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if !meta.is_file()
            || meta.len() < offset
            || (meta.dev(), meta.ino()) == (id.dev, id.ino)
            || !id.still_starts(&file).unwrap_or(false)
        {
            continue;
        }
        if best.as_ref().is_none_or(|(m, _, _)| meta.mtime() > *m) {
            best = Some((meta.mtime(), entry.path(), file));
        }
    }
    best.map(|(_, p, f)| (p, f))
}

/// Whether a sibling's name `cand` is a rotated name of `name`: it extends
/// it (`app.log.1`, `app.log-20261122`).
fn extends_name(name: &[u8], cand: &[u8]) -> bool {
    cand.len() > name.len() && cand.starts_with(name)
}

/// Modification time of an open file, ns since the epoch (0 if unknown).
pub fn mtime_ns(file: &File) -> i128 {
    file.metadata().map_or(0, |m| {
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
    })
}

/// Rotated generations of `path` (siblings whose names extend its name,
/// as logrotate and most writers name them) modified after `after_ns` and
/// not among `known` inodes: files that became the path and were rotated
/// away again between two polls, so no follower ever opened them. Oldest
/// first; compressed files are left alone.
pub fn unseen_generations(
    path: &Path,
    after_ns: i128,
    known: &dyn Fn(&File, u64, u64) -> bool,
) -> Vec<(PathBuf, File)> {
    const MAX_ENTRIES: usize = 512;
    const COMPRESSED: [&str; 6] = [".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4"];
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let name = name.as_encoded_bytes();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let current = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let mut found: Vec<(i128, PathBuf, File)> = Vec::new();
    for entry in rd.take(MAX_ENTRIES).flatten() {
        let file_name = entry.file_name();
        let cand = file_name.as_encoded_bytes();
        // Rotated generations are regular files; a symlink next to the path
        // is a symlink swap in progress.
        if entry.file_type().is_ok_and(|t| t.is_symlink())
            || !extends_name(name, cand)
            || COMPRESSED.iter().any(|c| cand.ends_with(c.as_bytes()))
        {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        let id = (meta.dev(), meta.ino());
        let m = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        if !meta.is_file() || m <= after_ns || Some(id) == current || known(&file, id.0, id.1) {
            continue;
        }
        found.push((m, entry.path(), file));
    }
    found.sort_by_key(|(m, _, _)| *m);
    found.into_iter().map(|(_, p, f)| (p, f)).collect()
}

/// Follows one path. Single owner; call [`poll`](Self::poll) when the path
/// may have changed (an inotify event, a periodic tick).
pub struct Follower {
    path: PathBuf,
    cfg: FollowConfig,
    current: Option<Open>,
    draining: Vec<Open>,
    /// Only drains what it was given (a rotated file found again after a
    /// restart); the path is not followed.
    detached: bool,
    /// The last poll stopped at `max_bytes_per_poll`.
    backlog: bool,
    /// Set when a rotation or truncation was seen: the modification time
    /// (ns) of the generation that was left. Rotated generations newer
    /// than it lived and left the path between two polls.
    rotated_after: Option<i128>,
    stats: FollowStats,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("path", &self.path)
            .field("current", &self.current.as_ref().map(|o| o.id))
            .field("draining", &self.draining.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// One open file of a follower, for status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFile {
    /// Its stream.
    pub stream: StreamId,
    /// Who it is.
    pub id: FileId,
    /// Offset just after the last line delivered.
    pub offset: u64,
    /// Size of the file when last looked at (at least `offset`).
    pub size: u64,
    /// Whether it is the file the path names (not a rotated-away one).
    pub current: bool,
}

impl Follower {
    /// A follower of `path`; nothing is opened until [`open`](Self::open)
    /// or the first [`poll`](Self::poll).
    pub fn new(path: &Path, cfg: FollowConfig) -> Self {
        Self {
            path: path.to_owned(),
            cfg,
            current: None,
            draining: Vec::new(),
            detached: false,
            backlog: false,
            rotated_after: None,
            stats: FollowStats::default(),
        }
    }

    /// A follower that reads the file at `path` from `start` to its end
    /// and then closes it, without following the path: a rotated file a
    /// checkpoint names, found again after a restart.
    ///
    /// # Errors
    /// I/O errors opening the file.
    ///
    /// `as_key` keys the stream's lines by another file's `(dev, ino)`: a
    /// copy made by copytruncate continues the original's lines, offsets
    /// and dedup keys (its checkpoint entry stays its own).
    pub fn drain(
        path: &Path,
        file: File,
        start: StartAt,
        cfg: FollowConfig,
        as_key: Option<(u64, u64)>,
        mut f: impl FnMut(FollowEvent<'_>),
    ) -> io::Result<Self> {
        let mut open = Open::new(file, start, &cfg)?;
        if let Some(key) = as_key {
            open.key = key;
        }
        f(open.opened(path));
        Ok(Self {
            path: path.to_owned(),
            cfg,
            current: None,
            draining: vec![open],
            detached: true,
            backlog: false,
            rotated_after: None,
            stats: FollowStats::default(),
        })
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file the path names now, starting at `start`. Returns
    /// false when there is no such file yet (a later poll opens it from the
    /// beginning).
    ///
    /// # Errors
    /// I/O errors other than the file not existing.
    pub fn open(&mut self, start: StartAt, mut f: impl FnMut(FollowEvent<'_>)) -> io::Result<bool> {
        match File::open(&self.path) {
            Ok(file) => self.open_file(file, start, &mut f).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Starts following with `file`, already opened at the path (the
    /// caller needed it to look up a checkpoint).
    ///
    /// # Errors
    /// I/O errors of `fstat` or seeking.
    pub fn open_file(
        &mut self,
        file: File,
        start: StartAt,
        f: &mut impl FnMut(FollowEvent<'_>),
    ) -> io::Result<()> {
        let open = Open::new(file, start, &self.cfg)?;
        f(open.opened(&self.path));
        self.current = Some(open);
        Ok(())
    }

    /// The identity of the file being read now, if any.
    pub fn current(&self) -> Option<FileId> {
        self.current.as_ref().map(|o| o.id)
    }

    /// Every open file: the current one and those being drained.
    pub fn open_files(&self) -> impl Iterator<Item = OpenFile> + '_ {
        let cur = self.current.iter().map(|o| (o, true));
        let old = self.draining.iter().map(|o| (o, false));
        cur.chain(old).map(|(o, current)| OpenFile {
            stream: o.stream,
            id: o.id,
            offset: o.reader.offset(),
            size: o.len_seen.max(o.reader.read_offset()),
            current,
        })
    }

    /// Whether nothing is open (the path is gone and everything drained).
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.draining.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> FollowStats {
        self.stats
    }

    /// After a rotation or truncation: the modification time (ns since the
    /// epoch) of the generation that was left, once. See
    /// [`unseen_generations`].
    pub fn take_rotated_after(&mut self) -> Option<i128> {
        self.rotated_after.take()
    }

    /// Whether the last poll stopped at `max_bytes_per_poll` with more to
    /// read: poll again soon, without waiting for an event.
    pub fn has_backlog(&self) -> bool {
        self.backlog
    }

    /// [`poll_with`](Self::poll_with) making every check.
    ///
    /// # Errors
    /// As `poll_with`.
    pub fn poll(&mut self, f: impl FnMut(FollowEvent<'_>)) -> io::Result<()> {
        self.poll_with(Checks::ALL, f)
    }

    /// Reads everything available, oldest file first: rotated-away files to
    /// their end, then the current one; then (with `checks.path`) follows
    /// the path to a new file if it names one. `f` gets the events.
    ///
    /// # Errors
    /// I/O errors reading or opening; the follower stays usable.
    pub fn poll_with(
        &mut self,
        checks: Checks,
        mut f: impl FnMut(FollowEvent<'_>),
    ) -> io::Result<()> {
        let budget = self.cfg.max_bytes_per_poll;
        self.backlog = false;
        for open in &mut self.draining {
            let (read, more) = open.read_available(budget, &mut f)?;
            self.backlog |= more;
            if read {
                open.idle_polls = 0;
            } else {
                open.idle_polls += 1;
            }
        }
        if checks.path {
            // Files idle since the last full poll give their buffers back
            // (thousands of quiet files cost a few bytes each).
            for o in self.current.iter_mut().chain(self.draining.iter_mut()) {
                if !std::mem::take(&mut o.active) {
                    o.reader.release_buffer();
                }
            }
            // Lingering is counted in full polls only: data-only polls come
            // from events on the current file, not the passing of time.
            let linger = self.cfg.linger_polls;
            let mut i = 0;
            while i < self.draining.len() {
                let drained = self.draining[i].idle_polls > linger
                    || (self.detached && self.draining[i].idle_polls > 0);
                if drained {
                    // The file's last line may lack its `\n`: it never will get one.
                    self.draining
                        .swap_remove(i)
                        .close(CloseReason::Drained, &mut f);
                    self.stats.closed += 1;
                } else {
                    i += 1;
                }
            }
        }
        if self.detached {
            return Ok(());
        }

        if let Some(open) = &mut self.current {
            let file = open.reader.get_ref();
            let len = file.metadata()?.len();
            open.len_seen = len;
            // copytruncate: the content moved elsewhere and the file starts
            // over. Seen as a shrink, or, when new writes already reached
            // the old position, as changed first bytes (one positional read
            // of at most 1 KiB).
            let restarted = len < open.reader.offset()
                || (checks.start && open.id.fp_len > 0 && !open.id.still_starts(file)?);
            if restarted {
                self.stats.truncations += 1;
                let file = file.try_clone()?;
                let mut old = self.current.take().expect("checked above");
                // Lines written after the last read and before the truncation
                // are only in the copy logrotate made: read them there.
                let at = old.reader.read_offset();
                if let Some((_, mut copy)) = find_copy(&self.path, &old.id, at) {
                    self.rotated_after = Some(mtime_ns(&copy));
                    copy.seek(SeekFrom::Start(at))?;
                    *old.reader.get_mut() = copy;
                    old.read_available(u64::MAX, &mut f)?;
                    self.stats.copy_bytes += old.reader.read_offset() - at;
                }
                old.close(CloseReason::Truncated, &mut f);
                self.open_file(file, StartAt::Beginning, &mut f)?;
            } else if open.id.is_partial() && len > u64::from(open.id.fp_len) {
                // A short file grew: widen its fingerprint (same file).
                if open.id.fp_len == 0 {
                    // It was empty when opened: it may have been written,
                    // copied away and truncated in between (nothing to
                    // recognise it by). Copies made since are looked for.
                    self.rotated_after = Some(open.opened_mtime);
                }
                open.id = FileId::of(file)?;
            }
            if let Some(open) = &mut self.current {
                self.backlog |= open.read_available(budget, &mut f)?.1;
            }
        }

        if !checks.path {
            return Ok(());
        }
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                let moved = self
                    .current
                    .as_ref()
                    .is_none_or(|o| (o.id.dev, o.id.ino) != (meta.dev(), meta.ino()));
                if moved {
                    if let Some(old) = self.current.take() {
                        self.stats.rotations += 1;
                        self.rotated_after = Some(mtime_ns(old.reader.get_ref()));
                        self.draining.push(old);
                    }
                    if self.open(StartAt::Beginning, &mut f)?
                        && let Some(open) = &mut self.current
                    {
                        self.backlog |= open.read_available(budget, &mut f)?.1;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Renamed away or deleted: keep reading the open file until
                // it is drained, then close it (a deleted file's space is
                // only freed once we let go).
                if let Some(old) = self.current.take() {
                    self.draining.push(old);
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// logrotate's copytruncate of `path` to `copy`.
    pub(crate) fn copytruncate(path: &Path, copy: &Path) {
        std::fs::copy(path, copy).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    use proptest::prelude::*;
    use std::io::Write;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sitepulse-follow-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Adapts a line callback to follower events.
    fn on_line(mut g: impl FnMut(RawLine<'_>)) -> impl FnMut(FollowEvent<'_>) {
        move |e| {
            if let FollowEvent::Line { line, .. } = e {
                g(line);
            }
        }
    }

    fn append(path: &Path, lines: &[String]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append(u8),
        Poll,
        /// logrotate `create`: rename to .1, new empty file at the path.
        RenameCreate,
        /// logrotate `copytruncate` (after a poll: the collector kept up).
        CopyTruncate,
        /// `copytruncate` with lines the follower has not read yet: they
        /// are read from the copy.
        CopyTruncateUnread,
        /// Rename away without a new file yet; it appears with the next append.
        RenameOnly,
        /// Delete the file (its unread lines are gone for everyone).
        Delete,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1u8..20).prop_map(Op::Append),
            3 => Just(Op::Poll),
            1 => Just(Op::RenameCreate),
            1 => Just(Op::CopyTruncate),
            1 => Just(Op::CopyTruncateUnread),
            1 => Just(Op::RenameOnly),
            1 => Just(Op::Delete),
        ]
    }

    /// A file renamed away or deleted before the follower ever opened it
    /// takes its lines along (a path follower cannot know its new name):
    /// they leave the expectation. Lines of a file it has open are drained.
    fn forget_unopened(f: &Follower, path: &Path, expect: &mut Vec<String>, unread: &[String]) {
        use std::os::unix::fs::MetadataExt;
        let Ok(m) = std::fs::metadata(path) else {
            return;
        };
        let open_here = f
            .current()
            .is_some_and(|id| (id.dev, id.ino) == (m.dev(), m.ino()));
        if !open_here {
            expect.retain(|l| !unread.contains(l));
        }
    }

    /// Runs the ops against a real directory and a follower; returns the
    /// lines that must be seen and the lines that were seen.
    fn run_model(ops: &[Op]) -> (Vec<String>, Vec<String>) {
        let d = tmp("model");
        let path = d.join("app.log");
        let mut f = Follower::new(
            &path,
            FollowConfig {
                buffer_bytes: 64,
                ..FollowConfig::default()
            },
        );
        let mut seen = Vec::new();
        let mut expect = Vec::new();
        // Lines written but not yet read: lost if the file is deleted.
        let mut unread_in_current: Vec<String> = Vec::new();
        // Whether the follower polled the current generation of the file
        // (since its creation or last truncation) while it had content.
        let mut gen_seen = false;
        let nonempty = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
        let mut n = 0u32;
        let poll = |f: &mut Follower, seen: &mut Vec<String>| {
            f.poll(on_line(|l| {
                seen.push(String::from_utf8(l.bytes.to_vec()).unwrap())
            }))
            .unwrap();
        };
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Append(k) => {
                    let lines: Vec<String> = (0..*k)
                        .map(|_| {
                            n += 1;
                            format!("line-{n:06}")
                        })
                        .collect();
                    append(&path, &lines);
                    expect.extend(lines.iter().cloned());
                    unread_in_current.extend(lines);
                }
                Op::Poll => {
                    poll(&mut f, &mut seen);
                    unread_in_current.clear();
                    gen_seen |= nonempty(&path);
                }
                Op::RenameCreate => {
                    forget_unopened(&f, &path, &mut expect, &unread_in_current);
                    unread_in_current.clear();
                    gen_seen = false;
                    if path.exists() {
                        std::fs::rename(&path, d.join(format!("app.log.{i}"))).unwrap();
                        File::create(&path).unwrap();
                    }
                }
                Op::CopyTruncate => {
                    poll(&mut f, &mut seen);
                    unread_in_current.clear();
                    gen_seen = false;
                    if path.exists() {
                        copytruncate(&path, &d.join(format!("app.log.{i}")));
                    }
                }
                Op::CopyTruncateUnread => {
                    // The copy is found by the first bytes the follower saw
                    // of this generation of the file; a generation it never
                    // saw is only in a copy it cannot recognise.
                    if !gen_seen {
                        expect.retain(|l| !unread_in_current.contains(l));
                    }
                    unread_in_current.clear();
                    gen_seen = false;
                    if path.exists() {
                        copytruncate(&path, &d.join(format!("app.log.{i}")));
                    }
                }
                Op::RenameOnly => {
                    forget_unopened(&f, &path, &mut expect, &unread_in_current);
                    unread_in_current.clear();
                    gen_seen = false;
                    if path.exists() {
                        std::fs::rename(&path, d.join(format!("app.log.{i}"))).unwrap();
                    }
                }
                Op::Delete => {
                    forget_unopened(&f, &path, &mut expect, &unread_in_current);
                    unread_in_current.clear();
                    gen_seen = false;
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        for _ in 0..4 {
            poll(&mut f, &mut seen);
        }
        let _ = std::fs::remove_dir_all(&d);
        (expect, seen)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Every line written is read exactly once, in order, through any
        /// mix of appends, polls, rename-and-create, copytruncate, rename
        /// without a new file, and deletes.
        #[test]
        fn every_line_once_in_order(ops in proptest::collection::vec(op(), 1..40)) {
            let (expect, seen) = run_model(&ops);
            prop_assert_eq!(seen, expect);
        }
    }

    #[test]
    fn rename_create_drains_the_old_file_first() {
        let ops = [
            Op::Append(3),
            Op::Poll,
            Op::Append(2),
            Op::RenameCreate,
            Op::Append(4),
        ];
        let (expect, seen) = run_model(&ops);
        assert_eq!(seen, expect);
        assert_eq!(seen.len(), 9);
    }

    #[test]
    fn start_at_end_skips_existing_lines() {
        let d = tmp("end");
        let path = d.join("a.log");
        append(&path, &["old".into()]);
        let mut f = Follower::new(&path, FollowConfig::default());
        assert!(f.open(StartAt::End, |_| {}).unwrap());
        append(&path, &["new".into()]);
        let mut seen = Vec::new();
        f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
        assert_eq!(seen, [b"new".to_vec()]);
    }

    #[test]
    fn truncation_and_rotation_are_counted() {
        let d = tmp("count");
        let path = d.join("a.log");
        append(&path, &["one".into(), "two".into()]);
        let mut f = Follower::new(&path, FollowConfig::default());
        f.open(StartAt::Beginning, |_| {}).unwrap();
        f.poll(|_| {}).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&path, &["three".into()]);
        let mut seen = Vec::new();
        f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
        assert_eq!(seen, [b"three".to_vec()]);
        std::fs::rename(&path, d.join("a.log.1")).unwrap();
        append(&path, &["four".into()]);
        f.poll(on_line(|l| seen.push(l.bytes.to_vec()))).unwrap();
        assert_eq!(f.stats().truncations, 1);
        assert_eq!(f.stats().rotations, 1);
        for _ in 0..4 {
            f.poll(|_| {}).unwrap();
        }
        assert_eq!(f.stats().closed, 1);
    }
}
