//! SQL for SCIM provisioning: users and groups with their SCIM identity (userName,
//! externalId, the stored resource, a version), memberships, and the lifecycle writes a
//! deprovisioning needs (sessions revoked, pending authorization codes dropped, a user
//! deleted with everything hanging off it). Every statement is scoped by tenant.

use sqlx::Row;

use super::directory::UserRow;
use super::{in_list, parse_col, Backend, Db, Store, StoreError, StoreResult, Tx, IN_CHUNK};
use crate::types::{GroupId, TenantId, Timestamp, UserId};

/// A user that SCIM manages.
#[derive(Debug, Clone)]
pub struct ScimUserRow {
    pub user: UserRow,
    /// userName as the client wrote it.
    pub user_name: String,
    pub external_id: Option<String>,
    /// The other attributes the client wrote (JSON object text).
    pub json: String,
    pub version: i64,
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

/// A column a listing condition can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Id,
    /// A user's userName, lower-cased.
    UserNameKey,
    ExternalId,
    /// A group's displayName, ASCII-lower-cased.
    GroupNameLower,
    CreatedAt,
    UpdatedAt,
}

/// A text comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Eq,
    Ne,
    Contains,
    StartsWith,
    EndsWith,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A time comparison (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOp {
    Ge,
    Le,
}

/// Which rows a listing reads (see `scim::prefilter`, which makes these from filters): a
/// superset of what the filter matches, which is then applied exactly to what is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Text {
        col: Col,
        op: TextOp,
        value: String,
    },
    Time {
        col: Col,
        op: TimeOp,
        micros: i64,
    },
    NotNull(Col),
    /// The user is deactivated (`true`) or not.
    Deactivated(bool),
    /// The client's stored JSON, ASCII-lower-cased, contains this text.
    JsonHas(String),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

/// A bound value of a rendered condition.
enum Param {
    Text(String),
    Int(i64),
}

fn column(col: Col) -> &'static str {
    match col {
        Col::Id => "id",
        Col::UserNameKey => "scim_user_name_key",
        Col::ExternalId => "scim_external_id",
        Col::GroupNameLower => "LOWER(display_name)",
        Col::CreatedAt => "created_at",
        Col::UpdatedAt => "updated_at",
    }
}

/// `value` as a LIKE pattern matching itself literally (`\` escapes).
fn like_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// SQL for `cond`, binding its values into `params` (placeholders after `first_param`).
fn render(cond: &Cond, backend: Backend, params: &mut Vec<Param>, first_param: usize) -> String {
    let mut bind = |p: Param| {
        params.push(p);
        format!("${}", first_param + params.len() - 1)
    };
    match cond {
        Cond::Text { col, op, value } => {
            let c = column(*col);
            // Range comparisons in code-point order, as the in-memory filter compares.
            let ordered = match backend {
                Backend::Postgres => format!("{c} COLLATE \"C\""),
                Backend::Sqlite => c.to_string(),
            };
            let like = |pattern: String| format!("{c} LIKE {pattern} ESCAPE '\\'");
            match op {
                TextOp::Eq => format!("{c} = {}", bind(Param::Text(value.clone()))),
                TextOp::Ne => format!(
                    "({c} IS NULL OR {c} <> {})",
                    bind(Param::Text(value.clone()))
                ),
                TextOp::Contains => like(bind(Param::Text(format!("%{}%", like_literal(value))))),
                TextOp::StartsWith => like(bind(Param::Text(format!("{}%", like_literal(value))))),
                TextOp::EndsWith => like(bind(Param::Text(format!("%{}", like_literal(value))))),
                TextOp::Gt => format!("{ordered} > {}", bind(Param::Text(value.clone()))),
                TextOp::Ge => format!("{ordered} >= {}", bind(Param::Text(value.clone()))),
                TextOp::Lt => format!("{ordered} < {}", bind(Param::Text(value.clone()))),
                TextOp::Le => format!("{ordered} <= {}", bind(Param::Text(value.clone()))),
            }
        }
        Cond::Time { col, op, micros } => {
            let sign = match op {
                TimeOp::Ge => ">=",
                TimeOp::Le => "<=",
            };
            format!("{} {sign} {}", column(*col), bind(Param::Int(*micros)))
        }
        Cond::NotNull(col) => format!("{} IS NOT NULL", column(*col)),
        Cond::Deactivated(true) => "status = 'deactivated'".into(),
        Cond::Deactivated(false) => "status <> 'deactivated'".into(),
        Cond::JsonHas(text) => format!(
            "LOWER(scim_json) LIKE {} ESCAPE '\\'",
            bind(Param::Text(format!("%{}%", like_literal(text))))
        ),
        Cond::And(a, b) => {
            let a = render(a, backend, params, first_param);
            let b = render(b, backend, params, first_param);
            format!("({a} AND {b})")
        }
        Cond::Or(a, b) => {
            let a = render(a, backend, params, first_param);
            let b = render(b, backend, params, first_param);
            format!("({a} OR {b})")
        }
    }
}

