//! OTLP log records written by hand, straight from borrowed entries into
//! per-resource buffers (no allocation per record once a resource's buffer
//! has grown), and sealed into an `ExportLogsServiceRequest` frame: one
//! `ResourceLogs` per resource (pod, container, node), one `ScopeLogs`
//! (scope `sitepulse`) in each.
//!
//! Wire format: `opentelemetry/proto/collector/logs/v1/logs_service.proto`,
//! `logs/v1/logs.proto`, `common/v1/common.proto` and
//! `resource/v1/resource.proto` of open-telemetry/opentelemetry-proto
//! (the field numbers below), encoded by the protobuf rules
//! (<https://protobuf.dev/programming-guides/encoding/>); the tests decode
//! every frame with opentelemetry-proto's prost types. Attribute names
//! follow the semantic conventions (<https://opentelemetry.io/docs/specs/semconv/>:
//! `http.*`, `url.*`, `server.*`, `client.*`, `log.*`, `k8s.*`); the rest
//! are `sitepulse.*`.

use std::borrow::Cow;
use std::collections::HashMap;

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use sitepulse_pipeline::record::Level;

use super::config::OtlpConfig;
use crate::entry::LogEntry;

/// The instrumentation scope of every record and data point.
pub const SCOPE_NAME: &str = "sitepulse";

/// `service.name` unless `resource_attributes` sets one.
pub const SERVICE_NAME: &str = "sitepulse";

// Field numbers (the .proto files named above).
const REQUEST_RESOURCE_LOGS: u32 = 1;
const RESOURCE_LOGS_RESOURCE: u32 = 1;
const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
const SCOPE_LOGS_SCOPE: u32 = 1;
const SCOPE_LOGS_LOG_RECORDS: u32 = 2;
const SCOPE_NAME_FIELD: u32 = 1;
const SCOPE_VERSION_FIELD: u32 = 2;
const RESOURCE_ATTRIBUTES: u32 = 1;
const RECORD_TIME: u32 = 1;
const RECORD_SEVERITY_NUMBER: u32 = 2;
const RECORD_SEVERITY_TEXT: u32 = 3;
const RECORD_BODY: u32 = 5;
const RECORD_ATTRIBUTES: u32 = 6;
const RECORD_TRACE_ID: u32 = 9;
const RECORD_OBSERVED_TIME: u32 = 11;
const KV_KEY: u32 = 1;
const KV_VALUE: u32 = 2;
const ANY_STRING: u32 = 1;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;

/// Size of a length-delimited field of `n` bytes (every field number here
/// is below 16: a one-byte key).
fn ld_len(n: usize) -> usize {
    1 + encoded_len_varint(n as u64) + n
}

fn put_ld_head(out: &mut Vec<u8>, field: u32, n: usize) {
    encode_key(field, WireType::LengthDelimited, out);
    encode_varint(n as u64, out);
}

fn put_ld(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_ld_head(out, field, b.len());
    out.extend_from_slice(b);
}

