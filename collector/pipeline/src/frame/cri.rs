//! CRI container log lines (containerd, CRI-O): `<RFC 3339 time> <stdout|stderr>
//! <P|F> <message>`. `P` marks a partial line that continues in the next line
//! of the same stream, up to an `F`; [`parse_line`] splits one line and the
//! framer's reassembler joins the parts.

use super::{FrameError, FrameStats, Framed, Malformed, Message, Partial, Stream, cap};
use crate::time::parse_rfc3339;
use sitepulse_lines::RawLine;

/// One CRI line split into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriLine<'b> {
    /// The runtime's timestamp, Unix nanoseconds.
    pub ts_ns: i64,
    /// `stdout` or `stderr`.
    pub stream: Stream,
    /// Tag `P`: the message continues in the next line of this stream.
    pub partial: bool,
    /// The line had no `P`/`F` tag (old runtimes): taken as a full line.
    pub untagged: bool,
    /// The message, without the tag and its separating space.
    pub msg: &'b [u8],
}

/// Splits one CRI line. Lenient where runtimes differ: the tag may carry
/// `:`-separated extras (`F:x`), an empty message may lack its space
/// (`... stdout F`), and a line with no `P`/`F` tag is a full line whose
/// message follows the stream.
///
/// # Errors
/// [`FrameError::CriTime`] when the first field is not an RFC 3339 time,
/// [`FrameError::CriStream`] when the second is not `stdout`/`stderr`.
///
/// # Performance
/// One `memchr` and fixed-width compares; no allocation.
pub fn parse_line(line: &[u8]) -> Result<CriLine<'_>, FrameError> {
    let sp = memchr::memchr(b' ', line).ok_or(FrameError::CriTime)?;
    let ts_ns = parse_rfc3339(&line[..sp]).ok_or(FrameError::CriTime)?;
    let rest = &line[sp + 1..];
    let stream = match rest.get(..6) {
        Some(b"stdout") => Stream::Stdout,
        Some(b"stderr") => Stream::Stderr,
        _ => return Err(FrameError::CriStream),
    };
    let after = match rest.get(6) {
        None => &b""[..],
        Some(b' ') => &rest[7..],
        Some(_) => return Err(FrameError::CriStream),
    };
    let tag_end = memchr::memchr(b' ', after).unwrap_or(after.len());
    let tag = &after[..tag_end];
    let (partial, untagged, msg) = match tag {
        [t @ (b'P' | b'F')] | [t @ (b'P' | b'F'), b':', ..] => {
            (*t == b'P', false, after.get(tag_end + 1..).unwrap_or(b""))
        }
        _ => (false, true, after),
    };
    Ok(CriLine {
        ts_ns,
        stream,
        partial,
        untagged,
        msg,
    })
}

/// Reassembles `P` parts per stream (stdout and stderr kept apart).
#[derive(Debug, Default)]
pub(super) struct Reassembler {
    parts: [Partial; 2],
}

