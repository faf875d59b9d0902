//! The parsed form of one log record, shared by every parser and every later
//! stage. A [`Record`] borrows all of its text from the line it was parsed
//! from, so parsing allocates nothing; a sink that needs owned bytes copies.

/// Which parser produced a record (and which format a file was detected as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Traefik access log, Common Log Format flavour.
    #[default]
    TraefikClf,
    /// Traefik access log, JSON flavour.
    TraefikJson,
    /// nginx `combined`, optionally with `$request_time` and/or `$host` appended.
    Nginx,
    /// PHP-FPM master error log.
    FpmError,
    /// PHP-FPM slow log (one multi-line block per record).
    FpmSlow,
    /// PHP-FPM access log (`access.format`).
    FpmAccess,
    /// WordPress / PHP `debug.log` (multi-line with `Stack trace:`).
    #[serde(rename = "wordpress")]
    WordPress,
    /// Traefik's own application log (logfmt or JSON), not its access log.
    TraefikApp,
    /// Any other line: plain text, logfmt, JSON, klog, stack traces. Never
    /// fails to parse; time and level are found where a common shape has
    /// them. Also what a line of a known format that does not parse
    /// becomes (with [`Record::error`] set), so every line is a record.
    Text,
}

impl LogFormat {
    /// Every source, in a stable order (used for detection and summaries).
    pub const ALL: [LogFormat; 9] = [
        LogFormat::TraefikClf,
        LogFormat::TraefikJson,
        LogFormat::Nginx,
        LogFormat::FpmError,
        LogFormat::FpmSlow,
        LogFormat::FpmAccess,
        LogFormat::WordPress,
        LogFormat::TraefikApp,
        LogFormat::Text,
    ];

    /// The name used in config files and in `parse` output.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::TraefikClf => "traefik_clf",
            LogFormat::TraefikJson => "traefik_json",
            LogFormat::Nginx => "nginx",
            LogFormat::FpmError => "fpm_error",
            LogFormat::FpmSlow => "fpm_slow",
            LogFormat::FpmAccess => "fpm_access",
            LogFormat::WordPress => "wordpress",
            LogFormat::TraefikApp => "traefik_app",
            LogFormat::Text => "text",
        }
    }

    /// Looks a source up by its [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<LogFormat> {
        LogFormat::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether records of this source span several physical lines, so the
    /// framer must join continuation lines before parsing.
    pub fn is_multiline(self) -> bool {
        matches!(
            self,
            LogFormat::FpmSlow | LogFormat::WordPress | LogFormat::Text
        )
    }

    /// Whether this source describes HTTP requests (feeds request metrics).
    pub fn is_access(self) -> bool {
        matches!(
            self,
            LogFormat::TraefikClf
                | LogFormat::TraefikJson
                | LogFormat::Nginx
                | LogFormat::FpmAccess
        )
    }
}

/// Severity of a record, normalised; the level as written stays in
/// [`Record::level_raw`]. Maps onto the OpenTelemetry log data model's
/// SeverityNumber ([`severity_number`](Self::severity_number)), which Loki's
/// detected level and every OTLP backend understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub enum Level {
    /// No level on the line (access logs, plain text without one).
    #[default]
    None,
    Trace,
    Debug,
    Info,
    /// syslog/PHP/FPM NOTICE: normal but significant.
    Notice,
    Warning,
    Error,
    /// syslog CRITICAL / CRIT.
    Critical,
    /// syslog / FPM ALERT: action must be taken at once.
    Alert,
    /// syslog EMERGENCY / EMERG.
    Emergency,
    /// FATAL / PANIC; PHP `Fatal error`, `Parse error`.
    Fatal,
}

