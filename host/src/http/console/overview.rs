//! The console's first page: the setup checklist (domain verified, SSO enabled, SCIM
//! provisioning seen, MFA policy, roles defined), each item read through the service the
//! API uses and shown only to whom that read is allowed; the last 30 days of sign-ins,
//! refusals by reason and SCIM writes as charts; the SSO connections' and audit streams'
//! health.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use time::OffsetDateTime;

use super::chart::{stacked_bars, Series};
use super::guard::{also, error_page, Admin, Chrome};
use crate::http::state::AppState;
use crate::policy::MfaRequired;
use crate::rbac::{ReadAuditStreams, ReadPolicy, ReadRoles, ReadSso, ReadTenant};
use crate::sso::ConnectionStatus;
use crate::store::activity::DailyCount;
use crate::types::Timestamp;
use crate::{error::Error, store};

/// How many days the charts cover.
const DAYS: i64 = 30;
/// The refusal reasons charted by name; the rest are summed as "other".
const TOP_REASONS: usize = 4;

/// The SCIM writes the SCIM chart counts (as the usage report does).
const SCIM_ACTIONS: [&str; 8] = [
    "scim_user.created",
    "scim_user.updated",
    "scim_user.deactivated",
    "scim_user.reactivated",
    "scim_user.deleted",
    "scim_group.created",
    "scim_group.updated",
    "scim_group.deleted",
];

/// One checklist item: done or to do, one line on its state, where to act.
pub(super) struct Check {
    pub id: &'static str,
    pub label: &'static str,
    pub done: bool,
    pub detail: String,
    pub href: Option<&'static str>,
}

/// A connection's health as the overview lists it.
pub(super) struct Health {
    pub name: String,
    pub href: String,
    pub state: &'static str,
    pub reasons: Vec<String>,
}

/// A chart with its title and legend (label, colour class).
pub(super) struct Chart {
    pub title: String,
    pub svg: String,
    pub legend: Vec<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Page<'a> {
    chrome: &'a Chrome,
    checks: Vec<Check>,
    charts: Vec<Chart>,
    health: Option<Vec<Health>>,
    streams: Option<Vec<Health>>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadTenant>,
) -> Response {
    let streams = match streams(&state, &auth).await {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    match build(&state, &auth).await {
        Ok((checks, charts, health)) => chrome.page(
            StatusCode::OK,
            &Page {
                chrome: &chrome,
                checks,
                charts,
                health,
                streams,
            },
        ),
        Err(e) => error_page(e),
    }
}

/// The audit streams' health, when the user may read them (and the tenant has streaming).
async fn streams(
    state: &AppState,
    auth: &crate::rbac::Authorized<ReadTenant>,
) -> Result<Option<Vec<Health>>, Error> {
    let Some(read) = also::<ReadAuditStreams, _>(state, auth).await else {
        return Ok(None);
    };
    let streams = crate::audit::stream::list(state, &read).await?;
    Ok(Some(
        streams
            .into_iter()
            .map(|s| {
                let mut reasons = Vec::new();
                if let Some(error) = &s.stream.last_error {
                    reasons.push(format!("last attempt failed: {error}"));
                }
                if s.backlog > 0 {
                    reasons.push(format!("{} events waiting", s.backlog));
                }
                Health {
                    name: s.stream.name,
                    href: "/console/audit".into(),
                    state: match s.stream.status {
                        "error" => "error",
                        "paused" => "warning",
                        _ if s.backlog > 0 => "warning",
                        _ => "ok",
                    },
                    reasons,
                }
            })
            .collect(),
    ))
}

type Built = (Vec<Check>, Vec<Chart>, Option<Vec<Health>>);

async fn build(
    state: &AppState,
    auth: &crate::rbac::Authorized<ReadTenant>,
) -> Result<Built, Error> {
    let tenant = auth.tenant();
    let now = state.clock.now();
    let since = Timestamp::from_micros(now.as_micros() - DAYS * 86_400_000_000);
    let mut actions = vec!["login.succeeded", "login.failed"];
    actions.extend(SCIM_ACTIONS);
    let activity = store::activity::daily(&state.store, tenant, since, &actions).await?;
    let scim_total: i64 = activity
        .iter()
        .filter(|c| c.action.starts_with("scim_"))
        .map(|c| c.count)
        .sum();

    let mut checks = Vec::new();
    let domains = crate::tenancy::domains::list(state, tenant).await?;
    let verified = domains
        .iter()
        .filter(|d| d.domain.verified_at.is_some())
        .count();
    checks.push(Check {
        id: "domain",
        label: "Email domain verified",
        done: verified > 0,
        detail: format!("{verified} of {} domains verified", domains.len()),
        href: None,
    });
    let mut health = None;
    if let Some(sso) = also::<ReadSso, _>(state, auth).await {
        let connections = crate::sso::connections::list(state, &sso).await?;
        let enabled = connections
            .iter()
            .filter(|c| c.status == ConnectionStatus::Enabled)
            .count();
        checks.push(Check {
            id: "sso",
            label: "SSO connection tested and enabled",
            done: enabled > 0,
            detail: format!(
                "{enabled} of {} connections enabled (a connection is tested in test mode first)",
                connections.len()
            ),
            href: Some("/console/sso"),
        });
        health = Some(
            connections
                .iter()
                .map(|c| Health {
                    name: c.name.clone(),
                    href: format!("/console/sso/{}", c.id),
                    state: c.health.state.as_str(),
                    reasons: c.health.reasons.clone(),
                })
                .collect(),
        );
    }
    checks.push(Check {
        id: "scim",
        label: "SCIM provisioning connected",
        done: scim_total > 0,
        detail: format!("{scim_total} SCIM writes in the last {DAYS} days"),
        href: None,
    });
    if let Some(read) = also::<ReadPolicy, _>(state, auth).await {
        let policy = crate::policy::get(state, &read).await?;
        checks.push(Check {
            id: "mfa",
            label: "MFA policy set",
            done: policy.mfa.required != MfaRequired::Off,
            detail: match policy.mfa.required {
                MfaRequired::Off => "no one is required to use a second factor".into(),
                MfaRequired::Direct => "password sign-ins need a TOTP code".into(),
                MfaRequired::Everyone => {
                    "everyone needs a second factor (SSO through the IdP's proof)".into()
                }
            },
            href: None,
        });
    }
    if let Some(read) = also::<ReadRoles, _>(state, auth).await {
        let catalogue = crate::rbac::catalogue::get(state, &read).await?;
        checks.push(Check {
            id: "roles",
            label: "Roles defined and mapped",
            done: !catalogue.roles.is_empty(),
            detail: format!(
                "roles defined: {}; a user the IdP names no role for gets `{}`",
                catalogue.roles.len(),
                catalogue.default_role
            ),
            href: None,
        });
    }
    Ok((checks, charts(now, &activity), health))
}

/// Days since the Unix epoch to `MM-DD`.
fn label(day: i64) -> String {
    OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| format!("{:02}-{:02}", t.month() as u8, t.day()))
        .unwrap_or_default()
}

