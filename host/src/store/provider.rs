//! SQL for Gatehouse as OIDC provider: registered apps (OAuth clients), signing keys and
//! authorization codes. Clients and keys are instance-wide (the SaaS vendor's); codes carry
//! the tenant of the user they were issued for.

use sqlx::Row;

use super::{parse_col, Store, StoreResult, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

#[derive(Debug, Clone)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<Vec<u8>>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    /// The app's modules, a JSON list of names.
    pub modules: String,
    /// The app may get refresh tokens (with the `offline_access` scope).
    pub refresh_tokens: bool,
    /// Lifetime of the app's access and ID tokens.
    pub access_token_ttl_secs: i64,
    /// The app may exchange its users' IdP ID tokens for Gatehouse tokens (RFC 8693).
    pub token_exchange: bool,
    /// The app's access tokens must be DPoP-bound (RFC 9449 `dpop_bound_access_tokens`).
    pub dpop_bound: bool,
    /// The public keys (a JWK set, JSON) of an app that authenticates by `private_key_jwt`.
    pub jwks: Option<String>,
    /// Where the app hears, by a logout token, that a session ended.
    pub backchannel_logout_uri: Option<String>,
    /// Where the app's directory lifecycle webhooks go, and their HMAC key, sealed.
    pub webhook_url: Option<String>,
    pub webhook_secret_sealed: Option<Vec<u8>>,
    /// Where a signed-in user opens the app (OIDC third-party-initiated login).
    pub initiate_login_uri: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

const CLIENT_COLUMNS: &str = "id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
    modules, refresh_tokens, access_token_ttl_secs, token_exchange, dpop_bound, jwks, \
    backchannel_logout_uri, webhook_url, webhook_secret_sealed, initiate_login_uri, created_at, \
    revoked_at";

fn client_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ClientRow> {
    Ok(ClientRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        redirect_uris: row.try_get("redirect_uris")?,
        post_logout_redirect_uris: row.try_get("post_logout_redirect_uris")?,
        modules: row.try_get("modules")?,
        refresh_tokens: row.try_get::<i64, _>("refresh_tokens")? != 0,
        access_token_ttl_secs: row.try_get("access_token_ttl_secs")?,
        token_exchange: row.try_get::<i64, _>("token_exchange")? != 0,
        dpop_bound: row.try_get::<i64, _>("dpop_bound")? != 0,
        jwks: row.try_get("jwks")?,
        backchannel_logout_uri: row.try_get("backchannel_logout_uri")?,
        webhook_url: row.try_get("webhook_url")?,
        webhook_secret_sealed: row.try_get("webhook_secret_sealed")?,
        initiate_login_uri: row.try_get("initiate_login_uri")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_micros),
    })
}

pub async fn insert_client(tx: &mut Tx, c: &ClientRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, post_logout_redirect_uris, modules, \
         refresh_tokens, access_token_ttl_secs, token_exchange, jwks, backchannel_logout_uri, \
         webhook_url, webhook_secret_sealed, initiate_login_uri, created_at, dpop_bound) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(c.secret_hash.clone())
    .bind(&c.redirect_uris)
    .bind(&c.post_logout_redirect_uris)
    .bind(&c.modules)
    .bind(i64::from(c.refresh_tokens))
    .bind(c.access_token_ttl_secs)
    .bind(i64::from(c.token_exchange))
    .bind(c.jwks.clone())
    .bind(c.backchannel_logout_uri.clone())
    .bind(c.webhook_url.clone())
    .bind(c.webhook_secret_sealed.clone())
    .bind(c.initiate_login_uri.clone())
    .bind(c.created_at.as_micros())
    .bind(i64::from(c.dpop_bound))
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn client(store: &Store, id: &str) -> StoreResult<Option<ClientRow>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(client_from_row).transpose()
}

pub async fn clients(store: &Store) -> StoreResult<Vec<ClientRow>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at");
    let rows = sqlx::query(&sql).fetch_all(store.reader()).await?;
    rows.iter().map(client_from_row).collect()
}

/// The module lists (JSON) of the live apps, oldest first.
pub async fn app_modules(store: &Store) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT modules FROM oauth_clients WHERE revoked_at IS NULL ORDER BY created_at, id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| Ok(r.try_get("modules")?)).collect()
}

