//! Browser sessions: an opaque 256-bit token in a cookie (HttpOnly, SameSite=Lax, Secure
//! when the public URL is https), stored only as its SHA-256, with an idle and an absolute
//! timeout, revocable. The session's own id is separate from its token and safe to show.

use super::auth_context::Upstream;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::policy::admit::{self, Refusal};
use crate::policy::Policy;
use crate::services::Services;
use crate::store::{self, sessions::SessionRow, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

/// The cookie's name.
pub const COOKIE: &str = "gatehouse_session";
/// Length of a token: 32 random bytes, base64url.
pub const TOKEN_CHARS: usize = 43;
/// Idle expiry is written at most this often, so most requests stay reads.
const TOUCH_EVERY_SECS: i64 = 60;

/// A new session's cookie value; shown to the browser once.
pub struct Opened {
    pub id: SessionId,
    pub token: SecretString,
    pub max_age_secs: i64,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// How the user signed in: the session's method (`password`, `password+totp`, `sso:…`)
/// and, after SSO, what the IdP said of it.
pub struct How<'a> {
    pub method: String,
    pub upstream: Option<&'a Upstream>,
}

impl How<'_> {
    /// A sign-in at Gatehouse itself (password, second factor).
    pub fn local(method: impl Into<String>) -> Self {
        How {
            method: method.into(),
            upstream: None,
        }
    }
}

/// Opens a session inside `tx` (it commits with the sign-in and its audit event), with the
/// lifetimes of the tenant's `policy` and a seat under its cap: sessions the cap ends
/// (`revoke_oldest`) are audited here as `session.revoked`; a refusal (`deny_new`) is the
/// caller's to audit and show.
pub async fn open(
    state: &Services,
    tx: &mut Tx,
    policy: &Policy,
    tenant: TenantId,
    user: UserId,
    how: How<'_>,
    ctx: &RequestContext,
) -> Result<Result<Opened, Refusal>, Error> {
    let How { method, upstream } = how;
    let now = state.clock.now();
    let lifetimes = policy.session_lifetimes(&state.config.sessions);
    let ended = match admit::seat(tx, policy, lifetimes, tenant, user, now).await? {
        Ok(ended) => ended,
        Err(refusal) => return Ok(Err(refusal)),
    };
    for id in ended {
        audit::record(
            tx,
            now,
            ctx,
            NewEvent {
                chain: Chain::Tenant(tenant),
                actor: Actor::system("session-limit"),
                action: Action::SessionRevoked,
                target: Target::new("session", id),
                before: None,
                after: Some(json!({"user": user, "reason": "session_limit"})),
            },
        )
        .await?;
    }
    let (idle, absolute) = deployment_bounds(state);
    let token = crate::types::random_token();
    // The IdP's session, when it says when it ends, bounds this one.
    let absolute_expires_at = match upstream.and_then(|u| u.session_expiry) {
        Some(secs) => now
            .plus_seconds(absolute)
            .min(Timestamp::from_micros(secs.saturating_mul(1_000_000))),
        None => now.plus_seconds(absolute),
    };
    let row = SessionRow {
        id: SessionId::generate(),
        tenant_id: tenant,
        user_id: user,
        method,
        created_at: now,
        last_seen_at: now,
        idle_expires_at: now.plus_seconds(idle),
        absolute_expires_at,
        upstream_auth: upstream.and_then(|u| serde_json::to_string(u).ok()),
        revoked_at: None,
        ip: ctx.ip.clone(),
        user_agent: ctx
            .user_agent
            .as_deref()
            .map(|u| crate::types::truncate(u, 512)),
    };
    store::sessions::insert(tx, &row, &hash(&token)).await?;
    Ok(Ok(Opened {
        id: row.id,
        token: SecretString::from(token),
        max_age_secs: lifetimes.1,
    }))
}

/// The deployment's idle and absolute lifetimes: what a session's stored expiry holds, the
/// outer bound of every tenant's (the policy's own are applied on top at each request, so a
/// tenant can tighten or loosen them for sessions already open).
fn deployment_bounds(state: &Services) -> (i64, i64) {
    crate::policy::Policy::default().session_lifetimes(&state.config.sessions)
}

/// The live session a cookie value names, sliding its idle expiry; `None` when absent,
/// expired (under the tenant's policy now) or revoked, or when the user is no longer active.
pub async fn current(state: &Services, token: &SecretString) -> Result<Option<SessionRow>, Error> {
    let text = token.expose_secret();
    if text.len() != TOKEN_CHARS || !text.is_ascii() {
        return Ok(None);
    }
    let Some(row) = store::sessions::by_token_hash(&state.store, &hash(text)).await? else {
        return Ok(None);
    };
    keep_alive(state, row).await
}

/// Session `id` of `tenant` when it is live, sliding its idle expiry: an app refreshing its
/// tokens is the user's activity as much as a page is.
pub async fn refresh(
    state: &Services,
    tenant: TenantId,
    id: SessionId,
) -> Result<Option<SessionRow>, Error> {
    match store::sessions::by_id(&state.store, tenant, id).await? {
        Some(row) => keep_alive(state, row).await,
        None => Ok(None),
    }
}

