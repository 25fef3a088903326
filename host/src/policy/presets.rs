//! Named starting points for the policy, for security questionnaires that ask for a known
//! baseline. A preset fills the MFA, session, password and classification parts in one call;
//! the result is a plain policy, editable afterwards. It keeps what only the tenant can know:
//! SSO-only, the network allow-lists, which connections must prove IdP MFA, its own blocked
//! words and labels. Lifetimes are bounded by the deployment's maximum.

use super::document::{Composition, MfaRequired, Policy, WhenFull};
use crate::config::SessionsConfig;
use crate::error::Error;

/// The presets, by the name the API takes.
pub const NAMES: &[&str] = &["government-cui", "enterprise"];

/// What one preset sets.
struct Preset {
    mfa: MfaRequired,
    grace_days: u16,
    idle_minutes: u32,
    absolute_minutes: u32,
    max_per_user: u32,
    when_full: WhenFull,
    level: &'static str,
}

/// "Government / CUI": NIST SP 800-171 practice (3.5.3 MFA for everyone with no grace, 3.1.11
/// session termination after 15 idle minutes, 3.1.10-style limits on concurrent sessions),
/// 800-63B passwords (length and blocklist, no composition, no forced expiry).
const GOVERNMENT_CUI: Preset = Preset {
    mfa: MfaRequired::Everyone,
    grace_days: 0,
    idle_minutes: 15,
    absolute_minutes: 12 * 60,
    max_per_user: 3,
    when_full: WhenFull::DenyNew,
    level: "CUI",
};

/// "Enterprise": MFA for direct sign-ins after a week's grace, a working day's idle time,
/// a week's absolute lifetime, room for several devices.
const ENTERPRISE: Preset = Preset {
    mfa: MfaRequired::Direct,
    grace_days: 7,
    idle_minutes: 8 * 60,
    absolute_minutes: 7 * 24 * 60,
    max_per_user: 10,
    when_full: WhenFull::RevokeOldest,
    level: "Confidential",
};

/// `current` with the preset `name` applied.
pub fn apply(name: &str, current: &Policy, deployment: &SessionsConfig) -> Result<Policy, Error> {
    let preset = match name {
        "government-cui" => GOVERNMENT_CUI,
        "enterprise" => ENTERPRISE,
        _ => {
            return Err(Error::invalid(
                "preset",
                format!(
                    "unknown preset {name:?}; the presets are {}",
                    NAMES.join(", ")
                ),
            ))
        }
    };
    let bound = |minutes: u32, max_secs: u64| {
        let max = u32::try_from(max_secs / 60).unwrap_or(u32::MAX);
        minutes.min(max).max(1)
    };
    let mut p = current.clone();
    p.mfa.required = preset.mfa;
    p.mfa.grace_days = preset.grace_days;
    p.sessions.absolute_minutes = Some(bound(
        preset.absolute_minutes,
        deployment.absolute_timeout_secs,
    ));
    p.sessions.idle_minutes = Some(bound(preset.idle_minutes, deployment.idle_timeout_secs));
    p.sessions.max_per_user = Some(preset.max_per_user);
    p.sessions.when_full = preset.when_full;
    p.passwords.min_length = None;
    p.passwords.composition = Composition::default();
    p.passwords.expiry_days = None;
    if !p.classification.labels.iter().any(|l| l == preset.level) {
        p.classification.labels.push(preset.level.to_string());
    }
    p.classification.level = preset.level.to_string();
    p.validate(deployment)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_keep_the_tenants_own_choices_and_fit_the_deployment() {
        let deployment = SessionsConfig {
            idle_timeout_secs: 600,
            absolute_timeout_secs: 86_400,
        };
        let mut current = Policy {
            sso_only: true,
            ..Policy::default()
        };
        current.networks.sign_in = vec!["10.0.0.0/8".parse().unwrap()];
        let p = apply("government-cui", &current, &deployment).unwrap();
        assert!(p.sso_only);
        assert_eq!(p.networks, current.networks);
        assert_eq!(p.sessions.idle_minutes, Some(10));
        assert_eq!(p.classification.level, "CUI");
        assert!(apply("nist", &current, &deployment).is_err());
    }
}
