//! CRI container log lines (containerd, CRI-O): `<RFC 3339 time> <stdout|stderr>
//! <P|F> <message>`. `P` marks a partial line that continues in the next line
//! of the same stream, up to an `F`; [`parse_line`] splits one line and the
//! framer's reassembler joins the parts.
//!
//! What the writers do, from their source:
//! - containerd (`internal/cri/io/logger.go`, `redirectLogs`): the time is
//!   `time.Now()` in Go's `time.RFC3339Nano`, so trailing zeros of the
//!   fraction are dropped (`.5`, none at all on a whole second) and the zone
//!   is the daemon's (`Z`, or `+01:00`); a line longer than
//!   `max_container_log_line_size` (16 KiB) is cut into `P` parts, a line
//!   the container ends without `\n` is written as `P`, and an empty line
//!   is `<time> <stream> F ` (tag, then the space, then nothing).
//! - CRI-O's conmon (`src/ctr_logging.c`, `set_k8s_timestamp`): local time
//!   with nine fraction digits and a `+hh:mm` offset, `P` where a read
//!   ended mid-line; same empty-line form.
//! - the kubelet (`pkg/kubelet/kuberuntime/logs/logs.go`, `parseCRILog`)
//!   reads the time as `RFC3339NanoLenient` (zone required), the stream as
//!   `stdout`/`stderr`, and the tag up to the first `:`.

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
/// [`FrameError::CriTime`] when the first field is not an RFC 3339 time
/// with a zone ([`parse_time`]), [`FrameError::CriStream`] when the second
/// is not `stdout`/`stderr`.
///
/// # Performance
/// One `memchr` and fixed-width compares; no allocation.
pub fn parse_line(line: &[u8]) -> Result<CriLine<'_>, FrameError> {
    let sp = memchr::memchr(b' ', line).ok_or(FrameError::CriTime)?;
    let ts_ns = parse_time(&line[..sp]).ok_or(FrameError::CriTime)?;
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

