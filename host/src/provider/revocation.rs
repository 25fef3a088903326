//! Token revocation (RFC 7009) and introspection (RFC 7662) for registered apps,
//! authenticated as at the token endpoint. An app reaches only its own tokens: another
//! app's token is treated as unknown, which revocation answers with 200 all the same (as
//! RFC 7009 asks) and introspection with `{"active": false}`. Introspection needs a
//! confidential app: a public app's id is no secret.
//!
//! Revoking a refresh token revokes its family (every rotation of that sign-in's token);
//! revoking an access token records its `jti` until it expires, and userinfo and
//! introspection refuse it from then on.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::client_auth::{self, Credentials};
use super::clients::Client;
use super::tokens::{live_access, verify, MAX_TOKEN};
use super::OAuthError;
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::services::Services;
use crate::sessions::browser;
use crate::store::{self, refresh_tokens::RefreshRow};
use crate::types::{TenantId, Timestamp};

/// Form of `/oauth2/revoke` and `/oauth2/introspect`.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    pub token: Option<String>,
    /// `access_token` or `refresh_token`; only a hint (both kinds are looked for).
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// RFC 7523 client authentication (`private_key_jwt`).
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

impl TokenForm {
    /// The app, authenticated by these credentials or HTTP Basic.
    async fn client(
        &self,
        state: &Services,
        basic: Option<(String, String)>,
    ) -> Result<Client, OAuthError> {
        let credentials = Credentials {
            basic,
            client_id: self.client_id.as_deref(),
            client_secret: self.client_secret.as_deref(),
            assertion_type: self.client_assertion_type.as_deref(),
            assertion: self.client_assertion.as_deref(),
        };
        client_auth::authenticate(state, credentials).await
    }

    fn token(&self) -> Result<&str, OAuthError> {
        self.token
            .as_deref()
            .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN)
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))
    }
}

/// This app's refresh token with this value, whatever its state.
async fn own_refresh(
    state: &Services,
    client: &Client,
    token: &str,
) -> Result<Option<RefreshRow>, OAuthError> {
    let row = store::refresh_tokens::find(&state.store, &Sha256::digest(token.as_bytes())).await?;
    Ok(row.filter(|r| r.client_id == client.id))
}

/// `/oauth2/revoke`.
pub async fn revoke(
    state: &Services,
    ctx: &RequestContext,
    basic: Option<(String, String)>,
    form: TokenForm,
) -> Result<(), OAuthError> {
    let client = form.client(state, basic).await?;
    let token = form.token()?;
    let now = state.clock.now();
    if let Some(row) = own_refresh(state, &client, token).await? {
        let mut tx = state.store.begin().await?;
        let n = store::refresh_tokens::revoke_family(&mut tx, row.tenant_id, &row.family_id, now)
            .await?;
        if n > 0 {
            let after = json!({"client_id": client.id, "kind": "refresh_token",
                               "family": row.family_id, "revoked": n});
            record(
                &mut tx,
                ctx,
                &client,
                row.tenant_id,
                &row.user_id.to_string(),
                after,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(());
    }
    let Ok(claims) = verify(state, token, true).await else {
        return Ok(());
    };
    let tenant = claims["tenant"]
        .as_str()
        .and_then(|t| t.parse::<TenantId>().ok());
    let (Some(tenant), Some(jti), Some(exp), true) = (
        tenant,
        claims["jti"].as_str(),
        claims["exp"].as_i64(),
        claims["client_id"].as_str() == Some(client.id.as_str()),
    ) else {
        return Ok(());
    };
    let mut tx = state.store.begin().await?;
    let expires = Timestamp::from_micros(exp.saturating_mul(1_000_000));
    store::refresh_tokens::revoke_access(&mut tx, tenant, jti, expires).await?;
    let sub = claims["sub"].as_str().unwrap_or_default();
    let after = json!({"client_id": client.id, "kind": "access_token", "jti": jti});
    record(&mut tx, ctx, &client, tenant, sub, after, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn record(
    tx: &mut store::Tx,
    ctx: &RequestContext,
    client: &Client,
    tenant: TenantId,
    user: &str,
    after: Value,
    now: Timestamp,
) -> Result<(), OAuthError> {
    audit::record(
        tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: Actor::app(&client.id),
            action: Action::OauthTokenRevoked,
            target: Target::new("user", user),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    Ok(())
}

/// `/oauth2/introspect`: whether the token is active and, when it is, what it stands for.
pub async fn introspect(
    state: &Services,
    basic: Option<(String, String)>,
    form: TokenForm,
) -> Result<Value, OAuthError> {
    let client = form.client(state, basic).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client(
            "introspection needs a confidential app's credentials",
        ));
    }
    let token = form.token()?;
    let inactive = json!({"active": false});
    let now = state.clock.now();
    if let Some(row) = own_refresh(state, &client, token).await? {
        let open = row.used_at.is_none() && row.revoked_at.is_none() && row.expires_at > now;
        if !open || !browser::is_live(state, row.tenant_id, row.session_id).await? {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true, "token_type": "refresh_token", "scope": row.scope,
            "client_id": row.client_id, "sub": row.user_id, "tenant": row.tenant_id,
            "sid": row.session_id, "iat": row.created_at.as_micros() / 1_000_000,
            "exp": row.expires_at.as_micros() / 1_000_000,
        }));
    }
    let Ok(live) = live_access(state, token).await else {
        return Ok(inactive);
    };
    let c = &live.claims;
    if c["client_id"].as_str() != Some(client.id.as_str()) {
        return Ok(inactive);
    }
    let mut answer = json!({
        "active": true, "token_type": "Bearer", "scope": c["scope"], "client_id": c["client_id"],
        "sub": c["sub"], "tenant": c["tenant"], "sid": c["sid"], "iss": c["iss"],
        "aud": c["aud"], "iat": c["iat"], "exp": c["exp"], "jti": c["jti"],
    });
    // A DPoP-bound token says so, with its key (RFC 9449 §6.2).
    if c.get("cnf").is_some() {
        answer["token_type"] = json!("DPoP");
        answer["cnf"] = c["cnf"].clone();
    }
    Ok(answer)
}
