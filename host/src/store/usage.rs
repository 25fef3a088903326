//! SQL for a tenant's usage: its users by status now, and how many audit events of some
//! actions fall in a time range (sign-ins, SCIM writes), counted on the audit log's
//! `(tenant_id, action, occurred_at)` index.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::types::{TenantId, Timestamp};

/// `(status, count)` of the tenant's users.
pub async fn users_by_status(store: &Store, tenant: TenantId) -> StoreResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM users WHERE tenant_id = $1 GROUP BY status ORDER BY status",
    )
    .bind(tenant.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
        .collect()
}

/// How many of the tenant's audit events with one of `actions` occurred in `[from, to)`.
pub async fn events(
    store: &Store,
    tenant: TenantId,
    actions: &[&str],
    from: Timestamp,
    to: Timestamp,
) -> StoreResult<i64> {
    let mut total = 0;
    // One index range per action.
    for action in actions {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE tenant_id = $1 AND action = $2 \
             AND occurred_at >= $3 AND occurred_at < $4",
        )
        .bind(tenant.to_string())
        .bind(*action)
        .bind(from.as_micros())
        .bind(to.as_micros())
        .fetch_one(store.reader())
        .await?;
        total += n;
    }
    Ok(total)
}
