//! The console's roles: the tenant's roles with what each grants, and the editor for a
//! custom role, the module × action matrix where each cell picks how far the grant reaches
//! (the whole tenant, the user's own records, or the user's scopes of a kind). Saving puts the
//! catalogue with that role replaced, through the API's own `rbac::catalogue::put` (checked,
//! no escalation, audited as `catalogue.updated`); built-in roles are shown, not edited.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::guard::{also, error_page, Admin, Chrome};
use crate::error::Error;
use crate::http::extract::Ctx;
use crate::http::state::AppState;
use crate::rbac::catalogue::{self, Catalogue};
use crate::rbac::model::{CustomRole, Grants, Reach, RoleDef, BUILT_IN_ROLES, STANDARD_KINDS};
use crate::rbac::{app_modules, Authorized, ReadRoles, WriteRoles};

/// A role as the list shows it.
struct RoleRow {
    name: String,
    built_in: bool,
    description: String,
    /// `module: action (reach), …` per module.
    grants: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct ListPage<'a> {
    chrome: &'a Chrome,
    roles: Vec<RoleRow>,
    default_role: String,
    can_write: bool,
}

fn describe(grants: &Grants) -> Vec<String> {
    grants
        .iter()
        .map(|(module, actions)| {
            let list: Vec<String> = actions
                .iter()
                .map(|(action, reach)| match reach {
                    Reach::Tenant => action.clone(),
                    other => format!("{action} ({})", other.as_str()),
                })
                .collect();
            format!("{module}: {}", list.join(", "))
        })
        .collect()
}

async fn loaded(
    state: &AppState,
    auth: &Authorized<ReadRoles>,
) -> Result<(Catalogue, Vec<(String, Vec<String>)>), Error> {
    let catalogue = catalogue::get(state, auth).await?;
    let modules = catalogue.modules(&app_modules(state).await?);
    Ok((catalogue, modules))
}

pub(super) async fn list(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadRoles>,
) -> Response {
    let (catalogue, modules) = match loaded(&state, &auth).await {
        Ok(found) => found,
        Err(e) => return error_page(e),
    };
    let roles = catalogue
        .roles
        .iter()
        .map(|r| RoleRow {
            name: r.name().to_string(),
            built_in: BUILT_IN_ROLES.contains(&r.name()),
            description: match r {
                RoleDef::Custom(c) => c.description.clone().unwrap_or_default(),
                RoleDef::Name(_) => String::new(),
            },
            grants: describe(&catalogue.grants_of(r.name(), &modules).unwrap_or_default()),
        })
        .collect();
    chrome.page(
        StatusCode::OK,
        &ListPage {
            chrome: &chrome,
            roles,
            default_role: catalogue.default_role.clone(),
            can_write: also::<WriteRoles, _>(&state, &auth).await.is_some(),
        },
    )
}

/// One row of the matrix: a module and, per column, the cell (absent when the module has no
/// such action).
struct MatrixRow {
    module: String,
    cells: Vec<Option<Cell>>,
}

struct Cell {
    field: String,
    label: String,
    chosen: String,
}

#[derive(Template)]
#[template(path = "console/role_edit.html")]
struct EditPage<'a> {
    chrome: &'a Chrome,
    name: String,
    description: String,
    is_new: bool,
    actions: Vec<String>,
    rows: Vec<MatrixRow>,
    reaches: Vec<(String, String)>,
    error: Option<String>,
}

/// The field a cell posts: `grant:<module>:<action>` (module names hold no `:`).
fn field(module: &str, action: &str) -> String {
    format!("grant:{module}:{action}")
}

