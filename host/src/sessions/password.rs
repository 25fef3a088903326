//! Local passwords: the break-glass owner every tenant can have (set by the operator) and
//! the password sign-in. Hashes are Argon2id (OWASP's 19 MiB, 2 passes, 1 lane), computed on
//! the blocking pool, never on the async workers. A sign-in for an unknown organisation or
//! email runs exactly one verification, against a fixed decoy hash with the same parameters,
//! so timing does not tell who exists. Attempts are rate-limited per IP and per account at the
//! HTTP edge. The owner is never blocked by SSO-only mode; everyone else is, when it is on.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::browser;
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::directory;
use crate::error::Error;
use crate::policy::admit::{self, Admission, Via};
use crate::rbac::{Authorized, OperateInstance};
use crate::services::Services;
use crate::store::users::UserStatus;
use crate::store::{self, tenants::TenantRecord, tenants::TenantStatus};
use crate::types::{Email, UserId};

/// Longest password ever verified: the most any policy may allow (the cap bounds hashing).
const MAX_PASSWORD: usize = crate::policy::document::MAX_MAX_PASSWORD as usize;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The hash verified when the organisation or email is unknown, so that path costs one
/// verification like every other: Argon2id of a fixed phrase with [`argon2`]'s parameters,
/// computed once when this was written (a unit test checks it still matches them).
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Z2F0ZWhvdXNlZGVjb3k$K9e6NERcD4RZXcrcTpBYbXMegfeGqi83s7GTAm2B8/g";

pub fn hash(password: &SecretString) -> Result<String, Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

