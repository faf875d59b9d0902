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
