//! The one mapping from failures to HTTP responses: RFC 9457 problem details
//! (`application/problem+json`) with the request id. 5xx bodies are generic; their cause is
//! logged with the request id. (SCIM and OAuth endpoints will get their own body formats
//! through their own error types.)

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;

tokio::task_local! {
    /// The current request's id, set by the request middleware so error bodies can carry it.
    pub(crate) static REQUEST_ID: String;
}

/// Everything an HTTP handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// A failure from the domain modules.
    Domain(Error),
    /// The body is not JSON at all.
    MalformedJson(String),
    /// The body is JSON but not the expected shape (unknown or missing field, wrong type).
    InvalidBody(String),
    /// A required member is missing or malformed where the protocol asks for 400 (the
    /// decision API, as AuthZEN specifies).
    BadRequest(String),
    /// The body is over the limit named (a config key).
    BodyTooLarge { limit: &'static str },
    /// The request has a body in a format this endpoint does not take; names the one it does.
    UnsupportedMediaType { expected: &'static str },
    /// A query-string parameter is unknown or malformed.
    InvalidQuery(String),
    /// A path segment (an id) is malformed.
    InvalidPath(String),
    /// No route matches the path.
    NoRoute,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The request took longer than `server.request_timeout_secs`.
    Timeout,
    /// A handler panicked; the panic was contained.
    Panic,
    /// An anonymous caller is over its rate; try again after this many seconds.
    RateLimited { retry_after_secs: u64 },
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Domain(e)
    }
}

/// A problem (RFC 9457) as every failure of the described APIs answers it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    /// `urn:gatehouse:problem:` and a slug naming the failure.
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    /// The request field at fault, where one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

const INTERNAL_DETAIL: &str = "an internal error occurred; quote the request id to the operator";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut field = None;
        let mut retry_after = None;
        let (status, slug, title, detail) = match self {
            ApiError::Domain(e) => match e {
                Error::Invalid { field: f, detail } => {
                    field = f;
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-value",
                        "Invalid value",
                        detail,
                    )
                }
                Error::Unauthenticated(detail) => (
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Authentication required",
                    detail,
                ),
                Error::Forbidden(detail) => {
                    (StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
                }
                Error::TenantSuspended => (
                    StatusCode::FORBIDDEN,
                    "tenant-suspended",
                    "Tenant suspended",
                    "this tenant is suspended; contact the operator".to_string(),
                ),
                Error::FeatureNotEnabled(feature) => (
                    StatusCode::FORBIDDEN,
                    "feature-not-enabled",
                    "Feature not enabled",
                    crate::tenancy::features::refusal(feature),
                ),
                Error::NotFound(what) => (
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "Not found",
                    format!("{what} not found"),
                ),
                Error::Conflict(detail) => (StatusCode::CONFLICT, "conflict", "Conflict", detail),
                Error::PluginFailed { stage, detail } => (
                    StatusCode::FORBIDDEN,
                    "plugin-failed",
                    "Refused by a plugin",
                    format!("the {stage} plugin failed: {detail}"),
                ),
                Error::Internal(cause) => {
                    tracing::error!(error = ?cause, "internal error");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "Internal error",
                        INTERNAL_DETAIL.to_string(),
                    )
                }
            },
            ApiError::MalformedJson(detail) => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                detail,
            ),
            ApiError::InvalidBody(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "Invalid request body",
                detail,
            ),
            ApiError::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                detail,
            ),
            ApiError::BodyTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
                format!("the request body is over this server's limit ({limit})"),
            ),
            ApiError::UnsupportedMediaType { expected } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!("send the body with Content-Type: {expected}"),
            ),
            ApiError::InvalidQuery(detail) => (
                StatusCode::BAD_REQUEST,
                "invalid-query",
                "Invalid query parameter",
                detail,
            ),
            ApiError::InvalidPath(detail) => (
                StatusCode::BAD_REQUEST,
                "invalid-path",
                "Invalid path parameter",
                detail,
            ),
            ApiError::NoRoute => (
                StatusCode::NOT_FOUND,
                "no-route",
                "Not found",
                "no endpoint at this path".to_string(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this endpoint does not accept this HTTP method".to_string(),
            ),
            ApiError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "Request timeout",
                "the request took too long and was cancelled".to_string(),
            ),
            ApiError::Panic => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                INTERNAL_DETAIL.to_string(),
            ),
            ApiError::RateLimited { retry_after_secs } => {
                retry_after = Some(retry_after_secs);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests",
                    format!(
                        "too many requests from this address; try again in {retry_after_secs} s"
                    ),
                )
            }
        };
        let problem = Problem {
            kind: format!("urn:gatehouse:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail,
            field,
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
            );
        }
        response
    }
}
