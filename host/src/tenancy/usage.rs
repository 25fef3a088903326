//! A tenant's usage, for the operator's billing: its users by status now, and in a calendar
//! month (UTC) its sign-ins (`login.succeeded`: SSO, password, token exchange) and SCIM
//! writes (each `scim_user.*` and `scim_group.*` event; reads are not counted). The monthly
//! figures are counted from the audit log, so a month older than the tenant's audit
//! retention shows what is left of it.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, Month, OffsetDateTime, Time};

use crate::audit::action::Action;
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance};
use crate::services::Services;
use crate::store;
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

/// What the operator reads.
#[derive(Debug, Serialize)]
pub struct Usage {
    /// `YYYY-MM`.
    pub month: String,
    /// Users by status now (`active`, `pending`, `deactivated`).
    pub users: BTreeMap<String, i64>,
    pub sign_ins: i64,
    pub scim_operations: i64,
}

/// The first instant of `year`-`month` and of the month after, in UTC.
fn bounds(year: i32, month: Month) -> Result<(Timestamp, Timestamp), Error> {
    let bad = || Error::invalid("month", "must be YYYY-MM, from 1970-01 to 9998-12");
    let start = Date::from_calendar_date(year, month, 1).map_err(|_| bad())?;
    let (next_year, next) = match month {
        Month::December => (year + 1, Month::January),
        m => (year, m.next()),
    };
    let end = Date::from_calendar_date(next_year, next, 1).map_err(|_| bad())?;
    let micros = |d: Date| {
        let secs = d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp();
        Timestamp::from_micros(secs.saturating_mul(1_000_000))
    };
    Ok((micros(start), micros(end)))
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
    let (year, month) = match month {
        Some(text) => parse_month(text)?,
        None => {
            let now =
                OffsetDateTime::from_unix_timestamp(state.clock.now().as_micros() / 1_000_000)
                    .map_err(|e| Error::Internal(e.into()))?;
            (now.year(), now.month())
        }
    };
    let (from, to) = bounds(year, month)?;
    let users = store::usage::users_by_status(&state.store, tenant)
        .await?
        .into_iter()
        .collect();
    let login = [Action::LoginSucceeded.as_str()];
    let sign_ins = store::usage::events(&state.store, tenant, &login, from, to).await?;
    let scim: Vec<&str> = SCIM_WRITES.iter().map(|a| a.as_str()).collect();
    let scim_operations = store::usage::events(&state.store, tenant, &scim, from, to).await?;
    Ok(Usage {
        month: format!("{year:04}-{:02}", month as u8),
        users,
        sign_ins,
        scim_operations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_bound_in_utc() {
        let (from, to) = bounds(2026, Month::December).unwrap();
        assert_eq!(from.as_micros(), 1_796_083_200_000_000);
        assert_eq!(to.as_micros(), 1_798_761_600_000_000);
        assert_eq!(parse_month("2026-02").unwrap(), (2026, Month::February));
        for bad in [
            "2026-13", "2026-2", "26-02", "2026/02", "", "9999-12", "abcd-01",
        ] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }
}
