//! Who may do what. A tenant's roles are grants `module × action → reach`, defined in its
//! [`catalogue`] (vocabulary in [`model`], checks in [`validate`]); a user's role assignments
//! compile into [`compile::Permissions`], and [`decide`] answers every question about them:
//! the app's (through the decision API) and Gatehouse's own (its admin API is a set of modules
//! too). The principals are the operator, tenant API tokens (their scopes compile to
//! permissions, so they are a ceiling) and signed-in users. Every privileged service function
//! takes an [`Authorized`] proof, and this module is the only place that makes one, so there
//! are no permission `if`s in handlers.

pub mod answers;
pub mod assign;
pub mod authzen;
pub mod catalogue;
pub mod compile;
pub mod decide;
pub mod effective;
pub mod model;
pub mod validate;

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::store::tenants::Feature;
use crate::types::{SessionId, TenantId, TokenId, UserId};
use compile::Permissions;
use decide::{decide, Record};

/// The app's modules every tenant starts from: the deployment's `rbac.modules`, then each
/// live registered app's, without repeats.
pub async fn app_modules(state: &crate::services::Services) -> Result<Vec<String>, Error> {
    let mut modules = state.config.rbac.modules.clone();
    for list in crate::store::provider::app_modules(&state.store).await? {
        let names: Vec<String> = serde_json::from_str(&list).unwrap_or_default();
        for name in names {
            if !modules.contains(&name) {
                modules.push(name);
            }
        }
    }
    Ok(modules)
}

/// Who did it, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// `operator`, `api_token`, `user`, `setup_link`, `app` or `system`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    /// A readable name (token name), for people reading the log.
    pub label: String,
}

impl Actor {
    pub fn operator(token: TokenId) -> Self {
        Self {
            kind: "operator",
            id: token.to_string(),
            label: "operator".into(),
        }
    }
    pub fn api_token(token: TokenId, name: &str) -> Self {
        Self {
            kind: "api_token",
            id: token.to_string(),
            label: name.to_string(),
        }
    }
    /// A registered app (OAuth client) acting with its own credentials.
    pub fn app(client_id: &str) -> Self {
        Self {
            kind: "app",
            id: client_id.to_string(),
            label: client_id.to_string(),
        }
    }
    /// A signed-in user acting for themselves (`label`: their email, when known).
    pub fn user(user: UserId, label: &str) -> Self {
        Self {
            kind: "user",
            id: user.to_string(),
            label: label.to_string(),
        }
    }
    /// The holder of a setup link, in the setup session it opened (`label`: whom the
    /// operator issued it for).
    pub fn setup_link(link: TokenId, label: &str) -> Self {
        Self {
            kind: "setup_link",
            id: link.to_string(),
            label: format!("setup link: {label}"),
        }
    }
    /// Gatehouse itself (first-start bootstrap, CLI maintenance).
    pub fn system(what: &str) -> Self {
        Self {
            kind: "system",
            id: what.to_string(),
            label: what.to_string(),
        }
    }
}

/// What a tenant API token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Everything a tenant admin can do through the API.
    Admin,
    /// Read the tenant's settings and domains.
    TenantRead,
    /// Request and remove email domains.
    DomainsWrite,
    /// Create, list and revoke API tokens (never with more scopes than the caller has).
    TokensWrite,
    /// Read the audit log.
    AuditRead,
    /// Write the app's own events into the audit log (the ingest API).
    AuditWrite,
    /// Upload, delete and dry-run plugins; assign the pipeline; edit the role catalogue.
    PluginsWrite,
    /// Create, change and delete SSO connections, and run test sign-ins.
    SsoWrite,
    /// Provision users and groups over SCIM 2.0 (the token an IdP's SCIM client holds).
    Scim,
    /// Manage users: invitations, resets, status, sessions and MFA.
    UsersWrite,
    /// Ask the decision API (and read the permissions it decides with).
    AccessEvaluate,
}

