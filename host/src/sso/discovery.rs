//! SSO discovery for apps: what an app needs to draw a tenant's sign-in screen, asked
//! anonymously with the tenant's public token or a user's work email. The answer names the
//! tenant, its enabled connections with a start link each ("Sign in with Okta" buttons), whether
//! password sign-in is open, the MFA requirement and the data classification: nothing
//! secret (no IdP settings, no user), nothing a sign-in page would not show anyway. Suspended
//! and unknown tenants get the same "none".

use serde::Serialize;

use super::failure::Failure;
use super::route::{enabled_connections, tenant_of_email};
use super::start::resolve_tenant;
use super::start_url;
use crate::error::Error;
use crate::policy::document::MfaRequired;
use crate::services::Services;
use crate::store::tenants::{Feature, TenantRecord};
use crate::types::{ConnectionId, Email};

/// What the app asks by.
#[derive(Debug)]
pub enum Lookup {
    /// The tenant's public token (in every IdP-facing URL of the tenant).
    Token(String),
    /// A user's work email: its verified domain names the tenant.
    Email(Email),
}

/// A tenant's sign-in options.
#[derive(Debug, Serialize)]
pub struct SignInOptions {
    pub tenant: TenantSummary,
    /// Whether the operator has enabled single sign-on for the tenant (the `sso` feature);
    /// without it there are no connections to offer.
    pub single_sign_on: bool,
    /// Enabled connections, by name.
    pub connections: Vec<ConnectionOption>,
    /// Whether users may sign in with a password (the policy is not SSO-only).
    pub password_sign_in: bool,
    /// Where password sign-in starts, when it is open.
    pub password_url: Option<String>,
    /// Who must present a second factor: `off`, `direct` (password sign-ins) or `everyone`.
    pub mfa_required: MfaRequired,
    /// The tenant's data classification level.
    pub data_classification: String,
}

/// The tenant, as public as its sign-in URLs.
#[derive(Debug, Serialize)]
pub struct TenantSummary {
    pub name: String,
    /// The public token, for the app to ask by next time.
    pub token: String,
}

/// One way to sign in.
#[derive(Debug, Serialize)]
pub struct ConnectionOption {
    pub id: ConnectionId,
    pub name: String,
    /// `saml` or `oidc`.
    pub protocol: &'static str,
    /// Opens the IdP's sign-in at once; add `return_to` (a path on this site) to come back
    /// somewhere, such as an `/oauth2/authorize` request.
    pub start_url: String,
}

/// The sign-in options of the tenant `lookup` names; `None` when it names no active tenant.
pub async fn options(state: &Services, lookup: Lookup) -> Result<Option<SignInOptions>, Error> {
    let tenant = match lookup {
        Lookup::Token(token) => match resolve_tenant(state, &token).await {
            Ok(tenant) => Some(tenant),
            Err(Failure::Internal(e)) => return Err(e),
            Err(_) => None,
        },
        Lookup::Email(email) => tenant_of_email(state, &email).await?,
    };
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    Ok(Some(describe(state, &tenant).await?))
}

async fn describe(state: &Services, tenant: &TenantRecord) -> Result<SignInOptions, Error> {
    let public_url = state.config.public_url();
    let single_sign_on = tenant.features.contains(Feature::Sso);
    let enabled = if single_sign_on {
        enabled_connections(state, tenant).await?
    } else {
        Vec::new()
    };
    let connections = enabled
        .into_iter()
        .map(|c| ConnectionOption {
            start_url: start_url(&public_url, &tenant.public_token, c.id),
            protocol: c.settings.protocol(),
            id: c.id,
            name: c.name,
        })
        .collect();
    let policy = crate::policy::load(&state.store, tenant.id).await?.policy;
    let password_sign_in = !policy.sso_only;
    Ok(SignInOptions {
        tenant: TenantSummary {
            name: tenant.name.clone(),
            token: tenant.public_token.clone(),
        },
        single_sign_on,
        connections,
        password_sign_in,
        password_url: password_sign_in.then(|| format!("{public_url}/login/password")),
        mfa_required: policy.mfa.required,
        data_classification: policy.classification.level,
    })
}
