//! Setup links: the operator (or the app, through the operator API) issues a one-time,
//! expiring link that lets a customer's IT admin set up SSO and SCIM for one tenant without
//! an account. Opening the link shows what it is for; confirming spends it and opens a setup
//! session of [`SESSION_SECS`] in a cookie of its own, whose caller is
//! [`Principal::SetupLink`] with the SSO and SCIM-token permissions only. The link's token
//! (`ghs_…`, its secret stored as SHA-256 and compared in constant time) works once; a
//! revoked link ends its session too. Issued, used and revoked are audited on the tenant.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, Principal};
use crate::services::Services;
use crate::store;
use crate::store::setup_links::SetupLinkRecord;
use crate::store::tenants::{TenantRecord, TenantStatus};
use crate::types::{TenantId, TokenId};

/// The setup session's cookie (apart from the browser-session cookie: a setup session is
/// nobody's sign-in).
pub const COOKIE: &str = "gatehouse_setup";
/// Where a link opens: `/setup/{token}`.
pub const PAGE: &str = "/setup";
/// Prefix of a link's token.
const TOKEN_PREFIX: &str = "ghs_";
/// A link lasts a week unless the operator says otherwise, and at most 30 days.
pub const DEFAULT_TTL_SECS: i64 = 7 * 86_400;
pub const MAX_TTL_SECS: i64 = 30 * 86_400;
const MIN_TTL_SECS: i64 = 300;
/// How long the session a link opens lasts: a working day for the IdP set-up.
pub const SESSION_SECS: i64 = 8 * 3600;
/// At most this many links of one tenant may be usable (or have a session open) at once.
pub const MAX_LIVE_PER_TENANT: i64 = 20;
/// Longest label.
const MAX_LABEL_CHARS: usize = 100;
/// What the page says when a link is spent, expired, revoked or made up.
pub const GONE: &str =
    "This setup link has expired, was revoked or was already used. Ask for a new one.";

/// Body of a new link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSetupLink {
    /// Whom it is for (shown on the link's page, in the console and in the audit log).
    pub label: String,
    /// Seconds until the unused link stops working: default a week, 300 to 2,592,000.
    pub expires_in_seconds: Option<i64>,
}

/// A new link, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedSetupLink {
    #[serde(flatten)]
    pub link: SetupLinkRecord,
    /// The link to hand over; it works once.
    pub url: String,
}

fn validate(req: &NewSetupLink) -> Result<(String, i64), Error> {
    let label = req.label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::invalid(
            "label",
            format!("give a label of 1 to {MAX_LABEL_CHARS} characters"),
        ));
    }
    if label.chars().any(char::is_control) {
        return Err(Error::invalid(
            "label",
            "the label cannot hold control characters",
        ));
    }
    let ttl = req.expires_in_seconds.unwrap_or(DEFAULT_TTL_SECS);
    if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
        return Err(Error::invalid(
            "expires_in_seconds",
            format!("expires_in_seconds must be between {MIN_TTL_SECS} and {MAX_TTL_SECS}"),
        ));
    }
    Ok((label.to_string(), ttl))
}

/// Issues a link for `tenant` (active, under [`MAX_LIVE_PER_TENANT`]).
pub async fn issue(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    tenant: &TenantRecord,
    ctx: &RequestContext,
    req: NewSetupLink,
) -> Result<IssuedSetupLink, Error> {
    let (label, ttl) = validate(&req)?;
    if tenant.status != TenantStatus::Active {
        return Err(Error::Conflict(
            "the tenant is not active: resume it before issuing a setup link".into(),
        ));
    }
    let now = state.clock.now();
    if store::setup_links::count_live(&state.store, tenant.id, now).await? >= MAX_LIVE_PER_TENANT {
        return Err(Error::Conflict(format!(
            "the tenant already has {MAX_LIVE_PER_TENANT} usable setup links; revoke one first"
        )));
    }
    let minted = super::mint(TOKEN_PREFIX);
    let actor = auth.actor();
    let record = SetupLinkRecord {
        id: minted.id,
        tenant_id: tenant.id,
        label,
        created_by: format!("{}:{}", actor.kind, actor.id),
        created_at: now,
        expires_at: now.plus_seconds(ttl),
        used_at: None,
        session_expires_at: None,
        revoked_at: None,
    };
    let mut tx = state.store.begin().await?;
    crate::tenancy::domains::live_tenant(&mut tx, tenant.id).await?;
    store::setup_links::insert(&mut tx, &record, &minted.secret_hash).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant.id),
            actor,
            action: Action::SetupLinkIssued,
            target: Target::new("setup_link", record.id),
            before: None,
            after: Some(json!(record)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(IssuedSetupLink {
        url: format!(
            "{}{PAGE}/{}",
            state.config.public_url(),
            minted.token.expose_secret()
        ),
        link: record,
    })
}

pub async fn list(state: &Services, tenant: TenantId) -> Result<Vec<SetupLinkRecord>, Error> {
    Ok(store::setup_links::list(&state.store, tenant).await?)
}

