//! DPoP (RFC 9449): sender-constrained tokens. An app that sends a `DPoP` proof to the token
//! endpoint gets an access token bound to the proof's key (`cnf.jkt`, `token_type: DPoP`)
//! and, with `offline_access`, a refresh token bound to it too, which only a proof by the
//! same key refreshes. An app registered with `dpop_bound_access_tokens` must send one.
//! Userinfo takes a bound token only as `Authorization: DPoP …` with a proof by that key
//! over the token (`ath`). A proof is checked ([`check`]): typed `dpop+jwt`, an asymmetric
//! algorithm, a public `jwk` in its header that verifies it, `htm` and `htu` this request's
//! method and URL, `iat` within the last minute, and its `jti` used once per key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client_auth::ALGORITHMS as KEY_ALGORITHMS;
use super::OAuthError;
use crate::services::Services;
use crate::store::{self, StoreError};
use crate::types::Timestamp;

/// The proof algorithms taken, as discovery and a DPoP challenge's `algs` name them (the
/// asymmetric ones of [`ALGORITHMS`]).
pub const ALGORITHMS: &str = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA";
/// The request header that carries a proof.
pub const HEADER: &str = "dpop";
/// How old a proof may be; its `jti` is remembered a little longer.
const MAX_AGE_SECS: i64 = 60;
/// How far ahead of this server's clock a proof's `iat` may be.
const FUTURE_SECS: i64 = 5;
/// Longest proof read.
const MAX_PROOF: usize = 8 * 1024;
/// Longest `jti` remembered.
const MAX_JTI: usize = 256;

/// A proof that checked out: the thumbprint of its key (RFC 7638).
#[derive(Debug, Clone)]
pub struct Proof {
    pub jkt: String,
}

fn invalid(why: &str) -> OAuthError {
    OAuthError::new(
        400,
        "invalid_dpop_proof",
        format!("the DPoP proof is not valid: {why}"),
    )
}

/// Checks `proof` for a `method` request to `url` (and, at a resource, for `access_token`).
pub async fn check(
    state: &Services,
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Result<Proof, OAuthError> {
    if proof.len() > MAX_PROOF {
        return Err(invalid("it is too long"));
    }
    let header = jsonwebtoken::decode_header(proof).map_err(|_| invalid("not a signed JWT"))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("its typ must be dpop+jwt"));
    }
    if !KEY_ALGORITHMS.contains(&header.alg) {
        return Err(invalid(
            "its algorithm must be asymmetric (RS, PS, ES or EdDSA)",
        ));
    }
    let raw: Value = proof
        .split('.')
        .next()
        .and_then(|h| B64URL.decode(h).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("its header is unreadable"))?;
    let jwk = &raw["jwk"];
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| jwk.get(m).is_some())
    {
        return Err(invalid("its jwk has a private part"));
    }
    let key = header
        .jwk
        .as_ref()
        .and_then(|k| DecodingKey::from_jwk(k).ok())
        .ok_or_else(|| invalid("its header has no usable public jwk"))?;
    let jkt = thumbprint(jwk).ok_or_else(|| invalid("its jwk is not an RSA, EC or OKP key"))?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(proof, &key, &validation)
        .map_err(|_| invalid("its signature does not verify with its jwk"))?
        .claims;
    if claims["htm"].as_str() != Some(method) {
        return Err(invalid(&format!("htm must be {method}")));
    }
    let htu = claims["htu"].as_str().unwrap_or_default();
    let htu = htu.split(['?', '#']).next().unwrap_or_default();
    if htu != url {
        return Err(invalid(&format!("htu must be {url}")));
    }
    let now = state.clock.now().as_micros() / 1_000_000;
    let iat = claims["iat"]
        .as_i64()
        .ok_or_else(|| invalid("it has no iat"))?;
    if iat < now - MAX_AGE_SECS || iat > now + FUTURE_SECS {
        return Err(invalid("its iat is not within the last minute"));
    }
    if let Some(token) = access_token {
        let ath = B64URL.encode(Sha256::digest(token.as_bytes()));
        if claims["ath"].as_str() != Some(ath.as_str()) {
            return Err(invalid("its ath is not the hash of the access token"));
        }
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .ok_or_else(|| invalid("it has no usable jti"))?;
    let until = Timestamp::from_micros((iat + MAX_AGE_SECS + FUTURE_SECS) * 1_000_000);
    // One table of used `jti`s serves client assertions and proofs; a proof's are kept
    // under its key's thumbprint, which no client id can be.
    let key_id = format!("dpop:{jkt}");
    match store::provider::use_client_assertion(&state.store, &key_id, jti, until).await {
        Ok(()) => Ok(Proof { jkt }),
        Err(StoreError::UniqueViolation(_)) => Err(invalid("it was already used")),
        Err(e) => Err(e.into()),
    }
}

/// The JWK thumbprint of a public key (RFC 7638): SHA-256 over its required members in
/// lexicographic order, base64url.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let members: &[&str] = match jwk["kty"].as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut parts = Vec::with_capacity(members.len());
    for m in members {
        let value = jwk[m].as_str()?;
        parts.push(format!("\"{m}\":{}", serde_json::to_string(value).ok()?));
    }
    let canonical = format!("{{{}}}", parts.join(","));
    Some(B64URL.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 §3.1's example key and thumbprint.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            super::thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert!(super::thumbprint(&serde_json::json!({"kty": "oct", "k": "x"})).is_none());
    }
}
