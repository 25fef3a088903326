//! Where a sign-in goes before any IdP is asked: a work email's verified domain names its
//! tenant ([`by_email`]); an app's hints on `/oauth2/authorize` (`login_hint`,
//! `organization`, `connection`) may name a tenant and a connection ([`by_hints`]). Either
//! way the answer is a [`Route`]: straight to one connection's IdP, a choice between the
//! tenant's enabled connections, or the email page. Only active tenants and enabled
//! connections are ever routed to; an unknown or suspended tenant looks the same as none, and
//! a tenant without the `sso` feature is refused as such.

use super::failure::Failure;
use super::{connections, Connection, ConnectionStatus};
use crate::error::Error;
use crate::services::Services;
use crate::store::{self, tenants::Feature, tenants::TenantRecord, tenants::TenantStatus};
use crate::types::{ConnectionId, DomainName, Email};

/// Longest hint or lookup value read (an email is at most 254 characters; a tenant token
/// is 32).
pub const MAX_HINT: usize = 320;

/// Where a sign-in goes next.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per sign-in request and consumed at once"
)]
pub enum Route {
    /// To this connection's IdP.
    Start(TenantRecord, Connection),
    /// The tenant has several enabled connections: the user picks one.
    Choose(TenantRecord, Vec<Connection>),
    /// The email page, with the address filled in when one was hinted.
    Ask { email: Option<String> },
}

impl Route {
    /// A tenant's route: its one enabled connection, a choice, or (none) the email page.
    fn of(tenant: TenantRecord, mut enabled: Vec<Connection>, email: Option<String>) -> Self {
        match enabled.len() {
            0 => Route::Ask { email },
            1 => Route::Start(tenant, enabled.remove(0)),
            _ => Route::Choose(tenant, enabled),
        }
    }
}

/// The tenant's enabled connections, by name; refused (`feature-not-enabled`) when the
/// tenant does not have single sign-on.
pub async fn enabled_connections(
    state: &Services,
    tenant: &TenantRecord,
) -> Result<Vec<Connection>, Error> {
    crate::tenancy::features::check(tenant, Feature::Sso)?;
    let mut enabled = Vec::new();
    for row in store::sso::connections(&state.store, tenant.id).await? {
        let c = connections::parse_row(row)?;
        if c.status == ConnectionStatus::Enabled {
            enabled.push(c);
        }
    }
    enabled.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(enabled)
}

/// The active tenant whose verified domain an email is at.
pub async fn tenant_of_email(
    state: &Services,
    email: &Email,
) -> Result<Option<TenantRecord>, Error> {
    let Ok(domain) = email.domain().parse::<DomainName>() else {
        return Ok(None);
    };
    let tenant = store::tenants::find_by_verified_domain(&state.store, domain.as_str()).await?;
    Ok(tenant.filter(|t| t.status == TenantStatus::Active))
}

/// The route of a work email typed on the sign-in page: its tenant's connection, or a choice
/// of them. Refused (for the page to show) when the address is malformed or no active tenant
/// with an enabled connection has its domain.
pub async fn by_email(state: &Services, email: &str) -> Result<Route, Failure> {
    let unknown = || Failure::Refused {
        code: "no_connection",
        message: "no organisation signs in with this email domain here".into(),
        detail: None,
    };
    let email: Email = email.parse().map_err(|_| Failure::Refused {
        code: "bad_email",
        message: "enter a work email address, such as ada@example.com".into(),
        detail: None,
    })?;
    let tenant = tenant_of_email(state, &email).await?.ok_or_else(unknown)?;
    let enabled = enabled_connections(state, &tenant).await?;
    match Route::of(tenant, enabled, Some(email.to_string())) {
        Route::Ask { .. } => Err(unknown()),
        route => Ok(route),
    }
}

/// An app's hints about who is signing in (all optional, all only hints: one that names
/// nothing falls back to the email page).
#[derive(Debug, Default, Clone)]
pub struct Hints {
    /// The user's email (`login_hint`).
    pub login_hint: Option<String>,
    /// The tenant: its id or its slug (`organization`).
    pub organization: Option<String>,
    /// One of that tenant's connections, by id (`connection`).
    pub connection: Option<String>,
}

impl Hints {
    pub fn is_empty(&self) -> bool {
        self.login_hint.is_none() && self.organization.is_none() && self.connection.is_none()
    }

    /// The hinted email, when it is one.
    pub fn email(&self) -> Option<Email> {
        self.login_hint
            .as_deref()
            .filter(|h| h.len() <= MAX_HINT)
            .and_then(|h| h.trim().parse().ok())
    }
}

/// The active tenant the hints name: `organization` when given (an id or a slug), else the
/// `login_hint` email's domain.
pub async fn hinted_tenant(state: &Services, hints: &Hints) -> Result<Option<TenantRecord>, Error> {
    if let Some(org) = hints
        .organization
        .as_deref()
        .filter(|o| o.len() <= MAX_HINT)
    {
        let found = match crate::tenancy::resolve(&state.store, org).await {
            Ok(tenant) => Some(tenant),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        return Ok(found.filter(|t| t.status == TenantStatus::Active));
    }
    match hints.email() {
        Some(email) => tenant_of_email(state, &email).await,
        None => Ok(None),
    }
}

/// The route the hints decide. A `connection` hint counts only within the hinted tenant
/// (connections are looked up per tenant, never by id alone) and only when it is enabled;
/// otherwise the tenant's own route applies.
pub async fn by_hints(state: &Services, hints: &Hints) -> Result<Route, Error> {
    let email = hints.email().map(|e| e.to_string());
    let Some(tenant) = hinted_tenant(state, hints).await? else {
        return Ok(Route::Ask { email });
    };
    // A tenant without SSO may still have password accounts: the email page, not a refusal.
    let mut enabled = match enabled_connections(state, &tenant).await {
        Ok(enabled) => enabled,
        Err(Error::FeatureNotEnabled(_)) => return Ok(Route::Ask { email }),
        Err(e) => return Err(e),
    };
    let wanted = hints
        .connection
        .as_deref()
        .and_then(|c| c.parse::<ConnectionId>().ok());
    if let Some(i) = wanted.and_then(|id| enabled.iter().position(|c| c.id == id)) {
        let connection = enabled.swap_remove(i);
        return Ok(Route::Start(tenant, connection));
    }
    Ok(Route::of(tenant, enabled, email))
}
