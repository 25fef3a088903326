//! SQL for TOTP authenticators and recovery codes. Every guard that must hold under parallel
//! requests is in the statement itself: an attempt is counted by one `UPDATE … RETURNING`,
//! a step is accepted only if it is later than the stored one, a recovery code is spent only
//! if it is unspent.

use sqlx::Row;

use super::{Db, Store, StoreResult, Tx};
use crate::types::{TenantId, Timestamp, UserId};

/// Runs `sql` (whose `$1` and `$2` are the tenant and the user) in `tx`; rows changed.
async fn for_user(tx: &mut Tx, sql: &str, tenant: TenantId, user: UserId) -> StoreResult<u64> {
    let done = sqlx::query(sql)
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}

/// A user's authenticator as stored.
#[derive(Debug, Clone)]
pub struct TotpRow {
    pub secret_sealed: Vec<u8>,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub last_step: Option<i64>,
    pub failures: i64,
    pub retry_at: Option<Timestamp>,
    pub locked_at: Option<Timestamp>,
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_micros)
}

pub async fn totp(store: &Store, tenant: TenantId, user: UserId) -> StoreResult<Option<TotpRow>> {
    let row = sqlx::query(
        "SELECT secret_sealed, created_at, confirmed_at, last_step, failures, retry_at, locked_at \
         FROM mfa_totp WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(TotpRow {
        secret_sealed: row.try_get("secret_sealed")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        confirmed_at: ts(row.try_get("confirmed_at")?),
        last_step: row.try_get("last_step")?,
        failures: row.try_get("failures")?,
        retry_at: ts(row.try_get("retry_at")?),
        locked_at: ts(row.try_get("locked_at")?),
    }))
}

/// Stores a new pending enrolment, replacing a pending one. Returns false (and changes
/// nothing) when the user already has a confirmed authenticator.
pub async fn put_pending(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    secret_sealed: &[u8],
    now: Timestamp,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO mfa_totp (tenant_id, user_id, secret_sealed, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
         created_at = excluded.created_at, last_step = NULL, failures = 0, retry_at = NULL \
         WHERE mfa_totp.confirmed_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(secret_sealed.to_vec())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts one code attempt, unless the authenticator is locked or waiting. Returns the
/// attempts since the last success, this one included; `None` when refused.
pub async fn claim_attempt(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    now: Timestamp,
) -> StoreResult<Option<i64>> {
    let row = sqlx::query(
        "UPDATE mfa_totp SET failures = failures + 1 \
         WHERE tenant_id = $1 AND user_id = $2 AND locked_at IS NULL \
         AND (retry_at IS NULL OR retry_at <= $3) RETURNING failures",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(now.as_micros())
    .fetch_optional(tx.conn())
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("failures")?),
        None => None,
    })
}

