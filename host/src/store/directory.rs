//! SQL for the directory: users, their IdP identities, groups, memberships and role
//! assignments. Every statement is scoped by tenant.

use sqlx::Row;

use super::{in_list_from, parse_col, unique_as, Backend, Store, StoreResult, Tx, IN_CHUNK};
use crate::types::{ConnectionId, GroupId, TenantId, Timestamp, UserId};

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
    pub custom_json: String,
    /// `active`, `pending` or `deactivated`.
    pub status: String,
    /// `sso`, `scim` or `local`.
    pub source: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

const USER_COLUMNS: &str = "id, tenant_id, email, email_verified, display_name, given_name, family_name, locale, timezone, custom_json, status, source, created_at, updated_at, last_login_at";

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
        status: row.try_get("status")?,
        source: row.try_get("source")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
        last_login_at: row
            .try_get::<Option<i64>, _>("last_login_at")?
            .map(Timestamp::from_micros),
    })
}

pub async fn insert_user(tx: &mut Tx, u: &UserRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, email_verified, display_name, given_name, family_name, locale, timezone, custom_json, status, source, created_at, updated_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
    .bind(&u.status)
    .bind(&u.source)
    .bind(u.created_at.as_micros())
    .bind(u.updated_at.as_micros())
    .bind(u.last_login_at.map(Timestamp::as_micros))
    .execute(tx.conn())
    .await
    .map_err(unique_as("a user with this email already exists"))?;
    Ok(())
}

/// Writes the profile an SSO sign-in refreshes. Status is never written back as read: the
/// only change a sign-in may make is pending → active, and that is guarded in the `WHERE`
/// of the statement itself, so a deactivation committed by SCIM is never undone. With
/// `signed_in_through` (connection, subject) it also stamps that identity's `last_login_at`
/// with the user's, in the same round trip.
pub async fn update_user(
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
        .bind(&u.status)
        .bind(u.updated_at.as_micros())
        .bind(u.last_login_at.map(Timestamp::as_micros));
    if let Some((connection, subject)) = signed_in_through {
        query = query.bind(connection.to_string()).bind(subject);
    }
    query
        .execute(tx.conn())
        .await
        .map_err(unique_as("a user with this email already exists"))?;
    Ok(())
}

