//! Enrolment, by a signed-in user for themselves: a new secret (sealed with the tenant's data
//! key, bound to the user) shown once as an `otpauth://` URI, a QR code and base32 text; a
//! first valid code confirms it and returns the recovery codes, shown once. Until then the
//! enrolment is pending and a sign-in does not ask for it. A confirmed authenticator is
//! replaced only after an administrator resets it. Regenerating recovery codes voids the
//! old set.

use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::{recovery, totp, verify};
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::services::Services;
use crate::store::mfa::TotpRow;
use crate::store::tenants::Feature;
use crate::store::{self, Tx};
use crate::types::{TenantId, Timestamp, UserId};

/// Who is enrolling.
#[derive(Debug, Clone)]
pub struct Enrollee {
    pub tenant: TenantId,
    pub user: UserId,
    pub email: String,
    /// Shown in the authenticator app beside the email.
    pub issuer: String,
}

/// A pending enrolment as the enrolment page shows it (no `Debug`: it holds the secret).
#[derive(Serialize)]
pub struct Started {
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
}

/// A user's second factors, as their account page shows them.
#[derive(Debug, Serialize)]
pub struct Status {
    pub enrolled: bool,
    pub pending: bool,
    pub locked: bool,
    pub recovery_codes_left: i64,
}

pub async fn status(state: &Services, tenant: TenantId, user: UserId) -> Result<Status, Error> {
    let row = store::mfa::totp(&state.store, tenant, user).await?;
    Ok(Status {
        enrolled: row.as_ref().is_some_and(|r| r.confirmed_at.is_some()),
        pending: row.as_ref().is_some_and(|r| r.confirmed_at.is_none()),
        locked: row.as_ref().is_some_and(|r| r.locked_at.is_some()),
        recovery_codes_left: store::mfa::recovery_codes_left(&state.store, tenant, user).await?,
    })
}

const ALREADY: &str = "an authenticator is already enrolled; an administrator can reset it";

fn show(secret: &[u8], who: &Enrollee) -> Result<Started, Error> {
    let uri = totp::otpauth_uri(secret, &who.issuer, &who.email)?;
    Ok(Started {
        secret: totp::secret_base32(secret)?,
        qr_svg: totp::qr_svg(&uri)?,
        uri,
    })
}

/// Starts (or restarts) an enrolment.
pub async fn start(state: &Services, who: &Enrollee) -> Result<Started, Error> {
    crate::tenancy::features::require(state, who.tenant, Feature::Mfa).await?;
    let secret = totp::new_secret();
    let sealed = state
        .secrets
        .seal(
            &state.store,
            who.tenant,
            &verify::purpose(who.user),
            &secret,
        )
        .await?;
    let started = show(&secret, who)?;
    let mut tx = state.store.begin().await?;
    if !store::mfa::put_pending(&mut tx, who.tenant, who.user, &sealed, state.clock.now()).await? {
        return Err(Error::Conflict(ALREADY.into()));
    }
    tx.commit().await?;
    Ok(started)
}

/// The pending enrolment's row and opened secret, if there is one.
async fn open_pending(
    state: &Services,
    who: &Enrollee,
) -> Result<Option<(TotpRow, Zeroizing<Vec<u8>>)>, Error> {
    let row = store::mfa::totp(&state.store, who.tenant, who.user).await?;
    let Some(row) = row.filter(|r| r.confirmed_at.is_none()) else {
        return Ok(None);
    };
    let purpose = verify::purpose(who.user);
    let secret = state
        .secrets
        .open(&state.store, who.tenant, &purpose, &row.secret_sealed)
        .await?;
    Ok(Some((row, secret)))
}

/// The pending enrolment, shown again (after a wrong first code).
pub async fn pending(state: &Services, who: &Enrollee) -> Result<Option<Started>, Error> {
    match open_pending(state, who).await? {
        Some((_, secret)) => show(&secret, who).map(Some),
        None => Ok(None),
    }
}

/// Confirms the pending enrolment with a first code; returns the recovery codes.
pub async fn confirm(
    state: &Services,
    who: &Enrollee,
    code: &str,
    ctx: &RequestContext,
) -> Result<Vec<String>, Error> {
    crate::tenancy::features::require(state, who.tenant, Feature::Mfa).await?;
    let Some((row, secret)) = open_pending(state, who).await? else {
        return Err(Error::Conflict(
            "there is no enrolment to confirm: start again".into(),
        ));
    };
    let now = state.clock.now();
    let Some(step) = totp::matching_step(&secret, code, now, row.last_step)? else {
        return Err(Error::invalid(
            "code",
            "that code is not valid: enter the 6 digits the app shows now",
        ));
    };
    let codes = recovery::generate();
    let mut tx = state.store.begin().await?;
    if !store::mfa::accept_step(&mut tx, who.tenant, who.user, step, Some(now)).await? {
        return Err(Error::Conflict(
            "the enrolment changed meanwhile: start again".into(),
        ));
    }
    store_codes(&mut tx, who, &codes, now).await?;
    record(&mut tx, who, now, ctx, Action::MfaEnrolled).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Replaces the recovery codes of a confirmed authenticator; returns the new ones.
pub async fn regenerate_codes(
    state: &Services,
    who: &Enrollee,
    ctx: &RequestContext,
) -> Result<Vec<String>, Error> {
    let enrolled = store::mfa::totp(&state.store, who.tenant, who.user)
        .await?
        .is_some_and(|r| r.confirmed_at.is_some());
    if !enrolled {
        return Err(Error::Conflict(
            "recovery codes come with an authenticator: enrol one first".into(),
        ));
    }
    let codes = recovery::generate();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    store_codes(&mut tx, who, &codes, now).await?;
    record(&mut tx, who, now, ctx, Action::MfaRecoveryCodesRegenerated).await?;
    tx.commit().await?;
    Ok(codes)
}

async fn store_codes(
    tx: &mut Tx,
    who: &Enrollee,
    codes: &[String],
    now: Timestamp,
) -> Result<(), Error> {
    let hashes: Vec<[u8; 32]> = codes
        .iter()
        .filter_map(|c| recovery::normalise(c))
        .map(|c| recovery::hash(&c))
        .collect();
    store::mfa::replace_recovery_codes(tx, who.tenant, who.user, &hashes, now).await?;
    Ok(())
}

async fn record(
    tx: &mut Tx,
    who: &Enrollee,
    now: Timestamp,
    ctx: &RequestContext,
    action: Action,
) -> Result<(), Error> {
    audit::record(
        tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(who.tenant),
            actor: Actor::user(who.user, &who.email),
            action,
            target: Target::new("user", who.user),
            before: None,
            after: Some(json!({"method": "totp", "recovery_codes": recovery::COUNT})),
        },
    )
    .await?;
    Ok(())
}
