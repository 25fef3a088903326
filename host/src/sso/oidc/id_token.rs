//! The checks on an ID token from a connection's IdP, for both ways one arrives: redeemed
//! from the code flow ([`super::flow::redeem`]) or presented by an app in a token exchange
//! ([`presented`]). [`verify`] checks the signature with an accepted asymmetric algorithm
//! and a published key (keys are refreshed once on an unknown `kid`), issuer, audience,
//! authorized party, expiry and issue time with skew, and the nonce; the verified claims
//! become a [`RawIdentity`], and `amr`/`acr` say whether the IdP proved MFA. It knows
//! nothing of users or sessions.

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm};
use openidconnect::{ClaimsVerificationError, ClientId, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};

use super::discovery::{Metadata, ProviderCache};
use super::settings::OidcSettings;
use super::Rejection;
use crate::identity::{Attribute, Protocol, RawIdentity};
use crate::sessions::auth_context::Upstream;
use crate::types::Timestamp;

/// An ID token issued longer ago than this (plus skew) is stale: a code-flow token is minted
/// when the code is redeemed, seconds ago, and an app exchanges the one it just got.
const MAX_ID_TOKEN_AGE_SECS: i64 = 10 * 60;
/// Longest subject kept (the pipeline's own subject limit).
const MAX_SUBJECT_CHARS: usize = 512;
/// Longest ID token an app may present (a few kilobytes in practice; groups can swell it).
pub const MAX_ID_TOKEN: usize = 16 * 1024;
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
    "session_expiry",
];

/// A verified sign-in.
pub struct Verified {
    pub identity: RawIdentity,
    /// What the ID token says of the authentication (`amr`, `acr`, whether they prove MFA,
    /// `session_expiry`; never taken from userinfo).
    pub upstream: Upstream,
    /// The claims as signed (the code flow may add userinfo's before making the identity).
    pub claims: Map<String, Value>,
    /// When the token expires (a presented token is remembered until then, against replay).
    pub expires_at: Timestamp,
}

/// Checks `id_token` against `metadata`, refreshing the IdP's keys once when it names an
/// unknown one. With `nonce`, the token must carry it; without, any nonce (or none) passes.
pub async fn verify(
    cache: &ProviderCache,
    metadata: &Metadata,
    settings: &OidcSettings,
    id_token: &CoreIdToken,
    nonce: Option<&Nonce>,
    now: Timestamp,
) -> Result<Verified, Rejection> {
    let claims = match check(metadata, settings, id_token, nonce, now) {
        Err(Rejection::UnknownKey) => match cache.refresh_keys(&settings.issuer).await {
            Ok(Some(fresh)) => check(&fresh, settings, id_token, nonce, now),
            Ok(None) => Err(Rejection::UnknownKey),
            Err(e) => Err(Rejection::Provider(e)),
        },
        other => other,
    }?;
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .map(|s| Timestamp::from_micros(s.saturating_mul(1_000_000)))
        .unwrap_or(now);
    Ok(Verified {
        identity: identity(&settings.issuer, claims.clone())?,
        upstream: upstream(&claims),
        claims,
        expires_at,
    })
}

/// An ID token an app presents (RFC 8693 `subject_token`): parsed, then [`verify`]'d as the
/// code flow's own, with the app's `nonce` when it gives one.
pub async fn presented(
    cache: &ProviderCache,
    settings: &OidcSettings,
    token: &str,
    nonce: Option<&str>,
    now: Timestamp,
) -> Result<Verified, Rejection> {
    if token.len() > MAX_ID_TOKEN {
        return Err(Rejection::Malformed(format!(
            "the ID token is longer than {MAX_ID_TOKEN} bytes"
        )));
    }
    let id_token: CoreIdToken = token
        .parse()
        .map_err(|_| Rejection::Malformed("the subject token is not a signed JWT".into()))?;
    let metadata = cache
        .metadata(&settings.issuer)
        .await
        .map_err(Rejection::Provider)?;
    let nonce = nonce.map(|n| Nonce::new(n.to_string()));
    verify(cache, &metadata, settings, &id_token, nonce.as_ref(), now).await
}

/// The `iss` and `aud` a token says it has, unverified: only to pick which connection's
/// checks to run.
pub fn claimed_issuer_and_audiences(token: &str) -> Option<(String, Vec<String>)> {
    let part = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    let iss = claims.get("iss")?.as_str()?.to_string();
    let aud = match claims.get("aud")? {
        Value::String(a) => vec![a.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .take(MAX_VALUES)
            .collect(),
        _ => return None,
    };
    Some((iss, aud))
}

/// What the ID token's `amr`, `acr` and `session_expiry` claims say, and whether the first
/// two prove MFA.
fn upstream(claims: &Map<String, Value>) -> Upstream {
    let amr: Vec<String> = match claims.get("amr") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .take(MAX_VALUES)
            .collect(),
        _ => Vec::new(),
    };
    let acr = claims.get("acr").and_then(Value::as_str);
    let mfa = crate::policy::idp_mfa::oidc(&amr, acr);
    let session_expiry = claims.get("session_expiry").and_then(Value::as_i64);
    Upstream::new(&amr, acr, mfa, session_expiry)
}

/// Every check on the ID token; the verified claims as JSON.
fn check(
    metadata: &Metadata,
    settings: &OidcSettings,
    id_token: &CoreIdToken,
    nonce: Option<&Nonce>,
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
    let claims = match nonce {
        Some(nonce) => id_token.claims(&verifier, nonce),
        None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    };
    let claims = claims.map_err(|e| match e {
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

/// The claims as the pipeline's raw identity: each user claim an attribute, arrays as
/// several values, other JSON as its text.
pub(super) fn identity(issuer: &str, claims: Map<String, Value>) -> Result<RawIdentity, Rejection> {
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
