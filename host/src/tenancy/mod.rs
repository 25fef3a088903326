//! Tenants: the customer organisations of the SaaS app. Created, suspended, resumed and
//! deleted by the operator; each has a slug, an opaque public token for URLs and a set of
//! email domains ([`domains`]). Deleting a tenant keeps a tombstone and its audit trail but
//! removes its domains, revokes its tokens and destroys its data key.

pub mod domains;
pub mod features;
pub mod public_token;
pub mod usage;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, ReadTenant};
use crate::services::Services;
use crate::store::tenants::{DomainRecord, Features, TenantRecord, TenantStatus};
use crate::store::{self, Store};
use crate::types::{DomainName, Slug, TenantId};

/// Longest tenant display name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Random bytes in a public tenant token (192 bits, unguessable, 32 URL-safe characters).
const PUBLIC_TOKEN_BYTES: usize = 24;
/// Largest page of tenants in a listing.
pub const MAX_LIST_LIMIT: u32 = 500;

/// A tenant with its domains, as the APIs show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    #[serde(flatten)]
    pub tenant: TenantRecord,
    pub domains: Vec<DomainRecord>,
}

/// The body of the operator's `POST /tenants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// 3-63 characters of a-z, 0-9 and inner `-`; names the tenant in the operator's URLs.
    pub slug: String,
    pub name: String,
    /// Domains the operator vouches for; they are verified at once.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The features the tenant starts with ([`features`]); every one when absent.
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::store::tenants::Feature>>)]
    pub features: Option<Vec<String>>,
}

/// How the operator names a tenant in a URL: its id, or its slug.
pub async fn resolve(store: &Store, id_or_slug: &str) -> Result<TenantRecord, Error> {
    let found = if let Ok(id) = id_or_slug.parse::<TenantId>() {
        store::tenants::get(store, id).await?
    } else if let Ok(slug) = id_or_slug.parse::<Slug>() {
        store::tenants::find_by_slug(store, &slug).await?
    } else {
        None
    };
    found.ok_or(Error::NotFound("tenant"))
}

fn validate_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "name",
            format!("name must be 1-{MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_string())
}

fn public_token() -> String {
    let mut bytes = [0u8; PUBLIC_TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    B64URL.encode(bytes)
}

pub async fn create(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    req: CreateTenant,
) -> Result<TenantView, Error> {
    let slug: Slug = req
        .slug
        .parse()
        .map_err(|e: crate::types::ParseError| Error::invalid("slug", e.0))?;
    let name = validate_name(&req.name)?;
    let mut domain_names = Vec::new();
    for d in &req.domains {
        let parsed: DomainName = d
            .parse()
            .map_err(|e: crate::types::ParseError| Error::invalid("domains", e.0))?;
        if !domain_names.contains(&parsed) {
            domain_names.push(parsed);
        }
    }
    if domain_names.len() > domains::MAX_DOMAINS_PER_TENANT {
        return Err(Error::invalid(
            "domains",
            format!(
                "at most {} domains per tenant",
                domains::MAX_DOMAINS_PER_TENANT
            ),
        ));
    }
    let features = match &req.features {
        Some(names) => features::parse(names, "features")?,
        None => Features::all(),
    };
    let now = state.clock.now();
    let tenant = TenantRecord {
        id: TenantId::generate(),
        slug,
        name,
        public_token: public_token(),
        previous_public_token_until: None,
        status: TenantStatus::Active,
        features,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.store.begin().await?;
    store::tenants::insert(&mut tx, &tenant).await?;
    store::keys::insert_tenant_key(
        &mut tx,
        tenant.id,
        &state.secrets.new_tenant_key(tenant.id)?,
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant.id),
            actor: auth.actor(),
            action: Action::TenantCreated,
            target: Target::new("tenant", tenant.id),
            before: None,
            after: Some(json!(tenant)),
        },
    )
    .await?;
    let mut added = Vec::new();
    for d in domain_names {
        added.push(domains::add_verified_in(&mut tx, now, auth.actor(), ctx, tenant.id, d).await?);
    }
    tx.commit().await?;
    Ok(TenantView {
        tenant,
        domains: added,
    })
}

pub async fn view(store: &Store, tenant: TenantRecord) -> Result<TenantView, Error> {
    let domains = store::tenants::domains(store, tenant.id).await?;
    Ok(TenantView { tenant, domains })
}

/// The caller's own tenant (tenant API).
pub async fn get_own(state: &Services, auth: &Authorized<ReadTenant>) -> Result<TenantView, Error> {
    let t = store::tenants::get(&state.store, auth.tenant())
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    view(&state.store, t).await
}

