//! After a restart: files the checkpoint names that have left their path
//! (rotated while we were down) are found again by inode or by their first
//! bytes and read from their checkpoint, and generations rotated away
//! before any poll saw them are read too.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{TailSink, Tailer, Tracked};
use crate::follow::{Checks, Follower, StartAt, find_copy, find_inode};
use crate::identity::FileId;

/// A rotated file in `path`'s directory: the inode `id` names (renamed),
/// or else a copy starting with the bytes `id` was taken from
/// (copytruncate, see [`find_copy`]); it must reach past `offset`.
pub(super) fn find_rotated(path: &Path, id: &FileId, offset: u64) -> Option<(PathBuf, File)> {
    find_inode(path, id)
        .filter(|(_, file)| {
            file.metadata().is_ok_and(|m| m.len() >= offset)
                && FileId::of(file).is_ok_and(|now| id.same_file(&now, file).unwrap_or(false))
        })
        .or_else(|| find_copy(path, id, offset))
}

impl Tailer {
    /// After a restart: checkpointed files no glob matched any more were
    /// rotated away (renamed, or copied and truncated) while we were down.
    /// They are looked for in the directory the checkpoint names — the
    /// same inode under another name, or a copy starting with the same
    /// bytes — and read from the checkpoint to their end.
    pub(super) fn recover_orphans(&mut self, sink: &mut impl TailSink) {
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
            let source = self.source_of(&path);
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
                    recovered.push((path.clone(), crate::follow::mtime_ns(&file), found.clone()));
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
                        |ev| sink.event(ev, source),
                    );
                    match follower {
                        Ok(follower) => {
                            let key = found.clone();
                            self.track(Tracked::new(follower, source, None));
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
        for (path, after_ns, found) in recovered {
            // A symlink whose checkpointed target was left while we were
            // down: targets it pointed to since, besides the current one.
            let swapped = super::watch::symlink_target(&path)
                .filter(|now| *now != found)
                .map(|now| (found, now));
            self.read_unseen_generations(&path, after_ns, swapped.as_ref(), sink);
        }
    }

    /// A rotation was seen at `path`: generations newer than the one left
    /// (modified after `after_ns`) that no follower has open lived and
    /// left the path between two polls (a busy node, a slow poll, a
    /// restart); they are read whole.
    pub(super) fn read_unseen_generations(
        &mut self,
        path: &Path,
        after_ns: i128,
        swapped: Option<&(PathBuf, PathBuf)>,
        sink: &mut impl TailSink,
    ) {
        // Built only when a candidate turns up (most rotations have none):
        // both walk every followed file or checkpoint entry.
        let open_ids: std::cell::OnceCell<Vec<FileId>> = std::cell::OnceCell::new();
        let open_ids = || open_ids.get_or_init(|| self.open_ids().collect());
        let finished = &self.finished;
        // Generations a checkpoint names (by inode, or a copy by its first
        // bytes) resume from it instead.
        let dir = path.parent();
        let entries: std::cell::OnceCell<Vec<&FileId>> = std::cell::OnceCell::new();
        let entries = || {
            entries.get_or_init(|| {
                self.checkpoints
                    .entries()
                    .filter(|e| Path::new(&e.path).parent() == dir)
                    .map(|e| &e.id)
                    .collect()
            })
        };
        let recent = &self.recent;
        let known = |file: &File, dev: u64, ino: u64| {
            let head = crate::identity::head_of(file).unwrap_or_default();
            let starts_like = |id: &FileId| id.matches_head(&head);
            // Inodes are reused once a file is deleted: beyond files held
            // open, a file is recognised by its first bytes.
            open_ids().iter().any(|id| (id.dev, id.ino) == (dev, ino))
                || finished.get(&(dev, ino)).is_some_and(starts_like)
                || entries().iter().copied().any(starts_like)
                || recent.iter().any(starts_like)
                || open_ids().iter().any(starts_like)
        };
        let source = self.files.get(path).and_then(|t| t.source);
        // Copies of a file truncated in place carry its key: this run or
        // the last may have read their lines from it before the checkpoint
        // named them, and a repeat must be recognisable as one.
        let copy_key = self.files.get(path).and_then(|t| t.follower.copy_key());
        let mut found = crate::follow::unseen_generations(path, after_ns, &known);
        if let Some((old, new)) = swapped {
            // A symlink swapped more than once between two polls: the
            // targets in between, named like the old and the new one.
            found.extend(crate::follow::unseen_targets(old, new, after_ns, &known));
        }
        for (found, file) in found {
            if self.files.contains_key(found.as_path()) {
                continue;
            }
            self.stats.unseen_generations += 1;
            let own = file.metadata().map(|m| (m.dev(), m.ino())).ok();
            let as_key = copy_key.filter(|k| Some(*k) != own);
            tracing::info!(path = %found.display(), copy = as_key.is_some(), "reading a rotated generation that was never opened");
            match Follower::drain(
                &found,
                file,
                StartAt::Beginning,
                self.follow,
                as_key,
                |ev| sink.event(ev, source),
            ) {
                Ok(follower) => {
                    self.track(Tracked::new(follower, source, None));
                    self.poll(&found, Checks::ALL, sink);
                }
                Err(e) => {
                    self.stats.read_errors += 1;
                    tracing::warn!(path = %found.display(), error = %e, "cannot read rotated file");
                }
            }
        }
    }
}
