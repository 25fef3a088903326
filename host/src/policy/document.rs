//! The tenant security policy as one document: what the admin API shows and takes, what the
//! database stores (as JSON) and what [`super::admit`] enforces. Every field has a default, so
//! an absent policy, an old stored document and a partial `PUT` all read as a whole policy;
//! [`Policy::validate`] checks the bounds against the deployment's limits before anything is
//! saved. Enforcement lives elsewhere; this file only says what the words mean.

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::SessionsConfig;
use crate::error::Error;
use crate::types::ConnectionId;

/// Longest grace period before an unenrolled user must enrol (the issue's bound).
pub const MAX_GRACE_DAYS: u16 = 30;
/// Most entries in one allow-list: enough for every office and VPN egress, small enough that
/// matching every request against it stays trivial.
pub const MAX_NETWORKS: usize = 100;
/// Session caps above this are no cap at all; the bound keeps the count query small.
pub const MAX_SESSIONS_PER_USER: u32 = 100;
/// The password length every policy must accept at least (NIST SP 800-63B asks for 64; long
/// passphrases are welcome) and the most a policy may allow (the hashing cost is bounded).
pub const MIN_MAX_PASSWORD: u16 = 128;
pub const MAX_MAX_PASSWORD: u16 = 1024;
/// The shortest minimum a tenant may set (NIST SP 800-63B's floor with a second factor).
pub const FLOOR_MIN_PASSWORD: u16 = 8;
/// Default minimum length, and the default when MFA is required for direct sign-ins.
pub const DEFAULT_MIN_PASSWORD: u16 = 15;
pub const DEFAULT_MIN_PASSWORD_WITH_MFA: u16 = 8;
/// Bounds on the tenant's own blocked words and classification labels.
const MAX_WORDS: usize = 200;
const MAX_WORD_CHARS: usize = 64;
const MAX_LABELS: usize = 10;
const MAX_LABEL_CHARS: usize = 40;
/// Longest password expiry, ten years; `None` (the default, as NIST advises) is no expiry.
const MAX_EXPIRY_DAYS: u16 = 3650;

/// A tenant's security policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = SecurityPolicy)]
pub struct Policy {
    /// Only SSO signs users in; local passwords are off, except the break-glass owner's.
    pub sso_only: bool,
    pub mfa: Mfa,
    pub sessions: Sessions,
    pub networks: Networks,
    pub passwords: Passwords,
    pub classification: Classification,
}

/// Who must present a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PolicyMfaRequired)]
pub enum MfaRequired {
    /// Nobody; users who enrolled an authenticator still use it.
    #[default]
    Off,
    /// Password sign-ins need a TOTP code; SSO users rely on their IdP.
    Direct,
    /// As `direct`, and SSO sign-ins through a connection listed in `require_idp_proof` must
    /// carry the IdP's proof of MFA.
    Everyone,
}

/// Who must present a second factor, and from when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = PolicyMfa)]
pub struct Mfa {
    pub required: MfaRequired,
    /// Days after MFA became required during which an unenrolled user still gets a session;
    /// after them the user enrols at the next sign-in before getting one. 0 to 30.
    pub grace_days: u16,
    /// Connections whose sign-ins must prove MFA at the IdP (SAML `AuthnContextClassRef`,
    /// OIDC `amr`/`acr`) when `required` is `everyone`; other connections are trusted.
    pub require_idp_proof: Vec<ConnectionId>,
}

impl Default for Mfa {
    fn default() -> Self {
        Self {
            required: MfaRequired::Off,
            grace_days: 7,
            require_idp_proof: Vec::new(),
        }
    }
}

/// What a sign-in does when the user already holds the most sessions allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PolicySessionsWhenFull)]
pub enum WhenFull {
    /// The new sign-in is refused.
    DenyNew,
    /// The oldest sessions end to make room.
    #[default]
    RevokeOldest,
}

/// How long sessions last and how many a user may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = PolicySessions)]
pub struct Sessions {
    /// Minutes without a request before a session ends; `None`: the deployment's setting,
    /// which is also the most a tenant may set.
    pub idle_minutes: Option<u32>,
    /// Minutes after sign-in before a session ends however active; `None` as above.
    pub absolute_minutes: Option<u32>,
    /// Most live sessions per user, across every sign-in method; `None`: no cap.
    pub max_per_user: Option<u32>,
    pub when_full: WhenFull,
}

/// Where sign-ins and admin-API calls may come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = PolicyNetworks)]
pub struct Networks {
    /// Addresses (IPv4/IPv6 CIDRs) sign-ins may come from; empty: any.
    #[schema(value_type = Vec<String>)]
    pub sign_in: Vec<IpNet>,
    /// Addresses the tenant's admin API may be called from; empty: any.
    #[schema(value_type = Vec<String>)]
    pub admin_api: Vec<IpNet>,
}

