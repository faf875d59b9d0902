//! The values every autoscaler interface answers, and
//! `/api/v1/autoscale/{site}`, over the serve tests' small farm
//! (`serve::api::fixture`): `shop-example-com` has 10 requests in its
//! minute (one 503 of 900 ms); FPM's pool `shop` reached max_children
//! twice.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::metrics_api::{Access, MetricsApiConfig, Shared};
use super::query::{Metric, Query, Window};
use super::values::{Freshness, ReadyPods, ValueError, View};
use crate::fpm::{FpmSnapshot, FpmStatus, PoolStatus};
use crate::run::Published;
use crate::serve::api::fixture;
use crate::serve::{AppState, ServerConfig, router};

fn pool(site: &str, up: bool, queue: Option<u64>, active: u64, total: u64) -> PoolStatus {
    PoolStatus {
        site: site.into(),
        pool: site.into(),
        address: "tcp://10.42.1.1:9000".into(),
        up,
        saturated: false,
        error: (!up).then(|| "connection refused".into()),
        scraped: Some(SystemTime::now()),
        status: Some(FpmStatus {
            listen_queue: queue,
            active_processes: active,
            idle_processes: total - active,
            total_processes: total,
            ..FpmStatus::default()
        }),
        scrape_failures: 0,
    }
}

fn view(now: SystemTime) -> View {
    View {
        published: Arc::new(Published {
            seq: 1,
            taken: Some(SystemTime::now()),
            sites: fixture::snapshot(),
            ..Published::default()
        }),
        fpm: Arc::new(FpmSnapshot {
            pools: vec![
                pool("shop.example.com", true, Some(3), 4, 5),
                pool("shop-example-com", true, Some(1), 1, 5),
                // 3 active: 2 with requests, 1 answering the scrape.
                pool("blog-example-com", true, None, 3, 4),
                pool("quiet-example-com", false, None, 0, 1),
            ],
        }),
        pods: None,
        now,
        freshness: Freshness::default(),
    }
}

fn q(site: &str, metric: Metric) -> Query {
    Query {
        site: site.into(),
        metric,
        window: Window::OneMinute,
    }
}

#[test]
fn values_come_from_the_windows_and_the_pools() {
    let v = view(SystemTime::now());
    let shop = v.values("shop.example.com", Window::OneMinute).unwrap();
    assert_eq!(shop.site, "shop-example-com");
    assert_eq!(shop.requests, 10);
    assert!((shop.rps - 10.0 / shop.covered_secs).abs() < 1e-9);
    assert_eq!(shop.error_ratio, 0.1);
    // One upstream address in the Traefik lines.
    assert_eq!((shop.pods, shop.pods_source), (Some(1), Some("logs")));
    assert_eq!(shop.rps_per_pod, Some(shop.rps));
    // 9 × 20 ms + 900 ms over the covered seconds.
    assert!((shop.inflight.unwrap() - 1.08 / shop.covered_secs).abs() < 1e-9);
    assert!(shop.p95_ms.unwrap() >= 20.0, "{:?}", shop.p95_ms);
    // FPM's log names pool `shop`: without `sites.domains` that is site
    // `shop`, whose minute holds two max_children warnings.
    assert_eq!(shop.fpm_max_children_rate, 0.0);
    let pool = v.values("shop", Window::OneMinute).unwrap();
    assert!((pool.fpm_max_children_rate - 2.0 / pool.covered_secs).abs() < 1e-9);
    assert!((pool.fpm_slow_rate - 1.0 / pool.covered_secs).abs() < 1e-9);
    assert_eq!(pool.pods, None);
    // No request in its windows: nothing in flight, no latency to give.
    assert_eq!(
        (pool.requests, pool.inflight, pool.p95_ms),
        (0, Some(0.0), None)
    );
    assert_eq!(v.value(&q("shop", Metric::Inflight)), Ok(0.0));
    assert!(matches!(
        v.value(&q("shop", Metric::P95Ms)),
        Err(ValueError::Unavailable {
            metric: Metric::P95Ms,
            ..
        })
    ));
    // Both spellings of the site's pools are summed.
    let fpm = shop.fpm.as_ref().unwrap();
    assert_eq!(
        (fpm.listen_queue, fpm.active_processes, fpm.total_processes),
        (Some(4), 5, 10)
    );
    assert_eq!(v.value(&q("shop-example-com", Metric::FpmQueue)), Ok(4.0));
    assert_eq!(
        v.value(&q("shop-example-com", Metric::FpmBusyRatio)),
        Ok(0.5)
    );
    assert_eq!(v.value(&q("shop-example-com", Metric::FpmActive)), Ok(5.0));
    assert_eq!(v.value(&q("shop-example-com", Metric::ErrorRatio)), Ok(0.1));
    assert_eq!(v.value(&q("shop-example-com", Metric::Rps)), Ok(shop.rps));
    let five = v.values("shop-example-com", Window::FiveMinutes).unwrap();
    assert_eq!((five.window, five.requests), ("5m", 10));
}

