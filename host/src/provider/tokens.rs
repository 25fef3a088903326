//! The token endpoint's grants and what they mint. `authorization_code` redeems a code from
//! [`super::flow`] (single use, PKCE checked); `refresh_token` rotates a refresh token
//! ([`super::refresh`]); the token-exchange grant trades an IdP's ID token
//! ([`super::exchange`]). All mint through [`mint`]: an ID token and an access token (RS256,
//! the access token typed `at+jwt`, RFC 9068) living the app's `access_token_ttl_secs`, and
//! a refresh token when the app takes them and the grant's scope has `offline_access`. The
//! session must be live; its `acr`, `amr` ([`crate::sessions::auth_context`]) and end
//! (`session_expiry`) go into the ID token. [`live_access`] is the one check of an access
//! token (signature, expiry, not revoked, its session live), for userinfo and introspection.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::claims::user_claims;
use super::client_auth::{self, Credentials};
use super::clients::Client;
use super::flow::is_pkce_value;
use super::{issuer, keys, OAuthError};
use crate::audit::RequestContext;
use crate::services::Services;
use crate::sessions::auth_context::{self, Upstream};
use crate::sessions::browser;
use crate::store;
use crate::types::{SessionId, TenantId, Timestamp, UserId};

/// Longest token read from a request (an access token is a few kilobytes).
pub(super) const MAX_TOKEN: usize = 16 * 1024;

/// Form of `/oauth2/token`.
#[derive(Debug, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    /// On a refresh: the same scope or less.
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// RFC 7523 client authentication (`private_key_jwt`).
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// Token exchange (RFC 8693 §2.1): what the app presents and what it asks for.
    pub subject_token: Option<String>,
    pub subject_token_type: Option<String>,
    pub requested_token_type: Option<String>,
    pub actor_token: Option<String>,
    pub actor_token_type: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    /// Token exchange: the tenant (id or slug), the connection (id) the app signed in
    /// through, and the nonce it sent the IdP (checked when given).
    pub organization: Option<String>,
    pub connection: Option<String>,
    pub nonce: Option<String>,
    /// The thumbprint of the key of the request's checked DPoP proof (never from the form).
    #[serde(skip)]
    pub dpop_jkt: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    /// A token exchange's answer says what the access token is (RFC 8693 §2.2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// The client credentials a token request carries.
pub fn credentials_of(basic: Option<(String, String)>, p: &TokenParams) -> Credentials<'_> {
    Credentials {
        basic,
        client_id: p.client_id.as_deref(),
        client_secret: p.client_secret.as_deref(),
        assertion_type: p.client_assertion_type.as_deref(),
        assertion: p.client_assertion.as_deref(),
    }
}

/// `/oauth2/token`: the grant the form names, for the authenticated client.
pub async fn token(
    state: &Services,
    ctx: &RequestContext,
    basic: Option<(String, String)>,
    mut p: TokenParams,
    dpop: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let client = client_auth::authenticate(state, credentials_of(basic, &p)).await?;
    let url = format!("{}/oauth2/token", state.config.public_url());
    p.dpop_jkt = match dpop {
        Some(proof) => Some(
            super::dpop::check(state, proof, "POST", &url, None)
                .await?
                .jkt,
        ),
        None if client.dpop_bound => {
            return Err(OAuthError::new(
                400,
                "invalid_dpop_proof",
                "this app's tokens are DPoP-bound: send a DPoP proof",
            ))
        }
        None => None,
    };
    match p.grant_type.as_deref() {
        Some("authorization_code") => redeem_code(state, &client, &p).await,
        Some("refresh_token") if client.refresh_tokens => {
            super::refresh::refresh(state, ctx, &client, &p).await
        }
        Some("refresh_token") => Err(OAuthError::new(
            400,
            "unauthorized_client",
            "this app is not registered for refresh tokens",
        )),
        Some(super::exchange::GRANT) if client.token_exchange => {
            super::exchange::exchange(state, ctx, &client, &p).await
        }
        Some(super::exchange::GRANT) => Err(OAuthError::new(
            400,
            "unauthorized_client",
            "this app is not registered for token exchange",
        )),
        _ => Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or \
             urn:ietf:params:oauth:grant-type:token-exchange (client_credentials is for \
             tenants' SCIM clients)",
        )),
    }
}

/// What a grant gives tokens for.
pub(super) struct Grant {
    pub tenant: TenantId,
    pub user: UserId,
    pub session: SessionId,
    pub scope: String,
    pub auth_time: Timestamp,
    /// The authorization request's nonce (a code grant only).
    pub nonce: Option<String>,
    /// The refresh-token family this grant continues (a refresh), or none (a sign-in).
    pub family: Option<String>,
    /// The DPoP key the tokens are bound to (its thumbprint), if the request proved one.
    pub jkt: Option<String>,
}

