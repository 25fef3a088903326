//! What provisioning changes beyond the rows SCIM writes: a deprovisioned user loses every
//! session and pending authorization code in the same transaction, and a change to SCIM
//! group memberships re-derives the affected users' SCIM roles through the tenant's role
//! mapper (SSO-derived roles are the sign-in's to replace; a user's roles are the union).

use std::collections::BTreeSet;

use crate::app::AppState;
use crate::audit::RequestContext;
use crate::error::Error;
use crate::plugins::{provisioning, types};
use crate::store::directory::{self as sql, RoleRow, RoleSource, UserRow};
use crate::store::{scim as scim_sql, Tx};
use crate::types::{TenantId, Timestamp, UserId};

/// Cuts a deactivated or deleted user off: sessions revoked, unredeemed codes dropped.
/// Returns how many sessions were live.
pub async fn cut_off(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    now: Timestamp,
) -> Result<u64, Error> {
    Ok(scim_sql::revoke_user_access(tx, tenant, user, now).await?)
}

/// Re-derives the SCIM roles of `users` from their SCIM groups (none: no SCIM roles).
pub async fn sync_scim_roles(
    state: &AppState,
    tx: &mut Tx,
    tenant: TenantId,
    ctx: &RequestContext,
    users: &[UserRow],
    now: Timestamp,
) -> Result<(), Error> {
    let mut identities = Vec::new();
    let mut mapped_users = Vec::new();
    for user in users {
        let groups = scim_sql::group_keys_of_user(tx, tenant, user.id).await?;
        if groups.is_empty() {
            sql::set_roles(tx, tenant, user.id, RoleSource::Scim, &[], now).await?;
            continue;
        }
        identities.push(types::Identity {
            subject: user.id.to_string(),
            email: Some(user.email.clone()),
            email_verified: user.email_verified,
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
            display_name: user.display_name.clone(),
            groups,
            attributes: Vec::new(),
        });
        mapped_users.push(user.id);
    }
    let mapped = provisioning::map_roles(state, tenant, ctx, identities).await?;
    for (user, roles) in mapped_users.into_iter().zip(mapped) {
        let rows: Vec<RoleRow> = roles
            .into_iter()
            .map(|r| match r.scope {
                Some(s) => (r.role, s.kind, s.name),
                None => (r.role, String::new(), String::new()),
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        sql::set_roles(tx, tenant, user, RoleSource::Scim, &rows, now).await?;
    }
    Ok(())
}