impl Reassembler {
    pub(super) fn push(
        &mut self,
        line: RawLine<'_>,
        max: usize,
        stats: &mut FrameStats,
        f: &mut impl FnMut(Framed<'_>),
    ) {
        let cri = match parse_line(line.bytes) {
            Ok(c) => c,
            Err(error) => {
                stats.malformed[error as usize] += 1;
                f(Err(Malformed { error, line }));
                return;
            }
        };
        stats.untagged += u64::from(cri.untagged);
        let slot = &mut self.parts[cri.stream as usize];
        if cri.partial {
            slot.append(cri.msg, Some(cri.ts_ns), &line, max, stats);
        } else if slot.open {
            slot.append(cri.msg, Some(cri.ts_ns), &line, max, stats);
            slot.emit(cri.stream, line.end_offset, stats, f);
        } else {
            f(Ok(Message {
                bytes: cap(cri.msg, max, stats),
                stream: cri.stream,
                ts_ns: Some(cri.ts_ns),
                truncated: line.truncated || cri.msg.len() > max,
                start_offset: line.start_offset,
                end_offset: line.end_offset,
            }));
        }
    }

    pub(super) fn flush(&mut self, stats: &mut FrameStats, f: &mut impl FnMut(Framed<'_>)) {
        for (slot, stream) in self.parts.iter_mut().zip([Stream::Stdout, Stream::Stderr]) {
            if slot.open {
                let end = slot.end_offset;
                slot.emit(stream, end, stats, f);
            }
        }
    }

    pub(super) fn pending_offset(&self) -> Option<u64> {
        self.parts.iter().filter_map(Partial::pending_offset).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameConfig, Framer, Framing};
    use proptest::prelude::*;

    const T: i64 = 1_795_341_600_000_000_000; // 2026-11-22T10:00:00Z

    #[test]
    fn fields() {
        let l = parse_line(b"2026-11-22T10:00:00.5Z stdout F hello world").unwrap();
        assert_eq!(
            l,
            CriLine {
                ts_ns: T + 500_000_000,
                stream: Stream::Stdout,
                partial: false,
                untagged: false,
                msg: b"hello world"
            }
        );
        let l = parse_line(b"2026-11-22T10:00:00+00:00 stderr P part").unwrap();
        assert!(l.partial);
        assert_eq!((l.stream, l.msg), (Stream::Stderr, &b"part"[..]));
        // Empty messages, with and without the separating space.
        assert_eq!(
            parse_line(b"2026-11-22T10:00:00Z stdout F ").unwrap().msg,
            b""
        );
        assert_eq!(
            parse_line(b"2026-11-22T10:00:00Z stdout F").unwrap().msg,
            b""
        );
        assert_eq!(parse_line(b"2026-11-22T10:00:00Z stdout").unwrap().msg, b"");
        // Tag extras, and untagged lines.
        assert_eq!(
            parse_line(b"2026-11-22T10:00:00Z stdout F:x m")
                .unwrap()
                .msg,
            b"m"
        );
        let l = parse_line(b"2026-11-22T10:00:00Z stdout plain old line").unwrap();
        assert!(l.untagged && !l.partial);
        assert_eq!(l.msg, b"plain old line");
        // Errors by reason.
        assert_eq!(parse_line(b"hello"), Err(FrameError::CriTime));
        assert_eq!(
            parse_line(b"2026-11-22X10:00:00Z stdout F m"),
            Err(FrameError::CriTime)
        );
        assert_eq!(
            parse_line(b"2026-11-22T10:00:00Z stdin F m"),
            Err(FrameError::CriStream)
        );
        assert_eq!(
            parse_line(b"2026-11-22T10:00:00Z stdoutx F m"),
            Err(FrameError::CriStream)
        );
        assert_eq!(
            parse_line(b"2026-11-22T10:00:00Z "),
            Err(FrameError::CriStream)
        );
    }

    /// Frames `data` as CRI through a tiny line buffer; returns (bytes,
    /// stream, ts, truncated, end_offset) per message and the error reasons.
    #[allow(clippy::type_complexity)]
    pub(crate) fn frame(
        data: &[u8],
        buf: usize,
        max: usize,
    ) -> (
        Vec<(Vec<u8>, Stream, Option<i64>, bool, u64)>,
        Vec<&'static str>,
    ) {
        let mut fr = Framer::new(
            FrameConfig {
                max_line_bytes: max,
                framing: Some(Framing::Cri),
            },
            None,
        );
        let mut rdr = crate::frame::LineReader::with_limits(data, buf, max + 64);
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        fr.read_all(&mut rdr, |m| match m {
            Ok(m) => out.push((
                m.bytes.to_vec(),
                m.stream,
                m.ts_ns,
                m.truncated,
                m.end_offset,
            )),
            Err(e) => errs.push(e.error.reason()),
        })
        .unwrap();
        (out, errs)
    }

    #[test]
    fn partials_across_buffer_boundaries() {
        let data = b"2026-11-22T10:00:00Z stdout P hel\n\
                     2026-11-22T10:00:01Z stdout P lo \n\
                     2026-11-22T10:00:02Z stdout F world\n";
        for buf in [1, 3, 7, 40, 4096] {
            let (out, errs) = frame(data, buf, 1000);
            assert!(errs.is_empty());
            assert_eq!(
                out,
                [(
                    b"hello world".to_vec(),
                    Stream::Stdout,
                    Some(T),
                    false,
                    data.len() as u64
                )],
                "buffer {buf}"
            );
        }
    }

    #[test]
    fn interleaved_streams() {
        let data = b"2026-11-22T10:00:00Z stdout P out-1 \n\
                     2026-11-22T10:00:01Z stderr P err-1 \n\
                     2026-11-22T10:00:02Z stdout F out-2\n\
                     bogus\n\
                     2026-11-22T10:00:03Z stderr F err-2\n\
                     2026-11-22T10:00:04Z stderr F \n";
        let (out, errs) = frame(data, 16, 1000);
        let got: Vec<_> = out.iter().map(|m| (m.0.as_slice(), m.1, m.2)).collect();
        assert_eq!(
            got,
            [
                (&b"out-1 out-2"[..], Stream::Stdout, Some(T)),
                (&b"err-1 err-2"[..], Stream::Stderr, Some(T + 1_000_000_000)),
                (&b""[..], Stream::Stderr, Some(T + 4_000_000_000)),
            ]
        );
        assert_eq!(errs, ["cri_time"]);
    }

    #[test]
    fn reassembly_capped() {
        let data = b"2026-11-22T10:00:00Z stdout P abcdef\n\
                     2026-11-22T10:00:00Z stdout P ghijkl\n\
                     2026-11-22T10:00:00Z stdout F mno\n\
                     2026-11-22T10:00:00Z stdout F ok\n";
        let (out, _) = frame(data, 8, 8);
        assert_eq!(out[0].0, b"abcdefgh");
        assert!(out[0].3);
        assert_eq!((out[1].0.as_slice(), out[1].3), (&b"ok"[..], false));
    }

    #[test]
    fn open_partial_flushed_at_eof() {
        let data = b"2026-11-22T10:00:00Z stderr P dangling";
        let (out, _) = frame(data, 4, 100);
        assert_eq!(
            out,
            [(
                b"dangling".to_vec(),
                Stream::Stderr,
                Some(T),
                false,
                data.len() as u64
            )]
        );
    }

    proptest! {
        #[test]
        fn split_into_partials_reassembles(
            msg in proptest::collection::vec(
                // `\r` left out: the line reader strips one before each `\n`.
                any::<u8>().prop_filter("no line end", |b| *b != b'\n' && *b != b'\r'), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..8),
            buf in 1usize..64,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(msg.len())).collect();
            cuts.sort_unstable();
            cuts.push(msg.len());
            let mut data = Vec::new();
            let mut prev = 0;
            for (i, &c) in cuts.iter().enumerate() {
                let tag = if i + 1 == cuts.len() { "F" } else { "P" };
                data.extend_from_slice(
                    format!("2026-11-22T10:00:0{}Z stdout {tag} ", i.min(9)).as_bytes());
                data.extend_from_slice(&msg[prev..c]);
                data.push(b'\n');
                prev = c;
            }
            let (out, errs) = frame(&data, buf, 1000);
            prop_assert!(errs.is_empty());
            prop_assert_eq!(out.len(), 1);
            prop_assert_eq!(&out[0].0, &msg);
            prop_assert_eq!(out[0].2, Some(T));
            prop_assert_eq!(out[0].4, data.len() as u64);
        }
    }
}
