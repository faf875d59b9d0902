//! Writes records to the output, wrapped the way a container runtime stores
//! them: plain, CRI (`<time> <stream> <P|F> <content>`) or Docker json-file
//! (`{"log":...,"stream":...,"time":...}`), splitting long lines into
//! partial chunks as both runtimes do.

use std::io::{self, Write};

use crate::Framing;
use crate::text::{Frac, push_json_escaped, push_rfc3339};

/// The framing writer: counts what it writes.
pub(crate) struct Sink<'w, W: Write> {
    out: &'w mut W,
    framing: Framing,
    max: usize,
    stream: &'static [u8],
    multiline: bool,
    frame: Vec<u8>,
    ts: Vec<u8>,
    last_ns: i64,
    pub lines: u64,
    pub bytes: u64,
    pub split_lines: u64,
    pub partial_chunks: u64,
}

impl<'w, W: Write> Sink<'w, W> {
    /// A sink writing `stream` (`stdout`/`stderr`) with chunks of at most
    /// `max` content bytes (at least 1); `multiline` records may hold
    /// several lines (otherwise each is exactly one).
    pub fn new(
        out: &'w mut W,
        framing: Framing,
        max: usize,
        stream: &'static [u8],
        multiline: bool,
    ) -> Self {
        Sink {
            out,
            framing,
            max: max.max(1),
            stream,
            multiline,
            frame: Vec::with_capacity(if framing == Framing::None { 0 } else { 1024 }),
            ts: Vec::with_capacity(40),
            last_ns: i64::MIN,
            lines: 0,
            bytes: 0,
            split_lines: 0,
            partial_chunks: 0,
        }
    }

    /// Writes one record: one or more physical lines, each ending in `\n`.
    /// `write_ns` is when the runtime read it; framing times never go
    /// backwards.
    pub fn emit(&mut self, rec: &[u8], write_ns: i64) -> io::Result<()> {
        if self.framing == Framing::None {
            self.lines += if self.multiline {
                rec.iter().filter(|&&b| b == b'\n').count() as u64
            } else {
                1
            };
            self.bytes += rec.len() as u64;
            return self.out.write_all(rec);
        }
        let ns = write_ns.max(self.last_ns);
        self.last_ns = ns;
        self.ts.clear();
        let frac = if self.framing == Framing::Cri {
            Frac::Fixed9
        } else {
            Frac::GoNano
        };
        push_rfc3339(&mut self.ts, ns, frac);
        self.frame.clear();
        let body = rec.strip_suffix(b"\n").unwrap_or(rec);
        for line in body.split(|&b| b == b'\n') {
            self.frame_line(line);
        }
        self.bytes += self.frame.len() as u64;
        self.out.write_all(&self.frame)
    }

    fn frame_line(&mut self, line: &[u8]) {
        let mut rest = line;
        let mut chunks = 0u64;
        loop {
            let mut n = rest.len().min(self.max);
            if self.framing == Framing::Docker && n < rest.len() {
                n = char_floor(rest, n);
            }
            let (chunk, tail) = rest.split_at(n);
            let last = tail.is_empty();
            match self.framing {
                Framing::Cri => {
                    self.frame.extend_from_slice(&self.ts);
                    self.frame.push(b' ');
                    self.frame.extend_from_slice(self.stream);
                    self.frame
                        .extend_from_slice(if last { b" F " } else { b" P " });
                    self.frame.extend_from_slice(chunk);
                    self.frame.push(b'\n');
                }
                Framing::Docker => {
                    self.frame.extend_from_slice(b"{\"log\":\"");
                    push_json_escaped(&mut self.frame, chunk);
                    if last {
                        self.frame.extend_from_slice(b"\\n");
                    }
                    self.frame.extend_from_slice(b"\",\"stream\":\"");
                    self.frame.extend_from_slice(self.stream);
                    self.frame.extend_from_slice(b"\",\"time\":\"");
                    self.frame.extend_from_slice(&self.ts);
                    self.frame.extend_from_slice(b"\"}\n");
                }
                Framing::None => unreachable!("plain records are written whole"),
            }
            self.lines += 1;
            chunks += 1;
            if last {
                break;
            }
            self.partial_chunks += 1;
            rest = tail;
        }
        if chunks > 1 {
            self.split_lines += 1;
        }
    }
}

/// The largest cut `<= n` that does not split a UTF-8 sequence, but at least
/// one whole character, so a chunk's JSON string stays valid UTF-8.
fn char_floor(s: &[u8], n: usize) -> usize {
    let is_cont = |b: u8| b & 0xC0 == 0x80;
    let mut cut = n;
    while cut > 0 && cut < s.len() && is_cont(s[cut]) {
        cut -= 1;
    }
    if cut == 0 {
        cut = 1;
        while cut < s.len() && is_cont(s[cut]) {
            cut += 1;
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(framing: Framing, max: usize, rec: &[u8]) -> (String, u64, u64) {
        let mut out = Vec::new();
        let mut s = Sink::new(&mut out, framing, max, b"stdout", true);
        s.emit(rec, 1_795_341_600_123_456_789).unwrap();
        let (lines, partial) = (s.lines, s.partial_chunks);
        (String::from_utf8(out).unwrap(), lines, partial)
    }

    #[test]
    fn cri_splits_into_partial_chunks() {
        let (out, lines, partial) = framed(Framing::Cri, 4, b"abcdefghij\n");
        assert_eq!(
            out,
            "2026-11-22T10:00:00.123456789Z stdout P abcd\n\
             2026-11-22T10:00:00.123456789Z stdout P efgh\n\
             2026-11-22T10:00:00.123456789Z stdout F ij\n"
        );
        assert_eq!((lines, partial), (3, 2));
    }

    #[test]
    fn cri_keeps_blank_lines_of_a_block() {
        let (out, lines, _) = framed(Framing::Cri, 100, b"a\n\nb\n");
        assert_eq!(lines, 3);
        assert!(out.contains("stdout F \n"));
    }

    #[test]
    fn docker_escapes_and_splits_on_char_boundaries() {
        let (out, lines, partial) = framed(Framing::Docker, 3, "a\"é<\n".as_bytes());
        assert_eq!(
            out,
            "{\"log\":\"a\\\"\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00.123456789Z\"}\n\
             {\"log\":\"é\\u003c\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00.123456789Z\"}\n"
        );
        assert_eq!((lines, partial), (2, 1));
    }

    #[test]
    fn char_floor_never_stalls() {
        let s = "ééé".as_bytes();
        assert_eq!(char_floor(s, 1), 2);
        assert_eq!(char_floor(s, 3), 2);
        assert_eq!(char_floor(s, 4), 4);
    }
}
