//! SQL for audit retention: a tenant's retention, each chain's purge floor, and the batched
//! deletes below it. The database refuses to delete an event above its chain's floor, so
//! the floor is raised (to an event a signed checkpoint named) before the rows go.

use sqlx::Row;

use super::audit_checkpoints::{from_row as checkpoint_from_row, CheckpointRow, COLUMNS};
use super::{Store, StoreResult, Tx};
use crate::types::{TenantId, Timestamp};

/// A chain with its tenant's retention (`None`: the deployment's default; also the operator
/// chain's).
#[derive(Debug, Clone)]
pub struct ChainRetention {
    pub chain: String,
    pub days: Option<i64>,
}

/// Where a chain's purged events end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// The checkpoint that named the floor event.
    pub number: i64,
    /// Events up to this sequence may be gone.
    pub seq: i64,
}

pub async fn retention_days(store: &Store, tenant: TenantId) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar::<_, Option<i64>>(
        "SELECT audit_retention_days FROM tenants WHERE id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(store.reader())
    .await?
    .flatten())
}

pub async fn set_retention_days(
    tx: &mut Tx,
    tenant: TenantId,
    days: Option<i64>,
) -> StoreResult<()> {
    sqlx::query("UPDATE tenants SET audit_retention_days = $2 WHERE id = $1")
        .bind(tenant.to_string())
        .bind(days)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Every chain with its retention.
pub async fn chains(store: &Store) -> StoreResult<Vec<ChainRetention>> {
    let rows = sqlx::query(
        "SELECT h.tenant_id, t.audit_retention_days FROM audit_heads h \
         LEFT JOIN tenants t ON t.id = h.tenant_id ORDER BY h.tenant_id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ChainRetention {
                chain: r.try_get("tenant_id")?,
                days: r.try_get("audit_retention_days")?,
            })
        })
        .collect()
}

pub async fn floor(store: &Store, chain: &str) -> StoreResult<Option<Floor>> {
    let row = sqlx::query("SELECT floor_number, floor_seq FROM audit_floors WHERE tenant_id = $1")
        .bind(chain)
        .fetch_optional(store.reader())
        .await?;
    row.map(|r| {
        Ok(Floor {
            number: r.try_get("floor_number")?,
            seq: r.try_get("floor_seq")?,
        })
    })
    .transpose()
}

/// Raises the chain's floor (never lowers it).
pub async fn raise_floor(
    tx: &mut Tx,
    chain: &str,
    floor: Floor,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_floors (tenant_id, floor_number, floor_seq, purged_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id) DO UPDATE SET floor_number = excluded.floor_number, \
         floor_seq = excluded.floor_seq, purged_at = excluded.purged_at \
         WHERE audit_floors.floor_seq < excluded.floor_seq",
    )
    .bind(chain)
    .bind(floor.number)
    .bind(floor.seq)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The newest checkpoint of `chain` signed at or before `cutoff` that names an event.
pub async fn boundary(
    store: &Store,
    chain: &str,
    cutoff: Timestamp,
) -> StoreResult<Option<CheckpointRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_checkpoints WHERE tenant_id = $1 AND signed_at <= $2 \
         AND last_seq > 0 ORDER BY number DESC LIMIT 1"
    ))
    .bind(chain)
    .bind(cutoff.as_micros())
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// The oldest event still stored.
pub async fn oldest_seq(store: &Store, chain: &str) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MIN(seq) FROM audit_events WHERE tenant_id = $1",
    )
    .bind(chain)
    .fetch_one(store.reader())
    .await?)
}

/// Deletes the chain's events with `low < seq <= high`, and their further targets; returns
/// how many events.
pub async fn delete_range(tx: &mut Tx, chain: &str, low: i64, high: i64) -> StoreResult<u64> {
    sqlx::query(
        "DELETE FROM audit_targets WHERE chain = $1 AND event_seq > $2 AND event_seq <= $3",
    )
    .bind(chain)
    .bind(low)
    .bind(high)
    .execute(tx.conn())
    .await?;
    let done =
        sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1 AND seq > $2 AND seq <= $3")
            .bind(chain)
            .bind(low)
            .bind(high)
            .execute(tx.conn())
            .await?;
    Ok(done.rows_affected())
}
