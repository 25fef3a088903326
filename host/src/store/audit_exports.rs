//! SQL for export jobs: the job (status, progress, its download link's hash and expiry) and
//! its gzip pieces, written one short transaction per piece and read one piece per query.

use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{SessionId, TenantId, Timestamp};

/// An export job as stored.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub format: String,
    pub filters_json: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Events written so far.
    pub events: i64,
    /// Matching events, counted when the job started.
    pub total: Option<i64>,
    pub bytes: i64,
    pub error: Option<String>,
    pub lease_until: Timestamp,
    pub link_hash: Option<Vec<u8>>,
    pub link_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub expires_at: Timestamp,
}

const COLUMNS: &str = "id, tenant_id, format, filters_json, status, events, total, bytes, error, \
    lease_until, link_hash, link_expires_at, created_at, finished_at, expires_at";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<ExportRow> {
    let at = |v: Option<i64>| v.map(Timestamp::from_micros);
    Ok(ExportRow {
        id: parse_col(&r.try_get::<String, _>("id")?, "audit_exports.id")?,
        tenant_id: parse_col(
            &r.try_get::<String, _>("tenant_id")?,
            "audit_exports.tenant_id",
        )?,
        format: r.try_get("format")?,
        filters_json: r.try_get("filters_json")?,
        status: r.try_get("status")?,
        events: r.try_get("events")?,
        total: r.try_get("total")?,
        bytes: r.try_get("bytes")?,
        error: r.try_get("error")?,
        lease_until: Timestamp::from_micros(r.try_get("lease_until")?),
        link_hash: r.try_get("link_hash")?,
        link_expires_at: at(r.try_get("link_expires_at")?),
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        finished_at: at(r.try_get("finished_at")?),
        expires_at: Timestamp::from_micros(r.try_get("expires_at")?),
    })
}

pub async fn insert(tx: &mut Tx, e: &ExportRow) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO audit_exports ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(e.id.to_string())
    .bind(e.tenant_id.to_string())
    .bind(&e.format)
    .bind(&e.filters_json)
    .bind(&e.status)
    .bind(e.events)
    .bind(e.total)
    .bind(e.bytes)
    .bind(&e.error)
    .bind(e.lease_until.as_micros())
    .bind(e.link_hash.clone())
    .bind(e.link_expires_at.map(Timestamp::as_micros))
    .bind(e.created_at.as_micros())
    .bind(e.finished_at.map(Timestamp::as_micros))
    .bind(e.expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// One of a tenant's jobs.
pub async fn get(store: &Store, tenant: TenantId, id: SessionId) -> StoreResult<Option<ExportRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_exports WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A tenant's jobs, newest first.
pub async fn list(store: &Store, tenant: TenantId, limit: i64) -> StoreResult<Vec<ExportRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_exports WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2"
    ))
    .bind(tenant.to_string())
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Appends piece `n` and moves the job's progress, in one short transaction.
pub async fn add_part(
    store: &Store,
    id: SessionId,
    n: i64,
    data: &[u8],
    events: i64,
    lease_until: Timestamp,
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    sqlx::query("INSERT INTO audit_export_parts (export_id, n, data) VALUES ($1, $2, $3)")
        .bind(id.to_string())
        .bind(n)
        .bind(data.to_vec())
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "UPDATE audit_exports SET events = $2, bytes = bytes + $3, lease_until = $4 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(events)
    .bind(i64::try_from(data.len()).unwrap_or(i64::MAX))
    .bind(lease_until.as_micros())
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

pub async fn set_total(store: &Store, id: SessionId, total: i64) -> StoreResult<()> {
    sqlx::query("UPDATE audit_exports SET total = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(total)
        .execute(store.writer())
        .await?;
    Ok(())
}

/// Ends a job: `done` (with its event count) or `failed` (with why).
pub async fn finish(
    store: &Store,
    id: SessionId,
    events: i64,
    error: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE audit_exports SET status = $2, events = $3, error = $4, finished_at = $5, \
         lease_until = 0 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(if error.is_some() { "failed" } else { "done" })
    .bind(events)
    .bind(error)
    .bind(now.as_micros())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Replaces the job's download link (only the newest works).
pub async fn set_link(
    store: &Store,
    id: SessionId,
    hash: &[u8],
    expires_at: Timestamp,
) -> StoreResult<()> {
    sqlx::query("UPDATE audit_exports SET link_hash = $2, link_expires_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(hash.to_vec())
        .bind(expires_at.as_micros())
        .execute(store.writer())
        .await?;
    Ok(())
}

/// Piece `n` of a job, if there is one.
pub async fn part(store: &Store, id: SessionId, n: i64) -> StoreResult<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT data FROM audit_export_parts WHERE export_id = $1 AND n = $2")
            .bind(id.to_string())
            .bind(n)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// Marks running jobs whose writer stopped renewing its lease as failed, and drops expired
/// jobs with their pieces (housekeeping; every tenant).
pub async fn clean_up(store: &Store, now: Timestamp) -> StoreResult<u64> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE audit_exports SET status = 'failed', error = 'the node writing it stopped; start a new export', \
         finished_at = $1 WHERE status = 'running' AND lease_until < $1",
    )
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "DELETE FROM audit_export_parts WHERE export_id IN \
         (SELECT id FROM audit_exports WHERE expires_at < $1)",
    )
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    let done = sqlx::query("DELETE FROM audit_exports WHERE expires_at < $1")
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
