//! `GET /sso/discovery`: a tenant's sign-in options for an app, asked anonymously by the
//! tenant's public token (`tenant=`) or a user's work email (`email=`), one of the two.
//! Counted against the caller's address like every anonymous path; an unknown, suspended or
//! SSO-less-by-domain tenant is a plain 404.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{ApiQuery, Ctx};
use super::sign_in_limits::per_ip;
use super::state::AppState;
use crate::error::Error;
use crate::sso::discovery::{self, Lookup};
use crate::sso::route::MAX_HINT;

pub fn router() -> Router<AppState> {
    Router::new().route("/sso/discovery", get(discover))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoveryQuery {
    /// The tenant's public token.
    tenant: Option<String>,
    /// A user's work email.
    email: Option<String>,
}

async fn discover(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<DiscoveryQuery>,
) -> Result<Response, ApiError> {
    per_ip(&state, &ctx)?;
    let lookup = match (q.tenant, q.email) {
        (Some(token), None) if token.len() <= MAX_HINT => Lookup::Token(token),
        (None, Some(email)) if email.len() <= MAX_HINT => {
            Lookup::Email(email.trim().parse().map_err(|_| Error::Invalid {
                field: Some("email"),
                detail: "`email` must be an email address, such as ada@example.com".into(),
            })?)
        }
        _ => {
            return Err(ApiError::InvalidQuery(format!(
                "give one of `tenant` (the tenant's public token) or `email` (at most \
                 {MAX_HINT} characters)"
            )))
        }
    };
    let options = discovery::options(&state, lookup)
        .await?
        .ok_or(Error::NotFound("organisation"))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(options)).into_response())
}
