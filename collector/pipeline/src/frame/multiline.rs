//! Joins the physical lines of a multi-line record (a PHP-FPM slow-log
//! block, a WordPress stack trace) into one message, `\n`-separated, in a
//! reused buffer capped at `max_line_bytes`.

use super::{Message, Stream};

/// Counters of a [`Joiner`], cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinStats {
    /// Records emitted (including lone continuation lines).
    pub records: u64,
    /// Records made of more than one line.
    pub joined: u64,
    /// Continuation lines that arrived with no record open, emitted alone.
    pub orphans: u64,
    /// Records cut at `max_line_bytes`.
    pub truncated: u64,
    /// Bytes dropped by the cap.
    pub discarded_bytes: u64,
}

/// Collects one open record at a time: a line that starts a record closes
/// the open one (emitting it) and opens the next; other lines are appended.
/// The caller decides what starts a record (for a log file,
/// the format's `RecordStart`, from `parse::record_start`), so the joiner
/// knows no format.
///
/// Once a record reaches `max_line_bytes` it is cut there, flagged
/// `truncated`, and kept open: further continuation lines are dropped
/// (counted) but still advance its `end_offset`, until the next start line
/// or [`flush`](Self::flush).
///
/// ```
/// use sitepulse_pipeline::frame::{Joiner, Message};
/// let mut j = Joiner::new(1024);
/// let mut out = Vec::new();
/// for line in [&b"Error: x"[..], b"  #0 a()", b"Error: y"] {
///     let msg = Message { bytes: line, ..Message::default() };
///     j.push(msg, line.starts_with(b"Error"), |m| out.push(m.bytes.to_vec()));
/// }
/// j.flush(|m| out.push(m.bytes.to_vec()));
/// assert_eq!(out, [b"Error: x\n  #0 a()".to_vec(), b"Error: y".to_vec()]);
/// ```
#[derive(Debug)]
pub struct Joiner {
    buf: Vec<u8>,
    open: bool,
    lines: u32,
    stream: Stream,
    ts_ns: Option<i64>,
    truncated: bool,
    start_offset: u64,
    end_offset: u64,
    max: usize,
    max_lines: u32,
    /// The open record holds only blank lines so far (a blank line that
    /// came with no record open): the next start line joins them instead
    /// of closing them, since they precede it (the PHP-FPM slow log writes
    /// a blank line before each block).
    blank_only: bool,
    stats: JoinStats,
}

