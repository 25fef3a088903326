//! Who signs in, in Gatehouse's own types: what an identity provider asserted
//! ([`RawIdentity`]), the canonical [`Identity`] an adapter makes of it, the [`Profile`] and
//! the [`RoleGrant`]s the tenant's pipeline gives the user. The SAML and OIDC relying parties
//! produce these, the directory consumes them; the plugin contract's generated records are
//! converted to and from them at the plugin boundary (`plugins::convert`), so a change to
//! the contract stops there.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The sign-on protocol an identity came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Saml,
    Oidc,
}

/// One SAML attribute or OIDC claim with all its values, in the order the IdP sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<String>,
}

/// What the identity provider asserted, after signature and validity checks, before any
/// interpretation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawIdentity {
    pub protocol: Protocol,
    /// The IdP's entity id (SAML) or issuer URL (OIDC).
    pub issuer: String,
    /// The NameID (SAML) or `sub` claim (OIDC).
    pub subject: String,
    pub attributes: Vec<Attribute>,
}

impl RawIdentity {
    /// The identity as a test sign-in shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "protocol": self.protocol,
            "issuer": self.issuer,
            "subject": self.subject,
            "attributes": self.attributes.iter().map(|a| json!({"name": a.name, "values": a.values})).collect::<Vec<_>>(),
        })
    }
}

/// The canonical identity: the user at one IdP, with the groups the IdP sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable, unique id of the user at this IdP.
    pub subject: String,
    pub email: Option<String>,
    /// True only when the IdP vouches that the email address is verified.
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    /// Group identifiers as the IdP sends them (names, or object ids for Entra ID).
    pub groups: Vec<String>,
    /// Attributes passed on to later stages.
    pub attributes: Vec<Attribute>,
}

/// The user profile the attribute mapper makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub email: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    /// Tenant-defined profile attributes.
    pub custom: Vec<Attribute>,
}

/// A scope a role can be limited to: a kind (`space`) and a name within it (`Berlin office`).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ScopeRef {
    pub kind: String,
    pub name: String,
}

/// A role given to a user, tenant-wide or limited to one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: String,
    pub scope: Option<ScopeRef>,
}

impl RoleGrant {
    /// `(role, scope kind, scope name)`, the scope parts empty for a tenant-wide role: the
    /// shape role assignments are stored in.
    pub fn into_parts(self) -> (String, String, String) {
        match self.scope {
            Some(s) => (self.role, s.kind, s.name),
            None => (self.role, String::new(), String::new()),
        }
    }
}

/// What the tenant's sign-in pipeline made of a raw identity.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub identity: Identity,
    pub profile: Profile,
    pub roles: Vec<RoleGrant>,
}
