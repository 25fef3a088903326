//! The apps that sign users in through Gatehouse (OAuth clients), registered by the operator:
//! name, exact redirect URIs, post-logout redirect URIs, how the app authenticates (a client
//! secret shown once, stored as SHA-256 and compared in constant time; public keys for
//! `private_key_jwt`, checked in [`super::client_auth`]; or nothing: a public client, PKCE
//! only), whether it takes refresh tokens or exchanges its users' IdP tokens (RFC 8693), its
//! access tokens' lifetime, where it hears that a session ended (back-channel logout), where
//! its directory lifecycle webhooks go (with their HMAC key, shown once and kept sealed), and
//! where a signed-in user opens it (`initiate_login_uri`, [`launch_url`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance};
use crate::services::Services;
use crate::store::{self, provider::ClientRow};
use crate::types::Timestamp;

const MAX_URIS: usize = 20;
/// Access and ID tokens live this long unless the app says otherwise.
pub const DEFAULT_TOKEN_TTL_SECS: i64 = 600;
/// The bounds of an app's access-token lifetime: short enough that a token outlives a
/// revoked session (userinfo refuses it at once, a resource server checking only the
/// signature does not) by an hour at most.
const TOKEN_TTL_SECS: std::ops::RangeInclusive<i64> = 60..=3600;

/// The body of the operator's `POST /apps`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegisterApp)]
pub struct RegisterClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (a SPA or native app) has no secret and relies on PKCE alone.
    #[serde(default)]
    pub public: bool,
    /// How the app authenticates: `client_secret_basic` (the default: a secret is made;
    /// `client_secret_post` works with it too), `none` (the same as `public`) or
    /// `private_key_jwt` (RFC 7523: assertions signed with one of `jwks`' keys; no secret).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// The app's public keys (a JWK set of 1 to 5), for `private_key_jwt`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// The app's modules (`work_orders`, `assets`…), each with the standard actions: the
    /// catalogue every tenant's roles start from.
    #[serde(default)]
    pub modules: Vec<String>,
    /// The app may get refresh tokens (asking for `offline_access`).
    #[serde(default)]
    pub refresh_tokens: bool,
    /// Lifetime of the app's access and ID tokens, 60 to 3600 seconds.
    #[serde(default = "default_ttl")]
    pub access_token_ttl_secs: i64,
    /// The app may trade an ID token its user got from the tenant's IdP for Gatehouse
    /// tokens (RFC 8693 token exchange: native and mobile apps that sign in at the IdP).
    #[serde(default)]
    pub token_exchange: bool,
    /// The app's tokens must be bound to a DPoP key (RFC 9449): every token request carries
    /// a proof. Without it, DPoP is still used when the app sends a proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// Where the app hears, by a signed logout token, that a session it got tokens in
    /// ended (OpenID Connect Back-Channel Logout 1.0).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Where the app is sent each tenant's directory lifecycle webhooks (users, groups,
    /// roles); the HMAC key that signs them is made here and shown once.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Where Gatehouse sends a signed-in user to open the app (OIDC Core §4, login
    /// initiated by a third party): the app then starts its own sign-in.
    #[serde(default)]
    pub initiate_login_uri: Option<String>,
}

fn default_ttl() -> i64 {
    DEFAULT_TOKEN_TTL_SECS
}

/// A registered app as the operator API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RegisteredApp)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub modules: Vec<String>,
    pub refresh_tokens: bool,
    pub access_token_ttl_secs: i64,
    pub token_exchange: bool,
    pub dpop_bound_access_tokens: bool,
    pub token_endpoint_auth_method: &'static str,
    /// The public keys of a `private_key_jwt` app.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    pub backchannel_logout_uri: Option<String>,
    pub webhook_url: Option<String>,
    pub initiate_login_uri: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Present once, in the answer to the registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The webhook's HMAC key: present once, in the answer to the registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// A client as the flow needs it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub refresh_tokens: bool,
    pub access_token_ttl_secs: i64,
    pub token_exchange: bool,
    /// Every token request must carry a DPoP proof.
    pub dpop_bound: bool,
    /// The keys its assertions are signed with (`private_key_jwt`); none for the others.
    pub jwks: Option<jsonwebtoken::jwk::JwkSet>,
    secret_hash: Option<Vec<u8>>,
}

impl Client {
    /// No secret and no keys: PKCE alone.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.jwks.is_none()
    }

    /// True when `presented` is this client's secret.
    pub fn secret_matches(&self, presented: &str) -> bool {
        let Some(stored) = &self.secret_hash else {
            return false;
        };
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        hash.ct_eq(stored.as_slice()).into()
    }
}

