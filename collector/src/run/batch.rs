//! The reader side of `run`: turns the tailer's events into messages for
//! the pipeline thread. Complete lines are copied into pooled batches (up
//! to `tail.batch_bytes`), sent over a bounded channel: when parsing falls
//! behind, the channel fills and reading waits (backpressure).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use sitepulse_pipeline::FormatChoice;
use sitepulse_pipeline::join::JoinRule;
use sitepulse_tail::identity::FINGERPRINT_BYTES;
use sitepulse_tail::{FileId, FollowEvent, SourceIndex, StreamId, TailSink};

/// Bytes read from the start of a file opened past its start, to detect
/// its framing and format.
pub(crate) const SNIFF_BYTES: usize = 64 * 1024;

/// One line's place in a [`Batch`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineMeta {
    /// End of the line's bytes in `Batch::data` (its `\n` follows).
    pub(crate) end: u32,
    pub(crate) start_offset: u64,
    pub(crate) end_offset: u64,
    pub(crate) truncated: bool,
    pub(crate) unterminated: bool,
}

/// Complete lines of one stream, copied out of the reader's buffer.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) stream: StreamId,
    pub(crate) id: Option<FileId>,
    pub(crate) data: Vec<u8>,
    pub(crate) lines: Vec<LineMeta>,
}

impl Batch {
    fn clear(&mut self) {
        self.data.clear();
        self.lines.clear();
    }
}

/// What the reader hands to the pipeline thread, in file order per stream.
#[derive(Debug)]
pub(crate) enum Msg {
    Opened {
        stream: StreamId,
        id: FileId,
        key: (u64, u64),
        path: PathBuf,
        offset: u64,
        format: FormatChoice,
        /// The source's own multi-line rule, if it sets one.
        join: Option<Arc<JoinRule>>,
        /// The file's first bytes when it was opened past its start.
        prefix: Vec<u8>,
        /// Hash of the first line, when already known.
        head: Option<u64>,
    },
    Lines(Batch),
    Closed {
        stream: StreamId,
        id: FileId,
    },
    /// The stream's file was parked (idle, read to its end).
    Parked {
        stream: StreamId,
    },
    /// A reader of the published state wants a fresh snapshot.
    Publish,
    /// The reader stopped: everything before this has been sent.
    Done,
}

/// The FNV-1a hash of a file's first line (at most [`FINGERPRINT_BYTES`],
/// without its `\n` or a trailing `\r`): the stable part of a dedup key.
/// Unlike the fingerprint, it does not change as a short file grows, and
/// the first line is complete before any line of the file is delivered.
pub(crate) fn head_hash(line: &[u8]) -> u64 {
    use std::hash::Hasher;
    let line = &line[..line.len().min(FINGERPRINT_BYTES)];
    let mut h = fnv::FnvHasher::default();
    h.write(line);
    h.finish()
}

fn read_prefix(file: &File, max: usize) -> Vec<u8> {
    let mut buf = vec![0u8; max];
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

fn first_line(prefix: &[u8]) -> Option<&[u8]> {
    let nl = memchr::memchr(b'\n', prefix)?;
    let line = &prefix[..nl];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// The reader side: turns follower events into messages.
pub(crate) struct Batcher {
    pub(crate) tx: SyncSender<Msg>,
    pub(crate) free: Receiver<Batch>,
    pub(crate) cur: Batch,
    pub(crate) batch_bytes: usize,
    /// Each `tail.sources` entry's format and multi-line rule, by index.
    pub(crate) formats: Vec<(FormatChoice, Option<Arc<JoinRule>>)>,
    /// The receiver is gone: stop reading.
    pub(crate) closed: bool,
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.flush_batch();
        // Also when the reader thread unwinds: the pipeline thread then
        // finishes what it has and saves the checkpoint.
        self.send(Msg::Done);
    }
}

impl Batcher {
    fn send(&mut self, msg: Msg) {
        if !self.closed && self.tx.send(msg).is_err() {
            self.closed = true;
        }
    }

    pub(crate) fn flush_batch(&mut self) {
        if self.cur.lines.is_empty() {
            return;
        }
        let next = match self.free.try_recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Batch {
                data: Vec::with_capacity(self.batch_bytes + 4096),
                ..Batch::default()
            },
        };
        let full = std::mem::replace(&mut self.cur, next);
        self.send(Msg::Lines(full));
    }
}

impl TailSink for Batcher {
    fn event(&mut self, ev: FollowEvent<'_>, source: SourceIndex) {
        let (format, join) = source
            .and_then(|i| self.formats.get(i).cloned())
            .unwrap_or_default();
        match ev {
            FollowEvent::Opened {
                stream,
                id,
                key,
                path,
                file,
                offset,
            } => {
                self.flush_batch();
                let (prefix, head) = if offset > 0 {
                    let prefix = read_prefix(file, SNIFF_BYTES);
                    let head = first_line(&prefix).map(head_hash);
                    (prefix, head)
                } else {
                    (Vec::new(), None)
                };
                self.send(Msg::Opened {
                    stream,
                    id,
                    key,
                    path: path.to_owned(),
                    offset,
                    format,
                    join,
                    prefix,
                    head,
                });
            }
            FollowEvent::Line { stream, id, line } => {
                if self.cur.stream != stream && !self.cur.lines.is_empty() {
                    self.flush_batch();
                }
                self.cur.stream = stream;
                self.cur.id = Some(id);
                self.cur.data.extend_from_slice(line.bytes);
                self.cur.lines.push(LineMeta {
                    end: self.cur.data.len() as u32,
                    start_offset: line.start_offset,
                    end_offset: line.end_offset,
                    truncated: line.truncated,
                    unterminated: line.unterminated,
                });
                self.cur.data.push(b'\n');
                if self.cur.data.len() >= self.batch_bytes {
                    self.flush_batch();
                }
            }
            FollowEvent::Closed { stream, id, .. } => {
                self.flush_batch();
                self.send(Msg::Closed { stream, id });
            }
            FollowEvent::Parked { stream } => {
                self.flush_batch();
                self.send(Msg::Parked { stream });
            }
        }
    }

    fn flush(&mut self) {
        self.flush_batch();
    }
}
