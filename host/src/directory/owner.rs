//! The tenant's owner account: the one local account with a password, the break-glass way
//! in when SSO is down. Setting it makes an existing user (by email) or a new local one the
//! owner; a previous owner loses the password and everything it had signed in with.

use super::provision;
use super::record::new_user;
use crate::error::Error;
use crate::store::users::{self, UserSource, UserStatus};
use crate::store::{user_reads, Tx};
use crate::types::{TenantId, Timestamp, UserId};

/// Makes the user with `email` (lower-cased; created as a local user if there is none)
/// the owner of `tenant` with `password_hash`. Returns it and the previous owners, whose
/// sessions and unredeemed codes are gone.
pub async fn set_owner(
    tx: &mut Tx,
    tenant: TenantId,
    email: &str,
    password_hash: &str,
    now: Timestamp,
) -> Result<(UserId, Vec<UserId>), Error> {
    let user = match user_reads::user_by_email(tx, tenant, email).await? {
        Some(user) if user.status == UserStatus::Deactivated => {
            return Err(Error::Conflict("this user is deactivated".into()))
        }
        Some(user) => user.id,
        None => {
            let user = new_user(tenant, email, UserStatus::Active, UserSource::Local, now);
            users::insert_user(tx, &user, None).await?;
            user.id
        }
    };
    let previous = users::set_owner(tx, tenant, user, password_hash, now).await?;
    // The break-glass account changed hands: the previous owner's password is gone, and so
    // are its sessions and unredeemed codes.
    for old in &previous {
        provision::cut_off(tx, tenant, *old, now).await?;
    }
    Ok((user, previous))
}
