//! A connection's sealed secrets: an OIDC client secret, sealed when set and opened only to
//! redeem a code, and a SAML connection's SP decryption keys.

use std::collections::BTreeMap;

use openssl::pkey::{PKey, Private};
use serde_json::json;

use super::oidc::settings::check_secret;
use super::saml::encryption;
use super::{Connection, Settings};
use crate::error::Error;
use crate::services::Services;

/// Seals an OIDC client secret as the connection's secrets.
pub(super) async fn seal_client_secret(
    state: &Services,
    c: &Connection,
    secret: &secrecy::SecretString,
) -> Result<Vec<u8>, Error> {
    use secrecy::ExposeSecret;
    check_secret(secret.expose_secret())?;
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(&json!({"client_secret": secret.expose_secret()}))
            .map_err(|e| Error::Internal(e.into()))?,
    );
    state
        .secrets
        .seal(&state.store, c.tenant_id, &c.keys_purpose(), &plain)
        .await
}

/// An OIDC connection's client secret, if one is stored.
pub async fn client_secret(
    state: &Services,
    c: &Connection,
) -> Result<Option<zeroize::Zeroizing<String>>, Error> {
    let mut map = open_keys(state, c).await?;
    Ok(map.remove("client_secret").map(zeroize::Zeroizing::new))
}

/// The connection's private decryption keys, key id → PEM.
pub(super) async fn open_keys(
    state: &Services,
    c: &Connection,
) -> Result<BTreeMap<String, String>, Error> {
    let Some(sealed) = &c.secrets_sealed else {
        return Ok(BTreeMap::new());
    };
    let plain = state
        .secrets
        .open(&state.store, c.tenant_id, &c.keys_purpose(), sealed)
        .await?;
    serde_json::from_slice(&plain).map_err(|e| Error::Internal(e.into()))
}

/// The SP decryption keys a response may be encrypted to, newest first.
pub async fn decryption_keys(
    state: &Services,
    c: &Connection,
) -> Result<Vec<PKey<Private>>, Error> {
    let Settings::Saml(saml) = &c.settings else {
        return Ok(Vec::new());
    };
    let keys = open_keys(state, c).await?;
    Ok(saml
        .sp_encryption_keys
        .iter()
        .rev()
        .filter_map(|k| keys.get(&k.id).and_then(|pem| encryption::private_key(pem)))
        .collect())
}