/// `row` when it is live under the tenant's policy and its user is active, with its idle
/// expiry slid forward; otherwise `None` (and a session the policy ended is marked so).
async fn keep_alive(state: &Services, row: SessionRow) -> Result<Option<SessionRow>, Error> {
    let now = state.clock.now();
    let Some((idle, _)) = lifetimes_if_live(state, &row, now).await? else {
        end_if_open(state, &row, now).await?;
        return Ok(None);
    };
    let user = store::user_reads::user(&state.store, row.tenant_id, row.user_id).await?;
    if user.is_none_or(|u| u.status != crate::store::users::UserStatus::Active) {
        return Ok(None);
    }
    // Written at most every minute, and more often when the tenant's idle time is short, so
    // an active session never looks idle.
    let touch_every = TOUCH_EVERY_SECS.min(idle / 4);
    if now.as_micros() - row.last_seen_at.as_micros() >= touch_every * 1_000_000 {
        let (deployment_idle, _) = deployment_bounds(state);
        let until = now
            .plus_seconds(deployment_idle)
            .min(row.absolute_expires_at);
        let mut tx = state.store.begin().await?;
        store::sessions::touch(&mut tx, row.tenant_id, row.id, now, until).await?;
        tx.commit().await?;
    }
    Ok(Some(row))
}

/// Marks `row` revoked when it ended under the tenant's lifetimes but its stored bounds (the
/// deployment's) still hold it open, so that a later, looser policy does not bring it back.
async fn end_if_open(state: &Services, row: &SessionRow, now: Timestamp) -> Result<(), Error> {
    if row.revoked_at.is_some() || now >= row.idle_expires_at || now >= row.absolute_expires_at {
        return Ok(());
    }
    let mut tx = state.store.begin().await?;
    store::sessions::revoke(&mut tx, row.tenant_id, row.id, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's session lifetimes when `row` is live at `now` under them.
async fn lifetimes_if_live(
    state: &Services,
    row: &SessionRow,
    now: Timestamp,
) -> Result<Option<(i64, i64)>, Error> {
    if row.revoked_at.is_some() {
        return Ok(None);
    }
    let policy = crate::policy::load(&state.store, row.tenant_id)
        .await?
        .policy;
    let lifetimes = policy.session_lifetimes(&state.config.sessions);
    Ok(crate::policy::live(row, lifetimes, now).then_some(lifetimes))
}

/// Whether session `id` of `tenant` is live now (the token endpoint and userinfo ask, for
/// the session behind a code or a token).
pub async fn is_live(state: &Services, tenant: TenantId, id: SessionId) -> Result<bool, Error> {
    Ok(live(state, tenant, id).await?.is_some())
}

/// Session `id` of `tenant` when it is live now, with when it ends at the latest (its
/// absolute lifetime under the tenant's policy, or sooner when its IdP's session ends).
pub async fn live(
    state: &Services,
    tenant: TenantId,
    id: SessionId,
) -> Result<Option<(SessionRow, Timestamp)>, Error> {
    let Some(row) = store::sessions::by_id(&state.store, tenant, id).await? else {
        return Ok(None);
    };
    Ok(lifetimes_if_live(state, &row, state.clock.now())
        .await?
        .map(|(_, absolute)| {
            let ends = row
                .created_at
                .plus_seconds(absolute)
                .min(row.absolute_expires_at);
            (row, ends)
        }))
}

/// The name Gatehouse's cookie `base` goes by: on https `__Host-{base}`, which a browser
/// keeps only when it is Secure, for this host alone and the whole path, so no sibling
/// subdomain can plant or shadow it; over plain http (development) just `base`.
pub fn cookie_name(secure: bool, base: &str) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// A `Set-Cookie` value for one of Gatehouse's own cookies: HttpOnly, SameSite=Lax, whole
/// site, Secure and `__Host-` named when the public URL is https. An empty `value` with age
/// 0 clears it.
pub fn cookie(state: &Services, name: &str, value: &str, max_age_secs: i64) -> String {
    let https = state.config.is_https();
    let secure = if https { "; Secure" } else { "" };
    let name = cookie_name(https, name);
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// The `Set-Cookie` value for a new session.
pub fn set_cookie(state: &Services, opened: &Opened) -> String {
    cookie(
        state,
        COOKIE,
        opened.token.expose_secret(),
        opened.max_age_secs,
    )
}

/// The `Set-Cookie` value that clears the session cookie.
pub fn clear_cookie(state: &Services) -> String {
    cookie(state, COOKIE, "", 0)
}

/// Revokes a session (sign-out), audited as `logout`.
pub async fn revoke(state: &Services, row: &SessionRow, ctx: &RequestContext) -> Result<(), Error> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    store::sessions::revoke(&mut tx, row.tenant_id, row.id, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(row.tenant_id),
            actor: Actor::user(row.user_id, &row.user_id.to_string()),
            action: Action::Logout,
            target: Target::new("session", row.id),
            before: None,
            after: Some(json!({"method": row.method})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
