//! The directory: a tenant's users, their IdP identities, groups and role assignments.
//! [`reconcile`] applies what the sign-in pipeline made of a login: find the user by
//! (connection, subject), else link by email within the tenant's verified domains, else
//! create them just in time; then refresh the profile (unless SCIM owns it), SSO group
//! memberships and the SSO-derived role assignments. It never reactivates a deactivated
//! user. [`provision`] holds what SCIM changes imply beyond their rows (sessions cut off on
//! deprovisioning, SCIM-derived roles re-derived); the SCIM rows themselves are written by
//! `scim` through `store::scim`. A user's roles are the union of both sources.

pub mod provision;

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;

use crate::plugins::sign_in::Mapped;
use crate::store::directory::{self as sql, RoleRow, RoleSource, UserRow};
use crate::store::Tx;
use crate::types::{ConnectionId, TenantId, Timestamp, UserId};

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
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Deactivated => "user_deactivated",
            Refusal::UnverifiedDomain => "email_domain_not_verified",
            Refusal::UnverifiedEmail => "email_not_verified",
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

/// Applies a mapped sign-in inside `tx`. `domains` are the tenant's verified domains.
pub async fn reconcile(
    tx: &mut Tx,
    tenant: TenantId,
    connection: ConnectionId,
    mapped: &Mapped,
    domains: &[String],
    now: Timestamp,
) -> Result<Result<Reconciled, Refusal>, crate::Error> {
    let subject = mapped.identity.subject.as_str();
    let email = mapped.profile.email.to_lowercase();
    let (mut user, outcome) = match sql::user_by_identity(tx, tenant, connection, subject).await? {
        Some(user) => (user, Outcome::Existing),
        None => {
            if !mapped.identity.email_verified {
                return Ok(Err(Refusal::UnverifiedEmail));
            }
            let domain = email.rsplit('@').next().unwrap_or_default();
            if !domains.iter().any(|d| d == domain) {
                return Ok(Err(Refusal::UnverifiedDomain));
            }
            match sql::user_by_email(tx, tenant, &email).await? {
                Some(user) => {
                    sql::insert_identity(tx, tenant, connection, subject, user.id, now).await?;
                    (user, Outcome::Linked)
                }
                None => {
                    let user = UserRow {
                        id: UserId::generate(),
                        tenant_id: tenant,
                        email: email.clone(),
                        email_verified: true,
                        display_name: None,
                        given_name: None,
                        family_name: None,
                        locale: None,
                        timezone: None,
                        custom_json: "{}".into(),
                        status: "active".into(),
                        source: "sso".into(),
                        created_at: now,
                        updated_at: now,
                        last_login_at: None,
                    };
                    sql::insert_user(tx, &user).await?;
                    sql::insert_identity(tx, tenant, connection, subject, user.id, now).await?;
                    (user, Outcome::Provisioned)
                }
            }
        }
    };
    if user.status == "deactivated" {
        return Ok(Err(Refusal::Deactivated));
    }
    let old_groups: Vec<_> = sql::sso_memberships(tx, tenant, user.id).await?;
    let old_sso_roles = sql::roles_from(tx, tenant, user.id, RoleSource::Sso).await?;
    let scim_roles = sql::roles_from(tx, tenant, user.id, RoleSource::Scim).await?;
    let old_roles = union(&old_sso_roles, &scim_roles);
    let before = (outcome != Outcome::Provisioned).then(|| {
        let names: Vec<String> = old_groups.iter().map(|(_, e)| e.clone()).collect();
        user_json(&user, &names, &old_roles)
    });

    // SCIM owns the profile of users it created; a login only refreshes SSO-owned ones.
    if user.source != "scim" {
        apply_profile(&mut user, mapped, domains);
    }
    if user.status == "pending" {
        user.status = "active".into();
    }
    user.updated_at = now;
    user.last_login_at = Some(now);
    // An existing identity's last sign-in is stamped in the same write (a new one was just
    // inserted with it).
    let touch = (outcome == Outcome::Existing).then_some((connection, subject));
    sql::update_user(tx, &user, touch).await?;

    let wanted: BTreeSet<&str> = mapped.identity.groups.iter().map(String::as_str).collect();
    for (group, external) in &old_groups {
        if !wanted.contains(external.as_str()) {
            sql::remove_member(tx, tenant, *group, user.id).await?;
        }
    }
    let mut groups = Vec::new();
    for external in &wanted {
        // Memberships the user already has stay as they are: no write.
        if old_groups.iter().any(|(_, e)| e == external) {
            groups.push(external.to_string());
            continue;
        }
        let (group, source) = sql::ensure_group(tx, tenant, external, now).await?;
        // Membership of SCIM-managed groups is SCIM's to change.
        if source == "sso" {
            sql::add_member(tx, tenant, group, user.id).await?;
            groups.push(external.to_string());
        }
    }
    let roles: Vec<RoleRow> = mapped
        .roles
        .iter()
        .map(|r| match &r.scope {
            Some(s) => (r.role.clone(), s.kind.clone(), s.name.clone()),
            None => (r.role.clone(), String::new(), String::new()),
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Both sides sorted the same way (Rust's order, whatever the database collation).
    let mut unchanged = old_sso_roles;
    unchanged.sort();
    if roles != unchanged {
        sql::set_roles(tx, tenant, user.id, RoleSource::Sso, &roles, now).await?;
    }
    // The user's effective roles: these plus any their SCIM groups give.
    let effective = union(&roles, &scim_roles);
    let after = user_json(&user, &groups, &effective);
    Ok(Ok(Reconciled {
        user,
        outcome,
        before,
        after,
    }))
}

/// A directory user as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `active`, `pending` (provisioned, never signed in) or `deactivated`.
    pub status: String,
    /// Who manages the profile: `sso`, `scim` or `local`.
    pub source: String,
    /// Effective roles: `role` or `role@kind:name`.
    pub roles: Vec<String>,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// One user of the tenant, with its effective roles.
pub async fn view(
    state: &crate::app::AppState,
    auth: &crate::rbac::Authorized<crate::rbac::ReadTenant>,
    id: UserId,
) -> Result<UserView, crate::Error> {
    let tenant = auth.tenant();
    let u = sql::user(&state.store, tenant, id)
        .await?
        .ok_or(crate::Error::NotFound("user"))?;
    let roles = sql::roles_of(&state.store, tenant, id).await?;
    Ok(UserView {
        id: u.id,
        email: u.email,
        email_verified: u.email_verified,
        display_name: u.display_name,
        given_name: u.given_name,
        family_name: u.family_name,
        status: u.status,
        source: u.source,
        roles: roles.iter().map(role_label).collect(),
        created_at: u.created_at,
        last_login_at: u.last_login_at,
    })
}

fn role_label((r, k, n): &RoleRow) -> String {
    if k.is_empty() {
        r.clone()
    } else {
        format!("{r}@{k}:{n}")
    }
}

/// Both lists' assignments, sorted, without duplicates.
fn union(a: &[RoleRow], b: &[RoleRow]) -> Vec<RoleRow> {
    a.iter()
        .chain(b)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Refreshes the profile from a login. The email changes only to an IdP-verified address in
/// one of the tenant's verified domains; otherwise the old one stays.
fn apply_profile(user: &mut UserRow, mapped: &Mapped, domains: &[String]) {
    let p = &mapped.profile;
    let email = p.email.to_lowercase();
    let domain = email.rsplit('@').next().unwrap_or_default();
    if mapped.identity.email_verified && domains.iter().any(|d| d == domain) {
        user.email = email;
        user.email_verified = true;
    }
    user.display_name = p.display_name.clone();
    user.given_name = p.given_name.clone();
    user.family_name = p.family_name.clone();
    user.locale = p.locale.clone();
    user.timezone = p.timezone.clone();
    let custom: serde_json::Map<String, serde_json::Value> = p
        .custom
        .iter()
        .map(|a| (a.name.clone(), json!(a.values)))
        .collect();
    user.custom_json = serde_json::Value::Object(custom).to_string();
}
