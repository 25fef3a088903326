//! How a connection is shown: to the admin API ([`view`], with its SP endpoints and the
//! public parts of its keys) and to the audit log ([`audit_json`], secrets only as digests).

use serde::Serialize;
use serde_json::json;
use sha2::Digest;

use super::health::HealthView;
use super::oidc::OidcSettings;
use super::saml::settings::CertificateView;
use super::saml::SamlSettings;
use super::{oidc_redirect_uri, Connection, ConnectionStatus, Provisioning, Settings, SpEndpoints};
use crate::error::Error;
use crate::plugins::slot::ActivatedPlugin;
use crate::services::Services;
use crate::store;
use crate::types::ConnectionId;

/// A connection as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SsoConnection)]
pub struct ConnectionView {
    pub id: ConnectionId,
    pub name: String,
    /// `saml` or `oidc`: which of `saml` and `oidc` is present.
    #[schema(value_type = String, pattern = "^(saml|oidc)$")]
    pub protocol: &'static str,
    pub status: ConnectionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcView>,
    pub provisioning: Provisioning,
    /// The connection's own IdP adapter; none when its sign-ins use the tenant's
    /// idp-adapter stage (`/sso/connections/{id}/adapter` changes it).
    pub adapter: Option<ActivatedPlugin>,
    /// Metadata refresh and certificate expiry.
    pub health: HealthView,
    pub created_at: crate::types::Timestamp,
    pub updated_at: crate::types::Timestamp,
}

/// A SAML connection's settings, as the admin API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SamlConnection)]
pub struct SamlView {
    #[serde(flatten)]
    pub settings: SamlSettings,
    pub certificate_details: Vec<CertificateView>,
    /// What to give the IdP: our entity id, ACS URL and metadata URL.
    pub service_provider: SpEndpoints,
}

/// An OIDC connection's settings, as the admin API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OidcConnection)]
pub struct OidcView {
    #[serde(flatten)]
    pub settings: OidcSettings,
    /// Whether a client secret is stored (it is never shown).
    pub client_secret_set: bool,
    /// What to register at the IdP as the redirect URI.
    pub redirect_uri: String,
}

/// The view of `c`; needs the tenant's public token for the SP endpoints.
pub async fn view(state: &Services, c: &Connection) -> Result<ConnectionView, Error> {
    let tenant = store::tenants::get(&state.store, c.tenant_id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let now_unix = state.clock.now().as_micros() / 1_000_000;
    let public_url = state.config.public_url();
    let (saml, oidc) = match &c.settings {
        Settings::Saml(s) => (
            Some(SamlView {
                settings: s.clone(),
                certificate_details: s.certificate_views(now_unix),
                service_provider: SpEndpoints::new(&public_url, &tenant.public_token, c.id),
            }),
            None,
        ),
        Settings::Oidc(s) => (
            None,
            Some(OidcView {
                settings: s.clone(),
                client_secret_set: c.secrets_sealed.is_some(),
                redirect_uri: oidc_redirect_uri(&public_url, &tenant.public_token, c.id),
            }),
        ),
    };
    Ok(ConnectionView {
        id: c.id,
        name: c.name.clone(),
        protocol: c.settings.protocol(),
        status: c.status,
        saml,
        oidc,
        provisioning: c.provisioning.clone(),
        adapter: crate::plugins::activation::own_adapter(state, c.tenant_id, c.id).await?,
        health: super::health::view(
            c,
            &store::connection_health::get(&state.store, c.tenant_id, c.id).await?,
            state.clock.now(),
        ),
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// The audit form of a connection: its settings and status (settings hold no secrets; a
/// sealed secret shows only as its digest, so a change of secret is visible in the log).
pub(super) fn audit_json(c: &Connection) -> serde_json::Value {
    let settings = match &c.settings {
        Settings::Saml(s) => json!(s),
        Settings::Oidc(s) => json!(s),
    };
    let secrets = c
        .secrets_sealed
        .as_ref()
        .map(|s| hex::encode(&sha2::Sha256::digest(s)[..8]));
    json!({"name": c.name, "protocol": c.settings.protocol(), "status": c.status, "settings": settings,
           "provisioning": c.provisioning, "sealed_secrets": secrets})
}
