//! What leaves Gatehouse, by one road (ARCHITECTURE, "Things that leave Gatehouse"): a
//! change writes its message to the outbox in its own transaction ([`enqueue_email`]); the
//! delivery worker ([`worker`]) sends it at least once, with backoff, and records each
//! destination's health. Email by SMTP ([`smtp`]) queues rows here; a payload is sealed with
//! the tenant's key while it waits, since an email may carry a one-time link. Audit streams
//! ([`streams`]: [`webhook`], [`syslog`], [`s3`]) need no rows: the audit events are their
//! outbox, read from a cursor per stream. Back-channel logout notices to the apps
//! ([`crate::provider::backchannel`]) are rows here too, queued by whatever ends a session,
//! and so are the apps' directory lifecycle webhooks ([`lifecycle`]), queued by the
//! change's audit event.

pub mod lifecycle;
pub mod s3;
pub mod smtp;
pub mod streams;
pub mod syslog;
pub mod webhook;
pub mod worker;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance};
use crate::services::Services;
use crate::store::{self, outbox::OutboxRow, Tx};
use crate::types::{SessionId, TenantId};

/// The destination name of email.
pub const EMAIL: &str = "smtp";

/// An email as it waits in the outbox.
#[derive(Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The sealing purpose of an outbox row's payload.
fn purpose(id: &str) -> String {
    format!("outbox:{id}")
}

/// Each destination's health (last success, last error, backlog, given up), for the operator.
pub async fn health(
    state: &Services,
    _auth: &Authorized<OperateInstance>,
) -> Result<Vec<store::outbox::Health>, Error> {
    Ok(store::outbox::health(&state.store).await?)
}

/// Whether email can be sent at all (the operator configured SMTP).
pub fn email_enabled(state: &Services) -> bool {
    state.config.smtp.url.is_some()
}

/// An email sealed for the outbox, ready to be queued in a transaction.
pub struct Sealed(OutboxRow);

/// Seals `email` with the tenant's key. Done before the transaction that queues it: the key
/// may have to be read or made first, which the transaction must not wait on.
pub async fn seal_email(
    state: &Services,
    tenant: TenantId,
    email: &Email,
) -> Result<Sealed, Error> {
    let id = SessionId::generate().to_string();
    let json = serde_json::to_vec(email).map_err(|e| Error::Internal(e.into()))?;
    let sealed = state
        .secrets
        .seal(&state.store, tenant, &purpose(&id), &json)
        .await?;
    Ok(Sealed(OutboxRow {
        id,
        tenant_id: tenant,
        destination: EMAIL.into(),
        payload_sealed: sealed,
        payload: None,
        attempts: 0,
        next_attempt_at: state.clock.now(),
    }))
}

/// Queues a sealed email in `tx`; it is sent once `tx` commits.
pub async fn enqueue(tx: &mut Tx, sealed: Sealed) -> Result<(), Error> {
    let now = sealed.0.next_attempt_at;
    store::outbox::enqueue(tx, &sealed.0, now).await?;
    Ok(())
}

/// Opens a row's sealed email.
async fn open_email(state: &Services, row: &OutboxRow) -> Result<Email, Error> {
    let json = state
        .secrets
        .open(
            &state.store,
            row.tenant_id,
            &purpose(&row.id),
            &row.payload_sealed,
        )
        .await?;
    serde_json::from_slice(&json).map_err(|e| Error::Internal(e.into()))
}
