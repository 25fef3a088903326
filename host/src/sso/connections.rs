//! The admin side of SSO connections: create, list, get, update and delete, each change
//! audited with before and after (`sso_connection.created/updated/deleted`). An OIDC
//! connection's issuer is discovered when it is set, so a wrong issuer is refused at once;
//! its client secret is sealed and never shown again.

use std::collections::BTreeMap;

use openssl::pkey::{PKey, Private};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;

use super::oidc::settings::{check_secret, OidcInput};
use super::oidc::OidcSettings;
use super::saml::settings::{CertificateView, SamlInput};
use super::saml::{encryption, SamlSettings};
use super::{oidc_redirect_uri, Connection, ConnectionStatus, Settings, SpEndpoints};
use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ReadTenant, WriteSso};
use crate::services::Services;
use crate::store::{self, sso::ConnectionRow};
use crate::types::{ConnectionId, TenantId};

const MAX_NAME: usize = 100;

/// Body of a create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub name: String,
    /// Defaults to `test`: a new connection serves only admin test sign-ins until enabled.
    pub status: Option<ConnectionStatus>,
    /// Exactly one of `saml` and `oidc`.
    pub saml: Option<SamlInput>,
    pub oidc: Option<OidcInput>,
}

/// Body of an update; absent fields keep their value. The protocol cannot change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    pub name: Option<String>,
    pub status: Option<ConnectionStatus>,
    pub saml: Option<SamlInput>,
    pub oidc: Option<OidcInput>,
}

/// A connection as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub id: ConnectionId,
    pub name: String,
    pub protocol: &'static str,
    pub status: ConnectionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcView>,
    pub created_at: crate::types::Timestamp,
    pub updated_at: crate::types::Timestamp,
}

#[derive(Debug, Serialize)]
pub struct SamlView {
    #[serde(flatten)]
    pub settings: SamlSettings,
    pub certificate_details: Vec<CertificateView>,
    /// What to give the IdP: our entity id, ACS URL and metadata URL.
    pub service_provider: SpEndpoints,
}

#[derive(Debug, Serialize)]
pub struct OidcView {
    #[serde(flatten)]
    pub settings: OidcSettings,
    /// Whether a client secret is stored (it is never shown).
    pub client_secret_set: bool,
    /// What to register at the IdP as the redirect URI.
    pub redirect_uri: String,
}

