//! Housekeeping beside the server: collapsed sign-in failures and due audit checkpoints
//! written and due IdP metadata fetched every minute; SSO certificates checked for expiry
//! every hour; events past their retention purged, day-old idempotency keys
//! and export files forgotten, the query planner's statistics refreshed, expired
//! login states, replay-cache entries, codes and sessions purged, and recovered rate-limit
//! keys forgotten, every few minutes.

use super::AppState;
use crate::audit::{checkpoint, failures, ingest, retention};

/// How often expired login states, replay-cache entries and codes are dropped, and
/// recovered rate-limit keys forgotten.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Rounds (minutes) between certificate-expiry checks; the first round checks at once.
const EXPIRY_EVERY: u64 = 60;

pub(super) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(failures::WINDOW);
    let every = (HOUSEKEEPING_EVERY.as_secs() / failures::WINDOW.as_secs()).max(1);
    for round in 0u64.. {
        tick.tick().await;
        if let Err(e) = failures::flush(&state.store, &state.failures, state.clock.now()).await {
            tracing::warn!(error = ?e, "writing collapsed sign-in failures failed; will retry");
        }
        let interval = i64::try_from(state.config.audit.checkpoint_interval_secs).unwrap_or(3600);
        if let Err(e) =
            checkpoint::write_due(&state.store, &state.secrets, &state.clock, interval).await
        {
            tracing::warn!(error = ?e, "signing audit checkpoints failed; will retry");
        }
        match crate::sso::metadata_refresh::refresh_due(&state).await {
            Ok(n) if n > 0 => tracing::info!(connections = n, "IdP metadata changed and adopted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "the IdP metadata refresh failed; will retry"),
        }
        if round % EXPIRY_EVERY == 0 {
            match crate::sso::health::check_expiry(&state).await {
                Ok(counts) => state.metrics.set_certificate_expiry(&counts),
                Err(e) => tracing::warn!(error = ?e, "the certificate expiry check failed"),
            }
        }
        if round % every != 0 {
            continue;
        }
        state.throttle.forget_recovered(&state.clock);
        match retention::purge_due(&state.store, &state.clock, &state.config.audit).await {
            Ok(n) if n > 0 => tracing::info!(events = n, "audit events past retention purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "the audit retention purge failed; will retry"),
        }
        if let Err(e) = crate::store::audit_exports::clean_up(&state.store, state.clock.now()).await
        {
            tracing::warn!(error = ?e, "dropping expired audit exports failed; will retry");
        }
        match crate::plugins::recording::purge(
            &state.store,
            state.clock.now(),
            &state.config.plugins,
        )
        .await
        {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "old recorded inputs and replays dropped"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "dropping old recorded inputs failed; will retry"),
        }
        let stale_keys = state.clock.now().plus_seconds(-ingest::KEY_TTL_SECS);
        if let Err(e) = crate::store::audit_ingest::forget_before(&state.store, stale_keys).await {
            tracing::warn!(error = ?e, "forgetting old idempotency keys failed; will retry");
        }
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
