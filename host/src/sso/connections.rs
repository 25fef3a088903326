//! The admin side of SSO connections: create, list, get, update and delete, each change
//! audited with before and after (`sso_connection.created/updated/deleted`). An OIDC
//! connection's issuer is discovered when it is set, so a wrong issuer is refused at once;
//! its client secret is sealed and never shown again.

use serde::Deserialize;
use serde_json::json;

use super::connection_checks::{check_discovery, fetch_metadata};
use super::connection_secrets::{open_keys, seal_client_secret};
use super::connection_view::{audit_json, view, ConnectionView};
use super::oidc::settings::OidcInput;
use super::saml::encryption;
use super::saml::settings::SamlInput;
use super::{Connection, ConnectionStatus, Provisioning, Settings};
use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::plugins::{activation, IdpPreset};
use crate::rbac::{Authorized, ReadSso, WriteSso};
use crate::services::Services;
use crate::store::{self, sso::ConnectionRow};
use crate::types::{ConnectionId, TenantId};

const MAX_NAME: usize = 100;

/// Body of a create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateSsoConnection)]
pub struct CreateConnection {
    pub name: String,
    /// Defaults to `test`: a new connection serves only admin test sign-ins until enabled.
    pub status: Option<ConnectionStatus>,
    /// Exactly one of `saml` and `oidc`.
    pub saml: Option<SamlInput>,
    pub oidc: Option<OidcInput>,
    /// Just-in-time creation (default on) and a default role for the users it creates.
    pub provisioning: Option<Provisioning>,
    /// The IdP this connection is for: gives the connection the built-in adapter that reads
    /// its dialect. Absent: its sign-ins use the tenant's idp-adapter stage.
    pub preset: Option<IdpPreset>,
    /// The new connection's id, chosen by the client so that it can show the values to
    /// enter at the IdP (ACS URL, entity id, redirect URI: they name the connection) before
    /// the IdP's metadata exists, as the console's setup wizard does. Absent: a fresh one.
    /// An id already in use is refused (409).
    pub id: Option<ConnectionId>,
}

/// Body of an update; absent fields keep their value. The protocol cannot change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateSsoConnection)]
pub struct UpdateConnection {
    pub name: Option<String>,
    pub status: Option<ConnectionStatus>,
    pub saml: Option<SamlInput>,
    pub oidc: Option<OidcInput>,
    /// Replaces the provisioning settings as a whole.
    pub provisioning: Option<Provisioning>,
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
    let provisioning =
        serde_json::from_str(&row.provisioning).map_err(|_| corrupt("provisioning"))?;
    Ok(Connection {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        status,
        settings,
        secrets_sealed: row.secrets_sealed,
        provisioning,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(super) fn to_row(c: &Connection) -> Result<ConnectionRow, Error> {
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
        provisioning: serde_json::to_string(&c.provisioning)
            .map_err(|e| Error::Internal(e.into()))?,
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

pub async fn create(
    state: &Services,
    auth: &Authorized<WriteSso>,
    ctx: &RequestContext,
    body: CreateConnection,
) -> Result<ConnectionView, Error> {
    let tenant = auth.tenant();
    let name = check_name(&body.name)?;
    let provisioning = body.provisioning.unwrap_or_default();
    check_provisioning(state, auth, &provisioning).await?;
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
        id: body.id.unwrap_or_else(ConnectionId::generate),
        tenant_id: tenant,
        name,
        status: body.status.unwrap_or(ConnectionStatus::Test),
        settings,
        secrets_sealed: None,
        provisioning,
        created_at: now,
        updated_at: now,
    };
    if let Some(secret) = &secret {
        connection.secrets_sealed = Some(seal_client_secret(state, &connection, secret).await?);
    }
    let adapter = match body.preset {
        Some(preset) => {
            Some(activation::prepare_preset(state, tenant, connection.id, preset).await?)
        }
        None => None,
    };
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
    if let Some(adapter) = &adapter {
        activation::write(&mut tx, tenant, auth.actor(), ctx, now, adapter, None).await?;
    }
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    view(state, &connection).await
}

pub async fn get(
    state: &Services,
    auth: &Authorized<ReadSso>,
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
    auth: &Authorized<ReadSso>,
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
    if let Some(provisioning) = body.provisioning {
        if provisioning.default_role != before.provisioning.default_role {
            check_provisioning(state, auth, &provisioning).await?;
        }
        after.provisioning = provisioning;
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

/// A default role must be one of the tenant's roles, and one the admin setting it could
/// assign by hand: a connection cannot hand every new user more than its admin holds.
async fn check_provisioning(
    state: &Services,
    auth: &Authorized<WriteSso>,
    provisioning: &Provisioning,
) -> Result<(), Error> {
    match &provisioning.default_role {
        Some(role) => {
            crate::rbac::assign::check_assignable(state, auth, "provisioning", role).await
        }
        None => Ok(()),
    }
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

/// Locks the connection `before` was read from, inside `tx`, and refuses the change when
/// someone else changed it since: the slow parts of a change are computed outside the write
/// transaction, from that read.
pub(super) async fn lock_unchanged(
    tx: &mut crate::store::Tx,
    before: &Connection,
) -> Result<(), Error> {
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