/// ` AND (…)` for `cond`, with its parameters bound after the tenant (`$1`).
fn where_clause(cond: Option<&Cond>, backend: Backend) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    match cond {
        Some(c) => (
            format!(" AND {}", render(c, backend, &mut params, 2)),
            params,
        ),
        None => (String::new(), params),
    }
}

fn bind_params<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: Vec<Param>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for p in params {
        query = match p {
            Param::Text(t) => query.bind(t),
            Param::Int(i) => query.bind(i),
        };
    }
    query
}

const USER_COLUMNS: &str = "id, tenant_id, email, email_verified, display_name, given_name, family_name, locale, timezone, custom_json, status, source, created_at, updated_at, last_login_at, scim_user_name, scim_external_id, scim_json, version";

const GROUP_COLUMNS: &str = "id, tenant_id, external_id, display_name, scim_external_id, scim_json, version, created_at, updated_at";

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

fn user_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ScimUserRow> {
    Ok(ScimUserRow {
        user: super::directory::user_from_row(row)?,
        user_name: row.try_get("scim_user_name")?,
        external_id: row.try_get("scim_external_id")?,
        json: row.try_get("scim_json")?,
        version: row.try_get("version")?,
    })
}

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

pub async fn insert_user(tx: &mut Tx, u: &ScimUserRow) -> StoreResult<()> {
    let r = &u.user;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, email_verified, display_name, given_name, family_name, locale, timezone, \
         custom_json, status, source, created_at, updated_at, last_login_at, scim_user_name, scim_user_name_key, \
         scim_external_id, scim_json, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(r.id.to_string())
    .bind(r.tenant_id.to_string())
    .bind(&r.email)
    .bind(i64::from(r.email_verified))
    .bind(r.display_name.clone())
    .bind(r.given_name.clone())
    .bind(r.family_name.clone())
    .bind(r.locale.clone())
    .bind(r.timezone.clone())
    .bind(&r.custom_json)
    .bind(&r.status)
    .bind(&r.source)
    .bind(r.created_at.as_micros())
    .bind(r.updated_at.as_micros())
    .bind(r.last_login_at.map(Timestamp::as_micros))
    .bind(&u.user_name)
    .bind(u.user_name.to_lowercase())
    .bind(u.external_id.clone())
    .bind(&u.json)
    .bind(u.version)
    .execute(tx.conn())
    .await
    .map_err(user_conflict)?;
    Ok(())
}

/// Writes a SCIM user's profile, status, source and SCIM identity (also used to adopt a
/// user an SSO login created).
pub async fn update_user(tx: &mut Tx, u: &ScimUserRow) -> StoreResult<()> {
    let r = &u.user;
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
    .bind(&r.status)
    .bind(&r.source)
    .bind(r.updated_at.as_micros())
    .bind(&u.user_name)
    .bind(u.user_name.to_lowercase())
    .bind(u.external_id.clone())
    .bind(&u.json)
    .bind(u.version)
    .execute(tx.conn())
    .await
    .map_err(user_conflict)?;
    Ok(())
}

