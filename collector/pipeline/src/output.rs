//! Renders records as JSON lines for `sitepulse parse`: one object per
//! record with a fixed set of keys in a fixed order (absent values are
//! `null`), so users can diff and `jq` the output of any format alike.

use std::io::Write as _;

use crate::frame::{PodLabels, Stream};
use crate::json::{unescape, write_str};
use crate::record::Record;
use crate::time::format_rfc3339;

/// Where a record came from, for the output's context keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// Site name the record was labelled with.
    pub site: &'a str,
    /// File name (or `-` for stdin).
    pub file: &'a str,
    /// Byte offset in the file where the record's first line starts.
    pub offset: u64,
    /// Byte offset in the file just after the record's last line.
    pub end_offset: u64,
    /// Container stream (`stdout`/`stderr`), empty when not framed.
    pub stream: &'a str,
    /// The container runtime's time of the line (CRI/Docker), Unix ns.
    pub runtime_ts_ns: Option<i64>,
    /// What the file's path says of its pod.
    pub pod: Option<&'a PodLabels>,
}

impl<'a> Origin<'a> {
    /// The output context of a record the pipeline hands an observer.
    pub fn of(o: &'a crate::driver::Origin<'a>, site: &'a str) -> Self {
        Origin {
            site,
            file: o.name,
            offset: o.message.start_offset,
            end_offset: o.message.end_offset,
            stream: match o.message.stream {
                Stream::Unknown => "",
                s => s.name(),
            },
            runtime_ts_ns: o.message.ts_ns,
            pod: o.pod,
        }
    }
}

