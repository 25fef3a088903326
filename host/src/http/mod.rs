//! The HTTP edge: one router per area ([`operator`], [`admin`], [`audit`], [`audit_exports`], [`audit_streams`], [`plugins`], [`connections`],
//! [`sso`] (the login page, start links and the IdP-facing SAML and OIDC endpoints),
//! [`discovery`] (a tenant's sign-in options for apps), [`account`] (password
//! sign-in, the account page, sign-out), [`mfa`] (the code page, enrolment), [`oauth`] (Gatehouse as OIDC provider), [`openapi`] (the described operator, admin and
//! decision APIs), [`scim`]
//! (SCIM 2.0 provisioning), [`health`]); the handlers' [`state::AppState`]; the permission
//! proof as an extractor ([`require`]) and the other extractors; the pages and their
//! templates ([`pages`]), CSRF tokens for the forms ([`csrf`]), the sign-in rate limits
//! ([`sign_in_limits`]), the request middleware, and the single error mapping in [`error`].
//! Handlers parse input, take a proof from `rbac`, call a domain module and shape the answer;
//! nothing more.

pub mod access;
pub mod account;
pub mod admin;
pub mod audit;
pub mod audit_exports;
pub mod audit_streams;
pub mod connections;
pub mod console;
pub mod csrf;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod groups;
pub mod health;
pub mod metrics;
pub mod mfa;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod operator;
pub mod pages;
pub mod password_links;
pub mod plugins;
pub mod replays;
pub mod require;
pub mod scim;
pub mod setup_links;
pub mod sign_in_limits;
pub mod slots;
pub mod ssf;
pub mod sso;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use error::ApiError;
use state::AppState;

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.server.max_body_bytes;
    let max_component = state.config.plugins.max_component_bytes;
    Router::new()
        .merge(health::router())
        .merge(sso::router())
        .merge(discovery::router())
        .merge(account::router())
        .merge(console::router())
        .merge(mfa::router())
        .merge(password_links::router())
        .merge(setup_links::router())
        .merge(oauth::router())
        .merge(ssf::router())
        .merge(audit::public_router())
        .merge(audit_exports::public_router())
        .merge(scim::router())
        .merge(openapi::router(max_component))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                ApiError::Panic.into_response()
            },
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::per_request,
        ))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then gives in-flight
/// requests `server.shutdown_grace_secs` to finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let grace = Duration::from_secs(state.config.server.shutdown_grace_secs);
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing in-flight requests");
        let _ = tx.send(true);
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let deadline = async move {
        let _ = rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result?,
        () = deadline => tracing::warn!("shutdown grace period over; dropping remaining requests"),
    }
    Ok(())
}
