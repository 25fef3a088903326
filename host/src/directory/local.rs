//! Local accounts: users who sign in with a password of their own, invited by an admin. An
//! invited user is a directory user like any other (roles, groups, status, deactivation),
//! created `pending` with no password; setting the password from the invitation's link makes
//! it `active`. A reset link sets a new password the same way. SSO and SCIM users are not
//! turned into local ones here: their IdP owns how they sign in. An admin deactivates and
//! reactivates local users (SCIM does it for the users it manages).

use super::record::new_user;
use crate::error::Error;
use crate::store::users::{self, UserRow, UserSource, UserStatus};
use crate::store::{user_reads, Tx};
use crate::types::{TenantId, Timestamp};

/// The local user to invite as `email` (lower-cased): a new pending one, or the same user
/// invited before and not yet in (its older links are the caller's to void).
pub async fn invitee(
    tx: &mut Tx,
    tenant: TenantId,
    email: &str,
    display_name: Option<String>,
    now: Timestamp,
) -> Result<UserRow, Error> {
    match user_reads::user_by_email(tx, tenant, email).await? {
        Some(user) if user.source == UserSource::Local && user.status == UserStatus::Pending => {
            Ok(user)
        }
        Some(_) => Err(Error::Conflict(
            "a user with this email already exists; send them a password reset instead".into(),
        )),
        None => {
            let mut user = new_user(tenant, email, UserStatus::Pending, UserSource::Local, now);
            user.display_name = display_name;
            users::insert_user(tx, &user, None).await?;
            Ok(user)
        }
    }
}

/// Sets the password of local user `user` (a pending invitee becomes active). Refused for a
/// user who is not local or was deactivated meanwhile.
pub async fn set_password(
    tx: &mut Tx,
    user: &UserRow,
    password_hash: &str,
    now: Timestamp,
) -> Result<(), Error> {
    if user.source != UserSource::Local || user.status == UserStatus::Deactivated {
        return Err(Error::Conflict(
            "this account cannot have a password any more".into(),
        ));
    }
    users::set_password(tx, user.tenant_id, user.id, password_hash, now).await?;
    Ok(())
}

/// Deactivates (sessions and codes cut off) or reactivates local user `user`; false when it
/// already was. An invitee who never set a password comes back `pending`.
pub async fn set_active(
    tx: &mut Tx,
    user: &UserRow,
    active: bool,
    has_password: bool,
    now: Timestamp,
) -> Result<bool, Error> {
    if user.source != UserSource::Local {
        return Err(Error::Conflict(
            "this user is managed by SCIM or the identity provider, which decides its status"
                .into(),
        ));
    }
    let status = match (active, has_password) {
        (false, _) => UserStatus::Deactivated,
        (true, true) => UserStatus::Active,
        (true, false) => UserStatus::Pending,
    };
    let changed = users::set_local_status(tx, user.tenant_id, user.id, status, now).await?;
    if changed && !active {
        super::provision::cut_off(tx, user.tenant_id, user.id, now).await?;
    }
    Ok(changed)
}