/// The three charts.
fn charts(now: Timestamp, activity: &[DailyCount]) -> Vec<Chart> {
    let today = now.as_micros().div_euclid(86_400_000_000);
    let first = today - DAYS + 1;
    let days: Vec<String> = (first..=today).map(label).collect();
    let index = |day: i64| {
        usize::try_from(day - first)
            .ok()
            .filter(|i| *i < days.len())
    };
    let mut sign_ins = vec![0u64; days.len()];
    let mut scim = vec![0u64; days.len()];
    let mut by_reason: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for c in activity {
        let Some(i) = index(c.day) else { continue };
        let n = u64::try_from(c.count).unwrap_or(0);
        match c.action.as_str() {
            "login.succeeded" => sign_ins[i] += n,
            "login.failed" => {
                let reason = c.reason.clone().unwrap_or_else(|| "unknown".into());
                by_reason
                    .entry(reason)
                    .or_insert_with(|| vec![0; days.len()])[i] += n;
            }
            _ => scim[i] += n,
        }
    }
    // The most frequent reasons by name, the rest together.
    let mut reasons: Vec<(String, Vec<u64>)> = by_reason.into_iter().collect();
    reasons.sort_by_key(|(_, v)| std::cmp::Reverse(v.iter().sum::<u64>()));
    let mut refusals: Vec<Series> = Vec::new();
    let classes = ["s1", "s2", "s3", "s4"];
    let mut other = vec![0u64; days.len()];
    for (i, (reason, values)) in reasons.into_iter().enumerate() {
        if i < TOP_REASONS {
            refusals.push(Series {
                label: reason,
                class: classes[i],
                values,
            });
        } else {
            for (o, v) in other.iter_mut().zip(values) {
                *o += v;
            }
        }
    }
    if other.iter().any(|v| *v > 0) {
        refusals.push(Series {
            label: "other".into(),
            class: "s5",
            values: other,
        });
    }
    let one = |title: &str, series: Vec<Series>| {
        let legend = series.iter().map(|s| (s.label.clone(), s.class)).collect();
        Chart {
            title: title.to_string(),
            svg: stacked_bars(title, &days, &series),
            legend,
        }
    };
    vec![
        one(
            "Sign-ins per day",
            vec![Series {
                label: "sign-ins".into(),
                class: "s0",
                values: sign_ins,
            }],
        ),
        one("Refused sign-ins per day, by reason", refusals),
        one(
            "SCIM writes per day",
            vec![Series {
                label: "SCIM writes".into(),
                class: "s0",
                values: scim,
            }],
        ),
    ]
}
