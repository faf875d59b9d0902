//! Any bytes through the whole hot path (line splitting, framing and format
//! detection, every framing, joining, labelling, aggregation): never
//! panics, and no physical line yields more than one record or unparsed
//! entry.
//!
//! Speed: building a [`Pipeline`] compiles the labeler's regexes and
//! `Pipeline::process` zeroes a fresh 1 MiB read buffer, which together
//! cost milliseconds per input under ASan. So each framing's pipeline is
//! built once and cloned per input (a clone of an empty pipeline is a
//! fresh one: no state carries over between inputs), and the input is read
//! the way `process` reads it but through a small buffer (so lines also
//! cross reads; `LineReader`'s own tests show the buffer size changes
//! nothing).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sitepulse_pipeline::frame::LineReader;
use sitepulse_pipeline::{FramingChoice, NoObserver, Pipeline, PipelineConfig};

/// 2026-12-01T00:00:00Z, the wall clock the pipelines are built with.
const NOW: i64 = 1_796_083_200;
/// Small, so that over-long lines are cut and counted.
const MAX_LINE_BYTES: usize = 1024;
/// The read buffer: small, so that lines of longer inputs cross reads.
const BUFFER_BYTES: usize = 1024;
/// `Pipeline::process` detects from at most this many leading bytes.
const SNIFF_BYTES: usize = 64 * 1024;

/// One empty pipeline per framing, built on the first input.
fn pipelines() -> &'static [Pipeline; 3] {
    static PIPELINES: OnceLock<[Pipeline; 3]> = OnceLock::new();
    PIPELINES.get_or_init(|| {
        [
            FramingChoice::Auto,
            FramingChoice::Cri,
            FramingChoice::Docker,
        ]
        .map(|framing| {
            let mut cfg = PipelineConfig::default();
            cfg.parse.framing = framing;
            cfg.parse.max_line_bytes = MAX_LINE_BYTES;
            Pipeline::new(&cfg, NOW).unwrap()
        })
    })
}

/// What `Pipeline::process` does with `data`, with a small read buffer
/// instead of a fresh 1 MiB one.
fn run(empty: &Pipeline, data: &[u8]) {
    let mut p = empty.clone();
    let prefix = &data[..data.len().min(SNIFF_BYTES)];
    let mut feed = p.open_feed("fuzz", None, prefix, prefix.len() < SNIFF_BYTES);
    let mut reader = LineReader::with_limits(data, BUFFER_BYTES, MAX_LINE_BYTES);
    // Reading a slice cannot fail.
    while reader
        .next_batch(|line| p.feed(&mut feed, line, &mut NoObserver))
        .unwrap()
    {}
    reader.finish(|line| p.feed(&mut feed, line, &mut NoObserver));
    p.flush(&mut feed, &mut NoObserver);
    let r = feed.report();
    assert_eq!(r.lines, reader.stats().lines);
    assert!(r.records + r.unparsed_total() <= r.lines);
}

fuzz_target!(|data: &[u8]| {
    for empty in pipelines() {
        run(empty, data);
    }
});