/// Character classes a password must mix. All off by default: length and the blocklist
/// protect better, and composition rules push users to predictable patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = PasswordComposition)]
pub struct Composition {
    pub lowercase: bool,
    pub uppercase: bool,
    pub digit: bool,
    pub symbol: bool,
}

impl Composition {
    pub fn any(self) -> bool {
        self.lowercase || self.uppercase || self.digit || self.symbol
    }
}

/// What a local password must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = PolicyPasswords)]
pub struct Passwords {
    /// Shortest password; `None`: 15, or 8 when MFA is required for direct sign-ins.
    pub min_length: Option<u16>,
    /// Longest password, 128 to 1024.
    pub max_length: u16,
    /// The tenant's own words a password may not be built on (product names, city…), on
    /// top of the built-in list of common and breached passwords and the context words
    /// (organisation name and slug, the user's email).
    pub blocked_words: Vec<String>,
    pub composition: Composition,
    /// Days after which a password must be changed; `None`: never.
    pub expiry_days: Option<u16>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self {
            min_length: None,
            max_length: 256,
            blocked_words: Vec::new(),
            composition: Composition::default(),
            expiry_days: None,
        }
    }
}

/// The data classification of the tenant's data in the app, shown in tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
#[schema(as = PolicyClassification)]
pub struct Classification {
    /// The labels this tenant uses, lowest first.
    pub labels: Vec<String>,
    /// The tenant's level: one of `labels`.
    pub level: String,
}

impl Default for Classification {
    fn default() -> Self {
        Self {
            labels: vec!["Unclassified".into(), "CUI".into(), "Confidential".into()],
            level: "Unclassified".into(),
        }
    }
}

impl Policy {
    /// The minimum password length in force.
    pub fn min_password(&self) -> u16 {
        self.passwords
            .min_length
            .unwrap_or(match self.mfa.required {
                MfaRequired::Off => DEFAULT_MIN_PASSWORD,
                MfaRequired::Direct | MfaRequired::Everyone => DEFAULT_MIN_PASSWORD_WITH_MFA,
            })
    }

    /// Whether password sign-ins need a second factor.
    pub fn mfa_for_direct(&self) -> bool {
        self.mfa.required != MfaRequired::Off
    }

    /// Idle and absolute lifetimes in seconds: the tenant's, bounded by the deployment's.
    pub fn session_lifetimes(&self, deployment: &SessionsConfig) -> (i64, i64) {
        let cap = |minutes: Option<u32>, max_secs: u64| {
            let max = i64::try_from(max_secs).unwrap_or(i64::MAX);
            minutes.map_or(max, |m| (i64::from(m) * 60).min(max))
        };
        let absolute = cap(
            self.sessions.absolute_minutes,
            deployment.absolute_timeout_secs,
        );
        let idle = cap(self.sessions.idle_minutes, deployment.idle_timeout_secs).min(absolute);
        (idle, absolute)
    }