impl Joiner {
    /// A joiner whose records are capped at `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        Joiner {
            buf: Vec::new(),
            open: false,
            lines: 0,
            stream: Stream::Unknown,
            ts_ns: None,
            truncated: false,
            start_offset: 0,
            end_offset: 0,
            max: max_line_bytes,
            max_lines: u32::MAX,
            blank_only: false,
            stats: JoinStats::default(),
        }
    }

    /// At most `max_lines` lines to a record: the next continuation starts
    /// a new one (a runaway trace does not hold the checkpoint forever).
    pub fn with_max_lines(mut self, max_lines: u32) -> Self {
        self.max_lines = max_lines.max(1);
        self
    }

    /// Feeds one line. `starts_record` says whether it begins a new record;
    /// `f` receives the record this line completes, if any, or the line
    /// itself when it is a continuation with no record open.
    ///
    /// # Performance
    /// Copies the line into the record buffer (reused; no allocation once it
    /// has grown to the largest record seen).
    pub fn push(&mut self, msg: Message<'_>, starts_record: bool, mut f: impl FnMut(Message<'_>)) {
        let starts_record = starts_record || (self.open && self.lines >= self.max_lines);
        if starts_record && self.open && self.blank_only {
            // The blank lines before this start belong to its record: the
            // offsets cover them, the message starts at the start line.
            self.blank_only = false;
            self.lines += 1;
            self.truncated |= msg.truncated;
            self.end_offset = msg.end_offset;
            self.buf.clear();
            self.append(msg.bytes);
            return;
        }
        if starts_record {
            self.flush(&mut f);
            self.open_with(msg, false);
        } else if self.open {
            self.blank_only &= msg.bytes.trim_ascii().is_empty();
            self.lines += 1;
            self.truncated |= msg.truncated;
            self.end_offset = msg.end_offset;
            if self.buf.len() >= self.max {
                self.drop_bytes(msg.bytes.len() + 1);
            } else {
                self.append(b"\n");
                self.append(msg.bytes);
            }
        } else if msg.bytes.trim_ascii().is_empty() {
            // A blank line with nothing open: held for the record it
            // precedes (or handed on alone at a flush).
            self.open_with(msg, true);
        } else {
            self.stats.records += 1;
            self.stats.orphans += 1;
            self.stats.truncated += u64::from(msg.truncated);
            f(msg);
        }
    }

    /// Opens a record with `msg` as its first line (`blank_only`: a held
    /// blank line).
    fn open_with(&mut self, msg: Message<'_>, blank_only: bool) {
        self.open = true;
        self.blank_only = blank_only;
        self.lines = 1;
        self.stream = msg.stream;
        self.ts_ns = msg.ts_ns;
        self.truncated = msg.truncated;
        self.start_offset = msg.start_offset;
        self.end_offset = msg.end_offset;
        self.append(msg.bytes);
    }

    /// Emits the open record, if any (at end of input, or when the caller's
    /// idle timeout decides no continuation is coming).
    pub fn flush(&mut self, mut f: impl FnMut(Message<'_>)) {
        if !self.open {
            return;
        }
        self.stats.records += 1;
        self.stats.joined += u64::from(self.lines > 1);
        self.stats.truncated += u64::from(self.truncated);
        f(Message {
            bytes: &self.buf,
            stream: self.stream,
            ts_ns: self.ts_ns,
            truncated: self.truncated,
            start_offset: self.start_offset,
            end_offset: self.end_offset,
        });
        self.buf.clear();
        self.open = false;
        self.blank_only = false;
    }

    /// File offset of the first line of the open record: a checkpoint must
    /// not pass it, or a restart would lose the record's head.
    pub fn pending_offset(&self) -> Option<u64> {
        self.open.then_some(self.start_offset)
    }

    /// Counters so far.
    pub fn stats(&self) -> JoinStats {
        self.stats
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.buf.len());
        let take = room.min(bytes.len());
        self.buf.extend_from_slice(&bytes[..take]);
        if take < bytes.len() {
            self.drop_bytes(bytes.len() - take);
        }
    }

    fn drop_bytes(&mut self, n: usize) {
        self.truncated = true;
        self.stats.discarded_bytes += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str], max: usize) -> (Vec<(String, bool, u64, u64)>, JoinStats) {
        let mut j = Joiner::new(max);
        let mut out = Vec::new();
        let mut emit = |m: Message<'_>| {
            out.push((
                String::from_utf8(m.bytes.to_vec()).unwrap(),
                m.truncated,
                m.start_offset,
                m.end_offset,
            ))
        };
        for (i, l) in lines.iter().enumerate() {
            let msg = Message {
                bytes: l.as_bytes(),
                start_offset: i as u64 * 10,
                end_offset: i as u64 * 10 + 10,
                ..Message::default()
            };
            // A fake format: records start with `[`.
            j.push(msg, l.starts_with('['), &mut emit);
        }
        j.flush(&mut emit);
        (out, j.stats())
    }

    #[test]
    fn joins_and_flushes_at_eof() {
        let (out, stats) = run(
            &[
                "[a] Fatal",
                "Stack trace:",
                "#0 x",
                "[b] ok",
                "[c] last",
                "  more",
            ],
            1000,
        );
        assert_eq!(
            out,
            [
                ("[a] Fatal\nStack trace:\n#0 x".into(), false, 0, 30),
                ("[b] ok".into(), false, 30, 40),
                ("[c] last\n  more".into(), false, 40, 60),
            ]
        );
        assert_eq!(stats.joined, 2);
        assert_eq!(stats.records, 3);
    }

    #[test]
    fn orphan_continuations_pass_alone() {
        let (out, stats) = run(&["  stray", "", "[a] x", ""], 1000);
        let texts: Vec<&str> = out.iter().map(|o| o.0.as_str()).collect();
        // The blank line before `[a]` is held and joins its record (the
        // offsets cover it; the message starts at the start line).
        assert_eq!(texts, ["  stray", "[a] x\n"]);
        assert_eq!(stats.orphans, 1);
    }

    #[test]
    fn capped_record_stays_open() {
        let (out, stats) = run(&["[a] 1234", "5678", "9999", "[b]"], 10);
        assert_eq!(
            out,
            [
                ("[a] 1234\n5".into(), true, 0, 30),
                ("[b]".into(), false, 30, 40)
            ]
        );
        assert_eq!(stats.discarded_bytes, 3 + 5);
        assert_eq!(stats.truncated, 1);
    }

    #[test]
    fn pending_offset_tracks_open_record() {
        let mut j = Joiner::new(100);
        assert_eq!(j.pending_offset(), None);
        let msg = Message {
            bytes: b"[a]",
            start_offset: 7,
            end_offset: 11,
            ..Message::default()
        };
        j.push(msg, true, |_| {});
        assert_eq!(j.pending_offset(), Some(7));
        j.flush(|_| {});
        assert_eq!(j.pending_offset(), None);
    }
}
