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
