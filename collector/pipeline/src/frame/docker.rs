//! Docker `json-file` lines: `{"log":"msg\n","stream":"stdout","time":"..."}`.
//! `log` is unescaped into a reused buffer (skipped when its only escape is
//! the final `\n`); a `log` without the final newline is a part of a longer
//! line (Docker splits at 16 KiB) and is reassembled per stream.
//!
//! What Docker writes, from moby's source (`daemon/logger/copier.go`,
//! `daemon/logger/jsonfilelog/jsonfilelog.go`, `jsonlog/jsonlogbytes.go`,
//! `jsonlog/time_marshalling.go`) and the fixtures in `testdata/`:
//! - `log` comes first, then `stream`, the optional `attrs` object (log
//!   options `tag`, `labels`, `env`), and `time` last.
//! - the copier cuts a line at its 16 KiB buffer: every part but the last
//!   has no final `\n`; all parts carry the first part's `time`; the other
//!   stream's lines may come between them. A line the container ends
//!   without `\n` stays a part.
//! - an empty line is `"log":"\n"`; `\r` is kept (`\r\n`); bytes that are
//!   not UTF-8 become `\ufffd`; control characters, `<`, `>`, `&`, U+2028
//!   and U+2029 are `\u` escapes.
//! - `time` is the copier's `time.Now().UTC()` in Go's `RFC3339Nano`:
//!   `Z`, trailing zeros of the fraction dropped.

use super::cri::parse_time;
use super::{FrameError, FrameStats, Framed, Malformed, Message, Partial, Stream, cap};
use crate::json::{Value, for_each_member, unescape_into};
use sitepulse_lines::RawLine;

#[derive(Debug, Default)]
pub(super) struct Decoder {
    /// Indexed by `Stream as usize`.
    parts: [Partial; 3],
    scratch: Vec<u8>,
}

