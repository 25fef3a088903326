//! The authorization-code flow with PKCE S256 (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1):
//! [`authorize`] checks the request against the registered app and, for a signed-in user,
//! issues a single-use code bound to client, redirect URI, session, nonce and challenge;
//! [`token`] redeems it for an ID token and an access token; [`userinfo`] answers for a live
//! session only, so signing out or deactivation ends an app's access at once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::clients::{self, Client};
use super::{issuer, keys, OAuthError};
use crate::audit::RequestContext;
use crate::policy::admit::{self, Via};
use crate::services::Services;
use crate::sessions::browser;
use crate::store::{self, provider::CodeRow, sessions::SessionRow};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

/// A code must be redeemed within this many seconds.
const CODE_TTL_SECS: i64 = 60;
/// ID and access tokens live this long.
pub const TOKEN_TTL_SECS: i64 = 600;
/// Longest state or nonce accepted (they come back verbatim).
const MAX_ECHO: usize = 512;

/// Query of `/oauth2/authorize`.
#[derive(Debug, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
}

/// What the browser is told to do.
#[derive(Debug)]
pub enum Authorize {
    /// The request cannot be trusted to redirect anywhere: show this error.
    Show(OAuthError),
    /// Send the browser to this URL (the app, with a code or an error).
    Redirect(String),
    /// Sign in first, then come back.
    Login,
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            url.into()
        }
        Err(_) => base.to_string(),
    }
}

fn is_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks an authorization request and, when a session is given, issues a code.
pub async fn authorize(
    state: &Services,
    p: &AuthorizeParams,
    session: Option<&SessionRow>,
    ctx: &RequestContext,
) -> Result<Authorize, OAuthError> {
    let Some(client_id) = p.client_id.as_deref() else {
        return Ok(Authorize::Show(OAuthError::invalid_request(
            "client_id is missing",
        )));
    };
    let Some(client) = clients::find(state, client_id).await? else {
        return Ok(Authorize::Show(OAuthError::invalid_client(
            "unknown client_id",
        )));
    };
    let Some(redirect_uri) = p.redirect_uri.as_deref() else {
        return Ok(Authorize::Show(OAuthError::invalid_request(
            "redirect_uri is missing",
        )));
    };
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Ok(Authorize::Show(OAuthError::invalid_request(
            "redirect_uri is not registered for this client",
        )));
    }
    let iss = issuer(&state.config.public_url());
    let app_state = p.state.clone().unwrap_or_default();
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![
            ("error", error),
            ("error_description", description),
            ("iss", iss.as_str()),
        ];
        if !app_state.is_empty() {
            pairs.push(("state", app_state.as_str()));
        }
        Ok(Authorize::Redirect(with_query(redirect_uri, &pairs)))
    };
    if p.state.as_deref().is_some_and(|s| s.len() > MAX_ECHO)
        || p.nonce.as_deref().is_some_and(|s| s.len() > MAX_ECHO)
    {
        return Ok(Authorize::Show(OAuthError::invalid_request(
            "state or nonce is too long",
        )));
    }
    if p.response_type.as_deref() != Some("code") {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let scope = p.scope.as_deref().unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return fail("invalid_scope", "scope must include openid");
    }
    let scope: Vec<&str> = scope
        .split(' ')
        .filter(|s| matches!(*s, "openid" | "email" | "profile" | "permissions"))
        .collect();
    let Some(challenge) = p.code_challenge.as_deref().filter(|c| is_pkce_value(c)) else {
        return fail(
            "invalid_request",
            "a PKCE code_challenge (S256) is required",
        );
    };
    if p.code_challenge_method.as_deref() != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let Some(session) = session else {
        if p.prompt.as_deref() == Some("none") {
            return fail("login_required", "the user is not signed in");
        }
        return Ok(Authorize::Login);
    };
    let now = state.clock.now();
    let policy = crate::policy::load(&state.store, session.tenant_id).await?;
    let Some(user) =
        store::user_reads::user(&state.store, session.tenant_id, session.user_id).await?
    else {
        return fail("login_required", "the user is no longer active");
    };
    let via = Via::Authorize {
        method: session.method.clone(),
        user_created: user.created_at,
    };
    if let Err(refusal) = admit::admit(&policy, &via, ctx, now) {
        let message = refusal.message.clone();
        let target = session.id.to_string();
        admit::refused(state, session.tenant_id, &target, refusal, ctx).await?;
        return fail("access_denied", &message);
    }
    let code = crate::types::random_token();
    let row = CodeRow {
        tenant_id: session.tenant_id,
        client_id: client.id.clone(),
        user_id: session.user_id,
        session_id: session.id,
        redirect_uri: redirect_uri.to_string(),
        scope: scope.join(" "),
        nonce: p.nonce.clone(),
        code_challenge: challenge.to_string(),
        auth_time: session.created_at,
        expires_at: now.plus_seconds(CODE_TTL_SECS),
    };
    let mut tx = state.store.begin().await?;
    store::provider::insert_code(&mut tx, &Sha256::digest(code.as_bytes()), &row).await?;
    tx.commit().await?;
    let mut pairs = vec![("code", code.as_str()), ("iss", iss.as_str())];
    if !app_state.is_empty() {
        pairs.push(("state", app_state.as_str()));
    }
    Ok(Authorize::Redirect(with_query(redirect_uri, &pairs)))
}

