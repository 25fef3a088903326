//! The OIDC redirect URI: the IdP sends the browser back with `code` and `state` (or an
//! `error`). The state must name a login state of this connection, started in this browser;
//! the code is redeemed with the PKCE verifier and the ID token checked ([`super::oidc::flow`]),
//! then the identity takes the same path as a SAML one: the tenant's pipeline, the
//! directory, a session. Every refusal is audited as `login.failed` with its reason code.

use super::failure::{audited, Failure};
use super::login_state::{pending_purpose, take_state};
use super::oidc::flow::{self, Pending};
use super::oidc::Rejection;
use super::pipeline::{self, Finished};
use super::{connection_secrets, oidc_redirect_uri, Connection, Settings};
use crate::audit::RequestContext;
use crate::error::Error;
use crate::services::Services;
use crate::store::tenants::TenantRecord;

/// Longest authorization code and IdP error text accepted from the query string.
const MAX_CODE: usize = 4096;
const MAX_ERROR_TEXT: usize = 200;

/// What the IdP put in the redirect's query string.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    /// RFC 9207: the issuer of the answer, when the IdP says (defeats IdP mix-up).
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Handles the browser's return from an OIDC IdP. Audits every refusal.
pub async fn oidc_callback(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    params: &CallbackParams,
    cookies: &[(String, String)],
    ctx: &RequestContext,
) -> Result<Finished, Failure> {
    let result = callback_inner(state, tenant, connection, params, cookies, ctx).await;
    audited(state, tenant, connection.id, "oidc", ctx, result).await
}

async fn callback_inner(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    params: &CallbackParams,
    cookies: &[(String, String)],
    ctx: &RequestContext,
) -> Result<Finished, Failure> {
    let Settings::Oidc(oidc) = &connection.settings else {
        return Err(Failure::NotFound);
    };
    pipeline::check_not_disabled(connection)?;
    let login = take_state(
        state,
        tenant.id,
        connection,
        params.state.as_deref(),
        cookies,
    )
    .await?
    .ok_or_else(|| Failure::Refused {
        code: "unsolicited",
        message: "this answer does not belong to a sign-in started here; start again".into(),
        detail: None,
    })?;
    if let Some(error) = &params.error {
        let text = match &params.error_description {
            Some(d) => format!("{error}: {d}"),
            None => error.clone(),
        };
        let text: String = text.chars().filter(|c| !c.is_control()).collect();
        return Err(
            Rejection::IdpError(crate::types::truncate(&text, MAX_ERROR_TEXT).to_string()).into(),
        );
    }
    if params.iss.as_ref().is_some_and(|iss| *iss != oidc.issuer) {
        return Err(Rejection::Issuer.into());
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= MAX_CODE)
        .ok_or_else(|| Rejection::Malformed("the answer carries no authorization code".into()))?;
    let sealed = login.secrets_sealed.as_deref().ok_or_else(|| {
        Failure::Internal(Error::Internal(anyhow::anyhow!(
            "OIDC login state without its sealed nonce"
        )))
    })?;
    let plain = state
        .secrets
        .open(&state.store, tenant.id, &pending_purpose(&login.id), sealed)
        .await?;
    let pending: Pending =
        serde_json::from_slice(&plain).map_err(|e| Failure::Internal(Error::Internal(e.into())))?;
    let secret = connection_secrets::client_secret(state, connection).await?;
    let redirect_uri = oidc_redirect_uri(
        &state.config.public_url(),
        &tenant.public_token,
        connection.id,
    );
    let verified = flow::redeem(
        &state.oidc,
        oidc,
        secret.as_ref().map(|s| s.as_str()),
        &redirect_uri,
        code,
        &pending,
        state.clock.now(),
    )
    .await?;
    pipeline::finish(
        state,
        tenant,
        connection,
        &verified.identity,
        &verified.upstream,
        Some(login),
        ctx,
    )
    .await
}