/// Revokes link `id` of `tenant`: unused, it opens nothing; used, its session ends at once.
pub async fn revoke(
    state: &Services,
    auth: &Authorized<OperateInstance>,
    tenant: TenantId,
    id: TokenId,
    ctx: &RequestContext,
) -> Result<SetupLinkRecord, Error> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let before = store::setup_links::for_update(&mut tx, tenant, id)
        .await?
        .ok_or(Error::NotFound("setup link"))?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    store::setup_links::revoke(&mut tx, tenant, id, now).await?;
    let after = SetupLinkRecord {
        revoked_at: Some(now),
        ..before.clone()
    };
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::SetupLinkRevoked,
            target: Target::new("setup_link", id),
            before: Some(json!(before)),
            after: Some(json!(after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// The usable link `token` names, with its tenant's name: unused, not revoked, not expired,
/// its tenant active. `None` for anything else, a made-up token included.
pub async fn open(
    state: &Services,
    token: &str,
) -> Result<Option<(SetupLinkRecord, String)>, Error> {
    let Some((id, secret)) = super::parse(TOKEN_PREFIX, token) else {
        return Ok(None);
    };
    let Some((link, stored)) = store::setup_links::get(&state.store, id).await? else {
        return Ok(None);
    };
    let usable =
        link.used_at.is_none() && link.revoked_at.is_none() && state.clock.now() < link.expires_at;
    if !super::secret_matches(secret, &stored) || !usable {
        return Ok(None);
    }
    match store::tenants::get(&state.store, link.tenant_id).await? {
        Some(t) if t.status == TenantStatus::Active => Ok(Some((link, t.name))),
        _ => Ok(None),
    }
}

/// Spends link `token` and opens its setup session: the cookie's value, shown to the
/// browser once. A link that is not usable, or that another request spent first, is refused
/// with [`GONE`]. Audited as `setup_link.used`.
pub async fn redeem(
    state: &Services,
    token: &str,
    ctx: &RequestContext,
) -> Result<SecretString, Error> {
    let gone = || Error::Unauthenticated(GONE.into());
    let Some((link, _)) = open(state, token).await? else {
        return Err(gone());
    };
    let session = super::mint(TOKEN_PREFIX);
    let now = state.clock.now();
    let ends = now.plus_seconds(SESSION_SECS);
    let mut tx = state.store.begin().await?;
    if !store::setup_links::spend(&mut tx, link.id, &session.secret_hash, now, ends).await? {
        return Err(gone());
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(link.tenant_id),
            actor: Actor::setup_link(link.id, &link.label),
            action: Action::SetupLinkUsed,
            target: Target::new("setup_link", link.id),
            before: None,
            after: Some(json!({"session_expires_at": ends})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(session.token)
}

/// The caller behind setup-session cookie `cookie`, while its session is live, its link not
/// revoked and its tenant active.
pub async fn principal(
    state: &Services,
    cookie: &SecretString,
) -> Result<Option<Principal>, Error> {
    let Some((_, secret)) = super::parse(TOKEN_PREFIX, cookie.expose_secret()) else {
        return Ok(None);
    };
    let hash = super::hash_secret(secret);
    let now = state.clock.now();
    let Some(link) = store::setup_links::by_live_session(&state.store, &hash, now).await? else {
        return Ok(None);
    };
    Ok(Some(Principal::SetupLink {
        tenant: link.tenant_id,
        link: link.id,
        label: link.label,
    }))
}

/// Ends the setup session behind `cookie` (its holder signed out); nothing when there is none.
pub async fn end(state: &Services, cookie: &SecretString) -> Result<(), Error> {
    if let Some((_, secret)) = super::parse(TOKEN_PREFIX, cookie.expose_secret()) {
        let hash = super::hash_secret(secret);
        store::setup_links::end_session(&state.store, &hash, state.clock.now()).await?;
    }
    Ok(())
}

/// The `Set-Cookie` value for a new setup session.
pub fn set_cookie(state: &Services, token: &SecretString) -> String {
    super::browser::cookie(state, COOKIE, token.expose_secret(), SESSION_SECS)
}

/// The `Set-Cookie` value that clears the setup cookie.
pub fn clear_cookie(state: &Services) -> String {
    super::browser::cookie(state, COOKIE, "", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(label: &str, ttl: Option<i64>) -> NewSetupLink {
        NewSetupLink {
            label: label.into(),
            expires_in_seconds: ttl,
        }
    }

    #[test]
    fn labels_and_lifetimes_are_bounded() {
        assert_eq!(
            validate(&req(" Acme IT ", None)).unwrap(),
            ("Acme IT".to_string(), DEFAULT_TTL_SECS)
        );
        assert!(validate(&req("", None)).is_err());
        assert!(validate(&req(&"x".repeat(101), None)).is_err());
        assert!(validate(&req("a\nb", None)).is_err());
        assert!(validate(&req("ok", Some(MAX_TTL_SECS + 1))).is_err());
        assert!(validate(&req("ok", Some(299))).is_err());
        assert!(validate(&req("ok", Some(300))).is_ok());
    }
}
