//! Parking: a current file read to its end gives back its descriptor and
//! buffer, and is reopened by identity when its path shows a change; and
//! rotated files closed early when descriptors are short.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;

use super::{CloseReason, FollowEvent, Follower, Open, StreamId, copies, find_copy};
use crate::identity::FileId;

/// The current file of a follower whose descriptor was given back after
/// it was read to its end: what it takes to reopen it by identity and go
/// on with the same stream. A few dozen bytes, no buffer, no descriptor.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parked {
    pub(super) stream: StreamId,
    pub(super) id: FileId,
    pub(super) key: (u64, u64),
    /// Line offset to resume at (every line before it delivered).
    pub(super) offset: u64,
    /// Bytes read when parked (past `offset` by a partial last line).
    pub(super) read_end: u64,
    /// Modification time when parked (ns): a change wakes the file.
    pub(super) mtime: i128,
    pub(super) opened_mtime: i128,
    pub(super) tail: Option<(u64, u64)>,
}

impl Follower {
    /// Gives back the current file's descriptor and read buffer when it is
    /// read to its end and nothing is being drained: it is reopened by
    /// identity when its path shows a change (see [`poll_with`]). Returns
    /// the event to hand on when it was parked.
    ///
    /// [`poll_with`]: Self::poll_with
    pub fn park(&mut self) -> Option<FollowEvent<'static>> {
        if !self.draining.is_empty() || self.detached || self.backlog {
            return None;
        }
        let open = self.current.as_ref()?;
        let meta = open.reader.get_ref().metadata().ok()?;
        let rewritten = (open.id.fp_len > 0
            && !open.id.still_starts(open.reader.get_ref()).unwrap_or(false))
            || open.tail_changed().unwrap_or(true);
        // Only a file its path still names: a deleted one is drained and
        // closed (its inode may be reused once let go), a renamed one is
        // being rotated away.
        let at_path = meta.nlink() > 0
            && std::fs::metadata(&self.path)
                .is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino()));
        if meta.len() != open.reader.read_offset() || rewritten || !at_path {
            // Not read to its end, or truncated and rewritten since: the
            // next poll sees to it.
            return None;
        }
        let open = self.current.take().expect("checked above");
        self.parked = Some(Parked {
            stream: open.stream,
            id: open.id,
            key: open.key,
            offset: open.reader.offset(),
            read_end: open.reader.read_offset(),
            mtime: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            opened_mtime: open.opened_mtime,
            tail: open.tail,
        });
        Some(FollowEvent::Parked {
            stream: open.stream,
        })
    }

    /// Closes rotated-away files that are read to their end without
    /// waiting out `linger_polls` (descriptors are short); returns how
    /// many. A writer still writing to such a file after this loses those
    /// lines.
    pub fn close_drained(&mut self, mut f: impl FnMut(FollowEvent<'_>)) -> usize {
        let mut closed = 0;
        let mut i = 0;
        while i < self.draining.len() {
            let o = &self.draining[i];
            let at_end = o
                .reader
                .get_ref()
                .metadata()
                .is_ok_and(|m| m.len() == o.reader.read_offset());
            if at_end {
                self.draining
                    .swap_remove(i)
                    .close(CloseReason::Drained, &mut f);
                self.stats.closed += 1;
                closed += 1;
            } else {
                i += 1;
            }
        }
        closed
    }

    /// A parked follower: whether its path shows a change (another size or
    /// modification time, another file, no file), so the file must be
    /// reopened. One `stat`.
    pub fn wants_unpark(&self) -> bool {
        let Some(p) = &self.parked else {
            return false;
        };
        match std::fs::metadata(&self.path) {
            Ok(m) => {
                let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
                (m.dev(), m.ino()) != (p.id.dev, p.id.ino)
                    || m.len() != p.read_end
                    || mtime != p.mtime
            }
            Err(_) => true,
        }
    }

    /// Reopens the parked file by identity: at its path if it is still
    /// there, else among its siblings by inode and first bytes (renamed
    /// away while parked); the stream goes on where it stopped. A file
    /// that is gone has its stream closed (it was read to its end when
    /// parked). The rest — truncation, rotation — is the poll's.
    pub(super) fn unpark(&mut self, f: &mut impl FnMut(FollowEvent<'_>)) -> io::Result<()> {
        let Some(p) = self.parked.take() else {
            return Ok(());
        };
        let same = |file: &File| {
            file.metadata()
                .is_ok_and(|m| (m.dev(), m.ino()) == (p.id.dev, p.id.ino))
        };
        let file = match File::open(&self.path) {
            Ok(file) if same(&file) => Some(file),
            Ok(_) => copies::find_inode(&self.path, &p.id).map(|(_, f)| f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                copies::find_inode(&self.path, &p.id).map(|(_, f)| f)
            }
            Err(e) => {
                self.parked = Some(p);
                return Err(e);
            }
        };
        match file {
            Some(file) => match Open::resume(file, &p, &self.cfg) {
                Ok(open) => self.current = Some(Box::new(open)),
                Err(e) => {
                    self.parked = Some(p);
                    return Err(e);
                }
            },
            None => {
                // Gone. Lines written after it was parked may survive in a
                // copy (copytruncate, then the truncated file deleted).
                let copy = find_copy(&self.path, &p.id, p.offset)
                    .and_then(|(_, copy)| Open::resume(copy, &p, &self.cfg).ok());
                match copy {
                    Some(open) => self.draining.push(open),
                    None => {
                        f(FollowEvent::Closed {
                            stream: p.stream,
                            id: p.id,
                            why: CloseReason::Drained,
                        });
                        self.stats.closed += 1;
                    }
                }
            }
        }
        Ok(())
    }
}
