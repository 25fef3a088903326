//! The delivery worker: every [`POLL`] it takes the due rows, claims each (a lease, so two
//! nodes do not send one row at once), sends it and records the outcome. A failure retries
//! after a delay that doubles from [`FIRST_RETRY_SECS`] to [`MAX_RETRY_SECS`]; after
//! [`MAX_ATTEMPTS`] the row is given up and shows as failed in the destination's health. A
//! row whose send succeeded but whose success could not be recorded is sent again (at least
//! once; the `Message-ID` is the row id, for the receiver to drop the repeat).

use std::time::Duration;

use super::{open_email, smtp::Sender};
use crate::services::Services;
use crate::store;

/// How often the outbox is looked at: an invitation leaves within about this long.
pub const POLL: Duration = Duration::from_millis(500);
/// Rows taken per look.
const BATCH: i64 = 20;
/// How long a claimed row is left to its sender before another may take it.
const LEASE_SECS: i64 = 120;
const FIRST_RETRY_SECS: i64 = 10;
const MAX_RETRY_SECS: i64 = 3600;
/// About a day of attempts at the longest delay.
const MAX_ATTEMPTS: i64 = 30;

/// Runs until the task is aborted. Without SMTP configured there is nothing to send (no row
/// is queued either).
pub async fn run(state: Services) {
    let Some(sender) = Sender::from_config(&state.config.smtp) else {
        return;
    };
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        if let Err(e) = round(&state, &sender).await {
            tracing::warn!(error = ?e, "the outbox could not be read; will retry");
        }
    }
}

async fn round(state: &Services, sender: &Sender) -> Result<(), crate::Error> {
    let now = state.clock.now();
    for row in store::outbox::due(&state.store, now, BATCH).await? {
        if !store::outbox::claim(&state.store, &row, now.plus_seconds(LEASE_SECS)).await? {
            continue;
        }
        let sent = match open_email(state, &row).await {
            Ok(email) => sender.send(&row, &email).await,
            Err(e) => Err(format!("the payload could not be opened: {e}")),
        };
        let now = state.clock.now();
        match sent {
            Ok(()) => store::outbox::delivered(&state.store, &row, now).await?,
            Err(error) => {
                let attempts = row.attempts + 1;
                tracing::warn!(id = %row.id, attempts, %error, "an email could not be sent");
                let retry = (attempts < MAX_ATTEMPTS).then(|| now.plus_seconds(backoff(attempts)));
                store::outbox::failed(&state.store, &row, &error, retry, now).await?;
            }
        }
    }
    Ok(())
}

/// Seconds before the next attempt after `attempts` failed ones.
fn backoff(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    (FIRST_RETRY_SECS << doublings).min(MAX_RETRY_SECS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(super::backoff(1), 10);
        assert_eq!(super::backoff(2), 20);
        assert_eq!(super::backoff(9), 2560);
        assert_eq!(super::backoff(10), 3600);
        assert_eq!(super::backoff(1000), 3600);
    }
}
