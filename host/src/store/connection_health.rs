//! SQL for connection health (`connection_health`): the metadata refresh state of SAML
//! connections made from a metadata URL, and the certificate-expiry thresholds already warned
//! about. Reads for one connection take its [`TenantId`]; the housekeeping scans (which
//! connections are due a refresh, every connection for the expiry check) run across tenants
//! and hand back each row's tenant.

use sqlx::Row;

use super::sso::ConnectionRow;
use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{ConnectionId, TenantId, Timestamp};

/// A connection's health as stored; all empty for a connection never checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthRow {
    pub metadata_checked_at: Option<Timestamp>,
    pub metadata_changed_at: Option<Timestamp>,
    pub metadata_error: Option<String>,
    pub metadata_error_at: Option<Timestamp>,
    pub next_refresh_at: Option<Timestamp>,
    /// The smallest expiry threshold (days) warned about for the IdP's certificates.
    pub idp_warned_days: Option<i64>,
    /// The same for the SP's own certificates.
    pub sp_warned_days: Option<i64>,
}

fn at(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_micros)
}

fn health(r: &sqlx::any::AnyRow) -> StoreResult<HealthRow> {
    Ok(HealthRow {
        metadata_checked_at: at(r.try_get("metadata_checked_at")?),
        metadata_changed_at: at(r.try_get("metadata_changed_at")?),
        metadata_error: r.try_get("metadata_error")?,
        metadata_error_at: at(r.try_get("metadata_error_at")?),
        next_refresh_at: at(r.try_get("next_refresh_at")?),
        idp_warned_days: r.try_get("idp_warned_days")?,
        sp_warned_days: r.try_get("sp_warned_days")?,
    })
}

const HEALTH_COLUMNS: &str = "metadata_checked_at, metadata_changed_at, metadata_error, \
    metadata_error_at, next_refresh_at, idp_warned_days, sp_warned_days";

pub async fn get(store: &Store, tenant: TenantId, id: ConnectionId) -> StoreResult<HealthRow> {
    let row = sqlx::query(&format!(
        "SELECT {HEALTH_COLUMNS} FROM connection_health \
         WHERE tenant_id = $1 AND connection_id = $2"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.map(|r| health(&r))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Writes a connection's whole health row.
pub async fn put(
    tx: &mut Tx,
    tenant: TenantId,
    id: ConnectionId,
    h: &HealthRow,
) -> StoreResult<()> {
    let micros = |t: Option<Timestamp>| t.map(|t| t.as_micros());
    sqlx::query(
        "INSERT INTO connection_health (tenant_id, connection_id, metadata_checked_at, \
         metadata_changed_at, metadata_error, metadata_error_at, next_refresh_at, \
         idp_warned_days, sp_warned_days) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (tenant_id, connection_id) DO UPDATE SET \
         metadata_checked_at = excluded.metadata_checked_at, \
         metadata_changed_at = excluded.metadata_changed_at, \
         metadata_error = excluded.metadata_error, \
         metadata_error_at = excluded.metadata_error_at, \
         next_refresh_at = excluded.next_refresh_at, \
         idp_warned_days = excluded.idp_warned_days, sp_warned_days = excluded.sp_warned_days",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(micros(h.metadata_checked_at))
    .bind(micros(h.metadata_changed_at))
    .bind(h.metadata_error.clone())
    .bind(micros(h.metadata_error_at))
    .bind(micros(h.next_refresh_at))
    .bind(h.idp_warned_days)
    .bind(h.sp_warned_days)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// SAML connections made from a metadata URL that are due a fetch: their next refresh time
/// has come, or they were never refreshed and last changed before `unchanged_since`.
pub async fn due(
    store: &Store,
    now: Timestamp,
    unchanged_since: Timestamp,
    limit: i64,
) -> StoreResult<Vec<(TenantId, ConnectionId)>> {
    sqlx::query(
        "SELECT c.tenant_id, c.id FROM sso_connections c LEFT JOIN connection_health h \
         ON h.tenant_id = c.tenant_id AND h.connection_id = c.id \
         WHERE c.protocol = 'saml' AND c.settings LIKE '%\"metadata_url\":%' \
         AND ((h.next_refresh_at IS NULL AND c.updated_at <= $2) OR h.next_refresh_at <= $1) \
         ORDER BY c.tenant_id, c.id LIMIT $3",
    )
    .bind(now.as_micros())
    .bind(unchanged_since.as_micros())
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        Ok((
            parse_col(
                &r.try_get::<String, _>("tenant_id")?,
                "sso_connections.tenant_id",
            )?,
            parse_col(&r.try_get::<String, _>("id")?, "sso_connections.id")?,
        ))
    })
    .collect()
}

/// Every connection of every tenant after `after` (in tenant, id order), at most `limit`,
/// with its health: the expiry check's scan.
pub async fn page(
    store: &Store,
    after: Option<(TenantId, ConnectionId)>,
    limit: i64,
) -> StoreResult<Vec<(ConnectionRow, HealthRow)>> {
    let (t, c) = after
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .unwrap_or_default();
    let rows = sqlx::query(&format!(
        "SELECT c.id, c.tenant_id, c.name, c.protocol, c.status, c.settings, \
         c.secrets_sealed, c.provisioning, c.created_at, c.updated_at, {} \
         FROM sso_connections c LEFT JOIN connection_health h \
         ON h.tenant_id = c.tenant_id AND h.connection_id = c.id \
         WHERE c.tenant_id > $1 OR (c.tenant_id = $1 AND c.id > $2) \
         ORDER BY c.tenant_id, c.id LIMIT $3",
        HEALTH_COLUMNS
            .split(", ")
            .map(|col| format!("h.{col}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(t)
    .bind(c)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((super::sso::connection_from_row(r)?, health(r)?)))
        .collect()
}
