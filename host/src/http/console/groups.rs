//! The console's groups: the tenant's groups of every source (SSO, SCIM, admin-made), a new
//! admin-made group (its name and the identifier the group table maps to roles), and
//! deleting an admin-made one after a confirmation. Members are added and removed on each
//! user's page ([`super::memberships`]). Each action is the API's own
//! (`directory::group_admin`) under the same permission.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::guard::{also, error_page, Admin, Chrome};
use crate::directory::group_admin::{self, NewGroup};
use crate::error::Error;
use crate::http::extract::{path_param, Ctx};
use crate::http::state::AppState;
use crate::rbac::{Authorized, ReadUsers, WriteRoles};
use crate::store::groups::GroupRow;
use crate::types::GroupId;

/// Groups per page.
const PER_PAGE: usize = 100;

#[derive(Template)]
#[template(path = "console/groups.html")]
struct Page<'a> {
    chrome: &'a Chrome,
    groups: Vec<GroupRow>,
    next: Option<GroupId>,
    can_write: bool,
    error: Option<String>,
}

async fn render(
    state: &AppState,
    auth: &Authorized<ReadUsers>,
    chrome: &Chrome,
    after: Option<GroupId>,
    error: Option<String>,
) -> Response {
    let page = match group_admin::list(state, auth, after, Some(PER_PAGE)).await {
        Ok(p) => p,
        Err(e) => return error_page(e),
    };
    chrome.form_page(
        error.is_some(),
        &Page {
            chrome,
            groups: page.groups,
            next: page.next,
            can_write: also::<WriteRoles, _>(state, auth).await.is_some(),
            error,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    after: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadUsers>,
    Query(q): Query<ListQuery>,
) -> Response {
    let after = q.after.and_then(|a| a.parse().ok());
    render(&state, &auth, &chrome, after, None).await
}

#[derive(Deserialize)]
pub(super) struct Created {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    external_id: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteRoles>,
    Ctx(ctx): Ctx,
    Form(form): Form<Created>,
) -> Response {
    let external = form.external_id.trim();
    let body = NewGroup {
        display_name: form.display_name.trim().to_string(),
        external_id: (!external.is_empty()).then(|| external.to_string()),
    };
    match group_admin::create(&state, &auth, &ctx, body).await {
        Ok(_) => Redirect::to("/console/groups").into_response(),
        Err(Error::Invalid { detail, .. }) | Err(Error::Conflict(detail)) => {
            match also::<ReadUsers, _>(&state, &auth).await {
                Some(read) => render(&state, &read, &chrome, None, Some(detail)).await,
                None => error_page(Error::invalid("group", detail)),
            }
        }
        Err(e) => error_page(e),
    }
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = path_param::<GroupId>(&id) else {
        return error_page(Error::NotFound("group"));
    };
    match group_admin::delete(&state, &auth, &ctx, id).await {
        Ok(()) => Redirect::to("/console/groups").into_response(),
        Err(e) => error_page(e),
    }
}
