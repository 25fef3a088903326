//! Plugin routes. Tenant admins (`/api/v1`): upload private plugins, list and get what they
//! can see (their own and the published ones), delete their own, dry-run a plugin or the
//! sign-in pipeline, assign pipeline stages and edit the role catalogue. The operator
//! (`/operator/v1`): publish plugins to every tenant, list, get and delete them. Uploads take
//! the raw component as `application/wasm` with name and version in the query string.

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Ctx, WasmBody};
use super::require::Require;
use super::state::AppState;
use crate::plugins::activation;
use crate::plugins::dry_run::{self, DryRunReport, PluginDryRun};
use crate::plugins::manage::{self, UploadParams, ViewPlugins, WritePluginsAs};
use crate::plugins::pipeline::{self, AssignStage, PipelineView, StageView};
use crate::plugins::registry::PluginView;
use crate::plugins::sign_in::{self, PipelineDryRun};
use crate::plugins::{Slot, World};
use crate::rbac::catalogue::{self, Catalogue};
use crate::rbac::{Authorized, OperateInstance, ReadPlugins, ReadRoles, WritePlugins, WriteRoles};
use crate::types::PluginId;

/// `/api/v1` plugin routes; uploads may be up to `max_component` bytes.
pub fn tenant_router(max_component: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plugins, upload_plugin).layer(DefaultBodyLimit::max(max_component)))
        .routes(routes!(get_plugin, delete_plugin))
        .routes(routes!(dry_run_plugin))
        .routes(routes!(get_pipeline))
        .routes(routes!(dry_run_pipeline))
        .routes(routes!(assign_stage, reset_stage))
        .routes(routes!(get_catalogue, put_catalogue))
}

/// `/operator/v1` plugin routes.
pub fn operator_router(max_component: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_published, publish).layer(DefaultBodyLimit::max(max_component)))
        .routes(routes!(get_published, delete_published))
}

crate::types::string_schema!(
    WasmBody,
    Some("binary"),
    "a WebAssembly component of one of the plugin worlds"
);

/// The plugins the caller can see.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct PluginList {
    plugins: Vec<PluginView>,
}

pub(super) fn stage_param(raw: &str) -> Result<World, ApiError> {
    World::parse(raw).ok_or_else(|| {
        ApiError::InvalidPath(format!(
            "`{}` is not a stage; stages are idp-adapter, attribute-mapper, role-mapper, scim-adapter",
            crate::types::truncate(raw, 40)
        ))
    })
}

// The tenant's routes (its own plugins, and the published ones it can see) and the operator's
// (published plugins) share one implementation per action: `P` is the permission the route
// requires.

/// Uploads a private plugin version (the raw component; name and version in the query).
#[utoipa::path(post, path = "/plugins", tag = "plugins", operation_id = "upload_plugin",
    params(UploadParams),
    request_body(content = WasmBody, content_type = "application/wasm"),
    responses((status = 201, body = PluginView)))]
async fn upload_plugin(
    state: State<AppState>,
    auth: Require<WritePlugins>,
    ctx: Ctx,
    params: ApiQuery<UploadParams>,
    wasm: WasmBody,
) -> Result<(StatusCode, Json<PluginView>), ApiError> {
    upload(state, auth, ctx, params, wasm).await
}

/// Publishes a plugin version to every tenant (the raw component; name and version in the
/// query).
#[utoipa::path(post, path = "/plugins", tag = "operator", operation_id = "operator_upload_plugin",
    params(UploadParams),
    request_body(content = WasmBody, content_type = "application/wasm"),
    responses((status = 201, body = PluginView)))]
async fn publish(
    state: State<AppState>,
    auth: Require<OperateInstance>,
    ctx: Ctx,
    params: ApiQuery<UploadParams>,
    wasm: WasmBody,
) -> Result<(StatusCode, Json<PluginView>), ApiError> {
    upload(state, auth, ctx, params, wasm).await
}

/// Lists the plugins the tenant can use: its own and the published ones.
#[utoipa::path(get, path = "/plugins", tag = "plugins", operation_id = "list_plugins",
    responses((status = 200, body = PluginList)))]
async fn list_plugins(
    state: State<AppState>,
    auth: Require<ReadPlugins>,
) -> Result<Json<PluginList>, ApiError> {
    list(state, auth).await
}

/// Lists the published plugins.
#[utoipa::path(get, path = "/plugins", tag = "operator", operation_id = "operator_list_plugins",
    responses((status = 200, body = PluginList)))]
async fn list_published(
    state: State<AppState>,
    auth: Require<OperateInstance>,
) -> Result<Json<PluginList>, ApiError> {
    list(state, auth).await
}

/// Reads one plugin version the tenant can see.
#[utoipa::path(get, path = "/plugins/{id}", tag = "plugins", operation_id = "get_plugin",
    params(("id" = PluginId, Path)), responses((status = 200, body = PluginView)))]
