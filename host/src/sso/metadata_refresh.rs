//! IdP metadata that keeps itself current: a SAML connection made from a metadata URL fetches
//! it again on a schedule (`sso.metadata_refresh_secs`, from housekeeping) and on demand,
//! through the outbound guard, outside any transaction. What the metadata names (entity id,
//! SSO URL, signing certificates) replaces what the connection trusts, so an IdP that
//! publishes its next certificate beside the current one, and later alone, rotates with no
//! admin action. A fetch that fails, or returns something unusable, changes nothing: the last
//! good metadata stays in force, the failure shows in the connection's health (warning) and
//! is audited once, and the fetch is retried sooner.

use serde_json::json;

use super::connection_checks::fetch_metadata;
use super::connection_view::{audit_json, view, ConnectionView};
use super::connections::{load, lock_unchanged, to_row};
use super::saml::settings::SamlInput;
use super::{Connection, Settings};
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, WriteSso};
use crate::services::Services;
use crate::store::{self, connection_health};
use crate::types::{ConnectionId, TenantId};

/// Most connections one housekeeping round refreshes (the rest wait for the next round).
const PER_ROUND: i64 = 50;

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    Unchanged,
    Changed,
}

/// Fetches connection `id`'s metadata again and adopts it when it changed.
pub async fn refresh(
    state: &Services,
    tenant: TenantId,
    id: ConnectionId,
    actor: Actor,
    ctx: &RequestContext,
) -> Result<Refreshed, Error> {
    let before = load(state, tenant, id).await?;
    let Settings::Saml(current) = &before.settings else {
        return Err(Error::invalid(
            "saml.metadata_url",
            "this is an OIDC connection; its keys are refreshed from the issuer's JWKS",
        ));
    };
    let Some(url) = current.metadata_url.clone() else {
        return Err(Error::invalid(
            "saml.metadata_url",
            "this connection was not made from a metadata URL; give one in an update first",
        ));
    };
    let mut input = SamlInput {
        metadata_url: Some(url),
        ..SamlInput::default()
    };
    let fetched = match fetch_metadata(state, &mut input).await {
        Ok(()) => input.into_settings(Some(current)),
        Err(e) => Err(e),
    };
    let settings = match fetched {
        Ok(s) => s,
        Err(e) => {
            failed(state, &before, &e, actor, ctx).await?;
            return Err(e);
        }
    };
    let now = state.clock.now();
    let mut health = connection_health::get(&state.store, tenant, id).await?;
    health.metadata_checked_at = Some(now);
    health.metadata_error = None;
    health.metadata_error_at = None;
    health.next_refresh_at = Some(now.plus_seconds(interval(state)));
    let changed = settings.idp_entity_id != current.idp_entity_id
        || settings.sso_url != current.sso_url
        || settings.certificates != current.certificates;
    let mut tx = state.store.begin().await?;
    if changed {
        let mut after = before.clone();
        after.settings = Settings::Saml(settings);
        after.updated_at = now;
        lock_unchanged(&mut tx, &before).await?;
        store::sso::update_connection(&mut tx, &to_row(&after)?).await?;
        audit::record(
            &mut tx,
            now,
            ctx,
            NewEvent {
                chain: Chain::Tenant(tenant),
                actor,
                action: Action::SsoMetadataRefreshed,
                target: Target::new("sso_connection", id),
                before: Some(audit_json(&before)),
                after: Some(audit_json(&after)),
            },
        )
        .await?;
        health.metadata_changed_at = Some(now);
    }
    connection_health::put(&mut tx, tenant, id, &health).await?;
    tx.commit().await?;
    if changed {
        state.cache.invalidate_tenant(tenant);
        Ok(Refreshed::Changed)
    } else {
        Ok(Refreshed::Unchanged)
    }
}

/// An admin's on-demand refresh: the connection as it is afterwards. A failed fetch answers
/// its error (and is recorded in the connection's health like a scheduled one).
pub async fn refresh_now(
    state: &Services,
    auth: &Authorized<WriteSso>,
    ctx: &RequestContext,
    id: ConnectionId,
) -> Result<ConnectionView, Error> {
    let tenant = auth.tenant();
    refresh(state, tenant, id, auth.actor(), ctx).await?;
    view(state, &load(state, tenant, id).await?).await
}

/// Seconds between refreshes.
fn interval(state: &Services) -> i64 {
    i64::try_from(state.config.sso.metadata_refresh_secs).unwrap_or(6 * 3600)
}

/// Records a failed fetch: the health shows it, the first failure after a good fetch is
/// audited, and the next try comes after a tenth of the interval.
async fn failed(
    state: &Services,
    c: &Connection,
    error: &Error,
    actor: Actor,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let now = state.clock.now();
    let detail = match error {
        Error::Invalid { detail, .. } => detail.clone(),
        _ => "the metadata could not be read".to_string(),
    };
    let mut health = connection_health::get(&state.store, c.tenant_id, c.id).await?;
    let first = health.metadata_error.is_none();
    health.metadata_checked_at = Some(now);
    health.metadata_error = Some(crate::types::truncate(&detail, 500));
    health.metadata_error_at = Some(now);
    health.next_refresh_at = Some(now.plus_seconds((interval(state) / 10).max(60)));
    let mut tx = state.store.begin().await?;
    if first {
        audit::record(
            &mut tx,
            now,
            ctx,
            NewEvent {
                chain: Chain::Tenant(c.tenant_id),
                actor,
                action: Action::SsoMetadataRefreshFailed,
                target: Target::new("sso_connection", c.id),
                before: None,
                after: Some(json!({ "error": health.metadata_error, "connection": c.name })),
            },
        )
        .await?;
    }
    connection_health::put(&mut tx, c.tenant_id, c.id, &health).await?;
    tx.commit().await?;
    Ok(())
}

/// Housekeeping: refreshes the connections whose metadata is due; how many changed.
pub async fn refresh_due(state: &Services) -> Result<usize, Error> {
    let now = state.clock.now();
    let due = connection_health::due(
        &state.store,
        now,
        now.plus_seconds(-interval(state)),
        PER_ROUND,
    )
    .await?;
    let mut changed = 0;
    for (tenant, id) in due {
        let actor = Actor::system("metadata-refresh");
        match refresh(state, tenant, id, actor, &RequestContext::default()).await {
            Ok(Refreshed::Changed) => changed += 1,
            Ok(Refreshed::Unchanged) => {}
            Err(e) => tracing::warn!(%tenant, connection = %id, error = ?e,
                "refreshing IdP metadata failed; the last good metadata stays in force"),
        }
    }
    Ok(changed)
}
