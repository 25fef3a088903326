//! Reads of `users`: by id, email or linked identity (locked inside a write where the write
//! depends on them), the SCIM listing, and the password credential. Every statement is
//! scoped by tenant.

use sqlx::Row;

use super::listing::{bind_params, where_clause, Col, Cond, TextOp};
use super::users::{
    scim_user_from_row, user_from_row, ScimUserRow, UserRow, SCIM_USER_COLUMNS, USER_COLUMNS,
};
use super::{in_list, Db, Store, StoreResult, Tx, IN_CHUNK};
use crate::types::{ConnectionId, TenantId, Timestamp, UserId};

pub async fn user(store: &Store, tenant: TenantId, id: UserId) -> StoreResult<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The user and whether it is the tenant's owner.
pub async fn user_with_owner(
    store: &Store,
    tenant: TenantId,
    id: UserId,
) -> StoreResult<Option<(UserRow, bool)>> {
    let sql =
        format!("SELECT {USER_COLUMNS}, is_owner FROM users WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.map(|r| Ok((user_from_row(&r)?, r.try_get::<i64, _>("is_owner")? == 1)))
        .transpose()
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

/// What a password sign-in needs: the user, its password hash, when it was set and whether
/// the user is the owner.
pub struct PasswordCredential {
    pub user: UserRow,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<Timestamp>,
    pub is_owner: bool,
}

pub async fn password_credential(
    store: &Store,
    tenant: TenantId,
    email: &str,
) -> StoreResult<Option<PasswordCredential>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, password_hash, password_changed_at, is_owner FROM users WHERE tenant_id = $1 AND email = $2"
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
        password_changed_at: row
            .try_get::<Option<i64>, _>("password_changed_at")?
            .map(Timestamp::from_micros),
        is_owner: row.try_get::<i64, _>("is_owner")? == 1,
    }))
}

/// A SCIM-managed user, inside a write.
pub async fn scim_user_for_update(
    tx: &mut Tx,
    tenant: TenantId,
    id: &str,
) -> StoreResult<Option<ScimUserRow>> {
    let sql = format!(
        "SELECT {SCIM_USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2 AND scim_user_name IS NOT NULL{}",
        tx.lock_clause(None)
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(scim_user_from_row).transpose()
}

/// SCIM-managed users of `tenant` meeting `cond`, in creation order, at most `limit` of
/// them after skipping `offset`.
pub async fn scim_users(
    store: &Store,
    tenant: TenantId,
    cond: Option<&Cond>,
    offset: usize,
    limit: usize,
) -> StoreResult<Vec<ScimUserRow>> {
    let (clause, params) = where_clause(cond, store.backend());
    let sql = format!(
        "SELECT {SCIM_USER_COLUMNS} FROM users WHERE tenant_id = $1 AND scim_user_name IS NOT NULL{clause} \
         ORDER BY created_at, id LIMIT {} OFFSET {}",
        i64::try_from(limit).unwrap_or(i64::MAX),
        i64::try_from(offset).unwrap_or(i64::MAX)
    );
    let query = bind_params(sqlx::query(&sql).bind(tenant.to_string()), params);
    let rows = query.fetch_all(store.reader()).await?;
    rows.iter().map(scim_user_from_row).collect()
}

/// How many SCIM-managed users `tenant` has.
pub async fn count_scim_users(store: &Store, tenant: TenantId) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND scim_user_name IS NOT NULL",
    )
    .bind(tenant.to_string())
    .fetch_one(store.reader())
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The SCIM-managed user with this id.
pub async fn scim_user(
    store: &Store,
    tenant: TenantId,
    id: &str,
) -> StoreResult<Option<ScimUserRow>> {
    let by_id = Cond::Text {
        col: Col::Id,
        op: TextOp::Eq,
        value: id.to_string(),
    };
    Ok(scim_users(store, tenant, Some(&by_id), 0, 1)
        .await?
        .into_iter()
        .next())
}

/// The non-SCIM user with this (lower-cased) email, which a SCIM create may adopt, and
/// whether it is the tenant's owner.
pub async fn adoptable_user(
    tx: &mut Tx,
    tenant: TenantId,
    email: &str,
) -> StoreResult<Option<(UserRow, bool)>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, is_owner FROM users WHERE tenant_id = $1 AND email = $2 AND scim_user_name IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(email)
        .fetch_optional(tx.conn())
        .await?;
    row.map(|r| Ok((user_from_row(&r)?, r.try_get::<i64, _>("is_owner")? == 1)))
        .transpose()
}

/// The users with these ids (any source).
pub async fn users_by_ids(
    db: impl Into<Db<'_>>,
    tenant: TenantId,
    ids: &[UserId],
) -> StoreResult<Vec<UserRow>> {
    let mut db = db.into();
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id IN ({})",
            in_list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for r in db.fetch_all(query).await? {
            out.push(user_from_row(&r)?);
        }
    }
    Ok(out)
}
