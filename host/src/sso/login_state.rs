//! The single-use login state of a sign-in in flight, and the cookie that binds it to the
//! browser that started it: kept safe `return_to` paths, the binding cookie's name, path and
//! lifetime, and taking the state back when the IdP answers.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::failure::Failure;
use super::saml::Rejection;
use super::Connection;
use crate::error::Error;
use crate::services::Services;
use crate::store::{self, sso::LoginStateRow};
use crate::types::TenantId;

/// How long a user has to come back from the IdP.
pub(super) const LOGIN_STATE_TTL_SECS: i64 = 10 * 60;

/// Longest `return_to` kept.
const MAX_RETURN_TO: usize = 2048;

/// Keeps `return_to` only if it is a path on this server (no open redirects).
pub fn safe_return_to(text: Option<&str>) -> Option<String> {
    let t = text?.trim();
    let ok = t.starts_with('/')
        && !t.starts_with("//")
        && !t.starts_with("/\\")
        && t.len() <= MAX_RETURN_TO
        && !t.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| t.to_string())
}

/// Name prefix of the cookies that bind a sign-in to the browser that started it; the rest
/// of the name is the start of the login state id, so parallel sign-ins do not collide.
pub const BINDING_COOKIE_PREFIX: &str = "gatehouse_sso_";

/// Characters of the login state id in the binding cookie's name.
const BINDING_NAME_CHARS: usize = 16;

fn binding_cookie_name(state_id: &str) -> String {
    let prefix: String = state_id.chars().take(BINDING_NAME_CHARS).collect();
    format!("{BINDING_COOKIE_PREFIX}{prefix}")
}

/// Path of the binding cookie: the SAML ACS and the OIDC callback both live under it.
const BINDING_PATH: &str = "/sso/";

/// The `Set-Cookie` value for a binding. A SAML IdP posts the answer cross-site, so on https
/// the cookie is `SameSite=None; Secure`; it is scoped to the IdP-facing paths and dies with
/// the login state.
pub(super) fn binding_set_cookie(state: &Services, state_id: &str, value: &str) -> String {
    let site = if state.config.is_https() {
        "; SameSite=None; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path={BINDING_PATH}; HttpOnly; Max-Age={LOGIN_STATE_TTL_SECS}{site}",
        binding_cookie_name(state_id)
    )
}

/// The associated data an OIDC login state's sealed nonce and PKCE verifier are bound to.
pub(super) fn pending_purpose(login_state: &str) -> String {
    format!("sso-login-state:{login_state}")
}

/// True when the login state needs no binding, or this browser holds its cookie.
fn bound_to_this_browser(login: &LoginStateRow, cookies: &[(String, String)]) -> bool {
    let Some(expected) = &login.binding_hash else {
        return true;
    };
    let name = binding_cookie_name(&login.id);
    cookies.iter().any(|(n, v)| {
        *n == name && bool::from(Sha256::digest(v.as_bytes()).as_slice().ct_eq(expected))
    })
}

/// The `Set-Cookie` value that removes the binding cookie of `relay_state`.
pub fn clear_binding_cookie(relay_state: &str) -> String {
    format!(
        "{}=; Path={BINDING_PATH}; HttpOnly; Max-Age=0",
        binding_cookie_name(relay_state)
    )
}

/// Takes the login state named by RelayState; `None` for an unsolicited response.
pub(super) async fn take_state(
    state: &Services,
    tenant: TenantId,
    connection: &Connection,
    relay_state: Option<&str>,
    cookies: &[(String, String)],
) -> Result<Option<LoginStateRow>, Failure> {
    let Some(relay) = relay_state.filter(|r| !r.is_empty() && r.len() <= 80) else {
        return Ok(None);
    };
    let mut tx = state.store.begin().await.map_err(Error::from)?;
    let taken = store::sso::take_login_state(&mut tx, tenant, relay)
        .await
        .map_err(Error::from)?;
    tx.commit().await.map_err(Error::from)?;
    match taken {
        Some(s) if s.connection_id != connection.id => Err(Rejection::InResponseTo.into()),
        Some(s) if s.expires_at <= state.clock.now() => Err(Failure::Refused {
            code: "login_expired",
            message: "the sign-in took too long; start again".into(),
            detail: None,
        }),
        Some(s) if !bound_to_this_browser(&s, cookies) => Err(Failure::Refused {
            code: "browser_mismatch",
            message: "this sign-in was started in another browser; start again here".into(),
            detail: None,
        }),
        other => Ok(other),
    }
}
