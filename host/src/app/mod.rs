//! The application: start-up and serving. Only the binary's commands (and tests) import
//! this module; domain modules take `Services`, the HTTP edge its [`AppState`].
//!
//! [`start`] opens the database and prepares the state; [`serve`] runs the HTTP server on a
//! listener it is given until a shutdown future resolves, so tests bind port 0 and stop
//! servers at will, with housekeeping beside it.

mod housekeeping;
mod start;

use std::future::Future;

use tokio::net::TcpListener;

pub use crate::http::state::AppState;
pub use start::{start, Started};

/// Serves HTTP on `listener` until `shutdown` resolves, with housekeeping, the outbox's
/// delivery worker and the audit streams' beside it.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let housekeeping = tokio::spawn(housekeeping::run(state.clone()));
    let delivery = tokio::spawn(crate::outbox::worker::run(state.services.clone()));
    let streams = tokio::spawn(crate::outbox::streams::run(state.services.clone()));
    let result = crate::http::serve(state, listener, shutdown).await;
    housekeeping.abort();
    delivery.abort();
    streams.abort();
    result
}
