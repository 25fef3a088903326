//! A change to one group's members, in two steps so that nothing slow runs inside the write
//! transaction (on SQLite, the node's one writer). [`plan`] reads outside any transaction:
//! who joins and who leaves, what each affected user's SCIM group keys become, and the SCIM
//! roles the tenant's role mapper derives from them (a plugin call per batch). Inside the
//! transaction, [`still_holds`] checks that nothing the plan was made from changed (else the
//! caller plans again), and [`write`] writes memberships, user versions and roles in a few
//! batched statements whatever the number of members.

use std::collections::{BTreeMap, BTreeSet};

use super::error::{ScimError, ScimType};
use super::request::Provisioner;
use crate::directory::provision;
use crate::directory::scim_groups::{self, MemberChange};
use crate::services::Services;
use crate::store::{memberships, user_reads, Tx};
use crate::types::{GroupId, Timestamp, UserId};

/// Most users one request may add to or remove from a group (or re-key): bounds the work of
/// one write transaction and of the role mapping before it. A larger change is a series of
/// PATCH requests.
pub const MAX_MEMBER_CHANGES: usize = 1_000;

/// How often a change is planned again when someone changed what it was planned from.
pub const MAX_ATTEMPTS: usize = 3;

/// A planned membership change of one group.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Who joins, who leaves, and the affected users' SCIM roles after the change.
    change: MemberChange,
    /// Everyone whose SCIM group keys (and so roles) the change touches.
    affected: Vec<UserId>,
    /// Each affected user's SCIM group keys as read when planning.
    keys_before: BTreeMap<UserId, BTreeSet<String>>,
}

/// The group's membership before and after, by key: `old_key` is what the group's current
/// members carry (none when the group is not a SCIM group yet), `new_key` what the wanted
/// members will carry (none when the group goes away).
pub(super) struct Sides<'a> {
    pub old_key: Option<&'a str>,
    pub new_key: Option<&'a str>,
    pub current: &'a BTreeSet<UserId>,
    pub wanted: &'a BTreeSet<UserId>,
}

fn group_keys(pairs: Vec<(UserId, String)>) -> BTreeMap<UserId, BTreeSet<String>> {
    let mut keys: BTreeMap<UserId, BTreeSet<String>> = BTreeMap::new();
    for (user, key) in pairs {
        keys.entry(user).or_default().insert(key);
    }
    keys
}

/// Plans the change from `sides`, reading outside any transaction.
pub(super) async fn plan(
    state: &Services,
    p: &Provisioner,
    sides: Sides<'_>,
) -> Result<Plan, ScimError> {
    let tenant = p.tenant();
    let added: Vec<UserId> = sides.wanted.difference(sides.current).copied().collect();
    let removed: Vec<UserId> = sides.current.difference(sides.wanted).copied().collect();
    let rekeyed = sides.old_key.is_some() && sides.old_key != sides.new_key;
    let mut affected: BTreeSet<UserId> = added.iter().chain(&removed).copied().collect();
    if rekeyed {
        affected.extend(sides.wanted.intersection(sides.current));
    }
    if affected.len() > MAX_MEMBER_CHANGES {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!(
                "this request changes the membership of {} users; at most {MAX_MEMBER_CHANGES} \
                 per request (send the rest in further PATCH requests)",
                affected.len()
            ),
        ));
    }
    let affected: Vec<UserId> = affected.into_iter().collect();
    let keys_before =
        group_keys(memberships::group_keys_of_users(&state.store, tenant, &affected).await?);
    let mut keys_after = keys_before.clone();
    for user in &affected {
        let keys = keys_after.entry(*user).or_default();
        if let Some(old) = sides.old_key.filter(|_| sides.current.contains(user)) {
            keys.remove(old);
        }
        if let Some(new) = sides.new_key.filter(|_| sides.wanted.contains(user)) {
            keys.insert(new.to_string());
        }
    }
    let users = user_reads::users_by_ids(&state.store, tenant, &affected).await?;
    let roles = provision::scim_roles(state, tenant, &p.ctx, &users, &keys_after).await?;
    Ok(Plan {
        change: MemberChange {
            added,
            removed,
            roles,
        },
        affected,
        keys_before,
    })
}

/// Whether what `plan` was made from still holds inside `tx`: every affected user has the
/// SCIM group keys it had when planning. `false`: another request changed them meanwhile;
/// the caller drops `tx` and plans again. Call it before writing the group row itself.
pub(super) async fn still_holds(
    tx: &mut Tx,
    p: &Provisioner,
    plan: &Plan,
) -> Result<bool, ScimError> {
    let keys_now =
        group_keys(memberships::group_keys_of_users(&mut *tx, p.tenant(), &plan.affected).await?);
    Ok(keys_now == plan.keys_before)
}

/// Writes `plan` for `group` inside `tx` (see [`scim_groups::change_members`]). `false`:
/// changed meanwhile; the caller drops `tx` and plans again.
pub(super) async fn write(
    tx: &mut Tx,
    p: &Provisioner,
    group: GroupId,
    plan: &Plan,
    now: Timestamp,
) -> Result<bool, ScimError> {
    Ok(scim_groups::change_members(tx, p.tenant(), group, &plan.change, now).await?)
}

/// The answer when a change kept meeting concurrent changes.
pub(super) fn busy() -> ScimError {
    ScimError::new(
        409,
        None,
        "the group's members changed while this request was applied, several times; retry",
    )
}
