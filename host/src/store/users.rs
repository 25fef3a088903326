//! SQL for `users` and `user_identities`: the one insert of a user, the writes a sign-in, SCIM
//! and the owner set-up make, and deletion with everything that hangs off a user. Only
//! `directory` calls the writes here; reads are in `user_reads`. Every statement is scoped
//! by tenant.

use sqlx::Row;

use super::{in_list, parse_col, unique_as, Backend, StoreError, StoreResult, Tx, IN_CHUNK};
use crate::types::{text_enum, ConnectionId, TenantId, Timestamp, UserId};

text_enum! {
    /// Where a user is in its life.
    pub enum UserStatus {
        /// May sign in.
        Active = "active",
        /// Provisioned by SCIM and never signed in; the first SSO sign-in activates it.
        Pending = "pending",
        /// May not sign in; its sessions were ended. Only SCIM brings it back.
        Deactivated = "deactivated",
    }
}

text_enum! {
    /// Who manages a user's profile (see `directory::authority`).
    pub enum UserSource {
        /// Created just in time by an SSO sign-in, which refreshes the profile.
        Sso = "sso",
        /// Created or adopted by SCIM, which alone writes the profile.
        Scim = "scim",
        /// A local account (the tenant's owner), with a password.
        Local = "local",
    }
}

/// A user row.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    /// Custom profile attributes from the attribute mapper (JSON object text).
    pub custom_json: String,
    pub status: UserStatus,
    pub source: UserSource,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// What SCIM keeps of a user beyond the profile: the user as the client wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimIdentity {
    /// userName as the client wrote it.
    pub user_name: String,
    pub external_id: Option<String>,
    /// The other attributes the client wrote (JSON object text).
    pub json: String,
    /// Bumped on every change the SCIM representation shows (the ETag).
    pub version: i64,
}

/// A user that SCIM manages.
#[derive(Debug, Clone)]
pub struct ScimUserRow {
    pub user: UserRow,
    pub scim: ScimIdentity,
}

/// The columns of a [`UserRow`].
pub(super) const USER_COLUMNS: &str = "id, tenant_id, email, email_verified, display_name, given_name, family_name, locale, timezone, custom_json, status, source, created_at, updated_at, last_login_at";

/// The columns of a [`ScimUserRow`].
pub(super) const SCIM_USER_COLUMNS: &str = "id, tenant_id, email, email_verified, display_name, given_name, family_name, locale, timezone, custom_json, status, source, created_at, updated_at, last_login_at, scim_user_name, scim_external_id, scim_json, version";

pub(super) fn user_from_row(row: &sqlx::any::AnyRow) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: parse_col(&row.try_get::<String, _>("id")?, "users.id")?,
        tenant_id: parse_col(&row.try_get::<String, _>("tenant_id")?, "users.tenant_id")?,
        email: row.try_get("email")?,
        email_verified: row.try_get::<i64, _>("email_verified")? == 1,
        display_name: row.try_get("display_name")?,
        given_name: row.try_get("given_name")?,
        family_name: row.try_get("family_name")?,
        locale: row.try_get("locale")?,
        timezone: row.try_get("timezone")?,
        custom_json: row.try_get("custom_json")?,
        status: parse_col(&row.try_get::<String, _>("status")?, "users.status")?,
        source: parse_col(&row.try_get::<String, _>("source")?, "users.source")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
        last_login_at: row
            .try_get::<Option<i64>, _>("last_login_at")?
            .map(Timestamp::from_micros),
    })
}

pub(super) fn scim_user_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ScimUserRow> {
    Ok(ScimUserRow {
        user: user_from_row(row)?,
        scim: ScimIdentity {
            user_name: row.try_get("scim_user_name")?,
            external_id: row.try_get("scim_external_id")?,
            json: row.try_get("scim_json")?,
            version: row.try_get("version")?,
        },
    })
}

/// Which unique index a failed insert or update hit, as the client should hear it.
fn user_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let which = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
            StoreError::UniqueViolation(if which.contains("scim_user_name") {
                "userName is already taken".into()
            } else {
                "another user already has this email address".into()
            })
        }
        _ => StoreError::Database(e),
    }
}

