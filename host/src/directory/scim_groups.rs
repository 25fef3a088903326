//! The directory's SCIM side for groups: write a SCIM group (new, or adopting the group
//! sign-ins made under the same key), change its members with the SCIM roles that follow,
//! delete it. `scim` plans a change outside the write transaction (`scim::membership`) and
//! calls these inside it.

use crate::error::Error;
use crate::store::groups::{self, ScimGroupRow};
use crate::store::roles::{self, RoleRow, RoleSource};
use crate::store::{memberships, users, Tx};
use crate::types::{GroupId, TenantId, Timestamp, UserId};

/// Writes a new SCIM group, or, with `adopting`, makes the SSO group of the same id SCIM's.
pub async fn create(tx: &mut Tx, row: &ScimGroupRow, adopting: bool) -> Result<(), Error> {
    if adopting {
        groups::update_scim_group(tx, row).await?;
    } else {
        groups::insert_scim_group(tx, row).await?;
    }
    Ok(())
}

/// Writes a SCIM group's attributes.
pub async fn update(tx: &mut Tx, row: &ScimGroupRow) -> Result<(), Error> {
    groups::update_scim_group(tx, row).await?;
    Ok(())
}

/// Deletes a group and its memberships.
pub async fn delete(tx: &mut Tx, tenant: TenantId, group: GroupId) -> Result<(), Error> {
    groups::delete_group(tx, tenant, group).await?;
    Ok(())
}

/// A change of one group's members: who joins, who leaves, and the SCIM roles of everyone
/// whose SCIM groups the change touches.
#[derive(Debug, Default)]
pub struct MemberChange {
    pub added: Vec<UserId>,
    pub removed: Vec<UserId>,
    pub roles: Vec<(UserId, Vec<RoleRow>)>,
}

/// Writes `change` for `group`: memberships, the touched users' versions (their SCIM
/// representation lists their groups) and the affected users' SCIM roles, in a few
/// statements whatever the number of members. `false` when a user to add no longer exists
/// or already is a member (changed meanwhile): the caller drops `tx` and plans again.
pub async fn change_members(
    tx: &mut Tx,
    tenant: TenantId,
    group: GroupId,
    change: &MemberChange,
    now: Timestamp,
) -> Result<bool, Error> {
    let added = memberships::add_members(tx, tenant, group, &change.added).await?;
    if added != change.added.len() as u64 {
        return Ok(false);
    }
    memberships::remove_members(tx, tenant, group, &change.removed).await?;
    let touched: Vec<UserId> = change
        .added
        .iter()
        .chain(&change.removed)
        .copied()
        .collect();
    users::bump_versions(tx, tenant, &touched, now).await?;
    roles::replace_roles(tx, tenant, RoleSource::Scim, &change.roles, now).await?;
    Ok(true)
}
