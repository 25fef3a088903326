//! `/operator/v1`: the operator API (the SaaS vendor). Creates and manages tenants, their
//! domains and first API tokens, and reads any audit chain. Every route needs the operator
//! token; tenants are named by id or slug.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::{
    create_token, list_domains, list_tokens, remove_domain, revoke_token, rotate_public_token,
    DomainBody, DomainPath, TokenList, TokenPath,
};
use super::audit::AuditParams;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::audit::query::{self, OperatorChainFilter, Page};
use crate::rbac::{
    Authorized, OperateInstance, ReadTenant, RotatePublicToken, WriteDomains, WriteTokens,
};
use crate::sessions::api_tokens::{CreateApiToken, CreatedApiToken};
use crate::store::tenants::{DomainRecord, Feature, Features, TenantRecord, TenantStatus};
use crate::store::tokens::ApiTokenRecord;
use crate::tenancy::domains::{self, DomainChallenge};
use crate::tenancy::{self, public_token, CreateTenant, TenantView, Transition};
use crate::types::{DomainName, TenantId, TokenId};

/// How the operator's paths name a tenant.
const TENANT: &str = "The tenant's id or slug";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant, list_tenants))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
        .routes(routes!(suspend_tenant))
        .routes(routes!(resume_tenant))
        .routes(routes!(tenant_domains, add_domain))
        .routes(routes!(remove_tenant_domain))
        .routes(routes!(verify_domain))
        .routes(routes!(tenant_tokens, create_tenant_token))
        .routes(routes!(revoke_tenant_token))
        .routes(routes!(tenant_audit))
        .routes(routes!(set_owner))
        .routes(routes!(tenant_usage))
        .routes(routes!(rotate_tenant_public_token))
        .routes(routes!(get_features, set_features))
        .routes(routes!(all_audit))
        .routes(routes!(deliveries))
        .routes(routes!(audit_streams))
}

/// Creates a tenant, with the domains the operator vouches for (verified at once).
#[utoipa::path(post, path = "/tenants", tag = "operator", operation_id = "create_tenant",
    request_body = CreateTenant, responses((status = 201, body = TenantView)))]
async fn create_tenant(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(tenancy::create(&state, &auth, &ctx, req).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only the tenants in this state.
    #[param(value_type = Option<TenantStatus>)]
    status: Option<String>,
    /// Tenants per page, 1–500 (default 100).
    limit: Option<u32>,
    /// Continue after this tenant id (the `next_after` of the previous page).
    #[param(value_type = Option<TenantId>)]
    after: Option<String>,
}

/// A page of tenants and where the next starts.
#[derive(Serialize, utoipa::ToSchema)]
struct TenantList {
    tenants: Vec<TenantRecord>,
    /// Pass as `after` for the next page; null on the last.
    next_after: Option<TenantId>,
}

/// Lists the tenants in id order, a page at a time.
#[utoipa::path(get, path = "/tenants", tag = "operator", operation_id = "list_tenants",
    params(ListParams), responses((status = 200, body = TenantList)))]
async fn list_tenants(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<TenantList>, ApiError> {
    let status = match params.status.as_deref() {
        None => None,
        Some("active") => Some(TenantStatus::Active),
        Some("suspended") => Some(TenantStatus::Suspended),
        Some("deleted") => Some(TenantStatus::Deleted),
        Some(_) => {
            return Err(ApiError::InvalidQuery(
                "status must be one of active, suspended, deleted".into(),
            ))
        }
    };
    let after = params
        .after
        .as_deref()
        .map(|a| a.parse::<TenantId>())
        .transpose()
        .map_err(|e| ApiError::InvalidQuery(e.0))?;
    let limit = params.limit.unwrap_or(100);
    let tenants = tenancy::list(&state, &auth, status, after, limit).await?;
    let next_after = if tenants.len() == limit as usize {
        tenants.last().map(|t| t.id)
    } else {
        None
    };
    Ok(Json(TenantList {
        tenants,
        next_after,
    }))
}

/// Reads a tenant with its domains.
#[utoipa::path(get, path = "/tenants/{tenant}", tag = "operator", operation_id = "get_tenant",
    params(("tenant" = String, Path, description = TENANT)),
    responses((status = 200, body = TenantView)))]
