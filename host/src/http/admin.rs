//! `/api/v1`: the tenant admin API. The tenant is the one the bearer token belongs to; a
//! token can never name another tenant's resources (they look missing). The operator's
//! routes for a tenant's domains and tokens reuse these handlers (see [`super::require`]). The admin web UI
//! will be a client of exactly these routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::mfa::admin::{self as mfa, Enrolment};
use crate::rbac::assign;
use crate::rbac::{
    ManageScimClients, ReadTenant, ReadUsers, RotatePublicToken, WriteDomains, WriteRoles,
    WriteTokens, WriteUsers,
};
use crate::sessions::api_tokens::{self, CreateApiToken, CreatedApiToken, RotateApiToken};
use crate::sessions::manage::{self, SessionView};
use crate::sessions::{links, local_users, scim_clients};
use crate::store::tokens::ApiTokenRecord;
use crate::tenancy::domains::{self, DomainChallenge};
use crate::tenancy::{self, public_token, TenantView};
use crate::types::TokenId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenant", get(get_tenant))
        .route("/domains", get(list_domains).post(request_domain))
        .route("/domains/{domain}", delete(remove_domain))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{token}", delete(revoke_token))
        .route("/tokens/{token}/rotate", post(rotate_token))
        .route("/tenant/public-token/rotate", post(rotate_public_token))
        .route(
            "/scim-clients",
            get(list_scim_clients).post(create_scim_client),
        )
        .route("/scim-clients/{id}", delete(revoke_scim_client))
        .route("/users", get(list_users))
        .route("/users/{user}", get(get_user))
        .route("/users/{user}/roles", put(set_roles))
        .route("/users/{user}/permissions", get(user_permissions))
        .route("/mfa/enrolments", get(mfa_enrolments))
        .route("/users/{user}/mfa", delete(reset_mfa))
        .route("/users/{user}/mfa/unlock", post(unlock_mfa))
        .route("/users/{user}/sessions", get(user_sessions))
        .route("/invitations", post(invite))
        .route("/users/{user}/password-reset", post(password_reset))
        .route("/users/{user}/deactivate", post(deactivate_user))
        .route("/users/{user}/reactivate", post(reactivate_user))
        .route("/users/{user}/sessions/{session}", delete(revoke_session))
}

async fn get_user(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    Path(user): Path<String>,
) -> Result<Json<crate::directory::UserView>, ApiError> {
    let id = path_param(&user)?;
    Ok(Json(crate::directory::view(&state.store, &auth, id).await?))
}

/// Searches the tenant's users.
async fn list_users(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    ApiQuery(search): ApiQuery<crate::directory::view::Search>,
) -> Result<Json<crate::directory::view::Page>, ApiError> {
    Ok(Json(
        crate::directory::view::search(&state.store, &auth, search).await?,
    ))
}

/// Replaces the user's manual role assignments.
async fn set_roles(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<assign::ManualRoles>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stored = assign::set_manual(&state, &auth, &ctx, path_param(&user)?, body).await?;
    Ok(Json(serde_json::json!({ "assignments": stored })))
}

/// The user's effective permissions: every assignment, the matrix, and each rule's source.
async fn user_permissions(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    Path(user): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tenant = auth.tenant();
    let effective = crate::rbac::effective::load(&state, tenant, path_param(&user)?)
        .await?
        .ok_or(crate::Error::NotFound("user"))?;
    let mut body = effective.snapshot(tenant);
    body["sources"] = serde_json::json!(effective.sources());
    Ok(Json(body))
}

async fn get_tenant(
    State(state): State<AppState>,
    Require(auth): Require<ReadTenant>,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(tenancy::get_own(&state, &auth).await?))
}

pub(super) async fn list_domains(
    State(state): State<AppState>,
    Require(auth): Require<ReadTenant>,
) -> Result<Json<Vec<DomainChallenge>>, ApiError> {
    Ok(Json(domains::list(&state, auth.tenant()).await?))
}

async fn request_domain(
    State(state): State<AppState>,
    Require(auth): Require<WriteDomains>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<DomainBody>,
) -> Result<(StatusCode, Json<DomainChallenge>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(domains::request(&state, &auth, &ctx, &body.domain).await?),
    ))
}

