//! Reading a user as the admin API shows it: profile, status, source and effective roles.

use serde::Serialize;

use super::record::role_label;
use crate::rbac::{Authorized, ReadUsers};
use crate::store::users::{UserSource, UserStatus};
use crate::store::{roles, user_reads, Store};
use crate::types::{Timestamp, UserId};

/// A directory user as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `active`, `pending` (provisioned, never signed in) or `deactivated`.
    pub status: UserStatus,
    /// Who manages the profile: `sso`, `scim` or `local`.
    pub source: UserSource,
    /// Effective roles: `role` or `role@kind:name`.
    pub roles: Vec<String>,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// One user of the tenant, with its effective roles.
pub async fn view(
    store: &Store,
    auth: &Authorized<ReadUsers>,
    id: UserId,
) -> Result<UserView, crate::Error> {
    let tenant = auth.tenant();
    let u = user_reads::user(store, tenant, id)
        .await?
        .ok_or(crate::Error::NotFound("user"))?;
    let roles = roles::roles_of(store, tenant, id).await?;
    Ok(UserView {
        id: u.id,
        email: u.email,
        email_verified: u.email_verified,
        display_name: u.display_name,
        given_name: u.given_name,
        family_name: u.family_name,
        status: u.status,
        source: u.source,
        roles: roles.iter().map(role_label).collect(),
        created_at: u.created_at,
        last_login_at: u.last_login_at,
    })
}
