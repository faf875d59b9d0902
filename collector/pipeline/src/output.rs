//! Renders records as JSON lines for `sitepulse parse`: one object per
//! record with a fixed set of keys in a fixed order (absent values are
//! `null`), so users can diff and `jq` the output of any format alike.

use std::io::Write as _;

use crate::json::{unescape, write_str};
use crate::record::Record;
use crate::time::format_rfc3339;

/// Where a record came from, for the output's context keys.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Site name the record was labelled with.
    pub site: &'a str,
    /// File name (or `-` for stdin).
    pub file: &'a str,
    /// Byte offset in the file just after the record's last line.
    pub offset: u64,
    /// Container stream (`stdout`/`stderr`), empty when not framed.
    pub stream: &'a str,
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

/// Appends one JSON object (and a newline) describing `rec` to `out`.
pub fn write_record(out: &mut Vec<u8>, rec: &Record<'_>, origin: &Origin<'_>) {
    let e = rec.json_escaped;
    let mut first = true;
    let f = &mut first;
    out.push(b'{');
    text(out, f, "site", origin.site.as_bytes(), false);
    text(out, f, "source", rec.source.name().as_bytes(), false);
    key(out, f, "ts");
    match rec.ts_ns {
        Some(ns) => write_str(out, format_rfc3339(ns).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    text(out, f, "client", rec.client, e);
    text(out, f, "user", rec.user, e);
    text(out, f, "method", rec.method, e);
    text(out, f, "path", rec.path, e);
    text(out, f, "protocol", rec.protocol, e);
    num(out, f, "status", (rec.status != 0).then_some(rec.status));
    num(out, f, "bytes", rec.source.is_access().then_some(rec.bytes));
    key(out, f, "duration_ms");
    match rec.duration_ms() {
        Some(ms) => drop(write!(out, "{ms:.3}")),
        None => out.extend_from_slice(b"null"),
    }
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
    text(out, f, "pool", rec.pool, e);
    num(out, f, "pid", (rec.pid != 0).then_some(rec.pid));
    text(out, f, "level", rec.level.name().as_bytes(), false);
    text(out, f, "event", rec.event.name().as_bytes(), false);
    text(out, f, "script", rec.script, e);
    num(out, f, "memory_bytes", rec.memory_bytes);
    num(out, f, "cpu_pct", rec.cpu_pct);
    text(out, f, "message", rec.message, e);
    text(out, f, "stream", origin.stream.as_bytes(), false);
    text(out, f, "file", origin.file.as_bytes(), false);
    num(out, f, "offset", Some(origin.offset));
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
            offset: 99,
            stream: "",
        };
        write_record(&mut out, &rec, &origin);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["site"], "www");
        assert_eq!(v["ts"], "2026-11-22T10:00:00.000000000Z");
        assert_eq!(v["status"], serde_json::Value::Null);
        assert_eq!(v["bytes"], serde_json::Value::Null);
        assert_eq!(v["event"], "max_children_reached");
        assert_eq!(v["message"], "server reached \"pm.max_children\"");
        assert_eq!(v["offset"], 99);
        assert_eq!(v.as_object().unwrap().len(), 29);
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
            offset: 0,
            stream: "stdout",
        };
        write_record(&mut out, &rec, &origin);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["user_agent"], "Mozilla \"quoted\" é");
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["bytes"], 0);
    }
}
