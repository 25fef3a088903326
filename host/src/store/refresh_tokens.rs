//! SQL for the tokens an app manages: refresh tokens (stored as SHA-256, one row per token,
//! grouped in families) and the access tokens revoked before their expiry (by `jti`). The
//! hash of a 256-bit secret finds a refresh token, as it does a code; everything after that
//! takes the tenant. Expired rows go with the other expired sign-in state
//! (`sso::purge_expired`).

use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

/// A refresh token's row (without its hash).
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub family_id: String,
    pub tenant_id: TenantId,
    pub client_id: String,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub scope: String,
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// The JWK thumbprint of the DPoP key the token is bound to, if any (RFC 9449 §5).
    pub dpop_jkt: Option<String>,
}

const COLUMNS: &str = "family_id, tenant_id, client_id, user_id, session_id, scope, auth_time, \
    created_at, expires_at, used_at, revoked_at, dpop_jkt";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<RefreshRow> {
    let at = |name: &str| -> StoreResult<Option<Timestamp>> {
        Ok(row
            .try_get::<Option<i64>, _>(name)?
            .map(Timestamp::from_micros))
    };
    Ok(RefreshRow {
        family_id: row.try_get("family_id")?,
        tenant_id: parse_col(&row.try_get::<String, _>("tenant_id")?, "refresh.tenant_id")?,
        client_id: row.try_get("client_id")?,
        user_id: parse_col(&row.try_get::<String, _>("user_id")?, "refresh.user_id")?,
        session_id: parse_col(
            &row.try_get::<String, _>("session_id")?,
            "refresh.session_id",
        )?,
        scope: row.try_get("scope")?,
        auth_time: Timestamp::from_micros(row.try_get("auth_time")?),
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        expires_at: Timestamp::from_micros(row.try_get("expires_at")?),
        used_at: at("used_at")?,
        revoked_at: at("revoked_at")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
    })
}

pub async fn insert(tx: &mut Tx, token_hash: &[u8], r: &RefreshRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_refresh_tokens (token_hash, family_id, tenant_id, client_id, user_id, \
         session_id, scope, auth_time, created_at, expires_at, dpop_jkt) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(token_hash.to_vec())
    .bind(&r.family_id)
    .bind(r.tenant_id.to_string())
    .bind(&r.client_id)
    .bind(r.user_id.to_string())
    .bind(r.session_id.to_string())
    .bind(&r.scope)
    .bind(r.auth_time.as_micros())
    .bind(r.created_at.as_micros())
    .bind(r.expires_at.as_micros())
    .bind(&r.dpop_jkt)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The refresh token with this hash, whatever its state.
pub async fn find(store: &Store, token_hash: &[u8]) -> StoreResult<Option<RefreshRow>> {
    let sql = format!("SELECT {COLUMNS} FROM oauth_refresh_tokens WHERE token_hash = $1");
    let row = sqlx::query(&sql)
        .bind(token_hash.to_vec())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Marks `client`'s unused, unrevoked refresh token used, in one statement, so that of two
/// racing requests one gets it; `None` when there is no such token.
pub async fn take(
    tx: &mut Tx,
    token_hash: &[u8],
    client: &str,
    now: Timestamp,
) -> StoreResult<Option<RefreshRow>> {
    let sql = format!(
        "UPDATE oauth_refresh_tokens SET used_at = $3 \
         WHERE token_hash = $1 AND client_id = $2 AND used_at IS NULL AND revoked_at IS NULL \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(token_hash.to_vec())
        .bind(client)
        .bind(now.as_micros())
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Revokes every token of a family still open; returns how many.
pub async fn revoke_family(
    tx: &mut Tx,
    tenant: TenantId,
    family: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE oauth_refresh_tokens SET revoked_at = $3 \
         WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(family)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// Records an access token revoked before its expiry (a second revocation is a no-op).
pub async fn revoke_access(
    tx: &mut Tx,
    tenant: TenantId,
    jti: &str,
    expires_at: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_revoked_access_tokens (jti, tenant_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(tenant.to_string())
    .bind(expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Whether the access token `jti` of `tenant` was revoked.
pub async fn access_revoked(store: &Store, tenant: TenantId, jti: &str) -> StoreResult<bool> {
    let row = sqlx::query(
        "SELECT 1 AS hit FROM oauth_revoked_access_tokens WHERE jti = $1 AND tenant_id = $2",
    )
    .bind(jti)
    .bind(tenant.to_string())
    .fetch_optional(store.reader())
    .await?;
    Ok(row.is_some())
}
