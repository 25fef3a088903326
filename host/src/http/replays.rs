//! Routes for the replay gate: the tenant's recording settings and what is recorded (counts
//! only), deleting recorded inputs, replaying a candidate over them, reading a replay's report
//! and activating it. The tenant admin's `/api/v1`; reading the recordings needs
//! `tenant:read`, changing them and activating `plugins:write`; a replay or its report also
//! needs `users:read`, since it shows users' roles and profile fields.

use axum::extract::{Path, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::plugins::recording::{
    self, DeleteRecordings, Deleted, RecordingSettings, RecordingView,
};
use crate::plugins::replay::{self, ReplayRequest};
use crate::plugins::replay_report::ReplayReport;
use crate::rbac::{ReadPlugins, ReadUsers, WritePlugins};
use crate::types::ReplayId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_recordings, delete_recordings))
        .routes(routes!(put_recording_settings))
        .routes(routes!(run_replay))
        .routes(routes!(get_replay))
        .routes(routes!(activate_replay))
}

/// The tenant's recording settings, the operator's bounds, and how many inputs each source
/// holds (inputs themselves are never shown).
#[utoipa::path(get, path = "/pipeline/recordings", tag = "plugins",
    operation_id = "get_recordings", responses((status = 200, body = RecordingView)))]
async fn get_recordings(
    State(state): State<AppState>,
    Require(auth): Require<ReadPlugins>,
) -> Result<Json<RecordingView>, ApiError> {
    Ok(Json(recording::view(&state, &auth).await?))
}

/// Changes whether and how much is recorded (within the operator's bounds), and whether new
/// plugin versions must come from a replay.
#[utoipa::path(put, path = "/pipeline/recordings/settings", tag = "plugins",
    operation_id = "put_recording_settings", request_body = RecordingSettings,
    responses((status = 200, body = RecordingView)))]
async fn put_recording_settings(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<RecordingSettings>,
) -> Result<Json<RecordingView>, ApiError> {
    Ok(Json(recording::update(&state, &auth, &ctx, body).await?))
}

/// Deletes recorded inputs: one source's (`?source=scim`, `?source=connection:<id>`) or all.
#[utoipa::path(delete, path = "/pipeline/recordings", tag = "plugins",
    operation_id = "delete_recordings", params(DeleteRecordings),
    responses((status = 200, body = Deleted)))]
async fn delete_recordings(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    ApiQuery(query): ApiQuery<DeleteRecordings>,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(recording::delete(&state, &auth, &ctx, query).await?))
}

/// Runs a candidate (plugin versions by stage and by connection) over the recorded inputs
/// beside the active pipeline, and stores the report of the differences.
#[utoipa::path(post, path = "/pipeline/replay", tag = "plugins", operation_id = "run_replay",
    request_body = ReplayRequest, responses((status = 200, body = ReplayReport)))]
async fn run_replay(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Require(users): Require<ReadUsers>,
    ApiJson(body): ApiJson<ReplayRequest>,
) -> Result<Json<ReplayReport>, ApiError> {
    Ok(Json(replay::replay(&state, &auth, &users, body).await?))
}

/// A stored replay's report.
#[utoipa::path(get, path = "/pipeline/replays/{id}", tag = "plugins",
    operation_id = "get_replay", params(("id" = ReplayId, Path)),
    responses((status = 200, body = ReplayReport)))]
async fn get_replay(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Require(users): Require<ReadUsers>,
    Path(id): Path<String>,
) -> Result<Json<ReplayReport>, ApiError> {
    let id = path_param::<ReplayId>(&id)?;
    Ok(Json(replay::get(&state, &auth, &users, id).await?))
}

/// Activates exactly what a replay ran, in one change; refused once one of its slots changed
/// since (replay again) or when it was activated before.
#[utoipa::path(post, path = "/pipeline/replays/{id}/activate", tag = "plugins",
    operation_id = "activate_replay", params(("id" = ReplayId, Path)),
    responses((status = 200, body = ReplayReport)))]
async fn activate_replay(
    State(state): State<AppState>,
    Require(auth): Require<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<ReplayReport>, ApiError> {
    let id = path_param::<ReplayId>(&id)?;
    Ok(Json(replay::activate(&state, &auth, &ctx, id).await?))
}
