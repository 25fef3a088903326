//! Enforcement: the one place that decides whether a sign-in (password, second factor, SAML,
//! OIDC) or the provider's authorize may go on to a session or a token, under the tenant's
//! policy. [`admit`] runs the checks that only read (SSO-only, network, password expiry, MFA
//! and its grace period, IdP proof of MFA); [`seat`] runs inside the transaction that opens
//! the session and applies the cap on sessions per user, so parallel sign-ins cannot both
//! take the last seat. A refusal carries a stable reason code and a message for the user;
//! [`refused`] audits it (repeats collapsed) for the paths that have no audit of their own.

use serde_json::json;

use super::document::{MfaRequired, Policy, WhenFull};
use super::{networks, InForce};
use crate::audit::{self, RequestContext};
use crate::error::Error;
use crate::services::Services;
use crate::store::{self, Tx};
use crate::types::{ConnectionId, SessionId, TenantId, Timestamp, UserId};

/// Most sessions looked at when applying the cap (the cap itself is at most 100).
const MAX_COUNTED: i64 = 1000;

/// How the user got this far, as the policy cares.
pub enum Via {
    /// The password passed. The owner is exempt from SSO-only, never from the rest.
    Password {
        is_owner: bool,
        changed_at: Option<Timestamp>,
        /// A confirmed authenticator is enrolled.
        enrolled: bool,
        /// When the account was created (the grace period starts no earlier).
        user_created: Timestamp,
    },
    /// The second factor passed after a password.
    SecondFactor,
    /// The IdP signed the user in through `connection`; `idp_mfa` says whether it proved MFA.
    Sso {
        connection: ConnectionId,
        idp_mfa: bool,
    },
    /// The provider's authorize, from a session that signed in with `method`, of a user
    /// created at `user_created`.
    Authorize {
        method: String,
        user_created: Timestamp,
    },
}

/// What may happen next.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// A session (or a token) may be issued.
    Granted,
    /// The second factor comes first.
    SecondFactor,
    /// The user must enrol an authenticator first (MFA is required and the grace is over).
    Enrol,
}

/// Why the policy refused: a stable `reason` for the audit log, a `message` for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(reason: &'static str, message: &str) -> Self {
        Self {
            reason,
            message: message.to_string(),
        }
    }
}

/// Decides what `via` leads to for `user` of `tenant` under `policy`, from `ctx`'s address.
pub fn admit(
    policy: &InForce,
    via: &Via,
    ctx: &RequestContext,
    now: Timestamp,
) -> Result<Admission, Refusal> {
    let p = &policy.policy;
    if !networks::allows(&p.networks.sign_in, ctx.ip.as_deref()) {
        return Err(Refusal::new(
            "network_not_allowed",
            "Your organisation does not allow sign-in from this network.",
        ));
    }
    match via {
        Via::Password {
            is_owner,
            changed_at,
            enrolled,
            user_created,
        } => {
            if p.sso_only && !is_owner {
                return Err(Refusal::new(
                    "sso_only",
                    "Your organisation signs in with single sign-on only.",
                ));
            }
            if let (Some(days), Some(changed)) = (p.passwords.expiry_days, changed_at) {
                if now >= changed.plus_seconds(i64::from(days) * 86_400) {
                    return Err(Refusal::new(
                        "password_expired",
                        "Your password has expired. Ask your administrator for a reset link.",
                    ));
                }
            }
            if *enrolled {
                Ok(Admission::SecondFactor)
            } else if p.mfa_for_direct() && grace_over(policy, *user_created, now) {
                Ok(Admission::Enrol)
            } else {
                Ok(Admission::Granted)
            }
        }
        Via::SecondFactor => Ok(Admission::Granted),
        Via::Sso {
            connection,
            idp_mfa,
        } => {
            let proof_required = p.mfa.required == MfaRequired::Everyone
                && p.mfa.require_idp_proof.contains(connection);
            if proof_required && !idp_mfa {
                return Err(Refusal::new(
                    "idp_mfa_missing",
                    "Your organisation requires multi-factor authentication at your identity \
                     provider, and it did not report any. Sign in again with a second factor.",
                ));
            }
            Ok(Admission::Granted)
        }
        Via::Authorize {
            method,
            user_created,
        } => {
            // A session from a password alone, opened before the policy tightened.
            if method == "password" {
                if p.sso_only {
                    return Err(Refusal::new(
                        "sso_only",
                        "Your organisation signs in with single sign-on only.",
                    ));
                }
                if p.mfa_for_direct() && grace_over(policy, *user_created, now) {
                    return Err(Refusal::new(
                        "mfa_required",
                        "Your organisation now requires a second factor. Sign out and sign in \
                         again to set up your authenticator app.",
                    ));
                }
            }
            Ok(Admission::Granted)
        }
    }
}

