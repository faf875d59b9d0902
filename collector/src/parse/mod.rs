//! Parsers, one module per log format. Each exposes
//! `fn parse(line: &[u8]) -> Result<Record<'_>, ParseError>` that borrows
//! from the line and never panics on any bytes; this module adds per-file
//! format detection and dispatch.

#[cfg(test)]
pub(crate) mod test_support;

pub mod fpm_access;
pub mod fpm_error;
pub mod fpm_slow;
pub mod json;
pub mod nginx;
pub mod time;
pub mod traefik_clf;
pub mod traefik_json;
pub mod wordpress;

use crate::record::{Record, Source};

/// Which field of a line failed to parse. Kept as a small `Copy` enum so a
/// bad line costs no allocation or formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Client,
    User,
    Time,
    Request,
    Method,
    Path,
    Protocol,
    Status,
    Bytes,
    Referer,
    UserAgent,
    Count,
    Router,
    ServiceUrl,
    Duration,
    Host,
    Level,
    Pool,
    Pid,
    Message,
    Memory,
    Cpu,
    Script,
    /// A JSON document that is not a well-formed object.
    Json,
    /// Something after the last expected field.
    Trailing,
}

impl Field {
    /// Snake-case name for summaries.
    pub fn name(self) -> &'static str {
        match self {
            Field::Client => "client",
            Field::User => "user",
            Field::Time => "time",
            Field::Request => "request",
            Field::Method => "method",
            Field::Path => "path",
            Field::Protocol => "protocol",
            Field::Status => "status",
            Field::Bytes => "bytes",
            Field::Referer => "referer",
            Field::UserAgent => "user_agent",
            Field::Count => "count",
            Field::Router => "router",
            Field::ServiceUrl => "service_url",
            Field::Duration => "duration",
            Field::Host => "host",
            Field::Level => "level",
            Field::Pool => "pool",
            Field::Pid => "pid",
            Field::Message => "message",
            Field::Memory => "memory",
            Field::Cpu => "cpu",
            Field::Script => "script",
            Field::Json => "json",
            Field::Trailing => "trailing",
        }
    }
}

/// Why a line was not parsed. Bad lines are normal input: this is `Copy`,
/// and the raw line stays with the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParseError {
    /// The line is empty or only whitespace.
    Empty,
    /// The line does not have this format's shape at all (wrong format).
    Format,
    /// The line has this format's shape but `field` is malformed; `at` is the
    /// byte offset in the line where the problem was seen.
    BadField { field: Field, at: u32 },
    /// The line ends before the format's mandatory fields do.
    Truncated { field: Field },
}

