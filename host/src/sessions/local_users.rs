//! An admin deactivates or reactivates a local user: deactivation ends the user's sessions
//! and unredeemed codes at once and refuses their password; reactivation lets them back in.
//! The break-glass owner cannot be deactivated here (the operator replaces the owner). Users
//! that SCIM or an IdP manage are refused: their source decides their status. Audited as
//! `user.deactivated` / `user.reactivated`.

use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::directory;
use crate::error::Error;
use crate::rbac::{Authorized, WriteUsers};
use crate::services::Services;
use crate::store;
use crate::types::UserId;

pub async fn set_active(
    state: &Services,
    auth: &Authorized<WriteUsers>,
    ctx: &RequestContext,
    user: UserId,
    active: bool,
) -> Result<(), Error> {
    let tenant = auth.tenant();
    let account = store::user_reads::user(&state.store, tenant, user)
        .await?
        .ok_or(Error::NotFound("user"))?;
    let credential =
        store::user_reads::password_credential(&state.store, tenant, &account.email).await?;
    if !active && credential.as_ref().is_some_and(|c| c.is_owner) {
        return Err(Error::Conflict(
            "this is the organisation's owner (the break-glass account): the operator replaces it"
                .into(),
        ));
    }
    let has_password = credential.is_some_and(|c| c.password_hash.is_some());
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if !directory::local::set_active(&mut tx, &account, active, has_password, now).await? {
        return Err(Error::Conflict(if active {
            "this user is not deactivated".into()
        } else {
            "this user is already deactivated".into()
        }));
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: if active {
                Action::UserReactivated
            } else {
                Action::UserDeactivated
            },
            target: Target::new("user", user),
            before: Some(json!({"status": account.status})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
