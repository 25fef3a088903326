//! The authorization code flow with one IdP. [`authorization_url`] builds the redirect out
//! (PKCE S256, state, nonce); [`redeem`] exchanges the code that comes back, has the ID token
//! checked ([`super::id_token`]) against the login's nonce, and adds userinfo's claims when
//! the connection asks for them.

use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, LoginHint, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::discovery::{describe, Metadata, ProviderCache};
use super::id_token::{self, Verified};
use super::settings::{OidcSettings, TokenAuthMethod};
use super::Rejection;
use crate::types::Timestamp;

/// What a login state keeps between the redirect out and the answer (sealed).
#[derive(Serialize, Deserialize)]
pub struct Pending {
    pub nonce: String,
    pub pkce_verifier: String,
}

fn client(
    metadata: &Metadata,
    settings: &OidcSettings,
    secret: Option<&str>,
    redirect_uri: &str,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    Rejection,
> {
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|_| Rejection::Provider("the redirect URI is not a URL".into()))?;
    Ok(CoreClient::from_provider_metadata(
        (**metadata).clone(),
        ClientId::new(settings.client_id.clone()),
        secret.map(|s| ClientSecret::new(s.to_string())),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(match settings.token_auth_method {
        TokenAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
        TokenAuthMethod::ClientSecretPost => AuthType::RequestBody,
    }))
}

/// A fresh PKCE pair: the challenge for the URL and what the login state keeps.
pub fn new_pending() -> (PkceCodeChallenge, Pending) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (
        challenge,
        Pending {
            nonce: crate::types::random_token(),
            pkce_verifier: verifier.secret().clone(),
        },
    )
}

/// The IdP URL the browser goes to, asking the IdP what `ask` says (test sign-ins force a
/// new authentication: they must not ride on an IdP session).
pub fn authorization_url(
    metadata: &Metadata,
    settings: &OidcSettings,
    redirect_uri: &str,
    state: &str,
    challenge: PkceCodeChallenge,
    pending: &Pending,
    ask: Ask<'_>,
) -> Result<String, Rejection> {
    let client = client(metadata, settings, None, redirect_uri)?;
    let state = state.to_string();
    let nonce = pending.nonce.clone();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .set_pkce_challenge(challenge);
    for scope in settings.request_scopes().into_iter().skip(1) {
        request = request.add_scope(Scope::new(scope));
    }
    if ask.force_login {
        request = request.add_prompt(CoreAuthPrompt::Login);
    }
    if let Some(hint) = ask.login_hint {
        request = request.set_login_hint(LoginHint::new(hint.to_string()));
    }
    Ok(request.url().0.to_string())
}

/// What the IdP is asked of the user.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ask<'a> {
    /// Sign in again even with a session at the IdP (`prompt=login`: an admin's test).
    pub force_login: bool,
    /// Who is expected (`login_hint`): the email an app hinted.
    pub login_hint: Option<&'a str>,
}

/// Redeems `code` and checks the ID token; returns the verified identity.
pub async fn redeem(
    cache: &ProviderCache,
    settings: &OidcSettings,
    secret: Option<&str>,
    redirect_uri: &str,
    code: &str,
    pending: &Pending,
    now: Timestamp,
) -> Result<Verified, Rejection> {
    let metadata = cache
        .metadata(&settings.issuer)
        .await
        .map_err(Rejection::Provider)?;
    let client = client(&metadata, settings, secret, redirect_uri)?;
    let http = cache.client();
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|_| Rejection::Provider("the IdP publishes no token endpoint".into()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => Rejection::TokenError(
                crate::types::truncate(
                    &format!(
                        "{}{}",
                        r.error().as_ref(),
                        r.error_description()
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default()
                    ),
                    200,
                )
                .to_string(),
            ),
            RequestTokenError::Parse(e, _) => Rejection::Malformed(format!(
                "the token response does not parse: {}",
                crate::types::truncate(&e.to_string(), 200)
            )),
            other => Rejection::Provider(describe(&other)),
        })?;
    let id_token = response.id_token().ok_or(Rejection::NoIdToken)?;
    let nonce = Nonce::new(pending.nonce.clone());
    let mut verified =
        id_token::verify(cache, &metadata, settings, id_token, Some(&nonce), now).await?;
    if settings.fetch_userinfo {
        if let Some(endpoint) = metadata.userinfo_endpoint() {
            let extra =
                userinfo(cache, endpoint.as_str(), response.access_token().secret()).await?;
            if extra.get("sub") != verified.claims.get("sub") {
                return Err(Rejection::UserinfoSubject);
            }
            for (k, v) in extra {
                verified.claims.entry(k).or_insert(v);
            }
            verified.identity = id_token::identity(&settings.issuer, verified.claims.clone())?;
        }
    }
    Ok(verified)
}

/// The userinfo endpoint's claims (JSON answers only).
async fn userinfo(
    cache: &ProviderCache,
    endpoint: &str,
    access_token: &str,
) -> Result<Map<String, Value>, Rejection> {
    let request = openidconnect::http::Request::get(endpoint)
        .header("Authorization", format!("Bearer {access_token}"))
        .header("Accept", "application/json")
        .body(Vec::new())
        .map_err(|_| Rejection::Provider("the userinfo endpoint is not a URL".into()))?;
    let response = cache.client()(request)
        .await
        .map_err(|e| Rejection::Provider(format!("userinfo: {e}")))?;
    if !response.status().is_success() {
        return Err(Rejection::Provider(format!(
            "userinfo answered {}",
            response.status()
        )));
    }
    serde_json::from_slice(response.body())
        .map_err(|_| Rejection::Malformed("userinfo is not a JSON object".into()))
}
