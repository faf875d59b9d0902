//! `GET /api/v1/autoscale/{site}`: every autoscaling value of a site as
//! one JSON object, for KEDA's `metrics-api` scaler (its `valueLocation`
//! picks a field: `rps`, `rps_per_pod`, `fpm.busy_ratio`, …) and for
//! anything else that polls JSON.
//!
//! KEDA's scaler authenticates with a bearer token (`authModes: bearer`,
//! `Authorization: Bearer <token>`) or an API key in a header
//! (`authModes: apiKey`, `method: header`, `keyParamName`, default
//! `X-API-KEY`): <https://keda.sh/docs/2.17/scalers/metrics-api/>. Both are
//! read from files (Kubernetes secrets mounted as files) and read again
//! when the file changes, so a rotated secret needs no restart.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query as UrlQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;

use super::AutoscaleConfigError;
use super::query::Window;
use super::values::{ValueError, View};
use crate::serve::AppState;
use crate::serve::api::error::ApiError;

/// `autoscale.metrics_api:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsApiConfig {
    /// A file holding the bearer token a request must present
    /// (`Authorization: Bearer …`); unset: no bearer token.
    pub bearer_token_file: Option<PathBuf>,
    /// A file holding the API key a request must present in
    /// `api_key_header`; unset: no API key.
    pub api_key_file: Option<PathBuf>,
    /// The header carrying the API key (KEDA's `keyParamName`).
    pub api_key_header: String,
}

impl Default for MetricsApiConfig {
    fn default() -> Self {
        MetricsApiConfig {
            bearer_token_file: None,
            api_key_file: None,
            api_key_header: "X-API-KEY".into(),
        }
    }
}

impl MetricsApiConfig {
    /// Checks every value: the header name, and that secret files can be
    /// read and are not empty.
    ///
    /// # Errors
    /// The first unusable field.
    pub fn validate(&self) -> Result<(), AutoscaleConfigError> {
        let err = |field: &str, message: String| AutoscaleConfigError {
            field: format!("metrics_api.{field}"),
            message,
        };
        if axum::http::HeaderName::try_from(self.api_key_header.as_str()).is_err() {
            return Err(err(
                "api_key_header",
                format!("`{}` is not an HTTP header name", self.api_key_header),
            ));
        }
        for (field, path) in [
            ("bearer_token_file", &self.bearer_token_file),
            ("api_key_file", &self.api_key_file),
        ] {
            if let Some(p) = path {
                read_secret(p).map_err(|m| err(field, m))?;
            }
        }
        Ok(())
    }
}

