//! One-time links that set a local account's password: an admin invites a user by email, or
//! issues a reset for a local user. The link is an opaque 256-bit token (stored as SHA-256),
//! shown to the admin once and, when the operator configured SMTP, emailed through the outbox
//! in the same transaction. It works once, expires ([`INVITE_TTL_SECS`], [`RESET_TTL_SECS`]),
//! and a newer link of the same user voids it. The password it sets is checked against the
//! tenant's password rules; a reset also ends the user's sessions. SSO-only mode refuses both:
//! the IdP owns how those users sign in.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::directory;
use crate::error::Error;
use crate::outbox::{self, Email};
use crate::rbac::{Authorized, WriteUsers};
use crate::services::Services;
use crate::store::password_links::LinkRow;
use crate::store::tenants::TenantRecord;
use crate::store::users::{UserRow, UserSource};
use crate::store::{self, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

/// An invitation lasts a week; a reset a day.
pub const INVITE_TTL_SECS: i64 = 7 * 86_400;
pub const RESET_TTL_SECS: i64 = 86_400;
/// The page a link opens.
pub const PAGE: &str = "/account/password";
/// What the page says when the link is spent, expired, voided or made up.
pub const GONE: &str =
    "This link has expired or was already used. Ask your administrator for a new one.";

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Body of an invitation.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub email: String,
    pub display_name: Option<String>,
}

/// A link as the admin sees it, once.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = IssuedLink)]
pub struct Issued {
    pub user_id: UserId,
    pub email: String,
    pub link: String,
    pub expires_at: Timestamp,
    /// It was also queued for email (SMTP is configured).
    pub emailed: bool,
}

/// Invites `email` to the tenant as a local user.
pub async fn invite(
    state: &Services,
    auth: &Authorized<WriteUsers>,
    ctx: &RequestContext,
    body: Invite,
) -> Result<Issued, Error> {
    let tenant = tenant(state, auth.tenant()).await?;
    let email: crate::types::Email = body
        .email
        .parse()
        .map_err(|e: crate::types::ParseError| Error::invalid("email", e.0))?;
    let email = email.as_str().to_lowercase();
    if body
        .display_name
        .as_deref()
        .is_some_and(|n| n.chars().any(char::is_control))
    {
        return Err(Error::invalid(
            "display_name",
            "must not contain control characters",
        ));
    }
    let display_name = body
        .display_name
        .map(|n| crate::types::truncate(n.trim(), 256))
        .filter(|n| !n.is_empty());
    let now = state.clock.now();
    let link = new_link(state, &tenant, "invite", INVITE_TTL_SECS);
    let mail = mail(state, &tenant, &email, &link, "invite").await?;
    let mut tx = state.store.begin().await?;
    let user = directory::local::invitee(&mut tx, tenant.id, &email, display_name, now).await?;
    let issued = issue(&mut tx, &user, link, mail).await?;
    record(&mut tx, auth, ctx, &user, Action::UserInvited, &issued, now).await?;
    tx.commit().await?;
    Ok(issued)
}

