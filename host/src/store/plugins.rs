//! SQL for the plugin registry (uploaded components and the built-ins), tenants' pipelines
//! and role catalogues. Operator-published plugins have no tenant; every other query is
//! scoped by a [`TenantId`].

use sqlx::Row;

use super::{parse_col, unique_as, Store, StoreResult, Tx};
use crate::types::{PluginId, TenantId, Timestamp};

/// Whose plugins a query sees or may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Operator-published plugins (built-ins included), visible to every tenant.
    Operator,
    /// One tenant's private plugins.
    Tenant(TenantId),
}

impl Owner {
    fn tenant(self) -> Option<String> {
        match self {
            Owner::Operator => None,
            Owner::Tenant(t) => Some(t.to_string()),
        }
    }
}

/// A plugin version as listed (the wasm bytes are fetched separately).
#[derive(Debug, Clone)]
pub struct PluginRecord {
    pub id: PluginId,
    pub owner: Owner,
    pub name: String,
    pub version: String,
    /// The WIT world name, e.g. `role-mapper`.
    pub world: String,
    pub sha256: String,
    pub size: i64,
    pub builtin: bool,
    pub description: Option<String>,
    /// The uploader's actor id (an operator or API token id), or `builtin`.
    pub uploaded_by: String,
    pub created_at: Timestamp,
}

const COLUMNS: &str =
    "id, tenant_id, name, version, world, sha256, size, builtin, description, uploaded_by, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<PluginRecord> {
    let tenant: Option<String> = row.try_get("tenant_id")?;
    Ok(PluginRecord {
        id: parse_col(&row.try_get::<String, _>("id")?, "plugins.id")?,
        owner: match tenant {
            None => Owner::Operator,
            Some(t) => Owner::Tenant(parse_col(&t, "plugins.tenant_id")?),
        },
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        world: row.try_get("world")?,
        sha256: row.try_get("sha256")?,
        size: row.try_get("size")?,
        builtin: row.try_get::<i64, _>("builtin")? == 1,
        description: row.try_get("description")?,
        uploaded_by: row.try_get("uploaded_by")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
    })
}

/// The visibility condition for `viewer`, with the tenant id as `$2`.
fn visible(viewer: Owner) -> &'static str {
    match viewer {
        Owner::Operator => "tenant_id IS NULL",
        Owner::Tenant(_) => "(tenant_id IS NULL OR tenant_id = $2)",
    }
}

pub async fn insert(tx: &mut Tx, p: &PluginRecord, wasm: &[u8]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO plugins (id, tenant_id, name, version, world, sha256, size, wasm, builtin, \
         description, uploaded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(p.id.to_string())
    .bind(p.owner.tenant())
    .bind(&p.name)
    .bind(&p.version)
    .bind(&p.world)
    .bind(&p.sha256)
    .bind(p.size)
    .bind(wasm.to_vec())
    .bind(i64::from(p.builtin))
    .bind(p.description.clone())
    .bind(&p.uploaded_by)
    .bind(p.created_at.as_micros())
    .execute(tx.conn())
    .await
    .map_err(unique_as(&format!(
        "a plugin named `{}` with version `{}` already exists",
        p.name, p.version
    )))?;
    Ok(())
}

/// Plugins `viewer` can see, newest first within a name.
pub async fn list(store: &Store, viewer: Owner) -> StoreResult<Vec<PluginRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM plugins WHERE {} ORDER BY name, created_at DESC",
        visible(viewer).replace("$2", "$1")
    );
    let mut q = sqlx::query(&sql);
    if let Some(t) = viewer.tenant() {
        q = q.bind(t);
    }
    q.fetch_all(store.reader())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// One plugin `viewer` can see.
pub async fn get(store: &Store, viewer: Owner, id: PluginId) -> StoreResult<Option<PluginRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM plugins WHERE id = $1 AND {}",
        visible(viewer)
    );
    let mut q = sqlx::query(&sql).bind(id.to_string());
    if let Some(t) = viewer.tenant() {
        q = q.bind(t);
    }
    q.fetch_optional(store.reader())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The component bytes of a plugin `viewer` can see.
pub async fn wasm(store: &Store, viewer: Owner, id: PluginId) -> StoreResult<Option<Vec<u8>>> {
    let sql = format!(
        "SELECT wasm FROM plugins WHERE id = $1 AND {}",
        visible(viewer)
    );
    let mut q = sqlx::query(&sql).bind(id.to_string());
    if let Some(t) = viewer.tenant() {
        q = q.bind(t);
    }
    Ok(q.fetch_optional(store.reader())
        .await?
        .map(|r| r.try_get("wasm"))
        .transpose()?)
}

/// An operator-published plugin by name and version (how built-ins are found at start).
pub async fn find_published(
    store: &Store,
    name: &str,
    version: &str,
) -> StoreResult<Option<PluginRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM plugins WHERE tenant_id IS NULL AND name = $1 AND version = $2"
    );
    sqlx::query(&sql)
        .bind(name)
        .bind(version)
        .fetch_optional(store.reader())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Deletes a plugin owned exactly by `owner`; false when there is none.
pub async fn delete(tx: &mut Tx, owner: Owner, id: PluginId) -> StoreResult<bool> {
    let result = match owner.tenant() {
        None => {
            sqlx::query("DELETE FROM plugins WHERE id = $1 AND tenant_id IS NULL AND builtin = 0")
                .bind(id.to_string())
                .execute(tx.conn())
                .await?
        }
        Some(t) => {
            sqlx::query("DELETE FROM plugins WHERE id = $1 AND tenant_id = $2")
                .bind(id.to_string())
                .bind(t)
                .execute(tx.conn())
                .await?
        }
    };
    Ok(result.rows_affected() == 1)
}

/// One stage of a tenant's pipeline as stored.
#[derive(Debug, Clone)]
pub struct StageRecord {
    /// The WIT world name of the stage.
    pub stage: String,
    pub plugin_id: PluginId,
    /// The stage's configuration, sealed with the tenant's data key.
    pub config_sealed: Option<Vec<u8>>,
    pub updated_at: Timestamp,
}

pub async fn stages(store: &Store, tenant: TenantId) -> StoreResult<Vec<StageRecord>> {
    sqlx::query(
        "SELECT stage, plugin_id, config_sealed, updated_at FROM pipeline_stages \
         WHERE tenant_id = $1 ORDER BY stage",
    )
    .bind(tenant.to_string())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        Ok(StageRecord {
            stage: r.try_get("stage")?,
            plugin_id: parse_col(
                &r.try_get::<String, _>("plugin_id")?,
                "pipeline_stages.plugin_id",
            )?,
            config_sealed: r.try_get("config_sealed")?,
            updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
        })
    })
    .collect()
}

/// The tenant's role catalogue as JSON text, if it set one.
pub async fn catalogue(store: &Store, tenant: TenantId) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT catalogue FROM tenant_catalogues WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .fetch_optional(store.reader())
            .await?,
    )
}

pub async fn put_catalogue(
    tx: &mut Tx,
    tenant: TenantId,
    json: &str,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tenant_catalogues (tenant_id, catalogue, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id) DO UPDATE SET catalogue = excluded.catalogue, \
         updated_at = excluded.updated_at",
    )
    .bind(tenant.to_string())
    .bind(json)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}