impl ParseError {
    /// A stable reason label for counters: `empty`, `format`, `bad_status`,
    /// `truncated_time`, ...
    pub fn reason(self) -> &'static str {
        macro_rules! by_field {
            ($prefix:literal, $f:expr) => {
                match $f {
                    Field::Client => concat!($prefix, "client"),
                    Field::User => concat!($prefix, "user"),
                    Field::Time => concat!($prefix, "time"),
                    Field::Request => concat!($prefix, "request"),
                    Field::Method => concat!($prefix, "method"),
                    Field::Path => concat!($prefix, "path"),
                    Field::Protocol => concat!($prefix, "protocol"),
                    Field::Status => concat!($prefix, "status"),
                    Field::Bytes => concat!($prefix, "bytes"),
                    Field::Referer => concat!($prefix, "referer"),
                    Field::UserAgent => concat!($prefix, "user_agent"),
                    Field::Count => concat!($prefix, "count"),
                    Field::Router => concat!($prefix, "router"),
                    Field::ServiceUrl => concat!($prefix, "service_url"),
                    Field::Duration => concat!($prefix, "duration"),
                    Field::Host => concat!($prefix, "host"),
                    Field::Level => concat!($prefix, "level"),
                    Field::Pool => concat!($prefix, "pool"),
                    Field::Pid => concat!($prefix, "pid"),
                    Field::Message => concat!($prefix, "message"),
                    Field::Memory => concat!($prefix, "memory"),
                    Field::Cpu => concat!($prefix, "cpu"),
                    Field::Script => concat!($prefix, "script"),
                    Field::Json => concat!($prefix, "json"),
                    Field::Trailing => concat!($prefix, "trailing"),
                }
            };
        }
        match self {
            ParseError::Empty => "empty",
            ParseError::Format => "format",
            ParseError::BadField { field, .. } => by_field!("bad_", field),
            ParseError::Truncated { field } => by_field!("truncated_", field),
        }
    }

    /// Shorthand for [`ParseError::BadField`].
    pub fn bad(field: Field, at: usize) -> ParseError {
        ParseError::BadField {
            field,
            at: u32::try_from(at).unwrap_or(u32::MAX),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty line"),
            ParseError::Format => f.write_str("line is not in this format"),
            ParseError::BadField { field, at } => {
                write!(f, "bad {} field at byte {at}", field.name())
            }
            ParseError::Truncated { field } => {
                write!(f, "line ends before the {} field", field.name())
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one line (or one joined multi-line block) as `source`.
///
/// # Errors
/// The parser's [`ParseError`]; never panics on any bytes.
///
/// # Performance
/// A `match` and a direct call; the parsers allocate nothing.
#[inline]
pub fn parse(source: Source, line: &[u8]) -> Result<Record<'_>, ParseError> {
    match source {
        Source::TraefikClf => traefik_clf::parse(line),
        Source::TraefikJson => traefik_json::parse(line),
        Source::Nginx => nginx::parse(line),
        Source::FpmError => fpm_error::parse(line),
        Source::FpmSlow => fpm_slow::parse(line),
        Source::FpmAccess => fpm_access::parse(line),
        Source::WordPress => wordpress::parse(line),
    }
}

/// Whether `line` starts a new record of a multi-line `source` (a line that
/// does not is a continuation of the previous record). For single-line
/// sources every line starts a record.
pub fn starts_record(source: Source, line: &[u8]) -> bool {
    match source {
        Source::FpmSlow => fpm_slow::starts_record(line),
        Source::WordPress => wordpress::starts_record(line),
        _ => true,
    }
}

/// Detects the format of a file from its first lines: each candidate parses
/// the sample and the one that accepts the most lines wins (ties go to nginx,
/// then the order of [`Source::ALL`]). Returns `None` when no parser accepts
/// any line.
///
/// Multi-line formats are tried on the sample split at record starts, so a
/// slow-log block or a stack trace counts as one accepted record.
pub fn detect<'a>(lines: impl IntoIterator<Item = &'a [u8]> + Clone) -> Option<Source> {
    // Plain `combined` lines are both nginx and Traefik's genericCLF; on a
    // tie, call them nginx (full Traefik CLF lines fail the nginx parser on
    // their router/service tail, so Traefik still wins when it is Traefik).
    const ORDER: [Source; 7] = [
        Source::Nginx,
        Source::TraefikClf,
        Source::TraefikJson,
        Source::FpmError,
        Source::FpmSlow,
        Source::FpmAccess,
        Source::WordPress,
    ];
    let mut best: Option<(Source, usize)> = None;
    for source in ORDER {
        let mut ok = 0usize;
        if source.is_multiline() {
            // Join physical lines into blocks the way the framer will.
            let mut block: Vec<u8> = Vec::new();
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            for line in lines.clone() {
                if starts_record(source, line) && !block.is_empty() {
                    blocks.push(std::mem::take(&mut block));
                }
                if !block.is_empty() {
                    block.push(b'\n');
                }
                block.extend_from_slice(line);
            }
            if !block.is_empty() {
                blocks.push(block);
            }
            ok = blocks.iter().filter(|b| parse(source, b).is_ok()).count();
        } else {
            for line in lines.clone() {
                if parse(source, line).is_ok() {
                    ok += 1;
                }
            }
        }
        if ok > 0 && best.is_none_or(|(_, n)| ok > n) {
            best = Some((source, ok));
        }
    }
    best.map(|(s, _)| s)
}
