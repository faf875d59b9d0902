//! A bounded on-disk FIFO of frames (one encoded, compressed request body
//! each), one per sink: what the sink has accepted but its receiver has not
//! acknowledged. It survives restarts; frames leave in the order they came.
//!
//! Layout: `<dir>/<seq>.seg` segment files of frames, and `<dir>/ack`, the
//! position of the first frame not yet acknowledged (`<seq> <offset>`,
//! replaced atomically). A frame on disk is
//!
//! ```text
//! len: u32 LE | crc32(payload): u32 LE | created_unix_ms: u64 LE | items: u32 LE | payload
//! ```
//!
//! `items` is what the frame carries (log entries, samples) for counters.
//! A crash can leave a torn frame at the end of the last segment: it is
//! cut off at the next open (its lines were not committed, so the files
//! still hold them). A segment is deleted once every frame in it is
//! acknowledged; the `ack` file is written at most every
//! [`ACK_SAVE_EVERY`] acknowledgements and on [`Spool::close`], so a crash
//! re-sends at most that many frames (at-least-once: the receivers
//! deduplicate, Loki by timestamp and line, Prometheus by sample time).
//!
//! The producer ([`Spool::push`], [`Spool::sync`]) is the pipeline thread;
//! the consumer ([`Spool::peek`], [`Spool::ack`]) a sink's sender task. Both
//! go through one [`SharedSpool`] (a mutex; every call is short).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Deserialize;

#[cfg(test)]
mod tests;

/// Bytes of a frame's header.
pub const HEADER_BYTES: u64 = 20;

/// Acknowledgements between two writes of the `ack` file.
pub const ACK_SAVE_EVERY: u64 = 16;

/// What a full spool does with a new frame (`spool.when_full`), as
/// Vector's buffers do (`when_full: block | drop_newest`), but dropping the
/// oldest: the newest lines are what on-call looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Refuse it: the caller stops shipping ahead (the files keep the
    /// lines; the sink's shipping cursor waits) until there is room.
    #[default]
    Block,
    /// Delete the oldest frames until it fits, counted and logged.
    DropOldest,
}

/// A sink's `spool:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Most bytes on disk (frames and headers).
    pub max_bytes: u64,
    /// Segment files roll over at this size.
    pub segment_bytes: u64,
    /// What a full spool does.
    pub when_full: WhenFull,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: 256 << 20,
            segment_bytes: 8 << 20,
            when_full: WhenFull::Block,
        }
    }
}

impl SpoolConfig {
    /// Problems with the values, as `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max_bytes < 1 << 20 {
            out.push(("max_bytes", "must be at least 1048576 (1 MiB)".into()));
        }
        if self.segment_bytes < 64 << 10 || self.segment_bytes > self.max_bytes {
            out.push((
                "segment_bytes",
                "must be at least 65536 and at most max_bytes".into(),
            ));
        }
        out
    }
}

/// A spool that cannot be read or written; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    /// Sealed batches the spool has no room for (`when_full: block`).
    #[error("spool full")]
    Full,
    /// A frame bigger than the whole spool.
    #[error("a frame of {bytes} bytes does not fit a spool of {max} bytes")]
    TooBig { bytes: u64, max: u64 },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |error| SpoolError::Io {
        path: path.to_owned(),
        error,
    }
}

/// One frame read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub payload: Vec<u8>,
    pub created_unix_ms: u64,
    pub items: u32,
}

/// What [`Spool::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Stored.
    Stored,
    /// Stored after deleting the oldest frames (`when_full: drop_oldest`).
    DroppedOldest { frames: u64, items: u64 },
    /// Not stored: the spool is full (`when_full: block`).
    Full,
}

/// A frame's place: `(bytes with header, items, created_unix_ms)`.
type FrameMeta = (u64, u32, u64);

#[derive(Debug)]
struct Segment {
    seq: u64,
    /// Bytes written.
    len: u64,
    /// Frames in it, with their `items` and creation time, from the first
    /// unacknowledged one (for the first segment) on.
    frames: VecDeque<FrameMeta>,
}