/// A CRI timestamp as Unix nanoseconds, exact for every precision Go's
/// `RFC3339Nano` writes (no fraction up to nine digits; further digits are
/// dropped, as Go's parser does) and every zone: `Z`/`z` or `±hh:mm`. A
/// time without a zone (or with `±hhmm`) is refused, as the kubelet
/// refuses it, rather than read as UTC.
///
/// # Performance
/// A suffix check and one fixed-layout parse.
pub fn parse_time(b: &[u8]) -> Option<i64> {
    let zoned = match b {
        [.., b'Z' | b'z'] => true,
        [.., b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    };
    if zoned { parse_rfc3339(b) } else { None }
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

    const NS: i64 = 1_000_000_000;

    /// Go's `RFC3339Nano` as containerd writes it (trailing fraction zeros
    /// dropped, the daemon's zone), conmon's nine digits and `+hh:mm`, and
    /// Go's parser keeping nine digits of a longer fraction: all exact.
    /// Expected seconds from Python's `datetime(...).timestamp()`.
    #[test]
    fn times_exact_for_every_precision_and_zone() {
        for (t, want) in [
            ("2026-11-22T10:00:00Z", T),
            ("2026-11-22T10:00:00z", T),
            ("2026-11-22T10:00:00.1Z", T + 100_000_000),
            ("2026-11-22T10:00:00.12Z", T + 120_000_000),
            ("2026-11-22T10:00:00.123Z", T + 123_000_000),
            ("2026-11-22T10:00:00.1234Z", T + 123_400_000),
            ("2026-11-22T10:00:00.12345Z", T + 123_450_000),
            ("2026-11-22T10:00:00.123456Z", T + 123_456_000),
            ("2026-11-22T10:00:00.1234567Z", T + 123_456_700),
            ("2026-11-22T10:00:00.12345678Z", T + 123_456_780),
            ("2026-11-22T10:00:00.123456789Z", T + 123_456_789),
            ("2026-11-22T10:00:00.000000001Z", T + 1),
            ("2026-11-22T10:00:00.1234567891Z", T + 123_456_789),
            ("2026-11-22T10:00:00.000000000+00:00", T),
            ("2026-11-22T10:00:00-00:00", T),
            ("2026-11-22T11:00:00.123456789+01:00", T + 123_456_789),
            ("2026-11-22T06:30:00.5-03:30", T + 500_000_000),
            ("2026-11-23T00:00:00+14:00", T),
            ("2026-11-21T23:00:00.999999999-11:00", T + 999_999_999),
            ("1969-12-31T23:59:59.5Z", -NS / 2),
        ] {
            assert_eq!(parse_time(t.as_bytes()), Some(want), "{t}");
            let line = format!("{t} stdout F m");
            assert_eq!(parse_line(line.as_bytes()).map(|l| l.ts_ns), Ok(want));
        }
    }

    /// Times the kubelet's `RFC3339NanoLenient` refuses are
    /// [`FrameError::CriTime`], never read as UTC or as another day.
    #[test]
    fn bad_times_refused() {
        for t in [
            "2026-11-22T10:00:00",
            "2026-11-22T10:00:00.123456789",
            "2026-11-22T10:00:00+0100",
            "2026-11-22T10:00:00+01",
            "2026-11-22T10:00:00+1:00",
            "2026-11-22T10:00:00+01:0x",
            "2026-11-22T10:00:00.Z",
            "2026-11-22T10:00:00ZZ",
            "2026-11-22T10:00Z",
            "2026-02-30T10:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T10:60:00Z",
            "2026-11-22T10:00:00+24:00",
            "22/Nov/2026:10:00:00",
            "",
        ] {
            assert_eq!(parse_time(t.as_bytes()), None, "{t}");
            let line = format!("{t} stdout F m");
            assert_eq!(parse_line(line.as_bytes()), Err(FrameError::CriTime), "{t}");
        }
    }

    /// Real CRI-O output: conmon 2.1.6 (Debian 12) writing `k8s-file` for a
    /// runc container running `testdata/README.md`'s script (plain lines,
    /// an empty line, escapes, a 33,004-byte line it cut into `P` parts
    /// while stderr wrote, a last line without `\n`).
    #[test]
    fn conmon_fixture() {
        let data = include_bytes!("testdata/conmon-2.1.6-k8s-file.log");
        const S: i64 = 1_796_304_755 * NS; // 2026-12-03T13:32:35Z
        let end_of = |needle: &[u8]| {
            let at = memchr::memmem::find(data, needle).unwrap();
            (at + needle.len()) as u64
        };
        let long: Vec<u8> = b"abcdefghij"
            .iter()
            .cycle()
            .take(20_000)
            .chain(b"0123456789".iter().cycle().take(13_000))
            .chain(b" END")
            .copied()
            .collect();
        for buf in [7, 4096, 1 << 16] {
            let (out, errs) = frame(data, buf, 64 << 10);
            assert!(errs.is_empty(), "{errs:?}");
            let got: Vec<_> = out
                .iter()
                .map(|m| (m.0.as_slice(), m.1, m.2, m.3))
                .collect();
            let w = |b: &'static [u8], s, ts| (b, s, Some(ts), false);
            assert_eq!(
                got,
                [
                    w(b"GET /wp-login.php 200", Stream::Stdout, S + 622_158_215),
                    w(b"", Stream::Stdout, S + 622_158_215),
                    w(
                        "say \"hi\" \\ back\tslash <b>&amp; caf\u{e9}".as_bytes(),
                        Stream::Stdout,
                        S + 622_158_215
                    ),
                    w(
                        b"bad utf8 \xff ctrl \x01 end",
                        Stream::Stdout,
                        S + 622_158_215
                    ),
                    w(
                        b"PHP Warning:  Undefined variable $x in /var/www/html/index.php on line 3",
                        Stream::Stderr,
                        S + 622_265_474
                    ),
                    w(
                        b"stderr while stdout is open",
                        Stream::Stderr,
                        S + NS + 626_445_733
                    ),
                    (
                        long.as_slice(),
                        Stream::Stdout,
                        Some(S + 623_882_580),
                        false
                    ),
                    w(b"", Stream::Stderr, S + 2 * NS + 631_589_974),
                    // Open at end of input: flushed as it stands.
                    w(
                        b"no newline at exit",
                        Stream::Stdout,
                        S + 2 * NS + 631_594_207
                    ),
                ],
                "buffer {buf}"
            );
            assert_eq!(out[6].4, end_of(b"stdout F  END\n"));
            assert_eq!(out[8].4, data.len() as u64);
        }
    }

    /// conmon in a `TZ=Europe/Berlin` and a `TZ=America/St_Johns` process:
    /// one instant apart by the offset, read back to the same UTC second.
    #[test]
    fn conmon_offsets() {
        const S: i64 = 1_796_304_782 * NS; // 2026-12-03T13:33:02Z
        for (data, a, b) in [
            (
                &include_bytes!("testdata/conmon-2.1.6-tz-berlin.log")[..],
                835_003_466,
                835_805_052,
            ),
            (
                &include_bytes!("testdata/conmon-2.1.6-tz-st-johns.log")[..],
                842_564_058,
                843_139_924,
            ),
        ] {
            let (out, errs) = frame(data, 16, 1000);
            assert!(errs.is_empty());
            let got: Vec<_> = out.iter().map(|m| (m.0.as_slice(), m.1, m.2)).collect();
            assert_eq!(
                got,
                [
                    (&b"offset line"[..], Stream::Stdout, Some(S + a)),
                    (b"partial-at-exit", Stream::Stderr, Some(S + b)),
                    (b"tail", Stream::Stdout, Some(S + a)),
                ]
            );
        }
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
