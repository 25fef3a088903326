//! SQL for tenants' usage: users by status now, and the monthly counters (sign-ins, SCIM
//! writes) bumped in the transaction of the audit event that records each.

use sqlx::Row;

use super::{Store, StoreResult, Tx};
use crate::types::TenantId;

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

/// Adds one to the tenant's `metric` in `month` (`YYYY-MM`), inside the change's transaction.
pub async fn bump(tx: &mut Tx, tenant: TenantId, month: &str, metric: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO usage_counters (tenant_id, month, metric, count) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (tenant_id, month, metric) DO UPDATE SET count = usage_counters.count + 1",
    )
    .bind(tenant.to_string())
    .bind(month)
    .bind(metric)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The tenant's `metric` in `month` (0 when nothing was counted).
pub async fn counter(
    store: &Store,
    tenant: TenantId,
    month: &str,
    metric: &str,
) -> StoreResult<i64> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT count FROM usage_counters WHERE tenant_id = $1 AND month = $2 AND metric = $3",
    )
    .bind(tenant.to_string())
    .bind(month)
    .bind(metric)
    .fetch_optional(store.reader())
    .await?;
    Ok(n.unwrap_or(0))
}

/// Every live tenant's counters in `month`: `(tenant, metric, count)`.
pub async fn month_counters(store: &Store, month: &str) -> StoreResult<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT c.tenant_id, c.metric, c.count FROM usage_counters c \
         JOIN tenants t ON t.id = c.tenant_id AND t.status <> 'deleted' \
         WHERE c.month = $1 ORDER BY c.tenant_id, c.metric",
    )
    .bind(month)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("tenant_id")?,
                r.try_get("metric")?,
                r.try_get("count")?,
            ))
        })
        .collect()
}

/// Every live tenant's users by status: `(tenant, status, count)`.
pub async fn users_by_tenant(store: &Store) -> StoreResult<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT u.tenant_id, u.status, COUNT(*) AS n FROM users u \
         JOIN tenants t ON t.id = u.tenant_id AND t.status <> 'deleted' \
         GROUP BY u.tenant_id, u.status ORDER BY u.tenant_id, u.status",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("tenant_id")?,
                r.try_get("status")?,
                r.try_get("n")?,
            ))
        })
        .collect()
}
