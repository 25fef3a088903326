//! Delivery of audit streams. The events are their own outbox: each stream has a cursor in
//! its tenant's chain. Every [`POLL`] the worker takes the due streams, claims each with a
//! lease (so two nodes never send one batch at once), reads up to [`BATCH`] events after the
//! cursor, sends them with the stream's sender, and moves the cursor only after the
//! destination accepted them. A failure retries after a delay doubling from 1 s to
//! [`MAX_RETRY_SECS`], for as long as the destination is down: the events wait in the audit
//! table, kept at least `audit.min_retention_days`. Delivery is therefore at least once;
//! each event carries its id (and the S3 object name its sequence range) for dedupe.

use std::time::Duration;

use super::{s3, syslog, webhook};
use crate::audit::checkpoint::{self, Checkpoint};
use crate::audit::stream::{destination_of, secret_purpose, Destination};
use crate::audit::AuditEvent;
use crate::services::Services;
use crate::sso::outbound::Outbound;
use crate::store::{self, audit_streams::StreamRow};

/// How often due streams are looked for: an event leaves within about this long.
pub const POLL: Duration = Duration::from_millis(500);
/// Events per delivery (one webhook request, one syslog connection, one object).
pub const BATCH: u32 = 500;
/// Streams taken per look.
const STREAMS_PER_ROUND: i64 = 20;
/// How long a claimed stream is left to its sender (longer than any send's time limit).
const LEASE_SECS: i64 = 120;
const MAX_RETRY_SECS: i64 = 300;
/// How soon a stream with nothing to send is looked at again.
const IDLE_SECS: i64 = 1;

/// A batch to deliver: the events and the checkpoints that cover them.
pub struct Batch {
    pub stream: StreamRow,
    pub events: Vec<AuditEvent>,
    pub checkpoints: Vec<Checkpoint>,
}

/// Runs until the task is aborted.
pub async fn run(state: Services) {
    let http = Outbound::new(state.config.sso.allow_private_networks);
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        if let Err(e) = round(&state, &http).await {
            tracing::warn!(error = ?e, "audit streams could not be read; will retry");
        }
    }
}

async fn round(state: &Services, http: &Outbound) -> Result<(), crate::Error> {
    let now = state.clock.now();
    for stream in store::audit_streams::due(&state.store, now, STREAMS_PER_ROUND).await? {
        if !store::audit_streams::claim(&state.store, &stream, now.plus_seconds(LEASE_SECS)).await?
        {
            continue;
        }
        let id = stream.id;
        let outcome = deliver(state, http, stream).await;
        let now = state.clock.now();
        match outcome {
            Ok(Some(last)) => store::audit_streams::delivered(&state.store, id, last, now).await?,
            Ok(None) => {
                store::audit_streams::idle(&state.store, id, now.plus_seconds(IDLE_SECS)).await?
            }
            Err((failures, error)) => {
                tracing::warn!(stream = %id, failures, %error, "an audit stream could not deliver");
                let retry = now.plus_seconds(backoff(failures + 1));
                store::audit_streams::failed(&state.store, id, &error, retry, now).await?;
            }
        }
    }
    Ok(())
}

/// Sends the next batch; `Ok(Some(seq))` when delivered up to `seq`, `Ok(None)` when there
/// was nothing to send, `Err((failures so far, why))` when it failed.
async fn deliver(
    state: &Services,
    http: &Outbound,
    stream: StreamRow,
) -> Result<Option<i64>, (i64, String)> {
    let failures = stream.failures;
    let fail = |e: String| (failures, e);
    let chain = stream.tenant_id.to_string();
    let rows = store::audit::chain_page(&state.store, &chain, stream.cursor_seq, BATCH)
        .await
        .map_err(|e| fail(format!("reading the events: {e}")))?;
    let Some(last) = rows.last().map(|r| r.seq) else {
        return Ok(None);
    };
    let first = rows[0].seq;
    let checkpoints = checkpoint::of_chain(&state.store, &chain)
        .await
        .map_err(|e| fail(format!("reading the checkpoints: {e:?}")))?
        .into_iter()
        .filter(|c| c.last_seq >= first && c.last_seq <= last)
        .collect();
    let secret = match &stream.secret_sealed {
        None => None,
        Some(sealed) => Some(
            state
                .secrets
                .open(
                    &state.store,
                    stream.tenant_id,
                    &secret_purpose(stream.id),
                    sealed,
                )
                .await
                .map_err(|_| fail("the stream's secret could not be opened".into()))?,
        ),
    };
    let destination =
        destination_of(&stream).map_err(|_| fail("the stream's settings are unreadable".into()))?;
    let batch = Batch {
        stream,
        events: rows.into_iter().map(AuditEvent::from).collect(),
        checkpoints,
    };
    let secret = secret.as_ref().map(|s| s.as_slice());
    let sent = match &destination {
        Destination::Webhook { url } => {
            webhook::send(http, url, secret, &batch, state.clock.now()).await
        }
        Destination::Syslog {
            host,
            port,
            tls,
            ca_pem,
            format,
        } => {
            let target = syslog::Target {
                host,
                port: *port,
                tls: *tls,
                ca_pem: ca_pem.as_deref(),
                format: *format,
                allow_private: state.config.sso.allow_private_networks,
            };
            syslog::send(&target, &batch).await
        }
        Destination::S3 {
            endpoint,
            bucket,
            region,
            prefix,
            access_key_id,
        } => {
            let target = s3::Target {
                endpoint,
                bucket,
                region,
                prefix,
                access_key_id,
            };
            s3::send(http, &target, secret, &batch).await
        }
    };
    sent.map(|()| Some(last)).map_err(fail)
}

/// Seconds before the next attempt after `failures` failed ones: 1, 2, 4… up to 5 minutes.
fn backoff(failures: i64) -> i64 {
    let doublings = u32::try_from(failures.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    (1i64 << doublings).min(MAX_RETRY_SECS)
}

/// The JSON a webhook or an object carries for `batch`.
pub fn batch_json(batch: &Batch) -> serde_json::Value {
    serde_json::json!({
        "stream": batch.stream.id,
        "tenant_id": batch.stream.tenant_id,
        "events": batch.events,
        "checkpoints": batch.checkpoints,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_five_minutes() {
        assert_eq!(super::backoff(1), 1);
        assert_eq!(super::backoff(4), 8);
        assert_eq!(super::backoff(10), 300);
        assert_eq!(super::backoff(i64::MAX), 300);
    }
}
