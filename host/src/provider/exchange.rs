//! The token-exchange grant (RFC 8693) for native and mobile apps: an app registered for it
//! (`token_exchange`) presents an ID token its user got from the tenant's OIDC IdP
//! (`subject_token_type` `…:id_token`), or the signed assertion from its SAML IdP
//! (`…:saml2`, base64url), and names the tenant (`organization`, an id or a
//! slug); the user signs in through [`crate::sso::exchange`] (the same checks, pipeline,
//! policy, session and audit as a browser sign-in) and the app gets Gatehouse tokens, the
//! access token typed `…:access_token`. Delegation (`actor_token`), other audiences and
//! resource indicators are refused, not ignored: a token is only ever for the app itself.

use super::clients::Client;
use super::flow::granted_scope;
use super::tokens::{mint, Grant, TokenParams, TokenResponse, MAX_TOKEN};
use super::OAuthError;
use crate::audit::RequestContext;
use crate::error::Error;
use crate::services::Services;
use crate::sso::exchange::{self, Presented};
use crate::sso::failure::Failure;
use crate::store::tenants::TenantStatus;

/// The grant type (RFC 8693 §2.1).
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The subject token types (RFC 8693 §3): an OIDC ID token, a SAML 2.0 assertion.
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
/// What is issued.
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Longest nonce, organization or connection read (each is short in practice).
const MAX_PARAM: usize = 255;

/// `v` when it is 1 to [`MAX_PARAM`] characters (or absent); `invalid_request` naming it
/// otherwise.
fn short<'a>(name: &str, v: &'a Option<String>) -> Result<Option<&'a str>, OAuthError> {
    match v.as_deref() {
        Some(v) if v.is_empty() || v.len() > MAX_PARAM => Err(OAuthError::invalid_request(
            format!("{name} must be 1 to {MAX_PARAM} characters"),
        )),
        other => Ok(other),
    }
}

/// Trades `p.subject_token` for tokens of `client` (registered for token exchange).
pub(super) async fn exchange(
    state: &Services,
    ctx: &RequestContext,
    client: &Client,
    p: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    if p.actor_token.is_some() || p.actor_token_type.is_some() {
        return Err(OAuthError::invalid_request(
            "delegation is not supported: send no actor_token",
        ));
    }
    if p.requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN)
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ACCESS_TOKEN}"
        )));
    }
    if p.resource.is_some() || p.audience.as_deref().is_some_and(|a| a != client.id) {
        return Err(OAuthError::new(
            400,
            "invalid_target",
            "tokens are issued for the app itself: send no resource, and audience only as \
             the app's client_id",
        ));
    }
    let token = p
        .subject_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("subject_token is missing"))?;
    if token.len() > MAX_TOKEN {
        return Err(OAuthError::invalid_request(format!(
            "subject_token is longer than {MAX_TOKEN} bytes"
        )));
    }
    let saml = match p.subject_token_type.as_deref() {
        Some(ID_TOKEN) => false,
        Some(SAML2) => true,
        _ => {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type must be {ID_TOKEN} or {SAML2}"
            )))
        }
    };
    let organization = short("organization", &p.organization)?.ok_or_else(|| {
        OAuthError::invalid_request("organization (the tenant's id or slug) is missing")
    })?;
    let presented = Presented {
        token,
        saml,
        nonce: short("nonce", &p.nonce)?,
        connection: short("connection", &p.connection)?,
    };
    let scope = granted_scope(client, p.scope.as_deref().unwrap_or("openid"))
        .ok_or_else(|| OAuthError::new(400, "invalid_scope", "scope must include openid"))?;
    let tenant = match crate::tenancy::resolve(&state.store, organization).await {
        Ok(t) if t.status == TenantStatus::Active => t,
        Ok(_) | Err(Error::NotFound(_)) => {
            return Err(OAuthError::invalid_grant(
                "organization names no active tenant",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let signed_in = exchange::sign_in(state, &tenant, presented, &client.id, ctx)
        .await
        .map_err(|f| match f {
            Failure::NotFound => OAuthError::invalid_grant(
                "the subject token was not issued for an enabled connection of this \
                 organization",
            ),
            Failure::Refused { message, .. } => OAuthError::invalid_grant(message),
            Failure::Internal(e) => e.into(),
        })?;
    let grant = Grant {
        tenant: tenant.id,
        user: signed_in.user,
        session: signed_in.session,
        scope,
        auth_time: state.clock.now(),
        nonce: None,
        family: None,
        jkt: p.dpop_jkt.clone(),
    };
    let mut tokens = mint(state, client, grant).await?;
    tokens.issued_token_type = Some(ACCESS_TOKEN);
    Ok(tokens)
}
