//! Stream management for a receiver (SSF 1.0 §8): a registered app, authenticated with its
//! client credentials, creates, reads, updates, replaces and deletes its streams, reads and
//! sets their status, adds and removes subjects, and asks for a verification event. An
//! app sees only its own streams; another's looks missing. Errors are in OAuth form.
//!
//! Decisions where the spec leaves room: every subject is in a stream until the receiver
//! removes it (`default_subjects: ALL`); a removed subject is named by its user (`iss_sub`
//! with Gatehouse's issuer, `opaque` user id, or `email`) or its tenant (`complex` with
//! `tenant`).
//! A paused stream holds its events (push rows wait, poll rows stay); a disabled one drops
//! new events. An app has at most [`MAX_STREAMS`] streams.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::events::{Queued, Signal};
use super::{POLL, PUSH};
use crate::provider::clients::Client;
use crate::provider::{issuer, OAuthError};
use crate::services::Services;
use crate::store::{self, ssf::StreamRow};

/// Streams per app: enough for a push and a poll stream per environment.
pub const MAX_STREAMS: usize = 5;
/// Longest description, and longest `state` of a verification request.
const MAX_TEXT: usize = 500;
/// Longest `Authorization` value a push receiver may ask for.
const MAX_AUTHORIZATION: usize = 2048;
/// The least time between two verification requests the receiver is told to keep.
pub const MIN_VERIFICATION_SECS: i64 = 10;

fn bad(d: impl Into<String>) -> OAuthError {
    OAuthError::new(400, "invalid_request", d)
}

fn not_found() -> OAuthError {
    OAuthError::new(404, "not_found", "no such stream for this receiver")
}

/// How the receiver wants its events.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryIn {
    pub method: String,
    pub endpoint_url: Option<String>,
    /// Sent as `Authorization` with each push; never shown again.
    pub authorization_header: Option<String>,
}

/// A create or replace request (PUT also names `stream_id`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamIn {
    pub stream_id: Option<String>,
    pub delivery: Option<DeliveryIn>,
    pub events_requested: Option<Vec<String>>,
    pub description: Option<String>,
    /// Read-only fields a receiver may echo back from a read; ignored when they match.
    pub iss: Option<String>,
    pub aud: Option<Value>,
    pub events_supported: Option<Vec<String>>,
    pub events_delivered: Option<Vec<String>>,
    pub min_verification_interval: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct DeliveryOut {
    pub method: &'static str,
    pub endpoint_url: Option<String>,
}

