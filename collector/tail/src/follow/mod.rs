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
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod copies;
mod park;

use park::Parked;

pub(crate) use copies::{find_copy, find_inode};
pub use copies::{mtime_ns, unseen_generations, unseen_targets};

use crate::identity::FileId;
use sitepulse_lines::{LineReader, RawLine};

/// Where to start reading a file that is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// From the first byte (new files).
    Beginning,
    /// From the current end (files present at first start, by default).
    End,
    /// From a checkpointed offset; from the beginning when the file is
    /// shorter (it was truncated since).
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
    /// `stream` gave back its descriptor while idle, read to its end (no
    /// partial line delivered); it goes on with `Line`s when its file
    /// changes. A consumer may drop what it holds for it meanwhile.
    Parked { stream: StreamId },
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
    /// Where the last read ended and a hash of the bytes just before it:
    /// a file truncated and rewritten past that point (copytruncate, or a
    /// program rewriting its log) shows other bytes there, even when its
    /// first bytes are the same.
    tail: Option<(u64, u64)>,
}

/// Bytes before the read position compared by [`Open::tail_changed`].
const TAIL_BYTES: usize = 64;

/// Hash of the (up to) [`TAIL_BYTES`] before `end`, read positionally.
fn tail_hash(file: &File, end: u64) -> io::Result<Option<(u64, u64)>> {
    use std::hash::Hasher;
    use std::os::unix::fs::FileExt;
    if end == 0 {
        return Ok(None);
    }
    let n = end.min(TAIL_BYTES as u64) as usize;
    let mut buf = [0u8; TAIL_BYTES];
    let mut got = 0;
    while got < n {
        match file.read_at(&mut buf[got..n], end - n as u64 + got as u64) {
            Ok(0) => return Ok(Some((end, 0))),
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut h = fnv::FnvHasher::default();
    h.write(&buf[..n]);
    Ok(Some((end, h.finish())))
}

impl Open {
    fn new(mut file: File, start: StartAt, cfg: &FollowConfig) -> io::Result<Open> {
        let id = FileId::of(&file)?;
        let len = file.metadata()?.len();
        let offset = match start {
            StartAt::Beginning => 0,
            StartAt::End => len,
            // Past the end: the file was truncated since the offset was
            // recorded; what it holds now is new.
            StartAt::Offset(o) if o > len => 0,
            StartAt::Offset(o) => o,
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
            tail: None,
        })
    }

    /// Reopens a parked stream: `file` is the parked inode; reading goes on
    /// at the parked line offset (bytes of a partial line are read again).
    /// The offset is not clamped, so a file truncated while parked shows
    /// as one that shrank below the read position.
    fn resume(mut file: File, p: &Parked, cfg: &FollowConfig) -> io::Result<Open> {
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(p.offset))?;
        let mut reader = LineReader::with_limits(file, cfg.buffer_bytes, cfg.max_line_bytes);
        reader.set_offset(p.offset);
        Ok(Open {
            stream: p.stream,
            id: p.id,
            reader,
            idle_polls: 0,
            len_seen: len,
            active: true,
            opened_mtime: p.opened_mtime,
            key: p.key,
            tail: p.tail,
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
        if read {
            self.tail = tail_hash(self.reader.get_ref(), self.reader.read_offset())?;
        }
        if !more {
            // At the end of what was written: the buffer goes back to the
            // thread's pool until the next read.
            self.reader.pool_buffer();
        }
        Ok((read, more))
    }

    /// Whether the bytes before the read position changed since they were
    /// read: the file was truncated and rewritten past it.
    fn tail_changed(&self) -> io::Result<bool> {
        match self.tail {
            Some((end, hash)) => Ok(tail_hash(self.reader.get_ref(), end)? != Some((end, hash))),
            None => Ok(false),
        }
    }

    /// Delivers a pending unterminated last line and reports the close.
    fn close(mut self, why: CloseReason, f: &mut impl FnMut(FollowEvent<'_>)) {
        let (stream, id) = (self.stream, self.id);
        self.reader
            .finish(|line| f(FollowEvent::Line { stream, id, line }));
        f(FollowEvent::Closed { stream, id, why });
    }
}

/// Follows one path. Single owner; call [`poll`](Self::poll) when the path
/// may have changed (an inotify event, a periodic tick).
pub struct Follower {
    /// Shared with the tailer's map key and the status list: a path is
    /// kept once however many places name it.
    path: Arc<Path>,
    cfg: FollowConfig,
    /// Boxed: a follower of an idle (parked) file holds no `Open`, and
    /// thousands of them should cost little.
    current: Option<Box<Open>>,
    /// The current file, closed while idle (never with `current` set).
    parked: Option<Parked>,
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
    /// The file at the path has been truncated in place (copytruncate):
    /// rotated generations next to it are copies of it, whose lines carry
    /// its dedup key.
    copytruncated: bool,
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
    /// Whether its descriptor was given back while it is idle.
    pub parked: bool,
}

impl Follower {
    /// A follower of `path`; nothing is opened until [`open`](Self::open)
    /// or the first [`poll`](Self::poll).
    pub fn new(path: &Path, cfg: FollowConfig) -> Self {
        Self {
            path: Arc::from(path),
            cfg,
            current: None,
            parked: None,
            draining: Vec::new(),
            detached: false,
            backlog: false,
            rotated_after: None,
            copytruncated: false,
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
            path: Arc::from(path),
            cfg,
            current: None,
            parked: None,
            draining: vec![open],
            detached: true,
            backlog: false,
            rotated_after: None,
            copytruncated: false,
            stats: FollowStats::default(),
        })
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The followed path, shared.
    pub fn path_arc(&self) -> Arc<Path> {
        Arc::clone(&self.path)
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
        self.current = Some(Box::new(open));
        Ok(())
    }

    /// The identity of the file being read now (open or parked), if any.
    pub fn current(&self) -> Option<FileId> {
        self.current
            .as_ref()
            .map(|o| o.id)
            .or(self.parked.map(|p| p.id))
    }

    /// File descriptors held: the current file and those being drained.
    pub fn open_count(&self) -> usize {
        usize::from(self.current.is_some()) + self.draining.len()
    }

    /// Rotated-away files still open to be read to their end.
    pub fn draining_count(&self) -> usize {
        self.draining.len()
    }

    /// Whether the current file is closed while idle.
    pub fn is_parked(&self) -> bool {
        self.parked.is_some()
    }

    /// Every open file: the current one and those being drained.
    pub fn open_files(&self) -> impl Iterator<Item = OpenFile> + '_ {
        let cur = self.current.iter().map(|o| (&**o, true));
        let old = self.draining.iter().map(|o| (o, false));
        let parked = self.parked.iter().map(|p| OpenFile {
            stream: p.stream,
            id: p.id,
            offset: p.offset,
            size: p.read_end,
            current: true,
            parked: true,
        });
        cur.chain(old)
            .map(|(o, current)| OpenFile {
                stream: o.stream,
                id: o.id,
                offset: o.reader.offset(),
                size: o.len_seen.max(o.reader.read_offset()),
                current,
                parked: false,
            })
            .chain(parked)
    }

    /// Whether nothing is open (the path is gone and everything drained).
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.parked.is_none() && self.draining.is_empty()
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

    /// Records that the file at the path was truncated in place while
    /// nobody followed it (a restart found a checkpointed inode there with
    /// other first bytes).
    pub fn mark_copytruncated(&mut self) {
        self.copytruncated = true;
    }

    /// The dedup key of rotated copies of this path: the `(dev, ino)` of
    /// the file that is truncated in place, once a truncation was seen
    /// (a copy's lines were, or would have been, read from that file, at
    /// the same offsets); `None` while the path rotates by rename, when a
    /// rotated generation is the file that was at the path and keeps its
    /// own key.
    pub fn copy_key(&self) -> Option<(u64, u64)> {
        if !self.copytruncated {
            return None;
        }
        self.current.as_ref().map(|o| (o.id.dev, o.id.ino))
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
        if self.parked.is_some() {
            if !self.wants_unpark() {
                return Ok(());
            }
            self.unpark(&mut f)?;
        }
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
            for o in self
                .current
                .iter_mut()
                .map(|o| &mut **o)
                .chain(self.draining.iter_mut())
            {
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
                || (checks.start
                    && ((open.id.fp_len > 0 && !open.id.still_starts(file)?)
                        || open.tail_changed()?));
            if restarted {
                self.stats.truncations += 1;
                self.copytruncated = true;
                let file = file.try_clone()?;
                let mut old = self.current.take().expect("checked above");
                // Lines written after the last read and before the truncation
                // are only in the copy logrotate made: read them there.
                let at = old.reader.read_offset();
                let found = find_copy(&self.path, &old.id, at);
                tracing::debug!(
                    path = %self.path.display(),
                    at,
                    len,
                    copy = ?found.as_ref().map(|(p, _)| p),
                    "truncated"
                );
                if let Some((_, mut copy)) = found {
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
                        self.draining.push(*old);
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
                    self.draining.push(*old);
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