fn verify(password: &SecretString, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            argon2()
                .verify_password(password.expose_secret().as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether `password` matches `stored`, verified on the blocking pool. A password over the
/// accepted length (none was ever set) costs one verification of an empty one, and fails.
async fn verified(password: SecretString, stored: String) -> Result<bool, Error> {
    let too_long = password.expose_secret().chars().count() > MAX_PASSWORD;
    let candidate = if too_long {
        SecretString::from("")
    } else {
        password
    };
    let matches = tokio::task::spawn_blocking(move || verify(&candidate, &stored))
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    Ok(matches && !too_long)
}

/// Checks a new password against the tenant's policy (on the blocking pool: the blocklist
/// check costs a few milliseconds) and hashes it. The error names the rule that failed.
pub async fn checked_hash(
    state: &Services,
    tenant: &TenantRecord,
    email: &str,
    password: SecretString,
) -> Result<String, Error> {
    let policy = crate::policy::load(&state.store, tenant.id).await?.policy;
    let (name, slug, email) = (
        tenant.name.clone(),
        tenant.slug.to_string(),
        email.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let context = crate::policy::passwords::Context {
            tenant_name: &name,
            tenant_slug: &slug,
            email: &email,
        };
        crate::policy::passwords::check(&policy, &password, &context)?;
        hash(&password)
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

/// Body of the operator's "set the owner" call.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetTenantOwner)]
pub struct SetOwner {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Creates (or updates) the tenant's break-glass owner, a local account. A previous owner
/// loses its password and its sessions. Audited as `owner.set`; the password is never
/// recorded.
pub async fn set_owner(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    tenant: &TenantRecord,
    body: SetOwner,
) -> Result<UserId, Error> {
    let email: Email = body
        .email
        .parse()
        .map_err(|e: crate::types::ParseError| Error::invalid("email", e.0))?;
    let email = email.as_str().to_lowercase();
    let password_hash = checked_hash(state, tenant, &email, body.password).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (user, previous) =
        crate::directory::owner::set_owner(&mut tx, tenant.id, &email, &password_hash, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant.id),
            actor: auth.actor(),
            action: Action::OwnerSet,
            target: Target::new("user", user),
            before: None,
            after: Some(json!({"email": email, "previous_owners": previous})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Why a password sign-in failed; the message never says whether the email exists.
pub const BAD_CREDENTIALS: &str =
    "the email or password is wrong, or password sign-in is off for this account";

/// What a password that passed leads to; each carries a `Set-Cookie` value.
#[derive(Debug)]
pub enum SignedIn {
    /// A session: the user is signed in.
    Session(String),
    /// A second-factor challenge: the code page comes next.
    SecondFactor(String),
}

/// Signs in with a password to `tenant` (`None`: no organisation matched, which is refused
/// after the same verification cost). A user with an authenticator gets a second-factor
/// challenge, not a session. Every failure is audited with its real reason (in the tenant's
/// chain, when there is a tenant) and answered with [`BAD_CREDENTIALS`].
pub async fn sign_in(
    state: &Services,
    tenant: Option<&TenantRecord>,
    email: &str,
    password: SecretString,
    ctx: &RequestContext,
) -> Result<SignedIn, Error> {
    let Some(tenant) = tenant else {
        let _ = verified(password, DECOY_HASH.to_string()).await?;
        return Err(Error::Unauthenticated(BAD_CREDENTIALS.into()));
    };
    let email = email.trim().to_lowercase();
    let found = if tenant.status == TenantStatus::Active {
        store::user_reads::password_credential(&state.store, tenant.id, &email).await?
    } else {
        None
    };
    let stored = found
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| DECOY_HASH.to_string());
    let matches = verified(password, stored).await?;
    let refusal = match &found {
        None => Some("unknown_email"),
        Some(c) if c.password_hash.is_none() => Some("no_password"),
        Some(_) if !matches => Some("wrong_password"),
        Some(c) if c.user.status != UserStatus::Active => Some("user_not_active"),
        Some(_) => None,
    };
    let now = state.clock.now();
    let Some(credential) = found.filter(|_| refusal.is_none()) else {
        audit::failures::record(
            &state.store,
            &state.failures,
            now,
            ctx,
            audit::failures::Kind {
                action: crate::audit::action::Action::LoginFailed,
                tenant: tenant.id,
                target_type: "password",
                reason: refusal.unwrap_or("unknown").to_string(),
            },
            &email,
            json!({"method": "password"}),
        )
        .await?;
        return Err(Error::Unauthenticated(BAD_CREDENTIALS.into()));
    };
    let user = credential.user;
    let policy = crate::policy::load(&state.store, tenant.id).await?;
    let via = Via::Password {
        is_owner: credential.is_owner,
        changed_at: credential.password_changed_at,
        enrolled: crate::mfa::challenge::required(state, tenant.id, user.id).await?,
        user_created: user.created_at,
    };
    let admission = match admit::admit(&policy, &via, ctx, now) {
        Ok(admission) => admission,
        Err(refusal) => return Err(admit::refused(state, tenant.id, &email, refusal, ctx).await?),
    };
    let mut tx = state.store.begin().await?;
    if admission != Admission::Granted {
        // The code page, or the enrolment page when the user must enrol first.
        let cookie =
            crate::mfa::challenge::open(state, &mut tx, tenant.id, user.id, "password").await?;
        tx.commit().await?;
        return Ok(SignedIn::SecondFactor(cookie));
    }
    let opened = browser::open(
        state,
        &mut tx,
        &policy.policy,
        tenant.id,
        user.id,
        browser::How::local("password"),
        ctx,
    )
    .await?;
    let opened = match opened {
        Ok(opened) => opened,
        Err(refusal) => {
            drop(tx);
            return Err(admit::refused(state, tenant.id, &email, refusal, ctx).await?);
        }
    };

    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant.id),
            actor: Actor::user(user.id, &user.email),
            action: Action::LoginSucceeded,
            target: Target::new("user", user.id),
            before: None,
            after: Some(json!({
                "method": "password",
                "owner": credential.is_owner,
                "session": opened.id,
                "user": directory::user_json(&user, &[], &[]),
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(SignedIn::Session(browser::set_cookie(state, &opened)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_hash_has_the_parameters_of_real_hashes() {
        let decoy = PasswordHash::new(DECOY_HASH).unwrap();
        let real = hash(&SecretString::from("a real password")).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(decoy.algorithm, real.algorithm);
        assert_eq!(decoy.version, real.version);
        assert_eq!(decoy.params, real.params);
        assert!(verify(&SecretString::from("decoy password"), DECOY_HASH));
    }
}
