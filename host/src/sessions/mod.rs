//! Credentials that are not passwords: tenant API tokens and the operator token (browser
//! sessions join later). A token is `<prefix><id>_<secret>`: the id is public and finds the
//! row, the secret is 256 random bits stored only as its SHA-256 and compared in constant
//! time. The plain token is returned once, at creation, and never stored or logged.

pub mod api_tokens;
pub mod auth_context;
pub mod browser;
pub mod links;
pub mod local_users;
pub mod manage;
pub mod operator;
pub mod password;
pub mod scim_clients;
pub mod setup_links;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::rbac::Principal;
use crate::services::Services;
use crate::types::TokenId;

/// Prefix of tenant API tokens; lets secret scanners recognise leaked tokens.
pub const API_TOKEN_PREFIX: &str = "ght_";
/// Prefix of operator tokens.
pub const OPERATOR_TOKEN_PREFIX: &str = "gho_";
/// Random bytes in a token secret (256 bits: a plain hash is enough, no slow KDF needed).
const SECRET_BYTES: usize = 32;
/// Length of a whole token: prefix, 32 hex id, `_`, 43 base64url secret.
const TOKEN_LEN: usize = 4 + 32 + 1 + 43;
/// Last-used times are written at most this often per token (microseconds), so reads stay reads.
const TOUCH_INTERVAL_MICROS: i64 = 60 * 1_000_000;

/// A freshly minted token: the text for the caller and the hash for the database.
pub(crate) struct Minted {
    pub id: TokenId,
    pub token: SecretString,
    pub secret_hash: [u8; 32],
}

pub(crate) fn mint(prefix: &str) -> Minted {
    let id = TokenId::generate();
    let mut secret = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let secret_text = B64URL.encode(secret);
    let simple = id.to_string().replace('-', "");
    Minted {
        id,
        secret_hash: hash_secret(&secret_text),
        token: SecretString::from(format!("{prefix}{simple}_{secret_text}")),
    }
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Splits a presented token into id and secret, if it has the shape of one with `prefix`.
fn parse<'a>(prefix: &str, text: &'a str) -> Option<(TokenId, &'a str)> {
    if text.len() != TOKEN_LEN || !text.is_ascii() {
        return None;
    }
    let rest = text.strip_prefix(prefix)?;
    let (id, secret) = rest.split_at(32);
    let secret = secret.strip_prefix('_')?;
    Some((id.parse().ok()?, secret))
}

fn secret_matches(presented: &str, stored: &[u8]) -> bool {
    hash_secret(presented).ct_eq(stored).into()
}

/// Resolves a bearer token to a principal, failing closed on anything unexpected.
pub async fn authenticate(state: &Services, presented: &SecretString) -> Result<Principal, Error> {
    let text = presented.expose_secret();
    let invalid = || Error::Unauthenticated("the token is not valid".into());
    if text.starts_with(OPERATOR_TOKEN_PREFIX) {
        let (id, secret) = parse(OPERATOR_TOKEN_PREFIX, text).ok_or_else(invalid)?;
        return operator::authenticate(state, id, secret).await;
    }
    if text.starts_with(API_TOKEN_PREFIX) {
        let (id, secret) = parse(API_TOKEN_PREFIX, text).ok_or_else(invalid)?;
        return api_tokens::authenticate(state, id, secret).await;
    }
    Err(Error::Unauthenticated(
        "the token is not a Gatehouse token (expected ght_… or gho_…)".into(),
    ))
}

/// The signed-in user behind browser-session cookie `token`, as an admin-API caller with the
/// permissions their roles grant; `None` when the cookie names no live session. The session
/// is held to the tenant policy as the provider's authorize holds it (an MFA grace that ran
/// out, a network allow-list), so the API is no side door.
pub async fn session_principal(
    state: &Services,
    token: &SecretString,
    ctx: &crate::audit::RequestContext,
) -> Result<Option<Principal>, Error> {
    let Some(session) = browser::current(state, token).await? else {
        return Ok(None);
    };
    let tenant = session.tenant_id;
    let Some(effective) = crate::rbac::effective::load(state, tenant, session.user_id).await?
    else {
        return Ok(None);
    };
    let policy = crate::policy::load(&state.store, tenant).await?;
    let via = crate::policy::admit::Via::Authorize {
        method: session.method.clone(),
        user_created: effective.user.created_at,
    };
    if let Err(refusal) = crate::policy::admit::admit(&policy, &via, ctx, state.clock.now()) {
        let target = session.id.to_string();
        return Err(crate::policy::admit::refused(state, tenant, &target, refusal, ctx).await?);
    }
    Ok(Some(Principal::User {
        tenant,
        user: session.user_id,
        session: session.id,
        label: effective.user.email.clone(),
        permissions: std::sync::Arc::new(effective.permissions),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_and_verify() {
        let m = mint(API_TOKEN_PREFIX);
        let text = m.token.expose_secret().to_string();
        assert_eq!(text.len(), TOKEN_LEN);
        let (id, secret) = parse(API_TOKEN_PREFIX, &text).unwrap();
        assert_eq!(id, m.id);
        assert!(secret_matches(secret, &m.secret_hash));
        assert!(!secret_matches("x", &m.secret_hash));
        assert!(parse(OPERATOR_TOKEN_PREFIX, &text).is_none());
        assert!(parse(API_TOKEN_PREFIX, &text[..40]).is_none());
        let mut bad = text.clone();
        bad.replace_range(36..37, "-");
        assert!(parse(API_TOKEN_PREFIX, &bad).is_none());
    }
}
