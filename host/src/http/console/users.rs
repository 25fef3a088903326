//! The console's users: a search over the tenant's users, and a user's page with their
//! profile, effective roles and where each comes from (owner, SSO, SCIM, manual, group,
//! default), every permission rule with its source, admin-made groups ([`super::memberships`]),
//! live sessions, and the admin's actions: add or remove a manual role, join or leave a
//! group, deactivate or reactivate, reset MFA, end a session. Every
//! read and action is the API's own (`directory::view`, `rbac::effective`,
//! `rbac::assign::set_manual`, `sessions::local_users::set_active`, `mfa::admin::reset`,
//! `sessions::manage`) under the same permission.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::guard::{also, error_page, Admin, Chrome};
use crate::directory::view::{self, Search};
use crate::directory::UserView;
use crate::error::Error;
use crate::http::extract::{path_param, Ctx};
use crate::http::state::AppState;
use crate::identity::ScopeRef;
use crate::rbac::assign::{self, ManualRoles};
use crate::rbac::catalogue::{self, Assignment};
use crate::rbac::{effective, Authorized, ReadRoles, ReadUsers, WriteRoles, WriteUsers};
use crate::sessions::manage::{self, SessionView};
use crate::types::{SessionId, UserId};

#[derive(Template)]
#[template(path = "console/users.html")]
struct ListPage<'a> {
    chrome: &'a Chrome,
    q: String,
    users: Vec<UserView>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadUsers>,
    Query(query): Query<ListQuery>,
) -> Response {
    let q = query.q.trim().to_string();
    let search = Search {
        q: (!q.is_empty()).then(|| q.clone()),
        after: query.after.and_then(|a| a.parse().ok()),
        limit: Some(50),
        ..Search::default()
    };
    let page = match view::search(&state.store, &auth, search).await {
        Ok(page) => page,
        Err(e) => return error_page(e),
    };
    let next = page.next.map(|after| {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        format!("/console/users?q={q}&after={after}")
    });
    chrome.page(
        StatusCode::OK,
        &ListPage {
            chrome: &chrome,
            q,
            users: page.users,
            next,
        },
    )
}

/// A role the user holds, for the page.
struct HeldRole {
    label: String,
    source: String,
    /// The form values that remove it, when it is a manual assignment.
    manual: Option<(String, String)>,
}

/// One permission rule, for the page.
struct Rule {
    permission: String,
    via: String,
    records: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct DetailPage<'a> {
    chrome: &'a Chrome,
    user: UserView,
    is_owner: bool,
    held: Vec<HeldRole>,
    rules: Vec<Rule>,
    sessions: Vec<SessionView>,
    roles: Vec<String>,
    scopes: Vec<String>,
    can_write_users: bool,
    can_write_roles: bool,
    error: Option<String>,
    groups: Vec<super::memberships::GroupChoice>,
}

fn scope_text(scope: &Option<ScopeRef>) -> String {
    scope
        .as_ref()
        .map(|s| format!("{}:{}", s.kind, s.name))
        .unwrap_or_default()
}

