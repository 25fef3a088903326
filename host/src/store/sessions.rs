//! SQL for browser sessions. Only the SHA-256 of the cookie token is stored.

use sqlx::Row;

use super::outbox;
use super::session_apps::Ending;
use super::{parse_col, Db, Store, StoreResult, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub method: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub idle_expires_at: Timestamp,
    pub absolute_expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// JSON: what the upstream IdP said of an SSO sign-in (`amr`, `acr`, MFA, its session's end).
    pub upstream_auth: Option<String>,
}

pub async fn insert(tx: &mut Tx, s: &SessionRow, token_hash: &[u8]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (id, tenant_id, user_id, token_hash, method, created_at, last_seen_at, \
         idle_expires_at, absolute_expires_at, ip, user_agent, upstream_auth) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(s.id.to_string())
    .bind(s.tenant_id.to_string())
    .bind(s.user_id.to_string())
    .bind(token_hash.to_vec())
    .bind(&s.method)
    .bind(s.created_at.as_micros())
    .bind(s.last_seen_at.as_micros())
    .bind(s.idle_expires_at.as_micros())
    .bind(s.absolute_expires_at.as_micros())
    .bind(s.ip.clone())
    .bind(s.user_agent.clone())
    .bind(s.upstream_auth.clone())
    .execute(tx.conn())
    .await?;
    Ok(())
}

const COLUMNS: &str = "s.id, s.tenant_id, s.user_id, s.method, s.created_at, s.last_seen_at, \
     s.idle_expires_at, s.absolute_expires_at, s.revoked_at, s.ip, s.user_agent, s.upstream_auth";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        id: parse_col(&row.try_get::<String, _>("id")?, "sessions.id")?,
        tenant_id: parse_col(
            &row.try_get::<String, _>("tenant_id")?,
            "sessions.tenant_id",
        )?,
        user_id: parse_col(&row.try_get::<String, _>("user_id")?, "sessions.user_id")?,
        method: row.try_get("method")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        last_seen_at: Timestamp::from_micros(row.try_get("last_seen_at")?),
        idle_expires_at: Timestamp::from_micros(row.try_get("idle_expires_at")?),
        absolute_expires_at: Timestamp::from_micros(row.try_get("absolute_expires_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_micros),
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        upstream_auth: row.try_get("upstream_auth")?,
    })
}

/// Authentication lookup by the hash of the presented cookie: the tenant is not known yet,
/// and the hash of a 256-bit secret is itself unguessable. A session of a tenant that is not
/// active is not found, whatever its own state.
pub async fn by_token_hash(store: &Store, token_hash: &[u8]) -> StoreResult<Option<SessionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions s JOIN tenants t ON t.id = s.tenant_id AND t.status = 'active' \
         WHERE s.token_hash = $1"
    );
    let row = sqlx::query(&sql)
        .bind(token_hash.to_vec())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Session `id` of `tenant`, if its tenant is active.
pub async fn by_id(
    store: &Store,
    tenant: TenantId,
    id: SessionId,
) -> StoreResult<Option<SessionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions s JOIN tenants t ON t.id = s.tenant_id AND t.status = 'active' \
         WHERE s.tenant_id = $1 AND s.id = $2"
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The sessions of `user` not revoked and within their stored bounds at `now`, oldest
/// first, at most `limit` (the policy's lifetimes are the caller's to apply).
pub async fn open_for_user(
    db: impl Into<Db<'_>>,
    tenant: TenantId,
    user: UserId,
    now: Timestamp,
    limit: i64,
) -> StoreResult<Vec<SessionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions s WHERE s.tenant_id = $1 AND s.user_id = $2 \
         AND s.revoked_at IS NULL AND s.idle_expires_at > $3 AND s.absolute_expires_at > $3 \
         ORDER BY s.created_at, s.id LIMIT $4"
    );
    let rows = db
        .into()
        .fetch_all(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(user.to_string())
                .bind(now.as_micros())
                .bind(limit),
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// Slides the idle expiry forward.
pub async fn touch(
    tx: &mut Tx,
    tenant: TenantId,
    id: SessionId,
    now: Timestamp,
    idle_expires_at: Timestamp,
) -> StoreResult<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $3, idle_expires_at = $4 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now.as_micros())
        .bind(idle_expires_at.as_micros())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Revokes one session; false when it was not live. Every revocation below queues the
/// back-channel logout notices of the sessions it ends ([`outbox::enqueue_logout_notices`]).
pub async fn revoke(
    tx: &mut Tx,
    tenant: TenantId,
    id: SessionId,
    now: Timestamp,
) -> StoreResult<bool> {
    outbox::enqueue_logout_notices(tx, &Ending::One(tenant, id), now).await?;
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live session of `tenant` (suspension, deletion); returns how many.
pub async fn revoke_all(tx: &mut Tx, tenant: TenantId, now: Timestamp) -> StoreResult<u64> {
    outbox::enqueue_logout_notices(tx, &Ending::Tenant(tenant), now).await?;
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE tenant_id = $1 AND revoked_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// Revokes every live session of one user (deactivation, deletion); returns how many.
pub async fn revoke_user(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    now: Timestamp,
) -> StoreResult<u64> {
    outbox::enqueue_logout_notices(tx, &Ending::User(tenant, user), now).await?;
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}
