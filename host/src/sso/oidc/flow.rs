//! The authorization code flow with one IdP. [`authorization_url`] builds the redirect out
//! (PKCE S256, state, nonce); [`redeem`] exchanges the code that comes back and checks the
//! ID token: signature with an accepted asymmetric algorithm and a published key (keys are
//! refreshed once on an unknown `kid`), issuer, audience, authorized party, expiry and issue
//! time with skew, and nonce. The verified claims become a [`RawIdentity`].

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    LoginHint, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::discovery::{describe, Metadata, ProviderCache};
use super::settings::{OidcSettings, TokenAuthMethod};
use super::Rejection;
use crate::identity::{Attribute, Protocol, RawIdentity};
use crate::types::Timestamp;

/// An ID token issued longer ago than this (plus skew) is stale: a code-flow token is minted
/// when the code is redeemed, seconds ago.
const MAX_ID_TOKEN_AGE_SECS: i64 = 10 * 60;
/// Longest subject kept (the pipeline's own subject limit).
const MAX_SUBJECT_CHARS: usize = 512;
/// Most claims and values per claim turned into attributes.
const MAX_ATTRIBUTES: usize = 256;
const MAX_VALUES: usize = 1000;
/// Claims about the token itself rather than the user; not passed to the pipeline.
const TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "jti",
    "sid",
    "auth_time",
];

/// What a login state keeps between the redirect out and the answer (sealed).
#[derive(Serialize, Deserialize)]
pub struct Pending {
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified sign-in.
pub struct Verified {
    pub identity: RawIdentity,
    /// The ID token itself proves MFA at the IdP (`amr`, `acr`; never taken from userinfo).
    pub idp_mfa: bool,
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
    let verified = match check(&metadata, settings, id_token, &nonce, now) {
        Err(Rejection::UnknownKey) => match cache.refresh_keys(&settings.issuer).await {
            Ok(Some(fresh)) => check(&fresh, settings, id_token, &nonce, now),
            Ok(None) => Err(Rejection::UnknownKey),
            Err(e) => Err(Rejection::Provider(e)),
        },
        other => other,
    };
    let mut claims = verified?;
    let idp_mfa = proves_mfa(&claims);
    if settings.fetch_userinfo {
        if let Some(endpoint) = metadata.userinfo_endpoint() {
            let extra =
                userinfo(cache, endpoint.as_str(), response.access_token().secret()).await?;
            if extra.get("sub") != claims.get("sub") {
                return Err(Rejection::UserinfoSubject);
            }
            for (k, v) in extra {
                claims.entry(k).or_insert(v);
            }
        }
    }
    identity(&settings.issuer, claims).map(|identity| Verified { identity, idp_mfa })
}

/// Whether the ID token's `amr` and `acr` claims prove MFA.
fn proves_mfa(claims: &Map<String, Value>) -> bool {
    let amr: Vec<String> = match claims.get("amr") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .take(MAX_VALUES)
            .collect(),
        _ => Vec::new(),
    };
    let acr = claims.get("acr").and_then(Value::as_str);
    crate::policy::idp_mfa::oidc(&amr, acr)
}

