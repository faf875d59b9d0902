//! Errors of the HTTP API as JSON: `{"error": "<message>"}`, plus
//! `"parameter"` when one query parameter is at fault. Axum's own
//! rejections (a query string that does not decode, an unknown path, a
//! method a route does not take) get the same shape, so a client parses
//! one error format. Messages name what was wrong and what is allowed;
//! they never carry internals.

use axum::extract::rejection::QueryRejection;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use serde::Serialize;

/// An API error: a status and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What was wrong and what is allowed.
    pub message: String,
    /// The query parameter at fault, if one is.
    pub parameter: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'static str>,
}

impl ApiError {
    /// `400`: query parameter `parameter` is wrong.
    pub fn bad_parameter(parameter: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{parameter}: {}", message.into()),
            parameter: Some(parameter),
        }
    }

    /// `404` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            parameter: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            parameter: self.parameter,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("the query string cannot be read: {}", r.body_text()),
            parameter: None,
        }
    }
}

/// Any path no route serves: `404` JSON naming it.
pub async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint at {}; see docs/api.md (/api/v1/sites, /api/v1/sites/{{site}}, /api/v1/status, /metrics, /healthz, /readyz)",
        uri.path()
    ))
}

/// A method a route does not take: `405` JSON (every endpoint is `GET`).
pub async fn no_method() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "only GET (and HEAD) are served".into(),
        parameter: None,
    }
}
