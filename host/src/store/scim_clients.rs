//! SQL for tenants' SCIM clients (their one writer): OAuth clients an IdP's SCIM job uses to
//! get short-lived SCIM access tokens with client credentials.

use serde::Serialize;
use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{TenantId, Timestamp, TokenId};

/// A SCIM client row, as the admin API shows it (no secret, no hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScimClientRecord {
    pub id: TokenId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: String,
    /// The registered public keys (`private_key_jwt`), when it uses them.
    pub jwks: Option<serde_json::Value>,
    pub token_ttl_secs: i64,
    pub created_by: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

const COLUMNS: &str =
    "id, tenant_id, name, secret_hash, jwks, token_ttl_secs, created_by, created_at, revoked_at";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<(ScimClientRecord, Option<Vec<u8>>)> {
    let jwks: Option<String> = r.try_get("jwks")?;
    Ok((
        ScimClientRecord {
            id: parse_col(&r.try_get::<String, _>("id")?, "scim_clients.id")?,
            tenant_id: parse_col(
                &r.try_get::<String, _>("tenant_id")?,
                "scim_clients.tenant_id",
            )?,
            name: r.try_get("name")?,
            jwks: jwks.and_then(|j| serde_json::from_str(&j).ok()),
            token_ttl_secs: r.try_get("token_ttl_secs")?,
            created_by: r.try_get("created_by")?,
            created_at: Timestamp::from_micros(r.try_get("created_at")?),
            revoked_at: r
                .try_get::<Option<i64>, _>("revoked_at")?
                .map(Timestamp::from_micros),
        },
        r.try_get("secret_hash")?,
    ))
}

pub async fn insert(
    tx: &mut Tx,
    c: &ScimClientRecord,
    secret_hash: Option<&[u8]>,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO scim_clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(c.id.to_string())
    .bind(c.tenant_id.to_string())
    .bind(&c.name)
    .bind(secret_hash.map(<[u8]>::to_vec))
    .bind(c.jwks.as_ref().map(|j| j.to_string()))
    .bind(c.token_ttl_secs)
    .bind(&c.created_by)
    .bind(c.created_at.as_micros())
    .bind(c.revoked_at.map(Timestamp::as_micros))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The tenant's clients, oldest first.
pub async fn list(store: &Store, tenant: TenantId) -> StoreResult<Vec<ScimClientRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM scim_clients WHERE tenant_id = $1 ORDER BY created_at, id"
    ))
    .bind(tenant.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| from_row(r).map(|(c, _)| c)).collect()
}

/// A client and its secret hash, by id alone: what its credentials name before any tenant
/// is known (as an API token is found by its id).
pub async fn credential(
    store: &Store,
    id: TokenId,
) -> StoreResult<Option<(ScimClientRecord, Option<Vec<u8>>)>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM scim_clients WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Revokes the tenant's client; false when it has no such live client.
pub async fn revoke(
    tx: &mut Tx,
    tenant: TenantId,
    id: TokenId,
    now: Timestamp,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE scim_clients SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 \
         AND revoked_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}