/// Issues a password reset link for local user `user`.
pub async fn reset(
    state: &Services,
    auth: &Authorized<WriteUsers>,
    ctx: &RequestContext,
    user: UserId,
) -> Result<Issued, Error> {
    let tenant = tenant(state, auth.tenant()).await?;
    let account = store::user_reads::user(&state.store, tenant.id, user)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if account.source != UserSource::Local {
        return Err(Error::Conflict(
            "this user signs in through the identity provider, which owns their password".into(),
        ));
    }
    let link = new_link(state, &tenant, "reset", RESET_TTL_SECS);
    let mail = mail(state, &tenant, &account.email, &link, "reset").await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let issued = issue(&mut tx, &account, link, mail).await?;
    record(
        &mut tx,
        auth,
        ctx,
        &account,
        Action::PasswordResetIssued,
        &issued,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(issued)
}

/// The tenant, refused when it is SSO-only.
async fn tenant(state: &Services, id: TenantId) -> Result<TenantRecord, Error> {
    let tenant = store::tenants::get(&state.store, id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if crate::policy::load(&state.store, id).await?.policy.sso_only {
        return Err(Error::Conflict(
            "the organisation is SSO-only: local passwords are off (the owner's is set by the operator)"
                .into(),
        ));
    }
    Ok(tenant)
}

/// A link not yet stored: its row (user filled in by [`issue`]), token and URL.
struct NewLink {
    row: LinkRow,
    token: SecretString,
    url: String,
}

fn new_link(state: &Services, tenant: &TenantRecord, purpose: &str, ttl: i64) -> NewLink {
    let now = state.clock.now();
    let token = crate::types::random_token();
    let url = format!("{}{PAGE}?token={token}", state.config.public_url());
    NewLink {
        row: LinkRow {
            id: SessionId::generate(),
            tenant_id: tenant.id,
            user_id: UserId::generate(),
            purpose: purpose.to_string(),
            created_at: now,
            expires_at: now.plus_seconds(ttl),
        },
        token: SecretString::from(token),
        url,
    }
}

/// The email carrying `link`, sealed for the outbox (none without SMTP).
async fn mail(
    state: &Services,
    tenant: &TenantRecord,
    to: &str,
    link: &NewLink,
    purpose: &str,
) -> Result<Option<outbox::Sealed>, Error> {
    if !outbox::email_enabled(state) {
        return Ok(None);
    }
    let until = link.row.expires_at.to_rfc3339();
    let (subject, lead) = match purpose {
        "invite" => (
            format!("You are invited to {}", tenant.name),
            format!(
                "{} invited you to sign in with a password of your own.",
                tenant.name
            ),
        ),
        _ => (
            format!("Reset your {} password", tenant.name),
            format!(
                "An administrator of {} issued you a password reset.",
                tenant.name
            ),
        ),
    };
    let body = format!(
        "{lead}\n\nSet your password here (the link works once, until {until}):\n{}\n\n\
         If you did not expect this, ignore it.\n",
        link.url
    );
    let email = Email {
        to: to.to_string(),
        subject,
        body,
    };
    outbox::seal_email(state, tenant.id, &email).await.map(Some)
}

/// Stores the link for `user` (voiding older ones) and queues its email.
async fn issue(
    tx: &mut Tx,
    user: &UserRow,
    mut link: NewLink,
    mail: Option<outbox::Sealed>,
) -> Result<Issued, Error> {
    link.row.user_id = user.id;
    store::password_links::replace(tx, &link.row, &hash(link.token.expose_secret())).await?;
    let emailed = mail.is_some();
    if let Some(mail) = mail {
        outbox::enqueue(tx, mail).await?;
    }
    Ok(Issued {
        user_id: user.id,
        email: user.email.clone(),
        link: link.url,
        expires_at: link.row.expires_at,
        emailed,
    })
}

async fn record(
    tx: &mut Tx,
    auth: &Authorized<WriteUsers>,
    ctx: &RequestContext,
    user: &UserRow,
    action: Action,
    issued: &Issued,
    now: Timestamp,
) -> Result<(), Error> {
    audit::record(
        tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(user.tenant_id),
            actor: auth.actor(),
            action,
            target: Target::new("user", user.id),
            before: None,
            after: Some(json!({
                "email": user.email,
                "expires_at": issued.expires_at,
                "emailed": issued.emailed,
            })),
        },
    )
    .await?;
    Ok(())
}

/// The live link a token names and its user, for the page.
pub async fn open(state: &Services, token: &str) -> Result<Option<(LinkRow, UserRow)>, Error> {
    if token.len() != super::browser::TOKEN_CHARS || !token.is_ascii() {
        return Ok(None);
    }
    let Some(link) = store::password_links::unspent(&state.store, &hash(token)).await? else {
        return Ok(None);
    };
    if state.clock.now() >= link.expires_at {
        return Ok(None);
    }
    let user = store::user_reads::user(&state.store, link.tenant_id, link.user_id).await?;
    Ok(user.map(|u| (link, u)))
}

/// Sets the password the link `token` is for: checked against the tenant's rules, the link
/// spent, the user active; a reset ends the user's sessions. Audited as `password.set`.
pub async fn redeem(
    state: &Services,
    token: &str,
    password: SecretString,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let Some((link, user)) = open(state, token).await? else {
        return Err(Error::Unauthenticated(GONE.into()));
    };
    let tenant = tenant(state, link.tenant_id).await?;
    let password_hash =
        super::password::checked_hash(state, &tenant, &user.email, password).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if !store::password_links::spend(&mut tx, link.tenant_id, link.id, now).await? {
        return Err(Error::Unauthenticated(GONE.into()));
    }
    directory::local::set_password(&mut tx, &user, &password_hash, now).await?;
    let ended = if link.purpose == "reset" {
        store::sessions::revoke_user(&mut tx, user.tenant_id, user.id, now).await?
    } else {
        0
    };
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(user.tenant_id),
            actor: audit::Actor::user(user.id, &user.email),
            action: Action::PasswordSet,
            target: Target::new("user", user.id),
            before: None,
            after: Some(json!({"link": link.purpose, "sessions_ended": ended})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
