//! SQL for audit streams: their settings and sealed secret, and each one's cursor and
//! health. A delivery worker claims a due stream with a lease (so two nodes do not send the
//! same batch at once), then moves its cursor or records the failure.

use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{StreamId, TenantId, Timestamp};

/// A stream as stored.
#[derive(Debug, Clone)]
pub struct StreamRow {
    pub id: StreamId,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: String,
    pub settings_json: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub paused: bool,
    /// The last event delivered.
    pub cursor_seq: i64,
    /// Failed attempts since the last delivery.
    pub failures: i64,
    pub next_attempt_at: Timestamp,
    pub lease_until: Timestamp,
    pub last_delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const COLUMNS: &str =
    "id, tenant_id, name, kind, settings_json, secret_sealed, paused, cursor_seq, \
    failures, next_attempt_at, lease_until, last_delivered_at, last_error, last_error_at, \
    created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<StreamRow> {
    let at = |v: Option<i64>| v.map(Timestamp::from_micros);
    Ok(StreamRow {
        id: parse_col(&r.try_get::<String, _>("id")?, "audit_streams.id")?,
        tenant_id: parse_col(
            &r.try_get::<String, _>("tenant_id")?,
            "audit_streams.tenant_id",
        )?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        settings_json: r.try_get("settings_json")?,
        secret_sealed: r.try_get("secret_sealed")?,
        paused: r.try_get::<i64, _>("paused")? != 0,
        cursor_seq: r.try_get("cursor_seq")?,
        failures: r.try_get("failures")?,
        next_attempt_at: Timestamp::from_micros(r.try_get("next_attempt_at")?),
        lease_until: Timestamp::from_micros(r.try_get("lease_until")?),
        last_delivered_at: at(r.try_get("last_delivered_at")?),
        last_error: r.try_get("last_error")?,
        last_error_at: at(r.try_get("last_error_at")?),
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
    })
}

pub async fn insert(tx: &mut Tx, s: &StreamRow) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO audit_streams ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    ))
    .bind(s.id.to_string())
    .bind(s.tenant_id.to_string())
    .bind(&s.name)
    .bind(&s.kind)
    .bind(&s.settings_json)
    .bind(s.secret_sealed.clone())
    .bind(i64::from(s.paused))
    .bind(s.cursor_seq)
    .bind(s.failures)
    .bind(s.next_attempt_at.as_micros())
    .bind(s.lease_until.as_micros())
    .bind(s.last_delivered_at.map(Timestamp::as_micros))
    .bind(&s.last_error)
    .bind(s.last_error_at.map(Timestamp::as_micros))
    .bind(s.created_at.as_micros())
    .bind(s.updated_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A tenant's streams, oldest first.
pub async fn list(store: &Store, tenant: TenantId) -> StoreResult<Vec<StreamRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_streams WHERE tenant_id = $1 ORDER BY created_at, id"
    ))
    .bind(tenant.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// A tenant's streams (or every tenant's, oldest first), each with its backlog: the events
/// its chain recorded after the last one delivered.
pub async fn with_backlog(
    store: &Store,
    tenant: Option<TenantId>,
) -> StoreResult<Vec<(StreamRow, i64)>> {
    let only = if tenant.is_some() {
        "WHERE tenant_id = $1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS}, COALESCE((SELECT h.last_seq FROM audit_heads h \
         WHERE h.tenant_id = audit_streams.tenant_id), 0) - cursor_seq AS backlog \
         FROM audit_streams {only} ORDER BY created_at, id"
    );
    let mut query = sqlx::query(&sql);
    if let Some(t) = tenant {
        query = query.bind(t.to_string());
    }
    let rows = query.fetch_all(store.reader()).await?;
    rows.iter()
        .map(|r| Ok((from_row(r)?, r.try_get::<i64, _>("backlog")?.max(0))))
        .collect()
}

/// One of a tenant's streams, locked for a change on PostgreSQL.
pub async fn get_for_update(
    tx: &mut Tx,
    tenant: TenantId,
    id: StreamId,
) -> StoreResult<Option<StreamRow>> {
    let lock = tx.lock_clause(None);
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_streams WHERE tenant_id = $1 AND id = $2{lock}"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Writes a stream's settings, secret and pause (a change by an admin).
pub async fn update(tx: &mut Tx, s: &StreamRow) -> StoreResult<()> {
    sqlx::query(
        "UPDATE audit_streams SET name = $3, settings_json = $4, secret_sealed = $5, paused = $6, \
         failures = $7, next_attempt_at = $8, updated_at = $9 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(s.tenant_id.to_string())
    .bind(s.id.to_string())
    .bind(&s.name)
    .bind(&s.settings_json)
    .bind(s.secret_sealed.clone())
    .bind(i64::from(s.paused))
    .bind(s.failures)
    .bind(s.next_attempt_at.as_micros())
    .bind(s.updated_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, tenant: TenantId, id: StreamId) -> StoreResult<()> {
    sqlx::query("DELETE FROM audit_streams WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Deletes every stream of a tenant (the tenant is deleted); returns how many.
pub async fn delete_all(tx: &mut Tx, tenant: TenantId) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM audit_streams WHERE tenant_id = $1")
        .bind(tenant.to_string())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}

/// Pauses every running stream of a tenant (audit streaming was turned off for it); returns
/// how many.
pub async fn pause_all(tx: &mut Tx, tenant: TenantId, now: Timestamp) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE audit_streams SET paused = 1, updated_at = $2 WHERE tenant_id = $1 AND paused = 0",
    )
    .bind(tenant.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// Streams due for an attempt at `now` (not paused, not leased), every tenant's.
pub async fn due(store: &Store, now: Timestamp, limit: i64) -> StoreResult<Vec<StreamRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_streams WHERE paused = 0 AND next_attempt_at <= $1 \
         AND lease_until <= $1 ORDER BY next_attempt_at LIMIT $2"
    ))
    .bind(now.as_micros())
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Claims a due stream until `lease_until`; false when another worker took it first.
pub async fn claim(store: &Store, s: &StreamRow, lease_until: Timestamp) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE audit_streams SET lease_until = $3 WHERE id = $1 AND lease_until = $2")
            .bind(s.id.to_string())
            .bind(s.lease_until.as_micros())
            .bind(lease_until.as_micros())
            .execute(store.writer())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a delivery up to `cursor_seq` and releases the lease.
pub async fn delivered(
    store: &Store,
    id: StreamId,
    cursor_seq: i64,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE audit_streams SET cursor_seq = $2, failures = 0, next_attempt_at = $3, \
         lease_until = 0, last_delivered_at = $3 WHERE id = $1 AND cursor_seq < $2",
    )
    .bind(id.to_string())
    .bind(cursor_seq)
    .bind(now.as_micros())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Records a failed attempt, the next at `retry_at`, and releases the lease.
pub async fn failed(
    store: &Store,
    id: StreamId,
    error: &str,
    retry_at: Timestamp,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE audit_streams SET failures = failures + 1, next_attempt_at = $3, lease_until = 0, \
         last_error = $2, last_error_at = $4 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(error)
    .bind(retry_at.as_micros())
    .bind(now.as_micros())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Releases the lease without a change (nothing to send).
pub async fn idle(store: &Store, id: StreamId, next: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE audit_streams SET lease_until = 0, next_attempt_at = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(next.as_micros())
        .execute(store.writer())
        .await?;
    Ok(())
}
