//! `/operator/v1`: the operator API (the SaaS vendor). Creates and manages tenants, their
//! domains and first API tokens, and reads any audit chain. Every route needs the operator
//! token; tenants are named by id or slug.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::admin::{
    create_token, list_domains, list_tokens, remove_domain, revoke_token, rotate_public_token,
    DomainBody,
};
use super::audit::AuditParams;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::audit::query::{self, OperatorChainFilter, Page};
use crate::rbac::{Authorized, OperateInstance};
use crate::store::tenants::{DomainRecord, Feature, Features, TenantRecord, TenantStatus};
use crate::tenancy::domains;
use crate::tenancy::{self, CreateTenant, TenantView, Transition};
use crate::types::TenantId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route(
            "/tenants/{tenant}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route("/tenants/{tenant}/suspend", post(suspend_tenant))
        .route("/tenants/{tenant}/resume", post(resume_tenant))
        .route(
            "/tenants/{tenant}/domains",
            get(list_domains).post(add_domain),
        )
        .route("/tenants/{tenant}/domains/{domain}", delete(remove_domain))
        .route(
            "/tenants/{tenant}/domains/{domain}/verify",
            post(verify_domain),
        )
        .route(
            "/tenants/{tenant}/tokens",
            get(list_tokens).post(create_token),
        )
        .route("/tenants/{tenant}/tokens/{token}", delete(revoke_token))
        .route("/tenants/{tenant}/audit-events", get(tenant_audit))
        .route("/tenants/{tenant}/owner", axum::routing::put(set_owner))
        .route("/tenants/{tenant}/usage", get(tenant_usage))
        .route(
            "/tenants/{tenant}/public-token/rotate",
            post(rotate_public_token),
        )
        .route(
            "/tenants/{tenant}/features",
            get(get_features).put(set_features),
        )
        .route("/audit-events", get(all_audit))
        .route("/deliveries", get(deliveries))
        .route("/audit-streams", get(audit_streams))
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    limit: Option<u32>,
    /// Continue after this tenant id (the `next_after` of the previous page).
    after: Option<String>,
}

#[derive(Serialize)]
struct TenantList {
    tenants: Vec<TenantRecord>,
    next_after: Option<TenantId>,
}

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

async fn get_tenant(
    State(state): State<AppState>,
    Require(_): Require<OperateInstance>,
    Path(tenant): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(tenancy::view(&state.store, t).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTenant {
    name: String,
}

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

async fn suspend_tenant(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
) -> Result<Json<TenantRecord>, ApiError> {
    transition(state, auth, ctx, tenant, Transition::Suspend).await
}

async fn resume_tenant(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
) -> Result<Json<TenantRecord>, ApiError> {
    transition(state, auth, ctx, tenant, Transition::Resume).await
}

async fn delete_tenant(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
    Ctx(ctx): Ctx,
    Path(tenant): Path<String>,
) -> Result<Json<TenantRecord>, ApiError> {
    transition(state, auth, ctx, tenant, Transition::Delete).await
}

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
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageParams {
    month: Option<String>,
}

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

/// The tenant's features, and every feature there is.
#[derive(serde::Serialize)]
struct FeaturesView {
    enabled: Features,
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

async fn get_features(
    State(state): State<AppState>,
    Require(_auth): Require<OperateInstance>,
    Path(tenant): Path<String>,
) -> Result<Json<FeaturesView>, ApiError> {
    let t = tenancy::resolve(&state.store, &tenant).await?;
    Ok(Json(FeaturesView::of(t)))
}

/// Replaces the tenant's features (the complete set it has from now on).
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

async fn deliveries(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
) -> Result<Json<Vec<crate::store::outbox::Health>>, ApiError> {
    Ok(Json(crate::outbox::health(&state, &auth).await?))
}

/// Every tenant's SIEM streams with their health and backlog.
async fn audit_streams(
    State(state): State<AppState>,
    Require(auth): Require<OperateInstance>,
) -> Result<Json<Vec<crate::audit::stream::StreamStatus>>, ApiError> {
    Ok(Json(crate::audit::stream::list_all(&state, &auth).await?))
}

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

#[derive(serde::Serialize)]
struct OwnerSet {
    user_id: crate::types::UserId,
}

/// Sets the tenant's break-glass owner (a local account with a password).
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
