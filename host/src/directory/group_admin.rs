//! Groups an admin makes and fills by hand, for users no IdP drives (local users): create
//! one with the identifier the catalogue's group table (and an IdP, if it ever sends the
//! group) names it by, rename it, change that identifier, delete it, add and remove members.
//! A member gets what the group table maps the group to, at once (see
//! `rbac::compile::from_groups`). Groups SSO or SCIM manage are read-only here. Membership
//! confers roles, so changes need the roles permission, and a signed-in admin cannot put
//! anyone (themselves included) in a group that maps to Gatehouse power they lack.

use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, Action, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::validate::{name, MAX_NAME_BYTES};
use crate::rbac::{catalogue, Authorized, ReadUsers, WriteRoles};
use crate::services::Services;
use crate::store::groups::{self, GroupRow, GroupSource};
use crate::store::users::UserSource;
use crate::store::{memberships, user_reads};
use crate::types::{GroupId, TenantId, UserId};

/// Most groups one page lists.
pub const MAX_PAGE: usize = 200;

/// The body of `POST /api/v1/groups`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub display_name: String,
    /// The IdP's identifier for the group (default: the display name).
    pub external_id: Option<String>,
}

/// The body of `PATCH /api/v1/groups/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    pub display_name: Option<String>,
    pub external_id: Option<String>,
}

/// A page of groups and where the next starts.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = GroupPage)]
pub struct Page {
    pub groups: Vec<GroupRow>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<GroupId>,
}

pub async fn list(
    state: &Services,
    auth: &Authorized<ReadUsers>,
    after: Option<GroupId>,
    limit: Option<usize>,
) -> Result<Page, Error> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid("limit", format!("1–{MAX_PAGE}")));
    }
    let groups = groups::list_groups(&state.store, auth.tenant(), after, limit).await?;
    let next = (groups.len() == limit)
        .then(|| groups.last().map(|g| g.id))
        .flatten();
    Ok(Page { groups, next })
}

pub async fn get(
    state: &Services,
    auth: &Authorized<ReadUsers>,
    id: GroupId,
) -> Result<GroupRow, Error> {
    groups::group(&state.store, auth.tenant(), id)
        .await?
        .ok_or(Error::NotFound("group"))
}

/// Refuses a group's roles that a signed-in caller could not assign by hand.
async fn check_roles(
    state: &Services,
    auth: &Authorized<WriteRoles>,
    external_id: &str,
) -> Result<(), Error> {
    let catalogue = &catalogue::load(state, auth.tenant()).await?;
    let roles: Vec<&str> = catalogue
        .group_mappings
        .iter()
        .filter(|m| m.group_id == external_id)
        .map(|m| m.role.as_str())
        .collect();
    let app = crate::rbac::app_modules(state).await?;
    crate::rbac::assign::check_no_escalation(auth, catalogue, &app, &roles)
}

/// The audit event of a change to group `id`.
fn event(
    auth: &Authorized<WriteRoles>,
    action: Action,
    id: GroupId,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> NewEvent {
    NewEvent {
        chain: audit::Chain::Tenant(auth.tenant()),
        actor: auth.actor(),
        action,
        target: Target::new("group", id),
        before,
        after,
    }
}

pub async fn create(
    state: &Services,
    auth: &Authorized<WriteRoles>,
    ctx: &RequestContext,
    body: NewGroup,
) -> Result<GroupRow, Error> {
    name("display_name", &body.display_name, MAX_NAME_BYTES)?;
    let external_id = body
        .external_id
        .unwrap_or_else(|| body.display_name.clone());
    name("external_id", &external_id, MAX_NAME_BYTES)?;
    let now = state.clock.now();
    let row = GroupRow {
        id: GroupId::generate(),
        external_id,
        display_name: body.display_name,
        source: GroupSource::Manual,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.store.begin().await?;
    groups::insert_manual_group(&mut tx, auth.tenant(), &row).await?;
    let created = event(auth, Action::GroupCreated, row.id, None, Some(json!(row)));
    audit::record(&mut tx, now, ctx, created).await?;
    tx.commit().await?;
    Ok(row)
}

/// The admin-made group `id`; a group SSO or SCIM manages is a conflict.
async fn manual(state: &Services, tenant: TenantId, id: GroupId) -> Result<GroupRow, Error> {
    let group = groups::group(&state.store, tenant, id)
        .await?
        .ok_or(Error::NotFound("group"))?;
    if group.source != GroupSource::Manual {
        return Err(Error::Conflict(format!(
            "this group is managed by {}: change it there",
            match group.source {
                GroupSource::Scim => "your IdP's SCIM provisioning",
                _ => "your IdP's sign-ins",
            }
        )));
    }
    Ok(group)
}

pub async fn update(
    state: &Services,
    auth: &Authorized<WriteRoles>,
    ctx: &RequestContext,
    id: GroupId,
    change: GroupChange,
) -> Result<GroupRow, Error> {
    let tenant = auth.tenant();
    let before = manual(state, tenant, id).await?;
    let mut after = before.clone();
    if let Some(display_name) = change.display_name {
        name("display_name", &display_name, MAX_NAME_BYTES)?;
        after.display_name = display_name;
    }
    if let Some(external_id) = change.external_id {
        name("external_id", &external_id, MAX_NAME_BYTES)?;
        check_roles(state, auth, &external_id).await?;
        after.external_id = external_id;
    }
    after.updated_at = state.clock.now();
    let mut tx = state.store.begin().await?;
    groups::update_manual_group(&mut tx, tenant, &after).await?;
    let updated = event(
        auth,
        Action::GroupUpdated,
        id,
        Some(json!(before)),
        Some(json!(after)),
    );
    audit::record(&mut tx, after.updated_at, ctx, updated).await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn delete(
    state: &Services,
    auth: &Authorized<WriteRoles>,
    ctx: &RequestContext,
    id: GroupId,
) -> Result<(), Error> {
    let tenant = auth.tenant();
    let before = manual(state, tenant, id).await?;
    let mut tx = state.store.begin().await?;
    groups::delete_group(&mut tx, tenant, id).await?;
    let deleted = event(auth, Action::GroupDeleted, id, Some(json!(before)), None);
    audit::record(&mut tx, state.clock.now(), ctx, deleted).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds (`join`) or removes local user `user` to or from admin-made group `id`.
pub async fn set_member(
    state: &Services,
    auth: &Authorized<WriteRoles>,
    ctx: &RequestContext,
    id: GroupId,
    user: UserId,
    join: bool,
) -> Result<(), Error> {
    let tenant = auth.tenant();
    let group = manual(state, tenant, id).await?;
    let member = user_reads::user(&state.store, tenant, user)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if join {
        if member.source != UserSource::Local {
            return Err(Error::Conflict(format!(
                "this user is managed by your IdP ({}): add them to a group there",
                member.source
            )));
        }
        check_roles(state, auth, &group.external_id).await?;
    }
    let mut tx = state.store.begin().await?;
    let (action, label) = if join {
        memberships::add_member(&mut tx, tenant, id, user).await?;
        (Action::GroupMemberAdded, "added")
    } else {
        memberships::remove_member(&mut tx, tenant, id, user).await?;
        (Action::GroupMemberRemoved, "removed")
    };
    let detail = json!({"user": user, "email": member.email, label: true});
    audit::record(
        &mut tx,
        state.clock.now(),
        ctx,
        event(auth, action, id, None, Some(detail)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
