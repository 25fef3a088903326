//! SQL for tenants and their email domains.

use serde::Serialize;
use sqlx::Row;

use super::{parse_col, unique_as, Store, StoreError, StoreResult, Tx};
use crate::types::{text_enum, DomainName, Slug, TenantId, Timestamp};

/// Lifecycle state of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    /// Nothing of the tenant is served; its tokens are refused. Reversible.
    Suspended,
    /// Tombstone: domains and tokens removed, data key destroyed; audit trail kept.
    Deleted,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }
}

impl std::str::FromStr for TenantStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "deleted" => Ok(Self::Deleted),
            _ => Err(()),
        }
    }
}

text_enum! {
    /// A part of the add-on the operator enables per tenant (what the tenant's plan buys).
    /// Where each is enforced is in [`crate::tenancy::features`].
    pub enum Feature {
        /// Single sign-on: SSO connections, their IdP-facing endpoints, token exchange.
        Sso = "sso",
        /// SCIM 2.0 provisioning and API tokens with the `scim` scope.
        Scim = "scim",
        /// TOTP enrolment and a policy that requires MFA.
        Mfa = "mfa",
        /// The role catalogue, manual role assignment and the decision (AuthZEN) API.
        Roles = "roles",
        /// Audit export: downloads and export jobs.
        AuditExport = "audit_export",
        /// Audit streaming to SIEMs.
        AuditStreaming = "audit_streaming",
        /// The tenant's own (uploaded) plugins; built-in plugins are always available.
        CustomPlugins = "custom_plugins",
    }
}

/// The set of features enabled for a tenant, stored as a JSON array of their names and shown
/// the same way (in the order [`Feature`] declares them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Features(std::collections::BTreeSet<Feature>);

impl Features {
    /// Every feature: what a tenant gets unless the operator says otherwise.
    pub fn all() -> Self {
        Self(Feature::ALL.iter().copied().collect())
    }

    pub fn contains(&self, feature: Feature) -> bool {
        self.0.contains(&feature)
    }

    pub fn iter(&self) -> impl Iterator<Item = Feature> + '_ {
        self.0.iter().copied()
    }

    /// The JSON text stored in `tenants.features`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".into())
    }

    /// Parses the stored JSON text. An unknown name is skipped (a newer node may know more
    /// features than this one; unknown means not enabled here).
    fn from_json(text: &str) -> StoreResult<Self> {
        let names: Vec<String> = serde_json::from_str(text)
            .map_err(|_| StoreError::Corrupt("tenants.features".into()))?;
        Ok(Self(names.iter().filter_map(|n| n.parse().ok()).collect()))
    }
}

impl FromIterator<Feature> for Features {
    fn from_iter<I: IntoIterator<Item = Feature>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Serialize for Features {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Described as what it serializes to: an array of distinct [`Feature`] names.
impl utoipa::PartialSchema for Features {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::ToSchema;
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(utoipa::openapi::Ref::from_schema_name(Feature::name()))
            .unique_items(true)
            .description(Some("the features enabled for the tenant"))
            .into()
    }
}

impl utoipa::ToSchema for Features {
    fn name() -> std::borrow::Cow<'static, str> {
        "TenantFeatures".into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((Feature::name().into(), Feature::schema()));
    }
}

/// A tenant row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantRecord {
    pub id: TenantId,
    pub slug: Slug,
    pub name: String,
    /// Opaque random token used in end-user and IdP-facing URLs instead of the id or slug.
    /// A tenant found by its previous token (during a rotation's overlap) carries that one
    /// here, so the URLs of that request are the ones the IdP was given.
    pub public_token: String,
    /// Until when the token before the last rotation still works (never shown itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_public_token_until: Option<Timestamp>,
    pub status: TenantStatus,
    /// The parts of the add-on the operator has enabled for this tenant.
    pub features: Features,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Whether a domain has been proven to belong to the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainStatus {
    Pending,
    Verified,
}

/// An email domain claimed by a tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DomainRecord {
    pub domain: DomainName,
    pub status: DomainStatus,
    /// The value the tenant publishes in a DNS TXT record to prove ownership.
    pub verification_token: String,
    pub created_at: Timestamp,
    pub verified_at: Option<Timestamp>,
}

const TENANT_COLUMNS: &str = "id, slug, name, public_token, previous_public_token_until, status, \
    features, created_at, updated_at";

