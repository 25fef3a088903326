//! The authorization-code flow with PKCE S256 (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1):
//! [`authorize`] checks the request against the registered app and, for a signed-in user
//! whose session fits the app's hints, issues a single-use code bound to client, redirect
//! URI, session, nonce and challenge (redeemed in [`super::tokens`]); without one, the hints
//! decide where the user signs in. RP-initiated logout's target is [`logout_target`].

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::clients::{self, Client};
use super::{issuer, keys, OAuthError};
use crate::audit::RequestContext;
use crate::policy::admit::{self, Via};
use crate::services::Services;
use crate::sso::route::{self, Hints, Route};
use crate::store::{self, provider::CodeRow, sessions::SessionRow};

/// A code must be redeemed within this many seconds.
const CODE_TTL_SECS: i64 = 60;
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
    /// The user's email: routes to their organisation's IdP, which gets it too.
    pub login_hint: Option<String>,
    /// The organisation (tenant id or slug) to sign in to.
    pub organization: Option<String>,
    /// One of that organisation's connections (id) to sign in with.
    pub connection: Option<String>,
}

impl AuthorizeParams {
    /// The app's hints about who is signing in.
    pub fn hints(&self) -> Hints {
        Hints {
            login_hint: self.login_hint.clone(),
            organization: self.organization.clone(),
            connection: self.connection.clone(),
        }
    }
}

/// What the browser is told to do.
#[derive(Debug)]
pub enum Authorize {
    /// The request cannot be trusted to redirect anywhere: show this error.
    Show(OAuthError),
    /// Send the browser to this URL (the app, with a code or an error).
    Redirect(String),
    /// Sign in first, the way the app's hints decide, then come back.
    SignIn(Box<Route>),
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

pub(super) fn is_pkce_value(v: &str) -> bool {
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
    let Some(scope) = granted_scope(&client, p.scope.as_deref().unwrap_or_default()) else {
        return fail("invalid_scope", "scope must include openid");
    };
    let Some(challenge) = p.code_challenge.as_deref().filter(|c| is_pkce_value(c)) else {
        return fail(
            "invalid_request",
            "a PKCE code_challenge (S256) is required",
        );
    };
    if p.code_challenge_method.as_deref() != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let hints = p.hints();
    let session = match session {
        Some(s) if !hints.is_empty() && !fits_hints(state, s, &hints).await? => None,
        other => other,
    };
    let Some(session) = session else {
        if p.prompt.as_deref() == Some("none") {
            return fail("login_required", "the user is not signed in");
        }
        return Ok(Authorize::SignIn(Box::new(
            route::by_hints(state, &hints).await?,
        )));
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
        scope,
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

/// Whether a signed-in session is the one the app's hints ask for: in the organisation they
/// name and, with a `login_hint`, of the user with that email. A session that does not fit
/// is not used: the user signs in again rather than the app getting a code for someone else.
async fn fits_hints(
    state: &Services,
    session: &SessionRow,
    hints: &Hints,
) -> Result<bool, OAuthError> {
    if let Some(tenant) = route::hinted_tenant(state, hints).await? {
        if tenant.id != session.tenant_id {
            return Ok(false);
        }
    }
    let Some(email) = hints.email() else {
        return Ok(true);
    };
    let user = store::user_reads::user(&state.store, session.tenant_id, session.user_id).await?;
    Ok(user.is_some_and(|u| u.email.eq_ignore_ascii_case(email.as_str())))
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

/// The scope `client` gets of the one it `asked` for, or none when it lacks `openid`:
/// `offline_access` only for an app registered for refresh tokens; other unknown scopes are
/// dropped (RFC 6749 §3.3: the server may issue less than asked).
pub(super) fn granted_scope(client: &Client, asked: &str) -> Option<String> {
    if !asked.split(' ').any(|s| s == "openid") {
        return None;
    }
    let scope: Vec<&str> = asked
        .split(' ')
        .filter(|s| {
            matches!(*s, "openid" | "email" | "profile" | "permissions")
                || (*s == "offline_access" && client.refresh_tokens)
        })
        .collect();
    Some(scope.join(" "))
}