/// Inserts a user, with its SCIM identity when SCIM creates it.
pub async fn insert_user(tx: &mut Tx, u: &UserRow, scim: Option<&ScimIdentity>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, email_verified, display_name, given_name, family_name, locale, timezone, \
         custom_json, status, source, created_at, updated_at, last_login_at, scim_user_name, scim_user_name_key, \
         scim_external_id, scim_json, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(u.id.to_string())
    .bind(u.tenant_id.to_string())
    .bind(&u.email)
    .bind(i64::from(u.email_verified))
    .bind(u.display_name.clone())
    .bind(u.given_name.clone())
    .bind(u.family_name.clone())
    .bind(u.locale.clone())
    .bind(u.timezone.clone())
    .bind(&u.custom_json)
    .bind(u.status.as_str())
    .bind(u.source.as_str())
    .bind(u.created_at.as_micros())
    .bind(u.updated_at.as_micros())
    .bind(u.last_login_at.map(Timestamp::as_micros))
    .bind(scim.map(|s| s.user_name.clone()))
    .bind(scim.map(|s| s.user_name.to_lowercase()))
    .bind(scim.and_then(|s| s.external_id.clone()))
    .bind(scim.map(|s| s.json.clone()))
    .bind(scim.map_or(1, |s| s.version))
    .execute(tx.conn())
    .await
    .map_err(user_conflict)?;
    Ok(())
}