fn parse_uris(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn view(row: ClientRow, secret: Option<String>, webhook_secret: Option<String>) -> ClientView {
    let jwks: Option<serde_json::Value> = row
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    let token_endpoint_auth_method = match (&row.secret_hash, &jwks) {
        (Some(_), _) => "client_secret_basic",
        (None, Some(_)) => "private_key_jwt",
        (None, None) => "none",
    };
    ClientView {
        client_id: row.id,
        name: row.name,
        redirect_uris: parse_uris(&row.redirect_uris),
        post_logout_redirect_uris: parse_uris(&row.post_logout_redirect_uris),
        public: token_endpoint_auth_method == "none",
        token_endpoint_auth_method,
        jwks,
        modules: serde_json::from_str(&row.modules).unwrap_or_default(),
        refresh_tokens: row.refresh_tokens,
        access_token_ttl_secs: row.access_token_ttl_secs,
        token_exchange: row.token_exchange,
        dpop_bound_access_tokens: row.dpop_bound,
        backchannel_logout_uri: row.backchannel_logout_uri,
        webhook_url: row.webhook_url,
        initiate_login_uri: row.initiate_login_uri,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        client_secret: secret,
        webhook_secret,
    }
}

fn check_uris(field: &'static str, uris: &[String], at_least_one: bool) -> Result<(), Error> {
    if (at_least_one && uris.is_empty()) || uris.len() > MAX_URIS {
        return Err(Error::invalid(field, format!("give 1 to {MAX_URIS} URIs")));
    }
    for uri in uris {
        crate::sso::check_url(field, uri)?;
        if uri.contains('#') {
            return Err(Error::invalid(field, "a URI here must not have a fragment"));
        }
    }
    Ok(())
}

pub async fn register(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    body: RegisterClient,
) -> Result<ClientView, Error> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    check_uris("redirect_uris", &body.redirect_uris, true)?;
    check_uris(
        "post_logout_redirect_uris",
        &body.post_logout_redirect_uris,
        false,
    )?;
    crate::rbac::model::check_module_names("modules", &body.modules)?;
    for (field, uri) in [
        ("backchannel_logout_uri", &body.backchannel_logout_uri),
        ("webhook_url", &body.webhook_url),
        ("initiate_login_uri", &body.initiate_login_uri),
    ] {
        if let Some(uri) = uri {
            check_uris(field, std::slice::from_ref(uri), true)?;
        }
    }
    if !TOKEN_TTL_SECS.contains(&body.access_token_ttl_secs) {
        return Err(Error::invalid(
            "access_token_ttl_secs",
            format!(
                "must be {} to {} seconds",
                TOKEN_TTL_SECS.start(),
                TOKEN_TTL_SECS.end()
            ),
        ));
    }
    let method = match (body.token_endpoint_auth_method.as_deref(), body.public) {
        (None, true) | (Some("none"), _) => "none",
        (None | Some("client_secret_basic" | "client_secret_post"), false) => "client_secret_basic",
        (Some("private_key_jwt"), false) => "private_key_jwt",
        _ => {
            return Err(Error::invalid(
                "token_endpoint_auth_method",
                "must be client_secret_basic, client_secret_post, private_key_jwt or none \
                 (and agree with `public`)",
            ))
        }
    };
    let jwks = match (method, &body.jwks) {
        ("private_key_jwt", Some(jwks)) => {
            super::client_auth::check_jwks("jwks", jwks)?;
            Some(jwks.to_string())
        }
        ("private_key_jwt", None) => {
            return Err(Error::invalid(
                "jwks",
                "private_key_jwt needs the app's public keys",
            ))
        }
        (_, Some(_)) => return Err(Error::invalid("jwks", "keys are only for private_key_jwt")),
        (_, None) => None,
    };
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let (secret, secret_hash) = if method != "client_secret_basic" {
        (None, None)
    } else {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let secret = SecretString::from(format!("ghs_{}", B64URL.encode(raw)));
        let hash = Sha256::digest(secret.expose_secret().as_bytes()).to_vec();
        (Some(secret), Some(hash))
    };
    let id = format!("app_{}", hex::encode(id));
    let webhook_secret = match &body.webhook_url {
        None => None,
        Some(_) => {
            let mut raw = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let key = SecretString::from(format!("ghk_{}", B64URL.encode(raw)));
            let sealed = state.secrets.seal_instance(
                &crate::outbox::lifecycle::key_purpose(&id),
                key.expose_secret().as_bytes(),
            )?;
            Some((key, sealed))
        }
    };
    let row = ClientRow {
        id,
        name,
        secret_hash,
        redirect_uris: json!(body.redirect_uris).to_string(),
        post_logout_redirect_uris: json!(body.post_logout_redirect_uris).to_string(),
        modules: json!(body.modules).to_string(),
        refresh_tokens: body.refresh_tokens,
        access_token_ttl_secs: body.access_token_ttl_secs,
        token_exchange: body.token_exchange,
        dpop_bound: body.dpop_bound_access_tokens,
        jwks,
        backchannel_logout_uri: body.backchannel_logout_uri.clone(),
        webhook_url: body.webhook_url.clone(),
        initiate_login_uri: body.initiate_login_uri.clone(),
        webhook_secret_sealed: webhook_secret.as_ref().map(|(_, sealed)| sealed.clone()),
        created_at: state.clock.now(),
        revoked_at: None,
    };
    let mut tx = state.store.begin().await?;
    store::provider::insert_client(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        row.created_at,
        ctx,
        NewEvent {
            chain: Chain::Operator,
            actor: auth.actor(),
            action: Action::OauthClientRegistered,
            target: Target::new("oauth_client", &row.id),
            before: None,
            after: Some(
                json!({"name": row.name, "redirect_uris": body.redirect_uris, "public": method == "none",
                "token_endpoint_auth_method": method, "jwks": body.jwks,
                "modules": body.modules, "refresh_tokens": body.refresh_tokens,
                "access_token_ttl_secs": body.access_token_ttl_secs,
                "token_exchange": body.token_exchange,
                "dpop_bound_access_tokens": body.dpop_bound_access_tokens,
                "backchannel_logout_uri": body.backchannel_logout_uri,
                "webhook_url": body.webhook_url, "initiate_login_uri": body.initiate_login_uri}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(view(
        row,
        secret.map(|s| s.expose_secret().to_string()),
        webhook_secret.map(|(k, _)| k.expose_secret().to_string()),
    ))
}

pub async fn list(
    state: &Services,
    _auth: &Authorized<OperateInstance>,
) -> Result<Vec<ClientView>, Error> {
    Ok(store::provider::clients(&state.store)
        .await?
        .into_iter()
        .map(|r| view(r, None, None))
        .collect())
}

pub async fn revoke(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), Error> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if !store::provider::revoke_client(&mut tx, id, now).await? {
        return Err(Error::NotFound("app"));
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Operator,
            actor: auth.actor(),
            action: Action::OauthClientRevoked,
            target: Target::new("oauth_client", id),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// How many of an app's webhook deliveries the log shows.
const DELIVERY_LOG: i64 = 200;

/// The app's newest webhook deliveries (a week is kept), newest first.
pub async fn deliveries(
    state: &Services,
    _auth: &Authorized<OperateInstance>,
    id: &str,
) -> Result<Vec<store::outbox::Delivery>, Error> {
    if id.len() > 100 || store::provider::client(&state.store, id).await?.is_none() {
        return Err(Error::NotFound("app"));
    }
    Ok(store::outbox::deliveries(&state.store, id, DELIVERY_LOG).await?)
}

/// Where a signed-in user with `email` opens app `id` (its `initiate_login_uri` with
/// `iss` and `login_hint`, OIDC Core §4); none for an unknown or revoked app, or one that
/// registered no such URI.
pub async fn launch_url(state: &Services, id: &str, email: &str) -> Result<Option<String>, Error> {
    if id.len() > 100 {
        return Ok(None);
    }
    let Some(row) = store::provider::client(&state.store, id).await? else {
        return Ok(None);
    };
    let Some(uri) = row.initiate_login_uri.filter(|_| row.revoked_at.is_none()) else {
        return Ok(None);
    };
    let mut url = url::Url::parse(&uri).map_err(|e| Error::Internal(e.into()))?;
    url.query_pairs_mut()
        .append_pair("iss", &super::issuer(&state.config.public_url()))
        .append_pair("login_hint", email);
    Ok(Some(url.to_string()))
}

/// The live (not revoked) client with this id.
pub async fn find(state: &Services, id: &str) -> Result<Option<Client>, Error> {
    if id.len() > 100 {
        return Ok(None);
    }
    Ok(store::provider::client(&state.store, id)
        .await?
        .filter(|r| r.revoked_at.is_none())
        .map(|r| Client {
            redirect_uris: parse_uris(&r.redirect_uris),
            post_logout_redirect_uris: parse_uris(&r.post_logout_redirect_uris),
            refresh_tokens: r.refresh_tokens,
            access_token_ttl_secs: r.access_token_ttl_secs,
            token_exchange: r.token_exchange,
            dpop_bound: r.dpop_bound,
            jwks: r.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            id: r.id,
            secret_hash: r.secret_hash,
        }))
}