fn tenant_from_row(row: &sqlx::any::AnyRow) -> StoreResult<TenantRecord> {
    Ok(TenantRecord {
        id: parse_col(&row.try_get::<String, _>("id")?, "tenants.id")?,
        slug: parse_col(&row.try_get::<String, _>("slug")?, "tenants.slug")?,
        name: row.try_get("name")?,
        public_token: row.try_get("public_token")?,
        previous_public_token_until: row
            .try_get::<Option<i64>, _>("previous_public_token_until")?
            .map(Timestamp::from_micros),
        status: row
            .try_get::<String, _>("status")?
            .parse()
            .map_err(|_| StoreError::Corrupt("tenants.status".into()))?,
        features: Features::from_json(&row.try_get::<String, _>("features")?)?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
    })
}

pub async fn insert(tx: &mut Tx, t: &TenantRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, public_token, status, features, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(t.id.to_string())
    .bind(t.slug.as_str())
    .bind(&t.name)
    .bind(&t.public_token)
    .bind(t.status.as_str())
    .bind(t.features.to_json())
    .bind(t.created_at.as_micros())
    .bind(t.updated_at.as_micros())
    .execute(tx.conn())
    .await
    .map_err(unique_as("a tenant with this slug already exists"))?;
    Ok(())
}

pub async fn get(store: &Store, id: TenantId) -> StoreResult<Option<TenantRecord>> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(tenant_from_row).transpose()
}

/// Reads the tenant inside a write transaction (the "before" of an audited change), locking
/// its row until the transaction ends, so changes that check the tenant's state take turns.
pub async fn get_for_update(tx: &mut Tx, id: TenantId) -> StoreResult<Option<TenantRecord>> {
    let lock = tx.lock_clause(None);
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1{lock}");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub async fn find_by_slug(store: &Store, slug: &Slug) -> StoreResult<Option<TenantRecord>> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1");
    let row = sqlx::query(&sql)
        .bind(slug.as_str())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(tenant_from_row).transpose()
}

/// The tenant whose opaque public token appears in an IdP-facing URL: its current token, or
/// the previous one until the rotation's overlap ends at `now` (the record then carries the
/// token it was found by).
pub async fn find_by_public_token(
    store: &Store,
    token: &str,
    now: Timestamp,
) -> StoreResult<Option<TenantRecord>> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE public_token = $1");
    let row = sqlx::query(&sql)
        .bind(token)
        .fetch_optional(store.reader())
        .await?;
    if let Some(row) = row {
        return tenant_from_row(&row).map(Some);
    }
    let sql = format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE previous_public_token = $1 \
         AND previous_public_token_until > $2"
    );
    let row = sqlx::query(&sql)
        .bind(token)
        .bind(now.as_micros())
        .fetch_optional(store.reader())
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut tenant = tenant_from_row(&row)?;
    tenant.public_token = token.to_string();
    Ok(Some(tenant))
}