/// One page of tenants after `after`, optionally of one status.
pub async fn list(
    state: &Services,
    _auth: &Authorized<OperateInstance>,
    status: Option<TenantStatus>,
    after: Option<TenantId>,
    limit: u32,
) -> Result<Vec<TenantRecord>, Error> {
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIST_LIMIT}"),
        ));
    }
    Ok(store::tenants::list(&state.store, status, after, limit).await?)
}

/// A lifecycle transition the operator asks for.
#[derive(Debug, Clone, Copy)]
pub enum Transition {
    Suspend,
    Resume,
    Delete,
}

/// Applies `transition`; repeating one that already holds is a no-op without an event.
pub async fn transition(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    id: TenantId,
    transition: Transition,
) -> Result<TenantRecord, Error> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let before = store::tenants::get_for_update(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let (target, action) = match (transition, before.status) {
        (_, TenantStatus::Deleted) => {
            return Err(Error::Conflict("the tenant has been deleted".into()))
        }
        (Transition::Suspend, TenantStatus::Suspended)
        | (Transition::Resume, TenantStatus::Active) => {
            return Ok(before);
        }
        (Transition::Suspend, TenantStatus::Active) => {
            (TenantStatus::Suspended, Action::TenantSuspended)
        }
        (Transition::Resume, TenantStatus::Suspended) => {
            (TenantStatus::Active, Action::TenantResumed)
        }
        (Transition::Delete, _) => (TenantStatus::Deleted, Action::TenantDeleted),
    };
    store::tenants::set_status(&mut tx, id, target, now).await?;
    let mut extra = json!({});
    if target != TenantStatus::Active {
        // Every browser session and unredeemed authorization code ends now, and resuming
        // does not bring them back; the app's access tokens die with their session (userinfo
        // checks it) and expire within their 10 minutes.
        let sessions = store::sessions::revoke_all(&mut tx, id, now).await?;
        let codes = store::provider::delete_codes(&mut tx, id).await?;
        extra = json!({ "sessions_revoked": sessions, "codes_dropped": codes });
    }
    if target == TenantStatus::Deleted {
        store::tenants::delete_all_domains(&mut tx, id).await?;
        let revoked = store::tokens::revoke_all_api_tokens(&mut tx, id, now).await?;
        store::keys::delete_tenant_key(&mut tx, id).await?;
        // Their secrets are unreadable without the data key; nothing more leaves.
        let streams = store::audit_streams::delete_all(&mut tx, id).await?;
        if let Some(obj) = extra.as_object_mut() {
            obj.extend([
                ("tokens_revoked".to_string(), json!(revoked)),
                ("audit_streams_removed".to_string(), json!(streams)),
                ("domains_removed".to_string(), json!(true)),
                ("data_key_destroyed".to_string(), json!(true)),
            ]);
        }
    }
    let mut after = before.clone();
    after.status = target;
    after.updated_at = now;
    let mut after_json = json!(after);
    if let (Some(obj), serde_json::Value::Object(more)) = (after_json.as_object_mut(), extra) {
        obj.extend(more);
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(id),
            actor: auth.actor(),
            action,
            target: Target::new("tenant", id),
            before: Some(json!(before)),
            after: Some(after_json),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(id);
    Ok(after)
}

/// Renames a tenant (display name only; the slug is permanent).
pub async fn rename(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    id: TenantId,
    name: &str,
) -> Result<TenantRecord, Error> {
    let name = validate_name(name)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let before = store::tenants::get_for_update(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if before.status == TenantStatus::Deleted {
        return Err(Error::Conflict("the tenant has been deleted".into()));
    }
    if before.name == name {
        return Ok(before);
    }
    store::tenants::rename(&mut tx, id, &name, now).await?;
    let mut after = before.clone();
    after.name = name;
    after.updated_at = now;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(id),
            actor: auth.actor(),
            action: Action::TenantUpdated,
            target: Target::new("tenant", id),
            before: Some(json!(before)),
            after: Some(json!(after)),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(id);
    Ok(after)
}

/// The tenant whose public token (the opaque id in IdP-facing URLs) is `token`, through the
/// node cache, whatever its status (callers check it).
pub async fn by_public_token(state: &Services, token: &str) -> Result<Option<TenantRecord>, Error> {
    state
        .cache
        .tenant_by_token(token, || {
            store::tenants::find_by_public_token(&state.store, token, state.clock.now())
        })
        .await
        .map_err(Error::from)
}
