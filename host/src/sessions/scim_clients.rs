//! OAuth client credentials for an IdP's SCIM client (RFC 6749 §4.4, as Entra ID and the
//! IPSIE SCIM profile use it), next to plain bearer tokens. A tenant admin registers a SCIM
//! client with a secret (shown once, stored as its SHA-256) or with public keys (RFC 7523
//! `private_key_jwt`); the IdP posts `grant_type=client_credentials` to `/oauth2/token` and
//! gets a short-lived access token (a JWT typed `at+jwt`, signed with the provider's key,
//! audience the SCIM base URL) that `/scim/v2` accepts as the client. Revoking the client
//! ends its tokens at once (each use checks it); the tenant must have the `scim` feature.
//! Client authentication is the apps' ([`crate::provider::client_auth`]), looked up in
//! this table only, so a SCIM client can never act as an app or the other way round.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::provider::client_auth::{self, Authenticating, Credentials};
use crate::provider::{issuer, keys, OAuthError};
use crate::rbac::{Authorized, ManageScimClients, Principal, Scope};
use crate::services::Services;
use crate::store::scim_clients::ScimClientRecord;
use crate::store::tenants::{Feature, TenantStatus};
use crate::store::{self};
use crate::types::TokenId;

/// The start of a SCIM client's `client_id` (then its id in hex).
const CLIENT_PREFIX: &str = "scim_";
/// The start of its secret, for secret scanners.
const SECRET_PREFIX: &str = "ghc_";
/// Access-token lifetimes a client may be given: 5 minutes to an hour (default).
const TTL_SECS: std::ops::RangeInclusive<i64> = 300..=3600;
/// Clients per tenant.
const MAX_CLIENTS: usize = 20;

/// The SCIM base URL: the audience of the access tokens.
fn audience(public_url: &str) -> String {
    format!("{public_url}/scim/v2")
}

pub fn client_id_of(id: TokenId) -> String {
    format!("{CLIENT_PREFIX}{}", id.to_string().replace('-', ""))
}

fn parse_client_id(text: &str) -> Option<TokenId> {
    text.strip_prefix(CLIENT_PREFIX)
        .filter(|hex| hex.len() == 32)
        .and_then(|hex| hex.parse().ok())
}

/// A SCIM client as it authenticates.
pub struct ScimClient {
    record: ScimClientRecord,
    client_id: String,
    secret_hash: Option<Vec<u8>>,
    keys: Option<JwkSet>,
}

impl Authenticating for ScimClient {
    fn client_id(&self) -> &str {
        &self.client_id
    }
    fn keys(&self) -> Option<&JwkSet> {
        self.keys.as_ref()
    }
    fn is_public(&self) -> bool {
        false
    }
    fn secret_matches(&self, presented: &str) -> bool {
        let Some(stored) = &self.secret_hash else {
            return false;
        };
        let secret = presented.strip_prefix(SECRET_PREFIX).unwrap_or("");
        super::secret_matches(secret, stored)
    }
}

/// The live client `client_id` names, if any.
async fn find(state: &Services, client_id: &str) -> Result<Option<ScimClient>, Error> {
    let Some(id) = parse_client_id(client_id) else {
        return Ok(None);
    };
    let Some((record, secret_hash)) = store::scim_clients::credential(&state.store, id).await?
    else {
        return Ok(None);
    };
    if record.revoked_at.is_some() {
        return Ok(None);
    }
    let keys = record
        .jwks
        .as_ref()
        .and_then(|j| serde_json::from_value(j.clone()).ok());
    Ok(Some(ScimClient {
        client_id: client_id_of(record.id),
        record,
        secret_hash,
        keys,
    }))
}

/// A request to register a SCIM client.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScimClient {
    pub name: String,
    /// Public keys for `private_key_jwt`; without them the client gets a secret.
    pub jwks: Option<Value>,
    /// Access-token lifetime (300–3600 s; 3600 when absent).
    pub token_ttl_secs: Option<i64>,
}

/// The one answer that carries the secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedScimClient {
    #[serde(flatten)]
    pub client: ScimClientView,
    /// Shown only now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A client as the admin API lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScimClientView {
    pub client_id: String,
    #[serde(flatten)]
    pub record: ScimClientRecord,
    /// Where the IdP gets its tokens.
    pub token_endpoint: String,
}

fn view(state: &Services, record: ScimClientRecord) -> ScimClientView {
    ScimClientView {
        client_id: client_id_of(record.id),
        record,
        token_endpoint: format!("{}/oauth2/token", state.config.public_url()),
    }
}

pub async fn create(
    state: &Services,
    auth: &Authorized<ManageScimClients>,
    ctx: &RequestContext,
    req: NewScimClient,
) -> Result<CreatedScimClient, Error> {
    let tenant = auth.tenant();
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "name must be 1-100 printable characters",
        ));
    }
    let ttl = req.token_ttl_secs.unwrap_or(*TTL_SECS.end());
    if !TTL_SECS.contains(&ttl) {
        return Err(Error::invalid(
            "token_ttl_secs",
            format!("must be {} to {} seconds", TTL_SECS.start(), TTL_SECS.end()),
        ));
    }
    let jwks = match &req.jwks {
        Some(j) => {
            client_auth::check_jwks("jwks", j)?;
            Some(j.clone())
        }
        None => None,
    };
    if store::scim_clients::list(&state.store, tenant).await?.len() >= MAX_CLIENTS {
        return Err(Error::Conflict(format!(
            "a tenant has at most {MAX_CLIENTS} SCIM clients"
        )));
    }
    let (secret, secret_hash) = if jwks.is_none() {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let text = B64URL.encode(bytes);
        (
            Some(format!("{SECRET_PREFIX}{text}")),
            Some(super::hash_secret(&text)),
        )
    } else {
        (None, None)
    };
    let actor = auth.actor();
    let now = state.clock.now();
    let record = ScimClientRecord {
        id: TokenId::generate(),
        tenant_id: tenant,
        name,
        jwks,
        token_ttl_secs: ttl,
        created_by: format!("{}:{}", actor.kind, actor.id),
        created_at: now,
        revoked_at: None,
    };
    let mut tx = state.store.begin().await?;
    crate::tenancy::features::live_with(&mut tx, tenant, Feature::Scim).await?;
    store::scim_clients::insert(&mut tx, &record, secret_hash.as_ref().map(|h| h.as_slice()))
        .await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor,
            action: Action::ScimClientCreated,
            target: Target::new("scim_client", record.id),
            before: None,
            after: Some(json!(record)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedScimClient {
        client: view(state, record),
        client_secret: secret,
    })
}

