//! An admin's role assignments: the `manual` source, replaced as a whole like the SSO and
//! SCIM sources replace theirs, and never touched by a sign-in or a SCIM change.

use crate::error::Error;
use crate::store::roles::{self, RoleRow, RoleSource};
use crate::store::Tx;
use crate::types::{TenantId, Timestamp, UserId};

/// The user's manual assignments.
pub async fn assignments(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<RoleRow>, Error> {
    Ok(roles::roles_from(tx, tenant, user, RoleSource::Manual).await?)
}

/// Replaces the user's manual assignments with `rows`.
pub async fn replace(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    rows: &[RoleRow],
    now: Timestamp,
) -> Result<(), Error> {
    roles::set_roles(tx, tenant, user, RoleSource::Manual, rows, now).await?;
    Ok(())
}
