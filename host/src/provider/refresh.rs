//! Refresh tokens (RFC 6749 §6, with the rotation and reuse detection of the OAuth 2.0
//! Security BCP §4.14): for apps registered to take them, asked for with the
//! `offline_access` scope; 256-bit secrets stored as SHA-256. Each use rotates the token: it
//! is marked used and a new one joins its family. A used token presented again means it
//! leaked or was replayed, so the whole family is revoked and the reuse audited.
//!
//! A refresh token lives no longer than the session it came from and works only while that
//! session is live: signing out, deactivation, tenant suspension, an administrator's
//! revocation and the policy's session lifetimes all end it. Each refresh counts as the
//! session's activity.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::clients::Client;
use super::tokens::{mint, Grant, TokenParams, TokenResponse, MAX_TOKEN};
use super::OAuthError;
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::services::Services;
use crate::sessions::browser;
use crate::store::{self, refresh_tokens::RefreshRow};

/// A refresh token's prefix, so a leaked one is recognisable (secret scanners).
const PREFIX: &str = "ghr_";

/// Issues the grant's next refresh token: a new family for a sign-in, the same for a
/// refresh. It expires with the session.
pub(super) async fn issue(
    state: &Services,
    client: &Client,
    grant: &Grant,
) -> Result<String, OAuthError> {
    let session = store::sessions::by_id(&state.store, grant.tenant, grant.session)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user's session has ended"))?;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("{PREFIX}{}", B64URL.encode(raw));
    let now = state.clock.now();
    let row = RefreshRow {
        family_id: grant
            .family
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        tenant_id: grant.tenant,
        client_id: client.id.clone(),
        user_id: grant.user,
        session_id: grant.session,
        scope: grant.scope.clone(),
        auth_time: grant.auth_time,
        created_at: now,
        expires_at: session.absolute_expires_at,
        used_at: None,
        revoked_at: None,
        dpop_jkt: grant.jkt.clone(),
    };
    let mut tx = state.store.begin().await?;
    store::refresh_tokens::insert(&mut tx, &Sha256::digest(token.as_bytes()), &row).await?;
    tx.commit().await?;
    Ok(token)
}

/// The `refresh_token` grant: rotates the token and mints new tokens with the same (or a
/// narrower) scope.
pub(super) async fn refresh(
    state: &Services,
    ctx: &RequestContext,
    client: &Client,
    p: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let token = p
        .refresh_token
        .as_deref()
        .filter(|t| t.len() <= MAX_TOKEN)
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let hash = Sha256::digest(token.as_bytes());
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let taken = store::refresh_tokens::take(&mut tx, &hash, &client.id, now).await?;
    tx.commit().await?;
    let Some(row) = taken else {
        return Err(refused(state, ctx, client, &hash).await?);
    };
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    if row.expires_at <= now {
        return Err(invalid());
    }
    // A refresh token bound to a DPoP key is refreshed only with a proof by that key.
    if row.dpop_jkt.is_some() && row.dpop_jkt != p.dpop_jkt {
        return Err(OAuthError::new(
            400,
            "invalid_dpop_proof",
            "this refresh token is bound to a DPoP key: send a proof made with it",
        ));
    }
    let scope = narrowed(&row.scope, p.scope.as_deref())?;
    if browser::refresh(state, row.tenant_id, row.session_id)
        .await?
        .is_none()
    {
        return Err(OAuthError::invalid_grant("the user's session has ended"));
    }
    let grant = Grant {
        tenant: row.tenant_id,
        user: row.user_id,
        session: row.session_id,
        scope,
        auth_time: row.auth_time,
        nonce: None,
        family: Some(row.family_id),
        jkt: p.dpop_jkt.clone(),
    };
    mint(state, client, grant).await
}

/// The scope of a refreshed grant: the original, or the part of it the app asks for.
fn narrowed(original: &str, asked: Option<&str>) -> Result<String, OAuthError> {
    let Some(asked) = asked.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(original.to_string());
    };
    let held: Vec<&str> = original.split(' ').collect();
    if asked.split(' ').any(|s| !held.contains(&s)) {
        return Err(OAuthError::new(
            400,
            "invalid_scope",
            "a refresh may ask for the original scope or less",
        ));
    }
    if !asked.split(' ').any(|s| s == "openid") {
        return Err(OAuthError::new(
            400,
            "invalid_scope",
            "scope must include openid",
        ));
    }
    Ok(asked.to_string())
}

/// The answer to a refresh token that could not be taken. A token of this app that was
/// already used is a reuse: its family is revoked and the reuse audited.
async fn refused(
    state: &Services,
    ctx: &RequestContext,
    client: &Client,
    hash: &[u8],
) -> Result<OAuthError, OAuthError> {
    let invalid = OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let Some(row) = store::refresh_tokens::find(&state.store, hash).await? else {
        return Ok(invalid);
    };
    if row.client_id != client.id || row.used_at.is_none() || row.revoked_at.is_some() {
        return Ok(invalid);
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let revoked =
        store::refresh_tokens::revoke_family(&mut tx, row.tenant_id, &row.family_id, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(row.tenant_id),
            actor: Actor::app(&client.id),
            action: Action::OauthRefreshTokenReused,
            target: Target::new("user", row.user_id),
            before: None,
            after: Some(json!({
                "client_id": client.id, "family": row.family_id,
                "session": row.session_id, "revoked": revoked,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(client = %client.id, family = %row.family_id, "a used refresh token was presented again; its family is revoked");
    Ok(OAuthError::invalid_grant(
        "the refresh token was already used; every token of this sign-in is revoked",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_keeps_or_narrows_the_scope_and_never_widens_it() {
        let held = "openid email offline_access";
        assert_eq!(narrowed(held, None).unwrap(), held);
        assert_eq!(narrowed(held, Some(" ")).unwrap(), held);
        assert_eq!(
            narrowed(held, Some("openid email")).unwrap(),
            "openid email"
        );
        assert_eq!(
            narrowed(held, Some("openid profile")).unwrap_err().error,
            "invalid_scope"
        );
        assert_eq!(
            narrowed(held, Some("email")).unwrap_err().error,
            "invalid_scope"
        );
    }
}