/// Form of `/oauth2/token`.
#[derive(Debug, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    pub scope: String,
}

/// The client, authenticated by secret (basic or post) or, for a public one, by id alone.
async fn authenticate_client(
    state: &Services,
    basic: Option<(String, String)>,
    p: &TokenParams,
) -> Result<Client, OAuthError> {
    let (id, secret) = match (basic, &p.client_id) {
        (Some((id, secret)), _) => (id, Some(secret)),
        (None, Some(id)) => (id.clone(), p.client_secret.clone()),
        (None, None) => {
            return Err(OAuthError::invalid_client(
                "client authentication is missing",
            ))
        }
    };
    let client = clients::find(state, &id)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
    match (client.is_public(), secret) {
        (true, None) => Ok(client),
        (false, Some(s)) if client.secret_matches(&s) => Ok(client),
        _ => Err(OAuthError::invalid_client("client authentication failed")),
    }
}

/// Claims about the user that both tokens and userinfo carry.
async fn user_claims(
    state: &Services,
    tenant: TenantId,
    user: UserId,
    scope: &str,
) -> Result<Option<serde_json::Map<String, Value>>, OAuthError> {
    let Some(u) = store::user_reads::user(&state.store, tenant, user).await? else {
        return Ok(None);
    };
    if u.status != crate::store::users::UserStatus::Active {
        return Ok(None);
    }
    let Some(t) = store::tenants::get(&state.store, tenant).await? else {
        return Ok(None);
    };
    // Roles as the permissions see them: every source, the default assignment for a user
    // with none, and `owner` for the tenant's owner.
    let Some(effective) = crate::rbac::effective::load(state, tenant, user).await? else {
        return Ok(None);
    };
    let mut role_names: Vec<&str> = effective.held.iter().map(|h| h.role.as_str()).collect();
    if effective.is_owner {
        role_names.push(crate::rbac::model::OWNER_ROLE);
    }
    role_names.sort();
    role_names.dedup();
    let distinct: std::collections::BTreeSet<(&str, Option<&crate::identity::ScopeRef>)> =
        effective
            .held
            .iter()
            .map(|h| (h.role.as_str(), h.scope.as_ref()))
            .collect();
    let assignments: Vec<Value> = distinct
        .into_iter()
        .map(|(role, scope)| match scope {
            None => json!({"role": role}),
            Some(s) => json!({"role": role, "scope": s}),
        })
        .collect();
    let mut c = serde_json::Map::new();
    c.insert("sub".into(), json!(u.id));
    c.insert("tenant".into(), json!(t.id));
    c.insert("tenant_slug".into(), json!(t.slug));
    c.insert("roles".into(), json!(role_names));
    c.insert("role_assignments".into(), json!(assignments));
    let policy = crate::policy::load(&state.store, tenant).await?.policy;
    c.insert(
        "data_classification".into(),
        json!(policy.classification.level),
    );
    let scopes: Vec<&str> = scope.split(' ').collect();
    // The app refetches the permission snapshot when this changes; with the `permissions`
    // scope the token also carries the matrix itself (module → action → filter).
    c.insert("permissions_version".into(), json!(effective.version()));
    if scopes.contains(&"permissions") {
        c.insert("permissions".into(), json!(effective.matrix()));
    }
    if scopes.contains(&"email") {
        c.insert("email".into(), json!(u.email));
        c.insert("email_verified".into(), json!(u.email_verified));
    }
    if scopes.contains(&"profile") {
        let name = u
            .display_name
            .clone()
            .or_else(|| match (&u.given_name, &u.family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                _ => None,
            });
        c.insert("name".into(), json!(name));
        c.insert("given_name".into(), json!(u.given_name));
        c.insert("family_name".into(), json!(u.family_name));
    }
    Ok(Some(c))
}

fn secs(t: Timestamp) -> i64 {
    t.as_micros() / 1_000_000
}

