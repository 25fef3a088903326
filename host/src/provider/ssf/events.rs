//! What Gatehouse transmits and how a SET (RFC 8417) is made. A Gatehouse audit action maps
//! to at most one [`Signal`] ([`signal_of`]); the audit append queues it for every stream
//! that asked for its type ([`queue`], in the change's own transaction), and the SET is
//! built and signed when it is sent ([`set_for`]) from the audit event, so queued rows hold
//! no personal data and a retry carries a fresh `iat`.
//!
//! The subject (`sub_id`) is an SSF complex subject: `user` as `iss_sub` (Gatehouse's
//! issuer and the `sub` of its ID tokens), `tenant` as `opaque` (the `tenant` claim), and
//! for a session, `session` as `opaque` (the `sid` claim); about a whole tenant (suspended or
//! deleted), `tenant` alone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::action::Action;
use crate::audit::AuditEvent;
use crate::error::Error;
use crate::provider::{issuer, keys};
use crate::services::Services;
use crate::store::{self, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

/// The SSF verification event (SSF 1.0 §8.1.4).
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// A CAEP or RISC event Gatehouse transmits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// CAEP: a session ended (sign-out, an admin's or the user's revocation), or all of a
    /// tenant's (suspended or deleted by the operator; the subject is the tenant alone).
    SessionRevoked,
    /// CAEP: a password was set (by its link, or the operator setting the owner), or an
    /// authenticator enrolled or reset.
    CredentialChange,
    /// RISC: the account was deactivated (SCIM or an admin).
    AccountDisabled,
    /// RISC: the account was reactivated.
    AccountEnabled,
    /// RISC: the account was deleted.
    AccountPurged,
}

impl Signal {
    pub const ALL: [Signal; 5] = [
        Signal::SessionRevoked,
        Signal::CredentialChange,
        Signal::AccountDisabled,
        Signal::AccountEnabled,
        Signal::AccountPurged,
    ];

    /// The event type URI.
    pub fn uri(self) -> &'static str {
        match self {
            Signal::SessionRevoked => {
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
            }
            Signal::CredentialChange => {
                "https://schemas.openid.net/secevent/caep/event-type/credential-change"
            }
            Signal::AccountDisabled => {
                "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
            }
            Signal::AccountEnabled => {
                "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
            }
            Signal::AccountPurged => {
                "https://schemas.openid.net/secevent/risc/event-type/account-purged"
            }
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.uri() == uri)
    }
}

/// The signal a Gatehouse audit action is, if any.
pub fn signal_of(action: Action) -> Option<Signal> {
    Some(match action {
        // A suspended or deleted tenant's sessions all end: one SET about the tenant.
        Action::SessionRevoked
        | Action::Logout
        | Action::TenantSuspended
        | Action::TenantDeleted => Signal::SessionRevoked,
        Action::MfaEnrolled | Action::MfaReset | Action::PasswordSet | Action::OwnerSet => {
            Signal::CredentialChange
        }
        Action::ScimUserDeactivated | Action::UserDeactivated => Signal::AccountDisabled,
        Action::ScimUserReactivated | Action::UserReactivated => Signal::AccountEnabled,
        Action::ScimUserDeleted => Signal::AccountPurged,
        _ => return None,
    })
}

/// A SET waiting to be sent, as its queue row holds it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Queued {
    /// The audit event `seq` of `tenant`'s chain.
    Event { tenant: TenantId, seq: i64 },
    /// A verification the receiver asked for, with its `state`.
    Verification { state: Option<String> },
}

/// Queues the audit event (`event_id`, `seq`) of `action` for every stream that wants it.
pub async fn queue(
    tx: &mut Tx,
    tenant: TenantId,
    event_id: &str,
    seq: i64,
    action: Action,
    now: Timestamp,
) -> Result<(), Error> {
    let Some(signal) = signal_of(action) else {
        return Ok(());
    };
    let payload = serde_json::to_string(&Queued::Event { tenant, seq })
        .map_err(|e| Error::Internal(e.into()))?;
    store::ssf::enqueue(tx, tenant, event_id, signal.uri(), &payload, now).await?;
    Ok(())
}

/// The subject of an event, and the keys a receiver may have removed it by.
struct Subject {
    sub_id: Value,
    keys: Vec<String>,
}

/// The removal keys of a user (and its email, while the user is kept) and its tenant (see
/// [`super::streams::subject_key`]).
fn keys_of(iss: &str, tenant: &str, user: &str, email: Option<&str>) -> Vec<String> {
    let mut keys = vec![
        format!("user:{user}"),
        format!("iss_sub:{iss} {user}"),
        format!("tenant:{tenant}"),
    ];
    keys.extend(email.map(super::streams::email_key));
    keys
}

