//! SQL for the outbox: rows that leave Gatehouse (emails), written in the transaction of the
//! change that caused them, and each destination's health. A worker claims a due row by
//! moving its next attempt forward (a lease), so two nodes do not send it at the same time.

use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{SessionId, TenantId, Timestamp};

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub destination: String,
    pub payload_sealed: Vec<u8>,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
}

pub async fn enqueue(tx: &mut Tx, row: &OutboxRow, now: Timestamp) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox (id, tenant_id, destination, payload_sealed, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(row.id.to_string())
    .bind(row.tenant_id.to_string())
    .bind(&row.destination)
    .bind(row.payload_sealed.clone())
    .bind(now.as_micros())
    .bind(row.next_attempt_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Rows due at `now`, oldest first.
pub async fn due(store: &Store, now: Timestamp, limit: i64) -> StoreResult<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, destination, payload_sealed, attempts, next_attempt_at FROM outbox \
         WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(now.as_micros())
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OutboxRow {
                id: parse_col(&r.try_get::<String, _>("id")?, "outbox.id")?,
                tenant_id: parse_col(&r.try_get::<String, _>("tenant_id")?, "outbox.tenant_id")?,
                destination: r.try_get("destination")?,
                payload_sealed: r.try_get("payload_sealed")?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: Timestamp::from_micros(r.try_get("next_attempt_at")?),
            })
        })
        .collect()
}

/// Claims a due row until `lease_until`; false when another worker claimed it first.
pub async fn claim(store: &Store, row: &OutboxRow, lease_until: Timestamp) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET next_attempt_at = $3, attempts = attempts + 1 \
         WHERE id = $1 AND next_attempt_at = $2 AND delivered_at IS NULL",
    )
    .bind(row.id.to_string())
    .bind(row.next_attempt_at.as_micros())
    .bind(lease_until.as_micros())
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a delivery, and the destination's success.
pub async fn delivered(store: &Store, row: &OutboxRow, now: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE outbox SET delivered_at = $2, last_error = NULL WHERE id = $1")
        .bind(row.id.to_string())
        .bind(now.as_micros())
        .execute(store.writer())
        .await?;
    sqlx::query(
        "INSERT INTO delivery_health (destination, last_success_at) VALUES ($1, $2) \
         ON CONFLICT (destination) DO UPDATE SET last_success_at = excluded.last_success_at",
    )
    .bind(&row.destination)
    .bind(now.as_micros())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Records a failed attempt: the next one at `retry_at`, or none (`None`: given up).
pub async fn failed(
    store: &Store,
    row: &OutboxRow,
    error: &str,
    retry_at: Option<Timestamp>,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE outbox SET last_error = $2, next_attempt_at = $3, gave_up_at = $4 WHERE id = $1",
    )
    .bind(row.id.to_string())
    .bind(error)
    .bind(retry_at.unwrap_or(now).as_micros())
    .bind(retry_at.is_none().then_some(now.as_micros()))
    .execute(store.writer())
    .await?;
    sqlx::query(
        "INSERT INTO delivery_health (destination, last_error_at, last_error) VALUES ($1, $2, $3) \
         ON CONFLICT (destination) DO UPDATE SET last_error_at = excluded.last_error_at, \
         last_error = excluded.last_error",
    )
    .bind(&row.destination)
    .bind(now.as_micros())
    .bind(error)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// One destination's health as the operator sees it.
#[derive(Debug, serde::Serialize)]
pub struct Health {
    pub destination: String,
    pub last_success_at: Option<Timestamp>,
    pub last_error_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Rows waiting to be sent.
    pub backlog: i64,
    /// Rows given up on.
    pub failed: i64,
}

/// Every destination that has been used, with its backlog.
pub async fn health(store: &Store) -> StoreResult<Vec<Health>> {
    let rows = sqlx::query(
        "SELECT h.destination, h.last_success_at, h.last_error_at, h.last_error, \
         (SELECT COUNT(*) FROM outbox o WHERE o.destination = h.destination \
          AND o.delivered_at IS NULL AND o.gave_up_at IS NULL) AS backlog, \
         (SELECT COUNT(*) FROM outbox o WHERE o.destination = h.destination \
          AND o.gave_up_at IS NOT NULL) AS failed \
         FROM delivery_health h ORDER BY h.destination",
    )
    .fetch_all(store.reader())
    .await?;
    let at = |v: Option<i64>| v.map(Timestamp::from_micros);
    rows.iter()
        .map(|r| {
            Ok(Health {
                destination: r.try_get("destination")?,
                last_success_at: at(r.try_get("last_success_at")?),
                last_error_at: at(r.try_get("last_error_at")?),
                last_error: r.try_get("last_error")?,
                backlog: r.try_get("backlog")?,
                failed: r.try_get("failed")?,
            })
        })
        .collect()
}
