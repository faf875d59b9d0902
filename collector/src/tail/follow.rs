//! Follows one path through rotations: the file behind the path is read
//! to its end on every poll; when the path starts naming another file
//! (rename-and-create, symlink swap) the old one is drained and then
//! closed; when the file shrinks below the read position (copytruncate)
//! reading restarts at 0; when it is deleted while open it is drained and
//! closed. Lines come out with the identity of the file they were read
//! from and their end offset, which is what checkpoints record.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::identity::FileId;
use crate::frame::{LineReader, RawLine};

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
}

impl Default for FollowConfig {
    fn default() -> Self {
        Self {
            buffer_bytes: 64 * 1024,
            max_line_bytes: crate::frame::DEFAULT_MAX_LINE_BYTES,
            linger_polls: 2,
        }
    }
}

/// What a follower has seen happen to its path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowStats {
    /// The path came to name another file (rename-and-create, symlink swap).
    pub rotations: u64,
    /// The file shrank below the read position (copytruncate).
    pub truncations: u64,
    /// Files closed after they were deleted or rotated away and drained.
    pub closed: u64,
}

struct Open {
    id: FileId,
    reader: LineReader<File>,
    idle_polls: u32,
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
        let mut reader = LineReader::with_limits(file, cfg.buffer_bytes, cfg.max_line_bytes);
        reader.set_offset(offset);
        Ok(Open {
            id,
            reader,
            idle_polls: 0,
        })
    }

    /// Reads to the current end; returns whether anything was read.
    fn read_available(&mut self, f: &mut impl FnMut(&FileId, RawLine<'_>)) -> io::Result<bool> {
        let before = self.reader.offset();
        let id = self.id;
        while self.reader.next_batch(|line| f(&id, line))? {}
        Ok(self.reader.offset() != before)
    }
}

/// Follows one path. Single owner; call [`poll`](Self::poll) when the path
/// may have changed (an inotify event, a periodic tick).
pub struct Follower {
    path: PathBuf,
    cfg: FollowConfig,
    current: Option<Open>,
    draining: Vec<Open>,
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

impl Follower {
    /// A follower of `path`; nothing is opened until [`open`](Self::open)
    /// or the first [`poll`](Self::poll).
    pub fn new(path: &Path, cfg: FollowConfig) -> Self {
        Self {
            path: path.to_owned(),
            cfg,
            current: None,
            draining: Vec::new(),
            stats: FollowStats::default(),
        }
    }

    /// Opens the file the path names now, starting at `start`. Returns
    /// false when there is no such file yet (a later poll opens it from the
    /// beginning).
    ///
    /// # Errors
    /// I/O errors other than the file not existing.
    pub fn open(&mut self, start: StartAt) -> io::Result<bool> {
        match File::open(&self.path) {
            Ok(file) => {
                self.current = Some(Open::new(file, start, &self.cfg)?);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The identity of the file being read now, if any.
    pub fn current(&self) -> Option<FileId> {
        self.current.as_ref().map(|o| o.id)
    }

    /// Counters so far.
    pub fn stats(&self) -> FollowStats {
        self.stats
    }

    /// Reads everything available, oldest file first: rotated-away files to
    /// their end, then the current one; then follows the path to a new file
    /// if it names one. `f` gets each complete line with its file's
    /// identity.
    ///
    /// # Errors
    /// I/O errors reading or opening; the follower stays usable.
    pub fn poll(&mut self, mut f: impl FnMut(&FileId, RawLine<'_>)) -> io::Result<()> {
        for open in &mut self.draining {
            if open.read_available(&mut f)? {
                open.idle_polls = 0;
            } else {
                open.idle_polls += 1;
            }
        }
        let linger = self.cfg.linger_polls;
        let before = self.draining.len();
        self.draining.retain_mut(|o| {
            let done = o.idle_polls > linger;
            if done {
                // The file's last line may lack its `\\n`: it never will get one.
                let id = o.id;
                o.reader.finish(|line| f(&id, line));
            }
            !done
        });
        self.stats.closed += (before - self.draining.len()) as u64;

        if let Some(open) = &mut self.current {
            let file = open.reader.get_ref();
            let len = file.metadata()?.len();
            // copytruncate: the content moved elsewhere and the file starts
            // over. Seen as a shrink, or, when new writes already reached
            // the old position, as changed first bytes (one positional read
            // of at most 1 KiB per poll).
            let restarted = len < open.reader.offset()
                || (open.id.fp_len > 0 && !open.id.still_starts(file)?);
            if restarted {
                self.stats.truncations += 1;
                let file = file.try_clone()?;
                *open = Open::new(file, StartAt::Beginning, &self.cfg)?;
            } else if open.id.is_partial() && len > u64::from(open.id.fp_len) {
                // A short file grew: widen its fingerprint (same file).
                open.id = FileId::of(file)?;
            }
            open.read_available(&mut f)?;
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
                        self.draining.push(old);
                    }
                    if self.open(StartAt::Beginning)?
                        && let Some(open) = &mut self.current
                    {
                        open.read_available(&mut f)?;
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
mod tests {
    use super::*;
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
        let mut n = 0u32;
        let poll = |f: &mut Follower, seen: &mut Vec<String>| {
            f.poll(|_, l| seen.push(String::from_utf8(l.bytes.to_vec()).unwrap()))
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
                }
                Op::RenameCreate => {
                    forget_unopened(&f, &path, &mut expect, &unread_in_current);
                    unread_in_current.clear();
                    if path.exists() {
                        std::fs::rename(&path, d.join(format!("app.log.{i}"))).unwrap();
                        File::create(&path).unwrap();
                    }
                }
                Op::CopyTruncate => {
                    poll(&mut f, &mut seen);
                    unread_in_current.clear();
                    if path.exists() {
                        std::fs::copy(&path, d.join(format!("app.log.{i}"))).unwrap();
                        std::fs::OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .unwrap()
                            .set_len(0)
                            .unwrap();
                    }
                }
                Op::RenameOnly => {
                    forget_unopened(&f, &path, &mut expect, &unread_in_current);
                    unread_in_current.clear();
                    if path.exists() {
                        std::fs::rename(&path, d.join(format!("app.log.{i}"))).unwrap();
                    }
                }
                Op::Delete => {
                    forget_unopened(&f, &path, &mut expect, &unread_in_current);
                    unread_in_current.clear();
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
        assert!(f.open(StartAt::End).unwrap());
        append(&path, &["new".into()]);
        let mut seen = Vec::new();
        f.poll(|_, l| seen.push(l.bytes.to_vec())).unwrap();
        assert_eq!(seen, [b"new".to_vec()]);
    }

    #[test]
    fn truncation_and_rotation_are_counted() {
        let d = tmp("count");
        let path = d.join("a.log");
        append(&path, &["one".into(), "two".into()]);
        let mut f = Follower::new(&path, FollowConfig::default());
        f.open(StartAt::Beginning).unwrap();
        f.poll(|_, _| {}).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&path, &["three".into()]);
        let mut seen = Vec::new();
        f.poll(|_, l| seen.push(l.bytes.to_vec())).unwrap();
        assert_eq!(seen, [b"three".to_vec()]);
        std::fs::rename(&path, d.join("a.log.1")).unwrap();
        append(&path, &["four".into()]);
        f.poll(|_, l| seen.push(l.bytes.to_vec())).unwrap();
        assert_eq!(f.stats().truncations, 1);
        assert_eq!(f.stats().rotations, 1);
        for _ in 0..4 {
            f.poll(|_, _| {}).unwrap();
        }
        assert_eq!(f.stats().closed, 1);
    }
}
