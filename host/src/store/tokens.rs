//! SQL for tenant API tokens and operator tokens. Only hashes of the secret halves are stored.

use serde::Serialize;
use sqlx::Row;

use super::{parse_col, Store, StoreError, StoreResult, Tx};
use crate::rbac::Scope;
use crate::types::{TenantId, Timestamp, TokenId};

/// A tenant API token, without its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiTokenRecord {
    pub id: TokenId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Who created it: `operator:<id>` or `api_token:<id>`.
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// What authentication needs: the record, its secret hash and whether its tenant is serving.
pub struct ApiTokenCredential {
    pub record: ApiTokenRecord,
    pub secret_hash: Vec<u8>,
    pub tenant_status: super::tenants::TenantStatus,
}

const COLUMNS: &str = "t.id, t.tenant_id, t.name, t.scopes, t.created_by, t.created_at, t.expires_at, t.revoked_at, t.last_used_at";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<ApiTokenRecord> {
    let scopes = row
        .try_get::<String, _>("scopes")?
        .split_whitespace()
        .map(|s| parse_col::<Scope>(s, "api_tokens.scopes"))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(ApiTokenRecord {
        id: parse_col(&row.try_get::<String, _>("id")?, "api_tokens.id")?,
        tenant_id: parse_col(
            &row.try_get::<String, _>("tenant_id")?,
            "api_tokens.tenant_id",
        )?,
        name: row.try_get("name")?,
        scopes,
        created_by: row.try_get("created_by")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        expires_at: Timestamp::from_micros(row.try_get("expires_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_micros),
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(Timestamp::from_micros),
    })
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn insert_api_token(
    tx: &mut Tx,
    t: &ApiTokenRecord,
    secret_hash: &[u8],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, tenant_id, name, secret_hash, scopes, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(t.id.to_string())
    .bind(t.tenant_id.to_string())
    .bind(&t.name)
    .bind(secret_hash.to_vec())
    .bind(scopes_text(&t.scopes))
    .bind(&t.created_by)
    .bind(t.created_at.as_micros())
    .bind(t.expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Authentication lookup. The one place a tenant-owned row is found by its id alone: the
/// token id is the public half of the credential and the tenant is not yet known. The
/// caller must check the secret before trusting anything returned.
pub async fn api_token_credential(
    store: &Store,
    id: TokenId,
) -> StoreResult<Option<ApiTokenCredential>> {
    let sql = format!(
        "SELECT {COLUMNS}, t.secret_hash, n.status AS tenant_status \
         FROM api_tokens t JOIN tenants n ON n.id = t.tenant_id WHERE t.id = $1"
    );
    let Some(row) = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(ApiTokenCredential {
        record: from_row(&row)?,
        secret_hash: row.try_get("secret_hash")?,
        tenant_status: row
            .try_get::<String, _>("tenant_status")?
            .parse()
            .map_err(|_| StoreError::Corrupt("tenants.status".into()))?,
    }))
}

pub async fn list_api_tokens(store: &Store, tenant: TenantId) -> StoreResult<Vec<ApiTokenRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens t WHERE t.tenant_id = $1 ORDER BY t.id");
    let rows = sqlx::query(&sql)
        .bind(tenant.to_string())
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn api_token_for_update(
    tx: &mut Tx,
    tenant: TenantId,
    id: TokenId,
) -> StoreResult<Option<ApiTokenRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens t WHERE t.tenant_id = $1 AND t.id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn revoke_api_token(
    tx: &mut Tx,
    tenant: TenantId,
    id: TokenId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(now.as_micros())
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Brings a token's expiry forward to `until` (a rotation's overlap).
pub async fn shorten_api_token(
    tx: &mut Tx,
    tenant: TenantId,
    id: TokenId,
    until: Timestamp,
) -> StoreResult<()> {
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(until.as_micros())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn revoke_all_api_tokens(
    tx: &mut Tx,
    tenant: TenantId,
    now: Timestamp,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND revoked_at IS NULL",
    )
    .bind(now.as_micros())
    .bind(tenant.to_string())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// Records use, at most once per `min_interval_micros`, outside any transaction.
pub async fn touch_api_token(
    store: &Store,
    tenant: TenantId,
    id: TokenId,
    now: Timestamp,
    min_interval_micros: i64,
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE tenant_id = $2 AND id = $3 \
         AND (last_used_at IS NULL OR last_used_at < $4)",
    )
    .bind(now.as_micros())
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(now.as_micros() - min_interval_micros)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// An operator token, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorTokenRecord {
    pub id: TokenId,
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

pub async fn count_operator_tokens(tx: &mut Tx) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM operator_tokens")
        .fetch_one(tx.conn())
        .await?)
}

pub async fn insert_operator_token(
    tx: &mut Tx,
    t: &OperatorTokenRecord,
    secret_hash: &[u8],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO operator_tokens (id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(t.id.to_string())
    .bind(&t.name)
    .bind(secret_hash.to_vec())
    .bind(t.created_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn revoke_all_operator_tokens(tx: &mut Tx, now: Timestamp) -> StoreResult<u64> {
    let done = sqlx::query("UPDATE operator_tokens SET revoked_at = $1 WHERE revoked_at IS NULL")
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}

/// The secret hash of a live operator token.
pub async fn operator_token_hash(
    store: &Store,
    id: TokenId,
) -> StoreResult<Option<(OperatorTokenRecord, Vec<u8>)>> {
    let row = sqlx::query(
        "SELECT id, name, created_at, revoked_at, secret_hash FROM operator_tokens WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((
        OperatorTokenRecord {
            id: parse_col(&row.try_get::<String, _>("id")?, "operator_tokens.id")?,
            name: row.try_get("name")?,
            created_at: Timestamp::from_micros(row.try_get("created_at")?),
            revoked_at: row
                .try_get::<Option<i64>, _>("revoked_at")?
                .map(Timestamp::from_micros),
        },
        row.try_get("secret_hash")?,
    )))
}
