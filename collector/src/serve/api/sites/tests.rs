use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::serve::api::fixture;
use crate::serve::{AppState, ServerConfig, router};

fn pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn parameters_are_checked_and_named() {
    let q = SitesQuery::parse(&pairs("window=5m&limit=2&sort=p95&site=a,b&site=a")).unwrap();
    assert_eq!(
        q,
        SitesQuery {
            window: Some(1),
            limit: Some(2),
            sort: Sort::P95,
            sites: Some(vec!["a".into(), "b".into()]),
        }
    );
    for (query, param, says) in [
        ("window=2m", Some("window"), "use one of 1m, 5m, 1h"),
        ("limit=0", Some("limit"), "from 1 to 100000"),
        ("limit=ten", Some("limit"), "\"ten\" is not a whole number"),
        (
            "sort=fast",
            Some("sort"),
            "rps, requests, errors, error_ratio, p95, name",
        ),
        ("sort=rps&sort=name", Some("sort"), "given more than once"),
        ("site=a,,b", Some("site"), "empty site name"),
        ("windw=1m", None, "unknown parameter \"windw\""),
    ] {
        let e = SitesQuery::parse(&pairs(query)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(e.parameter, param, "{query}");
        assert!(e.message.contains(says), "{query}: {}", e.message);
    }
}

async fn get(uri: &str) -> (StatusCode, Value) {
    let state = AppState::new(fixture::live(fixture::snapshot()));
    let app = router(state, &ServerConfig::default());
    let resp = app
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp.headers()[axum::http::header::CONTENT_TYPE].clone();
    assert_eq!(ct, "application/json", "{uri}");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: {e}: {}", String::from_utf8_lossy(&body)));
    (status, v)
}

fn names(v: &Value) -> Vec<&str> {
    v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site"].as_str().unwrap())
        .collect()
}

/// Defaults: every window listed, busiest (1m rps) first, names breaking
/// ties. The fixture: shop-example-com 10 requests, blog-example-com 3,
/// quiet-example-com 1; shop and blog (FPM pools, WordPress) none; the
/// table's `_unknown` none.
#[tokio::test]
async fn default_lists_every_window_busiest_first() {
    let (st, v) = get("/api/v1/sites").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["window"], Value::Null);
    assert_eq!(v["sort"], "rps");
    assert_eq!(v["sites_total"], 6);
    assert_eq!(
        names(&v),
        [
            "shop-example-com",
            "blog-example-com",
            "quiet-example-com",
            "_unknown",
            "blog",
            "shop"
        ]
    );
    let shop = &v["sites"][0];
    for (w, secs) in [("1m", 60), ("5m", 300), ("1h", 3600)] {
        assert_eq!(shop[w]["secs"], secs, "{shop}");
        assert_eq!(shop[w]["requests"], 10, "{shop}");
        let covered = shop[w]["covered_secs"].as_f64().unwrap();
        assert!(covered > 0.0 && covered <= f64::from(secs), "{shop}");
        let rps = shop[w]["rps"].as_f64().unwrap();
        assert!((rps - 10.0 / covered).abs() < 1e-3, "{shop}");
    }
    let m1 = &shop["1m"];
    assert_eq!(m1["errors"], 1);
    assert_eq!(m1["error_ratio"], 0.1);
    assert_eq!(m1["class"]["2xx"], 8);
    assert_eq!(m1["class"]["4xx"], 1);
    assert_eq!(m1["codes"]["503"], 1);
    assert_eq!(m1["bytes"], 5120);
    assert_eq!(shop["total_requests"], 10);
    assert_eq!(shop["totals"]["timed_requests"], 10);
    assert_eq!(shop["totals"]["duration_secs"], 1.08);
    let shop_fpm = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == "shop")
        .unwrap();
    assert_eq!(shop_fpm["totals"]["php_errors"]["warning"], 2, "{shop_fpm}");
    assert_eq!(shop_fpm["totals"]["php_errors"]["fatal"], 1, "{shop_fpm}");
    assert_eq!(shop_fpm["totals"]["pools"][0]["pool"], "shop");
    assert_eq!(shop_fpm["totals"]["pools"][0]["max_children_reached"], 2);
    assert_eq!(shop_fpm["totals"]["pools"][0]["slow_requests"], 1);
    assert_eq!(shop_fpm["1m"]["requests"], 0);
}

#[tokio::test]
async fn window_sort_limit_and_site_choose_what_is_listed() {
    let (_, v) = get("/api/v1/sites?window=1h&sort=p95&limit=2").await;
    assert_eq!(v["window"], "1h");
    assert_eq!(v["sort"], "p95");
    // blog's requests took 1.2 s, shop's p95 is at most 900 ms.
    assert_eq!(names(&v), ["blog-example-com", "shop-example-com"]);
    let blog = v["sites"][0].as_object().unwrap();
    assert!(blog.contains_key("1h") && !blog.contains_key("1m") && !blog.contains_key("5m"));
    assert_eq!(blog["1h"]["secs"], 3600);

    let (_, v) = get("/api/v1/sites?sort=name").await;
    assert_eq!(
        names(&v),
        [
            "_unknown",
            "blog",
            "blog-example-com",
            "quiet-example-com",
            "shop",
            "shop-example-com"
        ]
    );
    let (_, v) = get("/api/v1/sites?sort=errors&limit=1").await;
    assert_eq!(names(&v), ["shop-example-com"]);
    let (_, v) = get("/api/v1/sites?sort=requests&window=5m").await;
    assert_eq!(
        names(&v)[..3],
        ["shop-example-com", "blog-example-com", "quiet-example-com"]
    );

    let (st, v) = get("/api/v1/sites?site=quiet-example-com,blog-example-com").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(names(&v), ["blog-example-com", "quiet-example-com"]);
    assert_eq!(v["sites_total"], 6);
    let (st, v) = get("/api/v1/sites?site=quiet-example-com").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["sites"][0]["1m"]["class"]["3xx"], 1);

    let (st, v) = get("/api/v1/sites/shop-example-com").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["site"], "shop-example-com");
    assert_eq!(v["5m"]["requests"], 10);
}

#[tokio::test]
async fn errors_are_json_naming_what_is_wrong() {
    let (st, v) = get("/api/v1/sites?window=2m").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v["parameter"], "window");
    assert_eq!(
        v["error"],
        "window: \"2m\" is not a window; use one of 1m, 5m, 1h"
    );
    let (st, v) = get("/api/v1/sites?site=nope,shop-example-com,gone").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(
        v["error"],
        "no site named \"nope\", \"gone\"; /api/v1/sites lists the 6 known"
    );
    let (st, v) = get("/api/v1/sites/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("\"nope\""), "{v}");
    // Axum's own rejections: a path segment that is not UTF-8 once
    // decoded, a path no route serves. (A query string always decodes:
    // bad bytes become U+FFFD, so `?site=%FF` is a site not found.)
    let (st, v) = get("/api/v1/sites/%FF").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("the site in the path cannot be read"),
        "{v}"
    );
    let (st, _) = get("/api/v1/sites?site=%FF").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = get("/api/v2/sites").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(
        v["error"].as_str().unwrap().contains("/api/v2/sites"),
        "{v}"
    );
}

#[tokio::test]
async fn other_methods_get_405_json() {
    let state = AppState::new(fixture::live(fixture::snapshot()));
    let app = router(state, &ServerConfig::default());
    let resp = app
        .oneshot(Request::post("/api/v1/sites").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "only GET (and HEAD) are served");
}
