//! Probes and metrics: `/healthz` (the process answers), `/readyz` (the database answers)
//! and `/metrics` (Prometheus text, with each tenant's usage by tenant id). None of them
//! needs a token; keep them off the public internet at the proxy if that matters to you.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.store.ping().await {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": "ok" })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "database": "unreachable" })),
        )
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if state.metrics.usage_due() {
        match crate::tenancy::usage::snapshot(&state).await {
            Ok(usage) => state.metrics.set_usage(&usage),
            // The rest of the metrics still answer; the usage is read again after a while.
            Err(e) => tracing::warn!(error = ?e, "the usage for /metrics could not be read"),
        }
    }
    state.metrics.set_plugins(&state.plugins.resident_stats());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