async fn subject_of(state: &Services, event: &AuditEvent, iss: &str) -> Result<Subject, String> {
    let tenant = event.tenant_id.as_str();
    let (user, session) = match event.target.kind.as_str() {
        "tenant" => {
            return Ok(Subject {
                sub_id: json!({
                    "format": "complex",
                    "tenant": {"format": "opaque", "id": tenant},
                }),
                keys: vec![format!("tenant:{tenant}")],
            })
        }
        "user" => (event.target.id.clone(), None),
        "session" => {
            let (t, s): (TenantId, SessionId) = tenant
                .parse()
                .ok()
                .zip(event.target.id.parse().ok())
                .ok_or("the event names no session")?;
            let row = store::sessions::by_id(&state.store, t, s)
                .await
                .map_err(|e| format!("reading the session: {e}"))?
                .ok_or("the session is no longer kept")?;
            (row.user_id.to_string(), Some(s.to_string()))
        }
        other => return Err(format!("an event about a {other} has no subject")),
    };
    let (Ok(t), Ok(u)) = (tenant.parse::<TenantId>(), user.parse::<UserId>()) else {
        return Err("the event names no user".into());
    };
    // A purged user is no longer kept: only its ids name it then.
    let email = store::user_reads::user(&state.store, t, u)
        .await
        .map_err(|e| format!("reading the user: {e}"))?
        .map(|row| row.email);
    let mut sub_id = json!({
        "format": "complex",
        "user": {"format": "iss_sub", "iss": iss, "sub": user},
        "tenant": {"format": "opaque", "id": tenant},
    });
    if let Some(session) = session {
        sub_id["session"] = json!({"format": "opaque", "id": session});
    }
    Ok(Subject {
        sub_id,
        keys: keys_of(iss, tenant, &user, email.as_deref()),
    })
}

/// The event body of `signal` for `event` (CAEP 1.0 §3, RISC 1.0 §2).
fn body_of(signal: Signal, event: &AuditEvent) -> Value {
    let at = event.occurred_at.as_micros() / 1_000_000;
    let initiator = match event.actor.kind.as_str() {
        "user" if event.action == Action::Logout.as_str() => "user",
        "user" | "api_token" | "operator" | "setup_link" => "admin",
        _ => "system",
    };
    match signal {
        Signal::SessionRevoked => json!({"event_timestamp": at, "initiating_entity": initiator}),
        Signal::CredentialChange => {
            let (credential_type, change_type) = match event.action.as_str() {
                a if a == Action::MfaEnrolled.as_str() => ("app", "create"),
                a if a == Action::MfaReset.as_str() => ("app", "delete"),
                _ => ("password", "update"),
            };
            json!({"event_timestamp": at, "initiating_entity": initiator,
                   "credential_type": credential_type, "change_type": change_type})
        }
        Signal::AccountDisabled | Signal::AccountEnabled | Signal::AccountPurged => {
            json!({"event_timestamp": at})
        }
    }
}

/// The signed SET for `queued` on `stream` (addressed to its app), or `None` when the
/// receiver removed its subject. `jti` is the queue row's id, stable across retries.
pub async fn set_for(
    state: &Services,
    stream: &str,
    client_id: &str,
    jti: &str,
    queued: &Queued,
) -> Result<Option<String>, String> {
    let iss = issuer(&state.config.public_url());
    let (sub_id, events) = match queued {
        Queued::Verification { state: s } => {
            let body = match s {
                Some(s) => json!({ "state": s }),
                None => json!({}),
            };
            (
                json!({"format": "opaque", "id": stream}),
                json!({ VERIFICATION: body }),
            )
        }
        Queued::Event { tenant, seq } => {
            let chain = tenant.to_string();
            let event = store::audit::chain_page(&state.store, &chain, seq - 1, 1)
                .await
                .map_err(|e| format!("reading the event: {e}"))?
                .into_iter()
                .find(|e| e.seq == *seq)
                .map(AuditEvent::from)
                .ok_or("the event is no longer kept (retention)")?;
            let signal = event
                .action
                .parse::<Action>()
                .ok()
                .and_then(signal_of)
                .ok_or("the event is not a security signal")?;
            let subject = subject_of(state, &event, &iss).await?;
            if store::ssf::any_removed(&state.store, stream, &subject.keys)
                .await
                .map_err(|e| format!("reading the stream's subjects: {e}"))?
            {
                return Ok(None);
            }
            (
                subject.sub_id,
                json!({ signal.uri(): body_of(signal, &event) }),
            )
        }
    };
    let key = keys::signing_key(state)
        .await
        .map_err(|e| format!("the signing key could not be read: {e:?}"))?;
    let claims = json!({
        "iss": iss,
        "aud": client_id,
        "iat": state.clock.now().as_micros() / 1_000_000,
        "jti": jti,
        "sub_id": sub_id,
        "events": events,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid);
    header.typ = Some("secevent+jwt".into());
    jsonwebtoken::encode(&header, &claims, &key.key)
        .map(Some)
        .map_err(|_| "the SET could not be signed".to_string())
}

/// A fresh random `jti` (a verification event's).
pub fn random_jti() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    B64URL.encode(bytes)
}
