//! How an app (or a tenant's SCIM client, [`authenticate_with`]) proves who it is at the
//! token, revocation and introspection endpoints ([`authenticate`]): its client secret by HTTP Basic or in the form (compared in constant
//! time), nothing for a public client (PKCE alone), or a JWT signed with one of the keys it
//! registered (RFC 7523 `private_key_jwt`): issuer and subject the client id, audience this
//! provider (its issuer or token endpoint), at most an hour to live (what common client
//! libraries sign), and each `jti` once. An app registered for one method cannot use another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::clients::{self, Client};
use super::tokens::MAX_TOKEN;
use super::{issuer, OAuthError};
use crate::services::Services;
use crate::store::{self, StoreError};
use crate::types::Timestamp;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest an assertion may live: its `jti` is remembered that long, so the bound keeps the
/// replay table small. An hour, as common libraries sign them (Authlib's default) and as
/// other providers accept.
const MAX_LIFETIME_SECS: i64 = 3600;
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
/// Longest `jti` remembered.
const MAX_JTI: usize = 256;
/// The signature algorithms an app's keys may use: asymmetric only (a shared-secret HMAC
/// would be a client secret by another name).
pub(super) const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The credentials a request carried.
#[derive(Debug, Default)]
pub struct Credentials<'a> {
    /// HTTP Basic `(client id, secret)`.
    pub basic: Option<(String, String)>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub assertion_type: Option<&'a str>,
    pub assertion: Option<&'a str>,
}

/// What can authenticate at the token endpoint: a registered app ([`Client`]) or a tenant's
/// SCIM client (`sessions::scim_clients`). Each kind is looked up in its own table, so one
/// can never pass for the other.
pub trait Authenticating {
    fn client_id(&self) -> &str;
    /// The keys its assertions are signed with (`private_key_jwt`); none for the others.
    fn keys(&self) -> Option<&JwkSet>;
    /// No secret and no keys: PKCE alone.
    fn is_public(&self) -> bool;
    /// True when `presented` is its secret (in constant time).
    fn secret_matches(&self, presented: &str) -> bool;
}

impl Authenticating for Client {
    fn client_id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Option<&JwkSet> {
        self.jwks.as_ref()
    }
    fn is_public(&self) -> bool {
        Client::is_public(self)
    }
    fn secret_matches(&self, presented: &str) -> bool {
        Client::secret_matches(self, presented)
    }
}

/// The app the credentials prove, or `invalid_client`.
pub async fn authenticate(state: &Services, c: Credentials<'_>) -> Result<Client, OAuthError> {
    authenticate_with(
        state,
        c,
        |id| async move { clients::find(state, &id).await },
    )
    .await
}

/// The client the credentials prove, found by `find`, or `invalid_client`.
pub async fn authenticate_with<T, F, Fut>(
    state: &Services,
    c: Credentials<'_>,
    find: F,
) -> Result<T, OAuthError>
where
    T: Authenticating,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, crate::Error>>,
{
    if c.assertion_type.is_some() || c.assertion.is_some() {
        if c.basic.is_some() || c.client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one way of client authentication, not a secret and an assertion",
            ));
        }
        return by_assertion(state, &c, find).await;
    }
    let failed = || OAuthError::invalid_client("client authentication failed");
    let (id, secret) = match (c.basic, c.client_id) {
        (Some((id, secret)), _) => (id, Some(secret)),
        (None, Some(id)) => (id.to_string(), c.client_secret.map(str::to_string)),
        (None, None) => {
            return Err(OAuthError::invalid_client(
                "client authentication is missing",
            ))
        }
    };
    let client = find(id).await?.ok_or_else(failed)?;
    if client.keys().is_some() {
        return Err(OAuthError::invalid_client(
            "this client authenticates with a signed client assertion (private_key_jwt)",
        ));
    }
    match (client.is_public(), secret) {
        (true, None) => Ok(client),
        (false, Some(s)) if client.secret_matches(&s) => Ok(client),
        _ => Err(failed()),
    }
}