/// A stream's configuration as SSF shows it.
#[derive(Debug, Serialize)]
pub struct StreamConfig {
    pub stream_id: String,
    pub iss: String,
    pub aud: String,
    pub events_supported: Vec<&'static str>,
    pub events_requested: Vec<String>,
    pub events_delivered: Vec<String>,
    pub delivery: DeliveryOut,
    pub min_verification_interval: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A stream's status.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamStatus {
    pub stream_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn config_of(state: &Services, row: &StreamRow) -> StreamConfig {
    let public_url = state.config.public_url();
    let endpoint_url = match row.delivery.as_str() {
        "poll" => Some(super::poll_url(&public_url, &row.id)),
        _ => row.endpoint_url.clone(),
    };
    StreamConfig {
        stream_id: row.id.clone(),
        iss: issuer(&public_url),
        aud: row.client_id.clone(),
        events_supported: Signal::ALL.iter().map(|s| s.uri()).collect(),
        events_requested: json_list(&row.events_requested),
        events_delivered: json_list(&row.events_delivered),
        delivery: DeliveryOut {
            method: if row.delivery == "poll" { POLL } else { PUSH },
            endpoint_url,
        },
        min_verification_interval: MIN_VERIFICATION_SECS,
        description: row.description.clone(),
    }
}

/// Checks `input` and writes it into `row` (a new one or a replaced one).
fn apply(state: &Services, row: &mut StreamRow, input: StreamIn) -> Result<(), OAuthError> {
    if let Some(d) = &input.description {
        if d.chars().count() > MAX_TEXT || d.chars().any(char::is_control) {
            return Err(bad(format!(
                "description must be at most {MAX_TEXT} printable characters"
            )));
        }
    }
    row.description = input.description;
    let delivery = input.delivery.unwrap_or(DeliveryIn {
        method: POLL.into(),
        endpoint_url: None,
        authorization_header: None,
    });
    match delivery.method.as_str() {
        PUSH => {
            let url = delivery
                .endpoint_url
                .ok_or_else(|| bad("a push stream needs delivery.endpoint_url"))?;
            crate::sso::check_url("endpoint_url", &url).map_err(|e| bad(e.to_string()))?;
            row.delivery = "push".into();
            row.endpoint_url = Some(url);
        }
        POLL => {
            if delivery.endpoint_url.is_some() {
                return Err(bad(
                    "the transmitter chooses a poll stream's endpoint_url; leave it out",
                ));
            }
            row.delivery = "poll".into();
            row.endpoint_url = None;
        }
        other => {
            return Err(bad(format!(
                "delivery.method `{}` is not supported; use {PUSH} or {POLL}",
                crate::types::truncate(other, 80)
            )))
        }
    }
    row.authorization_sealed = match delivery.authorization_header {
        Some(h) if row.delivery == "push" => {
            if h.len() > MAX_AUTHORIZATION || h.chars().any(char::is_control) {
                return Err(bad("authorization_header is too long or not printable"));
            }
            Some(
                state
                    .secrets
                    .seal_instance(&super::authorization_purpose(&row.id), h.as_bytes())
                    .map_err(OAuthError::from)?,
            )
        }
        Some(_) => return Err(bad("authorization_header is for push streams")),
        None => None,
    };
    let requested = input.events_requested.unwrap_or_default();
    if requested.len() > 50 || requested.iter().any(|e| e.len() > 256) {
        return Err(bad("events_requested is too long"));
    }
    let delivered: Vec<&str> = Signal::ALL
        .iter()
        .map(|s| s.uri())
        .filter(|u| requested.iter().any(|r| r == u))
        .collect();
    row.events_requested = serde_json::to_string(&requested).unwrap_or_else(|_| "[]".into());
    row.events_delivered = serde_json::to_string(&delivered).unwrap_or_else(|_| "[]".into());
    Ok(())
}

pub async fn create(
    state: &Services,
    app: &Client,
    input: StreamIn,
) -> Result<StreamConfig, OAuthError> {
    if input.stream_id.is_some() {
        return Err(bad("the transmitter assigns stream_id"));
    }
    if store::ssf::list(&state.store, &app.id).await?.len() >= MAX_STREAMS {
        return Err(OAuthError::new(
            409,
            "conflict",
            format!("a receiver has at most {MAX_STREAMS} streams"),
        ));
    }
    let now = state.clock.now();
    let mut row = StreamRow {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: app.id.clone(),
        delivery: String::new(),
        endpoint_url: None,
        authorization_sealed: None,
        events_requested: "[]".into(),
        events_delivered: "[]".into(),
        description: None,
        status: "enabled".into(),
        reason: None,
        created_at: now,
        updated_at: now,
    };
    apply(state, &mut row, input)?;
    let mut tx = state.store.begin().await?;
    store::ssf::insert(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(config_of(state, &row))
}

/// The app's stream `id`.
pub async fn get(state: &Services, app: &Client, id: &str) -> Result<StreamRow, OAuthError> {
    store::ssf::get(&state.store, &app.id, id)
        .await?
        .ok_or_else(not_found)
}

pub async fn read(state: &Services, app: &Client, id: Option<&str>) -> Result<Value, OAuthError> {
    let out = match id {
        Some(id) => serde_json::to_value(config_of(state, &get(state, app, id).await?)),
        None => {
            let rows = store::ssf::list(&state.store, &app.id).await?;
            serde_json::to_value(rows.iter().map(|r| config_of(state, r)).collect::<Vec<_>>())
        }
    };
    out.map_err(|e| crate::Error::Internal(e.into()).into())
}

/// PATCH (`replace` false: only the fields given change) or PUT (every field).
pub async fn update(
    state: &Services,
    app: &Client,
    input: StreamIn,
    replace: bool,
) -> Result<StreamConfig, OAuthError> {
    let id = input
        .stream_id
        .clone()
        .ok_or_else(|| bad("stream_id is required"))?;
    let mut row = get(state, app, &id).await?;
    let merged = if replace {
        input
    } else {
        let current = config_of(state, &row);
        StreamIn {
            delivery: input.delivery.or(Some(DeliveryIn {
                method: current.delivery.method.into(),
                endpoint_url: current
                    .delivery
                    .endpoint_url
                    .filter(|_| row.delivery == "push"),
                authorization_header: None,
            })),
            events_requested: input.events_requested.or(Some(current.events_requested)),
            description: input.description.or(current.description),
            ..input
        }
    };
    // A PATCH that gives no new Authorization value keeps the old one, but only for the
    // same receiver URL: a credential is never sent to a URL it was not given for.
    let keep_authorization = !replace && row.authorization_sealed.is_some();
    let (sealed, url) = (row.authorization_sealed.clone(), row.endpoint_url.clone());
    apply(state, &mut row, merged)?;
    if keep_authorization
        && row.authorization_sealed.is_none()
        && row.delivery == "push"
        && row.endpoint_url == url
    {
        row.authorization_sealed = sealed;
    }
    row.updated_at = state.clock.now();
    let mut tx = state.store.begin().await?;
    store::ssf::update(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(config_of(state, &row))
}

pub async fn delete(state: &Services, app: &Client, id: &str) -> Result<(), OAuthError> {
    let mut tx = state.store.begin().await?;
    if !store::ssf::delete(&mut tx, &app.id, id).await? {
        return Err(not_found());
    }
    tx.commit().await?;
    Ok(())
}

pub async fn status(state: &Services, app: &Client, id: &str) -> Result<StreamStatus, OAuthError> {
    let row = get(state, app, id).await?;
    Ok(StreamStatus {
        stream_id: row.id,
        status: row.status,
        reason: row.reason,
    })
}

pub async fn set_status(
    state: &Services,
    app: &Client,
    wanted: StreamStatus,
) -> Result<StreamStatus, OAuthError> {
    if !["enabled", "paused", "disabled"].contains(&wanted.status.as_str()) {
        return Err(bad("status must be enabled, paused or disabled"));
    }
    if wanted.reason.as_ref().is_some_and(|r| r.len() > MAX_TEXT) {
        return Err(bad(format!("reason must be at most {MAX_TEXT} bytes")));
    }
    let mut row = get(state, app, &wanted.stream_id).await?;
    row.status = wanted.status;
    row.reason = wanted.reason;
    row.updated_at = state.clock.now();
    let mut tx = state.store.begin().await?;
    store::ssf::update(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(StreamStatus {
        stream_id: row.id,
        status: row.status,
        reason: row.reason,
    })
}

/// A subject request (`subjects:add`, `subjects:remove`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectIn {
    pub stream_id: String,
    pub subject: Value,
    /// Whether the receiver verified the subject (accepted, not used).
    pub verified: Option<bool>,
}

/// The removal key of a user's email: compared without case, as IdPs compare them.
pub fn email_key(email: &str) -> String {
    format!("email:{}", email.to_lowercase())
}

/// The key a subject is removed by (see [`super::events`]).
pub fn subject_key(iss: &str, subject: &Value) -> Result<String, OAuthError> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let user_of = |v: &Value| -> Option<String> {
        match text(v, "format").as_deref() {
            Some("iss_sub") if text(v, "iss").as_deref() == Some(iss) => {
                text(v, "sub").map(|u| format!("user:{u}"))
            }
            Some("opaque") => text(v, "id").map(|u| format!("user:{u}")),
            Some("email") => text(v, "email")
                .filter(|e| e.parse::<crate::types::Email>().is_ok())
                .map(|e| email_key(&e)),
            _ => None,
        }
    };
    let unsupported = || {
        bad(
            "name the subject as iss_sub (this issuer and a user's sub), opaque (a user id), \
             email, or complex with `user` or `tenant`",
        )
    };
    match text(subject, "format").as_deref() {
        Some("iss_sub" | "opaque" | "email") => user_of(subject).ok_or_else(unsupported),
        Some("complex") => {
            if let Some(user) = subject.get("user") {
                return user_of(user).ok_or_else(unsupported);
            }
            subject
                .get("tenant")
                .and_then(|t| text(t, "id"))
                .map(|t| format!("tenant:{t}"))
                .ok_or_else(unsupported)
        }
        _ => Err(unsupported()),
    }
}

/// Removes a subject from the stream (`removed` true) or adds it back.
pub async fn subject(
    state: &Services,
    app: &Client,
    input: SubjectIn,
    removed: bool,
) -> Result<(), OAuthError> {
    let row = get(state, app, &input.stream_id).await?;
    let key = subject_key(&issuer(&state.config.public_url()), &input.subject)?;
    if key.len() > 300 {
        return Err(bad("the subject is too long"));
    }
    let mut tx = state.store.begin().await?;
    store::ssf::set_removed(&mut tx, &row.id, &key, removed, state.clock.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// A verification request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyIn {
    pub stream_id: String,
    pub state: Option<String>,
}

/// Sends (push) or holds (poll) a verification event for the stream.
pub async fn verify(state: &Services, app: &Client, input: VerifyIn) -> Result<(), OAuthError> {
    if input.state.as_ref().is_some_and(|s| s.len() > MAX_TEXT) {
        return Err(bad(format!("state must be at most {MAX_TEXT} bytes")));
    }
    let row = get(state, app, &input.stream_id).await?;
    if row.status != "enabled" {
        return Err(OAuthError::new(
            409,
            "conflict",
            format!("the stream is {}; enable it first", row.status),
        ));
    }
    let queued = Queued::Verification { state: input.state };
    super::delivery::verification(state, &row, queued).await
}