async fn get_tenant(
    State(state): State<AppState>,
    Require(_): Require<OperateInstance>,
    Path(tenant): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(tenancy::view(&state.store, t).await?))
}

/// The body of a rename.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RenameTenant)]
struct UpdateTenant {
    /// The tenant's display name.
    name: String,
}

/// Renames a tenant.
#[utoipa::path(patch, path = "/tenants/{tenant}", tag = "operator", operation_id = "rename_tenant",
    params(("tenant" = String, Path, description = TENANT)), request_body = UpdateTenant,
    responses((status = 200, body = TenantRecord)))]
async fn update_tenant(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
    ApiJson(req): ApiJson<UpdateTenant>,
) -> Result<Json<TenantRecord>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(
        tenancy::rename(&state, &auth, &ctx, t.id, &req.name).await?,
    ))
}

async fn transition(
    state: AppState,
    auth: Authorized<OperateInstance>,
    ctx: crate::audit::RequestContext,
    tenant: String,
    to: Transition,
) -> Result<Json<TenantRecord>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(
        tenancy::transition(&state, &auth, &ctx, t.id, to).await?,
    ))
}

/// Suspends a tenant: nothing of it is served and its tokens are refused, until resumed.
#[utoipa::path(post, path = "/tenants/{tenant}/suspend", tag = "operator",
    operation_id = "suspend_tenant", params(("tenant" = String, Path, description = TENANT)),
    responses((status = 200, body = TenantRecord)))]
async fn suspend_tenant(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
) -> Result<Json<TenantRecord>, ApiError> {
    transition(state, auth, ctx, tenant, Transition::Suspend).await
}

/// Resumes a suspended tenant.
#[utoipa::path(post, path = "/tenants/{tenant}/resume", tag = "operator",
    operation_id = "resume_tenant", params(("tenant" = String, Path, description = TENANT)),
    responses((status = 200, body = TenantRecord)))]
async fn resume_tenant(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
) -> Result<Json<TenantRecord>, ApiError> {
    transition(state, auth, ctx, tenant, Transition::Resume).await
}

/// Deletes a tenant for good: domains and tokens go, its data key is destroyed, its audit
/// trail stays.
#[utoipa::path(delete, path = "/tenants/{tenant}", tag = "operator", operation_id = "delete_tenant",
    params(("tenant" = String, Path, description = TENANT)),
    responses((status = 200, body = TenantRecord)))]
async fn delete_tenant(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
) -> Result<Json<TenantRecord>, ApiError> {
    transition(state, auth, ctx, tenant, Transition::Delete).await
}

/// Lists a tenant's domains, each with its DNS challenge.
#[utoipa::path(get, path = "/tenants/{tenant}/domains", tag = "operator",
    operation_id = "list_tenant_domains", params(("tenant" = String, Path, description = TENANT)),
    responses((status = 200, body = Vec<DomainChallenge>)))]
async fn tenant_domains(
    state: State<AppState>,
    auth: Require<ReadTenant>,
) -> Result<Json<Vec<DomainChallenge>>, ApiError> {
    list_domains(state, auth).await
}

/// Adds a domain the operator vouches for to a tenant, verified at once.
#[utoipa::path(post, path = "/tenants/{tenant}/domains", tag = "operator",
    operation_id = "add_tenant_domain", params(("tenant" = String, Path, description = TENANT)),
    request_body = DomainBody, responses((status = 201, body = DomainRecord)))]
async fn add_domain(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<DomainBody>,
) -> Result<(StatusCode, Json<DomainRecord>), ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    let record = domains::add_verified(&state, &auth, &ctx, t.id, &body.domain).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Removes one of a tenant's domains.
#[utoipa::path(delete, path = "/tenants/{tenant}/domains/{domain}", tag = "operator",
    operation_id = "remove_tenant_domain",
    params(("tenant" = String, Path, description = TENANT), ("domain" = DomainName, Path)),
    responses((status = 204)))]
async fn remove_tenant_domain(
    state: State<AppState>,
    auth: Require<WriteDomains>,
    ctx: Ctx,
    domain: Path<DomainPath>,
) -> Result<StatusCode, ApiError> {
    remove_domain(state, auth, ctx, domain).await
}