fn key(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn text(out: &mut Vec<u8>, first: &mut bool, name: &str, v: &[u8], escaped: bool) {
    key(out, first, name);
    if v.is_empty() {
        out.extend_from_slice(b"null");
    } else if escaped {
        write_str(out, &unescape(v));
    } else {
        write_str(out, v);
    }
}

fn num<T: std::fmt::Display>(out: &mut Vec<u8>, first: &mut bool, name: &str, v: Option<T>) {
    key(out, first, name);
    match v {
        // Writing into a Vec cannot fail.
        Some(v) => drop(write!(out, "{v}")),
        None => out.extend_from_slice(b"null"),
    }
}

fn time(out: &mut Vec<u8>, first: &mut bool, name: &str, ns: Option<i64>) {
    key(out, first, name);
    match ns {
        Some(ns) => write_str(out, format_rfc3339(ns).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

/// The keys of [`write_record`], in order: the schema in
/// `docs/record.schema.json` lists the same.
pub const KEYS: [&str; 44] = [
    "site",
    "source",
    "ts",
    "level",
    "level_raw",
    "severity_number",
    "event",
    "message",
    "client",
    "user",
    "method",
    "path",
    "protocol",
    "status",
    "bytes",
    "duration_ms",
    "duration_ns",
    "host",
    "router",
    "service",
    "service_url",
    "referer",
    "user_agent",
    "request_count",
    "trace_id",
    "pool",
    "pid",
    "script",
    "frames",
    "memory_bytes",
    "cpu_pct",
    "attrs",
    "error",
    "error_field",
    "stream",
    "runtime_ts",
    "namespace",
    "pod",
    "pod_uid",
    "container",
    "container_id",
    "file",
    "offset",
    "end_offset",
];

/// Appends one JSON object (and a newline) describing `rec` to `out`: the
/// keys of [`KEYS`] in that order, `null` where the record has no value.
pub fn write_record(out: &mut Vec<u8>, rec: &Record<'_>, origin: &Origin<'_>) {
    let e = rec.json_escaped;
    let mut first = true;
    let f = &mut first;
    out.push(b'{');
    text(out, f, "site", origin.site.as_bytes(), false);
    text(out, f, "source", rec.source.name().as_bytes(), false);
    time(out, f, "ts", rec.ts_ns);
    text(out, f, "level", rec.level.name().as_bytes(), false);
    text(out, f, "level_raw", rec.level_raw, e);
    let sev = rec.level.severity_number();
    num(out, f, "severity_number", (sev != 0).then_some(sev));
    text(out, f, "event", rec.event.name().as_bytes(), false);
    text(out, f, "message", rec.message, e);
    text(out, f, "client", rec.client, e);
    text(out, f, "user", rec.user, e);
    text(out, f, "method", rec.method, e);
    text(out, f, "path", rec.path, e);
    text(out, f, "protocol", rec.protocol, e);
    num(out, f, "status", (rec.status != 0).then_some(rec.status));
    num(out, f, "bytes", rec.source.is_access().then_some(rec.bytes));
    key(out, f, "duration_ms");
    match rec.duration_ns {
        // Exact: nanoseconds as a decimal of milliseconds.
        Some(ns) => drop(write!(out, "{}.{:06}", ns / 1_000_000, ns % 1_000_000)),
        None => out.extend_from_slice(b"null"),
    }
    num(out, f, "duration_ns", rec.duration_ns);
    text(out, f, "host", rec.host, e);
    text(out, f, "router", rec.router, e);
    text(out, f, "service", rec.service, e);
    text(out, f, "service_url", rec.service_url, e);
    text(out, f, "referer", rec.referer, e);
    text(out, f, "user_agent", rec.user_agent, e);
    num(
        out,
        f,
        "request_count",
        (rec.request_count != 0).then_some(rec.request_count),
    );
    // Only ever hex digits (see `Record::trace_id`): written as is.
    text(out, f, "trace_id", rec.trace_id, false);
    text(out, f, "pool", rec.pool, e);
    num(out, f, "pid", (rec.pid != 0).then_some(rec.pid));
    text(out, f, "script", rec.script, e);
    num(out, f, "frames", (rec.frames != 0).then_some(rec.frames));
    num(out, f, "memory_bytes", rec.memory_bytes);
    num(out, f, "cpu_pct", rec.cpu_pct);
    // Structured fields as written, a string (a logfmt tail or a JSON
    // object's text), never re-encoded.
    text(out, f, "attrs", rec.attrs, false);
    match rec.error {
        Some(err) => {
            text(out, f, "error", err.reason().as_bytes(), false);
            let field = match err {
                crate::field::ParseError::BadField { field, .. }
                | crate::field::ParseError::Truncated { field } => field.name(),
                _ => "",
            };
            text(out, f, "error_field", field.as_bytes(), false);
        }
        None => {
            text(out, f, "error", b"", false);
            text(out, f, "error_field", b"", false);
        }
    }
    text(out, f, "stream", origin.stream.as_bytes(), false);
    time(out, f, "runtime_ts", origin.runtime_ts_ns);
    let pod = origin.pod;
    let p = |g: fn(&PodLabels) -> &str| pod.map_or(&b""[..], |l| g(l).as_bytes());
    text(out, f, "namespace", p(|l| &l.namespace), false);
    text(out, f, "pod", p(|l| &l.pod), false);
    text(out, f, "pod_uid", p(|l| &l.pod_uid), false);
    text(out, f, "container", p(|l| &l.container), false);
    text(out, f, "container_id", p(|l| &l.container_id), false);
    text(out, f, "file", origin.file.as_bytes(), false);
    num(out, f, "offset", Some(origin.offset));
    num(out, f, "end_offset", Some(origin.end_offset));
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, Level, LogFormat};

    #[test]
    fn fixed_keys_and_nulls() {
        let rec = Record {
            source: LogFormat::FpmError,
            ts_ns: Some(1_795_341_600_000_000_000),
            pool: b"www",
            level: Level::Warning,
            event: Event::MaxChildrenReached,
            message: b"server reached \"pm.max_children\"",
            ..Record::default()
        };
        let mut out = Vec::new();
        let origin = Origin {
            site: "www",
            file: "fpm.log",
            offset: 50,
            end_offset: 99,
            ..Origin::default()
        };
        write_record(&mut out, &rec, &origin);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["site"], "www");
        assert_eq!(v["ts"], "2026-11-22T10:00:00.000000000Z");
        assert_eq!(v["status"], serde_json::Value::Null);
        assert_eq!(v["bytes"], serde_json::Value::Null);
        assert_eq!(v["event"], "max_children_reached");
        assert_eq!(v["message"], "server reached \"pm.max_children\"");
        assert_eq!(
            (v["offset"].as_u64(), v["end_offset"].as_u64()),
            (Some(50), Some(99))
        );
        // Every key, in the order of KEYS (serde_json sorts its map, so
        // the order is checked on the text).
        assert_eq!(v.as_object().unwrap().len(), KEYS.len());
        let text = String::from_utf8(out).unwrap();
        let at: Vec<usize> = KEYS
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(at.is_sorted(), "{text}");
    }

    #[test]
    fn json_escaped_fields_are_unescaped_once() {
        let rec = Record {
            source: LogFormat::TraefikJson,
            user_agent: br#"Mozilla \"quoted\" \u00e9"#,
            status: 200,
            duration_ns: Some(1_500_000),
            json_escaped: true,
            ..Record::default()
        };
        let mut out = Vec::new();
        let origin = Origin {
            site: "s",
            file: "-",
            stream: "stdout",
            ..Origin::default()
        };
        write_record(&mut out, &rec, &origin);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["user_agent"], "Mozilla \"quoted\" é");
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["duration_ns"], 1_500_000);
        assert_eq!(v["bytes"], 0);
        assert_eq!(v["trace_id"], serde_json::Value::Null);
    }

    #[test]
    fn trace_id_when_the_line_has_one() {
        let line = br#"{"RequestMethod":"GET","DownstreamStatus":200,"request_Traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#;
        let rec = crate::parse::traefik_json::parse(line).unwrap();
        let mut out = Vec::new();
        write_record(&mut out, &rec, &Origin::default());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    }
}
