//! Housekeeping beside the server: collapsed sign-in failures written every minute; expired
//! login states, replay-cache entries, codes and sessions purged, and recovered rate-limit
//! keys forgotten, every few minutes.

use super::AppState;
use crate::audit::failures;

/// How often expired login states, replay-cache entries and codes are dropped, and
/// recovered rate-limit keys forgotten.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

pub(super) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(failures::WINDOW);
    let every = (HOUSEKEEPING_EVERY.as_secs() / failures::WINDOW.as_secs()).max(1);
    for round in 0u64.. {
        tick.tick().await;
        if let Err(e) = failures::flush(&state.store, &state.failures, state.clock.now()).await {
            tracing::warn!(error = ?e, "writing collapsed sign-in failures failed; will retry");
        }
        if round % every != 0 {
            continue;
        }
        state.throttle.forget_recovered(&state.clock);
        let purged = async {
            let mut tx = state.store.begin().await?;
            let n = crate::store::sso::purge_expired(&mut tx, state.clock.now()).await?;
            tx.commit().await?;
            Ok::<u64, crate::store::StoreError>(n)
        }
        .await;
        match purged {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "expired sign-in state dropped"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "housekeeping failed; will retry"),
        }
    }
}