/// Writes a SCIM user's profile, status, source and SCIM identity (also used to adopt a
/// user an SSO login created).
pub async fn update_scim_user(tx: &mut Tx, u: &ScimUserRow) -> StoreResult<()> {
    let (r, s) = (&u.user, &u.scim);
    sqlx::query(
        "UPDATE users SET email = $3, email_verified = $4, display_name = $5, given_name = $6, family_name = $7, \
         locale = $8, timezone = $9, status = $10, source = $11, updated_at = $12, scim_user_name = $13, \
         scim_user_name_key = $14, scim_external_id = $15, scim_json = $16, version = $17 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(r.tenant_id.to_string())
    .bind(r.id.to_string())
    .bind(&r.email)
    .bind(i64::from(r.email_verified))
    .bind(r.display_name.clone())
    .bind(r.given_name.clone())
    .bind(r.family_name.clone())
    .bind(r.locale.clone())
    .bind(r.timezone.clone())
    .bind(r.status.as_str())
    .bind(r.source.as_str())
    .bind(r.updated_at.as_micros())
    .bind(&s.user_name)
    .bind(s.user_name.to_lowercase())
    .bind(s.external_id.clone())
    .bind(&s.json)
    .bind(s.version)
    .execute(tx.conn())
    .await
    .map_err(user_conflict)?;
    Ok(())
}

/// Writes the profile an SSO sign-in refreshes. Status is never written back as read: the
/// only change a sign-in may make is pending → active, and that is guarded in the `WHERE`
/// of the statement itself, so a deactivation committed by SCIM is never undone. With
/// `signed_in_through` (connection, subject) it also stamps that identity's `last_login_at`
/// with the user's, in the same round trip.
pub async fn update_after_sign_in(
    tx: &mut Tx,
    u: &UserRow,
    signed_in_through: Option<(ConnectionId, &str)>,
) -> StoreResult<()> {
    const UPDATE: &str =
        "UPDATE users SET email = $3, email_verified = $4, display_name = $5, given_name = $6, family_name = $7, \
         locale = $8, timezone = $9, custom_json = $10, \
         status = CASE WHEN status = 'pending' AND $11 = 'active' THEN 'active' ELSE status END, \
         updated_at = $12, last_login_at = $13 \
         WHERE tenant_id = $1 AND id = $2";
    const TOUCH: &str = "UPDATE user_identities SET last_login_at = $13 \
         WHERE tenant_id = $1 AND connection_id = $14 AND subject = $15";
    let sql = match (signed_in_through, tx.backend()) {
        (None, _) => UPDATE.to_string(),
        (Some(_), Backend::Sqlite) => format!("{UPDATE}; {TOUCH}"),
        (Some(_), Backend::Postgres) => format!("WITH touched AS ({TOUCH}) {UPDATE}"),
    };
    let mut query = sqlx::query(&sql)
        .bind(u.tenant_id.to_string())
        .bind(u.id.to_string())
        .bind(&u.email)
        .bind(i64::from(u.email_verified))
        .bind(u.display_name.clone())
        .bind(u.given_name.clone())
        .bind(u.family_name.clone())
        .bind(u.locale.clone())
        .bind(u.timezone.clone())
        .bind(&u.custom_json)
        .bind(u.status.as_str())
        .bind(u.updated_at.as_micros())
        .bind(u.last_login_at.map(Timestamp::as_micros));
    if let Some((connection, subject)) = signed_in_through {
        query = query.bind(connection.to_string()).bind(subject);
    }
    query.execute(tx.conn()).await.map_err(user_conflict)?;
    Ok(())
}

pub async fn insert_identity(
    tx: &mut Tx,
    tenant: TenantId,
    connection: ConnectionId,
    subject: &str,
    user: UserId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO user_identities (tenant_id, connection_id, subject, user_id, created_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(tenant.to_string())
    .bind(connection.to_string())
    .bind(subject)
    .bind(user.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await
    .map_err(unique_as("this identity is already linked"))?;
    Ok(())
}

/// Makes `user` the tenant's owner with `password_hash`; a previous owner stops being one
/// and loses its password. Returns the previous owners (their sessions are the caller's to
/// end).
pub async fn set_owner(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    password_hash: &str,
    now: Timestamp,
) -> StoreResult<Vec<UserId>> {
    let previous = sqlx::query(
        "UPDATE users SET is_owner = 0, password_hash = NULL, password_changed_at = NULL, updated_at = $3 \
         WHERE tenant_id = $1 AND id <> $2 AND is_owner = 1 RETURNING id",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(now.as_micros())
    .fetch_all(tx.conn())
    .await?
    .iter()
    .map(|r| parse_col(&r.try_get::<String, _>("id")?, "users.id"))
    .collect::<StoreResult<Vec<UserId>>>()?;
    sqlx::query(
        "UPDATE users SET is_owner = 1, password_hash = $3, password_changed_at = $4, updated_at = $4 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(password_hash)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(previous)
}

/// Sets a local user's password; a pending user becomes active.
pub async fn set_password(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    password_hash: &str,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users SET password_hash = $3, password_changed_at = $4, updated_at = $4, \
         status = CASE WHEN status = 'pending' THEN 'active' ELSE status END \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(password_hash)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Sets a local user's status (an admin's deactivation or reactivation).
pub async fn set_local_status(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    status: UserStatus,
    now: Timestamp,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE users SET status = $3, updated_at = $4 \
         WHERE tenant_id = $1 AND id = $2 AND source = 'local' AND status <> $3",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(status.as_str())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Locks `user`'s row until the transaction ends (a no-op write), so decisions that count the
/// user's other rows (the session cap) are taken one at a time. SQLite's writer is already
/// alone; on PostgreSQL this is the row lock.
pub async fn lock(tx: &mut Tx, tenant: TenantId, user: UserId) -> StoreResult<()> {
    sqlx::query("UPDATE users SET status = status WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Deletes a user and every row that hangs off it (the audit log keeps the history).
pub async fn delete_user(tx: &mut Tx, tenant: TenantId, user: UserId) -> StoreResult<()> {
    for table in [
        "oauth_codes",
        "sessions",
        "user_identities",
        "group_members",
        "role_assignments",
        "mfa_challenges",
        "mfa_recovery_codes",
        "mfa_totp",
        "password_links",
    ] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE tenant_id = $1 AND user_id = $2"
        ))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(tx.conn())
        .await?;
    }
    sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Bumps the version of users whose representation changed indirectly (their groups).
pub async fn bump_versions(
    tx: &mut Tx,
    tenant: TenantId,
    users: &[UserId],
    now: Timestamp,
) -> StoreResult<()> {
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "UPDATE users SET version = version + 1, updated_at = ${} WHERE tenant_id = $1 AND id IN ({})",
            chunk.len() + 2,
            in_list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for user in chunk {
            query = query.bind(user.to_string());
        }
        query.bind(now.as_micros()).execute(tx.conn()).await?;
    }
    Ok(())
}
