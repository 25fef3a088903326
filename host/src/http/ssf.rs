//! The Shared Signals transmitter's routes (`provider::ssf`): its configuration document,
//! stream management, status, subjects, verification and the poll endpoint. A receiver is
//! a registered confidential app authenticating with its client credentials (HTTP Basic);
//! each request is first counted against the caller's address. Errors are in OAuth form.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::extract::Ctx;
use super::oauth::basic_credentials;
use super::state::AppState;
use crate::provider::client_auth::{self, Credentials};
use crate::provider::clients::Client;
use crate::provider::ssf::{self, delivery, streams};
use crate::provider::OAuthError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/ssf-configuration", get(configuration))
        .route(
            "/ssf/streams",
            get(read)
                .post(create)
                .patch(update)
                .put(replace)
                .delete(remove),
        )
        .route("/ssf/status", get(status).post(set_status))
        .route("/ssf/subjects:add", post(add_subject))
        .route("/ssf/subjects:remove", post(remove_subject))
        .route("/ssf/verify", post(verify))
        .route("/ssf/poll/{stream}", post(poll))
}

async fn configuration(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(ssf::configuration(&state.config.public_url()))
}

/// The receiver: a confidential app proving itself with HTTP Basic client credentials,
/// after the caller's address is counted.
struct Receiver(Client);

impl FromRequestParts<AppState> for Receiver {
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OAuthError> {
        let Ok(Ctx(ctx)) = Ctx::from_request_parts(parts, state).await else {
            return Err(OAuthError::invalid_request("the request could not be read"));
        };
        if super::sign_in_limits::per_ip(state, &ctx).is_err() {
            return Err(OAuthError::new(
                429,
                "slow_down",
                "too many requests; try again later",
            ));
        }
        let basic = basic_credentials(&parts.headers).ok_or_else(|| {
            OAuthError::invalid_client(
                "authenticate with the app's client id and secret (HTTP Basic)",
            )
        })?;
        let client = client_auth::authenticate(
            state,
            Credentials {
                basic: Some(basic),
                ..Credentials::default()
            },
        )
        .await?;
        if client.is_public() {
            return Err(OAuthError::invalid_client(
                "a public app cannot receive security events",
            ));
        }
        Ok(Receiver(client))
    }
}

/// A JSON body, or `invalid_request` naming what is wrong.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, OAuthError> {
    serde_json::from_slice(bytes)
        .map_err(|e| OAuthError::invalid_request(format!("the JSON body is not valid here: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    stream_id: Option<String>,
}

fn required(q: &StreamQuery) -> Result<&str, OAuthError> {
    q.stream_id
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("stream_id is required"))
}

async fn read(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    Query(q): Query<StreamQuery>,
) -> Result<Response, OAuthError> {
    Ok(Json(streams::read(&state, &app, q.stream_id.as_deref()).await?).into_response())
}

async fn create(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    bytes: Bytes,
) -> Result<Response, OAuthError> {
    let config = streams::create(&state, &app, body(&bytes)?).await?;
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

async fn update(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    bytes: Bytes,
) -> Result<Response, OAuthError> {
    Ok(Json(streams::update(&state, &app, body(&bytes)?, false).await?).into_response())
}

async fn replace(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    bytes: Bytes,
) -> Result<Response, OAuthError> {
    Ok(Json(streams::update(&state, &app, body(&bytes)?, true).await?).into_response())
}

async fn remove(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    Query(q): Query<StreamQuery>,
) -> Result<Response, OAuthError> {
    streams::delete(&state, &app, required(&q)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn status(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    Query(q): Query<StreamQuery>,
) -> Result<Response, OAuthError> {
    Ok(Json(streams::status(&state, &app, required(&q)?).await?).into_response())
}

async fn set_status(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    bytes: Bytes,
) -> Result<Response, OAuthError> {
    Ok(Json(streams::set_status(&state, &app, body(&bytes)?).await?).into_response())
}

async fn add_subject(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    bytes: Bytes,
) -> Result<Response, OAuthError> {
    streams::subject(&state, &app, body(&bytes)?, false).await?;
    Ok(StatusCode::OK.into_response())
}

async fn remove_subject(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    bytes: Bytes,
) -> Result<Response, OAuthError> {
    streams::subject(&state, &app, body(&bytes)?, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn verify(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    bytes: Bytes,
) -> Result<Response, OAuthError> {
    streams::verify(&state, &app, body(&bytes)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn poll(
    State(state): State<AppState>,
    Receiver(app): Receiver,
    Path(stream): Path<String>,
    bytes: Bytes,
) -> Result<Response, OAuthError> {
    let input = if bytes.is_empty() {
        body(&Bytes::from_static(b"{}"))?
    } else {
        body(&bytes)?
    };
    Ok(Json(delivery::poll(&state, &app, &stream, input).await?).into_response())
}
