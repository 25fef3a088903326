//! The delivery worker: every [`POLL`] it takes the due rows, claims each (a lease, so two
//! nodes do not send one row at once), sends it by its destination's kind (email by SMTP;
//! a back-channel logout notice or an app's lifecycle webhook by HTTPS) and records the
//! outcome. A failure retries after a delay that doubles from [`FIRST_RETRY_SECS`] to
//! [`MAX_RETRY_SECS`]; after [`MAX_ATTEMPTS`] the row is given up and shows as failed in the
//! destination's health. A row whose send succeeded but whose success could not be recorded
//! is sent again (at least once; an email's `Message-ID` is the row id, for the receiver to
//! drop the repeat; a logout notice names its session, which an app logs out once; a
//! webhook's `id` is the row id; a SET's `jti` is the row id). A destination may hold a row
//! (a paused Shared Signals stream): it waits without counting as an attempt.

use std::time::Duration;

use super::{open_email, smtp::Sender, EMAIL};
use crate::provider::backchannel;
use crate::services::Services;
use crate::sso::outbound::Outbound;
use crate::store::{
    self,
    outbox::{OutboxRow, LOGOUT_PREFIX, WEBHOOK_PREFIX},
    ssf::SSF_PREFIX,
};

/// How often the outbox is looked at: an invitation or a logout notice leaves within about
/// this long.
pub const POLL: Duration = Duration::from_millis(500);
/// Rows taken per look.
const BATCH: i64 = 20;
/// How long a claimed row is left to its sender before another may take it.
const LEASE_SECS: i64 = 120;
const FIRST_RETRY_SECS: i64 = 10;
const MAX_RETRY_SECS: i64 = 3600;
/// About a day of attempts at the longest delay.
const MAX_ATTEMPTS: i64 = 30;
/// How long a held row waits before it is looked at again.
const HOLD_SECS: i64 = 30;

/// Runs until the task is aborted.
pub async fn run(state: Services) {
    let mail = Sender::from_config(&state.config.smtp);
    let http = Outbound::new(state.config.sso.allow_private_networks);
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        if let Err(e) = round(&state, mail.as_ref(), &http).await {
            tracing::warn!(error = ?e, "the outbox could not be read; will retry");
        }
    }
}

async fn round(
    state: &Services,
    mail: Option<&Sender>,
    http: &Outbound,
) -> Result<(), crate::Error> {
    let now = state.clock.now();
    for row in store::outbox::due(&state.store, now, BATCH).await? {
        if !store::outbox::claim(&state.store, &row, now.plus_seconds(LEASE_SECS)).await? {
            continue;
        }
        let sent = send(state, mail, http, &row).await;
        let now = state.clock.now();
        match sent {
            Ok(Sent::Delivered) => store::outbox::delivered(&state.store, &row, now).await?,
            Ok(Sent::Held) => {
                store::outbox::hold(&state.store, &row, now.plus_seconds(HOLD_SECS)).await?
            }
            Err(error) => {
                let attempts = row.attempts + 1;
                tracing::warn!(id = %row.id, destination = %row.destination, attempts, %error,
                    "an outbox message could not be delivered");
                let retry = (attempts < MAX_ATTEMPTS).then(|| now.plus_seconds(backoff(attempts)));
                store::outbox::failed(&state.store, &row, &error, retry, now).await?;
            }
        }
    }
    Ok(())
}

/// What a send came to, when it did not fail.
pub enum Sent {
    Delivered,
    /// The destination holds the row for now (a paused stream): not an attempt, looked at
    /// again after [`HOLD_SECS`].
    Held,
}

/// Sends one row by its destination's kind.
async fn send(
    state: &Services,
    mail: Option<&Sender>,
    http: &Outbound,
    row: &OutboxRow,
) -> Result<Sent, String> {
    if row.destination == EMAIL {
        let mail = mail.ok_or("SMTP is not configured (smtp.url)")?;
        let email = open_email(state, row)
            .await
            .map_err(|e| format!("the payload could not be opened: {e}"))?;
        mail.send(row, &email).await.map(|()| Sent::Delivered)
    } else if row.destination.starts_with(LOGOUT_PREFIX) {
        backchannel::deliver(state, http, row)
            .await
            .map(|()| Sent::Delivered)
    } else if row.destination.starts_with(WEBHOOK_PREFIX) {
        super::lifecycle::deliver(state, http, row)
            .await
            .map(|()| Sent::Delivered)
    } else if row.destination.starts_with(SSF_PREFIX) {
        crate::provider::ssf::delivery::deliver(state, http, row).await
    } else {
        Err(format!("no sender for destination {}", row.destination))
    }
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
