//! Checking a second factor: a TOTP code or a recovery code, typed into the same field.
//!
//! Every attempt is counted before it is checked, in one statement, so parallel attempts
//! cannot share a count. The first [`FREE_ATTEMPTS`] attempts since the last success are
//! checked at once; each attempt after that first waits (30 s, doubling, at most 15 min), and
//! the [`LOCK_AT`]th failure locks the authenticator until an administrator unlocks it.
//! A code that matches is only a candidate: the caller accepts it inside the transaction
//! that opens the session ([`accept`]), where a step already taken by a parallel request or
//! a recovery code already spent makes it fail.

use serde_json::json;

use super::{recovery, totp};
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::services::Services;
use crate::store::{self, Tx};
use crate::types::{TenantId, Timestamp, UserId};

/// Attempts checked without a wait.
pub const FREE_ATTEMPTS: i64 = 3;
/// Failures in a row that lock the authenticator.
pub const LOCK_AT: i64 = 10;
/// The first wait, doubled per attempt after it, up to [`MAX_WAIT_SECS`].
const FIRST_WAIT_SECS: i64 = 30;
const MAX_WAIT_SECS: i64 = 900;

/// The secret's sealing purpose: bound to the user, so it cannot be moved to another.
pub(super) fn purpose(user: UserId) -> String {
    format!("mfa-totp:{user}")
}

/// What passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCode,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
        }
    }
}

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotEnrolled,
    /// Too many wrong codes: none is checked before this time.
    Waiting(Timestamp),
    /// Locked until an administrator unlocks it.
    Locked,
    WrongCode,
}

impl Refusal {
    /// The stable code the audit log records.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NotEnrolled => "not_enrolled",
            Refusal::Waiting(_) => "waiting",
            Refusal::Locked => "locked",
            Refusal::WrongCode => "wrong_code",
        }
    }

    /// What the user is told.
    pub fn message(&self, now: Timestamp) -> String {
        match self {
            Refusal::NotEnrolled => "This account has no authenticator.".into(),
            Refusal::Waiting(at) => {
                let secs = (at.as_micros() - now.as_micros()).div_euclid(1_000_000) + 1;
                format!(
                    "Too many wrong codes. Try again in {} seconds.",
                    secs.max(1)
                )
            }
            Refusal::Locked => "Too many wrong codes: this account's authenticator is locked. \
                 Ask your administrator to unlock it."
                .into(),
            Refusal::WrongCode => "That code is not valid, or was already used.".into(),
        }
    }
}

/// A counted attempt whose code matched, to be accepted with [`accept`].
#[derive(Debug, Clone)]
pub struct Candidate {
    proof: Proof,
    /// Which attempt since the last success this was (for [`failed`] if accepting fails).
    pub attempt: i64,
}

#[derive(Debug, Clone)]
enum Proof {
    /// A TOTP code, valid for this step.
    Step(i64),
    /// A recovery code, by its hash.
    Recovery([u8; 32]),
}

impl Candidate {
    pub fn factor(&self) -> Factor {
        match self.proof {
            Proof::Step(_) => Factor::Totp,
            Proof::Recovery(_) => Factor::RecoveryCode,
        }
    }
}

/// How long attempt number `attempt` makes the next one wait, if at all.
fn wait_after(attempt: i64) -> Option<i64> {
    (attempt >= FREE_ATTEMPTS).then(|| {
        let doublings = u32::try_from((attempt - FREE_ATTEMPTS).min(10)).unwrap_or(10);
        (FIRST_WAIT_SECS << doublings).min(MAX_WAIT_SECS)
    })
}

