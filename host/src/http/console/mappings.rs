//! The IdP-group → role table on a connection's page: the rows of the tenant's catalogue
//! (`group_mappings`, which every connection's role mapper reads), a row added or removed,
//! and a hint per IdP on what it sends as a group. Saved through the API's own
//! `rbac::catalogue::put` (checked, no escalation, audited as `catalogue.updated`) under
//! `roles.edit`; shown to whom may read roles.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::guard::{also, error_page, Admin};
use crate::error::Error;
use crate::http::extract::Ctx;
use crate::http::state::AppState;
use crate::rbac::catalogue::{self, GroupMapping};
use crate::rbac::{Authorized, ReadRoles, TenantPermission, WriteRoles};

/// The table as a connection's page shows it.
pub(super) struct Mappings {
    pub rows: Vec<GroupMapping>,
    pub roles: Vec<String>,
    pub can_write: bool,
    /// What this IdP sends as a group, for the admin typing one in.
    pub hint: &'static str,
}

/// What the IdP behind `adapter` (its adapter plugin's name) sends as a group.
fn hint(adapter: Option<&str>) -> &'static str {
    match adapter {
        Some("entra-adapter") => {
            "Entra ID sends each group's Object ID (Entra admin center → Groups → the group → \
             Object ID), unless the app's groups claim is set to send names."
        }
        Some("okta-adapter") => {
            "Okta sends group names, as filtered by the app's groups attribute statement."
        }
        Some("google-adapter") => {
            "Google Workspace sends group email addresses (engineering@example.com)."
        }
        _ => "Type the group exactly as the IdP sends it in its groups attribute or claim.",
    }
}

/// The table, when the user may read roles.
pub(super) async fn view<P: TenantPermission>(
    state: &AppState,
    auth: &Authorized<P>,
    adapter: Option<&str>,
) -> Result<Option<Mappings>, Error> {
    let Some(read) = also::<ReadRoles, _>(state, auth).await else {
        return Ok(None);
    };
    let c = catalogue::get(state, &read).await?;
    Ok(Some(Mappings {
        roles: c.role_names(),
        rows: c.group_mappings,
        can_write: also::<WriteRoles, _>(state, auth).await.is_some(),
        hint: hint(adapter),
    }))
}

#[derive(Deserialize)]
pub(super) struct Row {
    group_id: String,
    role: String,
}

/// Adds (`add`) or removes one row, then back to the connection's page.
async fn change(
    state: &AppState,
    auth: &Authorized<WriteRoles>,
    ctx: &crate::audit::RequestContext,
    connection: &str,
    row: Row,
    add: bool,
) -> Response {
    let wanted = GroupMapping {
        group_id: row.group_id.trim().to_string(),
        role: row.role,
        scope: None,
    };
    if wanted.group_id.is_empty() {
        return error_page(Error::invalid("group_id", "type the group the IdP sends"));
    }
    let done = async {
        let mut c = catalogue::load(state, auth.tenant()).await?;
        c.group_mappings.retain(|m| *m != wanted);
        if add {
            c.group_mappings.push(wanted);
        }
        catalogue::put(state, auth, ctx, c).await
    }
    .await;
    match done {
        Ok(_) => Redirect::to(&format!("/console/sso/{connection}#mapping")).into_response(),
        Err(e) => error_page(e),
    }
}

pub(super) async fn add(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(connection): Path<String>,
    Form(row): Form<Row>,
) -> Response {
    change(&state, &auth, &ctx, &connection, row, true).await
}

pub(super) async fn remove(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteRoles>,
    Ctx(ctx): Ctx,
    Path(connection): Path<String>,
    Form(row): Form<Row>,
) -> Response {
    change(&state, &auth, &ctx, &connection, row, false).await
}
