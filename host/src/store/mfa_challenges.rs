//! SQL for sign-ins waiting for a second factor. Only the SHA-256 of the browser's token is
//! stored; a challenge is spent by deleting it, so it completes at most once.

use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

#[derive(Debug, Clone)]
pub struct ChallengeRow {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub method: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert(tx: &mut Tx, c: &ChallengeRow, token_hash: &[u8]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO mfa_challenges (id, tenant_id, user_id, token_hash, method, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.id.to_string())
    .bind(c.tenant_id.to_string())
    .bind(c.user_id.to_string())
    .bind(token_hash.to_vec())
    .bind(&c.method)
    .bind(c.created_at.as_micros())
    .bind(c.expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Lookup by the hash of the presented token (a 256-bit secret): the tenant is not known
/// yet. A challenge of a tenant that is not active is not found.
pub async fn by_token_hash(store: &Store, token_hash: &[u8]) -> StoreResult<Option<ChallengeRow>> {
    let row = sqlx::query(
        "SELECT c.id, c.tenant_id, c.user_id, c.method, c.created_at, c.expires_at \
         FROM mfa_challenges c JOIN tenants t ON t.id = c.tenant_id AND t.status = 'active' \
         WHERE c.token_hash = $1",
    )
    .bind(token_hash.to_vec())
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ChallengeRow {
        id: parse_col(&row.try_get::<String, _>("id")?, "mfa_challenges.id")?,
        tenant_id: parse_col(
            &row.try_get::<String, _>("tenant_id")?,
            "mfa_challenges.tenant_id",
        )?,
        user_id: parse_col(
            &row.try_get::<String, _>("user_id")?,
            "mfa_challenges.user_id",
        )?,
        method: row.try_get("method")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        expires_at: Timestamp::from_micros(row.try_get("expires_at")?),
    }))
}

/// Spends a challenge. False when it was already spent.
pub async fn spend(tx: &mut Tx, tenant: TenantId, id: SessionId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM mfa_challenges WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() == 1)
}
