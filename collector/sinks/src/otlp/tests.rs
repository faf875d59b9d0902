use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use sitepulse_pipeline::record::Level;
use tonic::Code;

use super::config::OtlpConfig;
use super::deliver::{
    ProtoAny, ProtoDuration, RETRY_INFO_TYPE, RetryInfo, RpcStatus, retry_delay, retryable,
};
use super::logs::{Batcher, trace_id};
use crate::entry::LogEntry;

fn entry<'a>(site: &'a str, ts_ns: i64, line: &'a [u8]) -> LogEntry<'a> {
    LogEntry {
        ts_ns,
        line,
        site,
        source: "traefik_json",
        level: Level::None,
        node: "node-1",
        namespace: "wp",
        pod: "traefik-abc",
        container: "traefik",
        stream: "stdout",
        file: "/var/log/pods/x/traefik/0.log",
        end_offset: 0,
        method: b"GET",
        path: b"/wp-login.php?action=lostpassword",
        status: 503,
        duration_ns: Some(12_500_000),
        host: b"shop.example.com:8443",
        client: b"10.0.0.7",
        pool: b"",
        trace_id: b"4BF92F3577B34DA6A3CE929D0E0E4736",
    }
}

/// Attributes as `key → value` with every value as text (`i:` for ints,
/// `d:` for doubles).
fn attrs(kv: &[KeyValue]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => format!("i:{i}"),
                Some(any_value::Value::DoubleValue(d)) => format!("d:{d}"),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn body(v: &Option<AnyValue>) -> &str {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("body {other:?}"),
    }
}