impl Level {
    /// Lower-case name used in `parse` output; empty for [`Level::None`].
    pub fn name(self) -> &'static str {
        match self {
            Level::None => "",
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
            Level::Alert => "alert",
            Level::Emergency => "emergency",
            Level::Fatal => "fatal",
        }
    }

    /// OpenTelemetry SeverityNumber (logs data model, "Field: SeverityNumber";
    /// the syslog levels follow the mapping of opentelemetry-php's PSR-3
    /// mapper: NOTICE = INFO2, CRITICAL = ERROR2, ALERT = FATAL,
    /// EMERGENCY = FATAL2); 0 (UNSPECIFIED) for [`Level::None`].
    pub fn severity_number(self) -> u8 {
        match self {
            Level::None => 0,
            Level::Trace => 1,
            Level::Debug => 5,
            Level::Info => 9,
            Level::Notice => 10,
            Level::Warning => 13,
            Level::Error => 17,
            Level::Critical => 18,
            Level::Alert => 21,
            Level::Emergency => 22,
            Level::Fatal => 21,
        }
    }

    /// The OpenTelemetry short name of [`severity_number`](Self::severity_number)
    /// (`TRACE`, `DEBUG`, `INFO`, `INFO2`, `WARN`, `ERROR`, `ERROR2`, `FATAL`,
    /// `FATAL2`); empty for [`Level::None`].
    pub fn severity_text(self) -> &'static str {
        match self {
            Level::None => "",
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Notice => "INFO2",
            Level::Warning => "WARN",
            Level::Error => "ERROR",
            Level::Critical => "ERROR2",
            Level::Alert | Level::Fatal => "FATAL",
            Level::Emergency => "FATAL2",
        }
    }

    /// Reads a level word as programs write it, in any case: `E`/`ERR`/
    /// `error`, `WARN`/`warning`, `I`/`INFO`, `dbg`, `crit`, `emerg`,
    /// `panic`, `fatal`, `notice`, `trace`, `alert`, `severe`/`fine` (Java),
    /// and PHP's `Fatal error`-style words are not handled here. `None`
    /// for anything else.
    ///
    /// # Performance
    /// A length switch and a case-insensitive compare; no allocation.
    pub fn from_word(w: &[u8]) -> Option<Level> {
        let mut b = [0u8; 11];
        if w.is_empty() || w.len() > b.len() {
            return None;
        }
        for (d, s) in b.iter_mut().zip(w) {
            *d = s.to_ascii_lowercase();
        }
        Some(match &b[..w.len()] {
            b"trace" | b"trc" | b"finest" | b"finer" | b"verbose" => Level::Trace,
            b"debug" | b"dbg" | b"debu" | b"fine" | b"d" => Level::Debug,
            b"info" | b"inf" | b"information" | b"informational" | b"i" | b"config" => Level::Info,
            b"notice" | b"note" | b"n" => Level::Notice,
            b"warn" | b"warning" | b"wrn" | b"w" => Level::Warning,
            b"error" | b"err" | b"eror" | b"e" | b"severe" => Level::Error,
            b"crit" | b"critical" | b"c" => Level::Critical,
            b"alert" | b"a" => Level::Alert,
            b"emerg" | b"emergency" => Level::Emergency,
            b"fatal" | b"panic" | b"dpanic" | b"f" | b"ftl" => Level::Fatal,
            _ => return None,
        })
    }
}

/// A recognised event, typed so the aggregator can count it without looking
/// at the message text again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Event {
    /// Nothing specific recognised (plain access line, unclassified message).
    #[default]
    None,
    /// FPM: `server reached pm.max_children setting (N), consider raising it`.
    MaxChildrenReached,
    /// FPM: `seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers)`.
    SeemsBusy,
    /// FPM: `child N exited with code C`.
    ChildExited,
    /// FPM: `child N exited on signal S` (SIGKILL, SIGTERM, SIGSEGV...; a
    /// graceful SIGQUIT is [`Event::ChildExited`]). A request timeout shows
    /// as [`Event::RequestTimeout`] followed by this line, so terminations
    /// are counted once, here.
    ChildTerminated,
    /// FPM: `child N, script '...' (request: ...) execution timed out (T sec), terminating`.
    RequestTimeout,
    /// FPM error log: `child N, script '...' executing too slow (T sec), logging`.
    SlowRequest,
    /// FPM slow log: the stack trace block that goes with a
    /// [`Event::SlowRequest`] line of the error log (not counted again).
    SlowTrace,
    /// FPM: `child N started`.
    ChildStarted,
    /// FPM: other notices (`fpm is running`, `ready to handle connections`, reloads).
    Lifecycle,
    /// PHP Fatal error / Parse error / uncaught exception.
    PhpFatal,
    /// PHP Warning.
    PhpWarning,
    /// PHP Notice.
    PhpNotice,
    /// PHP Deprecated.
    PhpDeprecated,
    /// WordPress database error (`WordPress database error ... for query ...`).
    DatabaseError,
}

