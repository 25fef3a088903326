//! SQL for the ingest API's idempotency keys: the first answer to a key, kept a day.

use sqlx::Row;

use super::{Store, StoreResult, Tx};
use crate::types::{TenantId, Timestamp};

/// A key's earlier request: the hash of its body and the answer it got.
pub struct Earlier {
    pub body_hash: Vec<u8>,
    pub response: String,
}

pub async fn earlier(tx: &mut Tx, tenant: TenantId, key: &str) -> StoreResult<Option<Earlier>> {
    let row = sqlx::query(
        "SELECT body_hash, response FROM audit_ingest_keys WHERE tenant_id = $1 AND key = $2",
    )
    .bind(tenant.to_string())
    .bind(key)
    .fetch_optional(tx.conn())
    .await?;
    row.map(|r| {
        Ok(Earlier {
            body_hash: r.try_get("body_hash")?,
            response: r.try_get("response")?,
        })
    })
    .transpose()
}

/// Records a key's answer; false when a concurrent request with the key got there first.
pub async fn remember(
    tx: &mut Tx,
    tenant: TenantId,
    key: &str,
    body_hash: &[u8],
    response: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO audit_ingest_keys (tenant_id, key, body_hash, response, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, key) DO NOTHING",
    )
    .bind(tenant.to_string())
    .bind(key)
    .bind(body_hash.to_vec())
    .bind(response)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets keys older than `before` (housekeeping; every tenant).
pub async fn forget_before(store: &Store, before: Timestamp) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM audit_ingest_keys WHERE created_at < $1")
        .bind(before.as_micros())
        .execute(store.writer())
        .await?;
    Ok(done.rows_affected())
}
