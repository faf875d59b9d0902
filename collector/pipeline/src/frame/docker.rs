//! Docker `json-file` lines: `{"log":"msg\n","stream":"stdout","time":"..."}`.
//! `log` is unescaped into a reused buffer (skipped when its only escape is
//! the final `\n`); a `log` without the final newline is a part of a longer
//! line (Docker splits at 16 KiB) and is reassembled per stream.

use super::{FrameError, FrameStats, Framed, Malformed, Message, Partial, Stream, cap};
use crate::json::{Value, for_each_member, unescape_into};
use crate::time::parse_rfc3339;
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
        let mut log = None;
        let mut stream = Stream::Unknown;
        let mut ts_ns = None;
        let scanned = for_each_member(line.bytes, |key, value| match (key, value) {
            (b"log", Value::Str { raw, escaped }) => log = Some((raw, escaped)),
            (b"stream", Value::Str { raw: b"stdout", .. }) => stream = Stream::Stdout,
            (b"stream", Value::Str { raw: b"stderr", .. }) => stream = Stream::Stderr,
            (b"time", Value::Str { raw, .. }) => ts_ns = parse_rfc3339(raw),
            _ => {}
        });
        let text = match (scanned, log) {
            (Err(_), _) => Err(FrameError::DockerJson),
            (Ok(()), None) => Err(FrameError::DockerLog),
            (Ok(()), Some((raw, escaped))) => decode(raw, escaped, &mut self.scratch),
        };
        let (text, complete) = match text {
            Ok(t) => t,
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
        let text = text.strip_suffix(b"\r").unwrap_or(text);
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

    #[test]
    fn escapes() {
        let data = br#"{"log":"plain\n","stream":"stdout","time":"2026-11-22T10:00:00Z"}
{"log":"say \"hi\" caf\u00e9\ttab\n","stream":"stderr","time":"2026-11-22T10:00:00.5Z"}
{"log":"two\nlines\r\n","stream":"stdout","time":"bogus"}
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
