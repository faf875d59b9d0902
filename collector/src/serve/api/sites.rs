//! `GET /api/v1/sites` and `GET /api/v1/sites/{site}`: per-site numbers
//! over the 1m, 5m and 1h windows and since start, from the latest
//! snapshot. Query parameters (`window`, `limit`, `sort`, `site`) choose
//! and order what is listed; a wrong one is a `400` naming it and what is
//! allowed. The answer to one query string is rendered once per snapshot
//! and reused until the next (pollers send the same query). Every field is
//! described in `docs/api.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sitepulse_pipeline::aggregate::{CLASS_NAMES, EVENT_NAMES, PHP_ERROR_LEVELS, TRACKED_CODES};
use sitepulse_pipeline::snapshot::{SiteSnapshot, SitesSnapshot, WINDOW_NAMES, WindowSummary};

use super::error::ApiError;
use crate::serve::AppState;

/// The most sites one answer lists (`limit`'s ceiling).
pub const MAX_LIMIT: usize = 100_000;

/// What `?sort=` orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Requests per second, highest first.
    #[default]
    Rps,
    /// Requests in the window, most first.
    Requests,
    /// 5xx responses in the window, most first.
    Errors,
    /// 5xx / requests in the window, highest first.
    ErrorRatio,
    /// 95th-percentile latency, slowest first (sites without requests last).
    P95,
    /// Site name, A to Z.
    Name,
}

impl Sort {
    /// The names `?sort=` takes, in [`Sort`] order.
    pub const NAMES: [&'static str; 6] =
        ["rps", "requests", "errors", "error_ratio", "p95", "name"];

    fn parse(s: &str) -> Option<Sort> {
        const ALL: [Sort; 6] = [
            Sort::Rps,
            Sort::Requests,
            Sort::Errors,
            Sort::ErrorRatio,
            Sort::P95,
            Sort::Name,
        ];
        Some(ALL[Sort::NAMES.iter().position(|n| *n == s)?])
    }

    fn name(self) -> &'static str {
        Sort::NAMES[self as usize]
    }
}

/// `/api/v1/sites`'s query, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitesQuery {
    /// Index into `WINDOW_NAMES`: the one window listed and sorted by.
    /// `None`: every window is listed, sorting uses 1m.
    pub window: Option<usize>,
    /// At most this many sites (after sorting).
    pub limit: Option<usize>,
    /// The order.
    pub sort: Sort,
    /// Only these sites (exact names), when given.
    pub sites: Option<Vec<String>>,
}

impl SitesQuery {
    /// Checks `pairs` (the decoded query string, in order).
    ///
    /// # Errors
    /// A `400` [`ApiError`] naming the first wrong parameter.
    pub fn parse(pairs: &[(String, String)]) -> Result<SitesQuery, ApiError> {
        let mut q = SitesQuery::default();
        let mut seen = [false; 3];
        let once = |seen: &mut [bool; 3], i: usize, name: &'static str| {
            if std::mem::replace(&mut seen[i], true) {
                Err(ApiError::bad_parameter(name, "given more than once"))
            } else {
                Ok(())
            }
        };
        for (k, v) in pairs {
            match k.as_str() {
                "window" => {
                    once(&mut seen, 0, "window")?;
                    let i = WINDOW_NAMES.iter().position(|w| *w == v).ok_or_else(|| {
                        ApiError::bad_parameter(
                            "window",
                            format!(
                                "{v:?} is not a window; use one of {}",
                                WINDOW_NAMES.join(", ")
                            ),
                        )
                    })?;
                    q.window = Some(i);
                }
                "limit" => {
                    once(&mut seen, 1, "limit")?;
                    let n = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::bad_parameter(
                                "limit",
                                format!("{v:?} is not a whole number from 1 to {MAX_LIMIT}"),
                            )
                        })?;
                    q.limit = Some(n);
                }
                "sort" => {
                    once(&mut seen, 2, "sort")?;
                    q.sort = Sort::parse(v).ok_or_else(|| {
                        ApiError::bad_parameter(
                            "sort",
                            format!(
                                "{v:?} is not a sort key; use one of {}",
                                Sort::NAMES.join(", ")
                            ),
                        )
                    })?;
                }
                "site" => {
                    let list = q.sites.get_or_insert_with(Vec::new);
                    for name in v.split(',').map(str::trim) {
                        if name.is_empty() {
                            return Err(ApiError::bad_parameter(
                                "site",
                                "empty site name; give one name or a comma-separated list",
                            ));
                        }
                        if !list.iter().any(|n| n == name) {
                            list.push(name.to_owned());
                        }
                    }
                }
                other => {
                    return Err(ApiError {
                        status: axum::http::StatusCode::BAD_REQUEST,
                        message: format!(
                            "unknown parameter {other:?}; /api/v1/sites takes window, limit, sort and site"
                        ),
                        parameter: None,
                    });
                }
            }
        }
        Ok(q)
    }
}

