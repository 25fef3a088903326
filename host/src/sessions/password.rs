//! Local passwords: the break-glass owner every tenant can have (set by the operator) and
//! the password sign-in. Hashes are Argon2id (OWASP's 19 MiB, 2 passes, 1 lane); a sign-in
//! for an unknown email still runs one verification, so timing does not tell who exists.
//! The owner is never blocked by SSO-only mode; everyone else is, when it is on.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::browser;
use crate::app::AppState;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::directory;
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance};
use crate::store::{self, directory::UserRow, tenants::TenantRecord, tenants::TenantStatus};
use crate::types::{Email, UserId};

/// Shortest and longest password accepted (long passphrases welcome; the cap bounds hashing).
const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 256;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash to verify against when the email is unknown, so both paths cost the same.
fn decoy_hash() -> String {
    let salt = SaltString::from_b64("Z2F0ZWhvdXNlZGVjb3k").expect("valid salt");
    argon2()
        .hash_password(b"decoy password", &salt)
        .expect("hashing a constant")
        .to_string()
}

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

fn check_strength(password: &SecretString) -> Result<(), Error> {
    let n = password.expose_secret().chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(Error::invalid(
            "password",
            format!("must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

/// Body of the operator's "set the owner" call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetOwner {
    pub email: String,
    pub password: SecretString,
}

/// Creates (or updates) the tenant's break-glass owner, a local account. Audited as
/// `owner.set`; the password is never recorded.
pub async fn set_owner(
    state: &AppState,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    tenant: &TenantRecord,
    body: SetOwner,
) -> Result<UserId, Error> {
    let email: Email = body
        .email
        .parse()
        .map_err(|e: crate::types::ParseError| Error::invalid("email", e.0))?;
    check_strength(&body.password)?;
    let password_hash = {
        let password = body.password;
        tokio::task::spawn_blocking(move || hash(&password))
            .await
            .map_err(|e| Error::Internal(e.into()))??
    };
    let now = state.clock.now();
    let email = email.as_str().to_lowercase();
    let mut tx = state.store.begin().await?;
    let user = match store::directory::user_by_email(&mut tx, tenant.id, &email).await? {
        Some(user) => {
            if user.status == "deactivated" {
                return Err(Error::Conflict("this user is deactivated".into()));
            }
            user
        }
        None => {
            let user = UserRow {
                id: UserId::generate(),
                tenant_id: tenant.id,
                email: email.clone(),
                email_verified: false,
                display_name: None,
                given_name: None,
                family_name: None,
                locale: None,
                timezone: None,
                custom_json: "{}".into(),
                status: "active".into(),
                source: "local".into(),
                created_at: now,
                updated_at: now,
                last_login_at: None,
            };
            store::directory::insert_user(&mut tx, &user).await?;
            user
        }
    };
    store::directory::set_owner(&mut tx, tenant.id, user.id, &password_hash, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant.id),
            actor: auth.actor(),
            action: "owner.set",
            target: Target::new("user", user.id),
            before: None,
            after: Some(json!({"email": email})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user.id)
}

/// Why a password sign-in failed; the message never says whether the email exists.
pub const BAD_CREDENTIALS: &str =
    "the email or password is wrong, or password sign-in is off for this account";

/// Signs in with a password. Returns the `Set-Cookie` value. Every failure is audited with
/// its real reason and answered with [`BAD_CREDENTIALS`].
pub async fn sign_in(
    state: &AppState,
    tenant: &TenantRecord,
    email: &str,
    password: SecretString,
    ctx: &RequestContext,
) -> Result<String, Error> {
    let email = email.trim().to_lowercase();
    let found = if tenant.status == TenantStatus::Active {
        store::directory::password_credential(&state.store, tenant.id, &email).await?
    } else {
        None
    };
    let sso_only = store::tenants::sso_only(&state.store, tenant.id).await?;
    let stored = found
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(decoy_hash);
    // Nothing over the accepted length was ever set: refuse it without hashing all of it.
    let too_long = password.expose_secret().chars().count() > MAX_PASSWORD;
    let candidate = if too_long {
        SecretString::from("")
    } else {
        password
    };
    let matches = tokio::task::spawn_blocking(move || verify(&candidate, &stored))
        .await
        .map_err(|e| Error::Internal(e.into()))?
        && !too_long;
    let refusal = match &found {
        None => Some("unknown_email"),
        Some(c) if c.password_hash.is_none() => Some("no_password"),
        Some(_) if !matches => Some("wrong_password"),
        Some(c) if c.user.status != "active" => Some("user_not_active"),
        Some(c) if sso_only && !c.is_owner => Some("sso_only"),
        Some(_) => None,
    };
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let Some(credential) = found.filter(|_| refusal.is_none()) else {
        audit::record(
            &mut tx,
            now,
            ctx,
            NewEvent {
                chain: Chain::Tenant(tenant.id),
                actor: Actor::system("sign-in"),
                action: "login.failed",
                target: Target::new("password", &email),
                before: None,
                after: Some(json!({"reason": refusal.unwrap_or("unknown"), "method": "password"})),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(Error::Unauthenticated(BAD_CREDENTIALS.into()));
    };
    let user = credential.user;
    let opened = browser::open(state, &mut tx, tenant.id, user.id, "password".into(), ctx).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant.id),
            actor: Actor {
                kind: "user",
                id: user.id.to_string(),
                label: user.email.clone(),
            },
            action: "login.succeeded",
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
    Ok(browser::set_cookie(state, &opened))
}
