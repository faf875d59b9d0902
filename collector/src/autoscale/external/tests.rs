//! The routes over the serve tests' farm (`serve/api/fixture.rs`), without
//! a socket: each request carries the [`Peer`] the TLS layer would attach.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::api::{self, ApiState, Peer};
use super::quantity::Quantity;
use super::*;
use crate::autoscale::query::{Metric, Query, Window};
use crate::autoscale::values::View;
use crate::serve::api::fixture;

fn state(allowed: &[&str]) -> ApiState {
    ApiState {
        live: fixture::live(fixture::snapshot()),
        freshness: Freshness::default(),
        allowed_names: Arc::new(allowed.iter().map(|s| (*s).to_owned()).collect()),
    }
}

fn proxy() -> Peer {
    Peer {
        has_cert: true,
        cn: Some("front-proxy-client".into()),
    }
}

async fn get(st: &ApiState, peer: Option<Peer>, uri: &str) -> (StatusCode, Value) {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    if let Some(p) = peer {
        req.extensions_mut().insert(p);
    }
    let resp = api::router(st.clone()).oneshot(req).await.unwrap();
    let code = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    if v.is_object() {
        assert_eq!(ct.as_deref(), Some("application/json"), "{uri}");
    }
    (code, v)
}

const GV: &str = "/apis/external.metrics.k8s.io/v1beta1";

#[tokio::test]
async fn discovery_documents() {
    let st = state(&[]);
    let (code, v) = get(&st, Some(proxy()), "/apis").await;
    assert_eq!(code, StatusCode::OK);
    let gv = json!({"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"});
    assert_eq!(
        v,
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "external.metrics.k8s.io", "versions": [gv], "preferredVersion": gv}
        ]})
    );
    let (_, v) = get(&st, Some(proxy()), "/apis/external.metrics.k8s.io").await;
    assert_eq!(
        v,
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": "external.metrics.k8s.io",
               "versions": [gv], "preferredVersion": gv})
    );
    let (_, v) = get(&st, Some(proxy()), GV).await;
    assert_eq!(v["kind"], "APIResourceList");
    assert_eq!(v["groupVersion"], "external.metrics.k8s.io/v1beta1");
    let res = v["resources"].as_array().unwrap();
    assert_eq!(res.len(), Metric::ALL.len());
    assert_eq!(
        res[0],
        json!({"name": "rps", "singularName": "", "namespaced": true,
               "kind": "ExternalMetricValueList", "verbs": ["get"]})
    );
}

#[tokio::test]
async fn one_item_with_the_value_the_snapshot_gives() {
    let st = state(&["front-proxy-client"]);
    let (code, v) = get(
        &st,
        Some(proxy()),
        &format!("{GV}/namespaces/shop/rps?labelSelector=site%3Dshop.example.com"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], "ExternalMetricValueList");
    assert_eq!(v["apiVersion"], "external.metrics.k8s.io/v1beta1");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let it = &items[0];
    assert_eq!(it["metricName"], "rps");
    assert_eq!(
        it["metricLabels"],
        json!({"site": "shop-example-com", "window": "1m"})
    );
    let view = View::load(&st.live, st.freshness);
    let want = view
        .value(&Query {
            site: "shop-example-com".into(),
            metric: Metric::Rps,
            window: Window::OneMinute,
        })
        .unwrap();
    assert!(want > 0.0);
    assert_eq!(it["value"], Quantity::from_f64(want).unwrap().to_string());
    let vals = view.values("shop-example-com", Window::OneMinute).unwrap();
    assert_eq!(vals.requests, 10);
    assert_eq!(it["window"], vals.covered_secs.ceil() as i64);
    let ts = it["timestamp"].as_str().unwrap();
    assert_eq!(
        sitepulse_pipeline::time::parse_rfc3339(ts.as_bytes()),
        Some(vals.at_unix * 1_000_000_000),
        "{ts}"
    );
    assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");

    // The 5m window by suffix or label; `-` for `_`; `in` with one value.
    for uri in [
        format!("{GV}/namespaces/x/error-ratio-5m?labelSelector=site+in+%28shop-example-com%29"),
        format!(
            "{GV}/namespaces/x/error_ratio?labelSelector=site%3Dshop-example-com%2Cwindow%3D5m"
        ),
    ] {
        let (code, v) = get(&st, Some(proxy()), &uri).await;
        assert_eq!(code, StatusCode::OK, "{uri}: {v}");
        assert_eq!(v["items"][0]["metricLabels"]["window"], "5m");
        // 1 × 503 out of 10.
        assert_eq!(v["items"][0]["value"], "100m", "{v}");
    }
}