/// A secret's trimmed contents, or why it cannot be used.
fn read_secret(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => Err(format!("{} is empty", path.display())),
        Ok(s) => Ok(s.trim().to_owned()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// How often a secret file is looked at again.
const RECHECK: Duration = Duration::from_secs(1);

/// A secret read from a file and read again when the file's modification
/// time changes (looked at no more than once a second). When a changed
/// file cannot be read the previous secret stays.
#[derive(Debug)]
pub struct SecretFile {
    path: PathBuf,
    state: Mutex<Secret>,
}

#[derive(Debug)]
struct Secret {
    value: String,
    mtime: Option<SystemTime>,
    checked: Instant,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl SecretFile {
    /// Reads `path`.
    ///
    /// # Errors
    /// A file that cannot be read or is empty.
    pub fn open(path: &Path) -> Result<SecretFile, String> {
        let value = read_secret(path)?;
        Ok(SecretFile {
            path: path.to_owned(),
            state: Mutex::new(Secret {
                value,
                mtime: mtime(path),
                checked: Instant::now(),
            }),
        })
    }

    /// Whether `presented` is the current secret (compared in constant
    /// time over its length).
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.with_current(|v| constant_time_eq(v, presented))
    }

    /// Runs `f` on the current secret, read again first when the file
    /// changed (at most once a second).
    pub fn with_current<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.checked.elapsed() >= RECHECK {
            s.checked = Instant::now();
            let m = mtime(&self.path);
            if m != s.mtime {
                match read_secret(&self.path) {
                    Ok(v) => {
                        tracing::info!(file = %self.path.display(), "secret file changed; using the new secret");
                        s.value = v;
                        s.mtime = m;
                    }
                    Err(e) => {
                        tracing::warn!("secret file changed but {e}; keeping the previous secret");
                    }
                }
            }
        }
        f(s.value.as_bytes())
    }
}

/// Equal bytes, compared in time that depends on the length only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who may read `/api/v1/autoscale`: nobody is asked anything when
/// neither secret is configured; otherwise either one admits.
#[derive(Debug, Default)]
pub struct Access {
    bearer: Option<SecretFile>,
    api_key: Option<(axum::http::HeaderName, SecretFile)>,
}

impl Access {
    /// From the config.
    ///
    /// # Errors
    /// A secret file that cannot be read (see
    /// [`MetricsApiConfig::validate`]).
    pub fn new(cfg: &MetricsApiConfig) -> Result<Access, AutoscaleConfigError> {
        cfg.validate()?;
        let open = |p: &Option<PathBuf>| p.as_deref().map(SecretFile::open).transpose();
        let err = |m| AutoscaleConfigError {
            field: "metrics_api".into(),
            message: m,
        };
        let name = axum::http::HeaderName::try_from(cfg.api_key_header.as_str())
            .map_err(|e| err(e.to_string()))?;
        Ok(Access {
            bearer: open(&cfg.bearer_token_file).map_err(err)?,
            api_key: open(&cfg.api_key_file).map_err(err)?.map(|s| (name, s)),
        })
    }

    /// Whether the request's headers admit it.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        if self.bearer.is_none() && self.api_key.is_none() {
            return true;
        }
        if let Some(secret) = &self.bearer
            && let Some(v) = headers.get(header::AUTHORIZATION)
            && let Some(token) = v.as_bytes().strip_prefix(b"Bearer ")
            && secret.matches(token.trim_ascii())
        {
            return true;
        }
        if let Some((name, secret)) = &self.api_key
            && let Some(v) = headers.get(name)
            && secret.matches(v.as_bytes().trim_ascii())
        {
            return true;
        }
        false
    }
}

/// Query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `1m` (default) or `5m`.
    window: Option<String>,
}

/// A [`ValueError`] as an HTTP answer: `404` for an unknown site, `503`
/// (with `Retry-After`) for data not there yet or stale.
fn value_error(e: &ValueError) -> Response {
    let status = match e {
        ValueError::UnknownSite(_) => StatusCode::NOT_FOUND,
        ValueError::NotReady | ValueError::Stale { .. } | ValueError::Unavailable { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let mut resp = ApiError {
        status,
        message: e.to_string(),
        parameter: None,
    }
    .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// `GET /api/v1/autoscale/{site}`.
pub async fn site(
    State(st): State<AppState>,
    UrlPath(site): UrlPath<String>,
    headers: HeaderMap,
    params: Result<UrlQuery<Params>, QueryRejection>,
) -> Response {
    if !st.autoscale.access.admits(&headers) {
        let mut resp = ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "a bearer token or API key is required (autoscale.metrics_api)".into(),
            parameter: None,
        }
        .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let params = match params {
        Ok(UrlQuery(p)) => p,
        Err(r) => return ApiError::from(r).into_response(),
    };
    let window = match params.window.as_deref() {
        None => Window::default(),
        Some(w) => match Window::parse(w) {
            Some(w) => w,
            None => {
                return ApiError::bad_parameter("window", format!("`{w}` is not one of 1m, 5m"))
                    .into_response();
            }
        },
    };
    let view = View::load(&st.live, st.autoscale.freshness);
    match view.values(&site, window) {
        Ok(v) => Json(v).into_response(),
        Err(e) => value_error(&e),
    }
}

/// What the autoscale handlers share.
#[derive(Debug, Default)]
pub struct Shared {
    /// Who may read.
    pub access: Access,
    /// How old data may be.
    pub freshness: super::values::Freshness,
}