fn put_fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    encode_key(field, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `KeyValue` with a string value, as field `field`.
pub(crate) fn put_kv_str(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    let any = ld_len(value.len());
    put_ld_head(out, field, ld_len(key.len()) + ld_len(any));
    put_ld(out, KV_KEY, key.as_bytes());
    put_ld_head(out, KV_VALUE, any);
    put_ld(out, ANY_STRING, value.as_bytes());
}

/// A `KeyValue` with an `int_value`.
fn put_kv_int(out: &mut Vec<u8>, field: u32, key: &str, value: i64) {
    let any = 1 + encoded_len_varint(value as u64);
    put_ld_head(out, field, ld_len(key.len()) + ld_len(any));
    put_ld(out, KV_KEY, key.as_bytes());
    put_ld_head(out, KV_VALUE, any);
    encode_key(ANY_INT, WireType::Varint, out);
    encode_varint(value as u64, out);
}

/// A `KeyValue` with a `double_value`.
fn put_kv_double(out: &mut Vec<u8>, field: u32, key: &str, value: f64) {
    put_ld_head(out, field, ld_len(key.len()) + ld_len(9));
    put_ld(out, KV_KEY, key.as_bytes());
    put_ld_head(out, KV_VALUE, 9);
    encode_key(ANY_DOUBLE, WireType::SixtyFourBit, out);
    out.extend_from_slice(&value.to_bits().to_le_bytes());
}

fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// The level a record is sent with: the line's own, else for an access
/// line its status class (as [`LogEntry::level_name`] names it: 5xx
/// error, 4xx warn, else info), else none (`SEVERITY_NUMBER_UNSPECIFIED`).
pub fn severity(e: &LogEntry<'_>) -> Level {
    match e.level {
        Level::None if e.status >= 500 => Level::Error,
        Level::None if e.status >= 400 => Level::Warning,
        Level::None if e.status > 0 => Level::Info,
        l => l,
    }
}

/// The 16 bytes of a W3C trace id written as 32 hex digits; `None` for
/// anything else and for the all-zero id (invalid, W3C Trace Context §3.2.2.3).
pub fn trace_id(hex: &[u8]) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut id = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        id[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    (id != [0; 16]).then_some(id)
}

/// `host[:port]` (or `[v6]:port`) split into `server.address` and
/// `server.port`.
fn split_host(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[')
        && let Some((addr, tail)) = rest.split_once(']')
    {
        return (addr, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match host.rsplit_once(':') {
        Some((addr, port)) if !addr.contains(':') => match port.parse() {
            Ok(p) => (addr, Some(p)),
            Err(_) => (host, None),
        },
        _ => (host, None),
    }
}

/// Appends one `ScopeLogs.log_records` field for `e` to `out`; `rec` is
/// scratch.
fn put_record(out: &mut Vec<u8>, rec: &mut Vec<u8>, e: &LogEntry<'_>, now_ms: u64) {
    rec.clear();
    put_fixed64(rec, RECORD_TIME, u64::try_from(e.ts_ns).unwrap_or(0));
    put_fixed64(rec, RECORD_OBSERVED_TIME, now_ms.saturating_mul(1_000_000));
    let level = severity(e);
    if level != Level::None {
        encode_key(RECORD_SEVERITY_NUMBER, WireType::Varint, rec);
        encode_varint(u64::from(level.severity_number()), rec);
        put_ld(rec, RECORD_SEVERITY_TEXT, level.severity_text().as_bytes());
    }
    let line = lossy(e.line);
    put_ld_head(rec, RECORD_BODY, ld_len(line.len()));
    put_ld(rec, ANY_STRING, line.as_bytes());
    let a = RECORD_ATTRIBUTES;
    if !e.site.is_empty() {
        put_kv_str(rec, a, "sitepulse.site", e.site);
    }
    put_kv_str(rec, a, "sitepulse.source", e.source);
    if !e.file.is_empty() {
        put_kv_str(rec, a, "log.file.path", e.file);
    }
    if !e.stream.is_empty() {
        put_kv_str(rec, a, "log.iostream", e.stream);
    }
    if !e.method.is_empty() {
        put_kv_str(rec, a, "http.request.method", &lossy(e.method));
    }
    if !e.path.is_empty() {
        let (path, query) = match e.path.iter().position(|&c| c == b'?') {
            Some(q) => (&e.path[..q], Some(&e.path[q + 1..])),
            None => (e.path, None),
        };
        put_kv_str(rec, a, "url.path", &lossy(path));
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            put_kv_str(rec, a, "url.query", &lossy(q));
        }
    }
    if e.status > 0 {
        put_kv_int(rec, a, "http.response.status_code", i64::from(e.status));
    }
    if let Some(d) = e.duration_ns {
        put_kv_double(rec, a, "sitepulse.duration_ms", d as f64 / 1e6);
    }
    if !e.host.is_empty() {
        let host = lossy(e.host);
        let (addr, port) = split_host(&host);
        put_kv_str(rec, a, "server.address", addr);
        if let Some(p) = port {
            put_kv_int(rec, a, "server.port", i64::from(p));
        }
    }
    if !e.client.is_empty() {
        put_kv_str(rec, a, "client.address", &lossy(e.client));
    }
    if !e.pool.is_empty() {
        put_kv_str(rec, a, "sitepulse.fpm.pool", &lossy(e.pool));
    }
    if let Some(id) = trace_id(e.trace_id) {
        put_ld(rec, RECORD_TRACE_ID, &id);
    }
    put_ld(out, SCOPE_LOGS_LOG_RECORDS, rec);
}

/// The encoded `InstrumentationScope` every export carries.
pub(crate) fn scope() -> Vec<u8> {
    let mut s = Vec::with_capacity(32);
    put_ld(&mut s, SCOPE_NAME_FIELD, SCOPE_NAME.as_bytes());
    put_ld(
        &mut s,
        SCOPE_VERSION_FIELD,
        env!("CARGO_PKG_VERSION").as_bytes(),
    );
    s
}

/// The encoded attributes every resource starts with: `service.name` (the
/// default unless configured) and the configured `resource_attributes`.
pub(crate) fn static_resource(cfg: &OtlpConfig) -> Vec<u8> {
    let mut out = Vec::new();
    if !cfg.resource_attributes.contains_key("service.name") {
        put_kv_str(&mut out, RESOURCE_ATTRIBUTES, "service.name", SERVICE_NAME);
    }
    for (k, v) in &cfg.resource_attributes {
        put_kv_str(&mut out, RESOURCE_ATTRIBUTES, k, v);
    }
    out
}

/// The records of one resource in the open batch.
#[derive(Debug)]
struct Resource {
    key: String,
    /// The encoded `Resource` message.
    header: Vec<u8>,
    /// Encoded `log_records` fields, back to back.
    buf: Vec<u8>,
    entries: u32,
}

/// A sealed batch: the spool frame (an encoded `ExportLogsServiceRequest`)
/// and the records in it.
#[derive(Debug)]
pub struct Sealed {
    pub frame: Vec<u8>,
    pub entries: u32,
}

/// The open batch.
#[derive(Debug)]
pub struct Batcher {
    static_resource: Vec<u8>,
    /// Which k8s attributes the configuration already sets.
    configured: [bool; 4],
    scope: Vec<u8>,
    resources: Vec<Resource>,
    by_key: HashMap<String, usize>,
    /// Upper bound of the sealed frame's size.
    bytes: u64,
    entries: u32,
    oldest_ms: Option<u64>,
    batch_bytes: u64,
    batch_wait_ms: u64,
    key: String,
    rec: Vec<u8>,
}

/// Resource attributes from the entry, in this order.
const K8S_KEYS: [&str; 4] = [
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "k8s.node.name",
];

impl Batcher {
    pub fn new(cfg: &OtlpConfig) -> Batcher {
        Batcher {
            static_resource: static_resource(cfg),
            configured: K8S_KEYS.map(|k| cfg.resource_attributes.contains_key(k)),
            scope: scope(),
            resources: Vec::new(),
            by_key: HashMap::new(),
            bytes: 0,
            entries: 0,
            oldest_ms: None,
            batch_bytes: cfg.batch_bytes,
            batch_wait_ms: cfg.batch_wait_ms,
            key: String::with_capacity(128),
            rec: Vec::with_capacity(1024),
        }
    }

    /// Upper bound of the frame the open batch seals into.
    pub fn open_bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether no record is open.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// An upper bound of what `e` adds to the frame (its record, and a new
    /// resource's header).
    pub fn cost(&self, e: &LogEntry<'_>) -> u64 {
        let fields = e.line.len()
            + e.site.len()
            + e.file.len()
            + e.method.len()
            + e.path.len()
            + e.host.len()
            + e.client.len()
            + e.pool.len();
        let resource = self.static_resource.len()
            + self.scope.len()
            + e.namespace.len()
            + e.pod.len()
            + e.container.len()
            + e.node.len();
        // Invalid UTF-8 grows by up to 3 bytes per byte (U+FFFD); keys,
        // tags and lengths are under 512 bytes a record, 256 a resource.
        (3 * fields + resource + 768) as u64
    }

    /// Adds `e` (`now_ms` is its observed time); `true` when the batch is
    /// now full.
    pub fn add(&mut self, e: &LogEntry<'_>, now_ms: u64) -> bool {
        self.key.clear();
        for part in [e.namespace, e.pod, e.container, e.node] {
            self.key.push_str(part);
            self.key.push('\0');
        }
        let ri = match self.by_key.get(self.key.as_str()) {
            Some(&i) => i,
            None => {
                let mut header = self.static_resource.clone();
                for (i, v) in [e.namespace, e.pod, e.container, e.node]
                    .into_iter()
                    .enumerate()
                {
                    if !v.is_empty() && !self.configured[i] {
                        put_kv_str(&mut header, RESOURCE_ATTRIBUTES, K8S_KEYS[i], v);
                    }
                }
                self.resources.push(Resource {
                    key: self.key.clone(),
                    header,
                    buf: Vec::with_capacity(4096),
                    entries: 0,
                });
                self.by_key
                    .insert(self.key.clone(), self.resources.len() - 1);
                self.resources.len() - 1
            }
        };
        let r = &mut self.resources[ri];
        if r.entries == 0 {
            // The resource's wrapping: three nested fields of at most 10
            // bytes of key and length each, the header and the scope.
            self.bytes += (ld_len(r.header.len()) + ld_len(self.scope.len()) + 30) as u64;
        }
        let a = r.buf.len();
        put_record(&mut r.buf, &mut self.rec, e, now_ms);
        r.entries += 1;
        self.bytes += (r.buf.len() - a) as u64;
        self.entries += 1;
        self.oldest_ms.get_or_insert(now_ms);
        self.bytes >= self.batch_bytes
    }

    /// Whether the open batch waited `batch_wait_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        self.oldest_ms
            .is_some_and(|o| now_ms >= o.saturating_add(self.batch_wait_ms))
    }

    /// The frame of the open batch, which is then empty; `None` when it
    /// was.
    pub fn seal(&mut self) -> Option<Sealed> {
        if self.entries == 0 {
            return None;
        }
        let mut frame = Vec::with_capacity(self.bytes as usize);
        for r in &self.resources {
            if r.entries == 0 {
                continue;
            }
            let scope_logs = ld_len(self.scope.len()) + r.buf.len();
            let resource_logs = ld_len(r.header.len()) + ld_len(scope_logs);
            put_ld_head(&mut frame, REQUEST_RESOURCE_LOGS, resource_logs);
            put_ld_head(&mut frame, RESOURCE_LOGS_RESOURCE, r.header.len());
            frame.extend_from_slice(&r.header);
            put_ld_head(&mut frame, RESOURCE_LOGS_SCOPE_LOGS, scope_logs);
            put_ld(&mut frame, SCOPE_LOGS_SCOPE, &self.scope);
            frame.extend_from_slice(&r.buf);
        }
        let entries = self.entries;
        // Resources that stay busy keep their buffers; idle ones are
        // dropped so the batch's memory follows its traffic.
        self.resources.retain(|r| r.entries > 0);
        self.by_key.clear();
        for (i, r) in self.resources.iter_mut().enumerate() {
            r.buf.clear();
            r.entries = 0;
            self.by_key.insert(r.key.clone(), i);
        }
        self.bytes = 0;
        self.entries = 0;
        self.oldest_ms = None;
        Some(Sealed { frame, entries })
    }
}
