//! SQL for `group_members`: adding and removing members one at a time (sign-in) or in
//! batches (SCIM), and the membership reads both render from. Only `directory` calls the
//! writes here. Every statement is scoped by tenant.

use sqlx::Row;

use super::{in_list, in_list_from, parse_col, Db, Store, StoreResult, Tx, IN_CHUNK};
use crate::types::{GroupId, TenantId, UserId};

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

/// The SCIM groups of each of `users`, as (user, group id, group display name).
pub async fn groups_of_users(
    store: &Store,
    tenant: TenantId,
    users: &[UserId],
) -> StoreResult<Vec<(UserId, GroupId, String)>> {
    let mut out = Vec::new();
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT m.user_id, g.id, g.display_name FROM group_members m JOIN groups g \
             ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
             WHERE m.tenant_id = $1 AND g.source = 'scim' AND m.user_id IN ({}) ORDER BY g.display_name, g.id",
            in_list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        for r in query.fetch_all(store.reader()).await? {
            out.push((
                parse_col(&r.try_get::<String, _>("user_id")?, "group_members.user_id")?,
                parse_col(&r.try_get::<String, _>("id")?, "groups.id")?,
                r.try_get("display_name")?,
            ));
        }
    }
    Ok(out)
}

/// The keys of the SCIM groups each of `users` belongs to (what their role mapping sees), as
/// (user, key) pairs.
pub async fn group_keys_of_users(
    db: impl Into<Db<'_>>,
    tenant: TenantId,
    users: &[UserId],
) -> StoreResult<Vec<(UserId, String)>> {
    let mut db = db.into();
    let mut out = Vec::new();
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT m.user_id, g.external_id FROM group_members m JOIN groups g \
             ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
             WHERE m.tenant_id = $1 AND g.source = 'scim' AND m.user_id IN ({}) ORDER BY g.external_id",
            in_list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for u in chunk {
            query = query.bind(u.to_string());
        }
        for r in db.fetch_all(query).await? {
            out.push((
                parse_col(&r.try_get::<String, _>("user_id")?, "group_members.user_id")?,
                r.try_get("external_id")?,
            ));
        }
    }
    Ok(out)
}

/// Members of each of `groups` as (group, user, user's display label).
pub async fn members_of_groups(
    store: &Store,
    tenant: TenantId,
    groups: &[GroupId],
) -> StoreResult<Vec<(GroupId, UserId, String)>> {
    let mut out = Vec::new();
    for chunk in groups.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT m.group_id, u.id, COALESCE(u.display_name, u.scim_user_name, u.email) AS label \
             FROM group_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id \
             WHERE m.tenant_id = $1 AND m.group_id IN ({}) ORDER BY u.created_at, u.id",
            in_list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for g in chunk {
            query = query.bind(g.to_string());
        }
        for r in query.fetch_all(store.reader()).await? {
            out.push((
                parse_col(
                    &r.try_get::<String, _>("group_id")?,
                    "group_members.group_id",
                )?,
                parse_col(&r.try_get::<String, _>("id")?, "users.id")?,
                r.try_get("label")?,
            ));
        }
    }
    Ok(out)
}

/// The IdP identifiers of the admin-made groups the user is in: what the catalogue's group
/// table turns into roles for them.
pub async fn manual_group_keys(
    store: &Store,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT g.external_id FROM group_members m JOIN groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
         WHERE m.tenant_id = $1 AND m.user_id = $2 AND g.source = 'manual' ORDER BY g.external_id",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| Ok(r.try_get("external_id")?)).collect()
}

/// The members of one group, as (user, display label).
pub async fn members(
    db: impl Into<Db<'_>>,
    tenant: TenantId,
    group: GroupId,
) -> StoreResult<Vec<(UserId, String)>> {
    let query = sqlx::query(
        "SELECT u.id, COALESCE(u.display_name, u.scim_user_name, u.email) AS label \
         FROM group_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id \
         WHERE m.tenant_id = $1 AND m.group_id = $2 ORDER BY u.created_at, u.id",
    )
    .bind(tenant.to_string())
    .bind(group.to_string());
    let rows = db.into().fetch_all(query).await?;
    rows.iter()
        .map(|r| {
            Ok((
                parse_col(&r.try_get::<String, _>("id")?, "users.id")?,
                r.try_get("label")?,
            ))
        })
        .collect()
}

/// A user of the tenant (any source) for group membership: found, with a display name.
pub async fn member_candidates(
    db: impl Into<Db<'_>>,
    tenant: TenantId,
    ids: &[String],
) -> StoreResult<Vec<(UserId, String)>> {
    let mut db = db.into();
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id, COALESCE(display_name, scim_user_name, email) AS label FROM users \
             WHERE tenant_id = $1 AND id IN ({})",
            in_list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for r in db.fetch_all(query).await? {
            out.push((
                parse_col(&r.try_get::<String, _>("id")?, "users.id")?,
                r.try_get("label")?,
            ));
        }
    }
    Ok(out)
}