/// The spool of one sink.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    cfg: SpoolConfig,
    segments: VecDeque<Segment>,
    /// The last segment, open for appending.
    writer: Option<File>,
    /// Reader of the first segment, and its position.
    reader: Option<(u64, File)>,
    read_pos: u64,
    /// Bytes not yet acknowledged (headers included).
    bytes: u64,
    acks_unsaved: u64,
    /// Frames written since the last [`sync`](Self::sync).
    unsynced: bool,
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

/// Reads frame headers of a segment from `from`; returns the frames and
/// the length of the valid part (a torn or corrupt tail ends it).
fn scan(path: &Path, from: u64) -> Result<(VecDeque<FrameMeta>, u64), SpoolError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let len = f.metadata().map_err(io_err(path))?.len();
    let mut pos = from;
    let mut frames = VecDeque::new();
    let mut head = [0u8; HEADER_BYTES as usize];
    let mut payload = Vec::new();
    f.seek(SeekFrom::Start(pos)).map_err(io_err(path))?;
    while pos + HEADER_BYTES <= len {
        f.read_exact(&mut head).map_err(io_err(path))?;
        let n = u64::from(u32::from_le_bytes(
            head[0..4].try_into().unwrap_or_default(),
        ));
        if pos + HEADER_BYTES + n > len {
            break;
        }
        payload.resize(n as usize, 0);
        f.read_exact(&mut payload).map_err(io_err(path))?;
        let crc = u32::from_le_bytes(head[4..8].try_into().unwrap_or_default());
        if crc32fast::hash(&payload) != crc {
            break;
        }
        let created = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        let items = u32::from_le_bytes(head[16..20].try_into().unwrap_or_default());
        frames.push_back((HEADER_BYTES + n, items, created));
        pos += HEADER_BYTES + n;
    }
    Ok((frames, pos))
}

