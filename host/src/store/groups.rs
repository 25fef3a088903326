//! SQL for `groups`: groups SSO logins create by key, SCIM groups, adoption, deletion.
//! Only `directory` calls the writes here. Every statement is scoped by tenant.

use sqlx::Row;

use super::listing::{bind_params, where_clause, Col, Cond, TextOp};
use super::{parse_col, unique_as, Db, Store, StoreResult, Tx};
use crate::types::{text_enum, GroupId, TenantId, Timestamp};

text_enum! {
    /// Who manages a group.
    pub enum GroupSource {
        /// Created when a sign-in named it; its members follow each member's sign-ins.
        Sso = "sso",
        /// Created or adopted by SCIM, which alone changes its members.
        Scim = "scim",
        /// Created by an admin, who adds and removes its members (local users only).
        Manual = "manual",
    }
}

/// A group of any source, as the admin API lists it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Group)]
pub struct GroupRow {
    pub id: GroupId,
    /// The identifier the IdP (and the catalogue's group table) names the group by.
    pub external_id: String,
    pub display_name: String,
    pub source: GroupSource,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const ANY_GROUP_COLUMNS: &str = "id, external_id, display_name, source, created_at, updated_at";

fn any_group_from_row(row: &sqlx::any::AnyRow) -> StoreResult<GroupRow> {
    Ok(GroupRow {
        id: parse_col(&row.try_get::<String, _>("id")?, "groups.id")?,
        external_id: row.try_get("external_id")?,
        display_name: row.try_get("display_name")?,
        source: parse_col(&row.try_get::<String, _>("source")?, "groups.source")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
    })
}

/// One group of the tenant, any source.
pub async fn group(
    db: impl Into<Db<'_>>,
    tenant: TenantId,
    id: GroupId,
) -> StoreResult<Option<GroupRow>> {
    let sql = format!("SELECT {ANY_GROUP_COLUMNS} FROM groups WHERE tenant_id = $1 AND id = $2");
    let query = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id.to_string());
    let rows = db.into().fetch_all(query).await?;
    rows.first().map(any_group_from_row).transpose()
}

/// A page of the tenant's groups (any source) in id order, after `after`.
pub async fn list_groups(
    store: &Store,
    tenant: TenantId,
    after: Option<GroupId>,
    limit: usize,
) -> StoreResult<Vec<GroupRow>> {
    let sql = format!(
        "SELECT {ANY_GROUP_COLUMNS} FROM groups WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT {limit}"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(any_group_from_row).collect()
}

/// Creates an admin's group; a group with the same IdP identifier is a conflict.
pub async fn insert_manual_group(tx: &mut Tx, tenant: TenantId, g: &GroupRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO groups (id, tenant_id, external_id, display_name, source, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'manual', $5, $5)",
    )
    .bind(g.id.to_string())
    .bind(tenant.to_string())
    .bind(&g.external_id)
    .bind(&g.display_name)
    .bind(g.created_at.as_micros())
    .execute(tx.conn())
    .await
    .map_err(unique_as("a group with this IdP identifier already exists"))?;
    Ok(())
}

/// Renames an admin's group or changes its IdP identifier.
pub async fn update_manual_group(tx: &mut Tx, tenant: TenantId, g: &GroupRow) -> StoreResult<()> {
    sqlx::query(
        "UPDATE groups SET external_id = $3, display_name = $4, updated_at = $5 \
         WHERE tenant_id = $1 AND id = $2 AND source = 'manual'",
    )
    .bind(tenant.to_string())
    .bind(g.id.to_string())
    .bind(&g.external_id)
    .bind(&g.display_name)
    .bind(g.updated_at.as_micros())
    .execute(tx.conn())
    .await
    .map_err(unique_as("a group with this IdP identifier already exists"))?;
    Ok(())
}

