//! OpenID Connect Back-Channel Logout 1.0: when a session ends for any reason (sign-out,
//! deactivation, tenant suspension, an admin's revocation, a session lifetime running out),
//! each app that got tokens in it and registered a `backchannel_logout_uri` is sent a
//! signed logout token. The notices are queued in the outbox by the transaction that ends
//! the session ([`store::outbox::enqueue_logout_notices`]); the delivery worker calls
//! [`deliver`] with retries. The token is signed when it is sent, with the provider's
//! current key, and lives [`TOKEN_SECS`]: a retry a day later still carries a fresh token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use openidconnect::http;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;

use super::{issuer, keys};
use crate::services::Services;
use crate::sso::outbound::Outbound;
use crate::store::{self, outbox::OutboxRow};

/// The event a logout token carries (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token's lifetime: the spec recommends at most two minutes.
const TOKEN_SECS: i64 = 120;

/// A notice as the outbox holds it.
#[derive(Debug, Deserialize)]
struct Notice {
    client_id: String,
    session_id: String,
    user_id: String,
}

/// Sends one queued notice. An app that was revoked or no longer has a back-channel URI
/// needs no notice: that counts as delivered.
pub async fn deliver(state: &Services, http: &Outbound, row: &OutboxRow) -> Result<(), String> {
    let notice: Notice = row
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .ok_or("the notice is unreadable")?;
    let client = store::provider::client(&state.store, &notice.client_id)
        .await
        .map_err(|e| format!("reading the app: {e}"))?;
    let Some(uri) = client
        .filter(|c| c.revoked_at.is_none())
        .and_then(|c| c.backchannel_logout_uri)
    else {
        return Ok(());
    };
    let token = logout_token(state, &notice).await?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    let request = http::Request::post(uri.as_str())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .map_err(|_| format!("{uri} is not a usable URL"))?;
    // §2.8: 200 (or 204) when the app logged the session out; anything else failed.
    crate::outbox::webhook::post(http, request, &uri).await
}

/// The logout token (§2.4): typed `logout+jwt`, naming the user and the session, no nonce.
async fn logout_token(state: &Services, notice: &Notice) -> Result<String, String> {
    let key = keys::signing_key(state)
        .await
        .map_err(|e| format!("the signing key could not be read: {e:?}"))?;
    let now = state.clock.now().as_micros() / 1_000_000;
    let mut jti = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut jti);
    let claims = json!({
        "iss": issuer(&state.config.public_url()),
        "aud": notice.client_id,
        "iat": now,
        "exp": now + TOKEN_SECS,
        "jti": B64URL.encode(jti),
        "sub": notice.user_id,
        "sid": notice.session_id,
        "events": { EVENT: {} },
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid);
    header.typ = Some("logout+jwt".into());
    jsonwebtoken::encode(&header, &claims, &key.key)
        .map_err(|_| "the logout token could not be signed".to_string())
}
