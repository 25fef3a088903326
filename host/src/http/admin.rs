//! `/api/v1`: the tenant admin API. The tenant is the one the bearer token belongs to; a
//! token can never name another tenant's resources (they look missing). The admin web UI
//! will be a client of exactly these routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Caller, Ctx};
use super::state::AppState;
use crate::audit::query::{self, AuditQuery, Page};
use crate::rbac::{self, Principal, ReadAudit, ReadTenant, WriteDomains, WriteTokens};
use crate::sessions::api_tokens::{self, CreateApiToken, CreatedApiToken, RotateApiToken};
use crate::store::tokens::ApiTokenRecord;
use crate::tenancy::domains::{self, DomainChallenge};
use crate::tenancy::{self, TenantView};
use crate::types::{TenantId, Timestamp, TokenId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenant", get(get_tenant))
        .route("/domains", get(list_domains).post(request_domain))
        .route("/domains/{domain}", delete(remove_domain))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{token}", delete(revoke_token))
        .route("/tokens/{token}/rotate", post(rotate_token))
        .route("/audit-events", get(audit_events))
        .route("/users/{user}", get(get_user))
}

async fn get_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(user): Path<String>,
) -> Result<Json<crate::directory::UserView>, ApiError> {
    let auth = rbac::for_tenant::<ReadTenant>(&caller, own_tenant(&caller)?)?;
    let id = path_param(&user)?;
    Ok(Json(crate::directory::view(&state.store, &auth, id).await?))
}

/// The tenant a tenant token acts for; the operator token has no tenant here.
pub(super) fn own_tenant(caller: &Principal) -> Result<TenantId, ApiError> {
    match caller {
        Principal::ApiToken { tenant, .. } => Ok(*tenant),
        Principal::Operator { .. } => Err(crate::Error::Forbidden(
            "the operator token acts on tenants through /operator/v1/tenants/{tenant}/…".into(),
        )
        .into()),
    }
}

async fn get_tenant(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<TenantView>, ApiError> {
    let auth = rbac::for_tenant::<ReadTenant>(&caller, own_tenant(&caller)?)?;
    Ok(Json(tenancy::get_own(&state, &auth).await?))
}

async fn list_domains(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<DomainChallenge>>, ApiError> {
    let auth = rbac::for_tenant::<ReadTenant>(&caller, own_tenant(&caller)?)?;
    Ok(Json(domains::list(&state, auth.tenant()).await?))
}

async fn request_domain(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<DomainBody>,
) -> Result<(StatusCode, Json<DomainChallenge>), ApiError> {
    let auth = rbac::for_tenant::<WriteDomains>(&caller, own_tenant(&caller)?)?;
    Ok((
        StatusCode::CREATED,
        Json(domains::request(&state, &auth, &ctx, &body.domain).await?),
    ))
}

async fn remove_domain(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(ctx): Ctx,
    Path(domain): Path<String>,
) -> Result<StatusCode, ApiError> {
    let auth = rbac::for_tenant::<WriteDomains>(&caller, own_tenant(&caller)?)?;
    domains::remove(&state, &auth, &ctx, &domain).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A domain to claim or verify.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DomainBody {
    pub domain: String,
}

#[derive(Serialize)]
pub(super) struct TokenList {
    pub tokens: Vec<ApiTokenRecord>,
}

async fn list_tokens(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<TokenList>, ApiError> {
    let auth = rbac::for_tenant::<WriteTokens>(&caller, own_tenant(&caller)?)?;
    Ok(Json(TokenList {
        tokens: api_tokens::list(&state, &auth).await?,
    }))
}

async fn create_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<CreateApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let auth = rbac::for_tenant::<WriteTokens>(&caller, own_tenant(&caller)?)?;
    Ok((
        StatusCode::CREATED,
        Json(api_tokens::create(&state, &auth, &ctx, req).await?),
    ))
}

async fn revoke_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(ctx): Ctx,
    Path(token): Path<String>,
) -> Result<Json<ApiTokenRecord>, ApiError> {
    let auth = rbac::for_tenant::<WriteTokens>(&caller, own_tenant(&caller)?)?;
    let token: TokenId = path_param(&token)?;
    Ok(Json(api_tokens::revoke(&state, &auth, &ctx, token).await?))
}

async fn rotate_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(ctx): Ctx,
    Path(token): Path<String>,
    ApiJson(req): ApiJson<RotateApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let auth = rbac::for_tenant::<WriteTokens>(&caller, own_tenant(&caller)?)?;
    let token: TokenId = path_param(&token)?;
    Ok((
        StatusCode::CREATED,
        Json(api_tokens::rotate(&state, &auth, &ctx, token, req).await?),
    ))
}

/// Audit listing parameters, shared with the operator API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    /// Operator-wide listing only: `operator`, or a tenant id or slug.
    pub chain: Option<String>,
    /// Events at or after this RFC 3339 instant.
    pub from: Option<Timestamp>,
    /// Events before this RFC 3339 instant.
    pub to: Option<Timestamp>,
    /// Actor id (a token id).
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `*`.
    pub action: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl AuditParams {
    pub fn into_query(self) -> Result<AuditQuery, ApiError> {
        if self.chain.is_some() {
            return Err(ApiError::InvalidQuery(
                "`chain` is only accepted by GET /operator/v1/audit-events".into(),
            ));
        }
        Ok(AuditQuery {
            from: self.from,
            to: self.to,
            actor: self.actor,
            action: self.action,
            limit: self.limit,
            cursor: self.cursor,
        })
    }
}

async fn audit_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Page>, ApiError> {
    let auth = rbac::for_tenant::<ReadAudit>(&caller, own_tenant(&caller)?)?;
    Ok(Json(
        query::list_for_tenant(&state.store, &auth, params.into_query()?).await?,
    ))
}
