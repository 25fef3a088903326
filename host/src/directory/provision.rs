//! What provisioning changes beyond the rows SCIM writes: a deprovisioned user loses every
//! session and pending authorization code in the same transaction, and a change to SCIM
//! group memberships re-derives the affected users' SCIM roles through the tenant's role
//! mapper, before the write transaction that stores them (SSO-derived roles are the
//! sign-in's to replace; a user's roles are the union).

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::RequestContext;
use crate::error::Error;
use crate::identity::{Identity, RoleGrant};
use crate::plugins::provisioning;
use crate::services::Services;
use crate::store::roles::RoleRow;
use crate::store::users::UserRow;
use crate::store::{provider, sessions, Tx};
use crate::types::{TenantId, Timestamp, UserId};

/// Cuts a deactivated or deleted user off: sessions revoked, unredeemed codes dropped.
/// Returns how many sessions were live.
pub async fn cut_off(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    now: Timestamp,
) -> Result<u64, Error> {
    provider::delete_user_codes(tx, tenant, user).await?;
    Ok(sessions::revoke_user(tx, tenant, user, now).await?)
}

/// The SCIM roles each of `users` gets from the keys of its SCIM groups (`keys`; none: no
/// SCIM roles), through the tenant's role mapper. A plugin call: run it before the write
/// transaction that stores the result with [`super::scim_groups::change_members`].
pub async fn scim_roles(
    state: &Services,
    tenant: TenantId,
    ctx: &RequestContext,
    users: &[UserRow],
    keys: &BTreeMap<UserId, BTreeSet<String>>,
) -> Result<Vec<(UserId, Vec<RoleRow>)>, Error> {
    let mut out = Vec::new();
    let mut identities = Vec::new();
    let mut mapped_users = Vec::new();
    for user in users {
        let groups: Vec<String> = keys
            .get(&user.id)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default();
        if groups.is_empty() {
            out.push((user.id, Vec::new()));
            continue;
        }
        identities.push(Identity {
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
            .map(RoleGrant::into_parts)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        out.push((user, rows));
    }
    Ok(out)
}