/// Verifies a domain a tenant claimed (or adds it, verified, if it has not).
#[utoipa::path(post, path = "/tenants/{tenant}/domains/{domain}/verify", tag = "operator",
    operation_id = "verify_tenant_domain",
    params(("tenant" = String, Path, description = TENANT), ("domain" = DomainName, Path)),
    responses((status = 200, body = DomainRecord)))]
async fn verify_domain(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path((tenant, domain)): Path<(String, String)>,
) -> Result<Json<DomainRecord>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(
        domains::add_verified(&state, &auth, &ctx, t.id, &domain).await?,
    ))
}

/// Lists a tenant's API tokens (revoked and expired ones included), without secrets.
#[utoipa::path(get, path = "/tenants/{tenant}/tokens", tag = "operator",
    operation_id = "list_tenant_api_tokens",
    params(("tenant" = String, Path, description = TENANT)),
    responses((status = 200, body = TokenList)))]
async fn tenant_tokens(
    state: State<AppState>,
    auth: Require<WriteTokens>,
) -> Result<Json<TokenList>, ApiError> {
    list_tokens(state, auth).await
}

/// Creates an API token for a tenant (its first, say); the answer is the only time its
/// secret is shown.
#[utoipa::path(post, path = "/tenants/{tenant}/tokens", tag = "operator",
    operation_id = "create_tenant_api_token",
    params(("tenant" = String, Path, description = TENANT)),
    request_body = CreateApiToken, responses((status = 201, body = CreatedApiToken)))]
async fn create_tenant_token(
    state: State<AppState>,
    auth: Require<WriteTokens>,
    ctx: Ctx,
    req: ApiJson<CreateApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    create_token(state, auth, ctx, req).await
}

/// Revokes one of a tenant's API tokens at once.
#[utoipa::path(delete, path = "/tenants/{tenant}/tokens/{token}", tag = "operator",
    operation_id = "revoke_tenant_api_token",
    params(("tenant" = String, Path, description = TENANT), ("token" = TokenId, Path)),
    responses((status = 200, body = ApiTokenRecord)))]
async fn revoke_tenant_token(
    state: State<AppState>,
    auth: Require<WriteTokens>,
    ctx: Ctx,
    token: Path<TokenPath>,
) -> Result<Json<ApiTokenRecord>, ApiError> {
    revoke_token(state, auth, ctx, token).await
}

/// Searches one tenant's audit chain, newest first, a page at a time.
#[utoipa::path(get, path = "/tenants/{tenant}/audit-events", tag = "operator",
    operation_id = "list_operator_tenant_audit_events",
    params(("tenant" = String, Path, description = TENANT), AuditParams),
    responses((status = 200, body = Page)))]
async fn tenant_audit(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Path(tenant): Path<String>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Page>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    let filter = Some(OperatorChainFilter::Tenant(t.id));
    Ok(Json(
        query::list_as_operator(&state.store, &auth, filter, params.into_query()?).await?,
    ))
}

/// `?month=YYYY-MM` of the usage report (this month when absent).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UsageParams {
    /// The month, `YYYY-MM` (this month when absent).
    month: Option<String>,
}

/// Reads a tenant's usage in a month: users by status, sign-ins, SCIM operations.
#[utoipa::path(get, path = "/tenants/{tenant}/usage", tag = "operator",
    operation_id = "get_tenant_usage",
    params(("tenant" = String, Path, description = TENANT), UsageParams),
    responses((status = 200, body = tenancy::usage::Usage)))]
async fn tenant_usage(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Path(tenant): Path<String>,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> Result<Json<tenancy::usage::Usage>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(
        tenancy::usage::report(&state, &auth, t.id, params.month.as_deref()).await?,
    ))
}

/// Gives a tenant a new public token for its IdP-facing URLs; the old one works for the
/// overlap.
#[utoipa::path(post, path = "/tenants/{tenant}/public-token/rotate", tag = "operator",
    operation_id = "rotate_tenant_public_token",
    params(("tenant" = String, Path, description = TENANT)),
    request_body = public_token::Rotate, responses((status = 200, body = public_token::Rotated)))]
