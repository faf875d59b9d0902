//! Splits a byte stream into physical lines: one reused read buffer, lines
//! found with `memchr`, handed out as borrowed slices with their file
//! offsets. Over-long lines are cut at `max_line_bytes` and the rest of the
//! physical line is skipped, so memory stays bounded on any input.

use std::io::{self, Read};

mod multiline;
pub use multiline::{MultilineConfig, MultilineMode};

/// Default size of the read buffer (and of each read).
pub const DEFAULT_BUFFER_BYTES: usize = 1 << 20;

/// Default cap on one line (and on one reassembled or joined message).
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 << 10;

/// Read buffers kept per thread by [`LineReader::pool_buffer`], at most.
const POOL_BUFFERS: usize = 16;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One physical line, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLine<'b> {
    /// The line without its `\n` and without one trailing `\r` (CRLF files);
    /// at most `max_line_bytes` long.
    pub bytes: &'b [u8],
    /// File offset of the line's first byte.
    pub start_offset: u64,
    /// File offset just after the line's `\n` (after its last byte when
    /// [`unterminated`](Self::unterminated)). Lines are contiguous: this is
    /// the next line's `start_offset`, and a checkpoint at this offset
    /// resumes after this line.
    pub end_offset: u64,
    /// The line was longer than `max_line_bytes`; `bytes` holds its first
    /// `max_line_bytes` bytes and the rest was skipped.
    pub truncated: bool,
    /// The input ended without a `\n` after this line (only from
    /// [`LineReader::finish`]); a tailer may prefer to wait for more.
    pub unterminated: bool,
}

/// Counters of a [`LineReader`], cumulative since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Lines delivered.
    pub lines: u64,
    /// Bytes read from the input.
    pub bytes: u64,
    /// Lines cut at `max_line_bytes`.
    pub truncated: u64,
    /// Bytes skipped from over-long lines (not counting their `\n`).
    pub discarded_bytes: u64,
    /// Lines that still contain a `\r` after the CRLF strip (bare carriage
    /// returns: progress bars, old Mac line ends).
    pub bare_cr: u64,
}

/// Reads lines from `R` into one reused buffer and hands them out borrowed.
///
/// The buffer starts at `buffer_bytes` and grows only when a single partial
/// line fills it, up to `max_line_bytes + buffer_bytes + 1`; steady state
/// allocates nothing.
///
/// ```
/// use sitepulse_lines::LineReader;
/// let mut rdr = LineReader::new(&b"a\r\nb\nc"[..]);
/// let mut got = Vec::new();
/// rdr.for_each_line(|l| got.push((l.bytes.to_vec(), l.end_offset))).unwrap();
/// assert_eq!(got, [(b"a".to_vec(), 3), (b"b".to_vec(), 5), (b"c".to_vec(), 6)]);
/// ```
#[derive(Debug)]
pub struct LineReader<R> {
    rdr: R,
    buf: Vec<u8>,
    /// First byte of the pending (not yet delivered) line.
    start: usize,
    /// End of valid data.
    end: usize,
    /// File offset of `buf[end]` when not discarding; bytes read so far.
    read_total: u64,
    /// File offset of `buf[start]`.
    start_offset: u64,
    buffer_bytes: usize,
    max_line: usize,
    /// `buf[start..end]` is the kept head of an over-long line whose rest is
    /// being skipped up to its `\n`.
    discarding: bool,
    stats: LineStats,
}

impl<R: Read> LineReader<R> {
    /// A reader with the default buffer size and line cap.
    pub fn new(rdr: R) -> Self {
        Self::with_limits(rdr, DEFAULT_BUFFER_BYTES, DEFAULT_MAX_LINE_BYTES)
    }

    /// A reader with an initial buffer of `buffer_bytes` (at least 1) and a
    /// line cap of `max_line_bytes` (at least 1).
    pub fn with_limits(rdr: R, buffer_bytes: usize, max_line_bytes: usize) -> Self {
        let buffer_bytes = buffer_bytes.max(1);
        LineReader {
            rdr,
            // Allocated at the first read (a tailer may hold thousands of
            // readers of idle files).
            buf: Vec::new(),
            start: 0,
            end: 0,
            read_total: 0,
            start_offset: 0,
            buffer_bytes,
            max_line: max_line_bytes.max(1),
            discarding: false,
            stats: LineStats::default(),
        }
    }

    /// Sets the file offset of the next byte read (when `R` was positioned at
    /// a checkpoint). Call before the first read.
    pub fn set_offset(&mut self, offset: u64) {
        self.read_total = offset;
        self.start_offset = offset;
    }