impl Scope {
    pub const ALL: [Scope; 11] = [
        Scope::Admin,
        Scope::TenantRead,
        Scope::DomainsWrite,
        Scope::TokensWrite,
        Scope::AuditRead,
        Scope::AuditWrite,
        Scope::PluginsWrite,
        Scope::SsoWrite,
        Scope::Scim,
        Scope::UsersWrite,
        Scope::AccessEvaluate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::TenantRead => "tenant:read",
            Scope::DomainsWrite => "domains:write",
            Scope::TokensWrite => "tokens:write",
            Scope::AuditRead => "audit:read",
            Scope::AuditWrite => "audit:write",
            Scope::PluginsWrite => "plugins:write",
            Scope::SsoWrite => "sso:write",
            Scope::Scim => "scim",
            Scope::UsersWrite => "users:write",
            Scope::AccessEvaluate => "access:evaluate",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = crate::types::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                crate::types::ParseError(format!(
                    "unknown scope `{}`; known scopes: {}",
                    crate::types::truncate(s, 40),
                    known.join(", ")
                ))
            })
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Described as its words (`http::openapi`).
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Scope::ALL.map(Scope::as_str)))
            .description(Some("what a tenant API token may be used for"))
            .into()
    }
}

impl utoipa::ToSchema for Scope {
    fn name() -> std::borrow::Cow<'static, str> {
        "ApiTokenScope".into()
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The SaaS vendor's operator credential: may act on every tenant.
    Operator { token_id: TokenId },
    /// A tenant API token: acts only on its own tenant, within its scopes.
    ApiToken {
        tenant: TenantId,
        token_id: TokenId,
        name: String,
        scopes: Vec<Scope>,
    },
    /// A signed-in user: acts on their tenant with what their roles grant.
    User {
        tenant: TenantId,
        user: UserId,
        session: SessionId,
        /// Their email, for the audit log.
        label: String,
        permissions: Arc<Permissions>,
    },
    /// A customer's IT admin in the setup session a one-time setup link opened: SSO and SCIM
    /// set-up on one tenant, nothing else ([`compile::for_setup_link`]).
    SetupLink {
        tenant: TenantId,
        link: TokenId,
        label: String,
    },
}

impl Principal {
    /// How this caller appears in audit events.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Operator { token_id } => Actor::operator(*token_id),
            Principal::ApiToken { token_id, name, .. } => Actor::api_token(*token_id, name),
            Principal::User { user, label, .. } => Actor::user(*user, label),
            Principal::SetupLink { link, label, .. } => Actor::setup_link(*link, label),
        }
    }

    /// May the caller perform Gatehouse's `module.action` tenant-wide? The operator always;
    /// a token if its scopes grant it; a user if their roles do.
    fn allows(&self, module: &str, action: &str) -> Result<(), String> {
        let token_perms;
        let perms = match self {
            Principal::Operator { .. } => return Ok(()),
            Principal::ApiToken { scopes, .. } => {
                token_perms = compile::for_token(scopes);
                &token_perms
            }
            Principal::User { permissions, .. } => permissions.as_ref(),
            Principal::SetupLink { .. } => {
                token_perms = compile::for_setup_link();
                &token_perms
            }
        };
        let decision = decide(perms, module, action, &Record::default());
        if decision.allowed() {
            Ok(())
        } else {
            Err(decision.explain(module, action))
        }
    }
}

/// A permission on a tenant's resources: an action on one of Gatehouse's own modules, which
/// a token needs `SCOPE` for.
pub trait TenantPermission {
    const SCOPE: Scope;
    const MODULE: &'static str;
    const ACTION: &'static str;
    /// The add-on feature the tenant must have for this to be allowed at all (see
    /// [`crate::tenancy::features`]); `None` for the core every tenant has.
    const FEATURE: Option<Feature>;
}

macro_rules! permission {
    (@feature) => { None };
    (@feature $feature:ident) => { Some(Feature::$feature) };
    ($(#[$doc:meta])* $name:ident => $scope:expr, $module:literal . $action:literal $(, $feature:ident)?) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl TenantPermission for $name {
            const SCOPE: Scope = $scope;
            const MODULE: &'static str = concat!("gatehouse.", $module);
            const ACTION: &'static str = $action;
            const FEATURE: Option<Feature> = permission!(@feature $($feature)?);
        }
    };
}

