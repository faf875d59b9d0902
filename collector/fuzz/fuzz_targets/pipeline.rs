//! Any bytes through the whole hot path (framing and format detection,
//! every framing, joining, labelling, aggregation): never panics, and no
//! physical line yields more than one record or unparsed entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sitepulse_pipeline::{FramingChoice, NoObserver, Pipeline, PipelineConfig};

fuzz_target!(|data: &[u8]| {
    for framing in [FramingChoice::Auto, FramingChoice::Cri, FramingChoice::Docker] {
        let mut cfg = PipelineConfig::default();
        cfg.parse.framing = framing;
        cfg.parse.max_line_bytes = 1024;
        let mut p = Pipeline::new(&cfg, 1_796_083_200).unwrap();
        let r = p.process("fuzz", None, data, &mut NoObserver, &mut |_| {}).unwrap();
        assert!(r.records + r.unparsed_total() <= r.lines);
    }
});
