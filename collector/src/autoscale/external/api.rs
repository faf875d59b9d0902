//! The routes of `external.metrics.k8s.io/v1beta1`, as an extension
//! apiserver built on `sigs.k8s.io/custom-metrics-apiserver` serves them
//! (KEDA's metrics server, prometheus-adapter):
//!
//! - discovery: `/apis` (APIGroupList), `/apis/external.metrics.k8s.io`
//!   (APIGroup), `/apis/external.metrics.k8s.io/v1beta1` (APIResourceList
//!   with each metric a namespaced resource of kind
//!   `ExternalMetricValueList`, verb `get`: custom-metrics-apiserver
//!   `pkg/provider/resource_lister.go`);
//! - `GET …/v1beta1/namespaces/{ns}/{metric}?labelSelector=site=…`: an
//!   `ExternalMetricValueList` with exactly one item (k8s.io/metrics
//!   `pkg/apis/external_metrics/v1beta1/types.go`), since the HPA sums the
//!   items it gets;
//! - `/healthz`, `/livez`, `/readyz` for the kubelet, open to anyone.
//!
//! Errors are `meta/v1` `Status` objects (what client-go decodes): `400
//! BadRequest` for a malformed metric or selector, `404 NotFound` for an
//! unknown site or path, `503 ServiceUnavailable` (with `Retry-After`) for
//! data that is not there yet, stale or unmeasurable, so the HPA keeps its
//! replica count rather than act on a made-up 0. `/openapi/v2` and
//! `/openapi/v3` answer 404, which the aggregator's OpenAPI downloader
//! takes as "this server publishes no spec" (kube-aggregator
//! `pkg/controllers/openapi/aggregator/downloader.go`).
//!
//! Every other route needs the front proxy's client certificate: none is
//! `401 Unauthorized`, a CN outside `allowed_names` is `403 Forbidden`.
//! `X-Remote-User` / `X-Remote-Group`, set by the aggregator for the user
//! it proxies for, are read only from such a peer, for the access log.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::quantity::Quantity;
use super::selector;
use crate::autoscale::query::Metric;
use crate::autoscale::values::{Freshness, ValueError, View};
use crate::run::LiveState;

/// The API group.
pub const GROUP: &str = "external.metrics.k8s.io";
/// Its one version.
pub const VERSION: &str = "v1beta1";
/// `group/version`.
pub const GROUP_VERSION: &str = "external.metrics.k8s.io/v1beta1";

/// The TLS peer of a connection, attached to each of its requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// A client certificate was presented (and verified against the
    /// client CA: the handshake refuses any other).
    pub has_cert: bool,
    /// Its subject CN.
    pub cn: Option<String>,
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The collector's published snapshots.
    pub live: LiveState,
    /// How old data may be.
    pub freshness: Freshness,
    /// CNs admitted; empty admits every certificate the CA signed.
    pub allowed_names: Arc<Vec<String>>,
}

/// A `meta/v1` `Status` (apimachinery `pkg/apis/meta/v1/types.go`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: Empty,
    status: &'static str,
    message: &'a str,
    reason: &'static str,
    code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<StatusDetails>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusDetails {
    retry_after_seconds: i32,
}

/// `{}`: an empty `ListMeta` / `ObjectMeta`.
#[derive(Debug, Serialize)]
struct Empty {}