/// Redeems a code for tokens.
pub async fn token(
    state: &Services,
    basic: Option<(String, String)>,
    p: TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let client = authenticate_client(state, basic, &p).await?;
    if p.grant_type.as_deref() != Some("authorization_code") {
        return Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            "only authorization_code is supported",
        ));
    }
    let code = p
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let verifier = p
        .code_verifier
        .as_deref()
        .filter(|v| is_pkce_value(v))
        .ok_or_else(|| OAuthError::invalid_request("a valid code_verifier is required"))?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let taken = store::provider::take_code(&mut tx, &Sha256::digest(code.as_bytes())).await?;
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
    if !browser::is_live(state, row.tenant_id, row.session_id).await? {
        return Err(OAuthError::invalid_grant("the user's session has ended"));
    }
    let claims = user_claims(state, row.tenant_id, row.user_id, &row.scope)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
    let key = keys::signing_key(state).await?;
    let iss = issuer(&state.config.public_url());
    let (iat, exp) = (secs(now), secs(now) + TOKEN_TTL_SECS);

    let mut id = claims.clone();
    id.insert("iss".into(), json!(iss));
    id.insert("aud".into(), json!(client.id));
    id.insert("azp".into(), json!(client.id));
    id.insert("iat".into(), json!(iat));
    id.insert("exp".into(), json!(exp));
    id.insert("auth_time".into(), json!(secs(row.auth_time)));
    id.insert("sid".into(), json!(row.session_id));
    if let Some(nonce) = &row.nonce {
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
    access.insert("scope".into(), json!(row.scope));
    access.insert("sid".into(), json!(row.session_id));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid);
    header.typ = Some("at+jwt".into());
    let access_token = jsonwebtoken::encode(&header, &access, &key.key)
        .map_err(|e| crate::Error::Internal(e.into()))?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: TOKEN_TTL_SECS,
        id_token,
        scope: row.scope,
    })
}

/// Verifies a token signed by this provider: RS256, a published kid, issuer and expiry.
/// `typ` must be `at+jwt` for access tokens.
async fn verify(state: &Services, token: &str, access: bool) -> Result<Value, OAuthError> {
    let invalid = || OAuthError::invalid_token("the token is invalid or expired");
    if token.len() > 16 * 1024 {
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

/// Claims about the bearer of a live access token.
pub async fn userinfo(state: &Services, bearer: Option<&str>) -> Result<Value, OAuthError> {
    let token =
        bearer.ok_or_else(|| OAuthError::invalid_token("a bearer access token is required"))?;
    let claims = verify(state, token, true).await?;
    let invalid = || OAuthError::invalid_token("the token is invalid or expired");
    let parse = |k: &str| claims[k].as_str().map(str::to_string).ok_or_else(invalid);
    let tenant: TenantId = parse("tenant")?.parse().map_err(|_| invalid())?;
    let user: UserId = parse("sub")?.parse().map_err(|_| invalid())?;
    let session: SessionId = parse("sid")?.parse().map_err(|_| invalid())?;
    if !browser::is_live(state, tenant, session).await? {
        return Err(OAuthError::invalid_token(
            "the session behind this token has ended",
        ));
    }
    let scope = claims["scope"].as_str().unwrap_or_default();
    let info = user_claims(state, tenant, user, scope)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the user is no longer active"))?;
    Ok(Value::Object(info))
}

/// Query of `/oauth2/logout` (RP-initiated logout 1.0).
#[derive(Debug, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    /// The confirmation form's CSRF token (POST only).
    pub csrf: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// What a logout request names: where to send the browser afterwards (a registered
/// post-logout URI of the app named by `client_id` or the ID token hint; `None` is Gatehouse's
/// own page), and the session the hint was issued for, if a valid hint came.
#[derive(Debug, Default)]
pub struct LogoutTarget {
    pub redirect: Option<String>,
    pub hinted_session: Option<String>,
}

/// The claims of an ID token hint we signed (expired is fine: it still names its audience
/// and session).
async fn hint_claims(state: &Services, hint: &str) -> Result<Value, OAuthError> {
    let header = jsonwebtoken::decode_header(hint)
        .map_err(|_| OAuthError::invalid_request("bad id_token_hint"))?;
    let key = match header.kid {
        Some(kid) => keys::decoding_key(state, &kid).await?,
        None => None,
    }
    .ok_or_else(|| OAuthError::invalid_request("bad id_token_hint"))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(hint, &key, &v)
        .map(|data| data.claims)
        .map_err(|_| OAuthError::invalid_request("bad id_token_hint"))
}

pub async fn logout_target(state: &Services, p: &LogoutParams) -> Result<LogoutTarget, OAuthError> {
    let claims = match &p.id_token_hint {
        Some(hint) => Some(hint_claims(state, hint).await?),
        None => None,
    };
    let hinted_session = claims
        .as_ref()
        .and_then(|c| c["sid"].as_str())
        .map(str::to_string);
    let Some(target) = p.post_logout_redirect_uri.as_deref() else {
        return Ok(LogoutTarget {
            redirect: None,
            hinted_session,
        });
    };
    let client_id = match (&p.client_id, &claims) {
        (Some(id), _) => id.clone(),
        (None, Some(claims)) => claims["aud"].as_str().unwrap_or_default().to_string(),
        (None, None) => {
            return Err(OAuthError::invalid_request(
                "post_logout_redirect_uri needs client_id or id_token_hint",
            ))
        }
    };
    let client = clients::find(state, &client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_request("unknown client"))?;
    if !client.post_logout_redirect_uris.iter().any(|u| u == target) {
        return Err(OAuthError::invalid_request(
            "post_logout_redirect_uri is not registered",
        ));
    }
    let mut pairs = Vec::new();
    if let Some(s) = p.state.as_deref().filter(|s| s.len() <= MAX_ECHO) {
        pairs.push(("state", s));
    }
    Ok(LogoutTarget {
        redirect: Some(with_query(target, &pairs)),
        hinted_session,
    })
}