/// Rounds to 3 decimals (rates, ms, in-flight).
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Rounds to 6 decimals (ratios).
fn r6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// One window of one site.
#[derive(Debug, Serialize)]
pub struct WindowJson {
    /// The window's length, seconds.
    pub secs: u32,
    /// Seconds the window covers now: `secs` once full, less right after a
    /// start. Rates and in-flight divide by it.
    pub covered_secs: f64,
    /// Requests in the window.
    pub requests: u64,
    /// Requests per second (requests / covered seconds).
    pub rps: f64,
    /// 5xx responses.
    pub errors: u64,
    /// 5xx / requests (0 without requests).
    pub error_ratio: f64,
    /// Latency quantiles in milliseconds (`null` without timed requests).
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Mean requests in flight (Little's law: summed durations / covered
    /// seconds).
    pub in_flight: f64,
    /// Response body bytes.
    pub bytes: u64,
    /// Requests by status class (`other`, `2xx` … `5xx`).
    pub class: BTreeMap<&'static str, u64>,
    /// Requests with 499, 500, 502, 503 or 504, by code.
    pub codes: BTreeMap<u16, u64>,
    /// FPM and PHP events by kind.
    pub events: BTreeMap<&'static str, u64>,
}

impl From<&WindowSummary> for WindowJson {
    fn from(w: &WindowSummary) -> Self {
        WindowJson {
            secs: w.secs,
            covered_secs: r3(w.covered_secs),
            requests: w.requests(),
            rps: r3(w.rps()),
            errors: w.class[4],
            error_ratio: r6(w.error_ratio()),
            p50_ms: w.quantile_ms(0.50).map(r3),
            p90_ms: w.quantile_ms(0.90).map(r3),
            p95_ms: w.quantile_ms(0.95).map(r3),
            p99_ms: w.quantile_ms(0.99).map(r3),
            in_flight: r3(w.in_flight()),
            bytes: w.bytes,
            class: CLASS_NAMES.into_iter().zip(w.class).collect(),
            codes: TRACKED_CODES.into_iter().zip(w.codes).collect(),
            events: EVENT_NAMES.into_iter().zip(w.events).collect(),
        }
    }
}

/// One FPM pool's events since start.
#[derive(Debug, Serialize)]
pub struct PoolJson {
    /// The pool (`_other`: pools past the per-site cap, events with no pool).
    pub pool: String,
    /// `server reached pm.max_children` warnings.
    pub max_children_reached: u64,
    /// Slow requests.
    pub slow_requests: u64,
}

/// A site's counters since start.
#[derive(Debug, Serialize)]
pub struct TotalsJson {
    /// All requests.
    pub requests: u64,
    /// Requests by status class.
    pub class: BTreeMap<&'static str, u64>,
    /// Requests with 499, 500, 502, 503 or 504, by code.
    pub codes: BTreeMap<u16, u64>,
    /// Response body bytes.
    pub bytes: u64,
    /// Requests with a duration.
    pub timed_requests: u64,
    /// Their summed durations, seconds.
    pub duration_secs: f64,
    /// FPM and PHP events by kind.
    pub events: BTreeMap<&'static str, u64>,
    /// PHP errors by level.
    pub php_errors: BTreeMap<&'static str, u64>,
    /// FPM events by pool.
    pub pools: Vec<PoolJson>,
}

/// One site.
#[derive(Debug, Serialize)]
pub struct SiteJson {
    /// The site's name.
    pub site: String,
    /// Last minute (unless `window` chose another).
    #[serde(rename = "1m", skip_serializing_if = "Option::is_none")]
    pub m1: Option<WindowJson>,
    /// Last five minutes (unless `window` chose another).
    #[serde(rename = "5m", skip_serializing_if = "Option::is_none")]
    pub m5: Option<WindowJson>,
    /// Last hour (unless `window` chose another).
    #[serde(rename = "1h", skip_serializing_if = "Option::is_none")]
    pub h1: Option<WindowJson>,
    /// Requests since start (`totals.requests`).
    pub total_requests: u64,
    /// Counters since start.
    pub totals: TotalsJson,
}

impl SiteJson {
    fn new(s: &SiteSnapshot, window: Option<usize>) -> Self {
        let listed = |i: usize| {
            window
                .is_none_or(|w| w == i)
                .then(|| WindowJson::from(&s.windows[i]))
        };
        let t = &s.totals;
        SiteJson {
            site: s.name.clone(),
            m1: listed(0),
            m5: listed(1),
            h1: listed(2),
            total_requests: t.requests(),
            totals: TotalsJson {
                requests: t.requests(),
                class: CLASS_NAMES.into_iter().zip(t.class).collect(),
                codes: TRACKED_CODES.into_iter().zip(t.codes).collect(),
                bytes: t.bytes,
                timed_requests: t.latency.count,
                duration_secs: r3(t.latency.sum_secs),
                events: EVENT_NAMES.into_iter().zip(t.events).collect(),
                php_errors: PHP_ERROR_LEVELS.into_iter().zip(t.php_errors).collect(),
                pools: t
                    .pools
                    .iter()
                    .map(|p| PoolJson {
                        pool: p.name.to_string(),
                        max_children_reached: p.max_children_reached,
                        slow_requests: p.slow_requests,
                    })
                    .collect(),
            },
        }
    }
}

/// `/api/v1/sites`.
#[derive(Debug, Serialize)]
pub struct SitesJson {
    /// The windows' end, Unix seconds (`null` before the first record or
    /// tick).
    pub now_unix: Option<i64>,
    /// The window listed and sorted by; `null`: every window is listed and
    /// sorting uses 1m.
    pub window: Option<&'static str>,
    /// The order (`rps`, `requests`, `errors`, `error_ratio`, `p95`, `name`).
    pub sort: &'static str,
    /// Sites in the site table (before `site` and `limit`).
    pub sites_total: usize,
    /// The sites, in `sort` order.
    pub sites: Vec<SiteJson>,
}

/// The sites `q` selects from `snap`, in its order.
///
/// # Errors
/// `404` naming every site of `q.sites` that `snap` does not have.
pub fn select<'s>(
    snap: &'s SitesSnapshot,
    q: &SitesQuery,
) -> Result<Vec<&'s SiteSnapshot>, ApiError> {
    let mut list: Vec<&SiteSnapshot> = match &q.sites {
        None => snap.sites.iter().collect(),
        Some(names) => {
            let found: Vec<Option<&SiteSnapshot>> = names.iter().map(|n| snap.site(n)).collect();
            let missing: Vec<&str> = names
                .iter()
                .zip(&found)
                .filter(|(_, f)| f.is_none())
                .map(|(n, _)| n.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(ApiError::not_found(format!(
                    "no site named {}; /api/v1/sites lists the {} known",
                    missing
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    snap.sites.len()
                )));
            }
            let mut list: Vec<&SiteSnapshot> = found.into_iter().flatten().collect();
            // Two spellings of one site list it once.
            list.sort_by_key(|s| s.id);
            list.dedup_by_key(|s| s.id);
            list
        }
    };
    let w = q.window.unwrap_or(0);
    let key = |s: &SiteSnapshot| -> f64 {
        let win = &s.windows[w];
        match q.sort {
            Sort::Rps => win.rps(),
            Sort::Requests => win.requests() as f64,
            Sort::Errors => win.class[4] as f64,
            Sort::ErrorRatio => win.error_ratio(),
            Sort::P95 => win.quantile_ms(0.95).unwrap_or(f64::NEG_INFINITY),
            Sort::Name => 0.0,
        }
    };
    // Descending by the key, then by name (so equal keys keep one order).
    list.sort_by(|a, b| key(b).total_cmp(&key(a)).then_with(|| a.name.cmp(&b.name)));
    if let Some(n) = q.limit {
        list.truncate(n);
    }
    Ok(list)
}

