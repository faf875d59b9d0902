//! The alerting API (docs/slo.md): `GET /api/v1/alerts`,
//! `GET|POST /api/v1/silences`, `DELETE /api/v1/silences/{id}`,
//! `GET|POST /api/v1/deploys`. Changes need a writer's credential
//! ([`super::auth`]); each accepted one is logged with the caller's name.
//! Errors are the API's one JSON shape, and a refused request changes
//! nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::json;
use sitepulse_alerting::alert::silence::{NewSilence, SilenceError};
use sitepulse_alerting::alert::state::AlertState;
use sitepulse_alerting::deploy::{DeployEvent, EventError};

use super::hub::AlertHub;
use crate::serve::AppState;
use crate::serve::api::ApiError;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn hub(st: &AppState) -> Result<std::sync::Arc<AlertHub>, ApiError> {
    st.alerts.clone().ok_or_else(|| {
        ApiError::not_found("alerting is off (alerting.enabled: false, or slo.enabled: false)")
    })
}

fn internal(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "alerting API: the change did not complete");
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: "the change did not complete; see the collector's log".into(),
        parameter: None,
    }
}

fn bad(message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
        parameter: None,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    state: Option<String>,
}

/// `GET /api/v1/alerts[?state=pending|firing|resolved]`.
pub async fn alerts(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let hub = hub(&st)?;
    hub.access.reader(&headers)?;
    let Query(q) = q.map_err(|e| bad(format!("{}: the parameter is state", e.body_text())))?;
    let want = match q.state.as_deref() {
        None => None,
        Some("pending") => Some(AlertState::Pending),
        Some("firing") => Some(AlertState::Firing),
        Some("resolved") => Some(AlertState::Resolved),
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "state",
                format!("`{other}`: pending, firing or resolved"),
            ));
        }
    };
    let view = hub.view();
    let list: Vec<_> = view
        .alerts
        .iter()
        .filter(|a| want.is_none_or(|w| a.state == w))
        .collect();
    Ok(Json(json!({ "alerts": list })).into_response())
}

/// `GET /api/v1/silences`.
pub async fn silences(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hub = hub(&st)?;
    hub.access.reader(&headers)?;
    let t = now();
    let list: Vec<_> = hub
        .silences()
        .into_iter()
        .map(|s| {
            let state = s.state(t);
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v["status"] = json!({ "state": state });
            v
        })
        .collect();
    Ok(Json(json!({ "silences": list })).into_response())
}

fn silence_error(e: SilenceError) -> ApiError {
    match e {
        SilenceError::Invalid(m) => bad(m),
        SilenceError::NotFound(id) => ApiError::not_found(format!("no silence {id}")),
        SilenceError::Full => ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: e.to_string(),
            parameter: None,
        },
        SilenceError::Io(m) => {
            tracing::error!(error = %m, "silences cannot be saved");
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "the silence cannot be saved; nothing was changed".into(),
                parameter: None,
            }
        }
    }
}

/// `POST /api/v1/silences`: `{"matchers": ["site=\"shop\""], "endsAt":
/// 1800000000, "comment": "..."}`.
pub async fn create_silence(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let hub = hub(&st)?;
    let who = hub
        .access
        .writer(method.as_str(), uri.path(), &headers, &body)?;
    let new: NewSilence = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("{e} (keys: matchers, startsAt, endsAt, comment)")))?;
    // Saved with an fsync: off the runtime's workers.
    let s = tokio::task::spawn_blocking(move || hub.silence(new, &who, now()))
        .await
        .map_err(|e| internal(&e))?
        .map_err(silence_error)?;
    Ok((
        StatusCode::OK,
        Json(json!({ "silenceID": s.id, "silence": s })),
    )
        .into_response())
}

