//! A user's admin-made groups on their console page: which of the tenant's admin-made groups
//! they are in, and joining or leaving one (local users only: the IdP owns the others'
//! groups, which the API says). Joining is the API's own `directory::group_admin::set_member`
//! under `roles.edit` (a group's members get the roles the catalogue maps it to).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::guard::{error_page, Admin};
use crate::directory::group_admin;
use crate::error::Error;
use crate::http::extract::{path_param, Ctx};
use crate::http::state::AppState;
use crate::rbac::{Authorized, ReadUsers, WriteRoles};
use crate::store::groups::GroupSource;
use crate::types::{GroupId, UserId};

/// Admin-made groups a page lists at most.
const MAX_GROUPS: usize = 200;

/// An admin-made group and whether the user is in it.
pub(super) struct GroupChoice {
    pub id: GroupId,
    pub name: String,
    pub external_id: String,
    pub member: bool,
}

/// The tenant's admin-made groups, each marked when `user` is in it.
pub(super) async fn of(
    state: &AppState,
    auth: &Authorized<ReadUsers>,
    user: UserId,
) -> Result<Vec<GroupChoice>, Error> {
    let page = group_admin::list(state, auth, None, Some(MAX_GROUPS)).await?;
    let keys =
        crate::store::memberships::manual_group_keys(&state.store, auth.tenant(), user).await?;
    Ok(page
        .groups
        .into_iter()
        .filter(|g| g.source == GroupSource::Manual)
        .map(|g| GroupChoice {
            member: keys.contains(&g.external_id),
            id: g.id,
            name: g.display_name,
            external_id: g.external_id,
        })
        .collect())
}

#[derive(Deserialize)]
pub(super) struct Membership {
    group: String,
    /// `true` to join, `false` to leave.
    join: String,
}

pub(super) async fn set(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
    Form(form): Form<Membership>,
) -> Response {
    let Ok(user) = path_param::<UserId>(&user) else {
        return error_page(Error::NotFound("user"));
    };
    let Ok(group) = path_param::<GroupId>(&form.group) else {
        return error_page(Error::NotFound("group"));
    };
    let join = form.join == "true";
    match group_admin::set_member(&state, &auth, &ctx, group, user, join).await {
        Ok(()) => Redirect::to(&format!("/console/users/{user}#groups-h")).into_response(),
        Err(e) => error_page(e),
    }
}
