use std::collections::BTreeMap;

use sitepulse_pipeline::record::Level;

use super::batch::{Batcher, split_frame};
use super::config::LokiConfig;
use super::deliver::decode;
use crate::entry::LogEntry;

fn entry<'a>(site: &'a str, ts_ns: i64, line: &'a [u8], path: &'a [u8]) -> LogEntry<'a> {
    LogEntry {
        ts_ns,
        line,
        site,
        source: "traefik_clf",
        level: Level::None,
        node: "node-1",
        namespace: "",
        pod: "",
        container: "",
        stream: "",
        file: "/var/log/traefik/access.log",
        end_offset: 0,
        method: b"GET",
        path,
        status: 200,
        duration_ns: Some(12_000_000),
        host: b"",
        client: b"",
        pool: b"",
        trace_id: b"",
    }
}

#[test]
fn a_batch_groups_streams_and_orders_each_by_time() {
    let cfg = LokiConfig {
        endpoint: "http://127.0.0.1:1/loki/api/v1/push".into(),
        static_labels: BTreeMap::from([("cluster".into(), "eu-1".into())]),
        ..LokiConfig::default()
    };
    let mut b = Batcher::new(&cfg);
    for (site, ts, line) in [
        ("a", 3, "a3"),
        ("b", 1, "b1"),
        ("a", 1, "a1"),
        ("a", 2, "a2"),
        ("a", 2, "a2 again"),
    ] {
        assert_eq!(b.add(&entry(site, ts, line.as_bytes(), b"/x?y=1"), 0), None);
    }
    let sealed = b.seal(0).unwrap();
    assert_eq!(sealed.entries, 5);
    assert!(b.seal(0).is_none());
    let (tenant, body) = split_frame(&sealed.frame);
    assert_eq!(tenant, "");
    let req = decode(body).unwrap();
    assert_eq!(req.streams.len(), 2);
    let a = &req.streams[0];
    assert_eq!(
        a.labels,
        "{site=\"a\", source=\"traefik_clf\", level=\"info\", node=\"node-1\", cluster=\"eu-1\"}"
    );
    let lines: Vec<&str> = a.entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["a1", "a2", "a2 again", "a3"]);
    let meta: Vec<(&str, &str)> = a.entries[0]
        .structured_metadata
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        meta,
        [
            ("file", "/var/log/traefik/access.log"),
            ("method", "GET"),
            ("path", "/x?y=1"),
            ("status", "200")
        ]
    );
}

#[test]
fn tenants_and_size_limits() {
    let cfg = LokiConfig {
        endpoint: "http://127.0.0.1:1/loki/api/v1/push".into(),
        tenant_id: "farm".into(),
        tenants: BTreeMap::from([("vip".into(), vec!["b".into()])]),
        batch_bytes: 2048,
        ..LokiConfig::default()
    };
    let mut b = Batcher::new(&cfg);
    let line = vec![b'x'; 300];
    let mut full = None;
    for i in 0..20 {
        if let Some(t) = b.add(&entry("a", i, &line, b"/"), 0) {
            full = Some((i, t));
            break;
        }
    }
    let (i, t) = full.unwrap();
    assert!((4..8).contains(&i), "full after {i} entries");
    assert_eq!(t, 0);
    assert!(b.add(&entry("b", 1, b"vip line", b"/"), 0).is_none());
    let s = b.seal(0).unwrap();
    assert_eq!(split_frame(&s.frame).0, "farm");
    let s = b.seal(1).unwrap();
    assert_eq!(split_frame(&s.frame).0, "vip");
    assert_eq!(
        decode(split_frame(&s.frame).1).unwrap().streams[0].entries[0].line,
        "vip line"
    );
    // Age: due after batch_wait_ms.
    b.add(&entry("a", 1, b"late", b"/"), 10_000);
    assert!(b.due(10_999).is_empty());
    assert_eq!(b.due(11_000), vec![0]);
}

#[test]
fn bytes_that_are_not_utf8_are_replaced_not_refused() {
    let cfg = LokiConfig {
        endpoint: "http://127.0.0.1:1/x".into(),
        ..LokiConfig::default()
    };
    let mut b = Batcher::new(&cfg);
    b.add(&entry("a", 1, b"bad \xff byte", b"/\xfe"), 0);
    let s = b.seal(0).unwrap();
    let req = decode(split_frame(&s.frame).1).unwrap();
    assert_eq!(req.streams[0].entries[0].line, "bad \u{fffd} byte");
}

/// Issue 16: a Traefik JSON line with a trace id (Traefik v3 with tracing
/// on) gets it as `trace_id` structured metadata, through `LogEntry::of`;
/// a line without one gets none.
#[test]
fn a_trace_id_becomes_structured_metadata() {
    use sitepulse_pipeline::driver::Origin;
    use sitepulse_pipeline::frame::Message;
    let cfg = LokiConfig {
        endpoint: "http://127.0.0.1:1/loki/api/v1/push".into(),
        ..LokiConfig::default()
    };
    let mut b = Batcher::new(&cfg);
    let lines: [&[u8]; 2] = [
        br#"{"ClientHost":"10.42.0.1","DownstreamStatus":200,"Duration":1000000,"RequestMethod":"GET","RequestPath":"/","SpanId":"00f067aa0ba902b7","StartUTC":"2026-11-22T10:00:00Z","TraceId":"4bf92f3577b34da6a3ce929d0e0e4736"}"#,
        br#"{"ClientHost":"10.42.0.1","DownstreamStatus":200,"Duration":1000000,"RequestMethod":"GET","RequestPath":"/","StartUTC":"2026-11-22T10:00:01Z"}"#,
    ];
    for line in lines {
        let rec = sitepulse_pipeline::parse::traefik_json::parse(line).unwrap();
        let message = Message {
            bytes: line,
            end_offset: 1,
            ..Message::default()
        };
        let origin = Origin {
            name: "/var/log/traefik/access.json",
            message: &message,
            pod: None,
            event_sec: 0,
        };
        let e = LogEntry::of(&origin, &rec, "a", "node-1");
        assert_eq!(b.add(&e, 0), None);
    }
    let s = b.seal(0).unwrap();
    let req = decode(split_frame(&s.frame).1).unwrap();
    let trace = |i: usize| {
        req.streams[0].entries[i]
            .structured_metadata
            .iter()
            .find(|p| p.name == "trace_id")
            .map(|p| p.value.clone())
    };
    assert_eq!(
        trace(0).as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(trace(1), None);
}