    /// What an admin should know about choices that are allowed but weaken the policy (shown
    /// as `Warning` headers when the policy is saved).
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut warnings = Vec::new();
        if self.passwords.composition.any() {
            warnings.push(
                "passwords.composition: character-class rules make passwords more predictable, \
                 not stronger (NIST SP 800-63B advises against them); keep them only if a \
                 questionnaire demands them",
            );
        }
        if self.passwords.expiry_days.is_some() {
            warnings.push(
                "passwords.expiry_days: forced periodic changes lead to weaker passwords \
                 (NIST SP 800-63B advises against them); reset links cover compromise",
            );
        }
        warnings
    }

    /// Checks every bound; the error names the field and the allowed range.
    pub fn validate(&self, deployment: &SessionsConfig) -> Result<(), Error> {
        if self.mfa.grace_days > MAX_GRACE_DAYS {
            return Err(Error::invalid(
                "mfa.grace_days",
                format!("must be 0 to {MAX_GRACE_DAYS}"),
            ));
        }
        if self.mfa.require_idp_proof.len() > MAX_NETWORKS {
            return Err(Error::invalid(
                "mfa.require_idp_proof",
                format!("at most {MAX_NETWORKS} connections"),
            ));
        }
        minutes(
            "sessions.idle_minutes",
            self.sessions.idle_minutes,
            deployment.idle_timeout_secs,
        )?;
        minutes(
            "sessions.absolute_minutes",
            self.sessions.absolute_minutes,
            deployment.absolute_timeout_secs,
        )?;
        if let Some(n) = self.sessions.max_per_user {
            if !(1..=MAX_SESSIONS_PER_USER).contains(&n) {
                return Err(Error::invalid(
                    "sessions.max_per_user",
                    format!("must be 1 to {MAX_SESSIONS_PER_USER}, or null for no cap"),
                ));
            }
        }
        for (field, list) in [
            ("networks.sign_in", &self.networks.sign_in),
            ("networks.admin_api", &self.networks.admin_api),
        ] {
            if list.len() > MAX_NETWORKS {
                return Err(Error::invalid(
                    field,
                    format!("at most {MAX_NETWORKS} networks"),
                ));
            }
        }
        self.validate_passwords()?;
        self.validate_classification()
    }

    fn validate_passwords(&self) -> Result<(), Error> {
        let p = &self.passwords;
        if !(MIN_MAX_PASSWORD..=MAX_MAX_PASSWORD).contains(&p.max_length) {
            return Err(Error::invalid(
                "passwords.max_length",
                format!("must be {MIN_MAX_PASSWORD} to {MAX_MAX_PASSWORD}"),
            ));
        }
        if let Some(min) = p.min_length {
            if !(FLOOR_MIN_PASSWORD..=MIN_MAX_PASSWORD).contains(&min) {
                return Err(Error::invalid(
                    "passwords.min_length",
                    format!("must be {FLOOR_MIN_PASSWORD} to {MIN_MAX_PASSWORD}, or null for the default"),
                ));
            }
            if min < DEFAULT_MIN_PASSWORD && !self.mfa_for_direct() {
                return Err(Error::invalid(
                    "passwords.min_length",
                    format!(
                        "below {DEFAULT_MIN_PASSWORD} needs mfa.required to be direct or everyone"
                    ),
                ));
            }
        }
        if p.expiry_days
            .is_some_and(|d| !(1..=MAX_EXPIRY_DAYS).contains(&d))
        {
            return Err(Error::invalid(
                "passwords.expiry_days",
                format!("must be 1 to {MAX_EXPIRY_DAYS}, or null for no expiry"),
            ));
        }
        words(
            "passwords.blocked_words",
            &p.blocked_words,
            MAX_WORDS,
            MAX_WORD_CHARS,
        )
    }

    fn validate_classification(&self) -> Result<(), Error> {
        let c = &self.classification;
        if c.labels.is_empty() {
            return Err(Error::invalid(
                "classification.labels",
                "must name at least one label",
            ));
        }
        words(
            "classification.labels",
            &c.labels,
            MAX_LABELS,
            MAX_LABEL_CHARS,
        )?;
        let distinct: BTreeSet<&str> = c.labels.iter().map(String::as_str).collect();
        if distinct.len() != c.labels.len() {
            return Err(Error::invalid(
                "classification.labels",
                "labels must be distinct",
            ));
        }
        if !distinct.contains(c.level.as_str()) {
            return Err(Error::invalid(
                "classification.level",
                "must be one of classification.labels",
            ));
        }
        Ok(())
    }
}

fn minutes(field: &'static str, value: Option<u32>, max_secs: u64) -> Result<(), Error> {
    let Some(m) = value else { return Ok(()) };
    let max = max_secs / 60;
    if m == 0 || u64::from(m) > max {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {max} (the deployment's maximum), or null for it"),
        ));
    }
    Ok(())
}

fn words(field: &'static str, list: &[String], most: usize, chars: usize) -> Result<(), Error> {
    if list.len() > most {
        return Err(Error::invalid(field, format!("at most {most} entries")));
    }
    if list.iter().any(|w| {
        w.trim().is_empty() || w.chars().count() > chars || w.chars().any(char::is_control)
    }) {
        return Err(Error::invalid(
            field,
            format!("each entry must be 1 to {chars} printable characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> SessionsConfig {
        SessionsConfig {
            idle_timeout_secs: 3600,
            absolute_timeout_secs: 86_400,
        }
    }

    #[test]
    fn an_empty_document_is_the_default_policy() {
        let p: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.min_password(), 15);
        assert_eq!(p.session_lifetimes(&deployment()), (3600, 86_400));
        p.validate(&deployment()).unwrap();
    }

    #[test]
    fn tenant_lifetimes_are_bounded_by_the_deployment() {
        let mut p = Policy::default();
        p.sessions.idle_minutes = Some(15);
        p.sessions.absolute_minutes = Some(10);
        assert_eq!(p.session_lifetimes(&deployment()), (600, 600));
        p.sessions.idle_minutes = Some(61);
        assert!(p.validate(&deployment()).is_err());
    }

    #[test]
    fn a_short_minimum_needs_mfa() {
        let mut p = Policy::default();
        p.passwords.min_length = Some(8);
        assert!(p.validate(&deployment()).is_err());
        p.mfa.required = MfaRequired::Direct;
        p.validate(&deployment()).unwrap();
        p.passwords.min_length = None;
        assert_eq!(p.min_password(), 8);
    }

    #[test]
    fn unknown_fields_and_levels_are_refused() {
        assert!(serde_json::from_str::<Policy>(r#"{"mfa":{"requried":"off"}}"#).is_err());
        let mut p = Policy::default();
        p.classification.level = "Secret".into();
        assert!(p.validate(&deployment()).is_err());
    }
}