pub(crate) fn parse_row(row: ConnectionRow) -> Result<Connection, Error> {
    let corrupt = |what: &str| Error::Internal(anyhow::anyhow!("corrupt sso_connections.{what}"));
    let status = ConnectionStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?;
    let settings = match row.protocol.as_str() {
        "saml" => {
            Settings::Saml(serde_json::from_str(&row.settings).map_err(|_| corrupt("settings"))?)
        }
        "oidc" => {
            Settings::Oidc(serde_json::from_str(&row.settings).map_err(|_| corrupt("settings"))?)
        }
        _ => return Err(corrupt("protocol")),
    };
    Ok(Connection {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        status,
        settings,
        secrets_sealed: row.secrets_sealed,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn to_row(c: &Connection) -> Result<ConnectionRow, Error> {
    let settings = match &c.settings {
        Settings::Saml(s) => serde_json::to_string(s),
        Settings::Oidc(s) => serde_json::to_string(s),
    }
    .map_err(|e| Error::Internal(e.into()))?;
    Ok(ConnectionRow {
        id: c.id,
        tenant_id: c.tenant_id,
        name: c.name.clone(),
        protocol: c.settings.protocol().to_string(),
        status: c.status.as_str().to_string(),
        settings,
        secrets_sealed: c.secrets_sealed.clone(),
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// The view of `c`; needs the tenant's public token for the SP endpoints.
pub async fn view(state: &Services, c: &Connection) -> Result<ConnectionView, Error> {
    let tenant = store::tenants::get(&state.store, c.tenant_id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let now_unix = state.clock.now().as_micros() / 1_000_000;
    let public_url = state.config.public_url();
    let (saml, oidc) = match &c.settings {
        Settings::Saml(s) => (
            Some(SamlView {
                settings: s.clone(),
                certificate_details: s.certificate_views(now_unix),
                service_provider: SpEndpoints::new(&public_url, &tenant.public_token, c.id),
            }),
            None,
        ),
        Settings::Oidc(s) => (
            None,
            Some(OidcView {
                settings: s.clone(),
                client_secret_set: c.secrets_sealed.is_some(),
                redirect_uri: oidc_redirect_uri(&public_url, &tenant.public_token, c.id),
            }),
        ),
    };
    Ok(ConnectionView {
        id: c.id,
        name: c.name.clone(),
        protocol: c.settings.protocol(),
        status: c.status,
        saml,
        oidc,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {MAX_NAME} printable characters"),
        ));
    }
    Ok(name.to_string())
}

/// The audit form of a connection: its settings and status (settings hold no secrets; a
/// sealed secret shows only as its digest, so a change of secret is visible in the log).
fn audit_json(c: &Connection) -> serde_json::Value {
    let settings = match &c.settings {
        Settings::Saml(s) => json!(s),
        Settings::Oidc(s) => json!(s),
    };
    let secrets = c
        .secrets_sealed
        .as_ref()
        .map(|s| hex::encode(&sha2::Sha256::digest(s)[..8]));
    json!({"name": c.name, "protocol": c.settings.protocol(), "status": c.status, "settings": settings, "sealed_secrets": secrets})
}

/// Discovers an OIDC issuer, so a connection is never saved pointing at something that is
/// not an OpenID provider, or with algorithms the provider never uses.
async fn check_discovery(state: &Services, settings: &OidcSettings) -> Result<(), Error> {
    state.oidc.forget(&settings.issuer);
    let metadata = state
        .oidc
        .metadata(&settings.issuer)
        .await
        .map_err(|e| Error::invalid("oidc.issuer", e))?;
    let offered: Vec<String> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if !settings.allowed_algs.iter().any(|a| offered.contains(a)) {
        return Err(Error::invalid(
            "oidc.allowed_algs",
            format!(
                "the provider signs ID tokens with {}; allow one of them",
                offered.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Fetches IdP metadata named by URL into the input (given XML wins over a URL).
async fn fetch_metadata(state: &Services, input: &mut SamlInput) -> Result<(), Error> {
    let Some(url) = input.metadata_url.as_deref().map(str::trim) else {
        return Ok(());
    };
    if input.metadata_xml.is_some() {
        return Err(Error::invalid(
            "saml.metadata_url",
            "give metadata_xml or metadata_url, not both",
        ));
    }
    super::check_url("saml.metadata_url", url)?;
    let bytes = state
        .oidc
        .outbound()
        .get(
            url,
            "application/samlmetadata+xml, application/xml, text/xml",
        )
        .await
        .map_err(|e| Error::invalid("saml.metadata_url", format!("fetching metadata: {e}")))?;
    let xml = String::from_utf8(bytes)
        .map_err(|_| Error::invalid("saml.metadata_url", "the metadata is not UTF-8 XML"))?;
    input.metadata_url = Some(url.to_string());
    input.metadata_xml = Some(xml);
    Ok(())
}

/// Seals an OIDC client secret as the connection's secrets.
async fn seal_client_secret(
    state: &Services,
    c: &Connection,
    secret: &secrecy::SecretString,
) -> Result<Vec<u8>, Error> {
    use secrecy::ExposeSecret;
    check_secret(secret.expose_secret())?;
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(&json!({"client_secret": secret.expose_secret()}))
            .map_err(|e| Error::Internal(e.into()))?,
    );
    state
        .secrets
        .seal(&state.store, c.tenant_id, &c.keys_purpose(), &plain)
        .await
}

/// An OIDC connection's client secret, if one is stored.
pub async fn client_secret(
    state: &Services,
    c: &Connection,
) -> Result<Option<zeroize::Zeroizing<String>>, Error> {
    let mut map = open_keys(state, c).await?;
    Ok(map.remove("client_secret").map(zeroize::Zeroizing::new))
}

pub async fn create(
    state: &Services,
    auth: &Authorized<WriteSso>,
    ctx: &RequestContext,
    body: CreateConnection,
) -> Result<ConnectionView, Error> {
    let tenant = auth.tenant();
    let name = check_name(&body.name)?;
    let (settings, secret) = match (body.saml, body.oidc) {
        (Some(mut saml), None) => {
            fetch_metadata(state, &mut saml).await?;
            (Settings::Saml(saml.into_settings(None)?), None)
        }
        (None, Some(mut oidc)) => {
            let secret = oidc.client_secret.take();
            let settings = oidc.into_settings(None)?;
            check_discovery(state, &settings).await?;
            (Settings::Oidc(settings), secret)
        }
        _ => {
            return Err(Error::invalid(
                "saml",
                "give the settings of exactly one protocol: `saml` or `oidc`",
            ))
        }
    };
    let now = state.clock.now();
    let mut connection = Connection {
        id: ConnectionId::generate(),
        tenant_id: tenant,
        name,
        status: body.status.unwrap_or(ConnectionStatus::Test),
        settings,
        secrets_sealed: None,
        created_at: now,
        updated_at: now,
    };
    if let Some(secret) = &secret {
        connection.secrets_sealed = Some(seal_client_secret(state, &connection, secret).await?);
    }
    let mut tx = state.store.begin().await?;
    store::sso::insert_connection(&mut tx, &to_row(&connection)?).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::SsoConnectionCreated,
            target: Target::new("sso_connection", connection.id),
            before: None,
            after: Some(audit_json(&connection)),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    view(state, &connection).await
}

pub async fn get(
    state: &Services,
    auth: &Authorized<ReadTenant>,
    id: ConnectionId,
) -> Result<ConnectionView, Error> {
    let c = load(state, auth.tenant(), id).await?;
    view(state, &c).await
}

/// A connection of `tenant`, or not found.
pub async fn load(
    state: &Services,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Connection, Error> {
    let row = store::sso::connection(&state.store, tenant, id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    parse_row(row)
}

pub async fn list(
    state: &Services,
    auth: &Authorized<ReadTenant>,
) -> Result<Vec<ConnectionView>, Error> {
    let mut out = Vec::new();
    for row in store::sso::connections(&state.store, auth.tenant()).await? {
        out.push(view(state, &parse_row(row)?).await?);
    }
    Ok(out)
}

pub async fn update(
    state: &Services,
    auth: &Authorized<WriteSso>,
    ctx: &RequestContext,
    id: ConnectionId,
    body: UpdateConnection,
) -> Result<ConnectionView, Error> {
    let tenant = auth.tenant();
    // Everything slow (fetching IdP metadata, OIDC discovery, sealing) happens before the
    // write transaction; the transaction then checks nobody changed the connection meanwhile.
    let before = load(state, tenant, id).await?;
    let mut after = before.clone();
    if let Some(name) = &body.name {
        after.name = check_name(name)?;
    }
    if let Some(status) = body.status {
        after.status = status;
    }
    match (&before.settings, body.saml, body.oidc) {
        (_, None, None) => {}
        (Settings::Saml(current), Some(mut input), None) => {
            fetch_metadata(state, &mut input).await?;
            after.settings = Settings::Saml(input.into_settings(Some(current))?);
        }
        (Settings::Oidc(current), None, Some(mut input)) => {
            let secret = input.client_secret.take();
            let settings = input.into_settings(Some(current))?;
            if settings.issuer != current.issuer || settings.allowed_algs != current.allowed_algs {
                check_discovery(state, &settings).await?;
            }
            after.settings = Settings::Oidc(settings);
            if let Some(secret) = &secret {
                after.secrets_sealed = Some(seal_client_secret(state, &after, secret).await?);
            }
        }
        _ => {
            return Err(Error::invalid(
                "protocol",
                format!(
                    "this is a {} connection; send `{}` settings (the protocol cannot change)",
                    before.settings.protocol(),
                    before.settings.protocol()
                ),
            ))
        }
    }
    after.updated_at = state.clock.now();
    let mut tx = state.store.begin().await?;
    lock_unchanged(&mut tx, &before).await?;
    store::sso::update_connection(&mut tx, &to_row(&after)?).await?;
    audit::record(
        &mut tx,
        after.updated_at,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::SsoConnectionUpdated,
            target: Target::new("sso_connection", id),
            before: Some(audit_json(&before)),
            after: Some(audit_json(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    view(state, &after).await
}

pub async fn delete(
    state: &Services,
    auth: &Authorized<WriteSso>,
    ctx: &RequestContext,
    id: ConnectionId,
) -> Result<(), Error> {
    let tenant = auth.tenant();
    let mut tx = state.store.begin().await?;
    let row = store::sso::connection_for_update(&mut tx, tenant, id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    let before = parse_row(row)?;
    store::sso::delete_connection(&mut tx, tenant, id).await?;
    audit::record(
        &mut tx,
        state.clock.now(),
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::SsoConnectionDeleted,
            target: Target::new("sso_connection", id),
            before: Some(audit_json(&before)),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(())
}

/// The connection's private decryption keys, key id → PEM.
async fn open_keys(state: &Services, c: &Connection) -> Result<BTreeMap<String, String>, Error> {
    let Some(sealed) = &c.secrets_sealed else {
        return Ok(BTreeMap::new());
    };
    let plain = state
        .secrets
        .open(&state.store, c.tenant_id, &c.keys_purpose(), sealed)
        .await?;
    serde_json::from_slice(&plain).map_err(|e| Error::Internal(e.into()))
}

/// The SP decryption keys a response may be encrypted to, newest first.
pub async fn decryption_keys(
    state: &Services,
    c: &Connection,
) -> Result<Vec<PKey<Private>>, Error> {
    let Settings::Saml(saml) = &c.settings else {
        return Ok(Vec::new());
    };
    let keys = open_keys(state, c).await?;
    Ok(saml
        .sp_encryption_keys
        .iter()
        .rev()
        .filter_map(|k| keys.get(&k.id).and_then(|pem| encryption::private_key(pem)))
        .collect())
}

/// Locks the connection `before` was read from, inside `tx`, and refuses the change when
/// someone else changed it since: the slow parts of a change are computed outside the write
/// transaction, from that read.
async fn lock_unchanged(tx: &mut crate::store::Tx, before: &Connection) -> Result<(), Error> {
    let current = store::sso::connection_for_update(tx, before.tenant_id, before.id)
        .await?
        .ok_or(Error::NotFound("connection"))?;
    if current.updated_at != before.updated_at {
        return Err(Error::Conflict(
            "the connection was changed by someone else meanwhile; read it again and retry".into(),
        ));
    }
    Ok(())
}

/// Most SP decryption keys per connection (one in use, one being rolled in, one spare).
const MAX_SP_KEYS: usize = 3;

/// Adds a freshly generated SP decryption key (or removes one, with `remove`), audited.
pub async fn change_key(
    state: &Services,
    auth: &Authorized<WriteSso>,
    ctx: &RequestContext,
    id: ConnectionId,
    remove: Option<&str>,
) -> Result<ConnectionView, Error> {
    let tenant = auth.tenant();
    let now = state.clock.now();
    // Key generation and sealing happen before the write transaction (see `update`).
    let before = load(state, tenant, id).await?;
    let mut c = before.clone();
    let mut keys = open_keys(state, &c).await?;
    let Settings::Saml(saml) = &mut c.settings else {
        return Err(Error::Conflict(
            "only SAML connections have encryption keys".into(),
        ));
    };
    let (action, detail) = match remove {
        None => {
            if saml.sp_encryption_keys.len() >= MAX_SP_KEYS {
                return Err(Error::Conflict(format!(
                    "a connection holds at most {MAX_SP_KEYS} encryption keys; remove an old one first"
                )));
            }
            let subject = format!("Gatehouse SP {id}");
            let (public, pem) =
                tokio::task::spawn_blocking(move || encryption::generate(&subject, now))
                    .await
                    .map_err(|e| Error::Internal(e.into()))?
                    .map_err(Error::Internal)?;
            keys.insert(public.id.clone(), pem.to_string());
            let key_id = public.id.clone();
            saml.sp_encryption_keys.push(public);
            (Action::SsoConnectionKeyAdded, key_id)
        }
        Some(key_id) => {
            let before = saml.sp_encryption_keys.len();
            saml.sp_encryption_keys.retain(|k| k.id != key_id);
            if saml.sp_encryption_keys.len() == before {
                return Err(Error::NotFound("encryption key"));
            }
            keys.remove(key_id);
            (Action::SsoConnectionKeyRemoved, key_id.to_string())
        }
    };
    let plain =
        zeroize::Zeroizing::new(serde_json::to_vec(&keys).map_err(|e| Error::Internal(e.into()))?);
    c.secrets_sealed = Some(
        state
            .secrets
            .seal(&state.store, tenant, &c.keys_purpose(), &plain)
            .await?,
    );
    c.updated_at = now;
    let mut tx = state.store.begin().await?;
    lock_unchanged(&mut tx, &before).await?;
    store::sso::update_connection(&mut tx, &to_row(&c)?).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action,
            target: Target::new("sso_connection", id),
            before: None,
            after: Some(json!({"key_id": detail})),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    view(state, &c).await
}