pub async fn user(store: &Store, tenant: TenantId, id: UserId) -> StoreResult<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The user of `tenant` with this (lower-cased) email, locked until `tx` ends.
pub async fn user_by_email(
    tx: &mut Tx,
    tenant: TenantId,
    email: &str,
) -> StoreResult<Option<UserRow>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2{}",
        tx.lock_clause(None)
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(email)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The user a connection's subject is linked to, locked until `tx` ends.
pub async fn user_by_identity(
    tx: &mut Tx,
    tenant: TenantId,
    connection: ConnectionId,
    subject: &str,
) -> StoreResult<Option<UserRow>> {
    let sql = format!(
        "SELECT {} FROM users u JOIN user_identities i ON i.tenant_id = u.tenant_id AND i.user_id = u.id \
         WHERE i.tenant_id = $1 AND i.connection_id = $2 AND i.subject = $3{}",
        USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        tx.lock_clause(Some("u"))
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(connection.to_string())
        .bind(subject)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(user_from_row).transpose()
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

/// The id of the group with this IdP identifier, creating it (source `sso`) if needed.
/// Returns the id and the group's source.
pub async fn ensure_group(
    tx: &mut Tx,
    tenant: TenantId,
    external_id: &str,
    now: Timestamp,
) -> StoreResult<(GroupId, String)> {
    let found =
        sqlx::query("SELECT id, source FROM groups WHERE tenant_id = $1 AND external_id = $2")
            .bind(tenant.to_string())
            .bind(external_id)
            .fetch_optional(tx.conn())
            .await?;
    if let Some(row) = found {
        return Ok((
            parse_col(&row.try_get::<String, _>("id")?, "groups.id")?,
            row.try_get("source")?,
        ));
    }
    let id = GroupId::generate();
    sqlx::query(
        "INSERT INTO groups (id, tenant_id, external_id, display_name, source, created_at, updated_at) \
         VALUES ($1, $2, $3, $3, 'sso', $4, $4)",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(external_id)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok((id, "sso".to_string()))
}

/// The user's memberships in groups of source `sso`, as (group id, external id).
pub async fn sso_memberships(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Vec<(GroupId, String)>> {
    let rows = sqlx::query(
        "SELECT g.id, g.external_id FROM group_members m JOIN groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
         WHERE m.tenant_id = $1 AND m.user_id = $2 AND g.source = 'sso'",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                parse_col(&r.try_get::<String, _>("id")?, "groups.id")?,
                r.try_get("external_id")?,
            ))
        })
        .collect()
}

pub async fn add_member(
    tx: &mut Tx,
    tenant: TenantId,
    group: GroupId,
    user: UserId,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO group_members (tenant_id, group_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.to_string())
    .bind(group.to_string())
    .bind(user.to_string())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn remove_member(
    tx: &mut Tx,
    tenant: TenantId,
    group: GroupId,
    user: UserId,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3",
    )
    .bind(tenant.to_string())
    .bind(group.to_string())
    .bind(user.to_string())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Adds `users` to `group` in a few statements; only users that still exist are added, and
/// existing memberships are kept. Returns how many memberships were added.
pub async fn add_members(
    tx: &mut Tx,
    tenant: TenantId,
    group: GroupId,
    users: &[UserId],
) -> StoreResult<u64> {
    let mut added = 0;
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "INSERT INTO group_members (tenant_id, group_id, user_id) \
             SELECT $1, $2, id FROM users WHERE tenant_id = $1 AND id IN ({}) ON CONFLICT DO NOTHING",
            in_list_from(3, chunk.len())
        );
        let mut query = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(group.to_string());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        added += query.execute(tx.conn()).await?.rows_affected();
    }
    Ok(added)
}

/// Removes `users` from `group` in a few statements; returns how many memberships went.
pub async fn remove_members(
    tx: &mut Tx,
    tenant: TenantId,
    group: GroupId,
    users: &[UserId],
) -> StoreResult<u64> {
    let mut removed = 0;
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id IN ({})",
            in_list_from(3, chunk.len())
        );
        let mut query = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(group.to_string());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        removed += query.execute(tx.conn()).await?.rows_affected();
    }
    Ok(removed)
}

/// A role assignment: role, scope kind and scope name ('' for none).
pub type RoleRow = (String, String, String);

/// Where a role assignment came from; each source replaces only its own rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleSource {
    /// Derived at sign-in from the groups the login carried.
    Sso,
    /// Derived from the user's SCIM group memberships.
    Scim,
}

impl RoleSource {
    fn as_str(self) -> &'static str {
        match self {
            RoleSource::Sso => "sso",
            RoleSource::Scim => "scim",
        }
    }
}

/// The user's effective role assignments (every source, without duplicates).
pub async fn roles(tx: &mut Tx, tenant: TenantId, user: UserId) -> StoreResult<Vec<RoleRow>> {
    roles_with(tx.conn(), tenant, user).await
}

