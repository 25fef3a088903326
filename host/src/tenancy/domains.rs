//! Email domains of a tenant. A *verified* domain routes sign-ins to its tenant, so it can be
//! verified for one tenant only. The operator adds domains as verified (vouching for them);
//! a tenant admin requests a domain, which stays *pending* with a DNS TXT challenge until the
//! operator verifies it. (Automatic DNS checking of the challenge is not built yet.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, WriteDomains};
use crate::services::Services;
use crate::store::tenants::{DomainRecord, DomainStatus, TenantStatus};
use crate::store::{self, Tx};
use crate::types::{DomainName, TenantId, Timestamp};

/// Most domains one tenant may hold; bounds listing size and abuse of claims.
pub const MAX_DOMAINS_PER_TENANT: usize = 100;

/// A pending domain with the DNS record that proves ownership.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DomainChallenge {
    #[serde(flatten)]
    pub domain: DomainRecord,
    /// Publish a TXT record with this name…
    pub txt_record_name: String,
    /// …and this value.
    pub txt_record_value: String,
}

impl DomainChallenge {
    fn of(domain: DomainRecord) -> Self {
        Self {
            txt_record_name: format!("_gatehouse-challenge.{}", domain.domain),
            txt_record_value: format!("gatehouse-verification={}", domain.verification_token),
            domain,
        }
    }
}

fn challenge_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    B64URL.encode(bytes)
}

fn parse(domain: &str) -> Result<DomainName, Error> {
    domain
        .parse()
        .map_err(|e: crate::types::ParseError| Error::invalid("domain", e.0))
}

/// Locks the tenant row and fails unless the tenant still exists (deleted ones are tombstones).
pub(crate) async fn live_tenant(tx: &mut Tx, tenant: TenantId) -> Result<(), Error> {
    match store::tenants::get_for_update(tx, tenant).await? {
        Some(t) if t.status != TenantStatus::Deleted => Ok(()),
        _ => Err(Error::NotFound("tenant")),
    }
}

async fn check_capacity(state: &Services, tenant: TenantId) -> Result<(), Error> {
    if store::tenants::domains(&state.store, tenant).await?.len() >= MAX_DOMAINS_PER_TENANT {
        return Err(Error::Conflict(format!(
            "the tenant already has {MAX_DOMAINS_PER_TENANT} domains"
        )));
    }
    Ok(())
}

/// Adds (or verifies an already requested) `domain` as verified, inside `tx`.
pub(super) async fn add_verified_in(
    tx: &mut Tx,
    now: Timestamp,
    actor: Actor,
    ctx: &RequestContext,
    tenant: TenantId,
    domain: DomainName,
) -> Result<DomainRecord, Error> {
    let before = store::tenants::domain_for_update(tx, tenant, &domain).await?;
    let record = match &before {
        Some(existing) if existing.status == DomainStatus::Verified => return Ok(existing.clone()),
        Some(existing) => {
            store::tenants::mark_domain_verified(tx, tenant, &domain, now).await?;
            DomainRecord {
                status: DomainStatus::Verified,
                verified_at: Some(now),
                ..existing.clone()
            }
        }
        None => {
            let record = DomainRecord {
                domain: domain.clone(),
                status: DomainStatus::Verified,
                verification_token: challenge_token(),
                created_at: now,
                verified_at: Some(now),
            };
            store::tenants::insert_domain(tx, tenant, &record).await?;
            record
        }
    };
    audit::record(
        tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor,
            action: Action::DomainVerified,
            target: Target::new("domain", &domain),
            before: before.map(|b| json!(b)),
            after: Some(json!(record)),
        },
    )
    .await?;
    Ok(record)
}

/// Operator: add `domain` to `tenant` as verified, or verify a pending request.
pub async fn add_verified(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    ctx: &RequestContext,
    tenant: TenantId,
    domain: &str,
) -> Result<DomainRecord, Error> {
    let domain = parse(domain)?;
    check_capacity(state, tenant).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    live_tenant(&mut tx, tenant).await?;
    let record = add_verified_in(&mut tx, now, auth.actor(), ctx, tenant, domain).await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(record)
}

/// Tenant admin: claim `domain`; it stays pending until verified.
pub async fn request(
    state: &Services,
    auth: &Authorized<WriteDomains>,
    ctx: &RequestContext,
    domain: &str,
) -> Result<DomainChallenge, Error> {
    let domain = parse(domain)?;
    let tenant = auth.tenant();
    check_capacity(state, tenant).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    live_tenant(&mut tx, tenant).await?;
    if let Some(existing) = store::tenants::domain_for_update(&mut tx, tenant, &domain).await? {
        return Ok(DomainChallenge::of(existing));
    }
    let record = DomainRecord {
        domain: domain.clone(),
        status: DomainStatus::Pending,
        verification_token: challenge_token(),
        created_at: now,
        verified_at: None,
    };
    store::tenants::insert_domain(&mut tx, tenant, &record).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::DomainRequested,
            target: Target::new("domain", &domain),
            before: None,
            after: Some(json!(record)),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(DomainChallenge::of(record))
}

pub async fn list(state: &Services, tenant: TenantId) -> Result<Vec<DomainChallenge>, Error> {
    Ok(store::tenants::domains(&state.store, tenant)
        .await?
        .into_iter()
        .map(DomainChallenge::of)
        .collect())
}

/// Removes `domain` from the tenant (operator, or a tenant token with `domains:write`).
pub async fn remove(
    state: &Services,
    auth: &Authorized<WriteDomains>,
    ctx: &RequestContext,
    domain: &str,
) -> Result<(), Error> {
    let domain = parse(domain)?;
    let tenant = auth.tenant();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let before = store::tenants::domain_for_update(&mut tx, tenant, &domain)
        .await?
        .ok_or(Error::NotFound("domain"))?;
    store::tenants::delete_domain(&mut tx, tenant, &domain).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::DomainRemoved,
            target: Target::new("domain", &domain),
            before: Some(json!(before)),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    Ok(())
}

/// The tenant's verified domains, through the node cache.
pub async fn verified(
    state: &Services,
    tenant: TenantId,
) -> Result<std::sync::Arc<Vec<String>>, Error> {
    state
        .cache
        .verified_domains(tenant, || async {
            let all = store::tenants::domains(&state.store, tenant).await?;
            Ok::<_, store::StoreError>(std::sync::Arc::new(
                all.into_iter()
                    .filter(|d| d.status == store::tenants::DomainStatus::Verified)
                    .map(|d| d.domain.to_string())
                    .collect(),
            ))
        })
        .await
        .map_err(Error::from)
}
