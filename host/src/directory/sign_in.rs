//! What a sign-in does to the directory. [`reconcile`] finds the user by (connection,
//! subject), else links by email within the tenant's verified domains, else creates it just
//! in time (when the connection allows; with the connection's default role); then refreshes
//! what a sign-in may refresh ([`super::authority`]): profile, SSO group memberships,
//! SSO-derived role assignments. It never reactivates a deactivated user.

use std::collections::BTreeSet;

use serde::Serialize;

use super::authority;
use super::record::{new_user, union, user_json, Profile};
use crate::store::roles::{self, RoleRow, RoleSource};
use crate::store::users::{self, UserRow, UserSource, UserStatus};
use crate::store::{groups, memberships, user_reads, Tx};
use crate::types::{ConnectionId, TenantId, Timestamp};

/// What a sign-in tells the directory about its user, once the pipeline's plugins ran.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub connection: ConnectionId,
    /// The user's subject at the IdP (stable per connection).
    pub subject: String,
    /// Whether the IdP vouched for the email address.
    pub email_verified: bool,
    /// The profile the login states (email lower-cased).
    pub profile: Profile,
    /// The IdP group keys the login carried.
    pub groups: Vec<String>,
    /// The role assignments the role mapper derived.
    pub roles: Vec<RoleRow>,
    /// Whether a user may be created just in time (the connection's setting).
    pub jit: bool,
    /// The role a user created here gets, as an admin's assignment.
    pub default_role: Option<String>,
}

/// How a sign-in found its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new user, created just in time.
    Provisioned,
    /// An existing user (by email), now linked to this connection's subject.
    Linked,
    /// The user this subject was already linked to.
    Existing,
}

/// Why the directory refused a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the user is deactivated")]
    Deactivated,
    #[error("the email's domain is not a verified domain of this organisation")]
    UnverifiedDomain,
    #[error("the identity provider did not vouch for the email address")]
    UnverifiedEmail,
    #[error("your organisation has not given you an account yet; ask your administrator")]
    NotProvisioned,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Deactivated => "user_deactivated",
            Refusal::UnverifiedDomain => "email_domain_not_verified",
            Refusal::UnverifiedEmail => "email_not_verified",
            Refusal::NotProvisioned => "not_provisioned",
        }
    }
}

/// The result of a reconcile, with before/after for the audit log.
#[derive(Debug)]
pub struct Reconciled {
    pub user: UserRow,
    pub outcome: Outcome,
    pub before: Option<serde_json::Value>,
    pub after: serde_json::Value,
}

/// Finds, links or creates the user of `login`. A refusal leaves nothing written.
async fn find_or_create(
    tx: &mut Tx,
    tenant: TenantId,
    login: &SignIn,
    domains: &[String],
    now: Timestamp,
) -> Result<Result<(UserRow, Outcome), Refusal>, crate::Error> {
    let (connection, subject) = (login.connection, login.subject.as_str());
    if let Some(user) = user_reads::user_by_identity(tx, tenant, connection, subject).await? {
        return Ok(Ok((user, Outcome::Existing)));
    }
    let email = &login.profile.email;
    if !login.email_verified {
        return Ok(Err(Refusal::UnverifiedEmail));
    }
    if !authority::sign_in_may_set_email(email, login.email_verified, domains) {
        return Ok(Err(Refusal::UnverifiedDomain));
    }
    if let Some(user) = user_reads::user_by_email(tx, tenant, email).await? {
        users::insert_identity(tx, tenant, connection, subject, user.id, now).await?;
        return Ok(Ok((user, Outcome::Linked)));
    }
    if !login.jit {
        return Ok(Err(Refusal::NotProvisioned));
    }
    let user = UserRow {
        email_verified: true,
        ..new_user(tenant, email, UserStatus::Active, UserSource::Sso, now)
    };
    users::insert_user(tx, &user, None).await?;
    users::insert_identity(tx, tenant, connection, subject, user.id, now).await?;
    if let Some(role) = &login.default_role {
        let row = (role.clone(), String::new(), String::new());
        roles::set_roles(tx, tenant, user.id, RoleSource::Manual, &[row], now).await?;
    }
    Ok(Ok((user, Outcome::Provisioned)))
}

/// Applies a sign-in inside `tx`. `domains` are the tenant's verified domains.
pub async fn reconcile(
    tx: &mut Tx,
    tenant: TenantId,
    login: &SignIn,
    domains: &[String],
    now: Timestamp,
) -> Result<Result<Reconciled, Refusal>, crate::Error> {
    let (mut user, outcome) = match find_or_create(tx, tenant, login, domains, now).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if user.status == UserStatus::Deactivated {
        return Ok(Err(Refusal::Deactivated));
    }
    let old_groups = memberships::sso_memberships(tx, tenant, user.id).await?;
    let old_sso_roles = roles::roles_from(tx, tenant, user.id, RoleSource::Sso).await?;
    let scim_roles = roles::roles_from(tx, tenant, user.id, RoleSource::Scim).await?;
    let old_roles = union(&old_sso_roles, &scim_roles);
    let before = (outcome != Outcome::Provisioned).then(|| {
        let names: Vec<String> = old_groups.iter().map(|(_, e)| e.clone()).collect();
        user_json(&user, &names, &old_roles)
    });

    if authority::sign_in_refreshes_profile(&user) {
        authority::profile_after_sign_in(&user, &login.profile, login.email_verified, domains)
            .apply_to(&mut user);
    }
    user.status = authority::status_after_sign_in(user.status);
    user.updated_at = now;
    user.last_login_at = Some(now);
    // An existing identity's last sign-in is stamped in the same write (a new one was just
    // inserted with it).
    let touch =
        (outcome == Outcome::Existing).then_some((login.connection, login.subject.as_str()));
    users::update_after_sign_in(tx, &user, touch).await?;

    let wanted: BTreeSet<&str> = login.groups.iter().map(String::as_str).collect();
    for (group, external) in &old_groups {
        if !wanted.contains(external.as_str()) {
            memberships::remove_member(tx, tenant, *group, user.id).await?;
        }
    }
    let mut joined = Vec::new();
    for external in &wanted {
        // Memberships the user already has stay as they are: no write.
        if old_groups.iter().any(|(_, e)| e == external) {
            joined.push(external.to_string());
            continue;
        }
        let (group, source) = groups::ensure_group(tx, tenant, external, now).await?;
        if authority::sign_in_may_join(source) {
            memberships::add_member(tx, tenant, group, user.id).await?;
            joined.push(external.to_string());
        }
    }
    let roles: Vec<RoleRow> = login
        .roles
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Both sides sorted the same way (Rust's order, whatever the database collation).
    let mut unchanged = old_sso_roles;
    unchanged.sort();
    if roles != unchanged {
        roles::set_roles(tx, tenant, user.id, RoleSource::Sso, &roles, now).await?;
    }
    // The user's effective roles: these plus any their SCIM groups give (and the default
    // role a new user just got).
    let mut effective = union(&roles, &scim_roles);
    if let (Outcome::Provisioned, Some(role)) = (outcome, &login.default_role) {
        effective = union(&effective, &[(role.clone(), String::new(), String::new())]);
    }
    let after = user_json(&user, &joined, &effective);
    Ok(Ok(Reconciled {
        user,
        outcome,
        before,
        after,
    }))
}
