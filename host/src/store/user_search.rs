//! The admin's user search: by status, source, role, group and text (email or name), in id
//! order with keyset pagination, and the roles of a page of users in one statement per
//! chunk. Every statement is scoped by tenant.

use std::collections::HashMap;

use sqlx::Row;

use super::listing::like_literal;
use super::roles::RoleRow;
use super::users::{user_from_row, UserRow, UserSource, UserStatus, USER_COLUMNS};
use super::{in_list_from, Store, StoreResult, IN_CHUNK};
use crate::types::{GroupId, TenantId, UserId};

/// What to look for; every part that is set must hold.
#[derive(Debug, Default)]
pub struct UserQuery {
    pub status: Option<UserStatus>,
    pub source: Option<UserSource>,
    /// Holds this role from any source.
    pub role: Option<String>,
    /// Is a member of this group.
    pub group: Option<GroupId>,
    /// Email or display name contains this, case-insensitively.
    pub text: Option<String>,
    /// Users after this id (the previous page's last).
    pub after: Option<UserId>,
    pub limit: usize,
}

pub async fn search(store: &Store, tenant: TenantId, q: &UserQuery) -> StoreResult<Vec<UserRow>> {
    let mut sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1");
    let mut params: Vec<String> = vec![tenant.to_string()];
    let next = |value: String, params: &mut Vec<String>| {
        params.push(value);
        format!("${}", params.len())
    };
    if let Some(status) = q.status {
        let p = next(status.as_str().to_string(), &mut params);
        sql.push_str(&format!(" AND status = {p}"));
    }
    if let Some(source) = q.source {
        let p = next(source.as_str().to_string(), &mut params);
        sql.push_str(&format!(" AND source = {p}"));
    }
    if let Some(role) = &q.role {
        let p = next(role.clone(), &mut params);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM role_assignments r WHERE r.tenant_id = users.tenant_id \
             AND r.user_id = users.id AND r.role = {p})"
        ));
    }
    if let Some(group) = q.group {
        let p = next(group.to_string(), &mut params);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM group_members m WHERE m.tenant_id = users.tenant_id \
             AND m.user_id = users.id AND m.group_id = {p})"
        ));
    }
    if let Some(text) = &q.text {
        let pattern = format!("%{}%", like_literal(&text.to_lowercase()));
        let p = next(pattern, &mut params);
        sql.push_str(&format!(
            " AND (LOWER(email) LIKE {p} ESCAPE '\\' OR LOWER(COALESCE(display_name, '')) LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some(after) = q.after {
        let p = next(after.to_string(), &mut params);
        sql.push_str(&format!(" AND id > {p}"));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", q.limit));
    let mut query = sqlx::query(&sql);
    for p in &params {
        query = query.bind(p);
    }
    let rows = query.fetch_all(store.reader()).await?;
    rows.iter().map(user_from_row).collect()
}

/// Each user's effective role assignments (every source, without duplicates).
pub async fn roles_of_users(
    store: &Store,
    tenant: TenantId,
    users: &[UserId],
) -> StoreResult<HashMap<UserId, Vec<RoleRow>>> {
    let mut out: HashMap<UserId, Vec<RoleRow>> = HashMap::new();
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT DISTINCT user_id, role, scope_kind, scope_name FROM role_assignments \
             WHERE tenant_id = $1 AND user_id IN ({}) ORDER BY user_id, role, scope_kind, scope_name",
            in_list_from(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        for row in query.fetch_all(store.reader()).await? {
            let user: String = row.try_get("user_id")?;
            let Ok(user) = user.parse::<UserId>() else {
                continue;
            };
            out.entry(user).or_default().push((
                row.try_get("role")?,
                row.try_get("scope_kind")?,
                row.try_get("scope_name")?,
            ));
        }
    }
    Ok(out)
}