#[test]
fn missing_data_is_an_error_never_a_zero() {
    let v = view(SystemTime::now());
    assert_eq!(
        v.value(&q("nope", Metric::Rps)),
        Err(ValueError::UnknownSite("nope".into()))
    );
    // A Unix-socket pool has no listen queue.
    let e = v
        .value(&q("blog-example-com", Metric::FpmQueue))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ValueError::Unavailable {
                metric: Metric::FpmQueue,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("Unix sockets"), "{e}");
    assert_eq!(
        v.value(&q("blog-example-com", Metric::FpmBusyRatio)),
        Ok(0.5)
    );
    // Every scrape failing: no numbers in the JSON either (an autoscaler
    // reading `fpm.busy_ratio` gets an error, never a 0).
    let e = v
        .value(&q("quiet-example-com", Metric::FpmActive))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ValueError::Unavailable {
                metric: Metric::FpmActive,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("fails"), "{e}");
    let quiet = v.values("quiet-example-com", Window::OneMinute).unwrap();
    assert_eq!(quiet.fpm, None);
    assert!(quiet.fpm_error.is_some());
    let json = serde_json::to_value(&quiet).unwrap();
    assert_eq!(json["fpm"], Value::Null);
    assert!(json["fpm_error"].as_str().unwrap().contains("fails"));
    // A snapshot older than allowed.
    let late = view(SystemTime::now() + Duration::from_secs(6));
    let e = late.value(&q("shop-example-com", Metric::Rps)).unwrap_err();
    assert!(matches!(e, ValueError::Stale { .. }), "{e}");
    // Nothing published yet.
    let mut empty = view(SystemTime::now());
    empty.published = Arc::new(Published::default());
    assert_eq!(
        empty.value(&q("shop", Metric::Rps)),
        Err(ValueError::NotReady)
    );
}

#[test]
fn stale_fpm_status_and_kubernetes_pods() {
    let mut v = view(SystemTime::now());
    let mut fpm = (*v.fpm).clone();
    for p in &mut fpm.pools {
        p.scraped = Some(SystemTime::now() - Duration::from_secs(30));
    }
    v.fpm = Arc::new(fpm);
    let shop = v.values("shop-example-com", Window::OneMinute).unwrap();
    assert_eq!(shop.fpm, None, "stale pools give no numbers");
    assert!(shop.rps > 0.0, "the windows stay");
    let e = v
        .value(&q("shop-example-com", Metric::FpmBusyRatio))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ValueError::Stale {
                what: "PHP-FPM status",
                ..
            }
        ),
        "{e}"
    );
    // The Kubernetes API's ready pods win over the logs' count.
    v.pods = Some(Arc::new(ReadyPods {
        by_site: [("shop.example.com".to_owned(), 4)].into(),
        synced: Some(SystemTime::now()),
    }));
    let shop = v.values("shop-example-com", Window::OneMinute).unwrap();
    assert_eq!((shop.pods, shop.pods_source), (Some(4), Some("kubernetes")));
    assert!((shop.rps_per_pod.unwrap() - shop.rps / 4.0).abs() < 1e-12);
    v.pods = Some(Arc::new(ReadyPods {
        synced: Some(SystemTime::now() - Duration::from_secs(600)),
        ..(**v.pods.as_ref().unwrap()).clone()
    }));
    // A stale pod list refuses rps_per_pod only.
    let shop = v.values("shop-example-com", Window::OneMinute).unwrap();
    assert_eq!((shop.pods, shop.rps_per_pod), (None, None));
    assert!(matches!(shop.pods_error, Some(ValueError::Stale { .. })));
    assert!(matches!(
        v.value(&q("shop-example-com", Metric::RpsPerPod)),
        Err(ValueError::Stale { .. })
    ));
    assert_eq!(v.value(&q("shop-example-com", Metric::Rps)), Ok(shop.rps));
}