/// Counts an attempt by `user` and checks `typed` against their authenticator or recovery
/// codes. A wrong code is recorded (and may lock) before this returns.
pub async fn check(
    state: &Services,
    tenant: TenantId,
    user: UserId,
    typed: &str,
    ctx: &RequestContext,
) -> Result<Result<Candidate, Refusal>, Error> {
    let Some(row) = store::mfa::totp(&state.store, tenant, user).await? else {
        return Ok(Err(Refusal::NotEnrolled));
    };
    if row.confirmed_at.is_none() {
        return Ok(Err(Refusal::NotEnrolled));
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let Some(attempt) = store::mfa::claim_attempt(&mut tx, tenant, user, now).await? else {
        drop(tx);
        let current = store::mfa::totp(&state.store, tenant, user).await?;
        return Ok(Err(match current {
            Some(r) if r.locked_at.is_some() => Refusal::Locked,
            Some(r) => Refusal::Waiting(r.retry_at.unwrap_or(now)),
            None => Refusal::NotEnrolled,
        }));
    };
    if let Some(secs) = wait_after(attempt) {
        store::mfa::set_backoff(&mut tx, tenant, user, Some(now.plus_seconds(secs)), None).await?;
    }
    tx.commit().await?;

    let typed = typed.trim();
    let proof = if typed.len() == usize::from(totp::DIGITS) {
        let secret = state
            .secrets
            .open(&state.store, tenant, &purpose(user), &row.secret_sealed)
            .await?;
        totp::matching_step(&secret, typed, now, row.last_step)?.map(Proof::Step)
    } else {
        recovery::normalise(typed).map(|code| Proof::Recovery(recovery::hash(&code)))
    };
    match proof {
        Some(proof) => Ok(Ok(Candidate { proof, attempt })),
        None => Ok(Err(failed(state, tenant, user, attempt, ctx).await?)),
    }
}

/// Accepts `candidate` inside the caller's transaction. False when a parallel request took
/// the same step first, or the recovery code is not an unspent one of the user's.
pub async fn accept(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    candidate: &Candidate,
    now: Timestamp,
) -> Result<bool, Error> {
    Ok(match &candidate.proof {
        Proof::Step(step) => store::mfa::accept_step(tx, tenant, user, *step, None).await?,
        Proof::Recovery(hash) => {
            let spent = store::mfa::spend_recovery_code(tx, tenant, user, hash, now).await?;
            if spent {
                store::mfa::clear_failures(tx, tenant, user).await?;
            }
            spent
        }
    })
}

/// Records a failed attempt: the audit log's `login.failed` (collapsed when repeated), and
/// at the [`LOCK_AT`]th failure the lock, audited as `mfa.locked`.
pub async fn failed(
    state: &Services,
    tenant: TenantId,
    user: UserId,
    attempt: i64,
    ctx: &RequestContext,
) -> Result<Refusal, Error> {
    let now = state.clock.now();
    let locks = attempt >= LOCK_AT;
    if locks {
        let mut tx = state.store.begin().await?;
        store::mfa::set_backoff(&mut tx, tenant, user, None, Some(now)).await?;
        audit::record(
            &mut tx,
            now,
            ctx,
            NewEvent {
                chain: Chain::Tenant(tenant),
                actor: Actor::system("mfa"),
                action: Action::MfaLocked,
                target: Target::new("user", user),
                before: None,
                after: Some(json!({"failures": attempt})),
            },
        )
        .await?;
        tx.commit().await?;
    }
    let refusal = if locks {
        Refusal::Locked
    } else {
        Refusal::WrongCode
    };
    audit::failures::record(
        &state.store,
        &state.failures,
        now,
        ctx,
        audit::failures::Kind {
            action: crate::audit::action::Action::LoginFailed,
            tenant,
            target_type: "mfa",
            reason: Refusal::WrongCode.reason().to_string(),
        },
        &user.to_string(),
        json!({"method": "mfa", "attempt": attempt}),
    )
    .await?;
    Ok(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_free_attempts_and_double_to_a_cap() {
        let waits: Vec<_> = (1..=LOCK_AT).map(wait_after).collect();
        assert_eq!(
            waits,
            vec![
                None,
                None,
                Some(30),
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(900),
                Some(900),
                Some(900)
            ]
        );
        const { assert!(LOCK_AT < 100) };
    }
}
