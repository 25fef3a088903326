//! The start of a sign-in: which tenant and connection an IdP-facing URL names
//! ([`resolve`]), and [`start`], which records a single-use login state and sends the browser
//! to the IdP (a SAML AuthnRequest or an OIDC authorization request). Where a sign-in goes
//! before that is [`super::route`].

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::failure::Failure;
use super::login_state::{
    binding_set_cookie, pending_purpose, safe_return_to, LOGIN_STATE_TTL_SECS,
};
use super::oidc::flow as oidc_flow;
use super::saml::authn_request::{new_request_id, AuthnRequest};
use super::{connections, oidc_redirect_uri, Connection, ConnectionStatus, Settings, SpEndpoints};
use crate::error::Error;
use crate::services::Services;
use crate::store::tenants::Feature;
use crate::store::{self, sso::LoginStateRow, tenants::TenantRecord, tenants::TenantStatus};
use crate::types::{random_token, ConnectionId};

/// The tenant and connection named in an IdP-facing URL, through the node cache (see
/// [`crate::cache`] for how fresh they are); refused when the tenant does not have SSO.
pub async fn resolve(
    state: &Services,
    tenant_token: &str,
    connection: &str,
) -> Result<(TenantRecord, Arc<Connection>), Failure> {
    let id: ConnectionId = connection.parse().map_err(|_| Failure::NotFound)?;
    let tenant = resolve_tenant(state, tenant_token).await?;
    crate::tenancy::features::check(&tenant, Feature::Sso)?;
    let connection = state
        .cache
        .connection(tenant.id, id, || async {
            connections::load(state, tenant.id, id)
                .await
                .map(|c| Some(Arc::new(c)))
        })
        .await?
        .ok_or(Failure::NotFound)?;
    Ok((tenant, connection))
}

/// The active tenant whose public token is `tenant_token`, through the node cache.
pub async fn resolve_tenant(state: &Services, tenant_token: &str) -> Result<TenantRecord, Failure> {
    let tenant = state
        .cache
        .tenant_by_token(tenant_token, || {
            store::tenants::find_by_public_token(&state.store, tenant_token, state.clock.now())
        })
        .await
        .map_err(Error::from)?
        .ok_or(Failure::NotFound)?;
    if tenant.status != TenantStatus::Active {
        return Err(Failure::NotFound);
    }
    Ok(tenant)
}

/// Where the browser goes next and, for a browser-started sign-in, the `Set-Cookie` value
/// that binds the answer to this browser.
pub struct Started {
    pub redirect_url: String,
    pub binding_cookie: Option<String>,
}

/// Records a login state and returns where to send the browser. A test sign-in (started by
/// an admin through the API, then opened in some browser) is not bound to a browser. A
/// `login_hint` (an email an app hinted) goes to an OIDC IdP as its `login_hint`.
pub async fn start(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    return_to: Option<String>,
    login_hint: Option<&str>,
    test_mode: bool,
) -> Result<Started, Error> {
    if !test_mode && connection.status != ConnectionStatus::Enabled {
        return Err(Error::Conflict(
            "this connection is not enabled for sign-in".into(),
        ));
    }
    if connection.status == ConnectionStatus::Disabled {
        return Err(Error::Conflict("this connection is disabled".into()));
    }
    let now = state.clock.now();
    let binding = (!test_mode).then(random_token);
    let mut login = LoginStateRow {
        binding_hash: binding
            .as_ref()
            .map(|b| Sha256::digest(b.as_bytes()).to_vec()),
        id: random_token(),
        tenant_id: tenant.id,
        connection_id: connection.id,
        request_id: String::new(),
        secrets_sealed: None,
        return_to: safe_return_to(return_to.as_deref()),
        test_mode,
        created_at: now,
        expires_at: now.plus_seconds(LOGIN_STATE_TTL_SECS),
    };
    let public_url = state.config.public_url();
    let url = match &connection.settings {
        Settings::Saml(saml) => {
            let sp = SpEndpoints::new(&public_url, &tenant.public_token, connection.id);
            login.request_id = new_request_id();
            AuthnRequest {
                id: &login.request_id,
                issue_instant: now,
                sp_entity_id: &sp.entity_id,
                acs_url: &sp.acs_url,
                destination: &saml.sso_url,
                force_authn: test_mode,
            }
            .redirect_url(&login.id)
            .map_err(Error::Internal)?
        }
        Settings::Oidc(oidc) => {
            let metadata = state.oidc.metadata(&oidc.issuer).await.map_err(|e| {
                Error::Conflict(format!("the identity provider cannot be used now: {e}"))
            })?;
            let (challenge, pending) = oidc_flow::new_pending();
            let redirect_uri = oidc_redirect_uri(&public_url, &tenant.public_token, connection.id);
            let url = oidc_flow::authorization_url(
                &metadata,
                oidc,
                &redirect_uri,
                &login.id,
                challenge,
                &pending,
                oidc_flow::Ask {
                    force_login: test_mode,
                    login_hint,
                },
            )
            .map_err(|e| Error::Conflict(e.to_string()))?;
            let plain = zeroize::Zeroizing::new(
                serde_json::to_vec(&pending).map_err(|e| Error::Internal(e.into()))?,
            );
            login.secrets_sealed = Some(
                state
                    .secrets
                    .seal(&state.store, tenant.id, &pending_purpose(&login.id), &plain)
                    .await?,
            );
            url
        }
    };
    let mut tx = state.store.begin().await?;
    store::sso::insert_login_state(&mut tx, &login).await?;
    tx.commit().await?;
    Ok(Started {
        redirect_url: url,
        binding_cookie: binding.map(|b| binding_set_cookie(state, &login.id, &b)),
    })
}

/// Starts an admin's test sign-in through connection `id` of the caller's tenant: where the
/// browser goes to sign in at the IdP; the answer comes back as a report of what the IdP sent
/// and what the pipeline made of it, creating no user or session.
pub async fn test(
    state: &Services,
    auth: &crate::rbac::Authorized<crate::rbac::WriteSso>,
    id: crate::types::ConnectionId,
) -> Result<String, Error> {
    let connection = super::connections::load(state, auth.tenant(), id).await?;
    let tenant = crate::store::tenants::get(&state.store, auth.tenant())
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    Ok(start(state, &tenant, &connection, None, None, true)
        .await?
        .redirect_url)
}