/// Every check on the ID token; the verified claims as JSON.
fn check(
    metadata: &Metadata,
    settings: &OidcSettings,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    now: Timestamp,
) -> Result<Map<String, Value>, Rejection> {
    let algs: Vec<CoreJwsSigningAlgorithm> = settings
        .allowed_algs
        .iter()
        .filter_map(|a| serde_json::from_value(Value::String(a.clone())).ok())
        .collect();
    let skew = TimeDelta::seconds(i64::from(settings.clock_skew_secs));
    let now = DateTime::<Utc>::from_timestamp_micros(now.as_micros()).unwrap_or_default();
    let oldest = now - skew - TimeDelta::seconds(MAX_ID_TOKEN_AGE_SECS);
    // A public-client verifier: it never accepts HMAC signatures, whatever the algorithm list.
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(settings.client_id.clone()),
        metadata.issuer().clone(),
        metadata.jwks().clone(),
    )
    .set_allowed_algs(algs)
    .set_time_fn(move || now - skew)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + skew {
            Err("issued in the future".into())
        } else if iat < oldest {
            Err("issued too long ago".into())
        } else {
            Ok(())
        }
    });
    let claims = id_token.claims(&verifier, nonce).map_err(|e| match e {
        ClaimsVerificationError::Expired(why) if why.contains("future") => Rejection::NotYetValid,
        ClaimsVerificationError::Expired(_) => Rejection::Expired,
        ClaimsVerificationError::InvalidAudience(_) => Rejection::Audience,
        ClaimsVerificationError::InvalidIssuer(_) => Rejection::Issuer,
        ClaimsVerificationError::InvalidNonce(_) => Rejection::Nonce,
        ClaimsVerificationError::SignatureVerification(s) => match s {
            SignatureVerificationError::NoSignature => Rejection::Unsigned,
            SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::UnsupportedAlg(_) => Rejection::Algorithm,
            SignatureVerificationError::NoMatchingKey => Rejection::UnknownKey,
            _ => Rejection::BadSignature,
        },
        other => Rejection::Malformed(crate::types::truncate(&other.to_string(), 200).to_string()),
    })?;
    // openidconnect leaves `azp` to the caller (OIDC Core 3.1.3.7 steps 4 and 5).
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != settings.client_id => return Err(Rejection::AuthorizedParty),
        None if claims.audiences().len() > 1 => return Err(Rejection::AuthorizedParty),
        _ => {}
    }
    payload(id_token)
}

/// The signed payload as JSON (already verified; read again to keep every claim, including
/// ones the openidconnect types do not model, such as `groups`).
fn payload(id_token: &CoreIdToken) -> Result<Map<String, Value>, Rejection> {
    let text = id_token.to_string();
    let part = text
        .split('.')
        .nth(1)
        .ok_or_else(|| Rejection::Malformed("the ID token has no payload".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| Rejection::Malformed("the ID token payload is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| Rejection::Malformed("the ID token payload is not a JSON object".into()))
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

/// The claims as the pipeline's raw identity: each user claim an attribute, arrays as
/// several values, other JSON as its text.
fn identity(issuer: &str, claims: Map<String, Value>) -> Result<RawIdentity, Rejection> {
    let subject = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_SUBJECT_CHARS => {
            s.clone()
        }
        _ => {
            return Err(Rejection::Malformed(format!(
                "the ID token's `sub` must be a string of 1 to {MAX_SUBJECT_CHARS} characters"
            )))
        }
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let attributes = claims
        .iter()
        .filter(|(name, _)| !TOKEN_CLAIMS.contains(&name.as_str()))
        .take(MAX_ATTRIBUTES)
        .filter_map(|(name, value)| {
            let values: Vec<String> = match value {
                Value::Array(items) => items.iter().take(MAX_VALUES).filter_map(text).collect(),
                other => text(other).into_iter().collect(),
            };
            (!values.is_empty()).then(|| Attribute {
                name: name.clone(),
                values,
            })
        })
        .collect();
    Ok(RawIdentity {
        protocol: Protocol::Oidc,
        issuer: issuer.to_string(),
        subject,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_become_attributes() {
        let claims = serde_json::json!({
            "sub": "u1", "iss": "https://idp", "aud": "c", "exp": 1, "nonce": "n",
            "email": "ada@example.com", "email_verified": true,
            "groups": ["a", "b", null], "address": {"country": "UK"}, "nothing": null,
        });
        let Value::Object(map) = claims else { panic!() };
        let raw = identity("https://idp", map).unwrap();
        assert_eq!(raw.subject, "u1");
        let get = |n: &str| {
            raw.attributes
                .iter()
                .find(|a| a.name == n)
                .map(|a| a.values.clone())
        };
        assert_eq!(get("email").unwrap(), ["ada@example.com"]);
        assert_eq!(get("email_verified").unwrap(), ["true"]);
        assert_eq!(get("groups").unwrap(), ["a", "b"]);
        assert_eq!(get("address").unwrap(), [r#"{"country":"UK"}"#]);
        assert!(get("nonce").is_none() && get("aud").is_none() && get("nothing").is_none());
    }

    #[test]
    fn a_subject_is_required() {
        for claims in [serde_json::json!({}), serde_json::json!({"sub": 5})] {
            let Value::Object(map) = claims else { panic!() };
            assert!(matches!(identity("i", map), Err(Rejection::Malformed(_))));
        }
    }
}