/// Accepts a code for `step`: records the step and clears the failures, and confirms a
/// pending enrolment when `confirm`. False when a parallel request took this step (or a
/// later one) first, or when the enrolment is not in the expected state.
pub async fn accept_step(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    step: i64,
    confirm: Option<Timestamp>,
) -> StoreResult<bool> {
    let state = match confirm {
        Some(_) => "confirmed_at IS NULL",
        None => "confirmed_at IS NOT NULL",
    };
    let sql = format!(
        "UPDATE mfa_totp SET last_step = $3, failures = 0, retry_at = NULL, \
         confirmed_at = COALESCE(confirmed_at, $4) \
         WHERE tenant_id = $1 AND user_id = $2 AND {state} AND locked_at IS NULL \
         AND (last_step IS NULL OR last_step < $3)"
    );
    let done = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(step)
        .bind(confirm.map(Timestamp::as_micros))
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Clears the failure count after a recovery code was accepted.
pub async fn clear_failures(tx: &mut Tx, tenant: TenantId, user: UserId) -> StoreResult<()> {
    let sql =
        "UPDATE mfa_totp SET failures = 0, retry_at = NULL WHERE tenant_id = $1 AND user_id = $2";
    for_user(tx, sql, tenant, user).await?;
    Ok(())
}

/// After a failed attempt: no code is checked before `retry_at` (never moved earlier), and
/// the authenticator locks when `lock` is given.
pub async fn set_backoff(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    retry_at: Option<Timestamp>,
    lock: Option<Timestamp>,
) -> StoreResult<()> {
    if let Some(until) = retry_at {
        sqlx::query(
            "UPDATE mfa_totp SET retry_at = $3 WHERE tenant_id = $1 AND user_id = $2 \
             AND (retry_at IS NULL OR retry_at < $3)",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(until.as_micros())
        .execute(tx.conn())
        .await?;
    }
    if let Some(at) = lock {
        sqlx::query(
            "UPDATE mfa_totp SET locked_at = $3 WHERE tenant_id = $1 AND user_id = $2 \
             AND locked_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(at.as_micros())
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Lifts a lock and the failure count. False when there was no lock to lift.
pub async fn unlock(tx: &mut Tx, tenant: TenantId, user: UserId) -> StoreResult<bool> {
    let sql = "UPDATE mfa_totp SET locked_at = NULL, failures = 0, retry_at = NULL \
               WHERE tenant_id = $1 AND user_id = $2 AND locked_at IS NOT NULL";
    Ok(for_user(tx, sql, tenant, user).await? == 1)
}

/// Removes the authenticator and the recovery codes. False when there was none.
pub async fn remove(tx: &mut Tx, tenant: TenantId, user: UserId) -> StoreResult<bool> {
    for_user(tx, DELETE_CODES, tenant, user).await?;
    let sql = "DELETE FROM mfa_totp WHERE tenant_id = $1 AND user_id = $2";
    Ok(for_user(tx, sql, tenant, user).await? == 1)
}

const DELETE_CODES: &str = "DELETE FROM mfa_recovery_codes WHERE tenant_id = $1 AND user_id = $2";

/// Replaces the user's recovery codes with `hashes`.
pub async fn replace_recovery_codes(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    hashes: &[[u8; 32]],
    now: Timestamp,
) -> StoreResult<()> {
    for_user(tx, DELETE_CODES, tenant, user).await?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO mfa_recovery_codes (tenant_id, user_id, code_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(hash.to_vec())
        .bind(now.as_micros())
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Spends a recovery code. False when it is not one of the user's unspent codes.
pub async fn spend_recovery_code(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    hash: &[u8; 32],
    now: Timestamp,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE mfa_recovery_codes SET used_at = $4 \
         WHERE tenant_id = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(hash.to_vec())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Unspent recovery codes (read from the pool, or inside the transaction that spent one).
pub async fn recovery_codes_left(
    db: impl Into<Db<'_>>,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<i64> {
    let rows = db
        .into()
        .fetch_all(
            sqlx::query(
                "SELECT COUNT(*) AS n FROM mfa_recovery_codes \
                 WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
            )
            .bind(tenant.to_string())
            .bind(user.to_string()),
        )
        .await?;
    match rows.first() {
        Some(row) => Ok(row.try_get("n")?),
        None => Ok(0),
    }
}

/// One user's authenticator as the admin list shows it.
#[derive(Debug, Clone)]
pub struct EnrolmentRow {
    pub user_id: UserId,
    pub email: String,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub failures: i64,
    pub locked_at: Option<Timestamp>,
    pub recovery_codes_left: i64,
}

/// The tenant's authenticators (confirmed and pending), by email, `limit` from after `after`.
pub async fn enrolments(
    store: &Store,
    tenant: TenantId,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<EnrolmentRow>> {
    let rows = sqlx::query(
        "SELECT m.user_id, u.email, m.created_at, m.confirmed_at, m.failures, m.locked_at, \
         (SELECT COUNT(*) FROM mfa_recovery_codes r WHERE r.tenant_id = m.tenant_id \
          AND r.user_id = m.user_id AND r.used_at IS NULL) AS left_codes \
         FROM mfa_totp m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id \
         WHERE m.tenant_id = $1 AND u.email > $2 ORDER BY u.email LIMIT $3",
    )
    .bind(tenant.to_string())
    .bind(after.unwrap_or(""))
    .bind(i64::from(limit))
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(EnrolmentRow {
                user_id: super::parse_col(
                    &row.try_get::<String, _>("user_id")?,
                    "mfa_totp.user_id",
                )?,
                email: row.try_get("email")?,
                created_at: Timestamp::from_micros(row.try_get("created_at")?),
                confirmed_at: ts(row.try_get("confirmed_at")?),
                failures: row.try_get("failures")?,
                locked_at: ts(row.try_get("locked_at")?),
                recovery_codes_left: row.try_get("left_codes")?,
            })
        })
        .collect()
}