impl Spool {
    /// Opens (creating) the spool in `dir`: finds its segments, skips what
    /// the `ack` file says was acknowledged, cuts a torn last frame.
    ///
    /// # Errors
    /// When the directory or a segment cannot be read.
    pub fn open(dir: &Path, cfg: SpoolConfig) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut seqs: Vec<u64> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| {
                let name = e.ok()?.file_name();
                let name = name.to_str()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        seqs.sort_unstable();
        let ack_path = dir.join("ack");
        let (ack_seq, ack_off) = match fs::read_to_string(&ack_path) {
            Ok(s) => {
                let mut it = s.split_whitespace().map(str::parse::<u64>);
                match (it.next(), it.next()) {
                    (Some(Ok(a)), Some(Ok(b))) => (a, b),
                    _ => (0, 0),
                }
            }
            Err(_) => (0, 0),
        };
        let mut segments = VecDeque::new();
        let mut bytes = 0;
        for seq in seqs {
            let path = seg_path(dir, seq);
            if seq < ack_seq {
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            let (all, valid) = scan(&path, 0)?;
            let len = fs::metadata(&path).map_err(io_err(&path))?.len();
            if valid < len {
                // A torn frame from a crash: its lines were never committed.
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.set_len(valid).map_err(io_err(&path))?;
            }
            let mut frames = all;
            if seq == ack_seq {
                let mut skipped = 0;
                while skipped < ack_off {
                    match frames.pop_front() {
                        Some((n, _, _)) => skipped += n,
                        None => break,
                    }
                }
            }
            bytes += frames.iter().map(|f| f.0).sum::<u64>();
            segments.push_back(Segment {
                seq,
                len: valid,
                frames,
            });
        }
        let mut spool = Spool {
            dir: dir.to_owned(),
            cfg,
            segments,
            writer: None,
            reader: None,
            read_pos: 0,
            bytes,
            acks_unsaved: 0,
            unsynced: false,
        };
        if let Some(first) = spool.segments.front() {
            spool.read_pos = first.len - first.frames.iter().map(|f| f.0).sum::<u64>();
        }
        Ok(spool)
    }

    /// Bytes not yet acknowledged.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Frames not yet acknowledged.
    pub fn frames(&self) -> u64 {
        self.segments.iter().map(|s| s.frames.len() as u64).sum()
    }

    /// The configured cap.
    pub fn max_bytes(&self) -> u64 {
        self.cfg.max_bytes
    }

    /// Creation time of the oldest frame not acknowledged.
    pub fn oldest_unix_ms(&self) -> Option<u64> {
        self.segments
            .iter()
            .find_map(|s| s.frames.front())
            .map(|f| f.2)
    }

    /// Whether `bytes` more would fit without dropping anything.
    pub fn has_room(&self, bytes: u64) -> bool {
        self.bytes + bytes + HEADER_BYTES <= self.cfg.max_bytes
    }

    /// Appends a frame (not yet durable: see [`sync`](Self::sync)).
    ///
    /// # Errors
    /// A write error, or a frame bigger than the spool.
    pub fn push(
        &mut self,
        payload: &[u8],
        items: u32,
        now_unix_ms: u64,
    ) -> Result<Pushed, SpoolError> {
        let need = HEADER_BYTES + payload.len() as u64;
        if need > self.cfg.max_bytes {
            return Err(SpoolError::TooBig {
                bytes: need,
                max: self.cfg.max_bytes,
            });
        }
        let mut dropped = (0, 0);
        while self.bytes + need > self.cfg.max_bytes {
            match self.cfg.when_full {
                WhenFull::Block => return Ok(Pushed::Full),
                WhenFull::DropOldest => {
                    let Some(items) = self.ack_inner()? else {
                        break;
                    };
                    dropped.0 += 1;
                    dropped.1 += u64::from(items);
                }
            }
        }
        let roll = self
            .segments
            .back()
            .is_none_or(|s| s.len + need > self.cfg.segment_bytes && s.len > 0);
        if roll || self.writer.is_none() {
            let seq = if roll {
                self.segments.back().map_or(0, |s| s.seq + 1)
            } else {
                self.segments.back().map_or(0, |s| s.seq)
            };
            if roll {
                if let Some(w) = &mut self.writer {
                    w.sync_data().map_err(io_err(&self.dir))?;
                }
                self.segments.push_back(Segment {
                    seq,
                    len: 0,
                    frames: VecDeque::new(),
                });
            }
            let path = seg_path(&self.dir, seq);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            self.writer = Some(f);
        }
        if dropped.0 > 0 {
            // The dropped frames are gone for good: say so on disk now, or a
            // restart (or a close that ran before this push) would bring
            // them back.
            self.save_ack()?;
        }
        let mut head = [0u8; HEADER_BYTES as usize];
        head[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        head[8..16].copy_from_slice(&now_unix_ms.to_le_bytes());
        head[16..20].copy_from_slice(&items.to_le_bytes());
        let seg = self
            .segments
            .back_mut()
            .expect("a segment was just ensured");
        let path = seg_path(&self.dir, seg.seq);
        let w = self.writer.as_mut().expect("the writer was just opened");
        // One write: a crash tears at most this frame, which open() cuts.
        let mut buf = Vec::with_capacity(need as usize);
        buf.extend_from_slice(&head);
        buf.extend_from_slice(payload);
        w.write_all(&buf).map_err(io_err(&path))?;
        seg.len += need;
        seg.frames.push_back((need, items, now_unix_ms));
        self.bytes += need;
        self.unsynced = true;
        Ok(if dropped.0 > 0 {
            Pushed::DroppedOldest {
                frames: dropped.0,
                items: dropped.1,
            }
        } else {
            Pushed::Stored
        })
    }

    /// Makes every pushed frame durable (before a checkpoint passes their
    /// lines).
    ///
    /// # Errors
    /// When `fdatasync` fails.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced
            && let Some(w) = &mut self.writer
        {
            w.sync_data().map_err(io_err(&self.dir))?;
        }
        self.unsynced = false;
        Ok(())
    }

    /// The oldest frame not acknowledged, read from disk.
    ///
    /// # Errors
    /// A read error.
    pub fn peek(&mut self) -> Result<Option<Frame>, SpoolError> {
        self.trim_front()?;
        let Some(seg) = self.segments.front() else {
            return Ok(None);
        };
        let Some(&(n, items, created)) = seg.frames.front() else {
            return Ok(None);
        };
        let seq = seg.seq;
        let path = seg_path(&self.dir, seq);
        if self.reader.as_ref().is_none_or(|r| r.0 != seq) {
            let f = File::open(&path).map_err(io_err(&path))?;
            self.reader = Some((seq, f));
        }
        let (_, f) = self.reader.as_mut().expect("opened above");
        f.seek(SeekFrom::Start(self.read_pos + HEADER_BYTES))
            .map_err(io_err(&path))?;
        let mut payload = vec![0u8; (n - HEADER_BYTES) as usize];
        f.read_exact(&mut payload).map_err(io_err(&path))?;
        Ok(Some(Frame {
            payload,
            created_unix_ms: created,
            items,
        }))
    }

    /// Acknowledges the oldest frame (the one [`peek`](Self::peek) gave).
    ///
    /// # Errors
    /// When a finished segment cannot be deleted or the `ack` file written.
    pub fn ack(&mut self) -> Result<(), SpoolError> {
        self.ack_inner()?;
        self.acks_unsaved += 1;
        if self.acks_unsaved >= ACK_SAVE_EVERY {
            self.save_ack()?;
        }
        Ok(())
    }

    /// Removes the oldest frame; its items, or `None` when empty.
    fn ack_inner(&mut self) -> Result<Option<u32>, SpoolError> {
        self.trim_front()?;
        let Some(seg) = self.segments.front_mut() else {
            return Ok(None);
        };
        let Some((n, items, _)) = seg.frames.pop_front() else {
            return Ok(None);
        };
        self.bytes -= n;
        self.read_pos += n;
        let finished = seg.frames.is_empty() && self.segments.len() > 1;
        if finished {
            let seg = self.segments.pop_front().expect("checked non-empty");
            let path = seg_path(&self.dir, seg.seq);
            self.reader = None;
            self.read_pos = 0;
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Ok(Some(items))
    }

    /// Deletes fully acknowledged segments before the one being written.
    fn trim_front(&mut self) -> Result<(), SpoolError> {
        while self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.frames.is_empty())
        {
            let seg = self.segments.pop_front().expect("checked non-empty");
            let path = seg_path(&self.dir, seg.seq);
            self.reader = None;
            self.read_pos = 0;
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// Writes where the first unacknowledged frame is.
    fn save_ack(&mut self) -> Result<(), SpoolError> {
        self.acks_unsaved = 0;
        let (seq, off) = self
            .segments
            .front()
            .map_or((0, 0), |s| (s.seq, self.read_pos));
        let path = self.dir.join("ack");
        let tmp = self.dir.join("ack.tmp");
        fs::write(&tmp, format!("{seq} {off}\n")).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        Ok(())
    }

    /// Saves the acknowledged position and makes pushed frames durable
    /// (a graceful stop re-sends nothing).
    ///
    /// # Errors
    /// As [`sync`](Self::sync) and the `ack` write.
    pub fn close(&mut self) -> Result<(), SpoolError> {
        self.sync()?;
        self.save_ack()
    }
}

/// A spool shared by its producer and its sender.
#[derive(Debug, Clone)]
pub struct SharedSpool(Arc<Mutex<Spool>>);

impl SharedSpool {
    pub fn new(spool: Spool) -> SharedSpool {
        SharedSpool(Arc::new(Mutex::new(spool)))
    }

    /// The spool, locked (a poisoned lock is taken over: the spool's own
    /// state is consistent between calls).
    pub fn lock(&self) -> MutexGuard<'_, Spool> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