/// Renders the answer to `q`.
///
/// # Errors
/// As [`select`].
pub fn sites_json(snap: &SitesSnapshot, q: &SitesQuery) -> Result<SitesJson, ApiError> {
    let list = select(snap, q)?;
    Ok(SitesJson {
        now_unix: snap.now_unix,
        window: q.window.map(|i| WINDOW_NAMES[i]),
        sort: q.sort.name(),
        sites_total: snap.sites.len(),
        sites: list
            .into_iter()
            .map(|s| SiteJson::new(s, q.window))
            .collect(),
    })
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `/api/v1/sites`: the latest snapshot, never older than a tick.
pub async fn sites(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
    pairs: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(pairs) = pairs?;
    let q = SitesQuery::parse(&pairs)?;
    let published = st.live.published();
    let raw = raw.unwrap_or_default();
    if let Some((seq, cached_q, body)) = st.cache.sites.load_full().as_deref()
        && *seq == published.seq
        && *cached_q == raw
    {
        return Ok(json_response(body.clone()));
    }
    let doc = sites_json(&published.sites, &q)?;
    let body = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    st.cache
        .sites
        .store(Some(Arc::new((published.seq, raw, body.clone()))));
    Ok(json_response(body))
}

/// `/api/v1/sites/{site}`: one site with every window.
pub async fn site(
    State(st): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<SiteJson>, ApiError> {
    let Path(name) = name.map_err(|e| ApiError {
        status: axum::http::StatusCode::BAD_REQUEST,
        message: format!("the site in the path cannot be read: {}", e.body_text()),
        parameter: None,
    })?;
    let published = st.live.published();
    let s = published.sites.site(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no site named {name:?}; /api/v1/sites lists the {} known",
            published.sites.sites.len()
        ))
    })?;
    Ok(axum::Json(SiteJson::new(s, None)))
}

#[cfg(test)]
mod tests;
