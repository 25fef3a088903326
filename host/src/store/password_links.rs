//! SQL for one-time password links (invitations and admin resets). Only the SHA-256 of a
//! link's token is stored; a link is spent by setting `used_at`, so it works at most once.

use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

#[derive(Debug, Clone)]
pub struct LinkRow {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    /// `invite` or `reset`.
    pub purpose: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Stores a new link for its user and voids the user's older unspent ones.
pub async fn replace(tx: &mut Tx, link: &LinkRow, token_hash: &[u8]) -> StoreResult<()> {
    sqlx::query(
        "UPDATE password_links SET used_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
    )
    .bind(link.tenant_id.to_string())
    .bind(link.user_id.to_string())
    .bind(link.created_at.as_micros())
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO password_links (id, tenant_id, user_id, purpose, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(link.id.to_string())
    .bind(link.tenant_id.to_string())
    .bind(link.user_id.to_string())
    .bind(&link.purpose)
    .bind(token_hash.to_vec())
    .bind(link.created_at.as_micros())
    .bind(link.expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The unspent link a token hash names (the tenant is not known yet; the hash of a 256-bit
/// secret is itself unguessable), if its tenant is active.
pub async fn unspent(store: &Store, token_hash: &[u8]) -> StoreResult<Option<LinkRow>> {
    let row = sqlx::query(
        "SELECT l.id, l.tenant_id, l.user_id, l.purpose, l.created_at, l.expires_at \
         FROM password_links l JOIN tenants t ON t.id = l.tenant_id AND t.status = 'active' \
         WHERE l.token_hash = $1 AND l.used_at IS NULL",
    )
    .bind(token_hash.to_vec())
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(LinkRow {
        id: parse_col(&row.try_get::<String, _>("id")?, "password_links.id")?,
        tenant_id: parse_col(
            &row.try_get::<String, _>("tenant_id")?,
            "password_links.tenant_id",
        )?,
        user_id: parse_col(
            &row.try_get::<String, _>("user_id")?,
            "password_links.user_id",
        )?,
        purpose: row.try_get("purpose")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        expires_at: Timestamp::from_micros(row.try_get("expires_at")?),
    }))
}

/// Spends a link. False when it was already spent (another request won).
pub async fn spend(
    tx: &mut Tx,
    tenant: TenantId,
    id: SessionId,
    now: Timestamp,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE password_links SET used_at = $3 WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}
