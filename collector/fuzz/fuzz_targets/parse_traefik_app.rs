//! Any bytes through the Traefik application-log parser: never panics, and
//! what it accepts borrows only from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = sitepulse_pipeline::parse::traefik_app::parse(data) {
        let range = data.as_ptr_range();
        for field in [rec.level_raw, rec.message, rec.router, rec.service, rec.attrs] {
            assert!(field.is_empty() || range.contains(&field.as_ptr()));
        }
    }
});