impl Event {
    /// Snake-case name used in `parse` output; empty for [`Event::None`].
    pub fn name(self) -> &'static str {
        match self {
            Event::None => "",
            Event::MaxChildrenReached => "max_children_reached",
            Event::SeemsBusy => "seems_busy",
            Event::ChildExited => "child_exited",
            Event::ChildTerminated => "child_terminated",
            Event::RequestTimeout => "request_timeout",
            Event::SlowRequest => "slow_request",
            Event::SlowTrace => "slow_trace",
            Event::ChildStarted => "child_started",
            Event::Lifecycle => "lifecycle",
            Event::PhpFatal => "php_fatal",
            Event::PhpWarning => "php_warning",
            Event::PhpNotice => "php_notice",
            Event::PhpDeprecated => "php_deprecated",
            Event::DatabaseError => "database_error",
        }
    }
}

/// One parsed log record. Text fields borrow from the parsed line and are
/// empty (`b""`) when the line does not carry them or carries `-`.
///
/// When [`json_escaped`](Self::json_escaped) is set, text fields are the raw
/// contents of JSON strings and may hold escapes (`\"`, `\u00e9`); use
/// [`crate::json::unescape`] before treating them as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record<'b> {
    /// The parser that produced this record.
    pub source: LogFormat,
    /// Event time from the line itself, Unix nanoseconds (UTC). `None` when
    /// the line has no timestamp (the pipeline then uses the container
    /// runtime's time, else the previous record's).
    pub ts_ns: Option<i64>,
    /// Client address (IPv4 or IPv6 as written).
    pub client: &'b [u8],
    /// Authenticated user.
    pub user: &'b [u8],
    /// HTTP method.
    pub method: &'b [u8],
    /// Request target (path and query).
    pub path: &'b [u8],
    /// HTTP protocol (`HTTP/1.1`).
    pub protocol: &'b [u8],
    /// HTTP status; 0 when absent.
    pub status: u16,
    /// Response body bytes; 0 when absent.
    pub bytes: u64,
    /// Request duration in nanoseconds, when the format records one.
    pub duration_ns: Option<u64>,
    /// Referer header.
    pub referer: &'b [u8],
    /// User-Agent header.
    pub user_agent: &'b [u8],
    /// Host header / virtual host.
    pub host: &'b [u8],
    /// Traefik router name (`websecure-site042-example-com@kubernetes`).
    pub router: &'b [u8],
    /// Traefik service name.
    pub service: &'b [u8],
    /// Traefik backend URL.
    pub service_url: &'b [u8],
    /// Traefik's per-instance request counter.
    pub request_count: u64,
    /// PHP-FPM pool name.
    pub pool: &'b [u8],
    /// Process id (FPM child / worker), 0 when absent.
    pub pid: u32,
    /// Severity, normalised (see [`Level`]).
    pub level: Level,
    /// The level as the line wrote it (`ALERT`, `Fatal error`, `W`,
    /// `warn`); empty when the line has none.
    pub level_raw: &'b [u8],
    /// Recognised event.
    pub event: Event,
    /// Message text (error logs) or the whole joined block (multi-line records).
    pub message: &'b [u8],
    /// Script file (FPM slow log `script_filename`, FPM access `%f`, PHP error file).
    pub script: &'b [u8],
    /// Peak memory in bytes (FPM access `%M`).
    pub memory_bytes: Option<u64>,
    /// CPU usage in percent (FPM access `%C`).
    pub cpu_pct: Option<f32>,
    /// Stack frames joined into this record (`#0 …`, `at …`, `File "…"`,
    /// Go `file.go:12`, slow-log frames); 0 when none.
    pub frames: u32,
    /// The line's other structured fields as written (a logfmt tail, a
    /// JSON object): what a sink ships as structured metadata. Empty when
    /// the line has none.
    pub attrs: &'b [u8],
    /// W3C trace id of the request (32 lowercase hex digits, see
    /// [`valid_trace_id`]): Traefik's `TraceId`/`trace_id` with tracing on,
    /// else the trace-id field of a kept `traceparent` request header.
    /// Empty when the line has none, or only an all-zero or malformed one.
    pub trace_id: &'b [u8],
    /// Set when the line did not parse as its file's format and became a
    /// [`LogFormat::Text`] record instead: which field failed and why.
    pub error: Option<crate::field::ParseError>,
    /// Text fields are raw JSON string contents (may contain escapes).
    pub json_escaped: bool,
}

impl Record<'_> {
    /// Duration in milliseconds, for display.
    pub fn duration_ms(&self) -> Option<f64> {
        self.duration_ns.map(|ns| ns as f64 / 1e6)
    }
}

