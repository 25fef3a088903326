//! A tenant's role catalogue, as role mappers see it (converted for them in
//! `plugins::convert`): role names, the default (member) role,
//! the scopes roles can be limited to (spaces, teams, locations…), and the admin's IdP-group
//! → role table. Stored as one JSON document per tenant; checked on write so a role mapper
//! never sees a table that names undefined roles or scopes. Role management proper (per-module
//! permissions, record scopes) builds on this with the roles issue.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Authorized, ReadTenant, WritePlugins};
use crate::audit::Action;
use crate::audit::{self, NewEvent, RequestContext, Target};
use crate::error::Error;
pub use crate::identity::ScopeRef;
use crate::services::Services;
use crate::store;
use crate::types::TenantId;

/// Most roles a tenant may define.
pub const MAX_ROLES: usize = 200;
/// Most scopes; a scope per office or team is common, tens of thousands are not.
pub const MAX_SCOPES: usize = 5_000;
/// Most group → role rows.
pub const MAX_GROUP_MAPPINGS: usize = 5_000;
/// Longest role, scope kind, scope name or group id.
pub const MAX_NAME_BYTES: usize = 256;

/// One row of the group → role table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMapping {
    /// The group identifier exactly as the IdP sends it (a name, or an Entra object id).
    pub group_id: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeRef>,
}

/// The catalogue document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub roles: Vec<String>,
    /// Given when the IdP names no role or an unknown one; must be one of `roles`.
    pub default_role: String,
    #[serde(default)]
    pub scopes: Vec<ScopeRef>,
    #[serde(default)]
    pub group_mappings: Vec<GroupMapping>,
}

impl Default for Catalogue {
    /// A tenant that has defined nothing has one role, `member`.
    fn default() -> Self {
        Self {
            roles: vec!["member".into()],
            default_role: "member".into(),
            scopes: Vec::new(),
            group_mappings: Vec::new(),
        }
    }
}

fn name(field: &'static str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty()
        || value.len() > MAX_NAME_BYTES
        || value.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            field,
            format!(
                "`{}` must be 1–{MAX_NAME_BYTES} bytes without control characters",
                crate::types::truncate(value, 60)
            ),
        ));
    }
    Ok(())
}

impl Catalogue {
    /// Checks sizes, names, uniqueness and that every reference resolves.
    pub fn validate(&self) -> Result<(), Error> {
        let too_many = |field, max| Error::invalid(field, format!("at most {max} entries"));
        if self.roles.len() > MAX_ROLES {
            return Err(too_many("roles", MAX_ROLES));
        }
        if self.scopes.len() > MAX_SCOPES {
            return Err(too_many("scopes", MAX_SCOPES));
        }
        if self.group_mappings.len() > MAX_GROUP_MAPPINGS {
            return Err(too_many("group_mappings", MAX_GROUP_MAPPINGS));
        }
        let mut roles = BTreeSet::new();
        for role in &self.roles {
            name("roles", role)?;
            if !roles.insert(role.as_str()) {
                return Err(Error::invalid(
                    "roles",
                    format!("role `{role}` is listed twice"),
                ));
            }
        }
        if !roles.contains(self.default_role.as_str()) {
            return Err(Error::invalid(
                "default_role",
                format!(
                    "`{}` is not one of the roles",
                    crate::types::truncate(&self.default_role, 60)
                ),
            ));
        }
        let mut scopes = BTreeSet::new();
        for scope in &self.scopes {
            name("scopes", &scope.kind)?;
            name("scopes", &scope.name)?;
            if !scopes.insert(scope) {
                return Err(Error::invalid(
                    "scopes",
                    format!("scope {} `{}` is listed twice", scope.kind, scope.name),
                ));
            }
        }
        for m in &self.group_mappings {
            name("group_mappings", &m.group_id)?;
            if !roles.contains(m.role.as_str()) {
                return Err(Error::invalid(
                    "group_mappings",
                    format!("group `{}` maps to undefined role `{}`", m.group_id, m.role),
                ));
            }
            if let Some(scope) = &m.scope {
                if !scopes.contains(scope) {
                    return Err(Error::invalid(
                        "group_mappings",
                        format!(
                            "group `{}` maps to undefined scope {} `{}`",
                            m.group_id, scope.kind, scope.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The tenant's catalogue, or the default when it has not set one.
pub async fn load(state: &Services, tenant: TenantId) -> Result<Catalogue, Error> {
    match store::plugins::catalogue(&state.store, tenant).await? {
        None => Ok(Catalogue::default()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored catalogue does not parse: {e}"))),
    }
}

pub async fn get(state: &Services, auth: &Authorized<ReadTenant>) -> Result<Catalogue, Error> {
    load(state, auth.tenant()).await
}

/// Replaces the tenant's catalogue.
pub async fn put(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    catalogue: Catalogue,
) -> Result<Catalogue, Error> {
    catalogue.validate()?;
    let tenant = auth.tenant();
    let before = load(state, tenant).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    crate::tenancy::domains::live_tenant(&mut tx, tenant).await?;
    let text = serde_json::to_string(&catalogue).map_err(|e| Error::Internal(e.into()))?;
    store::plugins::put_catalogue(&mut tx, tenant, &text, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: audit::Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::CatalogueUpdated,
            target: Target::new("catalogue", tenant),
            before: Some(json!(before)),
            after: Some(json!(catalogue)),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(catalogue)
}
