//! A tenant's usage, for the operator's billing: its users by status now, and in a calendar
//! month (UTC) its sign-ins (`login.succeeded`: SSO, password, token exchange) and SCIM
//! writes (each `scim_user.*` and `scim_group.*` event; reads are not counted). The monthly
//! figures are counters bumped in the transaction of the audit event that records each
//! ([`count`]), so they outlive audit retention; months before the counters existed were
//! filled from what the audit log held at the upgrade. The same figures, for every tenant
//! and this month, are in `/metrics` ([`snapshot`]).

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Month, OffsetDateTime};

use crate::audit::action::Action;
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance};
use crate::services::Services;
use crate::store;
use crate::store::Tx;
use crate::types::{TenantId, Timestamp};

/// The SCIM writes a month counts.
const SCIM_WRITES: [Action; 8] = [
    Action::ScimUserCreated,
    Action::ScimUserUpdated,
    Action::ScimUserDeactivated,
    Action::ScimUserReactivated,
    Action::ScimUserDeleted,
    Action::ScimGroupCreated,
    Action::ScimGroupUpdated,
    Action::ScimGroupDeleted,
];

/// The counter names.
const SIGN_INS: &str = "sign_ins";
const SCIM_OPERATIONS: &str = "scim_operations";

/// The counter an audit action adds to, if any.
fn metric_of(action: Action) -> Option<&'static str> {
    if action == Action::LoginSucceeded {
        Some(SIGN_INS)
    } else if SCIM_WRITES.contains(&action) {
        Some(SCIM_OPERATIONS)
    } else {
        None
    }
}

/// `YYYY-MM` of `at`, in UTC.
fn month_of(at: Timestamp) -> Result<String, Error> {
    let t = OffsetDateTime::from_unix_timestamp(at.as_micros().div_euclid(1_000_000))
        .map_err(|e| Error::Internal(e.into()))?;
    Ok(format!("{:04}-{:02}", t.year(), t.month() as u8))
}

/// Counts an audit event of `tenant` recorded at `at`, inside its transaction.
pub(crate) async fn count(
    tx: &mut Tx,
    tenant: TenantId,
    action: Action,
    at: Timestamp,
) -> Result<(), Error> {
    if let Some(metric) = metric_of(action) {
        store::usage::bump(tx, tenant, &month_of(at)?, metric).await?;
    }
    Ok(())
}

/// What the operator reads.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TenantUsage)]
pub struct Usage {
    /// `YYYY-MM`.
    pub month: String,
    /// Users by status now (`active`, `pending`, `deactivated`).
    pub users: BTreeMap<String, i64>,
    pub sign_ins: i64,
    pub scim_operations: i64,
}

/// `YYYY-MM` as a year and month.
fn parse_month(text: &str) -> Result<(i32, Month), Error> {
    let bad = || Error::invalid("month", "must be YYYY-MM, from 1970-01 to 9998-12");
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    if !(1970..=9998).contains(&year) {
        return Err(bad());
    }
    Ok((year, Month::try_from(month).map_err(|_| bad())?))
}

/// `tenant`'s usage in `month` (`YYYY-MM`; this month when absent).
pub async fn report(
    state: &Services,
    _auth: &Authorized<OperateInstance>,
    tenant: TenantId,
    month: Option<&str>,
) -> Result<Usage, Error> {
    let month = match month {
        Some(text) => {
            let (year, month) = parse_month(text)?;
            format!("{year:04}-{:02}", month as u8)
        }
        None => month_of(state.clock.now())?,
    };
    let users = store::usage::users_by_status(&state.store, tenant)
        .await?
        .into_iter()
        .collect();
    let sign_ins = store::usage::counter(&state.store, tenant, &month, SIGN_INS).await?;
    let scim_operations =
        store::usage::counter(&state.store, tenant, &month, SCIM_OPERATIONS).await?;
    Ok(Usage {
        month,
        users,
        sign_ins,
        scim_operations,
    })
}

/// Every live tenant's usage now: users by status, and this month's counters.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `(tenant, status, users)`.
    pub users: Vec<(String, String, i64)>,
    /// `(tenant, sign-ins this month)`.
    pub sign_ins: Vec<(String, i64)>,
    /// `(tenant, SCIM writes this month)`.
    pub scim_operations: Vec<(String, i64)>,
}

/// The usage of every live tenant, for `/metrics` (two grouped reads).
pub async fn snapshot(state: &Services) -> Result<Snapshot, Error> {
    let month = month_of(state.clock.now())?;
    let mut out = Snapshot {
        users: store::usage::users_by_tenant(&state.store).await?,
        ..Snapshot::default()
    };
    for (tenant, metric, n) in store::usage::month_counters(&state.store, &month).await? {
        match metric.as_str() {
            SIGN_INS => out.sign_ins.push((tenant, n)),
            SCIM_OPERATIONS => out.scim_operations.push((tenant, n)),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_events_fall_in_their_utc_month() {
        // 2026-12-01T00:00:00Z, and the microsecond before it.
        let december = Timestamp::from_micros(1_796_083_200_000_000);
        assert_eq!(month_of(december).unwrap(), "2026-12");
        assert_eq!(
            month_of(Timestamp::from_micros(1_796_083_199_999_999)).unwrap(),
            "2026-11"
        );
        assert_eq!(parse_month("2026-02").unwrap(), (2026, Month::February));
        assert_eq!(metric_of(Action::LoginSucceeded), Some(SIGN_INS));
        assert_eq!(metric_of(Action::ScimGroupDeleted), Some(SCIM_OPERATIONS));
        assert_eq!(metric_of(Action::LoginFailed), None);
        for bad in [
            "2026-13", "2026-2", "26-02", "2026/02", "", "9999-12", "abcd-01",
        ] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }
}