impl Decoder {
    pub(super) fn push(
        &mut self,
        line: RawLine<'_>,
        max: usize,
        stats: &mut FrameStats,
        f: &mut impl FnMut(Framed<'_>),
    ) {
        let DockerLine {
            stream,
            ts_ns,
            text,
            complete,
        } = match parse_line(line.bytes, &mut self.scratch) {
            Ok(d) => d,
            Err(error) => {
                stats.malformed[error as usize] += 1;
                f(Err(Malformed { error, line }));
                return;
            }
        };
        let slot = &mut self.parts[stream as usize];
        if !complete {
            slot.append(text, ts_ns, &line, max, stats);
            return;
        }
        if slot.open {
            slot.append(text, ts_ns, &line, max, stats);
            slot.emit(stream, line.end_offset, stats, f);
        } else {
            f(Ok(Message {
                bytes: cap(text, max, stats),
                stream,
                ts_ns,
                truncated: line.truncated || text.len() > max,
                start_offset: line.start_offset,
                end_offset: line.end_offset,
            }));
        }
    }

    pub(super) fn flush(&mut self, stats: &mut FrameStats, f: &mut impl FnMut(Framed<'_>)) {
        let streams = [Stream::Stdout, Stream::Stderr, Stream::Unknown];
        for (slot, stream) in self.parts.iter_mut().zip(streams) {
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

/// One json-file line unwrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DockerLine<'a> {
    /// `stream`: stdout, stderr, or [`Stream::Unknown`] when absent or
    /// another name.
    pub(super) stream: Stream,
    /// `time`; `None` when the member is absent.
    pub(super) ts_ns: Option<i64>,
    /// `log` unescaped, without its final `\n` (and a `\r` before it).
    pub(super) text: &'a [u8],
    /// `log` ended with `\n`: the last (or only) part of a line.
    pub(super) complete: bool,
}

/// Unwraps one json-file line, unescaping into `scratch` when needed.
///
/// # Errors
/// [`FrameError::DockerJson`] when the line is no JSON object,
/// [`FrameError::DockerLog`] when it has no `log` string,
/// [`FrameError::DockerEscape`] for a bad escape inside `log`,
/// [`FrameError::DockerTime`] for a `time` that is not an RFC 3339 time
/// with a zone (Docker always writes one; the kubelet's `json.Unmarshal`
/// into a `time.Time` refuses the line too).
pub(super) fn parse_line<'a>(
    line: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<DockerLine<'a>, FrameError> {
    let mut log = None;
    let mut stream = Stream::Unknown;
    let mut ts_ns = None;
    let mut bad_time = false;
    let scanned = for_each_member(line, |key, value| match (key, value) {
        (b"log", Value::Str { raw, escaped }) => log = Some((raw, escaped)),
        (b"stream", Value::Str { raw: b"stdout", .. }) => stream = Stream::Stdout,
        (b"stream", Value::Str { raw: b"stderr", .. }) => stream = Stream::Stderr,
        // Same RFC 3339 reading as CRI (zone required, nine digits).
        (b"time", Value::Str { raw, .. }) => {
            ts_ns = parse_time(raw);
            bad_time = ts_ns.is_none();
        }
        (b"time", _) => bad_time = true,
        _ => {}
    });
    let (text, complete) = match (scanned, log) {
        (Err(_), _) => return Err(FrameError::DockerJson),
        (Ok(()), None) => return Err(FrameError::DockerLog),
        (Ok(()), Some(_)) if bad_time => return Err(FrameError::DockerTime),
        (Ok(()), Some((raw, escaped))) => decode(raw, escaped, scratch)?,
    };
    let text = match complete {
        true => text.strip_suffix(b"\r").unwrap_or(text),
        false => text,
    };
    Ok(DockerLine {
        stream,
        ts_ns,
        text,
        complete,
    })
}

/// The unescaped `log` without its final `\n`, and whether it had one.
fn decode<'a>(
    raw: &'a [u8],
    escaped: bool,
    scratch: &'a mut Vec<u8>,
) -> Result<(&'a [u8], bool), FrameError> {
    if !escaped {
        return Ok((raw, false));
    }
    if let Some(body) = raw.strip_suffix(b"\\n")
        && memchr::memchr(b'\\', body).is_none()
    {
        return Ok((body, true));
    }
    scratch.clear();
    unescape_into(raw, scratch).map_err(|_| FrameError::DockerEscape)?;
    Ok(match scratch.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (&scratch[..], false),
    })
}

#[cfg(test)]
mod tests {
    use crate::frame::{FrameConfig, Framer, Framing, LineReader, Stream};

    const T: i64 = 1_795_341_600_000_000_000; // 2026-11-22T10:00:00Z

    #[allow(clippy::type_complexity)]
    fn frame(
        data: &[u8],
        buf: usize,
        max: usize,
    ) -> (Vec<(Vec<u8>, Stream, Option<i64>, bool)>, Vec<&'static str>) {
        let mut fr = Framer::new(
            FrameConfig {
                max_line_bytes: max,
                framing: None,
            },
            None,
        );
        let mut rdr = LineReader::with_limits(data, buf, max * 6 + 100);
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        fr.read_all(&mut rdr, |m| match m {
            Ok(m) => out.push((m.bytes.to_vec(), m.stream, m.ts_ns, m.truncated)),
            Err(e) => errs.push(e.error.reason()),
        })
        .unwrap();
        assert_eq!(fr.framing(), Some(Framing::Docker));
        (out, errs)
    }

    const NS: i64 = 1_000_000_000;