/// `DELETE /api/v1/silences/{id}`: expires it now.
pub async fn expire_silence(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let hub = hub(&st)?;
    let who = hub
        .access
        .writer(method.as_str(), uri.path(), &headers, &body)?;
    let Path(id) = id.map_err(|e| {
        bad(format!(
            "the id in the path cannot be read: {}",
            e.body_text()
        ))
    })?;
    let s = tokio::task::spawn_blocking(move || hub.expire(&id, &who, now()))
        .await
        .map_err(|e| internal(&e))?
        .map_err(silence_error)?;
    Ok(Json(json!({ "silence": s })).into_response())
}

/// `GET /api/v1/deploys`: rollouts in progress, recent ones, counters.
pub async fn deploys(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let hub = hub(&st)?;
    hub.access.reader(&headers)?;
    let v = hub.view();
    Ok(Json(json!({
        "active": v.deploys_active,
        "recent": v.deploys_recent,
        "stats": v.deploy_stats,
    }))
    .into_response())
}

/// `POST /api/v1/deploys`: a deploy event (see
/// `sitepulse_alerting::deploy::event`).
pub async fn deploy_event(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let hub = hub(&st)?;
    let who = hub
        .access
        .writer(method.as_str(), uri.path(), &headers, &body)?;
    let ev = DeployEvent::from_json(&body, &who).map_err(|e| bad(e.to_string()))?;
    let (site, version) = (ev.site.clone(), ev.version.clone());
    let applied = tokio::task::spawn_blocking(move || hub.deploy(ev, now()))
        .await
        .map_err(|e| internal(&e))?;
    match applied {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": true, "site": site, "version": version })),
        )
            .into_response()),
        Err(e @ (EventError::NoRollout(_) | EventError::OtherVersion { .. })) => Err(ApiError {
            status: StatusCode::CONFLICT,
            message: e.to_string(),
            parameter: None,
        }),
        Err(e @ EventError::TooMany(_)) => Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: e.to_string(),
            parameter: None,
        }),
        Err(e) => Err(bad(e.to_string())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {
    receiver: String,
}

/// `POST /api/v1/notifications/test`: `{"receiver": "oncall"}` sends one
/// firing test alert to that receiver now (retries included) and says
/// whether it was delivered.
pub async fn test_notification(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let hub = hub(&st)?;
    let who = hub
        .access
        .writer(method.as_str(), uri.path(), &headers, &body)?;
    let b: TestBody =
        serde_json::from_slice(&body).map_err(|e| bad(format!("{e} (keys: receiver)")))?;
    let notifier = hub.notifier(&b.receiver).ok_or_else(|| {
        let names: Vec<&String> = hub.notifiers().keys().collect();
        ApiError::not_found(format!(
            "no receiver {:?}; receivers: {names:?}",
            b.receiver
        ))
    })?;
    let mut labels = std::collections::BTreeMap::new();
    labels.insert(
        "alertname".to_owned(),
        "SitepulseTestNotification".to_owned(),
    );
    labels.insert("severity".to_owned(), "test".to_owned());
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(
        "summary".to_owned(),
        format!("A test notification sent by {who} through sitepulse"),
    );
    let alert = sitepulse_alerting::notify::Alert {
        labels: labels.clone(),
        annotations,
        starts_at: now() * 1000,
        ends_at: None,
        generator_url: format!(
            "{}/api/v1/alerts",
            hub.config().external_url.trim_end_matches('/')
        ),
        status: sitepulse_alerting::notify::AlertStatus::Firing,
    };
    let n = sitepulse_alerting::notify::Notification::new(
        &b.receiver,
        "{}:{alertname=\"SitepulseTestNotification\"}",
        labels,
        &hub.config().external_url,
        vec![alert],
    );
    tracing::info!(receiver = %b.receiver, by = %who, "test notification requested");
    match notifier.send(&n).await {
        Ok(()) => Ok(Json(json!({ "sent": true, "receiver": b.receiver })).into_response()),
        Err(e) => Err(ApiError {
            status: StatusCode::BAD_GATEWAY,
            message: e.to_string(),
            parameter: None,
        }),
    }
}