    /// Counters so far.
    pub fn stats(&self) -> LineStats {
        self.stats
    }

    /// The file offset up to which every line has been delivered: a safe
    /// checkpoint for this reader.
    pub fn offset(&self) -> u64 {
        self.start_offset
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.rdr
    }

    /// The wrapped reader, mutably: a tailer swaps in a rotated copy of
    /// the file positioned at [`read_offset`](Self::read_offset) to read
    /// the lines the original lost.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.rdr
    }

    /// Hands the read buffer to this thread's pool when no partial line is
    /// pending (the reader reached the end of what was written): a tailer
    /// with thousands of files then holds buffers only for the few it is
    /// reading, not for every open file. The next read takes one from the
    /// pool (no allocation, no zeroing) or allocates it.
    pub fn pool_buffer(&mut self) {
        if self.start != self.end || self.discarding || self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        (self.start, self.end) = (0, 0);
        POOL.with_borrow_mut(|pool| {
            if pool.len() < POOL_BUFFERS {
                pool.push(buf);
            }
        });
    }

    /// Frees the read buffer, keeping only a pending partial line: for a
    /// reader that has gone idle. The next read allocates it again.
    pub fn release_buffer(&mut self) {
        if self.start == self.end && !self.discarding {
            self.pool_buffer();
            return;
        }
        self.compact_only();
        self.buf.truncate(self.end);
        self.buf.shrink_to_fit();
    }

    /// The file offset of the next byte to read (past [`offset`](Self::offset)
    /// by the bytes of a pending partial line).
    pub fn read_offset(&self) -> u64 {
        self.read_total
    }

    /// Reads once (one buffer fill) and calls `f` with every line completed
    /// by it. Returns `Ok(false)` at end of input, leaving a final line
    /// without `\n` pending: call [`finish`](Self::finish) to deliver it, or
    /// call `next_batch` again later if the input may grow (a tailed file).
    ///
    /// # Errors
    /// Errors of `R::read`, except `Interrupted`, which is retried. Lines
    /// already delivered stay delivered; the call can be repeated.
    ///
    /// # Performance
    /// One `read` and one `memchr` pass over the new bytes; no allocation
    /// unless a single line outgrows the buffer.
    pub fn next_batch(&mut self, mut f: impl FnMut(RawLine<'_>)) -> io::Result<bool> {
        self.compact();
        let n = loop {
            match self.rdr.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(false);
        }
        let fill = self.end;
        self.end += n;
        self.read_total += n as u64;
        self.stats.bytes += n as u64;
        let buf = &self.buf[..self.end];
        let end = self.end;
        // File offset of buf[i], for i in fill..end.
        let off = |i: usize| self.read_total - (end - i) as u64;

        let mut start = self.start;
        if self.discarding {
            match memchr::memchr(b'\n', &buf[fill..end]) {
                None => {
                    self.stats.discarded_bytes += n as u64;
                    self.end = fill;
                    return Ok(true);
                }
                Some(i) => {
                    let nl = fill + i;
                    self.stats.discarded_bytes += i as u64;
                    let end_offset = off(nl) + 1;
                    self.stats.lines += 1;
                    self.stats.truncated += 1;
                    self.stats.bare_cr +=
                        u64::from(memchr::memchr(b'\r', &buf[start..fill]).is_some());
                    f(RawLine {
                        bytes: &buf[start..fill],
                        start_offset: self.start_offset,
                        end_offset,
                        truncated: true,
                        unterminated: false,
                    });
                    self.start_offset = end_offset;
                    self.discarding = false;
                    start = nl + 1;
                }
            }
        }
        // The pending bytes before `fill` hold no `\n`: scan only new ones.
        let scan_from = fill.max(start);
        for nl in memchr::memchr_iter(b'\n', &buf[scan_from..end]) {
            let nl = scan_from + nl;
            let end_offset = off(nl) + 1;
            let line = cut(&buf[start..nl], self.max_line, &mut self.stats);
            f(RawLine {
                bytes: line.0,
                start_offset: self.start_offset,
                end_offset,
                truncated: line.1,
                unterminated: false,
            });
            self.start_offset = end_offset;
            start = nl + 1;
        }
        self.start = start;
        // A partial line one byte over the cap (room for a `\r`) is surely
        // too long: keep its head, skip the rest up to its `\n`.
        let pending = self.end - start;
        if pending > self.max_line + 1 {
            self.stats.discarded_bytes += (pending - self.max_line) as u64;
            self.end = start + self.max_line;
            self.discarding = true;
        }
        Ok(true)
    }

    /// Delivers the pending final line that has no `\n` (flagged
    /// [`unterminated`](RawLine::unterminated)), if there is one. Call after
    /// [`next_batch`](Self::next_batch) returned `Ok(false)`.
    pub fn finish(&mut self, mut f: impl FnMut(RawLine<'_>)) {
        if self.start == self.end && !self.discarding {
            return;
        }
        let (bytes, truncated) = if self.discarding {
            let head = &self.buf[self.start..self.end];
            self.stats.lines += 1;
            self.stats.truncated += 1;
            self.stats.bare_cr += u64::from(memchr::memchr(b'\r', head).is_some());
            (head, true)
        } else {
            cut(
                &self.buf[self.start..self.end],
                self.max_line,
                &mut self.stats,
            )
        };
        f(RawLine {
            bytes,
            start_offset: self.start_offset,
            end_offset: self.read_total,
            truncated,
            unterminated: true,
        });
        self.start_offset = self.read_total;
        self.start = 0;
        self.end = 0;
        self.discarding = false;
    }

    /// Reads to end of input, delivering every line including a final one
    /// without `\n`.
    ///
    /// # Errors
    /// As [`next_batch`](Self::next_batch).
    pub fn for_each_line(&mut self, mut f: impl FnMut(RawLine<'_>)) -> io::Result<()> {
        while self.next_batch(&mut f)? {}
        self.finish(f);
        Ok(())
    }

    /// Moves the pending partial line to the front and makes room to read.
    fn compact_only(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    fn compact(&mut self) {
        if self.buf.is_empty() {
            let want = self.buffer_bytes;
            if let Some(b) = POOL.with_borrow_mut(|pool| {
                let i = pool.iter().position(|b| b.len() >= want)?;
                Some(pool.swap_remove(i))
            }) {
                self.buf = b;
            }
        }
        self.compact_only();
        // Grow only while one partial line crowds the buffer; it is at most
        // max_line + 1 bytes, so at `cap` a full `buffer_bytes` read fits.
        let cap = self.max_line + 1 + self.buffer_bytes;
        let len = self.buf.len();
        if len - self.end < (self.buffer_bytes / 2).max(1) && len < cap {
            let new_len = (len * 2).max(self.end + self.buffer_bytes).min(cap);
            self.buf.resize(new_len, 0);
        }
    }
}

/// Strips one trailing `\r`, applies the cap and counts the line.
#[inline]
fn cut<'b>(raw: &'b [u8], max: usize, stats: &mut LineStats) -> (&'b [u8], bool) {
    let line = raw.strip_suffix(b"\r").unwrap_or(raw);
    stats.lines += 1;
    stats.bare_cr += u64::from(memchr::memchr(b'\r', line).is_some());
    if line.len() > max {
        stats.truncated += 1;
        stats.discarded_bytes += (raw.len() - max) as u64;
        (&line[..max], true)
    } else {
        (line, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader that returns at most `sizes[i % len]` bytes per call.
    struct Trickle<'a> {
        data: &'a [u8],
        sizes: Vec<usize>,
        i: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let want = self.sizes[self.i % self.sizes.len()].max(1);
            self.i += 1;
            let n = want.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    type Got = Vec<(Vec<u8>, u64, u64, bool, bool)>;

    fn collect<R: Read>(mut rdr: LineReader<R>) -> (Got, LineStats) {
        let mut got = Vec::new();
        rdr.for_each_line(|l| {
            got.push((
                l.bytes.to_vec(),
                l.start_offset,
                l.end_offset,
                l.truncated,
                l.unterminated,
            ))
        })
        .unwrap();
        (got, rdr.stats())
    }

    /// The oracle: split on `\n`, strip one `\r`, cap.
    fn naive(data: &[u8], max: usize) -> Got {
        let mut out = Vec::new();
        let mut pos = 0u64;
        let mut parts: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        let last = parts.pop().unwrap_or(b"");
        for p in parts {
            let s = p.strip_suffix(b"\r").unwrap_or(p);
            let end = pos + p.len() as u64 + 1;
            out.push((
                s[..s.len().min(max)].to_vec(),
                pos,
                end,
                s.len() > max,
                false,
            ));
            pos = end;
        }
        if !last.is_empty() {
            let s = last.strip_suffix(b"\r").unwrap_or(last);
            let end = pos + last.len() as u64;
            out.push((
                s[..s.len().min(max)].to_vec(),
                pos,
                end,
                s.len() > max,
                true,
            ));
        }
        out
    }

    #[test]
    fn crlf_and_offsets() {
        let data = b"one\r\ntwo\n\r\nthree\rx\nlast\r";
        let (got, stats) = collect(LineReader::new(&data[..]));
        assert_eq!(got, naive(data, DEFAULT_MAX_LINE_BYTES));
        assert_eq!(got[0].0, b"one");
        assert_eq!(got[2].0, b"");
        assert_eq!(got[3].0, b"three\rx");
        assert_eq!(got[4], (b"last".to_vec(), 19, 24, false, true));
        assert_eq!(stats.bare_cr, 1);
        assert_eq!(stats.lines, 5);
        assert_eq!(stats.bytes, data.len() as u64);
    }

    #[test]
    fn across_tiny_buffers_and_reads() {
        let data = b"alpha\nbe\r\n\ngamma delta epsilon\nz";
        for buf in 1..12 {
            let t = Trickle {
                data,
                sizes: vec![1, 7, 3, 2, 5, 4, 6],
                i: 0,
            };
            let (got, _) = collect(LineReader::with_limits(t, buf, 64));
            assert_eq!(got, naive(data, 64), "buffer {buf}");
        }
    }

    #[test]
    fn cap_exact_and_over() {
        let data = b"abcd\nabcde\nabcd\r\nabcdefghij\r\nab\nabcde";
        for buf in [1, 2, 3, 5, 64] {
            let t = Trickle {
                data,
                sizes: vec![1, 2, 7],
                i: 0,
            };
            let (got, stats) = collect(LineReader::with_limits(t, buf, 4));
            assert_eq!(got, naive(data, 4), "buffer {buf}");
            let flags: Vec<bool> = got.iter().map(|g| g.3).collect();
            assert_eq!(flags, [false, true, false, true, false, true]);
            assert_eq!(stats.truncated, 3);
            // "e", "efghij\r", "e".
            assert_eq!(stats.discarded_bytes, 1 + 7 + 1, "buffer {buf}");
        }
    }

    #[test]
    fn buffer_stays_bounded() {
        let mut data = vec![b'x'; 10_000];
        data.push(b'\n');
        data.extend_from_slice(b"ok\n");
        let mut rdr = LineReader::with_limits(&data[..], 16, 100);
        let mut got = Vec::new();
        rdr.for_each_line(|l| got.push((l.bytes.len(), l.truncated, l.end_offset)))
            .unwrap();
        assert_eq!(got, [(100, true, 10_001), (2, false, 10_004)]);
        assert!(rdr.buf.len() <= 100 + 1 + 16);
    }

    #[test]
    fn tail_resumes_after_eof() {
        // A tailer calls next_batch again after Ok(false): the partial
        // line is completed by later bytes, not delivered twice.
        struct Growing(Vec<&'static [u8]>);
        impl Read for Growing {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                match self.0.first_mut() {
                    Some(d) if !d.is_empty() => {
                        let n = d.len().min(out.len());
                        out[..n].copy_from_slice(&d[..n]);
                        *d = &d[n..];
                        Ok(n)
                    }
                    Some(_) => {
                        self.0.remove(0);
                        Ok(0)
                    }
                    None => Ok(0),
                }
            }
        }
        let mut rdr = LineReader::new(Growing(vec![b"a\nhal", b"f\n"]));
        let mut got = Vec::new();
        while rdr.next_batch(|l| got.push(l.bytes.to_vec())).unwrap() {}
        assert_eq!(got, [b"a".to_vec()]);
        assert_eq!(rdr.offset(), 2);
        while rdr.next_batch(|l| got.push(l.bytes.to_vec())).unwrap() {}
        rdr.finish(|l| got.push(l.bytes.to_vec()));
        assert_eq!(got, [b"a".to_vec(), b"half".to_vec()]);
        assert_eq!(rdr.offset(), 7);
    }

    #[test]
    fn set_offset_shifts_offsets() {
        let mut rdr = LineReader::new(&b"x\n"[..]);
        rdr.set_offset(100);
        let mut got = Vec::new();
        rdr.for_each_line(|l| got.push((l.start_offset, l.end_offset)))
            .unwrap();
        assert_eq!(got, [(100, 102)]);
    }

    proptest! {
        #[test]
        fn same_lines_as_split(
            data in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..400),
            sizes in proptest::collection::vec(1usize..9, 1..8),
            buf in 1usize..40,
            max in 1usize..30,
        ) {
            let t = Trickle { data: &data, sizes, i: 0 };
            let (got, stats) = collect(LineReader::with_limits(t, buf, max));
            prop_assert_eq!(&got, &naive(&data, max));
            prop_assert_eq!(stats.bytes, data.len() as u64);
            prop_assert_eq!(stats.lines, got.len() as u64);
        }
    }
}