async fn call(shared: Shared, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let live = fixture::live(fixture::snapshot());
    let app = router(
        AppState::new(live).with_autoscale(shared),
        &ServerConfig::default(),
    );
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn metrics_api_answers_json_keda_can_pick_from() {
    let (status, v) = call(Shared::default(), "/api/v1/autoscale/shop.example.com", &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["site"], "shop-example-com");
    assert_eq!(v["window"], "1m");
    assert_eq!(v["requests"], 10);
    assert_eq!(v["error_ratio"], 0.1);
    assert_eq!(v["pods"], 1);
    assert!(v["rps"].as_f64().unwrap() > 0.0);
    let (status, v) = call(
        Shared::default(),
        "/api/v1/autoscale/shop-example-com?window=5m",
        &[],
    )
    .await;
    assert_eq!((status, &v["window"]), (StatusCode::OK, &Value::from("5m")));
    let (status, v) = call(
        Shared::default(),
        "/api/v1/autoscale/shop-example-com?window=1h",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["parameter"], "window");
    let (status, v) = call(Shared::default(), "/api/v1/autoscale/nope", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("unknown site"), "{v}");
    let (status, _) = call(
        Shared::default(),
        "/api/v1/autoscale/shop-example-com?windw=1m",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bearer_tokens_and_api_keys_from_files_that_may_change() {
    let dir = tempdir();
    let token = dir.join("token");
    let key = dir.join("key");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    std::fs::write(&key, "k3y").unwrap();
    let cfg = MetricsApiConfig {
        bearer_token_file: Some(token.clone()),
        api_key_file: Some(key.clone()),
        ..MetricsApiConfig::default()
    };
    let shared = || Shared {
        access: Access::new(&cfg).unwrap(),
        ..Shared::default()
    };
    let uri = "/api/v1/autoscale/shop-example-com";
    assert_eq!(call(shared(), uri, &[]).await.0, StatusCode::UNAUTHORIZED);
    for bad in [
        "Bearer nope",
        "Bearer s3cret-tokenX",
        "Basic czNjcmV0LXRva2Vu",
        "s3cret-token",
    ] {
        assert_eq!(
            call(shared(), uri, &[("authorization", bad)]).await.0,
            StatusCode::UNAUTHORIZED,
            "{bad}"
        );
    }
    assert_eq!(
        call(shared(), uri, &[("authorization", "Bearer s3cret-token")])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(shared(), uri, &[("x-api-key", "k3y")]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(shared(), uri, &[("x-api-key", "k3y2")]).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A rotated secret is picked up without a restart.
    let access = Access::new(&cfg).unwrap();
    let mut h = axum::http::HeaderMap::new();
    h.insert("authorization", "Bearer s3cret-token".parse().unwrap());
    assert!(access.admits(&h));
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&token, "rotated").unwrap();
    // Some filesystems keep a coarse modification time: make it differ.
    let t = SystemTime::now() + Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(&token)
        .unwrap()
        .set_modified(t)
        .unwrap();
    assert!(!access.admits(&h));
    h.insert("authorization", "Bearer rotated".parse().unwrap());
    assert!(access.admits(&h));
    // Config problems name the field.
    let bad = MetricsApiConfig {
        bearer_token_file: Some(dir.join("missing")),
        ..MetricsApiConfig::default()
    };
    assert_eq!(
        bad.validate().unwrap_err().field,
        "metrics_api.bearer_token_file"
    );
    std::fs::write(dir.join("empty"), "\n").unwrap();
    let bad = MetricsApiConfig {
        api_key_file: Some(dir.join("empty")),
        ..MetricsApiConfig::default()
    };
    assert!(bad.validate().unwrap_err().message.contains("empty"));
    let bad = MetricsApiConfig {
        api_key_header: "x key".into(),
        ..MetricsApiConfig::default()
    };
    assert_eq!(
        bad.validate().unwrap_err().field,
        "metrics_api.api_key_header"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "sitepulse-autoscale-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
