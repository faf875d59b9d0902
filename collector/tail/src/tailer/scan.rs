//! Discovery: which source a path belongs to, which found files are new,
//! and where each new file starts (checkpoint, `read_existing`,
//! `ignore_older_secs`).

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::watch::symlink_target;
use super::{MATCH, ReadExisting, SourceIndex, TailSink, Tailer, Tracked};
use crate::follow::{Checks, Follower, StartAt};
use crate::identity::FileId;

/// A `tail.sources` entry's globs, compiled.
pub(super) struct SourceGlobs {
    pub(super) include: Vec<glob::Pattern>,
    pub(super) exclude: Vec<glob::Pattern>,
}

impl Tailer {
    /// The source a path belongs to: the first whose include matches and
    /// whose exclude does not.
    pub(super) fn source_of(&self, path: &Path) -> SourceIndex {
        self.sources.iter().position(|s| {
            s.include.iter().any(|p| p.matches_path_with(path, MATCH))
                && !s.exclude.iter().any(|p| p.matches_path_with(path, MATCH))
        })
    }

    /// Discovers files and starts following new ones.
    pub(super) fn scan(&mut self, sink: &mut impl TailSink) {
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
            if self.files.contains_key(f.path.as_path())
                || open.contains(&(f.dev, f.ino))
                || self.waiting_paths.contains(&f.path)
            {
                continue;
            }
            let Some(source) = self.source_of(&f.path) else {
                continue;
            };
            if !self.waiting_new.is_empty() || !self.fd_available(sink) {
                // Opened in turn as descriptors come free.
                self.waiting_paths.insert(f.path.clone());
                self.waiting_new.push_back((f.path, Some(source), initial));
                continue;
            }
            self.open_new(&f.path, Some(source), initial, sink);
        }
        self.watch_globs();
    }

    /// Starts following a new file; an error is counted and logged (the
    /// next scan tries again).
    pub(super) fn open_new(
        &mut self,
        path: &Path,
        source: SourceIndex,
        initial: bool,
        sink: &mut impl TailSink,
    ) {
        let started = self.start_file(path, source, initial, sink);
        let exhausted = matches!(
            started.as_ref().err().and_then(io::Error::raw_os_error),
            Some(libc::EMFILE | libc::ENFILE)
        );
        self.stats.fd_exhausted = exhausted || (self.stats.fd_exhausted && started.is_err());
        if let Err(e) = started {
            self.stats.read_errors += 1;
            if exhausted {
                // The process ran out of descriptors (the budget is too
                // high for the limit): park idle files and try again soon.
                self.max_open = self.open_fds.max(1);
                self.waiting_paths.insert(path.to_owned());
                self.waiting_new
                    .push_back((path.to_owned(), source, initial));
            }
            tracing::warn!(path = %path.display(), error = %e, "cannot open");
        }
    }

    /// The identity of every open file (current and being drained).
    pub(super) fn open_ids(&self) -> impl Iterator<Item = FileId> + '_ {
        self.files
            .values()
            .flat_map(|t| t.follower.open_files().map(|o| o.id))
    }

    /// Opens a newly discovered file at the right place.
    pub(super) fn start_file(
        &mut self,
        path: &Path,
        source: SourceIndex,
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
        // A checkpointed inode at the same path with other first bytes, and
        // a copy of what it held next to it: truncated in place while we
        // were down (copytruncate). Without the copy it is an inode freed
        // by a deleted generation and reused by a new file.
        let truncated_while_down = self.checkpoints.get(id.dev, id.ino).is_some_and(|e| {
            Path::new(&e.path) == path
                && !e.id.same_file(&id, &file).unwrap_or(true)
                && crate::follow::find_copy(path, &e.id, 0).is_some()
        });
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
        tracing::debug!(
            path = %path.display(),
            ino = id.ino,
            fp_len = id.fp_len,
            len = meta.len(),
            ?start,
            truncated_while_down,
            "following"
        );
        let mut follower = Follower::new(path, self.follow);
        if truncated_while_down {
            follower.mark_copytruncated();
        }
        follower.open_file(file, start, &mut |ev| sink.event(ev, source))?;
        let target = symlink_target(path);
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
        self.track(Tracked::new(follower, source, target));
        // What is there already is read now, not at the next event.
        self.poll(path, Checks::DATA, sink);
        Ok(())
    }

    pub(super) fn too_old(&self, meta: &std::fs::Metadata) -> bool {
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
}
