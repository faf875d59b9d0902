//! Any line: the fallback that makes every line a record.

use crate::record::{LogFormat, Record};

/// A `text` record for any bytes.
pub fn parse(line: &[u8]) -> Record<'_> {
    Record {
        source: LogFormat::Text,
        message: super::trim_eol(line),
        ..Record::default()
    }
}