async fn get_plugin(
    state: State<AppState>,
    auth: Require<ReadPlugins>,
    id: Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    get_one(state, auth, id).await
}

/// Reads one published plugin version.
#[utoipa::path(get, path = "/plugins/{id}", tag = "operator", operation_id = "operator_get_plugin",
    params(("id" = PluginId, Path)), responses((status = 200, body = PluginView)))]
async fn get_published(
    state: State<AppState>,
    auth: Require<OperateInstance>,
    id: Path<String>,
) -> Result<Json<PluginView>, ApiError> {
    get_one(state, auth, id).await
}

/// Deletes one of the tenant's private plugin versions.
#[utoipa::path(delete, path = "/plugins/{id}", tag = "plugins", operation_id = "delete_plugin",
    params(("id" = PluginId, Path)), responses((status = 204)))]
async fn delete_plugin(
    state: State<AppState>,
    auth: Require<WritePlugins>,
    ctx: Ctx,
    id: Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_one(state, auth, ctx, id).await
}

/// Deletes a published plugin version.
#[utoipa::path(delete, path = "/plugins/{id}", tag = "operator",
    operation_id = "operator_delete_plugin", params(("id" = PluginId, Path)),
    responses((status = 204)))]
async fn delete_published(
    state: State<AppState>,
    auth: Require<OperateInstance>,
    ctx: Ctx,
    id: Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_one(state, auth, ctx, id).await
}

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

/// Runs one plugin on a sample input and reports what it did; nothing is stored.
#[utoipa::path(post, path = "/plugins/{id}/dry-run", tag = "plugins",
    operation_id = "dry_run_plugin", params(("id" = PluginId, Path)),
    request_body = PluginDryRun, responses((status = 200, body = DryRunReport)))]
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

/// Reads the tenant's pipeline: the plugin and configuration of every stage.
#[utoipa::path(get, path = "/pipeline", tag = "plugins", operation_id = "get_pipeline",
    responses((status = 200, body = PipelineView)))]
async fn get_pipeline(
    State(state): State<AppState>,
    Require(auth): Require<ReadPlugins>,
) -> Result<Json<PipelineView>, ApiError> {
    Ok(Json(pipeline::get(&state, &auth).await?))
}

/// Runs the sign-in pipeline on a sample raw identity and reports each stage; nothing is stored.
#[utoipa::path(post, path = "/pipeline/dry-run", tag = "plugins",
    operation_id = "dry_run_pipeline", request_body = PipelineDryRun,
    responses((status = 200, body = DryRunReport)))]
async fn dry_run_pipeline(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    ApiJson(body): ApiJson<PipelineDryRun>,
) -> Result<Json<DryRunReport>, ApiError> {
    Ok(Json(sign_in::dry_run(&state, &auth, body).await?))
}

/// Assigns a plugin version and its configuration to a stage.
#[utoipa::path(put, path = "/pipeline/{stage}", tag = "plugins", operation_id = "assign_stage",
    params(("stage" = World, Path)), request_body = AssignStage,
    responses((status = 200, body = StageView)))]
async fn assign_stage(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(stage): Path<String>,
    ApiJson(body): ApiJson<AssignStage>,
) -> Result<Json<StageView>, ApiError> {
    let stage = stage_param(&stage)?;
    Ok(Json(
        activation::assign(&state, &auth, &ctx, Slot::Stage(stage), body).await?,
    ))
}

/// Unassigns a stage: the built-in default runs again.
#[utoipa::path(delete, path = "/pipeline/{stage}", tag = "plugins", operation_id = "reset_stage",
    params(("stage" = World, Path)), responses((status = 204)))]
async fn reset_stage(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(stage): Path<String>,
) -> Result<StatusCode, ApiError> {
    let stage = stage_param(&stage)?;
    activation::reset(&state, &auth, &ctx, Slot::Stage(stage)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads the tenant's role catalogue (the default one when it has set none).
#[utoipa::path(get, path = "/catalogue", tag = "admin", operation_id = "get_role_catalogue",
    responses((status = 200, body = Catalogue)))]
async fn get_catalogue(
    State(state): State<AppState>,
    Require(auth): Require<ReadRoles>,
) -> Result<Json<Catalogue>, ApiError> {
    Ok(Json(catalogue::get(&state, &auth).await?))
}

/// Replaces the tenant's role catalogue.
#[utoipa::path(put, path = "/catalogue", tag = "admin", operation_id = "put_role_catalogue",
    request_body = Catalogue, responses((status = 200, body = Catalogue)))]
async fn put_catalogue(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<Catalogue>,
) -> Result<Json<Catalogue>, ApiError> {
    Ok(Json(catalogue::put(&state, &auth, &ctx, body).await?))
}