pub(super) async fn remove_domain(
    State(state): State<AppState>,
    Require(auth): Require<WriteDomains>,
    Ctx(ctx): Ctx,
    Path(DomainPath { domain }): Path<DomainPath>,
) -> Result<StatusCode, ApiError> {
    domains::remove(&state, &auth, &ctx, &domain).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `{domain}` of a path (the operator's paths name the tenant too).
#[derive(Debug, Deserialize)]
pub(super) struct DomainPath {
    domain: String,
}

/// The `{token}` of a path.
#[derive(Debug, Deserialize)]
pub(super) struct TokenPath {
    token: String,
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

pub(super) async fn list_tokens(
    State(state): State<AppState>,
    Require(auth): Require<WriteTokens>,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        tokens: api_tokens::list(&state, &auth).await?,
    }))
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    Require(auth): Require<WriteTokens>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<CreateApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(api_tokens::create(&state, &auth, &ctx, req).await?),
    ))
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Require(auth): Require<WriteTokens>,
    Ctx(ctx): Ctx,
    Path(TokenPath { token }): Path<TokenPath>,
) -> Result<Json<ApiTokenRecord>, ApiError> {
    let token: TokenId = path_param(&token)?;
    Ok(Json(api_tokens::revoke(&state, &auth, &ctx, token).await?))
}

async fn rotate_token(
    State(state): State<AppState>,
    Require(auth): Require<WriteTokens>,
    Ctx(ctx): Ctx,
    Path(token): Path<String>,
    ApiJson(req): ApiJson<RotateApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let token: TokenId = path_param(&token)?;
    Ok((
        StatusCode::CREATED,
        Json(api_tokens::rotate(&state, &auth, &ctx, token, req).await?),
    ))
}

/// A new public token for the tenant's IdP-facing URLs; the old one works for the overlap.
pub(super) async fn rotate_public_token(
    State(state): State<AppState>,
    Require(auth): Require<RotatePublicToken>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<public_token::Rotate>,
) -> Result<Json<public_token::Rotated>, ApiError> {
    Ok(Json(public_token::rotate(&state, &auth, &ctx, req).await?))
}

async fn create_scim_client(
    State(state): State<AppState>,
    Require(auth): Require<ManageScimClients>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<scim_clients::NewScimClient>,
) -> Result<(StatusCode, Json<scim_clients::CreatedScimClient>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(scim_clients::create(&state, &auth, &ctx, req).await?),
    ))
}

async fn list_scim_clients(
    State(state): State<AppState>,
    Require(auth): Require<ManageScimClients>,
) -> Result<Json<Vec<scim_clients::ScimClientView>>, ApiError> {
    Ok(Json(scim_clients::list(&state, &auth).await?))
}

async fn revoke_scim_client(
    State(state): State<AppState>,
    Require(auth): Require<ManageScimClients>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: TokenId = path_param(&id)?;
    scim_clients::revoke(&state, &auth, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn mfa_enrolments(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    ApiQuery(page): ApiQuery<mfa::Page>,
) -> Result<Json<Vec<Enrolment>>, ApiError> {
    Ok(Json(mfa::list(&state, &auth, page).await?))
}

async fn invite(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<links::Invite>,
) -> Result<(StatusCode, Json<links::Issued>), ApiError> {
    let issued = links::invite(&state, &auth, &ctx, body).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

async fn password_reset(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<(StatusCode, Json<links::Issued>), ApiError> {
    let issued = links::reset(&state, &auth, &ctx, path_param(&user)?).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

async fn deactivate_user(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    local_users::set_active(&state, &auth, &ctx, path_param(&user)?, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reactivate_user(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    local_users::set_active(&state, &auth, &ctx, path_param(&user)?, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_sessions(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    Path(user): Path<String>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let user = path_param(&user)?;
    Ok(Json(manage::list_for_admin(&state, &auth, user).await?))
}

async fn revoke_session(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path((user, session)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (user, session) = (path_param(&user)?, path_param(&session)?);
    manage::revoke_for_admin(&state, &auth, &ctx, user, session).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset_mfa(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    mfa::reset(&state, &auth, &ctx, path_param(&user)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unlock_mfa(
    State(state): State<AppState>,
    Require(auth): Require<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    mfa::unlock(&state, &auth, &ctx, path_param(&user)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
