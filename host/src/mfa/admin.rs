//! What a tenant administrator does with users' authenticators: list who is enrolled (with
//! pending enrolments, locks and recovery codes left), reset a user's MFA (the authenticator
//! and recovery codes go; the user enrols again) and lift a lock. Each change is audited.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ReadUsers, WriteUsers};
use crate::services::Services;
use crate::store;
use crate::types::{Timestamp, UserId};

/// Longest page of the list.
const MAX_PAGE: u32 = 500;

/// One user's authenticator in the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MfaEnrolment)]
pub struct Enrolment {
    pub user_id: UserId,
    pub email: String,
    /// `enrolled`, `pending` or `locked`.
    #[schema(value_type = String, pattern = "^(enrolled|pending|locked)$")]
    pub state: &'static str,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub locked_at: Option<Timestamp>,
    /// Code attempts since the last success.
    pub failures: i64,
    pub recovery_codes_left: i64,
}

/// The list's paging: by email, after `after`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The email of the previous page's last user.
    pub after: Option<String>,
    /// Users per page, 1–500 (default 100).
    pub limit: Option<u32>,
}

pub async fn list(
    state: &Services,
    auth: &Authorized<ReadUsers>,
    page: Page,
) -> Result<Vec<Enrolment>, Error> {
    let limit = page.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid("limit", format!("give 1 to {MAX_PAGE}")));
    }
    let rows =
        store::mfa::enrolments(&state.store, auth.tenant(), page.after.as_deref(), limit).await?;
    Ok(rows
        .into_iter()
        .map(|r| Enrolment {
            state: match (r.locked_at, r.confirmed_at) {
                (Some(_), _) => "locked",
                (None, Some(_)) => "enrolled",
                (None, None) => "pending",
            },
            user_id: r.user_id,
            email: r.email,
            created_at: r.created_at,
            confirmed_at: r.confirmed_at,
            locked_at: r.locked_at,
            failures: r.failures,
            recovery_codes_left: r.recovery_codes_left,
        })
        .collect())
}

/// Removes `user`'s authenticator and recovery codes.
pub async fn reset(
    state: &Services,
    auth: &Authorized<WriteUsers>,
    ctx: &RequestContext,
    user: UserId,
) -> Result<(), Error> {
    change(state, auth, ctx, user, Action::MfaReset).await
}

/// Lifts the lock on `user`'s authenticator and clears the failure count.
pub async fn unlock(
    state: &Services,
    auth: &Authorized<WriteUsers>,
    ctx: &RequestContext,
    user: UserId,
) -> Result<(), Error> {
    change(state, auth, ctx, user, Action::MfaUnlocked).await
}

async fn change(
    state: &Services,
    auth: &Authorized<WriteUsers>,
    ctx: &RequestContext,
    user: UserId,
    action: Action,
) -> Result<(), Error> {
    let tenant = auth.tenant();
    if store::user_reads::user(&state.store, tenant, user)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("user"));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let changed = match action {
        Action::MfaReset => store::mfa::remove(&mut tx, tenant, user).await?,
        _ => store::mfa::unlock(&mut tx, tenant, user).await?,
    };
    if !changed {
        return Err(Error::Conflict(match action {
            Action::MfaReset => "this user has no authenticator".into(),
            _ => "this user's authenticator is not locked".into(),
        }));
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action,
            target: Target::new("user", user),
            before: None,
            after: Some(json!({})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
