//! Plugin routes. Tenant admins (`/api/v1`): upload private plugins, list and get what they
//! can see (their own and the published ones), delete their own, dry-run a plugin or the
//! sign-in pipeline, assign pipeline stages and edit the role catalogue. The operator
//! (`/operator/v1`): publish plugins to every tenant, list, get and delete them. Uploads take
//! the raw component as `application/wasm` with name and version in the query string.

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Ctx, WasmBody};
use super::require::Require;
use super::state::AppState;
use crate::plugins::dry_run::{self, DryRunReport, PluginDryRun};
use crate::plugins::manage::{self, UploadParams, ViewPlugins, WritePluginsAs};
use crate::plugins::pipeline::{self, AssignStage, PipelineView, StageView};
use crate::plugins::registry::PluginView;
use crate::plugins::sign_in::{self, PipelineDryRun};
use crate::plugins::World;
use crate::rbac::catalogue::{self, Catalogue};
use crate::rbac::{Authorized, OperateInstance, ReadPlugins, ReadRoles, WritePlugins, WriteRoles};
use crate::types::PluginId;

/// `/api/v1` plugin routes; uploads may be up to `max_component` bytes.
pub fn tenant_router(max_component: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/plugins",
            get(list::<ReadPlugins>)
                .post(upload::<WritePlugins>)
                .layer(DefaultBodyLimit::max(max_component)),
        )
        .route(
            "/plugins/{id}",
            get(get_one::<ReadPlugins>).delete(delete_one::<WritePlugins>),
        )
        .route("/plugins/{id}/dry-run", post(dry_run_plugin))
        .route("/pipeline", get(get_pipeline))
        .route("/pipeline/dry-run", post(dry_run_pipeline))
        .route("/pipeline/{stage}", put(assign_stage).delete(reset_stage))
        .route("/catalogue", get(get_catalogue).put(put_catalogue))
}

/// `/operator/v1` plugin routes.
pub fn operator_router(max_component: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/plugins",
            get(list::<OperateInstance>)
                .post(upload::<OperateInstance>)
                .layer(DefaultBodyLimit::max(max_component)),
        )
        .route(
            "/plugins/{id}",
            get(get_one::<OperateInstance>).delete(delete_one::<OperateInstance>),
        )
}

#[derive(serde::Serialize)]
struct PluginList {
    plugins: Vec<PluginView>,
}

fn stage_param(raw: &str) -> Result<World, ApiError> {
    World::parse(raw).ok_or_else(|| {
        ApiError::InvalidPath(format!(
            "`{}` is not a stage; stages are idp-adapter, attribute-mapper, role-mapper, scim-adapter",
            crate::types::truncate(raw, 40)
        ))
    })
}

// One handler per action, for both the tenant's routes (its own plugins) and the operator's
// (published ones): `P` is the permission the route requires.

async fn upload<P>(
    State(state): State<AppState>,
    Require(auth): Require<P>,
    Ctx(ctx): Ctx,
    ApiQuery(params): ApiQuery<UploadParams>,
    WasmBody(wasm): WasmBody,
) -> Result<(StatusCode, Json<PluginView>), ApiError>
where
    Authorized<P>: WritePluginsAs,
    Require<P>: FromRequestParts<AppState, Rejection = ApiError>,
{
    let view = manage::upload(&state, &auth, &ctx, params, wasm).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list<P>(
    State(state): State<AppState>,
    Require(auth): Require<P>,
) -> Result<Json<PluginList>, ApiError>
where
    Authorized<P>: ViewPlugins,
    Require<P>: FromRequestParts<AppState, Rejection = ApiError>,
{
    Ok(Json(PluginList {
        plugins: manage::list(&state, &auth).await?,
    }))
}

async fn get_one<P>(
    State(state): State<AppState>,
    Require(auth): Require<P>,
    Path(id): Path<String>,
) -> Result<Json<PluginView>, ApiError>
where
    Authorized<P>: ViewPlugins,
    Require<P>: FromRequestParts<AppState, Rejection = ApiError>,
{
    let id: PluginId = path_param(&id)?;
    Ok(Json(manage::get(&state, &auth, id).await?))
}

async fn delete_one<P>(
    State(state): State<AppState>,
    Require(auth): Require<P>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError>
where
    Authorized<P>: WritePluginsAs,
    Require<P>: FromRequestParts<AppState, Rejection = ApiError>,
{
    let id: PluginId = path_param(&id)?;
    manage::delete(&state, &auth, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn dry_run_plugin(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PluginDryRun>,
) -> Result<Json<DryRunReport>, ApiError> {
    let id: PluginId = path_param(&id)?;
    Ok(Json(
        dry_run::dry_run_plugin(&state, &auth, id, body).await?,
    ))
}

async fn get_pipeline(
    State(state): State<AppState>,
    Require(auth): Require<ReadPlugins>,
) -> Result<Json<PipelineView>, ApiError> {
    Ok(Json(pipeline::get(&state, &auth).await?))
}

async fn dry_run_pipeline(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    ApiJson(body): ApiJson<PipelineDryRun>,
) -> Result<Json<DryRunReport>, ApiError> {
    Ok(Json(sign_in::dry_run(&state, &auth, body).await?))
}

async fn assign_stage(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(stage): Path<String>,
    ApiJson(body): ApiJson<AssignStage>,
) -> Result<Json<StageView>, ApiError> {
    let stage = stage_param(&stage)?;
    Ok(Json(
        pipeline::assign(&state, &auth, &ctx, stage, body).await?,
    ))
}

async fn reset_stage(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(stage): Path<String>,
) -> Result<StatusCode, ApiError> {
    let stage = stage_param(&stage)?;
    pipeline::reset(&state, &auth, &ctx, stage).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_catalogue(
    State(state): State<AppState>,
    Require(auth): Require<ReadRoles>,
) -> Result<Json<Catalogue>, ApiError> {
    Ok(Json(catalogue::get(&state, &auth).await?))
}

async fn put_catalogue(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<Catalogue>,
) -> Result<Json<Catalogue>, ApiError> {
    Ok(Json(catalogue::put(&state, &auth, &ctx, body).await?))
}
