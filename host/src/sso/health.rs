//! A connection's health: whether its IdP metadata is current (`metadata_refresh` keeps it
//! so) and how long its certificates have left. The IdP's signing certificates and the SP's
//! own decryption certificates are warned about ahead of expiry, once per threshold
//! ([`THRESHOLDS_DAYS`]): an audit event (which apps with a webhook also receive as
//! `connection.certificate_expiring`), the connection's health state, and a metric. A set of
//! certificates counts as expiring when the newest of them does: an IdP that already
//! publishes its next certificate needs no warning.

use serde::Serialize;
use serde_json::json;

use super::connections::parse_row;
use super::{Connection, Settings};
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::services::Services;
use crate::store::connection_health::{self, HealthRow};
use crate::types::{ConnectionId, TenantId, Timestamp};

/// Days before expiry at which a warning is raised, largest first.
pub const THRESHOLDS_DAYS: [i64; 3] = [30, 7, 1];
/// Connections read per page by the expiry scan.
const PAGE: i64 = 500;

/// How a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Ok,
    /// Works now, needs attention: a certificate expires within 30 days, or the last metadata
    /// fetch failed (the last good metadata is in force).
    Warning,
    /// Sign-ins fail: every IdP signing certificate has expired.
    Error,
}

impl HealthState {
    /// The word the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Ok => "ok",
            HealthState::Warning => "warning",
            HealthState::Error => "error",
        }
    }
}

/// The metadata refresh of a connection made from a metadata URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetadataHealth {
    pub url: String,
    /// The last fetch, good or not.
    pub checked_at: Option<Timestamp>,
    /// When a fetch last changed what the connection trusts.
    pub changed_at: Option<Timestamp>,
    /// Why the last fetch failed; none once one succeeds.
    pub error: Option<String>,
    pub error_at: Option<Timestamp>,
    pub next_refresh_at: Option<Timestamp>,
}

/// A connection's health as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthView {
    pub state: HealthState,
    /// What made the state what it is, one sentence each.
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataHealth>,
    /// When the last of the IdP's signing certificates expires (SAML).
    pub idp_certificates_expire_at: Option<Timestamp>,
    /// When the last of the SP's decryption certificates expires (SAML, when it has any).
    pub sp_certificates_expire_at: Option<Timestamp>,
}

fn decode(b64: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// When the last of `certificates` (base64 DER) expires, in unix seconds.
fn last_expiry<'a>(certificates: impl Iterator<Item = &'a str>) -> Option<i64> {
    certificates
        .filter_map(decode)
        .filter_map(|der| super::saml::settings::not_after_unix(&der))
        .max()
}

/// The IdP's and the SP's certificate expiry of a SAML connection (unix seconds).
fn expiries(c: &Connection) -> (Option<i64>, Option<i64>) {
    match &c.settings {
        Settings::Saml(s) => (
            last_expiry(s.certificates.iter().map(String::as_str)),
            last_expiry(s.sp_encryption_keys.iter().map(|k| k.certificate.as_str())),
        ),
        Settings::Oidc(_) => (None, None),
    }
}

/// The threshold a certificate set expiring at `expires` has reached at `now` (0: expired).
fn level(expires: Option<i64>, now: i64) -> Option<i64> {
    let left = expires? - now;
    if left <= 0 {
        return Some(0);
    }
    THRESHOLDS_DAYS
        .iter()
        .rev()
        .copied()
        .find(|days| left <= days * 86_400)
}

fn at(unix: Option<i64>) -> Option<Timestamp> {
    unix.map(|s| Timestamp::from_micros(s.saturating_mul(1_000_000)))
}

