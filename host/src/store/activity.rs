//! SQL for a tenant's recent activity by day, as the console's overview charts it: sign-ins,
//! refused sign-ins by reason, and SCIM writes, counted from the audit log (a refusal event
//! also carries the repeats it stood for, see `audit::failures`). Reads one tenant's events
//! in a time range through the `(tenant_id, occurred_at)` index.

use sqlx::Row;

use super::{Backend, Store, StoreResult};
use crate::types::{TenantId, Timestamp};

/// One day's count of one kind: `day` is days since the Unix epoch (UTC); `reason` is set
/// for `login.failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCount {
    pub day: i64,
    pub action: String,
    pub reason: Option<String>,
    pub count: i64,
}

/// The counts of `actions` in the tenant's log from `since` on, by day, action and (for a
/// refusal) reason.
pub async fn daily(
    store: &Store,
    tenant: TenantId,
    since: Timestamp,
    actions: &[&str],
) -> StoreResult<Vec<DailyCount>> {
    let (reason, repeats) = match store.backend() {
        Backend::Sqlite => (
            "json_extract(after_json, '$.reason')",
            "COALESCE(json_extract(after_json, '$.repeats_before'), 0)",
        ),
        Backend::Postgres => (
            "(after_json::jsonb ->> 'reason')",
            "COALESCE((after_json::jsonb ->> 'repeats_before')::BIGINT, 0)",
        ),
    };
    let placeholders: Vec<String> = (0..actions.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "SELECT occurred_at / 86400000000 AS day, action, \
         CASE WHEN action = 'login.failed' THEN {reason} END AS reason, \
         CAST(SUM(1 + CASE WHEN action = 'login.failed' THEN {repeats} ELSE 0 END) AS BIGINT) AS n \
         FROM audit_events WHERE tenant_id = $1 AND occurred_at >= $2 AND action IN ({}) \
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(since.as_micros());
    for action in actions {
        query = query.bind(*action);
    }
    let rows = query.fetch_all(store.reader()).await?;
    rows.iter()
        .map(|r| {
            Ok(DailyCount {
                day: r.try_get("day")?,
                action: r.try_get("action")?,
                reason: r.try_get("reason")?,
                count: r.try_get("n")?,
            })
        })
        .collect()
}
