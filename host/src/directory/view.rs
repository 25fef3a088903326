//! Reading users as the admin API shows them: one user with profile, status, source and
//! effective roles, or a page of a search (status, source, role, group, text).

use serde::Serialize;

use super::record::role_label;
use crate::rbac::{Authorized, ReadUsers};
use crate::store::user_search::{self, UserQuery};
use crate::store::users::UserRow;
use crate::store::users::{UserSource, UserStatus};
use crate::store::{roles, user_reads, Store};
use crate::types::{Timestamp, UserId};

/// A directory user as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `active`, `pending` (provisioned, never signed in) or `deactivated`.
    pub status: UserStatus,
    /// Who manages the profile: `sso`, `scim` or `local`.
    pub source: UserSource,
    /// Effective roles: `role` or `role@kind:name`.
    pub roles: Vec<String>,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// Most users one page of a search returns.
pub const MAX_PAGE: usize = 200;

/// The admin's search: every part given must hold.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// Only users with this status.
    pub status: Option<UserStatus>,
    /// Only users from this source.
    pub source: Option<UserSource>,
    /// Only users holding this role (from any source).
    pub role: Option<String>,
    /// Only members of this group.
    pub group: Option<crate::types::GroupId>,
    /// Email or display name contains this (case-insensitive).
    pub q: Option<String>,
    /// The previous page's `next`.
    pub after: Option<UserId>,
    /// 1–200, default 50.
    pub limit: Option<usize>,
}

/// A page of users and, when there may be more, where the next page starts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = UserPage)]
pub struct Page {
    pub users: Vec<UserView>,
    pub next: Option<UserId>,
}

fn to_view(u: UserRow, roles: &[roles::RoleRow]) -> UserView {
    UserView {
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
    }
}

/// The tenant's users matching `search`, in id (creation) order.
pub async fn search(
    store: &Store,
    auth: &Authorized<ReadUsers>,
    search: Search,
) -> Result<Page, crate::Error> {
    let limit = search.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(crate::Error::invalid("limit", format!("1–{MAX_PAGE}")));
    }
    for (field, value, max) in [("q", &search.q, 200), ("role", &search.role, 256)] {
        if value.as_ref().is_some_and(|v| v.len() > max) {
            return Err(crate::Error::invalid(field, format!("at most {max} bytes")));
        }
    }
    let tenant = auth.tenant();
    let query = UserQuery {
        status: search.status,
        source: search.source,
        role: search.role,
        group: search.group,
        text: search.q.filter(|q| !q.trim().is_empty()),
        after: search.after,
        limit,
    };
    let rows = user_search::search(store, tenant, &query).await?;
    let ids: Vec<UserId> = rows.iter().map(|u| u.id).collect();
    let roles = user_search::roles_of_users(store, tenant, &ids).await?;
    let next = (rows.len() == limit).then(|| ids.last().copied()).flatten();
    let users = rows
        .into_iter()
        .map(|u| {
            let held = roles.get(&u.id).map(Vec::as_slice).unwrap_or_default();
            to_view(u, held)
        })
        .collect();
    Ok(Page { users, next })
}

/// One user of the tenant, with its effective roles.
pub async fn view(
    store: &Store,
    auth: &Authorized<ReadUsers>,
    id: UserId,
) -> Result<UserView, crate::Error> {
    let tenant = auth.tenant();
    let u = user_reads::user(store, tenant, id)
        .await?
        .ok_or(crate::Error::NotFound("user"))?;
    let roles = roles::roles_of(store, tenant, id).await?;
    Ok(to_view(u, &roles))
}
