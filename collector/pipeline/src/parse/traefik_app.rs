//! Traefik's own application log (`log:` section; not the access log), in
//! its two forms: the default common (logfmt-like) form and `format: json`.

use crate::field::ParseError;
use crate::record::Record;

/// Parses one line of Traefik's application log.
///
/// # Errors
/// [`ParseError::Format`] for a line of any other shape.
pub fn parse(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let _ = line;
    Err(ParseError::Format)
}