    /// Real output: Docker 20.10's json-file for `testdata/README.md`'s
    /// script. The 33,004-byte line came as 16,384 + 16,384 + 236 bytes
    /// with a stderr line between the parts, all parts stamped with the
    /// first part's time; empty lines are `"log":"\n"`; the last line,
    /// ended without `\n`, is flushed at end of input.
    #[test]
    fn docker_fixture() {
        let data = include_bytes!("testdata/docker-20.10-json-file.log");
        const S: i64 = 1_796_304_705 * NS; // 2026-12-03T13:31:45Z
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
                    w(
                        b"PHP Warning:  Undefined variable $x in /var/www/html/index.php on line 3",
                        Stream::Stderr,
                        S + 973_387_808
                    ),
                    w(b"GET /wp-login.php 200", Stream::Stdout, S + 974_252_447),
                    w(b"", Stream::Stdout, S + 974_318_029),
                    w(
                        "say \"hi\" \\ back\tslash <b>&amp; caf\u{e9}".as_bytes(),
                        Stream::Stdout,
                        S + 974_320_579
                    ),
                    w(
                        "bad utf8 \u{fffd} ctrl \u{1} end".as_bytes(),
                        Stream::Stdout,
                        S + 974_324_204
                    ),
                    w(
                        b"stderr while stdout is open",
                        Stream::Stderr,
                        S + NS + 977_142_723
                    ),
                    (
                        long.as_slice(),
                        Stream::Stdout,
                        Some(S + 974_487_807),
                        false
                    ),
                    w(b"", Stream::Stderr, S + 2 * NS + 982_904_505),
                    w(
                        b"no newline at exit",
                        Stream::Stdout,
                        S + 3 * NS + 11_113_735
                    ),
                ],
                "buffer {buf}"
            );
        }
        // Offsets: the joined line spans its first part to its last.
        let mut fr = Framer::new(FrameConfig::default(), None);
        let mut spans = Vec::new();
        fr.read_all(&mut LineReader::new(&data[..]), |m| {
            let m = m.unwrap();
            spans.push((m.start_offset, m.end_offset));
        })
        .unwrap();
        let line_starts: Vec<u64> = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', data).map(|i| i as u64 + 1))
            .collect();
        assert_eq!(spans[6], (line_starts[5], line_starts[9]));
        assert_eq!(spans[8], (line_starts[10], data.len() as u64));
        let st = fr.stats();
        assert_eq!((st.lines, st.messages, st.reassembled), (11, 9, 1));
    }

    /// Go's `RFC3339Nano` drops trailing zeros (`.0071812Z`): 9 real
    /// consecutive lines of `seq 1 3000` under Docker 20.10, exact to the
    /// nanosecond whatever the digit count.
    #[test]
    fn trimmed_fractions_exact() {
        let data = include_bytes!("testdata/docker-20.10-trimmed-fraction.log");
        const S: i64 = 1_796_304_792 * NS; // 2026-12-03T13:33:12Z
        let (out, errs) = frame(data, 64, 1000);
        assert!(errs.is_empty());
        let got: Vec<_> = out
            .iter()
            .map(|m| (String::from_utf8(m.0.clone()).unwrap(), m.2.unwrap() - S))
            .collect();
        let want = [
            7_175_130, 7_176_193, 7_177_273, 7_180_215, 7_181_200, 7_182_244, 7_183_240, 7_184_250,
            7_185_240,
        ];
        let want: Vec<_> = (159..)
            .zip(want)
            .map(|(n, ns)| (n.to_string(), ns))
            .collect();
        assert_eq!(got, want);
    }

    /// With `--log-opt tag=...`, Docker writes an `attrs` object between
    /// `stream` and `time`; it does not disturb the framing.
    #[test]
    fn attrs_member() {
        let data = include_bytes!("testdata/docker-20.10-attrs.log");
        const S: i64 = 1_796_304_714 * NS; // 2026-12-03T13:31:54Z
        let (out, errs) = frame(data, 16, 1000);
        assert!(errs.is_empty());
        assert_eq!(
            out,
            [
                (
                    b"line 9 of a rotated file".to_vec(),
                    Stream::Stdout,
                    Some(S + 943_822_408),
                    false
                ),
                (
                    b"line 10 of a rotated file".to_vec(),
                    Stream::Stdout,
                    Some(S + 943_973_515),
                    false
                ),
                (
                    b"line 11 of a rotated file".to_vec(),
                    Stream::Stdout,
                    Some(S + 943_977_568),
                    false
                ),
            ]
        );
    }

    #[test]
    fn escapes() {
        let data = br#"{"log":"plain\n","stream":"stdout","time":"2026-11-22T10:00:00Z"}
{"log":"say \"hi\" caf\u00e9\ttab\n","stream":"stderr","time":"2026-11-22T10:00:00.5Z"}
{"log":"two\nlines\r\n","stream":"stdout"}
{"log":"back\\slash\\n\n","stream":"other"}
"#;
        let (out, errs) = frame(data, 7, 1000);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            out,
            [
                (b"plain".to_vec(), Stream::Stdout, Some(T), false),
                (
                    "say \"hi\" café\ttab".as_bytes().to_vec(),
                    Stream::Stderr,
                    Some(T + 500_000_000),
                    false
                ),
                (b"two\nlines".to_vec(), Stream::Stdout, None, false),
                (br"back\slash\n".to_vec(), Stream::Unknown, None, false),
            ]
        );
    }

    #[test]
    fn partials_per_stream() {
        let data = br#"{"log":"GET /wp-","stream":"stdout","time":"2026-11-22T10:00:00Z"}
{"log":"PHP Warning: ","stream":"stderr","time":"2026-11-22T10:00:01Z"}
{"log":"login.php\n","stream":"stdout","time":"2026-11-22T10:00:02Z"}
{"log":"oops\u00e9\n","stream":"stderr","time":"2026-11-22T10:00:03Z"}
{"log":"dangling","stream":"stdout","time":"2026-11-22T10:00:04Z"}
"#;
        let (out, _) = frame(data, 5, 1000);
        assert_eq!(
            out,
            [
                (
                    b"GET /wp-login.php".to_vec(),
                    Stream::Stdout,
                    Some(T),
                    false
                ),
                (
                    "PHP Warning: oopsé".as_bytes().to_vec(),
                    Stream::Stderr,
                    Some(T + 1_000_000_000),
                    false
                ),
                (
                    b"dangling".to_vec(),
                    Stream::Stdout,
                    Some(T + 4_000_000_000),
                    false
                ),
            ]
        );
    }

    #[test]
    fn malformed_by_reason() {
        let data = br#"{"log":"ok\n","stream":"stdout"}
{"log":"unterminated
{"stream":"stdout"}
{"log":"bad \x escape\n"}
{"log":42}
not json
"#;
        let (out, errs) = frame(data, 64, 1000);
        assert_eq!(out.len(), 1);
        assert_eq!(
            errs,
            [
                "docker_json",
                "docker_log",
                "docker_escape",
                "docker_log",
                "docker_json"
            ]
        );
    }

    /// A `time` Docker would never write is a framing error with its own
    /// reason, not a message with a silently missing time.
    #[test]
    fn bad_time_refused() {
        let data = br#"{"log":"ok\n","stream":"stdout","time":"2026-11-22T10:00:00Z"}
{"log":"a\n","stream":"stdout","time":"bogus"}
{"log":"b\n","stream":"stdout","time":"2026-11-22T10:00:00"}
{"log":"c\n","stream":"stdout","time":"2026-02-30T10:00:00Z"}
{"log":"d\n","stream":"stdout","time":1795341600}
{"log":"no time\n","stream":"stderr"}
"#;
        let (out, errs) = frame(data, 64, 1000);
        assert_eq!(errs, ["docker_time"; 4]);
        assert_eq!(
            out,
            [
                (b"ok".to_vec(), Stream::Stdout, Some(T), false),
                (b"no time".to_vec(), Stream::Stderr, None, false),
            ]
        );
    }

    #[test]
    fn reassembly_capped() {
        let data = br#"{"log":"abcdef","stream":"stdout"}
{"log":"ghijkl\n","stream":"stdout"}
{"log":"0123456789\n","stream":"stdout"}
"#;
        let (out, _) = frame(data, 16, 8);
        assert_eq!(out[0], (b"abcdefgh".to_vec(), Stream::Stdout, None, true));
        assert_eq!(out[1], (b"01234567".to_vec(), Stream::Stdout, None, true));
    }
}
