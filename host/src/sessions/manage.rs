//! Listing and ending browser sessions: a user their own (the account page), an admin any
//! user's (the admin API). A session is shown by its id, how it signed in, when, from where and
//! with what browser, never by its token. Ending one is audited as `session.revoked`; the
//! session stops working at its next request.

use serde::Serialize;
use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ReadUsers, WriteUsers};
use crate::services::Services;
use crate::store;
use crate::types::{SessionId, TenantId, Timestamp, UserId};

/// Most sessions listed for one user (the policy caps them at 100; without a cap this bounds
/// the page).
const MAX_LISTED: i64 = 200;

/// A live session as the user and the admin see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: SessionId,
    /// `password`, `password+totp`, `password+recovery_code` or `sso:<connection id>`.
    pub method: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The live sessions of `user` (under the tenant's current lifetimes), oldest first.
pub async fn list(
    state: &Services,
    tenant: TenantId,
    user: UserId,
) -> Result<Vec<SessionView>, Error> {
    let now = state.clock.now();
    let lifetimes = crate::policy::load(&state.store, tenant)
        .await?
        .policy
        .session_lifetimes(&state.config.sessions);
    let rows = store::sessions::open_for_user(&state.store, tenant, user, now, MAX_LISTED).await?;
    Ok(rows
        .into_iter()
        .filter(|s| crate::policy::live(s, lifetimes, now))
        .map(|s| SessionView {
            id: s.id,
            method: s.method,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect())
}

/// An admin's view of a user's sessions.
pub async fn list_for_admin(
    state: &Services,
    auth: &Authorized<ReadUsers>,
    user: UserId,
) -> Result<Vec<SessionView>, Error> {
    if store::user_reads::user(&state.store, auth.tenant(), user)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("user"));
    }
    list(state, auth.tenant(), user).await
}

/// Ends session `id` of `user` (a user ending their own, or an admin); audited as
/// `session.revoked` by `actor`. Not found when it is not that user's live session.
pub async fn revoke(
    state: &Services,
    tenant: TenantId,
    user: UserId,
    id: SessionId,
    actor: Actor,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let owned = store::sessions::by_id(&state.store, tenant, id)
        .await?
        .is_some_and(|s| s.user_id == user);
    if !owned {
        return Err(Error::NotFound("session"));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if !store::sessions::revoke(&mut tx, tenant, id, now).await? {
        return Err(Error::NotFound("session"));
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor,
            action: Action::SessionRevoked,
            target: Target::new("session", id),
            before: None,
            after: Some(json!({"user": user, "reason": "revoked"})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An admin ends one of a user's sessions.
pub async fn revoke_for_admin(
    state: &Services,
    auth: &Authorized<WriteUsers>,
    ctx: &RequestContext,
    user: UserId,
    id: SessionId,
) -> Result<(), Error> {
    revoke(state, auth.tenant(), user, id, auth.actor(), ctx).await
}
