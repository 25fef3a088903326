//! Getting SETs to receivers. Push (RFC 8935): the delivery worker calls [`deliver`] for each
//! outbox row of a push stream, which POSTs the SET as `application/secevent+jwt` with the
//! receiver's `Authorization` value, with the worker's retries and backoff. Poll (RFC 8936):
//! the receiver POSTs to its stream's poll URL, acknowledging what it got ([`poll`]); with
//! nothing held, the poll waits for a SET (long polling) unless told to return at once.
//! A verification event (no tenant, so no outbox row) is pushed by a task of its own with a
//! few retries, or held for the next poll.

use std::time::Duration;

use openidconnect::http;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::events::{random_jti, set_for, Queued};
use crate::outbox::worker::Sent;
use crate::provider::clients::Client;
use crate::provider::OAuthError;
use crate::services::Services;
use crate::sso::outbound::Outbound;
use crate::store::{self, outbox::OutboxRow, ssf::StreamRow, ssf::SSF_PREFIX};

/// Most SETs one poll answers.
const MAX_POLL: u32 = 100;
/// Most acknowledgements (and errors) one poll may carry.
const MAX_ACKS: usize = 1000;
/// How long a poll without `returnImmediately: true` waits for a SET when none is held
/// (RFC 8936 §2.4 long polling): a receiver gets events within a second without asking every
/// second, and the wait stays under the 30 s idle timeout of common proxies.
const LONG_POLL: Duration = Duration::from_secs(20);
/// How often a waiting poll looks for SETs again (in the database, so any node's events).
const LONG_POLL_STEP: Duration = Duration::from_millis(500);
/// Waits between the attempts of a pushed verification event.
const VERIFY_RETRIES: [u64; 3] = [0, 2, 10];

/// Sends one queued SET of a push stream. A deleted or disabled stream, a revoked app or a
/// removed subject needs nothing sent (delivered); a paused stream holds it.
pub async fn deliver(state: &Services, http: &Outbound, row: &OutboxRow) -> Result<Sent, String> {
    let queued: Queued = row
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .ok_or("the queued event is unreadable")?;
    let id = row.destination.strip_prefix(SSF_PREFIX).unwrap_or_default();
    let Some(stream) = store::ssf::by_id(&state.store, id)
        .await
        .map_err(|e| format!("reading the stream: {e}"))?
    else {
        return Ok(Sent::Delivered);
    };
    match stream.status.as_str() {
        "disabled" => return Ok(Sent::Delivered),
        "paused" => return Ok(Sent::Held),
        _ => {}
    }
    if !app_is_live(state, &stream.client_id).await? {
        return Ok(Sent::Delivered);
    }
    match set_for(state, &stream.id, &stream.client_id, &row.id, &queued).await? {
        Some(set) => push(state, http, &stream, set)
            .await
            .map(|()| Sent::Delivered),
        None => Ok(Sent::Delivered),
    }
}

async fn app_is_live(state: &Services, client_id: &str) -> Result<bool, String> {
    Ok(store::provider::client(&state.store, client_id)
        .await
        .map_err(|e| format!("reading the app: {e}"))?
        .is_some_and(|c| c.revoked_at.is_none()))
}

/// POSTs one SET to a push stream's receiver (RFC 8935 §2): any 2xx (202 by the RFC) is
/// delivery.
async fn push(
    state: &Services,
    http: &Outbound,
    stream: &StreamRow,
    set: String,
) -> Result<(), String> {
    let url = stream
        .endpoint_url
        .as_deref()
        .ok_or("the push stream has no endpoint_url")?;
    let mut request = http::Request::post(url)
        .header("Content-Type", "application/secevent+jwt")
        .header("Accept", "application/json");
    if let Some(sealed) = &stream.authorization_sealed {
        let value = state
            .secrets
            .open_instance(&super::authorization_purpose(&stream.id), sealed)
            .map_err(|_| "the stream's authorization could not be opened".to_string())?;
        let value = String::from_utf8(value.to_vec()).map_err(|_| "bad authorization")?;
        request = request.header("Authorization", value);
    }
    let request = request
        .body(set.into_bytes())
        .map_err(|_| format!("{url} is not a usable URL"))?;
    crate::outbox::webhook::post(http, request, url).await
}

