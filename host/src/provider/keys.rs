//! The provider's token signing keys: RSA-2048, RS256. One signs; retired ones stay in the
//! JWKS for [`OVERLAP_SECS`] so tokens they signed still verify. Private halves are sealed
//! with the master key. A key is created on first use; `rotate` starts a new one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{json, Value};

use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance};
use crate::services::Services;
use crate::store::{self, provider::KeyRow};

/// How long a retired key stays published: longer than any token it signed lives.
pub const OVERLAP_SECS: i64 = 24 * 3600;

const PURPOSE: &str = "provider-signing-key";

/// The signing key: its id and the key jsonwebtoken signs with.
pub struct SigningKey {
    pub kid: String,
    pub key: EncodingKey,
}

fn generate(now: crate::types::Timestamp) -> anyhow::Result<(KeyRow, zeroize::Zeroizing<Vec<u8>>)> {
    let rsa = openssl::rsa::Rsa::generate(2048)?;
    let pem = zeroize::Zeroizing::new(rsa.private_key_to_pem()?);
    let mut kid = [0u8; 12];
    openssl::rand::rand_bytes(&mut kid)?;
    let kid = B64URL.encode(kid);
    let jwk = json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": B64URL.encode(rsa.n().to_vec()),
        "e": B64URL.encode(rsa.e().to_vec()),
    });
    Ok((
        KeyRow {
            kid,
            private_sealed: Vec::new(),
            public_jwk: jwk.to_string(),
            created_at: now,
            retired_at: None,
        },
        pem,
    ))
}

/// Creates a new signing key and retires the current one. Returns the new kid.
pub async fn rotate(
    state: &Services,
    _auth: &Authorized<OperateInstance>,
) -> Result<String, Error> {
    rotate_now(state).await
}

/// Rotates without a caller: the first key, made when the provider first signs.
async fn rotate_now(state: &Services) -> Result<String, Error> {
    let now = state.clock.now();
    let (mut row, pem) = generate(now).map_err(Error::Internal)?;
    row.private_sealed = state.secrets.seal_instance(PURPOSE, &pem)?;
    let mut tx = state.store.begin().await?;
    store::provider::rotate_key(&mut tx, &row, now).await?;
    store::provider::drop_retired_keys(&mut tx, now.plus_seconds(-OVERLAP_SECS)).await?;
    tx.commit().await?;
    Ok(row.kid)
}

/// The key to sign with, creating the first one if there is none.
pub async fn signing_key(state: &Services) -> Result<SigningKey, Error> {
    let keys = store::provider::keys(&state.store).await?;
    let row = match keys.into_iter().find(|k| k.retired_at.is_none()) {
        Some(row) => row,
        None => {
            rotate_now(state).await?;
            store::provider::keys(&state.store)
                .await?
                .into_iter()
                .find(|k| k.retired_at.is_none())
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("no signing key after rotation")))?
        }
    };
    let pem = state.secrets.open_instance(PURPOSE, &row.private_sealed)?;
    let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| Error::Internal(e.into()))?;
    Ok(SigningKey { kid: row.kid, key })
}

/// Published keys (signing and overlapping retired ones) as a JWKS document.
pub async fn jwks(state: &Services) -> Result<Value, Error> {
    // Make sure there is something to publish before the first token is signed.
    signing_key(state).await?;
    let horizon = state.clock.now().plus_seconds(-OVERLAP_SECS);
    let keys: Vec<Value> = store::provider::keys(&state.store)
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none_or(|r| r > horizon))
        .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
        .collect();
    Ok(json!({ "keys": keys }))
}

/// The verification key for `kid`, if it is still published.
pub async fn decoding_key(state: &Services, kid: &str) -> Result<Option<DecodingKey>, Error> {
    let horizon = state.clock.now().plus_seconds(-OVERLAP_SECS);
    let Some(row) = store::provider::keys(&state.store)
        .await?
        .into_iter()
        .find(|k| k.kid == kid && k.retired_at.is_none_or(|r| r > horizon))
    else {
        return Ok(None);
    };
    let jwk: Value =
        serde_json::from_str(&row.public_jwk).map_err(|e| Error::Internal(e.into()))?;
    let (Some(n), Some(e)) = (jwk["n"].as_str(), jwk["e"].as_str()) else {
        return Ok(None);
    };
    Ok(DecodingKey::from_rsa_components(n, e).ok())
}