/// A `private_key_jwt` assertion: the client it names, if it verifies and was not used before.
async fn by_assertion<T, F, Fut>(
    state: &Services,
    c: &Credentials<'_>,
    find: F,
) -> Result<T, OAuthError>
where
    T: Authenticating,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, crate::Error>>,
{
    let failed = |why: &str| OAuthError::invalid_client(format!("client assertion refused: {why}"));
    if c.assertion_type != Some(ASSERTION_TYPE) {
        return Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {ASSERTION_TYPE}"
        )));
    }
    let assertion = c
        .assertion
        .filter(|a| !a.is_empty() && a.len() <= MAX_TOKEN)
        .ok_or_else(|| OAuthError::invalid_request("client_assertion is missing or too long"))?;
    let named = claimed_subject(assertion).ok_or_else(|| failed("it names no client (sub)"))?;
    if c.client_id.is_some_and(|id| id != named) {
        return Err(failed("client_id is not the assertion's subject"));
    }
    let client = find(named).await?.ok_or_else(|| failed("unknown client"))?;
    let keys = client
        .keys()
        .ok_or_else(|| failed("this client registered no keys"))?;
    let id = client.client_id().to_string();
    let claims = verify(state, &id, keys, assertion).map_err(|why| failed(&why))?;
    let now = state.clock.now();
    let exp = claims["exp"].as_i64().unwrap_or_default();
    if exp > now.as_micros() / 1_000_000 + MAX_LIFETIME_SECS + LEEWAY_SECS as i64 {
        return Err(failed("it lives longer than an hour"));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .ok_or_else(|| failed("it has no usable jti"))?;
    let until = Timestamp::from_micros(exp.saturating_add(LEEWAY_SECS as i64) * 1_000_000);
    match store::provider::use_client_assertion(&state.store, &id, jti, until).await {
        Ok(()) => Ok(client),
        Err(StoreError::UniqueViolation(_)) => Err(failed("it was already used")),
        Err(e) => Err(e.into()),
    }
}

/// The signature (with the registered key the header names), issuer, subject, audience and
/// expiry of `assertion`; its claims.
fn verify(state: &Services, client: &str, keys: &JwkSet, assertion: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "not a signed JWT")?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(format!("{:?} is not an accepted algorithm", header.alg));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or("no registered key matches its kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "the registered key is unusable")?;
    let public_url = state.config.public_url();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[client]);
    validation.sub = Some(client.to_string());
    validation.set_audience(&[issuer(&public_url), format!("{public_url}/oauth2/token")]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    let data = jsonwebtoken::decode::<Value>(assertion, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => "it has expired",
            ErrorKind::InvalidAudience => "its audience is not this provider",
            ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
                "its issuer and subject must be the client id"
            }
            ErrorKind::ImmatureSignature => "it is not valid yet",
            ErrorKind::InvalidSignature => "its signature does not verify",
            _ => "it does not verify",
        }
        .to_string()
    })?;
    Ok(data.claims)
}

/// The `sub` an assertion claims, unverified: only to find whose keys verify it.
fn claimed_subject(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = B64URL.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["sub"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 100)
        .map(str::to_string)
}

/// Checks the keys an app registers: a JWK set of 1 to 5 public keys, each usable for one of
/// [`ALGORITHMS`], with distinct `kid`s when there are several. No private part is kept.
pub fn check_jwks(field: &'static str, jwks: &Value) -> Result<JwkSet, crate::error::Error> {
    let bad = |why: &str| crate::error::Error::invalid(field, why.to_string());
    let text = jwks.to_string();
    if text.len() > 32 * 1024 {
        return Err(bad("the key set is larger than 32 KiB"));
    }
    let set: JwkSet = serde_json::from_value(jwks.clone())
        .map_err(|_| bad("must be a JWK set: {\"keys\": [...]}"))?;
    if set.keys.is_empty() || set.keys.len() > 5 {
        return Err(bad("give 1 to 5 keys"));
    }
    for (i, key) in jwks["keys"].as_array().into_iter().flatten().enumerate() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            if key.get(private).is_some() {
                return Err(bad(&format!(
                    "key {i} has a private or symmetric part (`{private}`): register public keys only"
                )));
            }
        }
    }
    for (i, key) in set.keys.iter().enumerate() {
        DecodingKey::from_jwk(key)
            .map_err(|_| bad(&format!("key {i} is not a usable public key")))?;
    }
    let kids: Vec<_> = set
        .keys
        .iter()
        .map(|k| k.common.key_id.as_deref())
        .collect();
    if set.keys.len() > 1
        && (kids.contains(&None) || (1..kids.len()).any(|i| kids[..i].contains(&kids[i])))
    {
        return Err(bad("several keys need distinct `kid`s"));
    }
    Ok(set)
}
