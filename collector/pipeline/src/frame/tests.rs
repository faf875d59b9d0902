//! Framer-level tests: detection, raw pass-through, checkpoints, and
//! property tests over arbitrary bytes.

use super::*;
use crate::parse::record_start;
use crate::record::LogFormat;
use proptest::prelude::*;

#[test]
fn detects_framing() {
    assert_eq!(
        detect_framing(br#"{"log":"x\n","stream":"stdout","time":"2026-11-22T10:00:00Z"}"#),
        Framing::Docker
    );
    assert_eq!(detect_framing(br#" { "log" : "x"}"#), Framing::Docker);
    assert_eq!(detect_framing(br#"{"ClientAddr":"1.2.3.4"}"#), Framing::Raw);
    assert_eq!(
        detect_framing(b"2026-11-22T10:00:00.123456789Z stdout F hi"),
        Framing::Cri
    );
    assert_eq!(
        detect_framing(b"2026-11-22T10:00:00+00:00 stderr P hi"),
        Framing::Cri
    );
    assert_eq!(
        detect_framing(b"1.2.3.4 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1"),
        Framing::Raw
    );
    assert_eq!(
        detect_framing(b"2026-11-22T10:00:00Z stdout untagged old CRI-O line"),
        Framing::Cri
    );
    assert_eq!(
        detect_framing(b"2026-11-22T10:00:00Z INFO started"),
        Framing::Raw
    );
    assert_eq!(detect_framing(b""), Framing::Raw);
    assert_eq!(Framing::from_name("cri"), Some(Framing::Cri));
    assert_eq!(Framing::from_name("Cri"), None);
}

/// A message with its bytes copied out.
struct Owned {
    bytes: Vec<u8>,
    m: Message<'static>,
}

fn raw_lines(data: &[u8], cfg: FrameConfig, source: LogFormat) -> (Vec<Owned>, Framer) {
    let mut fr = Framer::new(cfg, record_start(source));
    let mut out = Vec::new();
    fr.read_all(&mut LineReader::with_limits(data, 8, 64), |m| {
        let m = m.unwrap();
        out.push(Owned {
            bytes: m.bytes.to_vec(),
            m: Message { bytes: b"", ..m },
        });
    })
    .unwrap();
    (out, fr)
}

#[test]
fn raw_passes_through() {
    let data = b"\n1.2.3.4 - - a\r\nsecond";
    let (out, fr) = raw_lines(data, FrameConfig::default(), LogFormat::Nginx);
    // The empty first line does not decide the framing; the next one does.
    assert_eq!(fr.framing(), Some(Framing::Raw));
    let got: Vec<_> = out
        .iter()
        .map(|o| (o.bytes.as_slice(), o.m.start_offset, o.m.end_offset))
        .collect();
    assert_eq!(
        got,
        [
            (&b""[..], 0, 1),
            (&b"1.2.3.4 - - a"[..], 1, 16),
            (&b"second"[..], 16, 22)
        ]
    );
    assert!(
        out.iter()
            .all(|o| o.m.stream == Stream::Unknown && o.m.ts_ns.is_none())
    );
    let s = fr.stats();
    assert_eq!((s.lines, s.messages, s.truncated), (3, 3, 0));
}

#[test]
fn pending_offset_holds_checkpoint() {
    let mut fr = Framer::new(FrameConfig::default(), None);
    let line = |bytes: &'static [u8], start, end| RawLine {
        bytes,
        start_offset: start,
        end_offset: end,
        truncated: false,
        unterminated: false,
    };
    let mut n = 0;
    fr.push(line(b"2026-11-22T10:00:00Z stdout P a", 0, 32), |_| n += 1);
    fr.push(line(b"2026-11-22T10:00:00Z stderr F b", 32, 64), |_| n += 1);
    assert_eq!((n, fr.pending_offset()), (1, Some(0)));
    fr.push(line(b"2026-11-22T10:00:00Z stdout F c", 64, 96), |_| n += 1);
    assert_eq!((n, fr.pending_offset()), (2, None));
    assert_eq!(fr.stats().reassembled, 1);
}

#[test]
fn raw_truncated_lines_flagged() {
    let mut data = vec![b'x'; 100];
    data.extend_from_slice(b"\nok\n");
    let (out, fr) = raw_lines(&data, FrameConfig::default(), LogFormat::Nginx);
    assert_eq!((out[0].bytes.len(), out[0].m.truncated), (64, true));
    assert!(!out[1].m.truncated);
    assert_eq!(fr.stats().truncated, 1);
}

#[test]
fn joins_multiline_per_stream_and_flushes() {
    let data = b"2026-11-22T10:00:00Z stderr F [x] PHP Fatal error: boom\n\
                 2026-11-22T10:00:01Z stdout F [y] started\n\
                 2026-11-22T10:00:02Z stderr F Stack trace:\n\
                 2026-11-22T10:00:03Z stdout F   orphan? no, continues y\n\
                 2026-11-22T10:00:04Z stderr P #0 {ma\n\
                 2026-11-22T10:00:05Z stderr F in}\n\
                 2026-11-22T10:00:06Z stderr F [z] next\n\
                 2026-11-22T10:00:07Z stderr F   tail at EOF";
    // A fake format, so this test does not depend on the WordPress parser.
    let mut fr = Framer::new(FrameConfig::default(), Some(|line| line.starts_with(b"[")));
    let mut out = Vec::new();
    fr.read_all(&mut LineReader::with_limits(&data[..], 5, 200), |m| {
        let m = m.unwrap();
        out.push((
            String::from_utf8(m.bytes.to_vec()).unwrap(),
            m.stream,
            m.ts_ns,
        ));
    })
    .unwrap();
    const T: i64 = 1_795_341_600_000_000_000;
    let s = |x: &str| x.to_string();
    assert_eq!(
        out,
        [
            (
                s("[x] PHP Fatal error: boom\nStack trace:\n#0 {main}"),
                Stream::Stderr,
                Some(T)
            ),
            // Flushed at EOF, in stream order.
            (
                s("[y] started\n  orphan? no, continues y"),
                Stream::Stdout,
                Some(T + 1_000_000_000)
            ),
            (
                s("[z] next\n  tail at EOF"),
                Stream::Stderr,
                Some(T + 6_000_000_000)
            ),
        ]
    );
    let st = fr.stats();
    assert_eq!(
        (st.lines, st.messages, st.joined, st.reassembled),
        (8, 3, 3, 1)
    );
    assert_eq!(fr.pending_offset(), None);
}

/// Bytes that look a bit like each framing, to reach deep paths.
fn noisy() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"2026-11-22T10:00:00Z stdout P ".to_vec()),
        Just(b"2026-11-22T10:00:00Z stderr F ".to_vec()),
        Just(b"2026-11-22T10:00:00Z stdout F".to_vec()),
        Just(br#"{"log":"a\u00e9\"\n","stream":"stdout","time":"2026-11-22T10:00:00Z"}"#.to_vec()),
        Just(br#"{"log":"part","stream":"stderr"}"#.to_vec()),
        Just(br#"{"log":"\ud800\"#.to_vec()),
        Just(b"[22-Nov-2026 10:00:00 UTC] PHP Fatal error: x".to_vec()),
        Just(b"Stack trace:".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn never_panics_and_respects_cap(
        data in noisy(),
        framing in prop_oneof![
            Just(None), Just(Some(Framing::Raw)), Just(Some(Framing::Cri)),
            Just(Some(Framing::Docker))],
        src in 0usize..LogFormat::ALL.len(),
        buf in 1usize..32,
        max in 1usize..48,
    ) {
        let source = LogFormat::ALL[src];
        let mut fr = Framer::new(FrameConfig { max_line_bytes: max, framing }, record_start(source));
        let mut rdr = LineReader::with_limits(&data[..], buf, max + 8);
        let mut last_end = 0;
        let mut ok = true;
        fr.read_all(&mut rdr, |m| match m {
            Ok(m) => {
                ok &= m.bytes.len() <= max;
                ok &= m.start_offset <= m.end_offset && m.end_offset <= data.len() as u64;
                last_end = last_end.max(m.end_offset);
            }
            Err(e) => ok &= e.line.end_offset <= data.len() as u64,
        }).unwrap();
        prop_assert!(ok);
        prop_assert_eq!(fr.pending_offset(), None);
        let s = fr.stats();
        // At most one output per line pushed, plus what flush releases.
        prop_assert!(s.messages + s.malformed.iter().sum::<u64>() <= s.lines + 6);
    }
}

/// An empty message is a message: CRI's `<time> <stream> F ` (what
/// containerd and conmon write for an empty line, see `cri.rs`), Docker's
/// `"log":"\n"`, a blank raw line; with or without a multi-line rule, where
/// it joins the open record as an empty line or, with none open, passes
/// alone.
#[test]
fn empty_messages_kept() {
    let cri = b"2026-11-22T10:00:00Z stdout F \n2026-11-22T10:00:01Z stderr F\n";
    let docker = b"{\"log\":\"\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00Z\"}\n\
                   {\"log\":\"\\r\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-22T10:00:01Z\"}\n";
    let raw = b"first\n\n\r\nlast\n";
    const T: i64 = 1_795_341_600_000_000_000;
    let run = |data: &[u8], multiline: Option<RecordStart>| {
        let mut fr = Framer::new(FrameConfig::default(), multiline);
        let mut out = Vec::new();
        fr.read_all(&mut LineReader::new(data), |m| {
            let m = m.unwrap();
            out.push((
                m.bytes.to_vec(),
                m.stream,
                m.ts_ns,
                m.start_offset,
                m.end_offset,
            ));
        })
        .unwrap();
        out
    };
    for multiline in [None, Some((|l: &[u8]| l.starts_with(b"[")) as RecordStart)] {
        let e = Vec::new;
        assert_eq!(
            run(cri, multiline),
            [
                (e(), Stream::Stdout, Some(T), 0, 31),
                (e(), Stream::Stderr, Some(T + 1_000_000_000), 31, 61),
            ]
        );
        assert_eq!(
            run(docker, multiline),
            [
                (e(), Stream::Stdout, Some(T), 0, 61),
                (e(), Stream::Stderr, Some(T + 1_000_000_000), 61, 124),
            ]
        );
    }
    let got: Vec<_> = run(raw, None)
        .into_iter()
        .map(|m| (m.0, m.3, m.4))
        .collect();
    assert_eq!(
        got,
        [
            (b"first".to_vec(), 0, 6),
            (vec![], 6, 7),
            (vec![], 7, 9),
            (b"last".to_vec(), 9, 14),
        ]
    );
    // A multi-line record takes the blank lines in as empty lines.
    let joined = run(b"[a] x\n\n[b] y\n", Some(|l| l.starts_with(b"[")));
    let got: Vec<_> = joined.into_iter().map(|m| m.0).collect();
    assert_eq!(got, [b"[a] x\n".to_vec(), b"[b] y".to_vec()]);
}

/// What the framer should do with each physical line, worked out by a
/// naive model: the line-level parsers (`cri::parse_line`,
/// `docker::parse_line`, `detect_framing`, tested on their own) say what a
/// line is; the model alone decides which message it ends up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// A message of `stream` made of the lines from `start` to `end`.
    Message {
        stream: Stream,
        start: u64,
        end: u64,
    },
    /// The line at `start..end`, handed back.
    Malformed {
        start: u64,
        end: u64,
        error: FrameError,
    },
}

/// A physical line, owned.
struct Line {
    bytes: Vec<u8>,
    start: u64,
    end: u64,
}

/// The model: container parts joined per stream up to the part that ends
/// the line; open parts flushed at the end in stream order.
fn model(lines: &[Line], framing: Option<Framing>) -> (Vec<Fate>, Vec<Option<Stream>>) {
    let mut fates = Vec::new();
    // Per line: its stream, or None when malformed.
    let mut streams = Vec::new();
    let mut framing = framing;
    let mut open: [Option<(u64, u64)>; 3] = [None; 3];
    let mut scratch = Vec::new();
    for l in lines {
        let fr = match framing {
            Some(f) => f,
            None if l.bytes.is_empty() => Framing::Raw,
            None => *framing.insert(detect_framing(&l.bytes)),
        };
        let parsed = match fr {
            Framing::Raw => Ok((Stream::Unknown, false)),
            Framing::Cri => cri::parse_line(&l.bytes).map(|c| (c.stream, c.partial)),
            Framing::Docker => {
                docker::parse_line(&l.bytes, &mut scratch).map(|d| (d.stream, !d.complete))
            }
        };
        match parsed {
            Err(error) => {
                streams.push(None);
                fates.push(Fate::Malformed {
                    start: l.start,
                    end: l.end,
                    error,
                });
            }
            Ok((stream, partial)) => {
                streams.push(Some(stream));
                let slot = &mut open[stream as usize];
                if partial {
                    slot.get_or_insert((l.start, l.end)).1 = l.end;
                } else {
                    let start = slot.take().map_or(l.start, |(s, _)| s);
                    fates.push(Fate::Message {
                        stream,
                        start,
                        end: l.end,
                    });
                }
            }
        }
    }
    for stream in [Stream::Stdout, Stream::Stderr, Stream::Unknown] {
        if let Some((start, end)) = open[stream as usize].take() {
            fates.push(Fate::Message { stream, start, end });
        }
    }
    (fates, streams)
}

/// Inputs that mix well-formed CRI and Docker lines (whole, partial,
/// empty, malformed) with arbitrary bytes.
fn framed_noise() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"2026-11-22T10:00:00Z stdout P ".to_vec()),
        Just(b"2026-11-22T10:00:00.5+01:00 stderr P ".to_vec()),
        Just(b"2026-11-22T10:00:00Z stdout F ".to_vec()),
        Just(b"2026-11-22T10:00:00.123456789Z stderr F x".to_vec()),
        Just(b"2026-11-22T10:00:00 stdout F no zone".to_vec()),
        Just(b"2026-11-22T10:00:00Z stdin F x".to_vec()),
        Just(br#"{"log":"part","stream":"stdout","time":"2026-11-22T10:00:00Z"}"#.to_vec()),
        Just(br#"{"log":"end\n","stream":"stdout","time":"2026-11-22T10:00:00Z"}"#.to_vec()),
        Just(br#"{"log":"\n","stream":"stderr","time":"2026-11-22T10:00:00Z"}"#.to_vec()),
        Just(br#"{"log":"e\u00e9","stream":"stderr"}"#.to_vec()),
        Just(br#"{"log":"x\n"}"#.to_vec()),
        Just(br#"{"log":"\q\n"}"#.to_vec()),
        Just(br#"{"stream":"stdout"}"#.to_vec()),
        Just(b"[".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    prop_oneof![
        proptest::collection::vec(piece, 0..32).prop_map(|v| v.concat()),
        proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

proptest! {
    /// Any bytes, any framing: no panic, and every physical line is
    /// accounted for: in exactly one emitted message (the model's spans, in
    /// the model's order) or handed back as malformed, and nothing is left
    /// pending.
    #[test]
    fn every_line_accounted_for(
        data in framed_noise(),
        framing in prop_oneof![
            Just(None), Just(Some(Framing::Raw)), Just(Some(Framing::Cri)),
            Just(Some(Framing::Docker))],
        buf in 1usize..40,
        max in 1usize..64,
    ) {
        let mut lines = Vec::new();
        let mut rdr = LineReader::with_limits(&data[..], buf, max + 8);
        let mut keep = |l: RawLine<'_>| lines.push(Line {
            bytes: l.bytes.to_vec(), start: l.start_offset, end: l.end_offset,
        });
        while rdr.next_batch(&mut keep).unwrap() {}
        rdr.finish(&mut keep);
        // The lines tile the input.
        let mut at = 0;
        for l in &lines {
            prop_assert_eq!(l.start, at);
            at = l.end;
        }
        prop_assert_eq!(at, data.len() as u64);

        let mut fr = Framer::new(FrameConfig { max_line_bytes: max, framing }, None);
        let mut got = Vec::new();
        let mut fits = true;
        fr.read_all(&mut LineReader::with_limits(&data[..], buf, max + 8), |m| match m {
            Ok(m) => {
                fits &= m.bytes.len() <= max;
                got.push(Fate::Message { stream: m.stream, start: m.start_offset, end: m.end_offset });
            }
            Err(e) => got.push(Fate::Malformed {
                start: e.line.start_offset, end: e.line.end_offset, error: e.error,
            }),
        }).unwrap();
        prop_assert!(fits);
        let (want, _) = model(&lines, framing);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(fr.pending_offset(), None);
        let s = fr.stats();
        prop_assert_eq!(s.lines, lines.len() as u64);
        let bad = want.iter().filter(|f| matches!(f, Fate::Malformed { .. })).count();
        prop_assert_eq!(s.malformed.iter().sum::<u64>(), bad as u64);
        prop_assert_eq!(s.messages, (want.len() - bad) as u64);
    }

    /// With a multi-line rule the records are the joiner's business, but
    /// every line still ends up somewhere: malformed, or inside the span of
    /// an emitted message of its own stream; and each stream's messages
    /// follow one another without overlapping.
    #[test]
    fn every_line_accounted_for_when_joining(
        data in framed_noise(),
        framing in prop_oneof![
            Just(None), Just(Some(Framing::Raw)), Just(Some(Framing::Cri)),
            Just(Some(Framing::Docker))],
        buf in 1usize..40,
        max in 1usize..64,
    ) {
        let mut lines = Vec::new();
        let mut rdr = LineReader::with_limits(&data[..], buf, max + 8);
        let mut keep = |l: RawLine<'_>| lines.push(Line {
            bytes: l.bytes.to_vec(), start: l.start_offset, end: l.end_offset,
        });
        while rdr.next_batch(&mut keep).unwrap() {}
        rdr.finish(&mut keep);
        let (_, streams) = model(&lines, framing);

        let starts: RecordStart = |l| l.first() == Some(&b'[');
        let mut fr = Framer::new(FrameConfig { max_line_bytes: max, framing }, Some(starts));
        let mut spans: [Vec<(u64, u64)>; 3] = Default::default();
        let mut bad = Vec::new();
        fr.read_all(&mut LineReader::with_limits(&data[..], buf, max + 8), |m| match m {
            Ok(m) => spans[m.stream as usize].push((m.start_offset, m.end_offset)),
            Err(e) => bad.push(e.line.start_offset),
        }).unwrap();
        prop_assert_eq!(fr.pending_offset(), None);
        for s in &mut spans {
            s.sort_unstable();
            prop_assert!(s.windows(2).all(|w| w[0].1 <= w[1].0), "overlap: {:?}", s);
        }
        for (l, stream) in lines.iter().zip(&streams) {
            match stream {
                None => prop_assert!(bad.contains(&l.start)),
                Some(st) => prop_assert!(
                    spans[*st as usize].iter().any(|&(s, e)| s <= l.start && l.end <= e),
                    "line {}..{} of {:?} in no message", l.start, l.end, st
                ),
            }
        }
    }
}
