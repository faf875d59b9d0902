//! Any bytes through the `text` parser (the fallback every line may take):
//! never panics, always a record, and its fields borrow only from the
//! input; any bytes through the auto multi-line rule never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sitepulse_pipeline::frame::{LineState, Multiline};

fuzz_target!(|data: &[u8]| {
    let rec = sitepulse_pipeline::parse::text::parse(data);
    let range = data.as_ptr_range();
    for field in [rec.level_raw, rec.message, rec.attrs] {
        assert!(field.is_empty() || range.contains(&field.as_ptr()));
    }
    let mut st = LineState::default();
    for line in data.split(|&b| b == b'\n') {
        let _ = Multiline::Auto.starts(&mut st, line, true);
    }
});
