//! The admin API's groups: list and read any group; create, change and delete the groups an
//! admin makes, and add or remove their members (`directory::group_admin` has the rules).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{path_param, ApiJson, ApiQuery, Ctx};
use super::require::Require;
use super::state::AppState;
use crate::directory::group_admin::{self, GroupChange, NewGroup, Page};
use crate::rbac::{ReadUsers, WriteRoles};
use crate::store::groups::GroupRow;
use crate::types::GroupId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, change, remove))
        .routes(routes!(add_member, remove_member))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// The `next` of the previous page.
    after: Option<GroupId>,
    /// Groups per page, 1–200 (default 50).
    limit: Option<usize>,
}

/// Lists the tenant's groups, of every source, a page at a time.
#[utoipa::path(get, path = "/groups", tag = "admin", operation_id = "list_groups",
    params(PageQuery), responses((status = 200, body = Page)))]
async fn list(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page>, ApiError> {
    Ok(Json(
        group_admin::list(&state, &auth, q.after, q.limit).await?,
    ))
}

/// Reads one group.
#[utoipa::path(get, path = "/groups/{group}", tag = "admin", operation_id = "get_group",
    params(("group" = GroupId, Path)), responses((status = 200, body = GroupRow)))]
async fn read(
    State(state): State<AppState>,
    Require(auth): Require<ReadUsers>,
    Path(group): Path<String>,
) -> Result<Json<GroupRow>, ApiError> {
    Ok(Json(
        group_admin::get(&state, &auth, path_param(&group)?).await?,
    ))
}

/// Creates a group an admin manages (SCIM's groups stay the IdP's).
#[utoipa::path(post, path = "/groups", tag = "admin", operation_id = "create_group",
    request_body = NewGroup, responses((status = 201, body = GroupRow)))]
async fn create(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<NewGroup>,
) -> Result<(StatusCode, Json<GroupRow>), ApiError> {
    let group = group_admin::create(&state, &auth, &ctx, body).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// Renames an admin-made group or changes its external id.
#[utoipa::path(patch, path = "/groups/{group}", tag = "admin", operation_id = "update_group",
    params(("group" = GroupId, Path)), request_body = GroupChange,
    responses((status = 200, body = GroupRow)))]
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

/// Deletes an admin-made group.
#[utoipa::path(delete, path = "/groups/{group}", tag = "admin", operation_id = "delete_group",
    params(("group" = GroupId, Path)), responses((status = 204)))]
async fn remove(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(group): Path<String>,
) -> Result<StatusCode, ApiError> {
    group_admin::delete(&state, &auth, &ctx, path_param(&group)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a user to an admin-made group.
#[utoipa::path(put, path = "/groups/{group}/members/{user}", tag = "admin",
    operation_id = "add_group_member",
    params(("group" = GroupId, Path), ("user" = crate::types::UserId, Path)),
    responses((status = 204)))]
async fn add_member(
    state: State<AppState>,
    auth: Require<WriteRoles>,
    ctx: Ctx,
    ids: Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    member(state, auth, ctx, ids, true).await
}

/// Removes a user from an admin-made group.
#[utoipa::path(delete, path = "/groups/{group}/members/{user}", tag = "admin",
    operation_id = "remove_group_member",
    params(("group" = GroupId, Path), ("user" = crate::types::UserId, Path)),
    responses((status = 204)))]
async fn remove_member(
    state: State<AppState>,
    auth: Require<WriteRoles>,
    ctx: Ctx,
    ids: Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    member(state, auth, ctx, ids, false).await
}

/// Adds (`join`) or removes a member.
async fn member(
    State(state): State<AppState>,
    Require(auth): Require<WriteRoles>,
    Ctx(ctx): Ctx,
    Path((group, user)): Path<(String, String)>,
    join: bool,
) -> Result<StatusCode, ApiError> {
    let (group, user) = (path_param(&group)?, path_param(&user)?);
    group_admin::set_member(&state, &auth, &ctx, group, user, join).await?;
    Ok(StatusCode::NO_CONTENT)
}
