//! The directory's own forms of a user, shared by its writers: the profile a source states,
//! a user not yet written, and the audit form of a user.

use std::collections::BTreeSet;

use serde_json::json;

use crate::store::roles::RoleRow;
use crate::store::users::{UserRow, UserSource, UserStatus};
use crate::types::{TenantId, Timestamp, UserId};

/// A user's profile as one source states it. Emails are lower-cased.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub email: String,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    /// Custom attributes (JSON object text); `None` leaves the stored ones as they are.
    pub custom_json: Option<String>,
}

impl Profile {
    /// Writes this profile onto `user` (status, source and times are not the profile's).
    pub fn apply_to(&self, user: &mut UserRow) {
        user.email = self.email.clone();
        user.email_verified = self.email_verified;
        user.display_name = self.display_name.clone();
        user.given_name = self.given_name.clone();
        user.family_name = self.family_name.clone();
        user.locale = self.locale.clone();
        user.timezone = self.timezone.clone();
        if let Some(custom) = &self.custom_json {
            user.custom_json = custom.clone();
        }
    }
}

/// A user not yet written: a new id, an empty profile but for the email, no sign-in yet.
pub(super) fn new_user(
    tenant: TenantId,
    email: &str,
    status: UserStatus,
    source: UserSource,
    now: Timestamp,
) -> UserRow {
    UserRow {
        id: UserId::generate(),
        tenant_id: tenant,
        email: email.to_string(),
        email_verified: false,
        display_name: None,
        given_name: None,
        family_name: None,
        locale: None,
        timezone: None,
        custom_json: "{}".into(),
        status,
        source,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    }
}

/// The audit form of a user: profile, status, groups and roles; never secrets.
pub fn user_json(u: &UserRow, groups: &[String], roles: &[RoleRow]) -> serde_json::Value {
    json!({
        "email": u.email,
        "display_name": u.display_name,
        "given_name": u.given_name,
        "family_name": u.family_name,
        "status": u.status,
        "groups": groups,
        "roles": roles.iter().map(role_label).collect::<Vec<_>>(),
    })
}

/// `role`, or `role@kind:name` for a scoped assignment.
pub fn role_label((r, k, n): &RoleRow) -> String {
    if k.is_empty() {
        r.clone()
    } else {
        format!("{r}@{k}:{n}")
    }
}

/// Both lists' assignments, sorted, without duplicates.
pub(super) fn union(a: &[RoleRow], b: &[RoleRow]) -> Vec<RoleRow> {
    a.iter()
        .chain(b)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
