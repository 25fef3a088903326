//! Routes for what runs in a slot beyond the stage assignment itself (`plugins.rs`): each
//! stage's history and rollback, and each SSO connection's own IdP adapter (read, assign,
//! reset, history, rollback). The tenant admin's `/api/v1`; reads need `tenant:read`,
//! changes `plugins:write`.

use axum::extract::{Path, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Ctx};
use super::plugins::stage_param;
use super::require::Require;
use super::state::AppState;
use crate::plugins::activation::{self, Rollback};
use crate::plugins::pipeline::{self, AssignStage, StageView};
use crate::plugins::slot::HistoryView;
use crate::plugins::{Slot, World};
use crate::rbac::{ReadPlugins, WritePlugins};
use crate::types::ConnectionId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stage_history))
        .routes(routes!(stage_rollback))
        .routes(routes!(get_adapter, assign_adapter, reset_adapter))
        .routes(routes!(adapter_history))
        .routes(routes!(adapter_rollback))
}

fn adapter_slot(id: &str) -> Result<Slot, ApiError> {
    Ok(Slot::Adapter(path_param::<ConnectionId>(id)?))
}

/// A stage's history: which plugin version ran from when, set by whom (newest first).
#[utoipa::path(get, path = "/pipeline/{stage}/history", tag = "plugins",
    operation_id = "stage_history", params(("stage" = World, Path)),
    responses((status = 200, body = HistoryView)))]
async fn stage_history(
    State(state): State<AppState>,
    Require(auth): Require<ReadPlugins>,
    Path(stage): Path<String>,
) -> Result<Json<HistoryView>, ApiError> {
    let slot = Slot::Stage(stage_param(&stage)?);
    Ok(Json(activation::history(&state, &auth, slot).await?))
}

/// Makes an earlier activation of a stage current again (by default the one before the
/// current one), with the configuration and secrets it had.
#[utoipa::path(post, path = "/pipeline/{stage}/rollback", tag = "plugins",
    operation_id = "rollback_stage", params(("stage" = World, Path), Rollback),
    responses((status = 200, body = StageView)))]
async fn stage_rollback(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(stage): Path<String>,
    ApiQuery(params): ApiQuery<Rollback>,
) -> Result<Json<StageView>, ApiError> {
    let slot = Slot::Stage(stage_param(&stage)?);
    Ok(Json(
        activation::rollback(&state, &auth, &ctx, slot, params).await?,
    ))
}

/// What a connection's sign-ins run as their IdP adapter: its own, or the tenant's
/// idp-adapter stage (`assigned: false`).
#[utoipa::path(get, path = "/sso/connections/{id}/adapter", tag = "connections",
    operation_id = "get_connection_adapter", params(("id" = ConnectionId, Path)),
    responses((status = 200, body = StageView)))]
async fn get_adapter(
    State(state): State<AppState>,
    Require(auth): Require<ReadPlugins>,
    Path(id): Path<String>,
) -> Result<Json<StageView>, ApiError> {
    let slot = adapter_slot(&id)?;
    activation::check_slot(&state, auth.tenant(), slot).await?;
    Ok(Json(
        pipeline::slot_view(&state, auth.tenant(), slot).await?,
    ))
}

/// Gives a connection its own IdP adapter (an idp-adapter plugin version and its
/// configuration), used instead of the tenant's idp-adapter stage.
#[utoipa::path(put, path = "/sso/connections/{id}/adapter", tag = "connections",
    operation_id = "assign_connection_adapter", params(("id" = ConnectionId, Path)),
    request_body = AssignStage, responses((status = 200, body = StageView)))]
async fn assign_adapter(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignStage>,
) -> Result<Json<StageView>, ApiError> {
    let slot = adapter_slot(&id)?;
    Ok(Json(
        activation::assign(&state, &auth, &ctx, slot, body).await?,
    ))
}

/// Removes a connection's own adapter: its sign-ins use the tenant's idp-adapter stage again.
#[utoipa::path(delete, path = "/sso/connections/{id}/adapter", tag = "connections",
    operation_id = "reset_connection_adapter", params(("id" = ConnectionId, Path)),
    responses((status = 200, body = StageView)))]
async fn reset_adapter(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<StageView>, ApiError> {
    let slot = adapter_slot(&id)?;
    Ok(Json(activation::reset(&state, &auth, &ctx, slot).await?))
}

/// A connection adapter's history (newest first).
#[utoipa::path(get, path = "/sso/connections/{id}/adapter/history", tag = "connections",
    operation_id = "connection_adapter_history", params(("id" = ConnectionId, Path)),
    responses((status = 200, body = HistoryView)))]
async fn adapter_history(
    State(state): State<AppState>,
    Require(auth): Require<ReadPlugins>,
    Path(id): Path<String>,
) -> Result<Json<HistoryView>, ApiError> {
    let slot = adapter_slot(&id)?;
    Ok(Json(activation::history(&state, &auth, slot).await?))
}

/// Makes an earlier activation of a connection's adapter current again.
#[utoipa::path(post, path = "/sso/connections/{id}/adapter/rollback", tag = "connections",
    operation_id = "rollback_connection_adapter", params(("id" = ConnectionId, Path), Rollback),
    responses((status = 200, body = StageView)))]
async fn adapter_rollback(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<Rollback>,
) -> Result<Json<StageView>, ApiError> {
    let slot = adapter_slot(&id)?;
    Ok(Json(
        activation::rollback(&state, &auth, &ctx, slot, params).await?,
    ))
}
