//! The rate limits of the anonymous sign-in paths, applied: a request is counted against its
//! client address and any further keys (an account, a connection, a tenant), and over any of
//! them it gets the 429 page with `Retry-After`. The limiter itself is `crate::throttle`.

use axum::http::{header, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use super::pages::notice;
use super::state::AppState;
use crate::throttle::{Limited, Rate};

/// Counts an anonymous sign-in request against its client IP's rate and the `more` keys
/// given; the 429 page when any of them is over its rate.
pub(super) fn over_limit(
    state: &AppState,
    ctx: &crate::audit::RequestContext,
    more: &[(String, Option<Rate>)],
) -> Option<Response> {
    std::iter::once(ip_rate(state, ctx))
        .chain(more.iter().cloned())
        .find_map(|(key, rate)| state.throttle.check(&state.clock, &key, rate).err())
        .map(too_many)
}

/// Counts an anonymous API request (JSON, not a page) against its client IP's rate.
pub(super) fn per_ip(state: &AppState, ctx: &crate::audit::RequestContext) -> Result<(), ApiError> {
    let (key, rate) = ip_rate(state, ctx);
    state
        .throttle
        .check(&state.clock, &key, rate)
        .map_err(|limited| ApiError::RateLimited {
            retry_after_secs: limited.retry_after_secs(),
        })
}

/// The client address's key and its rate: the one bucket every anonymous path shares.
fn ip_rate(state: &AppState, ctx: &crate::audit::RequestContext) -> (String, Option<Rate>) {
    let key = format!("ip:{}", ctx.ip.as_deref().unwrap_or("unknown"));
    (
        key,
        Rate::per_minute(state.config.throttle.per_ip_per_minute),
    )
}

fn too_many(limited: Limited) -> Response {
    let secs = limited.retry_after_secs();
    let mut response = notice(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        Some("rate_limited"),
        &format!("Too many sign-in attempts. Try again in {secs} seconds."),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    response
}

/// Counts a sign-in started at, or answered to, `connection` against its own and its
/// tenant's rate.
pub(super) fn over_limit_connection(
    state: &AppState,
    connection: &crate::sso::Connection,
) -> Option<Response> {
    let limits = &state.config.throttle;
    [
        (
            format!("tenant:{}", connection.tenant_id),
            Rate::per_minute(limits.per_tenant_per_minute),
        ),
        (
            format!("connection:{}", connection.id),
            Rate::per_minute(limits.per_connection_per_minute),
        ),
    ]
    .into_iter()
    .find_map(|(key, rate)| state.throttle.check(&state.clock, &key, rate).err())
    .map(too_many)
}
