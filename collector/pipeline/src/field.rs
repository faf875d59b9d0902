//! Why a line was not accepted: which [`Field`] failed and how, as a tiny
//! `Copy` error every scanner and parser returns (bad lines are normal
//! input, so an error costs no allocation or formatting).

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
    /// The container log framing (CRI, Docker) around the line is broken.
    Framing,
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
            Field::Framing => "framing",
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
                    Field::Framing => concat!($prefix, "framing"),
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
