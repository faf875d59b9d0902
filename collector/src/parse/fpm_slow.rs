//! Placeholder: being written.

use crate::parse::ParseError;
use crate::record::Record;

/// Parses one line.
///
/// # Errors
/// [`ParseError`] for anything that is not this format.
pub fn parse(_line: &[u8]) -> Result<Record<'_>, ParseError> {
    Err(ParseError::Format)
}

/// Whether `line` starts a new record.
pub fn starts_record(_line: &[u8]) -> bool {
    true
}