/// Sends a verification event: pushed now by a task of its own, or held for the next poll.
pub async fn verification(
    state: &Services,
    stream: &StreamRow,
    queued: Queued,
) -> Result<(), OAuthError> {
    let jti = random_jti();
    if stream.delivery == "poll" {
        let payload =
            serde_json::to_string(&queued).map_err(|e| crate::Error::Internal(e.into()))?;
        let mut tx = state.store.begin().await?;
        store::ssf::hold(&mut tx, &stream.id, &jti, &payload, state.clock.now()).await?;
        tx.commit().await?;
        return Ok(());
    }
    let state = state.clone();
    let stream = stream.clone();
    tokio::spawn(async move {
        let http = Outbound::new(state.config.sso.allow_private_networks);
        for wait in VERIFY_RETRIES {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let sent = match set_for(&state, &stream.id, &stream.client_id, &jti, &queued).await {
                Ok(Some(set)) => push(&state, &http, &stream, set).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(stream = %stream.id, %error, "a verification event failed")
                }
            }
        }
    });
    Ok(())
}

/// A poll request (RFC 8936 §2.4).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PollIn {
    pub max_events: Option<u32>,
    pub return_immediately: Option<bool>,
    #[serde(default)]
    pub ack: Vec<String>,
    #[serde(default)]
    pub set_errs: Map<String, Value>,
}

/// A poll answer: SETs by `jti`, and whether more wait.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollOut {
    pub sets: Map<String, Value>,
    pub more_available: bool,
}

/// Acknowledges what the receiver got (and drops what it refused), then hands out the
/// oldest held SETs; with none held, waits up to [`LONG_POLL`] for one unless the receiver
/// asked to `returnImmediately`.
pub async fn poll(
    state: &Services,
    app: &Client,
    stream_id: &str,
    input: PollIn,
) -> Result<PollOut, OAuthError> {
    let stream = super::streams::get(state, app, stream_id).await?;
    if stream.delivery != "poll" {
        return Err(OAuthError::invalid_request("this is a push stream"));
    }
    if input.ack.len() + input.set_errs.len() > MAX_ACKS {
        return Err(OAuthError::invalid_request(format!(
            "at most {MAX_ACKS} acknowledgements and errors per poll"
        )));
    }
    let mut done = input.ack;
    for (jti, err) in input.set_errs {
        tracing::warn!(stream = %stream.id, %jti, error = %err, "a receiver refused a SET");
        done.push(jti);
    }
    let mut tx = state.store.begin().await?;
    store::ssf::ack(&mut tx, &stream.id, &done).await?;
    tx.commit().await?;
    let mut sets = Map::new();
    if stream.status != "enabled" {
        return Ok(PollOut {
            sets,
            more_available: false,
        });
    }
    let limit = input.max_events.unwrap_or(MAX_POLL).min(MAX_POLL);
    let wait = input.return_immediately != Some(true) && limit > 0;
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    // No transaction is open while it waits.
    let (held, more_available) = loop {
        let found = store::ssf::held(&state.store, &stream.id, i64::from(limit)).await?;
        if !found.0.is_empty() || !wait || tokio::time::Instant::now() >= deadline {
            break found;
        }
        tokio::time::sleep(LONG_POLL_STEP).await;
    };
    let mut dropped = Vec::new();
    for (jti, payload) in held {
        let queued: Option<Queued> = serde_json::from_str(&payload).ok();
        let built = match &queued {
            Some(q) => set_for(state, &stream.id, &app.id, &jti, q).await,
            None => Err("unreadable".into()),
        };
        match built {
            Ok(Some(set)) => {
                sets.insert(jti, Value::String(set));
            }
            Ok(None) => dropped.push(jti),
            Err(error) => {
                tracing::warn!(stream = %stream.id, %jti, %error, "a held SET could not be made");
                dropped.push(jti);
            }
        }
    }
    if !dropped.is_empty() {
        let mut tx = state.store.begin().await?;
        store::ssf::ack(&mut tx, &stream.id, &dropped).await?;
        tx.commit().await?;
    }
    Ok(PollOut {
        sets,
        more_available,
    })
}