/// Redeems an authorization code.
async fn redeem_code(
    state: &Services,
    client: &Client,
    p: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let code = p
        .code
        .as_deref()
        .filter(|c| c.len() <= MAX_TOKEN)
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let verifier = p
        .code_verifier
        .as_deref()
        .filter(|v| is_pkce_value(v))
        .ok_or_else(|| OAuthError::invalid_request("a valid code_verifier is required"))?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let taken = store::provider::take_code(&mut tx, &Sha256::digest(code.as_bytes())).await?;
    if let Some(row) = &taken {
        // The code's app gets tokens in this session (if the checks below pass): its
        // back-channel hears when the session ends. A refused code links nothing new, since
        // the code was issued to this app for this session.
        store::session_apps::link(
            &mut tx,
            row.tenant_id,
            row.session_id,
            &row.client_id,
            row.user_id,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    let bad = || OAuthError::invalid_grant("the code is invalid, expired or already used");
    let row = taken.ok_or_else(bad)?;
    if row.client_id != client.id || row.expires_at <= now {
        return Err(bad());
    }
    if p.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let computed = B64URL.encode(Sha256::digest(verifier.as_bytes()));
    if !bool::from(computed.as_bytes().ct_eq(row.code_challenge.as_bytes())) {
        return Err(OAuthError::invalid_grant(
            "the code_verifier does not match the code_challenge",
        ));
    }
    // `mint` refuses a session that has ended.
    let grant = Grant {
        tenant: row.tenant_id,
        user: row.user_id,
        session: row.session_id,
        scope: row.scope,
        auth_time: row.auth_time,
        nonce: row.nonce,
        family: None,
        jkt: p.dpop_jkt.clone(),
    };
    mint(state, client, grant).await
}

fn secs(t: Timestamp) -> i64 {
    t.as_micros() / 1_000_000
}

/// Signs the ID and access tokens of a grant and, when the app takes them and the scope
/// asks, issues a refresh token.
pub(super) async fn mint(
    state: &Services,
    client: &Client,
    grant: Grant,
) -> Result<TokenResponse, OAuthError> {
    let claims = user_claims(state, grant.tenant, grant.user, &grant.scope)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
    let (session, session_ends) = browser::live(state, grant.tenant, grant.session)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user's session has ended"))?;
    let upstream: Option<Upstream> = session
        .upstream_auth
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    let how = auth_context::of(&session.method, upstream.as_ref());
    let now = state.clock.now();
    let key = keys::signing_key(state).await?;
    let iss = issuer(&state.config.public_url());
    let ttl = client.access_token_ttl_secs;
    let (iat, exp) = (secs(now), secs(now) + ttl);

    let mut id = claims.clone();
    id.insert("iss".into(), json!(iss));
    id.insert("aud".into(), json!(client.id));
    id.insert("azp".into(), json!(client.id));
    id.insert("iat".into(), json!(iat));
    id.insert("exp".into(), json!(exp));
    id.insert("auth_time".into(), json!(secs(grant.auth_time)));
    id.insert("sid".into(), json!(grant.session));
    // How the user authenticated and when the session ends at the latest (IPSIE SL1).
    id.insert("acr".into(), json!(how.acr));
    if !how.amr.is_empty() {
        id.insert("amr".into(), json!(how.amr));
    }
    id.insert("session_expiry".into(), json!(secs(session_ends)));
    if let Some(nonce) = &grant.nonce {
        id.insert("nonce".into(), json!(nonce));
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    let id_token = jsonwebtoken::encode(&header, &id, &key.key)
        .map_err(|e| crate::Error::Internal(e.into()))?;

    let mut jti = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut jti);
    let mut access = claims;
    access.insert("iss".into(), json!(iss));
    access.insert("aud".into(), json!(client.id));
    access.insert("client_id".into(), json!(client.id));
    access.insert("iat".into(), json!(iat));
    access.insert("exp".into(), json!(exp));
    access.insert("jti".into(), json!(B64URL.encode(jti)));
    access.insert("scope".into(), json!(grant.scope));
    access.insert("sid".into(), json!(grant.session));
    access.insert("auth_time".into(), json!(secs(grant.auth_time)));
    access.insert("acr".into(), json!(how.acr));
    if !how.amr.is_empty() {
        access.insert("amr".into(), json!(how.amr));
    }
    if let Some(jkt) = &grant.jkt {
        access.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid);
    header.typ = Some("at+jwt".into());
    let access_token = jsonwebtoken::encode(&header, &access, &key.key)
        .map_err(|e| crate::Error::Internal(e.into()))?;
    let offline = grant.scope.split(' ').any(|s| s == "offline_access");
    let refresh_token = if client.refresh_tokens && offline {
        Some(super::refresh::issue(state, client, &grant).await?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: if grant.jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        },
        expires_in: ttl,
        id_token,
        refresh_token,
        scope: grant.scope,
        issued_token_type: None,
    })
}

/// Verifies a token signed by this provider: RS256, a published kid, issuer and expiry.
/// `typ` must be `at+jwt` for access tokens.
pub(super) async fn verify(
    state: &Services,
    token: &str,
    access: bool,
) -> Result<Value, OAuthError> {
    let invalid = || OAuthError::invalid_token("the token is invalid or expired");
    if token.len() > MAX_TOKEN {
        return Err(invalid());
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
    if header.alg != Algorithm::RS256 || (access && header.typ.as_deref() != Some("at+jwt")) {
        return Err(invalid());
    }
    let kid = header.kid.ok_or_else(invalid)?;
    let key = keys::decoding_key(state, &kid).await?.ok_or_else(invalid)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer(&state.config.public_url())]);
    validation.validate_aud = false;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|_| invalid())?;
    Ok(data.claims)
}

