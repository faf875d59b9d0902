//! Re-reading files for a log sink that fell behind. When a sink's spool
//! was full, the files' shipping cursors for it stayed where it refused;
//! once the spool is at most half full the sink takes records again, and
//! the pipeline thread re-reads each lagging file from its shipping cursor
//! up to its live cursor, a few MiB per turn between live batches, through
//! a second pipeline that only frames, parses and labels (the live one
//! counted those lines already). When a file's shipping cursor reaches its
//! live cursor, its new records go to the sink directly again.
//!
//! A lagging file is found by identity (device, inode, first bytes): at its
//! path, else under another name in the same directory (rotated by
//! rename). A file that is gone, or was truncated below its live cursor
//! (copytruncate), has lost the lines the sink did not get: they are
//! counted (`sitepulse_sink_lost_bytes_total`) and logged, and its cursor
//! moves on. Files closed while lagging are caught up from the checkpoint
//! entry, after a restart too.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sitepulse_pipeline::frame::RawLine;
use sitepulse_pipeline::join::JoinRule;
use sitepulse_pipeline::{FileFeed, FormatChoice, Pipeline, PipelineConfig};
use sitepulse_tail::FileId;

use super::batch::SNIFF_BYTES;
use super::ship::ShipObserver;

/// Bytes re-read per turn of the pipeline thread's loop.
pub(crate) const TURN_BYTES: usize = 2 << 20;

/// One file being re-read.
struct Current {
    sink: usize,
    id: FileId,
    file: File,
    /// Next byte to read (a record start, or inside the open record of
    /// `feed`).
    pos: u64,
    /// Where the shipping cursor is: the start of the feed's open record,
    /// else `pos`.
    feed: Box<FileFeed>,
}

/// What a turn found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// The file's shipping cursor is now here (the live cursor not yet
    /// reached, or the sink refused a record starting here).
    At(u64),
    /// Caught up with `target`.
    Done,
    /// The file is gone or no longer holds those lines.
    Lost { why: &'static str },
}

/// The re-reading state of the pipeline thread.
pub(crate) struct CatchUp {
    cfg: PipelineConfig,
    /// Built on first use; only labels.
    pipeline: Option<Pipeline>,
    cur: Option<Current>,
    buf: Vec<u8>,
}

/// Finds the file `id` at `path`, else in its directory.
fn find(id: &FileId, path: &Path) -> io::Result<Option<(PathBuf, File)>> {
    let same = |p: &Path| -> io::Result<Option<File>> {
        let f = match File::open(p) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let m = f.metadata()?;
        if m.dev() != id.dev || m.ino() != id.ino || !id.still_starts(&f)? {
            return Ok(None);
        }
        Ok(Some(f))
    };
    if let Some(f) = same(path)? {
        return Ok(Some((path.to_owned(), f)));
    }
    let Some(dir) = path.parent() else {
        return Ok(None);
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.dev() == id.dev && m.ino() == id.ino {
            let p = e.path();
            if let Some(f) = same(&p)? {
                return Ok(Some((p, f)));
            }
        }
    }
    Ok(None)
}