#[tokio::test]
async fn errors_are_status_objects() {
    let st = state(&[]);
    let cases = [
        ("rps?labelSelector=site%3Dnowhere", 404, "NotFound"),
        ("rps", 400, "BadRequest"),
        ("rps?labelSelector=app%3Dx", 400, "BadRequest"),
        ("rps?labelSelector=site+in+%28a%2Cb%29", 400, "BadRequest"),
        (
            "qps?labelSelector=site%3Dshop-example-com",
            400,
            "BadRequest",
        ),
        // No FPM target in the fixture: unmeasurable, not 0.
        (
            "fpm-queue?labelSelector=site%3Dshop-example-com",
            503,
            "ServiceUnavailable",
        ),
    ];
    for (tail, code, reason) in cases {
        let (c, v) = get(&st, Some(proxy()), &format!("{GV}/namespaces/x/{tail}")).await;
        assert_eq!(c.as_u16(), code, "{tail}: {v}");
        assert_eq!(v["kind"], "Status", "{tail}");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], reason, "{tail}");
        assert_eq!(v["code"], code);
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let (c, v) = get(&st, Some(proxy()), "/openapi/v2").await;
    assert_eq!(
        (c, &v["reason"]),
        (StatusCode::NOT_FOUND, &json!("NotFound"))
    );
}

#[tokio::test]
async fn stale_data_is_503_with_retry_after() {
    let st = state(&[]);
    let st = ApiState {
        freshness: Freshness {
            max_snapshot_age: std::time::Duration::ZERO,
            ..Freshness::default()
        },
        ..st
    };
    std::thread::sleep(std::time::Duration::from_millis(5));
    let req = Request::get(format!(
        "{GV}/namespaces/x/rps?labelSelector=site%3Dshop-example-com"
    ))
    .extension(proxy())
    .body(Body::empty())
    .unwrap();
    let resp = api::router(st).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["details"], json!({"retryAfterSeconds": 1}));
    assert!(v["message"].as_str().unwrap().contains("old"), "{v}");
}