permission!(/// Read a tenant's settings and domains.
    ReadTenant => Scope::TenantRead, "tenant"."view");
permission!(/// Change a tenant's email domains.
    WriteDomains => Scope::DomainsWrite, "tenant"."edit");
permission!(/// Rotate the public token in a tenant's IdP-facing URLs.
    RotatePublicToken => Scope::DomainsWrite, "tenant"."edit");
permission!(/// Register and revoke the OAuth clients of a tenant's SCIM provisioning.
    ManageScimClients => Scope::TokensWrite, "tokens"."edit", Scim);
permission!(/// Manage a tenant's API tokens.
    WriteTokens => Scope::TokensWrite, "tokens"."edit");
permission!(/// Read a tenant's audit log.
    ReadAudit => Scope::AuditRead, "audit"."view");
permission!(/// Export a tenant's audit log (a download of every matching event).
    ExportAudit => Scope::AuditRead, "audit"."export", AuditExport);
permission!(/// Read a tenant's audit streams.
    ReadAuditStreams => Scope::AuditRead, "audit"."view", AuditStreaming);
permission!(/// Create, change and remove a tenant's audit streams.
    WriteAuditStreams => Scope::SsoWrite, "policy"."edit", AuditStreaming);
permission!(/// Write the app's own events into a tenant's audit log.
    IngestAudit => Scope::AuditWrite, "audit"."ingest");
permission!(/// Read a tenant's plugins and pipeline.
    ReadPlugins => Scope::TenantRead, "plugins"."view");
permission!(/// Manage a tenant's plugins and pipeline, and run dry-runs.
    WritePlugins => Scope::PluginsWrite, "plugins"."edit");
permission!(/// Read a tenant's SSO connections.
    ReadSso => Scope::TenantRead, "sso"."view", Sso);
permission!(/// Manage a tenant's SSO connections and run test sign-ins.
    WriteSso => Scope::SsoWrite, "sso"."edit", Sso);
permission!(/// Read the tenant's security policy.
    ReadPolicy => Scope::TenantRead, "policy"."view");
permission!(/// Change the tenant's security policy.
    WritePolicy => Scope::SsoWrite, "policy"."edit");
permission!(/// Read users, their roles, permissions and sessions.
    ReadUsers => Scope::TenantRead, "users"."view");
permission!(/// Manage users: invitations, resets, status, sessions and MFA.
    WriteUsers => Scope::UsersWrite, "users"."edit");
permission!(/// Read the role catalogue.
    ReadRoles => Scope::TenantRead, "roles"."view", Roles);
permission!(/// Change the role catalogue and assign roles by hand.
    WriteRoles => Scope::PluginsWrite, "roles"."edit", Roles);
permission!(/// Ask the decision API about the tenant's users.
    EvaluateAccess => Scope::AccessEvaluate, "roles"."view", Roles);
permission!(/// Create, change and delete users and groups over SCIM.
    ProvisionScim => Scope::Scim, "scim"."edit", Scim);

/// Instance-wide operator power: create, suspend and delete tenants.
#[derive(Debug)]
pub struct OperateInstance;

/// Proof that `actor` may exercise `P` (on `tenant`, for tenant permissions). Only this
/// module constructs it.
#[derive(Debug)]
pub struct Authorized<P> {
    principal: Principal,
    tenant: Option<TenantId>,
    _permission: PhantomData<P>,
}