fn read_prefix(file: &File) -> Vec<u8> {
    let mut buf = vec![0u8; SNIFF_BYTES];
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

impl CatchUp {
    pub(crate) fn new(cfg: PipelineConfig) -> CatchUp {
        CatchUp {
            cfg,
            pipeline: None,
            cur: None,
            buf: Vec::new(),
        }
    }

    /// Whether `(sink, dev, ino)` is the file being re-read.
    pub(crate) fn is_current(&self, sink: usize, id: &FileId) -> bool {
        self.cur
            .as_ref()
            .is_some_and(|c| c.sink == sink && c.id.dev == id.dev && c.id.ino == id.ino)
    }

    /// Forgets the file being re-read (its stream's state changed).
    pub(crate) fn drop_current(&mut self) {
        self.cur = None;
    }

    /// Re-reads up to [`TURN_BYTES`] of file `id` for sink `sink`, from
    /// `from` towards `target` (its live cursor, a record boundary),
    /// offering each record to that sink only.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn turn(
        &mut self,
        sink: usize,
        id: &FileId,
        path: &Path,
        from: u64,
        target: u64,
        format: FormatChoice,
        join: Option<&Arc<JoinRule>>,
        ship: &mut ShipObserver,
    ) -> io::Result<Turn> {
        let t = self.turn_inner(sink, id, path, from, target, format, join, ship);
        ship.end(&mut []);
        if !matches!(t, Ok(Turn::At(_))) {
            self.cur = None;
        }
        t
    }

    #[allow(clippy::too_many_arguments)]
    fn turn_inner(
        &mut self,
        sink: usize,
        id: &FileId,
        path: &Path,
        from: u64,
        target: u64,
        format: FormatChoice,
        join: Option<&Arc<JoinRule>>,
        ship: &mut ShipObserver,
    ) -> io::Result<Turn> {
        if from >= target {
            self.cur = None;
            return Ok(Turn::Done);
        }
        if !self.is_current(sink, id) {
            self.cur = None;
            let Some((path, file)) = find(id, path)? else {
                return Ok(Turn::Lost {
                    why: "rotated_away",
                });
            };
            let pipeline = match &mut self.pipeline {
                Some(p) => p,
                None => {
                    // Validated with the config: building cannot fail.
                    let Ok(mut p) = Pipeline::new(&self.cfg, 0) else {
                        return Ok(Turn::Lost { why: "config" });
                    };
                    p.set_aggregate(false);
                    self.pipeline.insert(p)
                }
            };
            // Format detection reads the file's first bytes, as the live
            // feed did.
            let prefix = read_prefix(&file);
            let name = path.display().to_string();
            let feed = Box::new(pipeline.open_feed_as(
                &name,
                Some(&path),
                &prefix,
                prefix.len() < SNIFF_BYTES,
                format,
                join.map(|j| &**j),
            ));
            self.cur = Some(Current {
                sink,
                id: *id,
                file,
                pos: from,
                feed,
            });
        }
        let cur = self.cur.as_mut().expect("set above");
        let pipeline = self.pipeline.as_mut().expect("built with cur");
        let len = cur.file.metadata()?.len();
        if len < target {
            // Truncated (copytruncate) below what was read live.
            self.cur = None;
            return Ok(Turn::Lost { why: "truncated" });
        }
        let want = ((target - cur.pos) as usize).min(TURN_BYTES);
        self.buf.resize(want, 0);
        let mut n = 0;
        while n < want {
            match cur.file.read_at(&mut self.buf[n..], cur.pos + n as u64)? {
                0 => break,
                k => n += k,
            }
        }
        // Whole lines only (the target is a line end).
        let end = if cur.pos + n as u64 >= target {
            n
        } else {
            match memchr::memrchr(b'\n', &self.buf[..n]) {
                Some(i) => i + 1,
                None if n == TURN_BYTES => n, // one enormous line: cut, as live does
                None => 0,
            }
        };
        ship.begin_only(sink);
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &self.buf[..end]) {
            let line = RawLine {
                bytes: &self.buf[start..nl],
                start_offset: cur.pos + start as u64,
                end_offset: cur.pos + nl as u64 + 1,
                truncated: false,
                unterminated: false,
            };
            pipeline.feed(&mut cur.feed, line, ship);
            start = nl + 1;
            if ship.refused(sink).is_some() {
                break;
            }
        }
        if ship.refused(sink).is_none() && start < end && cur.pos + end as u64 == target {
            // The file's last line, unterminated when it was read live.
            let line = RawLine {
                bytes: &self.buf[start..end],
                start_offset: cur.pos + start as u64,
                end_offset: target,
                truncated: false,
                unterminated: true,
            };
            pipeline.feed(&mut cur.feed, line, ship);
            start = end;
        }
        if let Some(at) = ship.refused(sink) {
            self.cur = None;
            return Ok(Turn::At(at));
        }
        cur.pos += start as u64;
        if cur.pos >= target {
            pipeline.flush(&mut cur.feed, ship);
            let refused = ship.refused(sink);
            self.cur = None;
            return Ok(match refused {
                Some(at) => Turn::At(at),
                None => Turn::Done,
            });
        }
        let at = cur.feed.pending_offset().unwrap_or(cur.pos);
        Ok(Turn::At(at))
    }
}
