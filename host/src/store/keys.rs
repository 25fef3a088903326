//! SQL for wrapped per-tenant data keys and instance-wide settings.

use sqlx::Row;

use super::{Store, StoreResult, Tx};
use crate::types::{TenantId, Timestamp};

/// A tenant's data key as stored: wrapped by the master key named by `master_key_id`.
pub struct WrappedKeyRecord {
    pub master_key_id: String,
    pub wrapped_key: Vec<u8>,
}

pub async fn insert_tenant_key(
    tx: &mut Tx,
    tenant: TenantId,
    key: &WrappedKeyRecord,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tenant_keys (tenant_id, master_key_id, wrapped_key, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant.to_string())
    .bind(&key.master_key_id)
    .bind(key.wrapped_key.clone())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn tenant_key(store: &Store, tenant: TenantId) -> StoreResult<Option<WrappedKeyRecord>> {
    let row =
        sqlx::query("SELECT master_key_id, wrapped_key FROM tenant_keys WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(store.reader())
            .await?;
    row.map(|r| {
        Ok(WrappedKeyRecord {
            master_key_id: r.try_get("master_key_id")?,
            wrapped_key: r.try_get("wrapped_key")?,
        })
    })
    .transpose()
}

/// Crypto-shredding: without its data key, nothing the tenant stored encrypted can be read.
pub async fn delete_tenant_key(tx: &mut Tx, tenant: TenantId) -> StoreResult<()> {
    sqlx::query("DELETE FROM tenant_keys WHERE tenant_id = $1")
        .bind(tenant.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn setting(store: &Store, key: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// Sets `key` only if it has no value yet; returns the value now stored.
pub async fn setting_insert_once(tx: &mut Tx, key: &str, value: &str) -> StoreResult<String> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(tx.conn())
        .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(tx.conn())
            .await?,
    )
}