pub async fn list(
    state: &Services,
    auth: &Authorized<ManageScimClients>,
) -> Result<Vec<ScimClientView>, Error> {
    Ok(store::scim_clients::list(&state.store, auth.tenant())
        .await?
        .into_iter()
        .map(|r| view(state, r))
        .collect())
}

pub async fn revoke(
    state: &Services,
    auth: &Authorized<ManageScimClients>,
    ctx: &RequestContext,
    id: TokenId,
) -> Result<(), Error> {
    let tenant = auth.tenant();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if !store::scim_clients::revoke(&mut tx, tenant, id, now).await? {
        return Err(Error::NotFound("SCIM client"));
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::ScimClientRevoked,
            target: Target::new("scim_client", id),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The token response of a client-credentials grant.
#[derive(Debug, Serialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: &'static str,
}

/// `grant_type=client_credentials`: a SCIM access token for the client the credentials
/// prove. Only the `scim` scope exists for it.
pub async fn issue(
    state: &Services,
    credentials: Credentials<'_>,
    scope: Option<&str>,
) -> Result<IssuedToken, OAuthError> {
    let client =
        client_auth::authenticate_with(
            state,
            credentials,
            |id| async move { find(state, &id).await },
        )
        .await?;
    if scope.is_some_and(|s| s.split(' ').any(|s| !s.is_empty() && s != "scim")) {
        return Err(OAuthError::new(
            400,
            "invalid_scope",
            "a SCIM client's only scope is `scim`",
        ));
    }
    let tenant = store::tenants::get(&state.store, client.record.tenant_id)
        .await?
        .filter(|t| t.status == TenantStatus::Active)
        .ok_or_else(|| OAuthError::invalid_client("the client's tenant is not active"))?;
    if crate::tenancy::features::check(&tenant, Feature::Scim).is_err() {
        return Err(OAuthError::new(
            400,
            "unauthorized_client",
            crate::tenancy::features::refusal(Feature::Scim),
        ));
    }
    let key = keys::signing_key(state).await?;
    let public_url = state.config.public_url();
    let now = state.clock.now().as_micros() / 1_000_000;
    let ttl = client.record.token_ttl_secs;
    let mut jti = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut jti);
    let claims = json!({
        "iss": issuer(&public_url),
        "aud": audience(&public_url),
        "sub": client.client_id,
        "client_id": client.client_id,
        "tenant": tenant.id,
        "scope": "scim",
        "iat": now,
        "exp": now + ttl,
        "jti": B64URL.encode(jti),
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid);
    header.typ = Some("at+jwt".into());
    let access_token = jsonwebtoken::encode(&header, &claims, &key.key)
        .map_err(|e| crate::Error::Internal(e.into()))?;
    Ok(IssuedToken {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: "scim",
    })
}

/// The SCIM client a presented access token stands for, as a principal with only the
/// `scim` scope; refused when it does not verify, has expired, or its client was revoked.
pub async fn authenticate_token(state: &Services, token: &str) -> Result<Principal, Error> {
    let invalid = || Error::Unauthenticated("the access token is not valid".into());
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
    if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some("at+jwt") {
        return Err(invalid());
    }
    let kid = header.kid.ok_or_else(invalid)?;
    let key = keys::decoding_key(state, &kid).await?.ok_or_else(invalid)?;
    let public_url = state.config.public_url();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer(&public_url)]);
    validation.set_audience(&[audience(&public_url)]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 0;
    let mut data =
        jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|_| invalid())?;
    // Expiry against this server's clock (the library reads the system clock).
    let exp = data.claims["exp"].as_i64().unwrap_or_default();
    if exp <= state.clock.now().as_micros() / 1_000_000 {
        return Err(Error::Unauthenticated(
            "the access token has expired".into(),
        ));
    }
    let client_id = data.claims["client_id"].take();
    let client = find(state, client_id.as_str().unwrap_or_default())
        .await?
        .ok_or_else(|| Error::Unauthenticated("the SCIM client was revoked".into()))?;
    if data.claims["tenant"].as_str() != Some(client.record.tenant_id.to_string().as_str()) {
        return Err(invalid());
    }
    Ok(Principal::ApiToken {
        tenant: client.record.tenant_id,
        token_id: client.record.id,
        name: format!("SCIM client {}", client.record.name),
        scopes: vec![Scope::Scim],
    })
}

/// A presented bearer token that is a JWT (a SCIM client's), not a Gatehouse API token.
pub fn is_access_token(text: &str) -> bool {
    text.split('.').count() == 3 && !text.starts_with(super::API_TOKEN_PREFIX)
}
