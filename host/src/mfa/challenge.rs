//! The second step of a sign-in. When the first factor passes for a user with an
//! authenticator, no session opens yet: the browser gets a challenge instead, an opaque
//! 256-bit token in its own short-lived cookie (stored as SHA-256, like a session's), and the
//! code page. [`complete`] checks the code and, in one transaction, spends the challenge,
//! accepts the code (its step, or the recovery code) and opens the session, so a challenge
//! and a code each serve once however many requests race. A user the policy requires to
//! enrol first gets the same challenge; its page is the enrolment, and
//! [`complete_enrolment`] confirms the authenticator before opening the session.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::enrol::Enrollee;
use super::verify::{self, Factor, Refusal};
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::directory;
use crate::error::Error;
use crate::policy::admit::{self, Via};
use crate::policy::Policy;
use crate::services::Services;
use crate::sessions::browser;
use crate::store::mfa_challenges::ChallengeRow;
use crate::store::users::{UserRow, UserStatus};
use crate::store::{self, Tx};
use crate::types::{SessionId, TenantId, UserId};

/// The challenge cookie's name.
pub const COOKIE: &str = "gatehouse_mfa";
/// How long the code page waits for a code.
const TTL_SECS: i64 = 300;

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `user` must pass a second factor: they have a confirmed authenticator.
pub async fn required(state: &Services, tenant: TenantId, user: UserId) -> Result<bool, Error> {
    Ok(store::mfa::totp(&state.store, tenant, user)
        .await?
        .is_some_and(|r| r.confirmed_at.is_some()))
}

/// Opens a challenge for `user` after their first factor (`method`, as a session records
/// it) passed. Returns the `Set-Cookie` value.
pub async fn open(
    state: &Services,
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    method: &str,
) -> Result<String, Error> {
    let now = state.clock.now();
    let token = crate::types::random_token();
    let row = ChallengeRow {
        id: SessionId::generate(),
        tenant_id: tenant,
        user_id: user,
        method: method.to_string(),
        created_at: now,
        expires_at: now.plus_seconds(TTL_SECS),
    };
    store::mfa_challenges::insert(tx, &row, &hash(&token)).await?;
    Ok(browser::cookie(state, COOKIE, &token, TTL_SECS))
}

/// The live challenge a cookie value names.
pub async fn current(
    state: &Services,
    token: &SecretString,
) -> Result<Option<ChallengeRow>, Error> {
    let text = token.expose_secret();
    if text.len() != browser::TOKEN_CHARS || !text.is_ascii() {
        return Ok(None);
    }
    let found = store::mfa_challenges::by_token_hash(&state.store, &hash(text)).await?;
    Ok(found.filter(|c| state.clock.now() < c.expires_at))
}

/// The page's message when the challenge is gone.
pub const EXPIRED: &str = "This sign-in has expired. Sign in again.";

/// Checks `typed` for the challenge `token` names and opens the session. Returns the
/// session's `Set-Cookie` value, or the refusal to show (`Error::Unauthenticated`).
pub async fn complete(
    state: &Services,
    token: &SecretString,
    typed: &str,
    ctx: &RequestContext,
) -> Result<String, Error> {
    let Some(challenge) = current(state, token).await? else {
        return Err(Error::Unauthenticated(EXPIRED.into()));
    };
    let (tenant, user) = (challenge.tenant_id, challenge.user_id);
    let candidate = match verify::check(state, tenant, user, typed, ctx).await? {
        Ok(candidate) => candidate,
        Err(refusal) => return Err(refused(state, &refusal)),
    };
    let (account, policy) = admitted(state, &challenge, ctx).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if !store::mfa_challenges::spend(&mut tx, tenant, challenge.id).await? {
        return Err(Error::Unauthenticated(EXPIRED.into()));
    }
    if !verify::accept(&mut tx, tenant, user, &candidate, now).await? {
        drop(tx);
        let refusal = verify::failed(state, tenant, user, candidate.attempt, ctx).await?;
        return Err(refused(state, &refusal));
    }
    let factor = candidate.factor();
    if factor == Factor::RecoveryCode {
        let left = store::mfa::recovery_codes_left(&mut tx, tenant, user).await?;
        audit::record(
            &mut tx,
            now,
            ctx,
            NewEvent {
                chain: Chain::Tenant(tenant),
                actor: Actor::user(user, &account.email),
                action: Action::MfaRecoveryCodeUsed,
                target: Target::new("user", user),
                before: None,
                after: Some(json!({"recovery_codes_left": left})),
            },
        )
        .await?;
    }
    open_session(state, tx, &challenge, &account, &policy, factor, ctx).await
}

