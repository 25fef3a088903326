//! SQL for SSO connections, login states (between the redirect out and the answer in) and
//! the SAML replay cache. Settings are stored as JSON text; the `sso` module parses them.

use sqlx::Row;

use super::{parse_col, unique_as, Store, StoreResult, Tx};
use crate::types::{ConnectionId, TenantId, Timestamp};

/// A connection row as stored.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub name: String,
    pub protocol: String,
    pub status: String,
    pub settings: String,
    pub secrets_sealed: Option<Vec<u8>>,
    /// JSON: just-in-time creation and the default role.
    pub provisioning: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, tenant_id, name, protocol, status, settings, secrets_sealed, \
    provisioning, created_at, updated_at";

/// A connection from a row holding the connection's columns.
pub(super) fn connection_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ConnectionRow> {
    Ok(ConnectionRow {
        id: parse_col(&row.try_get::<String, _>("id")?, "sso_connections.id")?,
        tenant_id: parse_col(
            &row.try_get::<String, _>("tenant_id")?,
            "sso_connections.tenant_id",
        )?,
        name: row.try_get("name")?,
        protocol: row.try_get("protocol")?,
        status: row.try_get("status")?,
        settings: row.try_get("settings")?,
        secrets_sealed: row.try_get("secrets_sealed")?,
        provisioning: row.try_get("provisioning")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
    })
}

pub async fn insert_connection(tx: &mut Tx, c: &ConnectionRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sso_connections (id, tenant_id, name, protocol, status, settings, secrets_sealed, \
         provisioning, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(c.id.to_string())
    .bind(c.tenant_id.to_string())
    .bind(&c.name)
    .bind(&c.protocol)
    .bind(&c.status)
    .bind(&c.settings)
    .bind(c.secrets_sealed.clone())
    .bind(&c.provisioning)
    .bind(c.created_at.as_micros())
    .bind(c.updated_at.as_micros())
    .execute(tx.conn())
    .await
    .map_err(unique_as("a connection with this name already exists"))?;
    Ok(())
}

pub async fn update_connection(tx: &mut Tx, c: &ConnectionRow) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sso_connections SET name = $3, status = $4, settings = $5, secrets_sealed = $6, \
         provisioning = $7, updated_at = $8 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(c.tenant_id.to_string())
    .bind(c.id.to_string())
    .bind(&c.name)
    .bind(&c.status)
    .bind(&c.settings)
    .bind(c.secrets_sealed.clone())
    .bind(&c.provisioning)
    .bind(c.updated_at.as_micros())
    .execute(tx.conn())
    .await
    .map_err(unique_as("a connection with this name already exists"))?;
    Ok(())
}

pub async fn delete_connection(tx: &mut Tx, tenant: TenantId, id: ConnectionId) -> StoreResult<()> {
    for sql in [
        "DELETE FROM sso_login_states WHERE tenant_id = $1 AND connection_id = $2",
        "DELETE FROM sso_connections WHERE tenant_id = $1 AND id = $2",
    ] {
        sqlx::query(sql)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

pub async fn connection(
    store: &Store,
    tenant: TenantId,
    id: ConnectionId,
) -> StoreResult<Option<ConnectionRow>> {
    connection_with(store.reader(), tenant, id).await
}

pub async fn connection_for_update(
    tx: &mut Tx,
    tenant: TenantId,
    id: ConnectionId,
) -> StoreResult<Option<ConnectionRow>> {
    connection_with(tx.conn(), tenant, id).await
}

async fn connection_with<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    tenant: TenantId,
    id: ConnectionId,
) -> StoreResult<Option<ConnectionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM sso_connections WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(connection_from_row).transpose()
}

pub async fn connections(store: &Store, tenant: TenantId) -> StoreResult<Vec<ConnectionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM sso_connections WHERE tenant_id = $1 ORDER BY name");
    let rows = sqlx::query(&sql)
        .bind(tenant.to_string())
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(connection_from_row).collect()
}

