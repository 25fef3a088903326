//! The SCIM 2.0 endpoint: `/scim/v2/{tenant-token}/…` (the tenant's opaque public token) or
//! `/scim/v2/…` (the tenant of the bearer token). It authenticates the bearer token (a
//! tenant API token with the `scim` scope), holds each tenant to its request rate
//! (`throttle.scim_per_tenant_per_minute`: 429 with `Retry-After`), reads the body within
//! `server.max_body_bytes`, and hands the request to `scim::route`, which lets the tenant's
//! SCIM adapter rewrite it.
//! Every error, including authentication, size and syntax, is answered in SCIM form with
//! `Content-Type: application/scim+json`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method as HttpMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use super::extract::{bearer, Ctx};
use super::state::AppState;
use crate::rbac::{self, Principal, ProvisionScim};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::request::{Method, Provisioner, Reply, Sent};
use crate::scim::route;
use crate::store::tenants::TenantStatus;
use crate::throttle::Rate;
use crate::types::TenantId;

const SCIM_JSON: &str = "application/scim+json";
/// The first path segments of SCIM endpoints; anything else in that place is a tenant token.
const ENDPOINTS: [&str; 7] = [
    "ServiceProviderConfig",
    "ResourceTypes",
    "Schemas",
    "Users",
    "Groups",
    "Bulk",
    ".search",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scim/v2", any(endpoint))
        .route("/scim/v2/{*rest}", any(endpoint))
}

async fn endpoint(
    State(state): State<AppState>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    Ctx(ctx): Ctx,
    body: Body,
) -> Response {
    match serve(&state, method, &uri, &headers, ctx, body).await {
        Ok(reply) => reply_response(reply),
        Err(e) => error_response(&e),
    }
}

async fn serve(
    state: &AppState,
    method: HttpMethod,
    uri: &Uri,
    headers: &HeaderMap,
    ctx: crate::audit::RequestContext,
    body: Body,
) -> Result<Reply, ScimError> {
    let rest = uri.path().strip_prefix("/scim/v2").unwrap_or_default();
    let first = rest
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let (token, rest) = if first.is_empty() || ENDPOINTS.contains(&first) {
        (None, rest)
    } else {
        let after = &rest.trim_start_matches('/')[first.len()..];
        (Some(first), after)
    };
    let principal = authenticate(state, headers).await?;
    let tenant = tenant_of(state, token, &principal).await?;
    let auth = rbac::for_tenant::<ProvisionScim>(&principal, tenant)?;
    crate::tenancy::features::require_for::<ProvisionScim>(state, tenant).await?;
    tracing::Span::current().record("tenant", tracing::field::display(tenant));
    let rate = Rate::per_minute(state.config.throttle.scim_per_tenant_per_minute);
    let key = format!("scim:{tenant}");
    state
        .throttle
        .check(&state.clock, &key, rate)
        .map_err(|limited| ScimError::too_many_requests(limited.retry_after_secs()))?;
    let method = match method {
        HttpMethod::GET => Method::Get,
        HttpMethod::POST => Method::Post,
        HttpMethod::PUT => Method::Put,
        HttpMethod::PATCH => Method::Patch,
        HttpMethod::DELETE => Method::Delete,
        _ => {
            return Err(ScimError::new(
                405,
                None,
                "SCIM uses GET, POST, PUT, PATCH and DELETE",
            ))
        }
    };
    let limit = state.config.server.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ScimError::new(
            413,
            None,
            format!(
                "the body is larger than {limit} bytes (maxPayloadSize in ServiceProviderConfig)"
            ),
        )
    })?;
    let text = if bytes.is_empty() {
        None
    } else {
        check_content_type(headers)?;
        Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
            ScimError::bad_request(ScimType::InvalidSyntax, "the body is not UTF-8 JSON")
        })?)
    };
    // A Bulk request is charged one request per operation beyond the first (the parse is
    // repeated by `scim::bulk`, which holds the real checks; this only counts).
    if rest.trim_end_matches('/').eq_ignore_ascii_case("/Bulk") {
        let operations = text
            .as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| v.get("Operations").and_then(|o| o.as_array()).map(Vec::len))
            .unwrap_or(0);
        let extra = u32::try_from(operations.saturating_sub(1)).unwrap_or(u32::MAX);
        if extra > 0 {
            state
                .throttle
                .check_n(&state.clock, &key, rate, extra)
                .map_err(|limited| ScimError::too_many_requests(limited.retry_after_secs()))?;
        }
    }
    let path = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let base = match token {
        Some(t) => format!("{}/scim/v2/{t}", state.config.public_url()),
        None => format!("{}/scim/v2", state.config.public_url()),
    };
    let provisioner = Provisioner {
        auth,
        base,
        ctx,
        max_payload_bytes: limit as u64,
    };
    let sent = Sent {
        method,
        path,
        body: text,
    };
    route::serve(
        state,
        &provisioner,
        sent,
        header_text(header::IF_MATCH),
        header_text(header::IF_NONE_MATCH),
    )
    .await
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ScimError> {
    let token = bearer(headers).map_err(|e| ScimError::new(401, None, e))?;
    let text = secrecy::ExposeSecret::expose_secret(&token);
    if crate::sessions::scim_clients::is_access_token(text) {
        return Ok(crate::sessions::scim_clients::authenticate_token(state, text).await?);
    }
    Ok(crate::sessions::authenticate(state, &token).await?)
}

/// The tenant the request is for: the one the URL names, else the token's own.
async fn tenant_of(
    state: &AppState,
    token: Option<&str>,
    principal: &Principal,
) -> Result<TenantId, ScimError> {
    match (token, principal) {
        (Some(token), _) => {
            let tenant = crate::tenancy::by_public_token(state, token)
                .await?
                .ok_or_else(|| ScimError::not_found("tenant"))?;
            match tenant.status {
                TenantStatus::Active => Ok(tenant.id),
                TenantStatus::Suspended => {
                    Err(ScimError::new(403, None, "the tenant is suspended"))
                }
                TenantStatus::Deleted => Err(ScimError::not_found("tenant")),
            }
        }
        (
            None,
            Principal::ApiToken { tenant, .. }
            | Principal::User { tenant, .. }
            | Principal::SetupLink { tenant, .. },
        ) => Ok(*tenant),
        (None, Principal::Operator { .. }) => Err(ScimError::new(
            404,
            None,
            "name the tenant: the operator token uses /scim/v2/{tenant-token}/…",
        )),
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ScimError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/scim+json" | "application/json") => Ok(()),
        _ => Err(ScimError::new(
            415,
            None,
            "send the body as application/scim+json (or application/json)",
        )),
    }
}

fn reply_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut response = match reply.body {
        Some(body) => (status, body.to_string()).into_response(),
        None => status.into_response(),
    };
    let h = response.headers_mut();
    if reply.status != 204 && reply.status != 304 {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    }
    if let Some(v) = reply.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, v);
    }
    response
}

fn error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, e.body().to_string()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(secs) = e.retry_after_secs {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if e.status == 401 {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim\""),
        );
    }
    response
}
