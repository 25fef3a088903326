//! A tenant's role catalogue: its roles (built-in ones enabled by name, custom ones with
//! their grants), the default role and default assignment, the scopes roles can be limited to
//! with their hierarchy, the modules the tenant adds to the app's, and the admin's IdP-group →
//! role table. Stored as one JSON document per tenant and checked on write
//! ([`super::validate`]), so neither a role mapper (which sees it through `plugins::convert`)
//! nor the permission compiler ever meets a reference to something undefined.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::model::{
    built_in_grants, Grants, ModuleDef, RoleDef, GATEHOUSE_MODULES, STANDARD_ACTIONS,
};
use super::{Authorized, ReadRoles, WriteRoles};
use crate::audit::Action;
use crate::audit::{self, NewEvent, RequestContext, Target};
use crate::error::Error;
pub use crate::identity::ScopeRef;
use crate::services::Services;
use crate::store;
use crate::types::TenantId;

/// One row of the group → role table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMapping {
    /// The group identifier exactly as the IdP sends it (a name, or an Entra object id).
    pub group_id: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeRef>,
}

/// A scope roles can be limited to, and where it sits: a location `Plant 3` with parent
/// `EMEA` is inside `EMEA`, so a grant within `EMEA` reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeDef {
    pub kind: String,
    pub name: String,
    /// The enclosing scope's name, of the same kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl ScopeDef {
    pub fn to_ref(&self) -> ScopeRef {
        ScopeRef {
            kind: self.kind.clone(),
            name: self.name.clone(),
        }
    }
}

/// A role with an optional scope: what a user gets from one assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RoleAssignment)]
pub struct Assignment {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeRef>,
}

/// The catalogue document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The tenant's roles: built-in ones by name (`admin`, `member`…: listing one enables
    /// it), custom ones by name or with their grants.
    pub roles: Vec<RoleDef>,
    /// Given by the role mapper when the IdP names no role or an unknown one; must be one of
    /// `roles`.
    pub default_role: String,
    /// What a user with no role assignment from any source gets (none: nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_assignment: Option<Assignment>,
    #[serde(default)]
    pub scopes: Vec<ScopeDef>,
    /// Modules the tenant adds to the app's (`rbac.modules`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<ModuleDef>,
    #[serde(default)]
    pub group_mappings: Vec<GroupMapping>,
}

impl Default for Catalogue {
    /// A tenant that has defined nothing has one role, `member`.
    fn default() -> Self {
        Self {
            roles: vec![RoleDef::Name("member".into())],
            default_role: "member".into(),
            default_assignment: None,
            scopes: Vec::new(),
            modules: Vec::new(),
            group_mappings: Vec::new(),
        }
    }
}

impl Catalogue {
    /// The names of the roles the tenant lists, in order.
    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.name().to_string()).collect()
    }

    /// Every module with its actions: Gatehouse's own, the app's (`app`), then the tenant's.
    pub fn modules(&self, app: &[String]) -> Vec<(String, Vec<String>)> {
        let standard = || STANDARD_ACTIONS.iter().map(|a| a.to_string()).collect();
        GATEHOUSE_MODULES
            .iter()
            .map(|(m, actions)| {
                (
                    m.to_string(),
                    actions.iter().map(|a| a.to_string()).collect(),
                )
            })
            .chain(app.iter().map(|m| (m.clone(), standard())))
            .chain(self.modules.iter().map(|m| (m.name.clone(), m.actions())))
            .collect()
    }

    /// What role `name` grants over `modules`: fixed for a built-in role, the catalogue's
    /// definition for a custom one; `None` when the tenant does not list it.
    pub fn grants_of(&self, name: &str, modules: &[(String, Vec<String>)]) -> Option<Grants> {
        let listed = self.roles.iter().find(|r| r.name() == name)?;
        if let Some(grants) = built_in_grants(name, modules) {
            return Some(grants);
        }
        Some(match listed {
            RoleDef::Name(_) => Grants::new(),
            RoleDef::Custom(role) => role.grants.clone(),
        })
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

pub async fn get(state: &Services, auth: &Authorized<ReadRoles>) -> Result<Catalogue, Error> {
    load(state, auth.tenant()).await
}

/// Replaces the tenant's catalogue.
pub async fn put(
    state: &Services,
    auth: &Authorized<WriteRoles>,
    ctx: &RequestContext,
    catalogue: Catalogue,
) -> Result<Catalogue, Error> {
    let app = super::app_modules(state).await?;
    catalogue.validate(&app)?;
    let tenant = auth.tenant();
    let before = load(state, tenant).await?;
    // Roles whose definition changed, and roles the group table or default newly hands out.
    let changed: Vec<&str> = catalogue
        .roles
        .iter()
        .filter(|r| matches!(r, RoleDef::Custom(_)) && !before.roles.contains(r))
        .map(|r| r.name())
        .chain(
            catalogue
                .group_mappings
                .iter()
                .filter(|m| !before.group_mappings.contains(m))
                .map(|m| m.role.as_str()),
        )
        .chain(
            catalogue
                .default_assignment
                .iter()
                .filter(|a| before.default_assignment.as_ref() != Some(*a))
                .map(|a| a.role.as_str()),
        )
        .collect();
    super::assign::check_no_escalation(auth, &catalogue, &app, &changed)?;
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