/// A sign-in waiting for the IdP's answer.
#[derive(Debug, Clone)]
pub struct LoginStateRow {
    /// The opaque value sent as RelayState / state.
    pub id: String,
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub request_id: String,
    pub secrets_sealed: Option<Vec<u8>>,
    pub return_to: Option<String>,
    /// SHA-256 of the browser-binding cookie, when the sign-in was started in a browser.
    pub binding_hash: Option<Vec<u8>>,
    pub test_mode: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert_login_state(tx: &mut Tx, s: &LoginStateRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sso_login_states (id, tenant_id, connection_id, request_id, secrets_sealed, return_to, binding_hash, test_mode, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&s.id)
    .bind(s.tenant_id.to_string())
    .bind(s.connection_id.to_string())
    .bind(&s.request_id)
    .bind(s.secrets_sealed.clone())
    .bind(s.return_to.clone())
    .bind(s.binding_hash.clone())
    .bind(i64::from(s.test_mode))
    .bind(s.created_at.as_micros())
    .bind(s.expires_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Takes (reads and deletes) a login state of `tenant`, so it is used at most once.
pub async fn take_login_state(
    tx: &mut Tx,
    tenant: TenantId,
    id: &str,
) -> StoreResult<Option<LoginStateRow>> {
    let row = sqlx::query(
        "SELECT id, tenant_id, connection_id, request_id, secrets_sealed, return_to, binding_hash, test_mode, created_at, expires_at \
         FROM sso_login_states WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.to_string())
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let deleted = sqlx::query("DELETE FROM sso_login_states WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id)
        .execute(tx.conn())
        .await?;
    // Another request took it between the read and the delete: it is theirs, used once.
    if deleted.rows_affected() != 1 {
        return Ok(None);
    }
    Ok(Some(LoginStateRow {
        id: row.try_get("id")?,
        tenant_id: tenant,
        connection_id: parse_col(
            &row.try_get::<String, _>("connection_id")?,
            "sso_login_states.connection_id",
        )?,
        request_id: row.try_get("request_id")?,
        secrets_sealed: row.try_get("secrets_sealed")?,
        return_to: row.try_get("return_to")?,
        binding_hash: row.try_get("binding_hash")?,
        test_mode: row.try_get::<i64, _>("test_mode")? == 1,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        expires_at: Timestamp::from_micros(row.try_get("expires_at")?),
    }))
}

/// Records a used assertion id; a second insert is a unique violation (a replay). One
/// statement committed on its own (autocommit on the write connection), not a transaction:
/// the id stays used whatever happens to the sign-in afterwards, and it costs one round
/// trip instead of three (BEGIN, INSERT, COMMIT).
pub async fn insert_replay(
    store: &Store,
    tenant: TenantId,
    connection: ConnectionId,
    assertion_id: &str,
    until: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO saml_replay (tenant_id, connection_id, assertion_id, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant.to_string())
    .bind(connection.to_string())
    .bind(assertion_id)
    .bind(until.as_micros())
    .execute(store.writer())
    .await
    .map_err(unique_as("assertion already used"))?;
    Ok(())
}

/// Drops expired login states, replay entries, authorization codes, second-factor
/// challenges, password links and week-old delivered mail (every tenant: housekeeping that reads no data).
pub async fn purge_expired(tx: &mut Tx, now: Timestamp) -> StoreResult<u64> {
    // A session that times out ends for the apps too: their notices go before it does.
    super::outbox::enqueue_logout_notices(tx, &super::session_apps::Ending::Expired, now).await?;
    let mut n = super::session_apps::forget_expired(tx, now).await?;
    for sql in [
        "DELETE FROM sso_login_states WHERE expires_at < $1",
        "DELETE FROM saml_replay WHERE expires_at < $1",
        "DELETE FROM oauth_codes WHERE expires_at < $1",
        "DELETE FROM oauth_refresh_tokens WHERE expires_at < $1",
        "DELETE FROM oauth_revoked_access_tokens WHERE expires_at < $1",
        "DELETE FROM oauth_client_assertions WHERE expires_at < $1",
        "DELETE FROM mfa_challenges WHERE expires_at < $1",
        "DELETE FROM password_links WHERE expires_at < $1",
        // Delivered mail is kept a week for the operator's view, then dropped.
        "DELETE FROM outbox WHERE delivered_at < $1 - 604800000000",
        // Sessions past either timeout are dead whatever else holds; the codes that named
        // them (60 s) went just before.
        "DELETE FROM sessions WHERE (idle_expires_at < $1 OR absolute_expires_at < $1) \
         AND id NOT IN (SELECT session_id FROM oauth_codes)",
    ] {
        n += sqlx::query(sql)
            .bind(now.as_micros())
            .execute(tx.conn())
            .await?
            .rows_affected();
    }
    Ok(n)
}
