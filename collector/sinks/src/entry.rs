//! A record as the log sinks see it: the line as written (container framing
//! removed), its event time, its site, and the fields a sink may make a
//! label or structured metadata. Built once per record by the caller and
//! offered to every log sink; it borrows everything.

use sitepulse_pipeline::driver::Origin;
use sitepulse_pipeline::record::{Level, Record};

/// Names a sink's `labels:` and `structured_metadata:` may use.
pub const FIELDS: &[&str] = &[
    "site",
    "source",
    "level",
    "namespace",
    "node",
    "pod",
    "container",
    "stream",
    "file",
    "method",
    "path",
    "status",
    "duration_ms",
    "host",
    "client",
    "pool",
    "trace_id",
];

/// A field of [`FIELDS`], resolved once from its name (sinks look fields
/// up per record; matching names there would cost a string compare each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Site,
    Source,
    Level,
    Namespace,
    Node,
    Pod,
    Container,
    Stream,
    File,
    Method,
    Path,
    Status,
    DurationMs,
    Host,
    Client,
    Pool,
    TraceId,
}

impl Field {
    /// The field named `name`, if it is one of [`FIELDS`].
    pub fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "site" => Field::Site,
            "source" => Field::Source,
            "level" => Field::Level,
            "namespace" => Field::Namespace,
            "node" => Field::Node,
            "pod" => Field::Pod,
            "container" => Field::Container,
            "stream" => Field::Stream,
            "file" => Field::File,
            "method" => Field::Method,
            "path" => Field::Path,
            "status" => Field::Status,
            "duration_ms" => Field::DurationMs,
            "host" => Field::Host,
            "client" => Field::Client,
            "pool" => Field::Pool,
            "trace_id" => Field::TraceId,
            _ => return None,
        })
    }
}

/// One record, ready for a log sink.
#[derive(Debug, Clone, Copy)]
pub struct LogEntry<'a> {
    /// Event time, Unix nanoseconds.
    pub ts_ns: i64,
    /// The message as written (a joined multi-line record's lines joined
    /// with `\n`).
    pub line: &'a [u8],
    pub site: &'a str,
    /// The format that parsed it (`traefik_json`, `text`, ...).
    pub source: &'static str,
    pub level: Level,
    pub node: &'a str,
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
    /// `stdout`/`stderr`, empty for plain files.
    pub stream: &'static str,
    pub file: &'a str,
    /// File offset just after the record: with the file, its dedup key.
    pub end_offset: u64,
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub status: u16,
    pub duration_ns: Option<u64>,
    pub host: &'a [u8],
    pub client: &'a [u8],
    pub pool: &'a [u8],
    /// W3C trace id (32 hex digits), when the line carries one.
    pub trace_id: &'a [u8],
}

impl<'a> LogEntry<'a> {
    /// The entry of a record the pipeline hands its observer. A line with
    /// no time of its own (nor the container runtime's) is stamped with the
    /// second it was counted in.
    pub fn of(
        origin: &'a Origin<'a>,
        rec: &'a Record<'a>,
        site: &'a str,
        node: &'a str,
    ) -> LogEntry<'a> {
        let pod = origin.pod;
        let stream = match origin.message.stream {
            sitepulse_pipeline::frame::Stream::Unknown => "",
            s => s.name(),
        };
        LogEntry {
            ts_ns: rec
                .ts_ns
                .or(origin.message.ts_ns)
                .unwrap_or(origin.event_sec.saturating_mul(1_000_000_000)),
            line: origin.message.bytes,
            site,
            source: rec.source.name(),
            level: rec.level,
            node,
            namespace: pod.map_or("", |p| p.namespace.as_str()),
            pod: pod.map_or("", |p| p.pod.as_str()),
            container: pod.map_or("", |p| p.container.as_str()),
            stream,
            file: origin.name,
            end_offset: origin.message.end_offset,
            method: rec.method,
            path: rec.path,
            status: rec.status,
            duration_ns: rec.duration_ns,
            host: rec.host,
            client: rec.client,
            pool: rec.pool,
            trace_id: rec.trace_id,
        }
    }

    /// The level a sink labels with: the line's own, else for an access
    /// log line its status class (5xx `error`, 4xx `warn`, else `info`),
    /// else `unknown` (Loki's `detected_level` word for no level).
    pub fn level_name(&self) -> &'static str {
        match self.level {
            Level::None if self.status >= 500 => "error",
            Level::None if self.status >= 400 => "warn",
            Level::None if self.status > 0 => "info",
            Level::None => "unknown",
            l => l.name(),
        }
    }

    /// The value of a field of [`FIELDS`], appended to `out`; `false` when
    /// the entry has no value for it (the field is then left out).
    pub fn field(&self, name: &str, out: &mut String) -> bool {
        Field::from_name(name).is_some_and(|f| self.value(f, out))
    }

    /// The value of `f`, appended to `out`; `false` when the entry has
    /// none.
    pub fn value(&self, f: Field, out: &mut String) -> bool {
        let start = out.len();
        let bytes = |out: &mut String, b: &[u8]| match std::str::from_utf8(b) {
            Ok(s) => out.push_str(s),
            Err(_) => out.push_str(&String::from_utf8_lossy(b)),
        };
        match f {
            Field::Site => out.push_str(self.site),
            Field::Source => out.push_str(self.source),
            Field::Level => out.push_str(self.level_name()),
            Field::Namespace => out.push_str(self.namespace),
            Field::Node => out.push_str(self.node),
            Field::Pod => out.push_str(self.pod),
            Field::Container => out.push_str(self.container),
            Field::Stream => out.push_str(self.stream),
            Field::File => out.push_str(self.file),
            Field::Method => bytes(out, self.method),
            Field::Path => bytes(out, self.path),
            Field::Status => {
                if self.status > 0 {
                    let mut b = [0u8; 5];
                    let mut n = self.status;
                    let mut i = b.len();
                    while n > 0 {
                        i -= 1;
                        b[i] = b'0' + (n % 10) as u8;
                        n /= 10;
                    }
                    out.push_str(std::str::from_utf8(&b[i..]).unwrap_or_default());
                }
            }
            Field::DurationMs => {
                if let Some(d) = self.duration_ns {
                    use std::fmt::Write as _;
                    let _ = write!(out, "{}", d as f64 / 1e6);
                }
            }
            Field::Host => bytes(out, self.host),
            Field::Client => bytes(out, self.client),
            Field::Pool => bytes(out, self.pool),
            Field::TraceId => bytes(out, self.trace_id),
        }
        out.len() > start
    }
}
