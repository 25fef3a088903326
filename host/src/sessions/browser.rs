//! Browser sessions: an opaque 256-bit token in a cookie (HttpOnly, SameSite=Lax, Secure
//! when the public URL is https), stored only as its SHA-256, with an idle and an absolute
//! timeout, revocable. The session's own id is separate from its token and safe to show.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::audit::action::Action;
use crate::error::Error;
use crate::services::Services;
use crate::store::{self, sessions::SessionRow, Tx};
use crate::types::{SessionId, TenantId, UserId};

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

/// Opens a session inside `tx` (it commits with the sign-in and its audit event).
pub async fn open(
    state: &Services,
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    method: String,
    ctx: &crate::audit::RequestContext,
) -> Result<Opened, Error> {
    let now = state.clock.now();
    let cfg = &state.config.sessions;
    let token = crate::types::random_token();
    let absolute = i64::try_from(cfg.absolute_timeout_secs).unwrap_or(i64::MAX);
    let idle = i64::try_from(cfg.idle_timeout_secs)
        .unwrap_or(i64::MAX)
        .min(absolute);
    let row = SessionRow {
        id: SessionId::generate(),
        tenant_id: tenant,
        user_id: user,
        method,
        created_at: now,
        last_seen_at: now,
        idle_expires_at: now.plus_seconds(idle),
        absolute_expires_at: now.plus_seconds(absolute),
        revoked_at: None,
        ip: ctx.ip.clone(),
        user_agent: ctx
            .user_agent
            .as_deref()
            .map(|u| crate::types::truncate(u, 512)),
    };
    store::sessions::insert(tx, &row, &hash(&token)).await?;
    Ok(Opened {
        id: row.id,
        token: SecretString::from(token),
        max_age_secs: absolute,
    })
}

/// The live session a cookie value names, sliding its idle expiry; `None` when absent,
/// expired or revoked, or when the user is no longer active.
pub async fn current(state: &Services, token: &SecretString) -> Result<Option<SessionRow>, Error> {
    let text = token.expose_secret();
    if text.len() != TOKEN_CHARS || !text.is_ascii() {
        return Ok(None);
    }
    let Some(row) = store::sessions::by_token_hash(&state.store, &hash(text)).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    if row.revoked_at.is_some() || now >= row.idle_expires_at || now >= row.absolute_expires_at {
        return Ok(None);
    }
    let user = store::user_reads::user(&state.store, row.tenant_id, row.user_id).await?;
    if user.is_none_or(|u| u.status != crate::store::users::UserStatus::Active) {
        return Ok(None);
    }
    if now.as_micros() - row.last_seen_at.as_micros() >= TOUCH_EVERY_SECS * 1_000_000 {
        let idle = i64::try_from(state.config.sessions.idle_timeout_secs).unwrap_or(i64::MAX);
        let until = now.plus_seconds(idle).min(row.absolute_expires_at);
        let mut tx = state.store.begin().await?;
        store::sessions::touch(&mut tx, row.tenant_id, row.id, now, until).await?;
        tx.commit().await?;
    }
    Ok(Some(row))
}

/// A `Set-Cookie` value for one of Gatehouse's own cookies: HttpOnly, SameSite=Lax, whole
/// site, Secure when the public URL is https. An empty `value` with age 0 clears it.
pub fn cookie(state: &Services, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
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
pub async fn revoke(
    state: &Services,
    row: &SessionRow,
    ctx: &crate::audit::RequestContext,
) -> Result<(), Error> {
    use crate::audit::{self, Actor, Chain, NewEvent, Target};
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
            after: Some(serde_json::json!({"method": row.method})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