#[tokio::test]
async fn only_the_front_proxy_is_answered_but_probes_are_open() {
    let st = state(&["front-proxy-client"]);
    let uri = format!("{GV}/namespaces/x/rps?labelSelector=site%3Dshop-example-com");
    let (c, v) = get(&st, None, &uri).await;
    assert_eq!(
        (c, &v["reason"]),
        (StatusCode::UNAUTHORIZED, &json!("Unauthorized"))
    );
    let (c, _) = get(&st, None, "/apis").await;
    assert_eq!(c, StatusCode::UNAUTHORIZED);
    let (c, _) = get(&st, None, "/no/such/path").await;
    assert_eq!(c, StatusCode::UNAUTHORIZED);
    let other = Peer {
        has_cert: true,
        cn: Some("kubelet".into()),
    };
    let (c, v) = get(&st, Some(other.clone()), &uri).await;
    assert_eq!(
        (c, &v["reason"]),
        (StatusCode::FORBIDDEN, &json!("Forbidden"))
    );
    assert!(v["message"].as_str().unwrap().contains("kubelet"));
    // Empty allowed_names: any certificate the CA signed.
    let (c, _) = get(&state(&[]), Some(other), &uri).await;
    assert_eq!(c, StatusCode::OK);
    for probe in ["/healthz", "/livez"] {
        let (c, v) = get(&st, None, probe).await;
        assert_eq!((c, v), (StatusCode::OK, json!("ok\n")));
    }
    // The fixture's reader never published its first scan.
    let (c, _) = get(&st, None, "/readyz").await;
    assert_eq!(c, StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn config_errors_name_the_field() {
    let on = |f: fn(&mut ExternalMetricsConfig)| {
        let mut c = ExternalMetricsConfig {
            listen: ":6443".into(),
            tls_cert_file: Some("/nonexistent/tls.crt".into()),
            tls_key_file: Some("/nonexistent/tls.key".into()),
            client_ca_file: Some("/nonexistent/ca.crt".into()),
            ..ExternalMetricsConfig::default()
        };
        f(&mut c);
        c.validate().unwrap_err().field
    };
    assert_eq!(on(|_| {}), "external_metrics.tls_cert_file");
    assert_eq!(
        on(|c| c.tls_key_file = None),
        "external_metrics.tls_key_file"
    );
    assert_eq!(
        on(|c| c.client_ca_file = None),
        "external_metrics.client_ca_file"
    );
    assert_eq!(on(|c| c.listen = "6443".into()), "external_metrics.listen");
    assert_eq!(
        on(|c| c.max_connections = 0),
        "external_metrics.max_connections"
    );
    assert_eq!(
        on(|c| c.header_read_timeout_secs = 0),
        "external_metrics.header_read_timeout_secs"
    );
    assert_eq!(
        on(|c| c.allowed_names = vec![" front-proxy-client".into()]),
        "external_metrics.allowed_names"
    );
    // Off: the files are not needed.
    assert!(ExternalMetricsConfig::default().validate().is_ok());
    let yaml = "listen: ':6443'\ntls_cert_file: /a\ntls_key_file: /b\nclient_ca_file: /c\nallowed_names: [front-proxy-client]\n";
    let c: ExternalMetricsConfig = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(c.allowed_names, ["front-proxy-client"]);
    assert!(serde_saphyr::from_str::<ExternalMetricsConfig>("listne: x\n").is_err());
}

#[test]
fn tls_files_are_checked_at_validation() {
    let d = std::env::temp_dir().join(format!("sitepulse-extm-unit-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(d.join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(d.join("tls.key"), key.serialize_pem()).unwrap();
    std::fs::write(d.join("other.key"), other.serialize_pem()).unwrap();
    std::fs::write(d.join("ca.crt"), cert.pem()).unwrap();
    std::fs::write(d.join("empty.crt"), "").unwrap();
    let cfg = |crt: &str, k: &str, ca: &str| ExternalMetricsConfig {
        listen: "127.0.0.1:0".into(),
        tls_cert_file: Some(d.join(crt)),
        tls_key_file: Some(d.join(k)),
        client_ca_file: Some(d.join(ca)),
        ..ExternalMetricsConfig::default()
    };
    assert_eq!(cfg("tls.crt", "tls.key", "ca.crt").validate(), Ok(()));
    let e = cfg("tls.crt", "other.key", "ca.crt")
        .validate()
        .unwrap_err();
    assert_eq!(e.field, "external_metrics.tls_key_file", "{e}");
    let e = cfg("empty.crt", "tls.key", "ca.crt")
        .validate()
        .unwrap_err();
    assert_eq!(e.field, "external_metrics.tls_cert_file", "{e}");
    let e = cfg("tls.crt", "tls.key", "empty.crt")
        .validate()
        .unwrap_err();
    assert_eq!(e.field, "external_metrics.client_ca_file", "{e}");
    let e = cfg("tls.crt", "tls.crt", "ca.crt").validate().unwrap_err();
    assert_eq!(e.field, "external_metrics.tls_key_file", "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}
