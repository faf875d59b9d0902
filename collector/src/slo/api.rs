//! `GET /api/v1/slos` and `/api/v1/slos/{site}`: per site and SLO, the
//! objective, the budget remaining over the period, burn rates per
//! window and the alert table's rows (docs/slo.md). Query parameters:
//! `site` (one site), `alerting=true` (only SLOs a row alerts for).

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use sitepulse_alerting::engine::{BurnCheck, WindowBurn};
use sitepulse_alerting::{Sli, SloStatus};

use crate::serve::AppState;
use crate::serve::api::ApiError;

/// One SLO of one site.
#[derive(Debug, Serialize)]
pub struct SloJson<'a> {
    /// The site.
    pub site: &'a str,
    /// The SLO's name.
    pub slo: &'a str,
    /// `availability` or `latency`.
    pub kind: &'static str,
    /// Latency SLOs: the threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_ms: Option<u32>,
    /// Availability SLOs: whether 499 counts as an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors_include_499: Option<bool>,
    /// Percent of requests that must be good.
    pub objective_percent: f64,
    /// `30d`.
    pub period: String,
    /// The spec's description.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub description: &'a str,
    /// Labels its alerts carry.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: &'a BTreeMap<String, String>,
    /// Requests over the period (as far as the counts go back).
    pub period_requests: u64,
    /// Bad ones.
    pub period_bad: u64,
    /// Good / all over the period; `null` without requests.
    pub sli: Option<f64>,
    /// Fraction of the budget left (negative: overspent).
    pub budget_remaining: f64,
    /// Burn rate per window (`null`: no requests in it).
    pub burn_rates: BTreeMap<String, Option<f64>>,
    /// Requests and bad ones per window.
    pub windows: &'a [WindowBurn],
    /// The alert table's rows for this SLO.
    pub checks: &'a [BurnCheck],
    /// `ok`, `ticket` or `page`: the most urgent row alerting.
    pub state: &'static str,
}

impl<'a> SloJson<'a> {
    fn new(s: &'a SloStatus) -> Self {
        let (kind, threshold_ms, errors_include_499) = match s.slo.sli {
            Sli::Availability { with_499 } => ("availability", None, Some(with_499)),
            Sli::Latency { threshold_ms } => ("latency", Some(threshold_ms), None),
        };
        SloJson {
            site: &s.site,
            slo: &s.slo.name,
            kind,
            threshold_ms,
            errors_include_499,
            objective_percent: (s.slo.objective * 100.0 * 1e9).round() / 1e9,
            period: s.slo.period.to_string(),
            description: &s.slo.description,
            labels: &s.slo.labels,
            period_requests: s.period_requests,
            period_bad: s.period_bad,
            sli: s.sli,
            budget_remaining: s.budget_remaining,
            burn_rates: s
                .windows
                .iter()
                .map(|w| (w.window.to_string(), w.burn_rate))
                .collect(),
            windows: &s.windows,
            checks: &s.checks,
            state: s.alerting().map_or("ok", |sev| sev.as_str()),
        }
    }
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct SlosJson<'a> {
    /// When the SLOs were last evaluated (Unix seconds).
    pub evaluated_at: Option<f64>,
    /// The pipeline's clock the counts are placed by (Unix seconds; the
    /// lines' own time in a replay of old files).
    pub clock: Option<i64>,
    /// The SLOs.
    pub slos: Vec<SloJson<'a>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlosQuery {
    site: Option<String>,
    alerting: Option<bool>,
}

fn off() -> ApiError {
    ApiError::not_found("SLO evaluation is off (slo.enabled: false)")
}

fn answer(
    st: &AppState,
    headers: &axum::http::HeaderMap,
    site: Option<&str>,
    alerting_only: bool,
) -> Result<axum::response::Response, ApiError> {
    let slo = st.slo.as_ref().ok_or_else(off)?;
    if let Some(hub) = &st.alerts {
        hub.access.reader(headers)?;
    }
    let view = slo.view();
    let published = st.live.published();
    // Any spelling of a site's name finds it, as in /api/v1/sites.
    let site = match site {
        Some(name) => Some(
            published
                .sites
                .site(name)
                .map(|s| s.name.clone())
                .or_else(|| {
                    view.statuses
                        .iter()
                        .any(|s| s.site == name)
                        .then(|| name.to_owned())
                })
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "no site named {name:?}; /api/v1/sites lists the known ones"
                    ))
                })?,
        ),
        None => None,
    };
    let doc = SlosJson {
        evaluated_at: view
            .evaluated
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
        clock: view.clock_unix,
        slos: view
            .statuses
            .iter()
            .filter(|s| site.as_deref().is_none_or(|n| s.site == n))
            .filter(|s| !alerting_only || s.alerting().is_some())
            .map(SloJson::new)
            .collect(),
    };
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// `/api/v1/slos`.
pub async fn slos(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    q: Result<Query<SlosQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!(
            "{}: parameters are site and alerting (true or false)",
            e.body_text()
        ),
        parameter: None,
    })?;
    answer(
        &st,
        &headers,
        q.site.as_deref(),
        q.alerting.unwrap_or(false),
    )
}

/// `/api/v1/slos/{site}`.
pub async fn site_slos(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Path(name) = name.map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!("the site in the path cannot be read: {}", e.body_text()),
        parameter: None,
    })?;
    answer(&st, &headers, Some(&name), false)
}
