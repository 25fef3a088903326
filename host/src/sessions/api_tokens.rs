//! Tenant API tokens for the admin API: created with a name, scopes and an expiry, shown once,
//! listed without secrets, rotated (the old token keeps working for an overlap, so a client
//! such as an IdP's provisioning job can switch without downtime), revoked. A token never
//! grants more than its creator holds.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{mint, secret_matches, API_TOKEN_PREFIX, TOUCH_INTERVAL_MICROS};
use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, Principal, Scope, WriteTokens};
use crate::services::Services;
use crate::store::{self, tenants::Feature, tenants::TenantStatus, tokens::ApiTokenRecord};
use crate::types::TokenId;

/// Lifetime when the request names none.
pub const DEFAULT_TTL_SECONDS: i64 = 90 * 24 * 3600;
/// Shortest lifetime accepted.
pub const MIN_TTL_SECONDS: i64 = 60;
/// Longest lifetime accepted: long-lived secrets are how breaches last.
pub const MAX_TTL_SECONDS: i64 = 366 * 24 * 3600;
/// How long a rotated token keeps working when the request names no overlap.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;
/// Longest overlap accepted: a rotation is meant to end the old token soon.
pub const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;
/// Longest token name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A request to create a token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Seconds until expiry, 60 to 366 days' worth; 90 days when absent.
    pub expires_in_seconds: Option<i64>,
}

/// A request to rotate a token.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateApiToken {
    /// Seconds the old token keeps working (0 to 7 days; 24 hours when absent).
    pub overlap_seconds: Option<i64>,
    /// Lifetime of the new token; the old token's lifetime when absent.
    pub expires_in_seconds: Option<i64>,
}

/// The one response that carries the token text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub record: ApiTokenRecord,
    /// The token. Shown only now; store it in a secret manager.
    pub token: String,
}

fn validate(req: &CreateApiToken) -> Result<(String, Vec<Scope>, i64), Error> {
    let name = req.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "name",
            format!("name must be 1-{MAX_NAME_CHARS} printable characters"),
        ));
    }
    if req.scopes.is_empty() {
        return Err(Error::invalid("scopes", "give at least one scope"));
    }
    let mut scopes = req.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let ttl = req.expires_in_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(Error::invalid(
            "expires_in_seconds",
            format!("expires_in_seconds must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS}"),
        ));
    }
    Ok((name.to_string(), scopes, ttl))
}

/// A new token for `req` (validated, and never with a scope the caller cannot grant) and
/// its record, not yet stored.
fn new_token(
    auth: &Authorized<WriteTokens>,
    req: &CreateApiToken,
    now: crate::types::Timestamp,
) -> Result<(super::Minted, ApiTokenRecord), Error> {
    let (name, scopes, ttl) = validate(req)?;
    if let Some(s) = scopes.iter().find(|s| !auth.can_grant(**s)) {
        return Err(Error::Forbidden(format!(
            "cannot grant the `{s}` scope: a token can only grant scopes its creator holds"
        )));
    }
    let minted = mint(API_TOKEN_PREFIX);
    let actor = auth.actor();
    let record = ApiTokenRecord {
        id: minted.id,
        tenant_id: auth.tenant(),
        name,
        scopes,
        created_by: format!("{}:{}", actor.kind, actor.id),
        created_at: now,
        expires_at: now.plus_seconds(ttl),
        revoked_at: None,
        last_used_at: None,
    };
    Ok((minted, record))
}

pub async fn create(
    state: &Services,
    auth: &Authorized<WriteTokens>,
    ctx: &RequestContext,
    req: CreateApiToken,
) -> Result<CreatedApiToken, Error> {
    let tenant = auth.tenant();
    let now = state.clock.now();
    let (minted, record) = new_token(auth, &req, now)?;
    let actor = auth.actor();
    let mut tx = state.store.begin().await?;
    let t = store::tenants::get_for_update(&mut tx, tenant)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if t.status == TenantStatus::Deleted {
        return Err(Error::NotFound("tenant"));
    }
    if record.scopes.contains(&Scope::Scim) {
        crate::tenancy::features::check(&t, Feature::Scim)?;
    }
    store::tokens::insert_api_token(&mut tx, &record, &minted.secret_hash).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor,
            action: Action::ApiTokenCreated,
            target: Target::new("api_token", record.id),
            before: None,
            after: Some(json!(record)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedApiToken {
        token: minted.token.expose_secret().to_string(),
        record,
    })
}

pub async fn list(
    state: &Services,
    auth: &Authorized<WriteTokens>,
) -> Result<Vec<ApiTokenRecord>, Error> {
    Ok(store::tokens::list_api_tokens(&state.store, auth.tenant()).await?)
}