/// Whether `id` is a valid W3C trace id: 32 lowercase hex digits, not all
/// zero (W3C Trace Context, "trace-id":
/// <https://www.w3.org/TR/trace-context/#trace-id>; OpenTelemetry's
/// `TraceID.String()`, which Traefik writes, is lowercase too).
///
/// # Performance
/// One branch-free pass over 32 bytes (about 60 instructions), no
/// allocation.
pub fn valid_trace_id(id: &[u8]) -> bool {
    id.len() == 32 && lower_hex(id) && id.iter().any(|&c| c != b'0')
}

/// The trace id of a W3C `traceparent` value
/// (`00-<trace-id>-<parent-id>-<flags>`), checked as the spec's
/// "Versioning of traceparent" asks (<https://www.w3.org/TR/trace-context/#versioning-of-traceparent>):
/// a version of two lowercase hex digits other than `ff`; version `00`
/// exactly 55 bytes, a later version at least 55 with a `-` after the
/// flags when longer; a valid trace id; a parent id of 16 lowercase hex
/// digits, not all zero; flags of two. `None` for anything else (several
/// headers joined with `,` included).
///
/// # Performance
/// Slice comparisons over at most 55 bytes; the result borrows `value`.
pub fn traceparent_trace_id(value: &[u8]) -> Option<&[u8]> {
    let head = value.get(..55)?;
    let version = &head[..2];
    if !lower_hex(version) || version == b"ff" {
        return None;
    }
    let more = value.len() > 55;
    if more && (version == b"00" || value[55] != b'-') {
        return None;
    }
    if head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
        return None;
    }
    let (id, parent, flags) = (&head[3..35], &head[36..52], &head[53..]);
    let ok = valid_trace_id(id)
        && lower_hex(parent)
        && parent.iter().any(|&c| c != b'0')
        && lower_hex(flags);
    ok.then_some(id)
}

/// The 16 bytes of a trace id [`valid_trace_id`] accepts; `None` for any
/// other text.
pub fn trace_id_bytes(id: &[u8]) -> Option<[u8; 16]> {
    if !valid_trace_id(id) {
        return None;
    }
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(id.chunks_exact(2)) {
        *o = (hex_val(pair[0]) << 4) | hex_val(pair[1]);
    }
    Some(out)
}

/// A trace id's 32 lowercase hex digits, as [`trace_id_bytes`] read them.
pub fn trace_id_hex(id: &[u8; 16]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (o, b) in out.chunks_exact_mut(2).zip(id) {
        o[0] = DIGITS[usize::from(b >> 4)];
        o[1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

/// Whether every byte is a lowercase hex digit. No early exit, so the
/// compiler vectorises it.
fn lower_hex(b: &[u8]) -> bool {
    b.iter().fold(true, |ok, &c| {
        ok & ((c.wrapping_sub(b'0') < 10) | (c.wrapping_sub(b'a') < 6))
    })
}

/// A lowercase hex digit's value (callers check first): the low four bits,
/// plus 9 for a letter (`a` is 0x61). Branch-free.
fn hex_val(c: u8) -> u8 {
    (c & 0x0f) + 9 * (c >> 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of W3C Trace Context, section "traceparent Header".
    #[test]
    fn traceparent_values() {
        let id = &b"4bf92f3577b34da6a3ce929d0e0e4736"[..];
        for v in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            // A later version may append fields after a `-`.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
        ] {
            assert_eq!(traceparent_trace_id(v.as_bytes()), Some(id), "{v}");
        }
        for v in [
            "",
            "00",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x",
            "REDACTED",
            // Two headers, joined as Traefik joins a header's values.
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(traceparent_trace_id(v.as_bytes()), None, "{v}");
        }
    }

    #[test]
    fn trace_id_round_trip() {
        let hex = b"0af7651916cd43dd8448eb211c80319c";
        let bytes = trace_id_bytes(hex).unwrap();
        assert_eq!(bytes[..3], [0x0a, 0xf7, 0x65]);
        assert_eq!(&trace_id_hex(&bytes), hex);
        assert!(trace_id_bytes(&[b'0'; 32]).is_none());
        assert!(trace_id_bytes(b"0af7651916cd43dd8448eb211c80319").is_none());
        assert!(trace_id_bytes(b"0af7651916cd43dd8448eb211c80319C").is_none());
        assert!(!valid_trace_id(b""));
    }
}