/// The role assignments one source gave the user.
pub async fn roles_from(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    source: RoleSource,
) -> StoreResult<Vec<RoleRow>> {
    let rows = sqlx::query(
        "SELECT role, scope_kind, scope_name FROM role_assignments WHERE tenant_id = $1 AND user_id = $2 \
         AND source = $3 ORDER BY role, scope_kind, scope_name",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(source.as_str())
    .fetch_all(tx.conn())
    .await?;
    rows.iter().map(role_from_row).collect()
}

fn role_from_row(r: &sqlx::any::AnyRow) -> StoreResult<RoleRow> {
    Ok((
        r.try_get("role")?,
        r.try_get("scope_kind")?,
        r.try_get("scope_name")?,
    ))
}

/// The user's role assignments, read outside a transaction (token issuance).
pub async fn roles_of(store: &Store, tenant: TenantId, user: UserId) -> StoreResult<Vec<RoleRow>> {
    roles_with(store.reader(), tenant, user).await
}

async fn roles_with<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Vec<RoleRow>> {
    let rows = sqlx::query(
        "SELECT DISTINCT role, scope_kind, scope_name FROM role_assignments WHERE tenant_id = $1 \
         AND user_id = $2 ORDER BY role, scope_kind, scope_name",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter().map(role_from_row).collect()
}

/// Replaces the role assignments `source` gave the user with `roles`.
pub async fn set_roles(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    source: RoleSource,
    roles: &[RoleRow],
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM role_assignments WHERE tenant_id = $1 AND user_id = $2 AND source = $3",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(source.as_str())
    .execute(tx.conn())
    .await?;
    for (role, kind, name) in roles {
        sqlx::query(
            "INSERT INTO role_assignments (tenant_id, user_id, role, scope_kind, scope_name, source, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(role)
        .bind(kind)
        .bind(name)
        .bind(source.as_str())
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Role assignments per multi-row insert (7 parameters each).
const ROLE_ROWS_PER_INSERT: usize = 100;

/// Replaces the role assignments `source` gave each of these users with its list, in a few
/// statements whatever the number of users.
pub async fn replace_roles(
    tx: &mut Tx,
    tenant: TenantId,
    source: RoleSource,
    roles: &[(UserId, Vec<RoleRow>)],
    now: Timestamp,
) -> StoreResult<()> {
    let users: Vec<UserId> = roles.iter().map(|(u, _)| *u).collect();
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "DELETE FROM role_assignments WHERE tenant_id = $1 AND source = $2 AND user_id IN ({})",
            in_list_from(3, chunk.len())
        );
        let mut query = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(source.as_str());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        query.execute(tx.conn()).await?;
    }
    let rows: Vec<(&UserId, &RoleRow)> = roles
        .iter()
        .flat_map(|(u, rs)| rs.iter().map(move |r| (u, r)))
        .collect();
    for chunk in rows.chunks(ROLE_ROWS_PER_INSERT) {
        let values = (0..chunk.len())
            .map(|i| format!("({})", in_list_from(1 + i * 7, 7)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO role_assignments (tenant_id, user_id, role, scope_kind, scope_name, source, created_at) \
             VALUES {values} ON CONFLICT DO NOTHING"
        );
        let mut query = sqlx::query(&sql);
        for (user, (role, kind, name)) in chunk {
            query = query
                .bind(tenant.to_string())
                .bind(user.to_string())
                .bind(role)
                .bind(kind)
                .bind(name)
                .bind(source.as_str())
                .bind(now.as_micros());
        }
        query.execute(tx.conn()).await?;
    }
    Ok(())
}

/// What a password sign-in needs: the user, its password hash and whether it is the owner.
pub struct PasswordCredential {
    pub user: UserRow,
    pub password_hash: Option<String>,
    pub is_owner: bool,
}

pub async fn password_credential(
    store: &Store,
    tenant: TenantId,
    email: &str,
) -> StoreResult<Option<PasswordCredential>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, password_hash, is_owner FROM users WHERE tenant_id = $1 AND email = $2"
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(email)
        .fetch_optional(store.reader())
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(PasswordCredential {
        user: user_from_row(&row)?,
        password_hash: row.try_get("password_hash")?,
        is_owner: row.try_get::<i64, _>("is_owner")? == 1,
    }))
}

/// Makes `user` the tenant's only owner, with this password hash.
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
        "UPDATE users SET is_owner = 0, password_hash = NULL, updated_at = $3 \
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
        "UPDATE users SET is_owner = 1, password_hash = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(password_hash)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(previous)
}