#[test]
fn a_sealed_batch_is_an_export_request_grouped_by_resource() {
    let cfg = OtlpConfig {
        resource_attributes: BTreeMap::from([("k8s.cluster.name".into(), "eu-1".into())]),
        ..OtlpConfig::default()
    };
    let mut b = Batcher::new(&cfg);
    let a1 = entry("shop", 1_700_000_000_123_456_789, b"first");
    let mut other = entry("blog", 1_700_000_001_000_000_000, b"bad \xff byte");
    other.pod = "traefik-def";
    other.level = Level::Notice;
    other.trace_id = b"00000000000000000000000000000000";
    other.status = 0;
    other.host = b"[::1]:80";
    other.pool = b"www";
    let a2 = entry("shop", 1_700_000_002_000_000_000, b"third");
    for e in [&a1, &other, &a2] {
        assert!(!b.add(e, 1_700_000_005_000));
    }
    let bound = b.open_bytes();
    let sealed = b.seal().unwrap();
    assert!(b.seal().is_none() && b.is_empty());
    assert_eq!(sealed.entries, 3);
    assert!(
        sealed.frame.len() as u64 <= bound,
        "{} > {bound}",
        sealed.frame.len()
    );
    let req = ExportLogsServiceRequest::decode(&sealed.frame[..]).unwrap();
    assert_eq!(req.resource_logs.len(), 2);

    let r0 = &req.resource_logs[0];
    assert_eq!(
        attrs(&r0.resource.as_ref().unwrap().attributes),
        BTreeMap::from(
            [
                ("service.name", "sitepulse"),
                ("k8s.cluster.name", "eu-1"),
                ("k8s.namespace.name", "wp"),
                ("k8s.pod.name", "traefik-abc"),
                ("k8s.container.name", "traefik"),
                ("k8s.node.name", "node-1"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        )
    );
    assert_eq!(r0.scope_logs.len(), 1);
    let scope = r0.scope_logs[0].scope.as_ref().unwrap();
    assert_eq!(scope.name, "sitepulse");
    let recs = &r0.scope_logs[0].log_records;
    assert_eq!(recs.len(), 2);
    let r = &recs[0];
    assert_eq!(r.time_unix_nano, 1_700_000_000_123_456_789);
    assert_eq!(r.observed_time_unix_nano, 1_700_000_005_000_000_000);
    assert_eq!(body(&r.body), "first");
    assert_eq!((r.severity_number, r.severity_text.as_str()), (17, "ERROR"));
    assert_eq!(
        r.trace_id,
        [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36
        ]
    );
    assert_eq!(
        attrs(&r.attributes),
        BTreeMap::from(
            [
                ("sitepulse.site", "shop"),
                ("sitepulse.source", "traefik_json"),
                ("log.file.path", "/var/log/pods/x/traefik/0.log"),
                ("log.iostream", "stdout"),
                ("http.request.method", "GET"),
                ("url.path", "/wp-login.php"),
                ("url.query", "action=lostpassword"),
                ("http.response.status_code", "i:503"),
                ("sitepulse.duration_ms", "d:12.5"),
                ("server.address", "shop.example.com"),
                ("server.port", "i:8443"),
                ("client.address", "10.0.0.7"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        )
    );
    assert_eq!(body(&recs[1].body), "third");

    let r1 = &req.resource_logs[1];
    let res = attrs(&r1.resource.as_ref().unwrap().attributes);
    assert_eq!(res["k8s.pod.name"], "traefik-def");
    let r = &r1.scope_logs[0].log_records[0];
    assert_eq!(body(&r.body), "bad \u{fffd} byte");
    assert_eq!((r.severity_number, r.severity_text.as_str()), (10, "INFO2"));
    assert!(r.trace_id.is_empty(), "the all-zero trace id is invalid");
    let a = attrs(&r.attributes);
    assert_eq!(a["server.address"], "::1");
    assert_eq!(a["sitepulse.fpm.pool"], "www");
    assert!(!a.contains_key("http.response.status_code"));
}

#[test]
fn configured_service_name_and_k8s_keys_win() {
    let cfg = OtlpConfig {
        resource_attributes: BTreeMap::from([
            ("service.name".into(), "edge".into()),
            ("k8s.node.name".into(), "pinned".into()),
        ]),
        ..OtlpConfig::default()
    };
    let mut b = Batcher::new(&cfg);
    b.add(&entry("shop", 1, b"x"), 0);
    let req = ExportLogsServiceRequest::decode(&b.seal().unwrap().frame[..]).unwrap();
    let kv = &req.resource_logs[0].resource.as_ref().unwrap().attributes;
    let keys: Vec<&str> = kv.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "k8s.node.name",
            "service.name",
            "k8s.namespace.name",
            "k8s.pod.name",
            "k8s.container.name"
        ]
    );
    let a = attrs(kv);
    assert_eq!(
        (a["service.name"].as_str(), a["k8s.node.name"].as_str()),
        ("edge", "pinned")
    );
}

#[test]
fn batches_seal_by_bytes_and_age_and_cost_bounds_each_record() {
    let cfg = OtlpConfig {
        batch_bytes: 4096,
        batch_wait_ms: 500,
        ..OtlpConfig::default()
    };
    let mut b = Batcher::new(&cfg);
    let line = vec![b'x'; 300];
    let mut n = 0;
    loop {
        let e = entry("shop", n, &line);
        let before = b.open_bytes();
        let cost = b.cost(&e);
        let full = b.add(&e, 10_000);
        assert!(b.open_bytes() - before <= cost);
        n += 1;
        if full {
            break;
        }
    }
    assert!((6..12).contains(&n), "full after {n} records");
    let s = b.seal().unwrap();
    assert_eq!(s.entries as i64, n);
    b.add(&entry("shop", 1, b"late"), 20_000);
    assert!(!b.due(20_499));
    assert!(b.due(20_500));
}

#[test]
fn trace_ids() {
    assert_eq!(
        trace_id(b"0af7651916cd43dd8448eb211c80319c").unwrap()[..2],
        [0x0a, 0xf7]
    );
    assert!(trace_id(b"0af7651916cd43dd8448eb211c80319").is_none());
    assert!(trace_id(b"0af7651916cd43dd8448eb211c80319g").is_none());
    assert!(trace_id(b"").is_none());
}

#[test]
fn statuses_follow_the_otlp_failure_table() {
    for c in [
        Code::Cancelled,
        Code::DeadlineExceeded,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unavailable,
        Code::DataLoss,
        Code::ResourceExhausted,
    ] {
        assert!(retryable(c), "{c:?}");
    }
    for c in [
        Code::InvalidArgument,
        Code::Unknown,
        Code::NotFound,
        Code::AlreadyExists,
        Code::FailedPrecondition,
        Code::Internal,
    ] {
        assert!(!retryable(c), "{c:?}");
    }
}

#[test]
fn retry_info_is_read_from_status_details() {
    let details = RpcStatus {
        code: 8,
        message: "slow down".into(),
        details: vec![
            ProtoAny {
                type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
                value: vec![1, 2, 3],
            },
            ProtoAny {
                type_url: RETRY_INFO_TYPE.into(),
                value: RetryInfo {
                    retry_delay: Some(ProtoDuration {
                        seconds: 2,
                        nanos: 500_000_000,
                    }),
                }
                .encode_to_vec(),
            },
        ],
    }
    .encode_to_vec();
    assert_eq!(retry_delay(&details), Some(Duration::from_millis(2_500)));
    assert_eq!(retry_delay(b""), None);
    assert_eq!(retry_delay(b"\xff\xff"), None);
}

#[test]
fn config_defaults_and_problems() {
    let cfg: OtlpConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(cfg, OtlpConfig::default());
    assert_eq!(cfg.endpoint, "http://127.0.0.1:4317");
    assert!(cfg.logs && cfg.metrics && cfg.metrics_interval_secs == 15);
    assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
    assert!(serde_json::from_str::<OtlpConfig>(r#"{"endpont": "x"}"#).is_err());

    let bad = OtlpConfig {
        endpoint: "otel:4317".into(),
        headers: BTreeMap::from([
            ("Authorization".into(), "x".into()),
            ("x-token".into(), "caf\u{e9}".into()),
            ("grpc-timeout".into(), "1S".into()),
        ]),
        batch_bytes: 8 << 20,
        metrics_interval_secs: 0,
        ..OtlpConfig::default()
    };
    let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "endpoint",
            "headers",
            "headers",
            "headers",
            "metrics_interval_secs",
            "batch_bytes",
        ]
    );
    let ok = OtlpConfig {
        endpoint: "https://otel.example.com:4317".into(),
        headers: BTreeMap::from([("authorization".into(), "Bearer abc".into())]),
        ..OtlpConfig::default()
    };
    assert!(ok.problems().is_empty(), "{:?}", ok.problems());
    assert!(super::deliver::endpoint(&ok).is_ok());
}

mod metrics {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
    use prost::Message;
    use sitepulse_pipeline::snapshot::SitesSnapshot;
    use sitepulse_pipeline::{NoObserver, Pipeline, PipelineConfig};

    use super::super::config::OtlpConfig;
    use super::super::metrics::{Exporter, resource, unit};
    use super::attrs;
    use crate::series;

    const NOW: i64 = 1_796_083_200;

    /// A snapshot of `n` sites with `per_site` 200s each.
    fn snapshot(n: usize, per_site: usize) -> SitesSnapshot {
        let mut p = Pipeline::new(&PipelineConfig::default(), NOW).unwrap();
        let mut lines = String::new();
        for s in 0..n {
            for _ in 0..per_site {
                lines.push_str(&format!(
                    "10.42.0.1 - - [30/Nov/2026:23:59:30 +0000] \"GET / HTTP/1.1\" 200 10 \"-\" \"curl/8\" 1 \"websecure-site{s:03}@kubernetes\" \"http://10.42.1.1:80\" 5ms\n"
                ));
            }
        }
        p.process(
            "access",
            None,
            lines.as_bytes(),
            &mut NoObserver,
            &mut |_| {},
        )
        .unwrap();
        p.tick(NOW);
        p.snapshot()
    }

    /// `site`'s 2xx count and its start time in an export.
    fn requests_2xx(frames: &[(Vec<u8>, u32)], site: &str) -> Option<(i64, u64)> {
        for (f, _) in frames {
            let req = ExportMetricsServiceRequest::decode(&f[..]).unwrap();
            for m in &req.resource_metrics[0].scope_metrics[0].metrics {
                let Some(metric::Data::Sum(s)) = &m.data else {
                    continue;
                };
                if m.name != "sitepulse_site_requests" {
                    continue;
                }
                for p in &s.data_points {
                    let a = attrs(&p.attributes);
                    if a["site"] == site && a["code_class"] == "2xx" {
                        let Some(number_data_point::Value::AsInt(v)) = p.value else {
                            panic!()
                        };
                        return Some((v, p.start_time_unix_nano));
                    }
                }
            }
        }
        None
    }

    #[test]
    fn a_large_export_is_cut_into_frames_under_batch_bytes() {
        let snap = snapshot(60, 1);
        let cfg = OtlpConfig {
            batch_bytes: 4096,
            ..OtlpConfig::default()
        };
        let mut ex = Exporter::new(&cfg, 5);
        let out = ex.export(&snap, 1_000);
        let want = series::sample_count(&series::site_families(&snap));
        assert!(out.frames.len() > 5, "{} frames", out.frames.len());
        let mut points = 0;
        for (f, n) in &out.frames {
            assert!(f.len() < 4096 + 2048, "{} bytes", f.len());
            let req = ExportMetricsServiceRequest::decode(&f[..]).unwrap();
            let mut in_frame = 0;
            for m in &req.resource_metrics[0].scope_metrics[0].metrics {
                in_frame += match m.data.as_ref().unwrap() {
                    metric::Data::Sum(s) => s.data_points.len(),
                    metric::Data::Gauge(g) => g.data_points.len(),
                    metric::Data::Histogram(h) => h.data_points.len(),
                    _ => panic!(),
                };
            }
            assert_eq!(in_frame as u32, *n);
            points += in_frame;
        }
        assert_eq!(points as u64, out.points);
        // A histogram series is one data point, not bounds + 3 samples.
        let fams = series::site_families(&snap);
        let series_count: usize = fams.iter().map(|f| f.series.len()).sum();
        assert_eq!(points, series_count);
        assert!(want > series_count);
    }

    #[test]
    fn a_counter_that_goes_down_starts_again() {
        let cfg = OtlpConfig::default();
        let mut ex = Exporter::new(&cfg, 5_000_000_000);
        let first = ex.export(&snapshot(2, 3), 10_000);
        assert_eq!(
            requests_2xx(&first.frames, "site000"),
            Some((3, 5_000_000_000))
        );
        let again = ex.export(&snapshot(2, 3), 20_000);
        assert_eq!(
            requests_2xx(&again.frames, "site000"),
            Some((3, 5_000_000_000))
        );
        // A rebuilt pipeline: counts restart below the last export's.
        let reset = ex.export(&snapshot(2, 1), 30_000);
        assert_eq!(
            requests_2xx(&reset.frames, "site000"),
            Some((1, 20_000_000_000))
        );
        // A snapshot taken before the sink's start never gets a later start.
        let mut ex = Exporter::new(&cfg, 50_000_000_000);
        let early = ex.export(&snapshot(1, 1), 40_000);
        assert_eq!(
            requests_2xx(&early.frames, "site000"),
            Some((1, 40_000_000_000))
        );
    }

    #[test]
    fn units_and_resource() {
        assert_eq!(unit("sitepulse_site_request_duration_seconds"), "s");
        assert_eq!(unit("sitepulse_site_response_bytes"), "By");
        assert_eq!(unit("sitepulse_site_rps"), "");
        let cfg = OtlpConfig {
            resource_attributes: [("k8s.node.name".to_owned(), "pinned".to_owned())].into(),
            ..OtlpConfig::default()
        };
        let r = attrs(&resource(&cfg, Some("node-7")).attributes);
        assert_eq!(r["service.name"], "sitepulse");
        assert_eq!(r["service.instance.id"], "node-7");
        assert_eq!(r["k8s.node.name"], "pinned");
        assert_eq!(r.len(), 3);
    }
}