pub async fn revoke(
    state: &Services,
    auth: &Authorized<WriteTokens>,
    ctx: &RequestContext,
    id: TokenId,
) -> Result<ApiTokenRecord, Error> {
    let tenant = auth.tenant();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let before = store::tokens::api_token_for_update(&mut tx, tenant, id)
        .await?
        .ok_or(Error::NotFound("token"))?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    // One may end only a token one could have issued: a setup session revokes SCIM tokens,
    // never the app's admin token.
    if let Some(s) = before.scopes.iter().find(|s| !auth.can_grant(**s)) {
        return Err(Error::Forbidden(format!(
            "cannot revoke a token with the `{s}` scope: only a caller who could grant it can"
        )));
    }
    store::tokens::revoke_api_token(&mut tx, tenant, id, now).await?;
    let mut after = before.clone();
    after.revoked_at = Some(now);
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::ApiTokenRevoked,
            target: Target::new("api_token", id),
            before: Some(json!(before)),
            after: Some(json!(after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Issues a successor to token `id` (same name and scopes) and cuts the old one's life to
/// the overlap. Audited as `api_token.rotated`.
pub async fn rotate(
    state: &Services,
    auth: &Authorized<WriteTokens>,
    ctx: &RequestContext,
    id: TokenId,
    req: RotateApiToken,
) -> Result<CreatedApiToken, Error> {
    let tenant = auth.tenant();
    let now = state.clock.now();
    let overlap = req.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
        return Err(Error::invalid(
            "overlap_seconds",
            format!("overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}"),
        ));
    }
    let mut tx = state.store.begin().await?;
    let old = store::tokens::api_token_for_update(&mut tx, tenant, id)
        .await?
        .ok_or(Error::NotFound("token"))?;
    if old.revoked_at.is_some() || old.expires_at <= now {
        return Err(Error::Conflict(
            "this token is revoked or expired; create a new one instead".into(),
        ));
    }
    let old_ttl = (old.expires_at.as_micros() - old.created_at.as_micros()) / 1_000_000;
    let successor = CreateApiToken {
        name: old.name.clone(),
        scopes: old.scopes.clone(),
        expires_in_seconds: Some(
            req.expires_in_seconds
                .unwrap_or_else(|| old_ttl.clamp(MIN_TTL_SECONDS, MAX_TTL_SECONDS)),
        ),
    };
    let (minted, record) = new_token(auth, &successor, now)?;
    let actor = auth.actor();
    let old_until = old.expires_at.min(now.plus_seconds(overlap));
    store::tokens::shorten_api_token(&mut tx, tenant, id, old_until).await?;
    store::tokens::insert_api_token(&mut tx, &record, &minted.secret_hash).await?;
    let mut old_after = old.clone();
    old_after.expires_at = old_until;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor,
            action: Action::ApiTokenRotated,
            target: Target::new("api_token", id),
            before: Some(json!(old)),
            after: Some(json!({"old": old_after, "new": record})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedApiToken {
        token: minted.token.expose_secret().to_string(),
        record,
    })
}

pub(super) async fn authenticate(
    state: &Services,
    id: TokenId,
    secret: &str,
) -> Result<Principal, Error> {
    let invalid = || Error::Unauthenticated("the token is not valid".into());
    let Some(cred) = store::tokens::api_token_credential(&state.store, id).await? else {
        // Same work as a real check, so response time does not reveal which ids exist.
        let _ = secret_matches(secret, &[0u8; 32]);
        return Err(invalid());
    };
    if !secret_matches(secret, &cred.secret_hash) {
        return Err(invalid());
    }
    let record = cred.record;
    let now = state.clock.now();
    if record.revoked_at.is_some() {
        return Err(Error::Unauthenticated("the token has been revoked".into()));
    }
    if record.expires_at <= now {
        return Err(Error::Unauthenticated("the token has expired".into()));
    }
    match cred.tenant_status {
        TenantStatus::Active => {}
        TenantStatus::Suspended => return Err(Error::TenantSuspended),
        TenantStatus::Deleted => return Err(invalid()),
    }
    let stale = record
        .last_used_at
        .is_none_or(|t| now.as_micros() - t.as_micros() > TOUCH_INTERVAL_MICROS);
    if stale {
        if let Err(e) = store::tokens::touch_api_token(
            &state.store,
            record.tenant_id,
            record.id,
            now,
            TOUCH_INTERVAL_MICROS,
        )
        .await
        {
            tracing::warn!(error = %e, token_id = %record.id, "could not record token use");
        }
    }
    Ok(Principal::ApiToken {
        tenant: record.tenant_id,
        token_id: record.id,
        name: record.name,
        scopes: record.scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, scopes: Vec<Scope>, ttl: Option<i64>) -> CreateApiToken {
        CreateApiToken {
            name: name.into(),
            scopes,
            expires_in_seconds: ttl,
        }
    }

    #[test]
    fn requests_are_validated() {
        assert!(validate(&req("ci", vec![Scope::Admin], None)).is_ok());
        assert!(validate(&req(" ", vec![Scope::Admin], None)).is_err());
        assert!(validate(&req("a\nb", vec![Scope::Admin], None)).is_err());
        assert!(validate(&req("ci", vec![], None)).is_err());
        assert!(validate(&req("ci", vec![Scope::Admin], Some(10))).is_err());
        assert!(validate(&req("ci", vec![Scope::Admin], Some(MAX_TTL_SECONDS + 1))).is_err());
        let (_, scopes, _) =
            validate(&req("ci", vec![Scope::AuditRead, Scope::AuditRead], None)).unwrap();
        assert_eq!(scopes, vec![Scope::AuditRead]);
    }
}
