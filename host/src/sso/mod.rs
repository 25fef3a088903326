//! Single sign-on connections: a tenant's links to its identity providers ([`saml`] and
//! [`oidc`]), managed through the admin API ([`connections`]), and the sign-in that runs
//! through them, step by step: [`route`] decides where a sign-in goes (a work email, an
//! app's hints), [`start`] redirects out with a [`login_state`] bound to the browser; the
//! answer comes back to [`acs`] (SAML) or [`callback`] (OIDC), which verify it into a raw
//! identity; [`pipeline`] runs the tenant's
//! plugin pipeline on it, reconciles the directory and opens a session. Every refusal is a
//! [`failure::Failure`], audited. [`exchange`] signs in a user whose IdP ID token an app
//! presents (RFC 8693). [`discovery`] tells apps a tenant's sign-in options.
//! Sessions and the directory are their own modules.

pub mod acs;
pub mod callback;
pub mod connection_checks;
pub mod connection_secrets;
pub mod connection_view;
pub mod connections;
pub mod discovery;
pub mod exchange;
pub mod failure;
pub mod health;
pub mod login_state;
pub mod metadata_refresh;
pub mod oidc;
pub mod outbound;
pub mod pipeline;
pub mod route;
pub mod saml;
pub mod start;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::types::{ConnectionId, TenantId, Timestamp};

/// Who a connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = SsoConnectionStatus)]
pub enum ConnectionStatus {
    /// Only admin test sign-ins, which show what the IdP sent and what the pipeline made of
    /// it without creating users or sessions.
    Test,
    /// Users sign in through it.
    Enabled,
    /// Nobody signs in through it.
    Disabled,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Test => "test",
            ConnectionStatus::Enabled => "enabled",
            ConnectionStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "test" => Some(ConnectionStatus::Test),
            "enabled" => Some(ConnectionStatus::Enabled),
            "disabled" => Some(ConnectionStatus::Disabled),
            _ => None,
        }
    }
}

/// The protocol settings of a connection.
#[derive(Debug, Clone)]
pub enum Settings {
    Saml(saml::SamlSettings),
    Oidc(oidc::OidcSettings),
}

impl Settings {
    pub fn protocol(&self) -> &'static str {
        match self {
            Settings::Saml(_) => "saml",
            Settings::Oidc(_) => "oidc",
        }
    }
}

/// What a sign-in through a connection may do to the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SsoProvisioning)]
pub struct Provisioning {
    /// Create a user just in time when no user has this subject or email (on by default).
    /// Off: the sign-in only links to a user that SCIM or an admin created first.
    #[serde(default = "jit_default")]
    pub jit: bool,
    /// A role of the tenant's catalogue that each user this connection creates gets, as an
    /// admin's assignment: later sign-ins keep it, an admin may take it away.
    #[serde(default)]
    pub default_role: Option<String>,
}

fn jit_default() -> bool {
    true
}

impl Default for Provisioning {
    fn default() -> Self {
        Self {
            jit: true,
            default_role: None,
        }
    }
}

/// A stored connection.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub name: String,
    pub status: ConnectionStatus,
    pub settings: Settings,
    /// The connection's secrets as a JSON map, sealed with the tenant's data key under
    /// [`Connection::keys_purpose`]: for SAML the SP's private decryption keys (key id →
    /// PEM), for OIDC the client secret (under `client_secret`).
    pub secrets_sealed: Option<Vec<u8>>,
    /// Just-in-time creation and the default role.
    pub provisioning: Provisioning,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Connection {
    /// The associated data its sealed secrets are bound to.
    pub fn keys_purpose(&self) -> String {
        format!("sso-connection-keys:{}", self.id)
    }
}

/// Where a connection's SAML endpoints live, from the public URL and the tenant's token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SamlServiceProvider)]
pub struct SpEndpoints {
    pub entity_id: String,
    pub acs_url: String,
    pub metadata_url: String,
}

impl SpEndpoints {
    pub fn new(public_url: &str, tenant_token: &str, connection: ConnectionId) -> Self {
        let base = format!("{public_url}/sso/saml/{tenant_token}/{connection}");
        Self {
            entity_id: format!("{base}/metadata"),
            acs_url: format!("{base}/acs"),
            metadata_url: format!("{base}/metadata"),
        }
    }
}

/// Where an OIDC connection's IdP sends the browser back (register it at the IdP).
pub fn oidc_redirect_uri(public_url: &str, tenant_token: &str, connection: ConnectionId) -> String {
    format!("{public_url}/sso/oidc/{tenant_token}/{connection}/callback")
}

/// The link that starts a sign-in at a connection's IdP at once (for "Sign in with …"
/// buttons); `return_to` may be added.
pub fn start_url(public_url: &str, tenant_token: &str, connection: ConnectionId) -> String {
    format!("{public_url}/sso/start/{tenant_token}/{connection}")
}

/// Longest URL accepted in connection settings.
const MAX_URL: usize = 2048;

/// Accepts https URLs, and http only to loopback (test IdPs on this machine).
pub(crate) fn check_url(field: &'static str, text: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::invalid(
            field,
            format!("`{}` {why}", crate::types::truncate(text, 80)),
        )
    };
    if text.len() > MAX_URL {
        return Err(bad("is too long"));
    }
    let url = url::Url::parse(text).map_err(|_| bad("is not a URL"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        _ => Err(bad("must be an https URL")),
    }
}
