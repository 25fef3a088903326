//! SQL for `role_assignments`: each source (sign-in, SCIM groups, an admin) replaces only its own
//! rows; a user's effective roles are the union. Only `directory` calls the writes here.
//! Every statement is scoped by tenant.

use sqlx::Row;

use super::{in_list_from, Store, StoreResult, Tx, IN_CHUNK};
use crate::types::{text_enum, TenantId, Timestamp, UserId};

/// A role assignment: role, scope kind and scope name ('' for none).
pub type RoleRow = (String, String, String);

text_enum! {
    /// Where a role assignment came from; each source replaces only its own rows.
    pub enum RoleSource {
        /// Derived at sign-in from the groups the login carried.
        Sso = "sso",
        /// Derived from the user's SCIM group memberships.
        Scim = "scim",
        /// Assigned by an admin.
        Manual = "manual",
    }
}

/// A role assignment with its source.
pub type SourcedRole = (RoleRow, RoleSource);

/// Every role assignment of the user, with its source: what permissions compile from.
pub async fn assignments_of(
    store: &Store,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Vec<SourcedRole>> {
    let rows = sqlx::query(
        "SELECT role, scope_kind, scope_name, source FROM role_assignments WHERE tenant_id = $1 \
         AND user_id = $2 ORDER BY source, role, scope_kind, scope_name",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            let source: String = r.try_get("source")?;
            let source = source
                .parse()
                .map_err(|_| super::StoreError::Corrupt(format!("role source {source}")))?;
            Ok((role_from_row(r)?, source))
        })
        .collect()
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
