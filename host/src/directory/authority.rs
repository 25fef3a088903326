//! Who may write what of a user: the per-attribute authority rules of the directory, in one
//! place. Both writers of the directory, a sign-in and SCIM, ask here.
//!
//! | attribute | SCIM | a sign-in |
//! |---|---|---|
//! | profile (names, locale, time zone, custom) | writes it, and owns it from then on | refreshes it, unless SCIM owns the user |
//! | email | writes it | changes it only to an IdP-verified address in a verified domain of the tenant |
//! | status | deactivates and reactivates | only activates a pending user; never reactivates |
//! | memberships | of SCIM groups | of SSO groups only |
//! | roles | those its groups derive | those the login derives; the user has the union |

use super::record::Profile;
use crate::store::groups::GroupSource;
use crate::store::users::{UserRow, UserSource, UserStatus};

/// Whether a sign-in refreshes the user's profile: not when SCIM manages the user.
pub fn sign_in_refreshes_profile(user: &UserRow) -> bool {
    user.source != UserSource::Scim
}

/// Whether a sign-in may set the user's email to `email` (lower-cased): only an address
/// the IdP vouched for, in one of the tenant's verified `domains`.
pub fn sign_in_may_set_email(email: &str, idp_verified: bool, domains: &[String]) -> bool {
    let domain = email.rsplit('@').next().unwrap_or_default();
    idp_verified && domains.iter().any(|d| d == domain)
}

/// The profile a sign-in leaves the user with: the login's, except an email it may not set.
pub fn profile_after_sign_in(
    user: &UserRow,
    login: &Profile,
    idp_verified: bool,
    domains: &[String],
) -> Profile {
    let mut profile = login.clone();
    if !sign_in_may_set_email(&login.email, idp_verified, domains) {
        profile.email = user.email.clone();
        profile.email_verified = user.email_verified;
    }
    profile
}

/// The status after a sign-in: a pending user becomes active; nothing else changes (a
/// deactivated user is refused before this).
pub fn status_after_sign_in(status: UserStatus) -> UserStatus {
    match status {
        UserStatus::Pending => UserStatus::Active,
        other => other,
    }
}

/// The status after SCIM set `active`: deactivated, or back from deactivated to active
/// (signed in before) or pending (never signed in).
pub fn status_after_scim(user: &UserRow, active: bool) -> UserStatus {
    match (active, user.status) {
        (false, _) => UserStatus::Deactivated,
        (true, UserStatus::Deactivated) if user.last_login_at.is_some() => UserStatus::Active,
        (true, UserStatus::Deactivated) => UserStatus::Pending,
        (true, other) => other,
    }
}

/// The status of a user SCIM creates: pending until the first sign-in, or deactivated.
pub fn status_of_scim_created(active: bool) -> UserStatus {
    if active {
        UserStatus::Pending
    } else {
        UserStatus::Deactivated
    }
}

/// Whether a sign-in may change the user's membership of a group of this source.
pub fn sign_in_may_join(source: GroupSource) -> bool {
    source == GroupSource::Sso
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{TenantId, Timestamp, UserId};

    fn user(status: UserStatus, signed_in: bool) -> UserRow {
        UserRow {
            id: UserId::generate(),
            tenant_id: TenantId::generate(),
            email: "old@acme.test".into(),
            email_verified: true,
            display_name: None,
            given_name: None,
            family_name: None,
            locale: None,
            timezone: None,
            custom_json: "{}".into(),
            status,
            source: UserSource::Sso,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
            last_login_at: signed_in.then(|| Timestamp::from_micros(1)),
        }
    }

    #[test]
    fn scim_reactivation_returns_to_active_only_after_a_sign_in() {
        use UserStatus::*;
        assert_eq!(status_after_scim(&user(Deactivated, true), true), Active);
        assert_eq!(status_after_scim(&user(Deactivated, false), true), Pending);
        assert_eq!(status_after_scim(&user(Active, true), false), Deactivated);
        assert_eq!(status_after_scim(&user(Pending, false), true), Pending);
        assert_eq!(status_after_sign_in(Pending), Active);
        assert_eq!(status_after_sign_in(Deactivated), Deactivated);
    }

    #[test]
    fn a_sign_in_keeps_the_old_email_unless_verified_in_a_verified_domain() {
        let domains = vec!["acme.test".to_string()];
        let u = user(UserStatus::Active, true);
        let login = Profile {
            email: "new@evil.test".into(),
            email_verified: true,
            ..Profile::default()
        };
        assert_eq!(
            profile_after_sign_in(&u, &login, true, &domains).email,
            "old@acme.test"
        );
        let login = Profile {
            email: "new@acme.test".into(),
            ..login
        };
        assert_eq!(
            profile_after_sign_in(&u, &login, false, &domains).email,
            "old@acme.test"
        );
        assert_eq!(
            profile_after_sign_in(&u, &login, true, &domains).email,
            "new@acme.test"
        );
    }
}