async fn rotate_tenant_public_token(
    state: State<AppState>,
    auth: Require<RotatePublicToken>,
    ctx: Ctx,
    req: ApiJson<public_token::Rotate>,
) -> Result<Json<public_token::Rotated>, ApiError> {
    rotate_public_token(state, auth, ctx, req).await
}

/// The tenant's features, and every feature there is.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = TenantFeaturesView)]
struct FeaturesView {
    enabled: Features,
    /// Every feature the operator can enable.
    available: &'static [Feature],
}

impl FeaturesView {
    fn of(t: TenantRecord) -> Self {
        Self {
            enabled: t.features,
            available: Feature::ALL,
        }
    }
}

/// Reads a tenant's features, and every feature there is.
#[utoipa::path(get, path = "/tenants/{tenant}/features", tag = "operator",
    operation_id = "get_tenant_features", params(("tenant" = String, Path, description = TENANT)),
    responses((status = 200, body = FeaturesView)))]
async fn get_features(
    State(state): State<AppState>,
    Require(_auth): Require<OperateInstance>,
    Path(tenant): Path<String>,
) -> Result<Json<FeaturesView>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(FeaturesView::of(t)))
}

/// Replaces the tenant's features (the complete set it has from now on).
#[utoipa::path(put, path = "/tenants/{tenant}/features", tag = "operator",
    operation_id = "set_tenant_features", params(("tenant" = String, Path, description = TENANT)),
    request_body = tenancy::features::SetFeatures, responses((status = 200, body = FeaturesView)))]
async fn set_features(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<tenancy::features::SetFeatures>,
) -> Result<Json<FeaturesView>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    let after = tenancy::features::set(&state, &auth, &ctx, t.id, body).await?;
    Ok(Json(FeaturesView::of(after)))
}

/// Every outbox destination (email, the apps' logout notices and webhooks) with its health
/// and backlog.
#[utoipa::path(get, path = "/deliveries", tag = "operator", operation_id = "list_delivery_health",
    responses((status = 200, body = Vec<crate::store::outbox::Health>)))]
async fn deliveries(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
) -> Result<Json<Vec<crate::store::outbox::Health>>, ApiError> {
    Ok(Json(crate::outbox::health(&state, &auth).await?))
}

/// Every tenant's SIEM streams with their health and backlog.
#[utoipa::path(get, path = "/audit-streams", tag = "operator",
    operation_id = "list_operator_audit_streams",
    responses((status = 200, body = Vec<crate::audit::stream::StreamStatus>)))]
async fn audit_streams(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
) -> Result<Json<Vec<crate::audit::stream::StreamStatus>>, ApiError> {
    Ok(Json(crate::audit::stream::list_all(&state, &auth).await?))
}

/// Searches the audit chains, newest first: every chain, the operator's own (`chain=operator`)
/// or one tenant's (`chain` = its id or slug).
#[utoipa::path(get, path = "/audit-events", tag = "operator",
    operation_id = "list_operator_audit_events", params(AuditParams),
    responses((status = 200, body = Page)))]
async fn all_audit(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    ApiQuery(mut params): ApiQuery<AuditParams>,
) -> Result<Json<Page>, ApiError> {
    let filter = match params.chain.take().as_deref() {
        None => None,
        Some("operator") => Some(OperatorChainFilter::Operator),
        Some(other) => Some(OperatorChainFilter::Tenant(
            tenancy::resolve(&state.store, other).await?.id,
        )),
    };
    Ok(Json(
        query::list_as_operator(&state.store, &auth, filter, params.into_query()?).await?,
    ))
}

/// The owner the tenant now has.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = TenantOwnerSet)]
struct OwnerSet {
    /// The owner's user id.
    user_id: crate::types::UserId,
}

/// Sets the tenant's break-glass owner (a local account with a password).
#[utoipa::path(put, path = "/tenants/{tenant}/owner", tag = "operator",
    operation_id = "set_tenant_owner", params(("tenant" = String, Path, description = TENANT)),
    request_body = crate::sessions::password::SetOwner,
    responses((status = 200, body = OwnerSet)))]
async fn set_owner(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<crate::sessions::password::SetOwner>,
) -> Result<Json<OwnerSet>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    let user_id = crate::sessions::password::set_owner(&state, &auth, &ctx, &t, body).await?;
    Ok(Json(OwnerSet { user_id }))
}