/// Replaces the public token; the old one works until `until` (now: at once no more).
pub async fn rotate_public_token(
    tx: &mut Tx,
    id: TenantId,
    new_token: &str,
    until: Timestamp,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE tenants SET previous_public_token = public_token, \
         previous_public_token_until = $2, public_token = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(until.as_micros())
    .bind(new_token)
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The tenant that has verified `domain` (at most one can: a unique index says so).
pub async fn find_by_verified_domain(
    store: &Store,
    domain: &str,
) -> StoreResult<Option<TenantRecord>> {
    let sql = format!(
        "SELECT {} FROM tenants t JOIN tenant_domains d ON d.tenant_id = t.id \
         WHERE d.domain = $1 AND d.status = 'verified'",
        TENANT_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = sqlx::query(&sql)
        .bind(domain)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(tenant_from_row).transpose()
}

/// Tenants ordered by id (creation order), `limit` at most, after `after` when given.
pub async fn list(
    store: &Store,
    status: Option<TenantStatus>,
    after: Option<TenantId>,
    limit: u32,
) -> StoreResult<Vec<TenantRecord>> {
    let sql = format!(
        "SELECT {TENANT_COLUMNS} FROM tenants \
         WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR id > $2) \
         ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(status.map(|s| s.as_str()))
        .bind(after.map(|a| a.to_string()))
        .bind(i64::from(limit))
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(tenant_from_row).collect()
}

pub async fn set_status(
    tx: &mut Tx,
    id: TenantId,
    status: TenantStatus,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query("UPDATE tenants SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now.as_micros())
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn set_features(
    tx: &mut Tx,
    id: TenantId,
    features: &Features,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query("UPDATE tenants SET features = $1, updated_at = $2 WHERE id = $3")
        .bind(features.to_json())
        .bind(now.as_micros())
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn rename(tx: &mut Tx, id: TenantId, name: &str, now: Timestamp) -> StoreResult<()> {
    sqlx::query("UPDATE tenants SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now.as_micros())
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn domain_from_row(row: &sqlx::any::AnyRow) -> StoreResult<DomainRecord> {
    let status = match row.try_get::<String, _>("status")?.as_str() {
        "pending" => DomainStatus::Pending,
        "verified" => DomainStatus::Verified,
        other => {
            return Err(StoreError::Corrupt(format!(
                "tenant_domains.status = {other:?}"
            )))
        }
    };
    Ok(DomainRecord {
        domain: parse_col(
            &row.try_get::<String, _>("domain")?,
            "tenant_domains.domain",
        )?,
        status,
        verification_token: row.try_get("verification_token")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        verified_at: row
            .try_get::<Option<i64>, _>("verified_at")?
            .map(Timestamp::from_micros),
    })
}

const DOMAIN_COLUMNS: &str = "domain, status, verification_token, created_at, verified_at";

pub async fn domains(store: &Store, tenant: TenantId) -> StoreResult<Vec<DomainRecord>> {
    let sql =
        format!("SELECT {DOMAIN_COLUMNS} FROM tenant_domains WHERE tenant_id = $1 ORDER BY domain");
    let rows = sqlx::query(&sql)
        .bind(tenant.to_string())
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(domain_from_row).collect()
}

pub async fn domain_for_update(
    tx: &mut Tx,
    tenant: TenantId,
    domain: &DomainName,
) -> StoreResult<Option<DomainRecord>> {
    let sql =
        format!("SELECT {DOMAIN_COLUMNS} FROM tenant_domains WHERE tenant_id = $1 AND domain = $2");
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(domain.as_str())
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(domain_from_row).transpose()
}

pub async fn insert_domain(tx: &mut Tx, tenant: TenantId, d: &DomainRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tenant_domains (tenant_id, domain, status, verification_token, created_at, verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant.to_string())
    .bind(d.domain.as_str())
    .bind(match d.status {
        DomainStatus::Pending => "pending",
        DomainStatus::Verified => "verified",
    })
    .bind(&d.verification_token)
    .bind(d.created_at.as_micros())
    .bind(d.verified_at.map(Timestamp::as_micros))
    .execute(tx.conn())
    .await
    .map_err(unique_as("this domain is already claimed (by this tenant, or verified by another)"))?;
    Ok(())
}

pub async fn mark_domain_verified(
    tx: &mut Tx,
    tenant: TenantId,
    domain: &DomainName,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE tenant_domains SET status = 'verified', verified_at = $1 \
         WHERE tenant_id = $2 AND domain = $3",
    )
    .bind(now.as_micros())
    .bind(tenant.to_string())
    .bind(domain.as_str())
    .execute(tx.conn())
    .await
    .map_err(unique_as(
        "this domain is already verified by another tenant",
    ))?;
    Ok(())
}

pub async fn delete_domain(
    tx: &mut Tx,
    tenant: TenantId,
    domain: &DomainName,
) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM tenant_domains WHERE tenant_id = $1 AND domain = $2")
        .bind(tenant.to_string())
        .bind(domain.as_str())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete_all_domains(tx: &mut Tx, tenant: TenantId) -> StoreResult<()> {
    sqlx::query("DELETE FROM tenant_domains WHERE tenant_id = $1")
        .bind(tenant.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The stored policy document and when MFA became required (no policy row: neither).
pub struct PolicyRow {
    pub document: String,
    pub mfa_required_since: Option<Timestamp>,
}

pub async fn policy(store: &Store, tenant: TenantId) -> StoreResult<Option<PolicyRow>> {
    let row = sqlx::query(
        "SELECT document, mfa_required_since FROM tenant_policies WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.map(|r| {
        Ok(PolicyRow {
            document: r.try_get("document")?,
            mfa_required_since: r
                .try_get::<Option<i64>, _>("mfa_required_since")?
                .map(Timestamp::from_micros),
        })
    })
    .transpose()
}

/// Writes the policy, validated by the caller.
pub async fn put_policy(
    tx: &mut Tx,
    tenant: TenantId,
    row: &PolicyRow,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tenant_policies (tenant_id, document, mfa_required_since, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET document = excluded.document, \
         mfa_required_since = excluded.mfa_required_since, updated_at = excluded.updated_at",
    )
    .bind(tenant.to_string())
    .bind(&row.document)
    .bind(row.mfa_required_since.map(Timestamp::as_micros))
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}
