//! SQL for setup links (their one writer is `sessions::setup_links`). Only hashes of the
//! link's token and of its session's cookie are stored; a link is spent by setting
//! `used_at` with a guard, so it opens at most one session.

use serde::Serialize;
use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{TenantId, Timestamp, TokenId};

/// A setup link as the operator sees it (no token, no hashes).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SetupLinkRecord {
    pub id: TokenId,
    pub tenant_id: TenantId,
    /// Who it is for, as the operator wrote it (shown in the console and the audit log).
    pub label: String,
    pub created_by: String,
    pub created_at: Timestamp,
    /// The link opens nothing after this.
    pub expires_at: Timestamp,
    /// When it was used (it works once).
    pub used_at: Option<Timestamp>,
    /// When the setup session it opened ends.
    pub session_expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, tenant_id, label, created_by, created_at, expires_at, used_at, \
                       session_expires_at, revoked_at";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<SetupLinkRecord> {
    let at = |col: &str| -> StoreResult<Option<Timestamp>> {
        Ok(r.try_get::<Option<i64>, _>(col)?
            .map(Timestamp::from_micros))
    };
    Ok(SetupLinkRecord {
        id: parse_col(&r.try_get::<String, _>("id")?, "setup_links.id")?,
        tenant_id: parse_col(
            &r.try_get::<String, _>("tenant_id")?,
            "setup_links.tenant_id",
        )?,
        label: r.try_get("label")?,
        created_by: r.try_get("created_by")?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
        used_at: at("used_at")?,
        session_expires_at: at("session_expires_at")?,
        revoked_at: at("revoked_at")?,
    })
}

pub async fn insert(tx: &mut Tx, link: &SetupLinkRecord, token_hash: &[u8]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO setup_links (id, tenant_id, label, token_hash, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(link.id.to_string())
    .bind(link.tenant_id.to_string())
    .bind(&link.label)
    .bind(token_hash.to_vec())
    .bind(&link.created_by)
    .bind(link.created_at.as_micros())
    .bind(link.expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The tenant's links, newest first.
pub async fn list(store: &Store, tenant: TenantId) -> StoreResult<Vec<SetupLinkRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM setup_links WHERE tenant_id = $1 ORDER BY created_at DESC"
    ))
    .bind(tenant.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// How many of the tenant's links could still open a session or have one open.
pub async fn count_live(store: &Store, tenant: TenantId, now: Timestamp) -> StoreResult<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM setup_links WHERE tenant_id = $1 AND revoked_at IS NULL \
         AND ((used_at IS NULL AND expires_at > $2) OR session_expires_at > $2)",
    )
    .bind(tenant.to_string())
    .bind(now.as_micros())
    .fetch_one(store.reader())
    .await?
    .try_get("n")?)
}

/// Link `id` with the hash of its token's secret, whatever its state (the caller compares
/// the secret and says why a link is not usable).
pub async fn get(store: &Store, id: TokenId) -> StoreResult<Option<(SetupLinkRecord, Vec<u8>)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, token_hash FROM setup_links WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((from_row(&row)?, row.try_get("token_hash")?)))
}

/// The link whose open session a cookie hash names, if the session is live and its tenant
/// active.
pub async fn by_live_session(
    store: &Store,
    session_hash: &[u8],
    now: Timestamp,
) -> StoreResult<Option<SetupLinkRecord>> {
    let row = sqlx::query(&format!(
        "SELECT l.{} FROM setup_links l JOIN tenants t ON t.id = l.tenant_id AND t.status = 'active' \
         WHERE l.session_hash = $1 AND l.revoked_at IS NULL AND l.session_expires_at > $2",
        COLUMNS.replace(", ", ", l.")
    ))
    .bind(session_hash.to_vec())
    .bind(now.as_micros())
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Spends link `id` and opens its session. False when it was already used, revoked or
/// expired (another request may have won).
pub async fn spend(
    tx: &mut Tx,
    id: TokenId,
    session_hash: &[u8],
    now: Timestamp,
    session_expires_at: Timestamp,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE setup_links SET used_at = $2, session_hash = $3, session_expires_at = $4 \
         WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(id.to_string())
    .bind(now.as_micros())
    .bind(session_hash.to_vec())
    .bind(session_expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The link, locked for a change.
pub async fn for_update(
    tx: &mut Tx,
    tenant: TenantId,
    id: TokenId,
) -> StoreResult<Option<SetupLinkRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM setup_links WHERE tenant_id = $1 AND id = $2{}",
        tx.lock_clause(None)
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Revokes the link and ends any session it opened.
pub async fn revoke(tx: &mut Tx, tenant: TenantId, id: TokenId, now: Timestamp) -> StoreResult<()> {
    sqlx::query(
        "UPDATE setup_links SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Ends the live session a cookie hash names (its holder signed out).
pub async fn end_session(store: &Store, session_hash: &[u8], now: Timestamp) -> StoreResult<()> {
    sqlx::query(
        "UPDATE setup_links SET session_expires_at = $2 WHERE session_hash = $1 AND session_expires_at > $2",
    )
    .bind(session_hash.to_vec())
    .bind(now.as_micros())
    .execute(store.writer())
    .await?;
    Ok(())
}
