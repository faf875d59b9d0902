//! Any bytes through the fpm_error parser: never panics, and what it accepts
//! borrows only from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = sitepulse_pipeline::parse::fpm_error::parse(data) {
        let range = data.as_ptr_range();
        for field in [
            rec.client,
            rec.method,
            rec.path,
            rec.host,
            rec.router,
            rec.message,
        ] {
            assert!(field.is_empty() || range.contains(&field.as_ptr()));
        }
    }
});