async fn detail_page(
    state: &AppState,
    auth: &Authorized<ReadUsers>,
    chrome: &Chrome,
    id: UserId,
    error: Option<String>,
) -> Response {
    let user = match view::view(&state.store, auth, id).await {
        Ok(user) => user,
        Err(e) => return error_page(e),
    };
    let effective = match effective::load(state, auth.tenant(), id).await {
        Ok(Some(e)) => e,
        Ok(None) => return error_page(Error::NotFound("user")),
        Err(e) => return error_page(e),
    };
    let sessions = match manage::list_for_admin(state, auth, id).await {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let held = effective
        .held
        .iter()
        .map(|h| {
            let scope = scope_text(&h.scope);
            HeldRole {
                label: if scope.is_empty() {
                    h.role.clone()
                } else {
                    format!("{} within {scope}", h.role)
                },
                source: h.source.clone(),
                manual: (h.source == "manual").then(|| (h.role.clone(), scope)),
            }
        })
        .collect();
    let rules = effective
        .sources()
        .into_iter()
        .map(|s| Rule {
            permission: format!("{} {}", s.module, s.action),
            via: format!("{} ({}), {}", s.via.role, s.via.source, s.via.reach),
            records: s.records.to_string(),
        })
        .collect();
    let can_write_roles = also::<WriteRoles, _>(state, auth).await.is_some();
    let groups = match super::memberships::of(state, auth, id).await {
        Ok(g) => g,
        Err(e) => return error_page(e),
    };
    let (roles, scopes) = match also::<ReadRoles, _>(state, auth).await {
        Some(read) => match catalogue::get(state, &read).await {
            Ok(c) => (
                c.role_names(),
                c.scopes
                    .iter()
                    .map(|s| format!("{}:{}", s.kind, s.name))
                    .collect(),
            ),
            Err(e) => return error_page(e),
        },
        None => (vec![], vec![]),
    };
    chrome.form_page(
        error.is_some(),
        &DetailPage {
            chrome,
            user,
            is_owner: effective.is_owner,
            held,
            rules,
            sessions,
            roles,
            scopes,
            can_write_users: also::<WriteUsers, _>(state, auth).await.is_some(),
            can_write_roles,
            error,
            groups,
        },
    )
}

fn back(id: UserId) -> Response {
    Redirect::to(&format!("/console/users/{id}")).into_response()
}

pub(super) async fn detail(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadUsers>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = path_param::<UserId>(&id) else {
        return error_page(Error::NotFound("user"));
    };
    detail_page(&state, &auth, &chrome, id, None).await
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    role: String,
    /// `kind:name`, or blank for the whole tenant.
    #[serde(default)]
    scope: String,
}

impl RoleForm {
    fn assignment(&self) -> Assignment {
        let scope = self.scope.split_once(':').map(|(kind, name)| ScopeRef {
            kind: kind.to_string(),
            name: name.to_string(),
        });
        Assignment {
            role: self.role.trim().to_string(),
            scope,
        }
    }
}

/// Adds (`add`) or removes one manual assignment, through the API's replace-all.
async fn change_roles(
    state: &AppState,
    auth: &Authorized<WriteRoles>,
    chrome: &Chrome,
    ctx: &crate::audit::RequestContext,
    id: UserId,
    form: RoleForm,
    add: bool,
) -> Response {
    let current = match effective::load(state, auth.tenant(), id).await {
        Ok(Some(e)) => e,
        Ok(None) => return error_page(Error::NotFound("user")),
        Err(e) => return error_page(e),
    };
    let wanted = form.assignment();
    let mut assignments: Vec<Assignment> = current
        .held
        .iter()
        .filter(|h| h.source == "manual")
        .map(|h| Assignment {
            role: h.role.clone(),
            scope: h.scope.clone(),
        })
        .filter(|a| *a != wanted)
        .collect();
    if add {
        assignments.push(wanted);
    }
    match assign::set_manual(state, auth, ctx, id, ManualRoles { assignments }).await {
        Ok(_) => back(id),
        Err(Error::Invalid { detail, .. }) => match also::<ReadUsers, _>(state, auth).await {
            Some(read) => detail_page(state, &read, chrome, id, Some(detail)).await,
            None => error_page(Error::invalid("role", detail)),
        },
        Err(e) => error_page(e),
    }
}

pub(super) async fn add_role(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    let Ok(id) = path_param::<UserId>(&id) else {
        return error_page(Error::NotFound("user"));
    };
    change_roles(&state, &auth, &chrome, &ctx, id, form, true).await
}

pub(super) async fn remove_role(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    let Ok(id) = path_param::<UserId>(&id) else {
        return error_page(Error::NotFound("user"));
    };
    change_roles(&state, &auth, &chrome, &ctx, id, form, false).await
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    active: String,
}

pub(super) async fn set_status(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    let Ok(id) = path_param::<UserId>(&id) else {
        return error_page(Error::NotFound("user"));
    };
    let active = form.active == "true";
    match crate::sessions::local_users::set_active(&state, &auth, &ctx, id, active).await {
        Ok(()) => back(id),
        Err(e) => error_page(e),
    }
}

pub(super) async fn reset_mfa(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteUsers>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = path_param::<UserId>(&id) else {
        return error_page(Error::NotFound("user"));
    };
    match crate::mfa::admin::reset(&state, &auth, &ctx, id).await {
        Ok(()) => back(id),
        Err(e) => error_page(e),
    }
}

pub(super) async fn revoke_session(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteUsers>,
    Ctx(ctx): Ctx,
    Path((id, session)): Path<(String, String)>,
) -> Response {
    let Ok(id) = path_param::<UserId>(&id) else {
        return error_page(Error::NotFound("user"));
    };
    let Ok(session) = path_param::<SessionId>(&session) else {
        return error_page(Error::NotFound("session"));
    };
    match manage::revoke_for_admin(&state, &auth, &ctx, id, session).await {
        Ok(()) => back(id),
        Err(e) => error_page(e),
    }
}
