//! Directory lifecycle webhooks for the apps: each tenant's user, group and role changes
//! (and warnings about its SSO connections: a certificate expiring, metadata failing),
//! POSTed to every app registered with a `webhook_url`, so an app keeps its own user table
//! in step without polling. They come from the audit trail: the change's own audit event
//! ([`crate::audit::record`], which every change writes in its transaction) queues the
//! webhook in the same transaction ([`kind_of`] says which events do); events an app
//! ingests never do. The body is read from the audit event when it is sent, so the outbox
//! holds no personal data. Signed as the audit stream webhooks are
//! (`Gatehouse-Signature: t=…,v1=HEX(HMAC-SHA256(key, "t.body"))`); at least once, with the
//! webhook's `id` stable across retries for the app to drop repeats.

use openidconnect::http;
use serde::Deserialize;
use serde_json::json;

use super::webhook::{signature, SIGNATURE_HEADER};
use crate::audit::action::Action;
use crate::audit::AuditEvent;
use crate::services::Services;
use crate::sso::outbound::Outbound;
use crate::store::{self, outbox::OutboxRow};

/// The webhook type of a Gatehouse audit action, if it is a lifecycle change.
pub fn kind_of(action: Action) -> Option<&'static str> {
    Some(match action {
        Action::ScimUserCreated | Action::UserProvisioned | Action::UserInvited => "user.created",
        Action::ScimUserUpdated | Action::UserLinked => "user.updated",
        Action::ScimUserDeactivated | Action::UserDeactivated => "user.deactivated",
        Action::ScimUserReactivated | Action::UserReactivated => "user.reactivated",
        Action::ScimUserDeleted => "user.deleted",
        Action::RolesAssigned => "user.roles_changed",
        Action::ScimGroupCreated | Action::GroupCreated => "group.created",
        Action::ScimGroupUpdated | Action::GroupUpdated => "group.updated",
        Action::ScimGroupDeleted | Action::GroupDeleted => "group.deleted",
        Action::GroupMemberAdded => "group.member_added",
        Action::GroupMemberRemoved => "group.member_removed",
        Action::SsoCertificateExpiring => "connection.certificate_expiring",
        Action::SsoMetadataRefreshFailed => "connection.metadata_refresh_failed",
        _ => return None,
    })
}

/// The sealing purpose of an app's webhook key (sealed with the instance key).
pub fn key_purpose(client_id: &str) -> String {
    format!("app-webhook:{client_id}")
}

/// A queued webhook as the outbox holds it.
#[derive(Deserialize)]
struct Queued {
    seq: i64,
    #[serde(rename = "type")]
    kind: String,
}

/// Sends one queued webhook. An app revoked since needs none; an event purged by retention
/// before it could be sent fails each attempt until the row is given up.
pub async fn deliver(state: &Services, http: &Outbound, row: &OutboxRow) -> Result<(), String> {
    let queued: Queued = row
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .ok_or("the webhook is unreadable")?;
    let client_id = row
        .destination
        .strip_prefix(store::outbox::WEBHOOK_PREFIX)
        .unwrap_or_default();
    let client = store::provider::client(&state.store, client_id)
        .await
        .map_err(|e| format!("reading the app: {e}"))?;
    let Some((url, sealed)) = client
        .filter(|c| c.revoked_at.is_none())
        .and_then(|c| c.webhook_url.zip(c.webhook_secret_sealed))
    else {
        return Ok(());
    };
    let key = state
        .secrets
        .open_instance(&key_purpose(client_id), &sealed)
        .map_err(|_| "the app's webhook key could not be opened".to_string())?;
    let chain = row.tenant_id.to_string();
    let event = store::audit::chain_page(&state.store, &chain, queued.seq - 1, 1)
        .await
        .map_err(|e| format!("reading the event: {e}"))?
        .into_iter()
        .find(|e| e.seq == queued.seq)
        .map(AuditEvent::from)
        .ok_or("the event is no longer kept (retention)")?;
    let body = json!({
        "id": row.id,
        "type": queued.kind,
        "tenant_id": event.tenant_id,
        "occurred_at": event.occurred_at,
        "audit_event_id": event.id,
        "actor": event.actor,
        "target": event.target,
        "data": { "before": event.before, "after": event.after },
    });
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let t = state.clock.now().as_micros() / 1_000_000;
    let header = format!("t={t},v1={}", signature(&key, t, &body)?);
    let request = http::Request::post(url.as_str())
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, header)
        .header("Gatehouse-Webhook-Id", row.id.as_str())
        .body(body)
        .map_err(|_| format!("{url} is not a usable URL"))?;
    super::webhook::post(http, request, &url).await
}