/// A group that SCIM manages.
#[derive(Debug, Clone)]
pub struct ScimGroupRow {
    pub id: GroupId,
    pub tenant_id: TenantId,
    /// The identifier SSO logins name the group by: the SCIM externalId when the client
    /// gives one (Entra ID sends object ids in both), else the displayName (Okta).
    pub key: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub json: String,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const GROUP_COLUMNS: &str = "id, tenant_id, external_id, display_name, scim_external_id, scim_json, version, created_at, updated_at";

fn group_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ScimGroupRow> {
    Ok(ScimGroupRow {
        id: parse_col(&row.try_get::<String, _>("id")?, "groups.id")?,
        tenant_id: parse_col(&row.try_get::<String, _>("tenant_id")?, "groups.tenant_id")?,
        key: row.try_get("external_id")?,
        display_name: row.try_get("display_name")?,
        external_id: row.try_get("scim_external_id")?,
        json: row.try_get("scim_json")?,
        version: row.try_get("version")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
    })
}

/// The id of the group with this IdP identifier, creating it (source `sso`) if needed.
/// Returns the id and the group's source.
pub async fn ensure_group(
    tx: &mut Tx,
    tenant: TenantId,
    external_id: &str,
    now: Timestamp,
) -> StoreResult<(GroupId, GroupSource)> {
    let found =
        sqlx::query("SELECT id, source FROM groups WHERE tenant_id = $1 AND external_id = $2")
            .bind(tenant.to_string())
            .bind(external_id)
            .fetch_optional(tx.conn())
            .await?;
    if let Some(row) = found {
        return Ok((
            parse_col(&row.try_get::<String, _>("id")?, "groups.id")?,
            parse_col(&row.try_get::<String, _>("source")?, "groups.source")?,
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
    Ok((id, GroupSource::Sso))
}

pub async fn insert_scim_group(tx: &mut Tx, g: &ScimGroupRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO groups (id, tenant_id, external_id, display_name, source, created_at, updated_at, \
         scim_external_id, scim_json, version) VALUES ($1, $2, $3, $4, 'scim', $5, $6, $7, $8, $9)",
    )
    .bind(g.id.to_string())
    .bind(g.tenant_id.to_string())
    .bind(&g.key)
    .bind(&g.display_name)
    .bind(g.created_at.as_micros())
    .bind(g.updated_at.as_micros())
    .bind(g.external_id.clone())
    .bind(&g.json)
    .bind(g.version)
    .execute(tx.conn())
    .await
    .map_err(unique_as("a group with this externalId or displayName already exists"))?;
    Ok(())
}

/// Writes a SCIM group (also used to adopt a group SSO logins created: source becomes scim).
pub async fn update_scim_group(tx: &mut Tx, g: &ScimGroupRow) -> StoreResult<()> {
    sqlx::query(
        "UPDATE groups SET external_id = $3, display_name = $4, source = 'scim', updated_at = $5, \
         scim_external_id = $6, scim_json = $7, version = $8 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(g.tenant_id.to_string())
    .bind(g.id.to_string())
    .bind(&g.key)
    .bind(&g.display_name)
    .bind(g.updated_at.as_micros())
    .bind(g.external_id.clone())
    .bind(&g.json)
    .bind(g.version)
    .execute(tx.conn())
    .await
    .map_err(unique_as(
        "a group with this externalId or displayName already exists",
    ))?;
    Ok(())
}

/// Deletes a group and its memberships.
pub async fn delete_group(tx: &mut Tx, tenant: TenantId, group: GroupId) -> StoreResult<()> {
    sqlx::query("DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2")
        .bind(tenant.to_string())
        .bind(group.to_string())
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM groups WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(group.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The group SSO logins created under `key`, which a SCIM create adopts.
pub async fn sso_group_by_key(
    db: impl Into<Db<'_>>,
    tenant: TenantId,
    key: &str,
) -> StoreResult<Option<GroupId>> {
    let query = sqlx::query(
        "SELECT id FROM groups WHERE tenant_id = $1 AND external_id = $2 AND source = 'sso'",
    )
    .bind(tenant.to_string())
    .bind(key);
    let rows = db.into().fetch_all(query).await?;
    rows.first()
        .map(|r| parse_col(&r.try_get::<String, _>("id")?, "groups.id"))
        .transpose()
}

pub async fn scim_group_for_update(
    tx: &mut Tx,
    tenant: TenantId,
    id: &str,
) -> StoreResult<Option<ScimGroupRow>> {
    let sql = format!(
        "SELECT {GROUP_COLUMNS} FROM groups WHERE tenant_id = $1 AND id = $2 AND source = 'scim'{}",
        tx.lock_clause(None)
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(group_from_row).transpose()
}

/// SCIM groups of `tenant` meeting `cond`, in creation order, at most `limit` of them
/// after skipping `offset`.
pub async fn scim_groups(
    store: &Store,
    tenant: TenantId,
    cond: Option<&Cond>,
    offset: usize,
    limit: usize,
) -> StoreResult<Vec<ScimGroupRow>> {
    let (clause, params) = where_clause(cond, store.backend());
    let sql = format!(
        "SELECT {GROUP_COLUMNS} FROM groups WHERE tenant_id = $1 AND source = 'scim'{clause} \
         ORDER BY created_at, id LIMIT {} OFFSET {}",
        i64::try_from(limit).unwrap_or(i64::MAX),
        i64::try_from(offset).unwrap_or(i64::MAX)
    );
    let query = bind_params(sqlx::query(&sql).bind(tenant.to_string()), params);
    let rows = query.fetch_all(store.reader()).await?;
    rows.iter().map(group_from_row).collect()
}

/// How many SCIM groups `tenant` has.
pub async fn count_scim_groups(store: &Store, tenant: TenantId) -> StoreResult<u64> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM groups WHERE tenant_id = $1 AND source = 'scim'")
            .bind(tenant.to_string())
            .fetch_one(store.reader())
            .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The SCIM group with this id.
pub async fn scim_group(
    store: &Store,
    tenant: TenantId,
    id: &str,
) -> StoreResult<Option<ScimGroupRow>> {
    let by_id = Cond::Text {
        col: Col::Id,
        op: TextOp::Eq,
        value: id.to_string(),
    };
    Ok(scim_groups(store, tenant, Some(&by_id), 0, 1)
        .await?
        .into_iter()
        .next())
}