/// Who enrols on the forced-enrolment page of challenge `c` (the organisation's name is the
/// app's issuer label).
pub async fn enrollee(state: &Services, c: &ChallengeRow) -> Result<Enrollee, Error> {
    let account = store::user_reads::user(&state.store, c.tenant_id, c.user_id).await?;
    let tenant = store::tenants::get(&state.store, c.tenant_id).await?;
    let (Some(account), Some(tenant)) = (account, tenant) else {
        return Err(Error::Unauthenticated(EXPIRED.into()));
    };
    Ok(Enrollee {
        tenant: c.tenant_id,
        user: c.user_id,
        email: account.email,
        issuer: tenant.name,
    })
}

/// The sign-in of a user who must enrol first: confirms the enrolment the challenge's page
/// started with its first code, then spends the challenge and opens the session. Returns the
/// session's `Set-Cookie` value and the recovery codes to show once.
pub async fn complete_enrolment(
    state: &Services,
    token: &SecretString,
    typed: &str,
    ctx: &RequestContext,
) -> Result<(String, Vec<String>), Error> {
    let Some(challenge) = current(state, token).await? else {
        return Err(Error::Unauthenticated(EXPIRED.into()));
    };
    let (account, policy) = admitted(state, &challenge, ctx).await?;
    let who = enrollee(state, &challenge).await?;
    let codes = super::enrol::confirm(state, &who, typed, ctx).await?;
    let mut tx = state.store.begin().await?;
    if !store::mfa_challenges::spend(&mut tx, challenge.tenant_id, challenge.id).await? {
        return Err(Error::Unauthenticated(EXPIRED.into()));
    }
    let cookie = open_session(state, tx, &challenge, &account, &policy, Factor::Totp, ctx).await?;
    Ok((cookie, codes))
}

/// The challenge's user, still active, and the tenant's policy, which must still admit the
/// sign-in at its second step.
async fn admitted(
    state: &Services,
    challenge: &ChallengeRow,
    ctx: &RequestContext,
) -> Result<(UserRow, Policy), Error> {
    let (tenant, user) = (challenge.tenant_id, challenge.user_id);
    let account = store::user_reads::user(&state.store, tenant, user).await?;
    let Some(account) = account.filter(|u| u.status == UserStatus::Active) else {
        return Err(Error::Unauthenticated(EXPIRED.into()));
    };
    let policy = crate::policy::load(&state.store, tenant).await?;
    if let Err(refusal) = admit::admit(&policy, &Via::SecondFactor, ctx, state.clock.now()) {
        return Err(admit::refused(state, tenant, &account.email, refusal, ctx).await?);
    }
    Ok((account, policy.policy))
}

/// Opens the session of a challenge whose second step passed, in `tx` (which already spent
/// the challenge), audits the sign-in and commits. Returns the session's `Set-Cookie` value.
async fn open_session(
    state: &Services,
    mut tx: Tx,
    challenge: &ChallengeRow,
    account: &UserRow,
    policy: &Policy,
    factor: Factor,
    ctx: &RequestContext,
) -> Result<String, Error> {
    let (tenant, user) = (challenge.tenant_id, challenge.user_id);
    let method = format!("{}+{}", challenge.method, factor.as_str());
    let opened = browser::open(
        state,
        &mut tx,
        policy,
        tenant,
        user,
        browser::How::local(method.clone()),
        ctx,
    );
    let opened = match opened.await? {
        Ok(opened) => opened,
        Err(refusal) => {
            drop(tx);
            return Err(admit::refused(state, tenant, &account.email, refusal, ctx).await?);
        }
    };
    audit::record(
        &mut tx,
        state.clock.now(),
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: Actor::user(user, &account.email),
            action: Action::LoginSucceeded,
            target: Target::new("user", user),
            before: None,
            after: Some(json!({
                "method": method,
                "session": opened.id,
                "user": directory::user_json(account, &[], &[]),
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(browser::set_cookie(state, &opened))
}

fn refused(state: &Services, refusal: &Refusal) -> Error {
    Error::Unauthenticated(refusal.message(state.clock.now()))
}