pub async fn revoke_client(tx: &mut Tx, id: &str, now: Timestamp) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE oauth_clients SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    pub private_sealed: Vec<u8>,
    pub public_jwk: String,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

pub async fn keys(store: &Store) -> StoreResult<Vec<KeyRow>> {
    let rows = sqlx::query(
        "SELECT kid, private_sealed, public_jwk, created_at, retired_at FROM provider_keys ORDER BY created_at DESC",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                kid: r.try_get("kid")?,
                private_sealed: r.try_get("private_sealed")?,
                public_jwk: r.try_get("public_jwk")?,
                created_at: Timestamp::from_micros(r.try_get("created_at")?),
                retired_at: r
                    .try_get::<Option<i64>, _>("retired_at")?
                    .map(Timestamp::from_micros),
            })
        })
        .collect()
}

/// Retires the current signing key (if any) and makes `k` the signing key.
pub async fn rotate_key(tx: &mut Tx, k: &KeyRow, now: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE provider_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO provider_keys (kid, private_sealed, public_jwk, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&k.kid)
    .bind(k.private_sealed.clone())
    .bind(&k.public_jwk)
    .bind(k.created_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Drops keys retired before `before` (their tokens have all expired).
pub async fn drop_retired_keys(tx: &mut Tx, before: Timestamp) -> StoreResult<u64> {
    let done =
        sqlx::query("DELETE FROM provider_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(before.as_micros())
            .execute(tx.conn())
            .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub auth_time: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert_code(tx: &mut Tx, code_hash: &[u8], c: &CodeRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_codes (code_hash, tenant_id, client_id, user_id, session_id, redirect_uri, scope, nonce, code_challenge, auth_time, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(code_hash.to_vec())
    .bind(c.tenant_id.to_string())
    .bind(&c.client_id)
    .bind(c.user_id.to_string())
    .bind(c.session_id.to_string())
    .bind(&c.redirect_uri)
    .bind(&c.scope)
    .bind(c.nonce.clone())
    .bind(&c.code_challenge)
    .bind(c.auth_time.as_micros())
    .bind(c.expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Drops one user's unredeemed authorization codes (deactivation).
pub async fn delete_user_codes(tx: &mut Tx, tenant: TenantId, user: UserId) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM oauth_codes WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}

/// Drops every unredeemed code of `tenant` (suspension, deletion); returns how many.
pub async fn delete_codes(tx: &mut Tx, tenant: TenantId) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM oauth_codes WHERE tenant_id = $1")
        .bind(tenant.to_string())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}

/// Takes a code (read and delete): the hash of a 256-bit secret finds it, and it is used
/// at most once even when two token requests race.
pub async fn take_code(tx: &mut Tx, code_hash: &[u8]) -> StoreResult<Option<CodeRow>> {
    let row = sqlx::query(
        "SELECT tenant_id, client_id, user_id, session_id, redirect_uri, scope, nonce, code_challenge, auth_time, expires_at \
         FROM oauth_codes WHERE code_hash = $1",
    )
    .bind(code_hash.to_vec())
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let deleted = sqlx::query("DELETE FROM oauth_codes WHERE code_hash = $1")
        .bind(code_hash.to_vec())
        .execute(tx.conn())
        .await?;
    if deleted.rows_affected() != 1 {
        return Ok(None);
    }
    Ok(Some(CodeRow {
        tenant_id: parse_col(
            &row.try_get::<String, _>("tenant_id")?,
            "oauth_codes.tenant_id",
        )?,
        client_id: row.try_get("client_id")?,
        user_id: parse_col(&row.try_get::<String, _>("user_id")?, "oauth_codes.user_id")?,
        session_id: parse_col(
            &row.try_get::<String, _>("session_id")?,
            "oauth_codes.session_id",
        )?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        nonce: row.try_get("nonce")?,
        code_challenge: row.try_get("code_challenge")?,
        auth_time: Timestamp::from_micros(row.try_get("auth_time")?),
        expires_at: Timestamp::from_micros(row.try_get("expires_at")?),
    }))
}

/// Records a `private_key_jwt` assertion's `jti` as used by `client` until `until`; a
/// second use is a unique violation.
pub async fn use_client_assertion(
    store: &Store,
    client: &str,
    jti: &str,
    until: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(client)
    .bind(jti)
    .bind(until.as_micros())
    .execute(store.writer())
    .await
    .map_err(super::unique_as("client assertion already used"))?;
    Ok(())
}