fn edit_page(
    chrome: &Chrome,
    catalogue: &Catalogue,
    modules: &[(String, Vec<String>)],
    role: CustomRole,
    is_new: bool,
    error: Option<String>,
) -> Response {
    let mut actions: Vec<String> = Vec::new();
    for (_, list) in modules {
        for a in list {
            if !actions.contains(a) {
                actions.push(a.clone());
            }
        }
    }
    let rows = modules
        .iter()
        .map(|(module, list)| MatrixRow {
            module: module.clone(),
            cells: actions
                .iter()
                .map(|action| {
                    list.contains(action).then(|| Cell {
                        field: field(module, action),
                        label: format!("{module} {action}"),
                        chosen: role
                            .grants
                            .get(module)
                            .and_then(|a| a.get(action))
                            .map(|r| r.as_str().to_string())
                            .unwrap_or_default(),
                    })
                })
                .collect(),
        })
        .collect();
    let mut reaches = vec![
        ("tenant".to_string(), "whole tenant".to_string()),
        ("own".to_string(), "own records".to_string()),
    ];
    let mut kinds: Vec<&str> = STANDARD_KINDS.to_vec();
    for s in &catalogue.scopes {
        if !kinds.contains(&s.kind.as_str()) {
            kinds.push(&s.kind);
        }
    }
    reaches.extend(kinds.iter().map(|k| (k.to_string(), format!("their {k}s"))));
    chrome.form_page(
        error.is_some(),
        &EditPage {
            chrome,
            name: role.name,
            description: role.description.unwrap_or_default(),
            is_new,
            actions,
            rows,
            reaches,
            error,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct EditQuery {
    name: Option<String>,
}

pub(super) async fn edit(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteRoles>,
    Query(q): Query<EditQuery>,
) -> Response {
    let Some(read) = also::<ReadRoles, _>(&state, &auth).await else {
        return error_page(Error::Forbidden("reading roles is not allowed".into()));
    };
    let (catalogue, modules) = match loaded(&state, &read).await {
        Ok(found) => found,
        Err(e) => return error_page(e),
    };
    let existing = q.name.as_deref().and_then(|name| {
        catalogue.roles.iter().find_map(|r| match r {
            RoleDef::Custom(c) if c.name == name => Some(c.clone()),
            RoleDef::Name(n) if n == name && !BUILT_IN_ROLES.contains(&name) => Some(CustomRole {
                name: n.clone(),
                description: None,
                grants: Grants::new(),
            }),
            _ => None,
        })
    });
    let is_new = existing.is_none();
    let role = existing.unwrap_or(CustomRole {
        name: String::new(),
        description: None,
        grants: Grants::new(),
    });
    edit_page(&chrome, &catalogue, &modules, role, is_new, None)
}

/// The role the form describes: its name, description and every cell that grants.
fn role_from(fields: &[(String, String)]) -> CustomRole {
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut grants: Grants = BTreeMap::new();
    for (key, reach) in fields {
        let Some(rest) = key.strip_prefix("grant:") else {
            continue;
        };
        let (Some((module, action)), false) = (rest.rsplit_once(':'), reach.is_empty()) else {
            continue;
        };
        let reach: Reach = match serde_json::from_value(serde_json::Value::String(reach.clone())) {
            Ok(r) => r,
            Err(_) => continue,
        };
        grants
            .entry(module.to_string())
            .or_default()
            .insert(action.to_string(), reach);
    }
    let description = value("description");
    CustomRole {
        name: value("name"),
        description: (!description.is_empty()).then_some(description),
        grants,
    }
}

pub(super) async fn save(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteRoles>,
    Ctx(ctx): Ctx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let Some(read) = also::<ReadRoles, _>(&state, &auth).await else {
        return error_page(Error::Forbidden("reading roles is not allowed".into()));
    };
    let (mut catalogue, modules) = match loaded(&state, &read).await {
        Ok(found) => found,
        Err(e) => return error_page(e),
    };
    let role = role_from(&fields);
    let is_new = !catalogue.roles.iter().any(|r| r.name() == role.name);
    let refused = if role.name.is_empty() {
        Some("give the role a name".to_string())
    } else if BUILT_IN_ROLES.contains(&role.name.as_str()) {
        Some(format!(
            "`{}` is a built-in role; choose another name",
            role.name
        ))
    } else {
        None
    };
    if let Some(error) = refused {
        return edit_page(&chrome, &catalogue, &modules, role, is_new, Some(error));
    }
    let shown = role.clone();
    match catalogue.roles.iter_mut().find(|r| r.name() == role.name) {
        Some(existing) => *existing = RoleDef::Custom(role),
        None => catalogue.roles.push(RoleDef::Custom(role)),
    }
    match catalogue::put(&state, &auth, &ctx, catalogue.clone()).await {
        Ok(_) => Redirect::to("/console/roles").into_response(),
        Err(Error::Invalid { detail, .. }) | Err(Error::Forbidden(detail)) => {
            edit_page(&chrome, &catalogue, &modules, shown, is_new, Some(detail))
        }
        Err(e) => error_page(e),
    }
}
