//! Assigning roles by hand: an admin replaces a user's `manual` assignments (the SSO and SCIM
//! sources keep theirs; a user's roles are the union). Each assignment names a role the
//! catalogue lists and, optionally, a scope it defines. No signed-in admin hands out power
//! over Gatehouse itself that they do not hold, by assignment, group table or role definition:
//! a role whose grants on `gatehouse.*` modules exceed the caller's is refused, so an admin
//! limited to roles cannot make themselves a security admin.

use serde::Deserialize;
use serde_json::json;

use super::catalogue::{self, Assignment, Catalogue};
use super::model::GATEHOUSE_PREFIX;
use super::{Authorized, WriteRoles};
use crate::audit::{self, Action, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::services::Services;
use crate::store::roles::RoleRow;
use crate::types::{TenantId, UserId};

/// Most manual assignments one user may have.
pub const MAX_MANUAL: usize = 100;

/// The body of `PUT /api/v1/users/{id}/roles`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualRoles {
    pub assignments: Vec<Assignment>,
}

fn to_row(a: &Assignment) -> RoleRow {
    match &a.scope {
        None => (a.role.clone(), String::new(), String::new()),
        Some(s) => (a.role.clone(), s.kind.clone(), s.name.clone()),
    }
}

fn to_assignment((role, kind, name): RoleRow) -> Assignment {
    Assignment {
        role,
        scope: (!kind.is_empty()).then_some(catalogue::ScopeRef { kind, name }),
    }
}

/// Refuses a signed-in user handing out a grant on Gatehouse's own modules that they do not
/// hold tenant-wide. (An API token's scopes were a ceiling set by whoever made it; the
/// operator holds everything.)
pub(crate) fn check_no_escalation<P>(
    auth: &Authorized<P>,
    catalogue: &Catalogue,
    app_modules: &[String],
    roles: &[&str],
) -> Result<(), Error> {
    if !matches!(auth.principal(), super::Principal::User { .. }) {
        return Ok(());
    }
    let modules = catalogue.modules(app_modules);
    for role in roles {
        let Some(grants) = catalogue.grants_of(role, &modules) else {
            continue;
        };
        for (module, actions) in grants
            .iter()
            .filter(|(m, _)| m.starts_with(GATEHOUSE_PREFIX))
        {
            for action in actions.keys() {
                if !auth.may(module, action) {
                    return Err(Error::Forbidden(format!(
                        "role `{role}` grants {module}.{action}, which you do not hold"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Refuses `role` (sent as `field`) unless it is one of the tenant's roles that `auth` could
/// assign by hand (for settings that assign it later, such as a connection's default role).
pub async fn check_assignable<P: super::TenantPermission>(
    state: &Services,
    auth: &Authorized<P>,
    field: &'static str,
    role: &str,
) -> Result<(), Error> {
    let catalogue = catalogue::load(state, auth.tenant()).await?;
    if !catalogue.role_names().iter().any(|r| r == role) {
        return Err(Error::invalid(
            field,
            format!(
                "`{}` is not one of the tenant's roles",
                crate::types::truncate(role, 60)
            ),
        ));
    }
    let app = super::app_modules(state).await?;
    check_no_escalation(auth, &catalogue, &app, &[role])
}

/// Replaces user `user`'s manual assignments; returns them as stored.
pub async fn set_manual(
    state: &Services,
    auth: &Authorized<WriteRoles>,
    ctx: &RequestContext,
    user: UserId,
    body: ManualRoles,
) -> Result<Vec<Assignment>, Error> {
    let tenant = auth.tenant();
    if body.assignments.len() > MAX_MANUAL {
        return Err(Error::invalid(
            "assignments",
            format!("at most {MAX_MANUAL} entries"),
        ));
    }
    let catalogue = catalogue::load(state, tenant).await?;
    let listed = catalogue.role_names();
    for a in &body.assignments {
        if !listed.contains(&a.role) {
            return Err(Error::invalid(
                "assignments",
                format!(
                    "`{}` is not one of the tenant's roles",
                    crate::types::truncate(&a.role, 60)
                ),
            ));
        }
        if let Some(scope) = &a.scope {
            if !catalogue.scopes.iter().any(|s| s.to_ref() == *scope) {
                return Err(Error::invalid(
                    "assignments",
                    format!(
                        "scope {} `{}` is not defined in the catalogue",
                        crate::types::truncate(&scope.kind, 60),
                        crate::types::truncate(&scope.name, 60)
                    ),
                ));
            }
        }
    }
    let mut rows: Vec<RoleRow> = body.assignments.iter().map(to_row).collect();
    rows.sort();
    rows.dedup();
    let app = super::app_modules(state).await?;
    write(state, auth, ctx, tenant, user, (&catalogue, &app), rows).await
}

async fn write(
    state: &Services,
    auth: &Authorized<WriteRoles>,
    ctx: &RequestContext,
    tenant: TenantId,
    user: UserId,
    (catalogue, app): (&Catalogue, &[String]),
    rows: Vec<RoleRow>,
) -> Result<Vec<Assignment>, Error> {
    if crate::store::user_reads::user(&state.store, tenant, user)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("user"));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    crate::store::users::lock(&mut tx, tenant, user).await?;
    let before = crate::directory::manual::assignments(&mut tx, tenant, user).await?;
    let added: Vec<&str> = rows
        .iter()
        .filter(|r| !before.contains(r))
        .map(|(role, _, _)| role.as_str())
        .collect();
    check_no_escalation(auth, catalogue, app, &added)?;
    crate::directory::manual::replace(&mut tx, tenant, user, &rows, now).await?;
    let after: Vec<Assignment> = rows.into_iter().map(to_assignment).collect();
    let before: Vec<Assignment> = before.into_iter().map(to_assignment).collect();
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: audit::Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::RolesAssigned,
            target: Target::new("user", user),
            before: Some(json!({ "manual": before })),
            after: Some(json!({ "manual": after })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}
