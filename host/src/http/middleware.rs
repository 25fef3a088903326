//! Per-request plumbing: the request id (accepted from `X-Request-Id` when well-formed,
//! otherwise generated, always echoed back), a tracing span with route and tenant, the request
//! timeout, and the HTTP metrics.
//!
//! Each handler runs on a task of its own, to its end: a client that goes away, or a request
//! that passes its timeout, gets no answer, but the work it started (a write transaction, an
//! audit append, a one-time code taken) is never cut off between two `.await`s.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::error::{ApiError, REQUEST_ID};
use super::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest client-supplied request id kept; longer or odd ones are replaced, since the id is
/// logged and stored in audit events.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The request id, stored in request extensions for extractors.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn per_request(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        tenant = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let timeout = Duration::from_secs(state.config.server.request_timeout_secs);
    let handler = tokio::spawn(
        REQUEST_ID
            .scope(id.clone(), next.run(req))
            .instrument(span.clone()),
    );
    let waited = async move {
        match tokio::time::timeout(timeout, handler).await {
            Ok(Ok(response)) => response,
            // The panic layer inside answers for a panicking handler; this is the runtime
            // shutting down under it.
            Ok(Err(_)) => ApiError::Panic.into_response(),
            Err(_) => ApiError::Timeout.into_response(),
        }
    };
    let mut response = REQUEST_ID
        .scope(id.clone(), waited.instrument(span.clone()))
        .await;
    // Error bodies built after the scope (e.g. by the panic layer) still get the header.
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    span.record("status", status);
    let elapsed = started.elapsed();
    state
        .metrics
        .observe(method.as_str(), &route, status, elapsed);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "request failed"
            );
        } else {
            tracing::debug!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            );
        }
    });
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn request_ids_are_filtered() {
        assert!(acceptable("abc-123_x.y:z"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("new\nline"));
        assert!(!acceptable(&"a".repeat(129)));
    }
}
