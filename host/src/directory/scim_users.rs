//! The directory's SCIM side for users: [`create`] (or adopt a user a sign-in made),
//! [`update`] with the lifecycle step `active` implies, [`delete`]. `scim` translates SCIM
//! JSON into these calls and renders what they return; which attribute SCIM may set is
//! [`super::authority`]'s to say. Each runs inside the caller's write transaction.

use super::record::{new_user, user_json, Profile};
use super::{authority, provision};
use crate::error::Error;
use crate::store::users::{self, ScimIdentity, ScimUserRow, UserSource, UserStatus};
use crate::store::{user_reads, Tx};
use crate::types::{TenantId, Timestamp, UserId};

/// What a SCIM create made.
#[derive(Debug)]
pub enum Created {
    /// A new user.
    New(ScimUserRow),
    /// A user a sign-in made, now SCIM's; `before` is its audit form before.
    Adopted {
        row: ScimUserRow,
        before: serde_json::Value,
    },
}

impl Created {
    pub fn row(&self) -> &ScimUserRow {
        match self {
            Created::New(row) | Created::Adopted { row, .. } => row,
        }
    }
}

/// The lifecycle step a SCIM update took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Updated,
    /// `active` went false: sessions revoked, pending codes dropped.
    Deactivated,
    /// `active` went true again.
    Reactivated,
}

/// What [`update`] did.
#[derive(Debug)]
pub enum Written {
    Done(Lifecycle),
    /// The user is no longer the version the update was made from: plan again.
    Changed,
    Gone,
}

/// Creates the SCIM user `identity` with `profile`, or adopts the user a sign-in made with
/// that email. The owner's account is not SCIM's to take (409).
pub async fn create(
    tx: &mut Tx,
    tenant: TenantId,
    profile: &Profile,
    identity: ScimIdentity,
    active: bool,
    now: Timestamp,
) -> Result<Created, Error> {
    match user_reads::adoptable_user(tx, tenant, &profile.email).await? {
        Some((_, true)) => Err(Error::Conflict(
            "the email address belongs to the organisation's owner account, which SCIM does not manage"
                .into(),
        )),
        Some((user, false)) => {
            let before = user_json(&user, &[], &[]);
            let mut row = ScimUserRow {
                user,
                scim: identity,
            };
            profile.apply_to(&mut row.user);
            row.user.source = UserSource::Scim;
            row.user.updated_at = now;
            row.user.status = authority::status_after_scim(&row.user, active);
            users::update_scim_user(tx, &row).await?;
            if !active {
                provision::cut_off(tx, tenant, row.user.id, now).await?;
            }
            Ok(Created::Adopted { row, before })
        }
        None => {
            let mut user = new_user(tenant, "", authority::status_of_scim_created(active), UserSource::Scim, now);
            profile.apply_to(&mut user);
            users::insert_user(tx, &user, Some(&identity)).await?;
            Ok(Created::New(ScimUserRow {
                user,
                scim: identity,
            }))
        }
    }
}

/// What `old` becomes when SCIM writes `profile` and `identity`, and `active` when given
/// (not given: the status stays). Computed outside the write; the version is not bumped.
pub fn updated(
    old: &ScimUserRow,
    profile: &Profile,
    identity: ScimIdentity,
    active: Option<bool>,
) -> ScimUserRow {
    let mut row = old.clone();
    profile.apply_to(&mut row.user);
    row.scim = ScimIdentity {
        version: old.scim.version,
        ..identity
    };
    if let Some(active) = active {
        row.user.status = authority::status_after_scim(&old.user, active);
    }
    row
}

/// Writes `new` over `old` inside `tx`, if the user still is `old`'s version and status,
/// with the lifecycle step the status change implies.
pub async fn update(
    tx: &mut Tx,
    old: &ScimUserRow,
    new: &ScimUserRow,
    now: Timestamp,
) -> Result<Written, Error> {
    let tenant = old.user.tenant_id;
    let id = old.user.id.to_string();
    let Some(locked) = user_reads::scim_user_for_update(tx, tenant, &id).await? else {
        return Ok(Written::Gone);
    };
    if locked.scim.version != old.scim.version || locked.user.status != old.user.status {
        return Ok(Written::Changed);
    }
    users::update_scim_user(tx, new).await?;
    let was_active = old.user.status != UserStatus::Deactivated;
    let is_active = new.user.status != UserStatus::Deactivated;
    let step = match (was_active, is_active) {
        (true, false) => {
            provision::cut_off(tx, tenant, new.user.id, now).await?;
            Lifecycle::Deactivated
        }
        (false, true) => Lifecycle::Reactivated,
        _ => Lifecycle::Updated,
    };
    Ok(Written::Done(step))
}

/// Deletes a user with everything that hangs off it (the audit log keeps its history).
pub async fn delete(tx: &mut Tx, tenant: TenantId, user: UserId) -> Result<(), Error> {
    users::delete_user(tx, tenant, user).await?;
    Ok(())
}