/// The health of `c`.
pub fn view(c: &Connection, h: &HealthRow, now: Timestamp) -> HealthView {
    let now_unix = now.as_micros() / 1_000_000;
    let (idp, sp) = expiries(c);
    let mut state = HealthState::Ok;
    let mut reasons = Vec::new();
    let mut raise = |to: HealthState, why: String| {
        state = state.max(to);
        reasons.push(why);
    };
    for (which, expires) in [("IdP signing", idp), ("SP decryption", sp)] {
        match level(expires, now_unix) {
            Some(0) if which == "IdP signing" => raise(
                HealthState::Error,
                format!("every {which} certificate has expired"),
            ),
            Some(0) => raise(
                HealthState::Warning,
                format!("every {which} certificate has expired"),
            ),
            Some(days) => raise(
                HealthState::Warning,
                format!("the last {which} certificate expires within {days} days"),
            ),
            None => {}
        }
    }
    let metadata = match &c.settings {
        Settings::Saml(s) => s.metadata_url.clone().map(|url| MetadataHealth {
            url,
            checked_at: h.metadata_checked_at,
            changed_at: h.metadata_changed_at,
            error: h.metadata_error.clone(),
            error_at: h.metadata_error_at,
            next_refresh_at: h.next_refresh_at,
        }),
        Settings::Oidc(_) => None,
    };
    if let Some(error) = metadata.as_ref().and_then(|m| m.error.as_deref()) {
        raise(
            HealthState::Warning,
            format!("the last metadata fetch failed ({error}); the last good metadata is in force"),
        );
    }
    HealthView {
        state,
        reasons,
        metadata,
        idp_certificates_expire_at: at(idp),
        sp_certificates_expire_at: at(sp),
    }
}

/// Connections by the threshold their certificates reached, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryCounts {
    pub within_30_days: u64,
    pub within_7_days: u64,
    pub within_1_day: u64,
    pub expired: u64,
}

/// Checks every connection's certificates: raises each threshold newly reached (audited,
/// and so sent to the apps' webhooks) and forgets the warnings of renewed certificates.
pub async fn check_expiry(state: &Services) -> Result<ExpiryCounts, Error> {
    let now = state.clock.now();
    let now_unix = now.as_micros() / 1_000_000;
    let mut counts = ExpiryCounts::default();
    let mut after: Option<(TenantId, ConnectionId)> = None;
    loop {
        let page = connection_health::page(&state.store, after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some((last.tenant_id, last.id));
        for (row, health) in page {
            let c = parse_row(row)?;
            let (idp, sp) = expiries(&c);
            let (idp_level, sp_level) = (level(idp, now_unix), level(sp, now_unix));
            match idp_level.into_iter().chain(sp_level).min() {
                Some(0) => counts.expired += 1,
                Some(1) => counts.within_1_day += 1,
                Some(7) => counts.within_7_days += 1,
                Some(_) => counts.within_30_days += 1,
                None => {}
            }
            if (idp_level, sp_level) != (health.idp_warned_days, health.sp_warned_days) {
                warn(state, &c, health, [(idp, idp_level), (sp, sp_level)], now).await?;
            }
        }
    }
    Ok(counts)
}

/// Records the thresholds newly reached by the IdP's and the SP's certificates (`levels`, in
/// that order, with their expiry) and stores what was warned.
async fn warn(
    state: &Services,
    c: &Connection,
    mut health: HealthRow,
    levels: [(Option<i64>, Option<i64>); 2],
    now: Timestamp,
) -> Result<(), Error> {
    let now_unix = now.as_micros() / 1_000_000;
    let mut tx = state.store.begin().await?;
    for (which, (expires, level)) in ["idp", "sp"].into_iter().zip(levels) {
        let warned = if which == "idp" {
            &mut health.idp_warned_days
        } else {
            &mut health.sp_warned_days
        };
        let newly = match (level, *warned) {
            (Some(l), Some(w)) => l < w,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if newly {
            let left = expires.unwrap_or(now_unix) - now_unix;
            audit::record(
                &mut tx,
                now,
                &RequestContext::default(),
                NewEvent {
                    chain: Chain::Tenant(c.tenant_id),
                    actor: Actor::system("certificate-expiry"),
                    action: Action::SsoCertificateExpiring,
                    target: Target::new("sso_connection", c.id),
                    before: None,
                    after: Some(json!({
                        "certificates": which,
                        "threshold_days": level,
                        "days_left": left.max(0) / 86_400,
                        "expires_at": at(expires),
                        "connection": c.name,
                    })),
                },
            )
            .await?;
        }
        *warned = level;
    }
    connection_health::put(&mut tx, c.tenant_id, c.id, &health).await?;
    tx.commit().await?;
    Ok(())
}