/// Whether the grace period for enrolling has ended for a user created at `created`.
fn grace_over(policy: &InForce, created: Timestamp, now: Timestamp) -> bool {
    let since = policy.mfa_required_since.unwrap_or(now).max(created);
    now >= since.plus_seconds(i64::from(policy.policy.mfa.grace_days) * 86_400)
}

/// When an unenrolled user must have enrolled by (`None`: MFA is not required of them).
pub fn enrol_by(policy: &InForce, created: Timestamp) -> Option<Timestamp> {
    if !policy.policy.mfa_for_direct() {
        return None;
    }
    let since = policy.mfa_required_since?.max(created);
    Some(since.plus_seconds(i64::from(policy.policy.mfa.grace_days) * 86_400))
}

/// Makes room for one more session of `user` inside the transaction that opens it, under
/// the cap: the user's row is locked first, so parallel sign-ins are counted one after the
/// other. Returns the sessions it ended (`revoke_oldest`) or the refusal (`deny_new`).
pub async fn seat(
    tx: &mut Tx,
    policy: &Policy,
    lifetimes: (i64, i64),
    tenant: TenantId,
    user: UserId,
    now: Timestamp,
) -> Result<Result<Vec<SessionId>, Refusal>, Error> {
    let Some(max) = policy.sessions.max_per_user else {
        return Ok(Ok(Vec::new()));
    };
    store::users::lock(tx, tenant, user).await?;
    let live: Vec<SessionId> =
        store::sessions::open_for_user(&mut *tx, tenant, user, now, MAX_COUNTED)
            .await?
            .into_iter()
            .filter(|s| super::live(s, lifetimes, now))
            .map(|s| s.id)
            .collect();
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if live.len() < max {
        return Ok(Ok(Vec::new()));
    }
    if policy.sessions.when_full == WhenFull::DenyNew {
        return Ok(Err(Refusal {
            reason: "session_limit",
            message: format!(
                "You already have {} active sessions, the most your organisation allows. \
                 Sign out elsewhere, or end a session from your account page, then sign in again.",
                live.len()
            ),
        }));
    }
    let oldest = live[..=live.len() - max].to_vec();
    for id in &oldest {
        store::sessions::revoke(tx, tenant, *id, now).await?;
    }
    Ok(Ok(oldest))
}

/// Audits a refusal of `target` (an account's email, or a session) as `login.failed` with its
/// reason, repeats collapsed, and returns the error that shows its message.
pub async fn refused(
    state: &Services,
    tenant: TenantId,
    target: &str,
    refusal: Refusal,
    ctx: &RequestContext,
) -> Result<Error, Error> {
    audit::failures::record(
        &state.store,
        &state.failures,
        state.clock.now(),
        ctx,
        audit::failures::Kind {
            action: crate::audit::action::Action::LoginFailed,
            tenant,
            target_type: "policy",
            reason: refusal.reason.to_string(),
        },
        target,
        json!({"message": refusal.message}),
    )
    .await?;
    Ok(Error::Forbidden(refusal.message))
}

/// Refuses a call to the tenant's admin API from outside its `networks.admin_api` list; the
/// refusal is audited as `access.denied` (repeats collapsed) naming the token.
pub async fn admin_api(
    state: &Services,
    tenant: TenantId,
    token: &str,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let policy = super::load(&state.store, tenant).await?.policy;
    if networks::allows(&policy.networks.admin_api, ctx.ip.as_deref()) {
        return Ok(());
    }
    audit::failures::record(
        &state.store,
        &state.failures,
        state.clock.now(),
        ctx,
        audit::failures::Kind {
            action: crate::audit::action::Action::AccessDenied,
            tenant,
            target_type: "api_token",
            reason: "network_not_allowed".into(),
        },
        token,
        json!({"message": "the admin API is not open to this address"}),
    )
    .await?;
    Err(Error::Forbidden(
        "your organisation's policy does not allow its admin API to be called from this address"
            .into(),
    ))
}