/// A SCIM-managed user, inside a write.
pub async fn user_for_update(
    tx: &mut Tx,
    tenant: TenantId,
    id: &str,
) -> StoreResult<Option<ScimUserRow>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2 AND scim_user_name IS NOT NULL{}",
        tx.lock_clause(None)
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// SCIM-managed users of `tenant` meeting `cond`, in creation order, at most `limit` of
/// them after skipping `offset`.
pub async fn users(
    store: &Store,
    tenant: TenantId,
    cond: Option<&Cond>,
    offset: usize,
    limit: usize,
) -> StoreResult<Vec<ScimUserRow>> {
    let (clause, params) = where_clause(cond, store.backend());
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND scim_user_name IS NOT NULL{clause} \
         ORDER BY created_at, id LIMIT {} OFFSET {}",
        i64::try_from(limit).unwrap_or(i64::MAX),
        i64::try_from(offset).unwrap_or(i64::MAX)
    );
    let query = bind_params(sqlx::query(&sql).bind(tenant.to_string()), params);
    let rows = query.fetch_all(store.reader()).await?;
    rows.iter().map(user_from_row).collect()
}

/// How many SCIM-managed users `tenant` has.
pub async fn count_users(store: &Store, tenant: TenantId) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND scim_user_name IS NOT NULL",
    )
    .bind(tenant.to_string())
    .fetch_one(store.reader())
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The SCIM-managed user with this id.
pub async fn user(store: &Store, tenant: TenantId, id: &str) -> StoreResult<Option<ScimUserRow>> {
    let by_id = Cond::Text {
        col: Col::Id,
        op: TextOp::Eq,
        value: id.to_string(),
    };
    Ok(users(store, tenant, Some(&by_id), 0, 1)
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
    row.map(|r| {
        Ok((
            super::directory::user_from_row(&r)?,
            r.try_get::<i64, _>("is_owner")? == 1,
        ))
    })
    .transpose()
}

/// Revokes every live session of the user and drops its unredeemed authorization codes, so
/// nothing issued before a deprovisioning can be used after it. Returns the sessions revoked.
pub async fn revoke_user_access(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    now: Timestamp,
) -> StoreResult<u64> {
    sqlx::query("DELETE FROM oauth_codes WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(tx.conn())
        .await?;
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// Deletes a user and every row that hangs off it (the audit log keeps the history).
pub async fn delete_user(tx: &mut Tx, tenant: TenantId, user: UserId) -> StoreResult<()> {
    for table in [
        "oauth_codes",
        "sessions",
        "user_identities",
        "group_members",
        "role_assignments",
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
pub async fn bump_user_versions(
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

pub async fn insert_group(tx: &mut Tx, g: &ScimGroupRow) -> StoreResult<()> {
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
    .map_err(super::unique_as("a group with this externalId or displayName already exists"))?;
    Ok(())
}

/// Writes a SCIM group (also used to adopt a group SSO logins created: source becomes scim).
pub async fn update_group(tx: &mut Tx, g: &ScimGroupRow) -> StoreResult<()> {
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
    .map_err(super::unique_as(
        "a group with this externalId or displayName already exists",
    ))?;
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

pub async fn group_for_update(
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
pub async fn groups(
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
pub async fn count_groups(store: &Store, tenant: TenantId) -> StoreResult<u64> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM groups WHERE tenant_id = $1 AND source = 'scim'")
            .bind(tenant.to_string())
            .fetch_one(store.reader())
            .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The SCIM group with this id.
pub async fn group(store: &Store, tenant: TenantId, id: &str) -> StoreResult<Option<ScimGroupRow>> {
    let by_id = Cond::Text {
        col: Col::Id,
        op: TextOp::Eq,
        value: id.to_string(),
    };
    Ok(groups(store, tenant, Some(&by_id), 0, 1)
        .await?
        .into_iter()
        .next())
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
            out.push(super::directory::user_from_row(&r)?);
        }
    }
    Ok(out)
}
