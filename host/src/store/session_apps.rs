//! SQL for back-channel logout: which apps got tokens in which session, and which sessions
//! an ending names. Every way a session ends (revoking one, a user's or a tenant's;
//! housekeeping dropping an expired one) queues the apps' logout notices in its own
//! transaction ([`super::outbox::enqueue_logout_notices`]), by one statement: nothing is
//! looped over in the transaction, and a notice leaves only if the session's end commits.

use super::{StoreResult, Tx};
use crate::types::{SessionId, TenantId, Timestamp, UserId};

/// Which sessions end.
pub enum Ending {
    One(TenantId, SessionId),
    User(TenantId, UserId),
    Tenant(TenantId),
    /// Every session past either timeout, in every tenant, that no live code still names.
    Expired,
}

/// Notes that `client` got tokens in `session` (once per pair).
pub async fn link(
    tx: &mut Tx,
    tenant: TenantId,
    session: SessionId,
    client: &str,
    user: UserId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_session_apps (tenant_id, session_id, client_id, user_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.to_string())
    .bind(session.to_string())
    .bind(client)
    .bind(user.to_string())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The sessions (alias `s`) that `ending` names and that have not ended before, with the
/// values bound after `$1` and `$2`.
pub(super) fn sessions_of(ending: &Ending) -> (String, Vec<String>) {
    match ending {
        Ending::One(tenant, id) => (
            "s.tenant_id = $3 AND s.id = $4".into(),
            vec![tenant.to_string(), id.to_string()],
        ),
        Ending::User(tenant, user) => (
            "s.tenant_id = $3 AND s.user_id = $4".into(),
            vec![tenant.to_string(), user.to_string()],
        ),
        Ending::Tenant(tenant) => ("s.tenant_id = $3".into(), vec![tenant.to_string()]),
        Ending::Expired => (expired("$2"), Vec::new()),
    }
}

/// Sessions (alias `s`) past either timeout at `now` (a placeholder) that no unredeemed
/// code names.
fn expired(now: &str) -> String {
    format!(
        "(s.idle_expires_at < {now} OR s.absolute_expires_at < {now}) \
         AND s.id NOT IN (SELECT session_id FROM oauth_codes)"
    )
}

/// Drops the links of the expired sessions housekeeping is about to delete.
pub async fn forget_expired(tx: &mut Tx, now: Timestamp) -> StoreResult<u64> {
    let sql = format!(
        "DELETE FROM oauth_session_apps WHERE session_id IN \
         (SELECT s.id FROM sessions s WHERE {})",
        expired("$1")
    );
    let done = sqlx::query(&sql)
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}
