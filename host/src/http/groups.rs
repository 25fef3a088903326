//! The admin API's groups: list and read any group; create, change and delete the groups an
//! admin makes, and add or remove their members (`directory::group_admin` has the rules).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::directory::group_admin::{self, GroupChange, NewGroup, Page};
use crate::rbac::{ReadUsers, WriteRoles};
use crate::store::groups::GroupRow;
use crate::types::GroupId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/groups", get(list).post(create))
        .route("/groups/{group}", get(read).patch(change).delete(remove))
        .route(
            "/groups/{group}/members/{user}",
            put(member::<true>).delete(member::<false>),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    after: Option<GroupId>,
    limit: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page>, ApiError> {
    Ok(Json(
        group_admin::list(&state, &auth, q.after, q.limit).await?,
    ))
}

async fn read(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    Path(group): Path<String>,
) -> Result<Json<GroupRow>, ApiError> {
    Ok(Json(
        group_admin::get(&state, &auth, path_param(&group)?).await?,
    ))
}

async fn create(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<NewGroup>,
) -> Result<(StatusCode, Json<GroupRow>), ApiError> {
    let group = group_admin::create(&state, &auth, &ctx, body).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

async fn change(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(group): Path<String>,
    ApiJson(body): ApiJson<GroupChange>,
) -> Result<Json<GroupRow>, ApiError> {
    let id = path_param(&group)?;
    Ok(Json(
        group_admin::update(&state, &auth, &ctx, id, body).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(group): Path<String>,
) -> Result<StatusCode, ApiError> {
    group_admin::delete(&state, &auth, &ctx, path_param(&group)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds (`JOIN`) or removes a member.
async fn member<const JOIN: bool>(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    Path((group, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (group, user) = (path_param(&group)?, path_param(&user)?);
    group_admin::set_member(&state, &auth, &ctx, group, user, JOIN).await?;
    Ok(StatusCode::NO_CONTENT)
}