impl<P> Authorized<P> {
    pub fn actor(&self) -> Actor {
        self.principal.actor()
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// True when the caller may perform Gatehouse's `module.action` tenant-wide.
    pub fn may(&self, module: &str, action: &str) -> bool {
        self.principal.allows(module, action).is_ok()
    }

    /// True when the caller holds everything `scope` allows, so may hand it on (no
    /// escalation through tokens).
    pub fn can_grant(&self, scope: Scope) -> bool {
        match &self.principal {
            Principal::ApiToken { scopes, .. } if scopes.contains(&scope) => true,
            // A setup session hands on only what an IdP's provisioning job needs.
            Principal::SetupLink { .. } => scope == Scope::Scim,
            principal => compile::scope_grants(scope)
                .iter()
                .all(|(module, actions)| {
                    actions.iter().all(|a| principal.allows(module, a).is_ok())
                }),
        }
    }
}

impl<P: TenantPermission> Authorized<P> {
    /// The tenant the permission was checked against.
    pub fn tenant(&self) -> TenantId {
        self.tenant
            .expect("tenant permissions are always checked against a tenant")
    }
}

/// Checks `principal` may exercise `P` on `tenant`.
pub fn for_tenant<P: TenantPermission>(
    principal: &Principal,
    tenant: TenantId,
) -> Result<Authorized<P>, Error> {
    match principal {
        Principal::Operator { .. } => {}
        Principal::ApiToken { tenant: own, .. }
        | Principal::User { tenant: own, .. }
        | Principal::SetupLink { tenant: own, .. }
            if *own != tenant =>
        {
            // Another tenant's resources look exactly like missing ones.
            return Err(Error::NotFound("tenant"));
        }
        Principal::ApiToken { .. } => {
            if principal.allows(P::MODULE, P::ACTION).is_err() {
                return Err(Error::Forbidden(format!(
                    "this token lacks the `{}` scope",
                    P::SCOPE.as_str()
                )));
            }
        }
        Principal::User { .. } => {
            principal
                .allows(P::MODULE, P::ACTION)
                .map_err(Error::Forbidden)?;
        }
        Principal::SetupLink { .. } => {
            if principal.allows(P::MODULE, P::ACTION).is_err() {
                return Err(Error::Forbidden(
                    "a setup link opens the SSO and SCIM set-up only".into(),
                ));
            }
        }
    }
    Ok(Authorized {
        principal: principal.clone(),
        tenant: Some(tenant),
        _permission: PhantomData,
    })
}

/// Checks `principal` is the operator.
pub fn operator(principal: &Principal) -> Result<Authorized<OperateInstance>, Error> {
    match principal {
        Principal::Operator { .. } => Ok(Authorized {
            principal: principal.clone(),
            tenant: None,
            _permission: PhantomData,
        }),
        Principal::ApiToken { .. } | Principal::User { .. } | Principal::SetupLink { .. } => Err(
            Error::Forbidden("this endpoint needs the operator token".into()),
        ),
    }
}

#[cfg(test)]
mod decide_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn token(tenant: TenantId, scopes: Vec<Scope>) -> Principal {
        Principal::ApiToken {
            tenant,
            token_id: TokenId::generate(),
            name: "t".into(),
            scopes,
        }
    }

    #[test]
    fn tokens_are_confined_to_their_tenant_and_scopes() {
        let a = TenantId::generate();
        let b = TenantId::generate();
        let reader = token(a, vec![Scope::AuditRead]);
        assert!(for_tenant::<ReadAudit>(&reader, a).is_ok());
        assert!(matches!(
            for_tenant::<ReadAudit>(&reader, b),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            for_tenant::<WriteTokens>(&reader, a),
            Err(Error::Forbidden(_))
        ));
        assert!(operator(&reader).is_err());

        let admin = token(a, vec![Scope::Admin]);
        assert!(for_tenant::<WriteTokens>(&admin, a).is_ok());
        let op = Principal::Operator {
            token_id: TokenId::generate(),
        };
        assert!(for_tenant::<WriteTokens>(&op, b).is_ok());
    }

    #[test]
    fn scopes_parse_strictly() {
        assert_eq!("audit:read".parse::<Scope>().unwrap(), Scope::AuditRead);
        let err = "root".parse::<Scope>().unwrap_err().to_string();
        assert!(err.contains("known scopes"), "{err}");
    }
}