/// A failed request as a `Status` answer.
fn status(code: StatusCode, message: &str) -> Response {
    let reason = match code {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        _ => "InternalError",
    };
    let unavailable = code == StatusCode::SERVICE_UNAVAILABLE;
    let body = Status {
        kind: "Status",
        api_version: "v1",
        metadata: Empty {},
        status: "Failure",
        message,
        reason,
        code: code.as_u16(),
        details: unavailable.then_some(StatusDetails {
            retry_after_seconds: 1,
        }),
    };
    let mut resp = (code, json(&body)).into_response();
    if unavailable {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// A JSON body with `Content-Type: application/json` (what client-go and
/// the aggregator's legacy discovery fetch decode).
fn json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupVersionForDiscovery {
    group_version: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    name: &'static str,
    versions: [GroupVersionForDiscovery; 1],
    preferred_version: GroupVersionForDiscovery,
}

fn group(typed: bool) -> ApiGroup {
    let gv = || GroupVersionForDiscovery {
        group_version: GROUP_VERSION,
        version: VERSION,
    };
    ApiGroup {
        kind: typed.then_some("APIGroup"),
        api_version: typed.then_some("v1"),
        name: GROUP,
        versions: [gv()],
        preferred_version: gv(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroupList {
    kind: &'static str,
    api_version: &'static str,
    groups: [ApiGroup; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResource {
    name: &'static str,
    singular_name: &'static str,
    namespaced: bool,
    kind: &'static str,
    verbs: [&'static str; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResourceList {
    kind: &'static str,
    api_version: &'static str,
    group_version: &'static str,
    resources: Vec<ApiResource>,
}

/// `GET /apis`.
async fn apis() -> Response {
    json(&ApiGroupList {
        kind: "APIGroupList",
        api_version: "v1",
        groups: [group(false)],
    })
}

/// `GET /apis/external.metrics.k8s.io`.
async fn api_group() -> Response {
    json(&group(true))
}

/// `GET /apis/external.metrics.k8s.io/v1beta1`: every metric, by the name
/// it is asked by.
async fn resources() -> Response {
    json(&ApiResourceList {
        kind: "APIResourceList",
        api_version: "v1",
        group_version: GROUP_VERSION,
        resources: Metric::ALL
            .iter()
            .map(|m| ApiResource {
                name: m.name(),
                singular_name: "",
                namespaced: true,
                kind: "ExternalMetricValueList",
                verbs: ["get"],
            })
            .collect(),
    })
}

/// One `ExternalMetricValue` (k8s.io/metrics
/// `pkg/apis/external_metrics/v1beta1/types.go`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalMetricValue {
    metric_name: String,
    metric_labels: BTreeMap<&'static str, String>,
    /// `metav1.Time`: RFC 3339 in UTC, whole seconds.
    timestamp: String,
    /// `WindowSeconds`: the seconds a rate was taken over, rounded up;
    /// absent for a gauge.
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<i64>,
    value: Quantity,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalMetricValueList {
    kind: &'static str,
    api_version: &'static str,
    metadata: Empty,
    items: [ExternalMetricValue; 1],
}

/// Unix seconds as `metav1.Time` writes them (`2006-01-02T15:04:05Z`).
fn rfc3339_secs(unix: i64) -> String {
    let (y, m, d) = sitepulse_pipeline::time::civil_from_days(unix.div_euclid(86_400));
    let sod = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Whether a metric is a gauge read at one instant (FPM's status page)
/// rather than taken over the window.
fn is_gauge(m: Metric) -> bool {
    matches!(
        m,
        Metric::FpmQueue | Metric::FpmBusyRatio | Metric::FpmActive
    )
}

fn value_error(e: &ValueError) -> Response {
    let code = match e {
        ValueError::UnknownSite(_) => StatusCode::NOT_FOUND,
        ValueError::NotReady | ValueError::Stale { .. } | ValueError::Unavailable { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    status(code, &e.to_string())
}

/// `GET /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}`.
/// The namespace is not used: sites are the collector's, not a
/// namespace's.
async fn metric_value(
    State(st): State<ApiState>,
    Path((_ns, name)): Path<(String, String)>,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(r) => {
            return status(
                StatusCode::BAD_REQUEST,
                &format!("the query string cannot be read: {}", r.body_text()),
            );
        }
    };
    let sel = params.get("labelSelector").map_or("", String::as_str);
    let q = match selector::query(&name, sel) {
        Ok(q) => q,
        Err(e) => return status(StatusCode::BAD_REQUEST, &e.0),
    };
    let view = View::load(&st.live, st.freshness);
    let values = match view.values(&q.site, q.window) {
        Ok(v) => v,
        Err(e) => return value_error(&e),
    };
    let v = match View::pick(&values, q.metric) {
        Ok(v) => v,
        Err(e) => return value_error(&e),
    };
    let Some(value) = Quantity::from_f64(v) else {
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "{} of site `{}` is not a finite number",
                q.metric, values.site
            ),
        );
    };
    let at = if values.at_unix > 0 {
        values.at_unix
    } else {
        crate::unix_now()
    };
    // Whole seconds that contain the window (a fraction of one right after
    // a start).
    let window = (!is_gauge(q.metric) && values.covered_secs > 0.0)
        .then(|| values.covered_secs.ceil() as i64);
    let labels = BTreeMap::from([
        ("site", values.site),
        ("window", q.window.name().to_owned()),
    ]);
    json(&ExternalMetricValueList {
        kind: "ExternalMetricValueList",
        api_version: GROUP_VERSION,
        metadata: Empty {},
        items: [ExternalMetricValue {
            metric_name: name,
            metric_labels: labels,
            timestamp: rfc3339_secs(at),
            window,
            value,
        }],
    })
}

async fn readyz(State(st): State<ApiState>) -> (StatusCode, String) {
    match st.live.readiness() {
        Ok(()) => (StatusCode::OK, "ok\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn no_route() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "the server could not find the requested resource",
    )
}

async fn no_method() -> Response {
    status(
        StatusCode::METHOD_NOT_ALLOWED,
        "the server does not allow this method on the requested resource",
    )
}

fn header_str<'h>(h: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Refuses requests without an admitted client certificate; logs every
/// admitted one with the user the aggregator proxies for.
async fn authenticate(State(st): State<ApiState>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<Peer>().cloned().unwrap_or_default();
    if !peer.has_cert {
        return status(
            StatusCode::UNAUTHORIZED,
            "a client certificate signed by client_ca_file is required: this API answers the aggregation layer's front proxy",
        );
    }
    let cn = peer.cn.as_deref().unwrap_or("");
    if !st.allowed_names.is_empty() && !st.allowed_names.iter().any(|n| n == cn) {
        return status(
            StatusCode::FORBIDDEN,
            &format!("client certificate CN `{cn}` is not in allowed_names"),
        );
    }
    let started = Instant::now();
    let user = header_str(req.headers(), "x-remote-user").join(",");
    let groups = header_str(req.headers(), "x-remote-group").join(",");
    let method = req.method().clone();
    let uri = req.uri().clone();
    let resp = next.run(req).await;
    let code = resp.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    if code < 400 {
        tracing::debug!(%method, %uri, code, user, groups, cn, micros, "external metrics API");
    } else {
        tracing::info!(%method, %uri, code, user, groups, cn, micros, "external metrics API");
    }
    resp
}

/// The routes; testable without a socket by giving requests a [`Peer`]
/// extension (`tower::ServiceExt::oneshot`).
pub fn router(state: ApiState) -> Router {
    let gv = "/apis/external.metrics.k8s.io/v1beta1";
    let guarded = Router::new()
        .route("/apis", get(apis))
        .route("/apis/external.metrics.k8s.io", get(api_group))
        .route(gv, get(resources))
        .route(
            &format!("{gv}/namespaces/{{ns}}/{{metric}}"),
            get(metric_value),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .with_state(state)
}