/// A live access token: its claims and the tenant, user and session they name.
pub(super) struct LiveAccess {
    pub claims: Value,
    pub tenant: TenantId,
    pub user: UserId,
}

/// Checks an access token: signed here and unexpired, not revoked, and its session live
/// (signing out or deactivation ends an app's access at once).
pub(super) async fn live_access(state: &Services, token: &str) -> Result<LiveAccess, OAuthError> {
    let claims = verify(state, token, true).await?;
    let invalid = || OAuthError::invalid_token("the token is invalid or expired");
    let parse = |k: &str| claims[k].as_str().map(str::to_string).ok_or_else(invalid);
    let tenant: TenantId = parse("tenant")?.parse().map_err(|_| invalid())?;
    let user: UserId = parse("sub")?.parse().map_err(|_| invalid())?;
    let session: SessionId = parse("sid")?.parse().map_err(|_| invalid())?;
    if store::refresh_tokens::access_revoked(&state.store, tenant, &parse("jti")?).await? {
        return Err(OAuthError::invalid_token("the token was revoked"));
    }
    if !browser::is_live(state, tenant, session).await? {
        return Err(OAuthError::invalid_token(
            "the session behind this token has ended",
        ));
    }
    Ok(LiveAccess {
        claims,
        tenant,
        user,
    })
}

/// Claims about the bearer of a live access token.
pub async fn userinfo(
    state: &Services,
    authorization: Option<&str>,
    dpop: Option<&str>,
    method: &str,
) -> Result<Value, OAuthError> {
    let (scheme, token) = authorization
        .and_then(|a| a.split_once(' '))
        .ok_or_else(|| OAuthError::invalid_token("an access token is required"))?;
    let live = live_access(state, token).await.map_err(|e| match scheme {
        "DPoP" if e.status == 401 => e.dpop_challenge(),
        _ => e,
    })?;
    // A DPoP-bound token only with a proof by its key over it; a plain one only as Bearer.
    match (scheme, live.claims["cnf"]["jkt"].as_str()) {
        ("DPoP", Some(jkt)) => {
            let proof = dpop.ok_or_else(|| {
                OAuthError::new(401, "invalid_dpop_proof", "a DPoP proof is required")
                    .dpop_challenge()
            })?;
            let url = format!("{}/oauth2/userinfo", state.config.public_url());
            // At a resource a bad proof is 401 with a DPoP challenge (RFC 9449 §7.1).
            let checked = super::dpop::check(state, proof, method, &url, Some(token))
                .await
                .map_err(OAuthError::dpop_challenge)?;
            if checked.jkt != jkt {
                return Err(OAuthError::invalid_token(
                    "the DPoP proof is not made with the token's key",
                )
                .dpop_challenge());
            }
        }
        ("Bearer", None) => {}
        ("Bearer", Some(_)) => {
            return Err(OAuthError::invalid_token(
                "this token is DPoP-bound: send it as `Authorization: DPoP` with a proof",
            )
            .dpop_challenge())
        }
        _ => return Err(OAuthError::invalid_token("use the Bearer or DPoP scheme")),
    }
    let scope = live.claims["scope"].as_str().unwrap_or_default();
    let info = user_claims(state, live.tenant, live.user, scope)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the user is no longer active"))?;
    Ok(Value::Object(info))
}
