//! `/Groups`: SCIM groups and their members (users of the tenant; nested groups are refused).
//! A group's key, which SSO logins and role mappers name it by, is its externalId when the
//! client gives one (Entra ID: the object id its tokens carry) and else its displayName
//! (Okta: the name its assertions carry); a create whose key matches a group SSO logins
//! made adopts that group. Every membership change re-derives the affected users' SCIM
//! roles through the tenant's role mapper (see [`membership`]: planned before the write
//! transaction, applied in it).

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::error::{ScimError, ScimType};
use super::list::ListQuery;
use super::membership;
use super::params::Params;
use super::prefilter;
use super::request::{self, check_if_match, key_of, name_value, Provisioner, Reply, Request};
use super::schema::{GROUP, GROUP_ATTRS};
use super::validate;
use crate::audit::action::Action;
use crate::audit::Target;
use crate::directory::scim_groups;
use crate::services::Services;
use crate::store::groups::{self as sql, ScimGroupRow};
use crate::store::memberships;
use crate::types::{GroupId, UserId};

/// A group as the client wrote it, checked.
struct Written {
    display_name: String,
    external_id: Option<String>,
    /// Member user ids as the client wrote them, without duplicates.
    members: BTreeSet<String>,
    rest: Map<String, Value>,
}

impl Written {
    fn key(&self) -> String {
        self.external_id
            .clone()
            .unwrap_or_else(|| self.display_name.clone())
    }
}

fn parse(input: &Value) -> Result<Written, ScimError> {
    let mut rest = validate::check(input, GROUP, GROUP_ATTRS, &[])?;
    let display_name = name_value(&rest, "displayName", true)?.unwrap_or_default();
    let external_id = name_value(&rest, "externalId", false)?;
    let mut members = BTreeSet::new();
    if let Some(Value::Array(list)) = rest.get("members") {
        for m in list {
            if let Some(kind) = m.get("type").and_then(Value::as_str) {
                if !kind.eq_ignore_ascii_case("User") {
                    return Err(ScimError::bad_request(
                        ScimType::InvalidValue,
                        "only users can be members; nested groups are not supported",
                    ));
                }
            }
            let value = m.get("value").and_then(Value::as_str).ok_or_else(|| {
                ScimError::bad_request(
                    ScimType::InvalidValue,
                    "each member needs a `value` (a user id)",
                )
            })?;
            members.insert(value.to_string());
        }
    }
    for owned in ["displayName", "externalId", "members", "schemas"] {
        rest.remove(owned);
    }
    Ok(Written {
        display_name,
        external_id,
        members,
        rest,
    })
}

/// The group as SCIM shows it.
fn render(row: &ScimGroupRow, members: &[(UserId, String)], base: &str) -> Value {
    let mut map: Map<String, Value> = serde_json::from_str(&row.json).unwrap_or_default();
    let id = row.id.to_string();
    map.insert("schemas".into(), json!([GROUP]));
    map.insert("id".into(), json!(id));
    if let Some(e) = &row.external_id {
        map.insert("externalId".into(), json!(e));
    }
    map.insert("displayName".into(), json!(row.display_name));
    if !members.is_empty() {
        let list: Vec<Value> = members
            .iter()
            .map(|(u, label)| json!({"value": u.to_string(), "display": label, "$ref": format!("{base}/Users/{u}"), "type": "User"}))
            .collect();
        map.insert("members".into(), Value::Array(list));
    }
    map.insert(
        "meta".into(),
        request::meta(
            "Group",
            format!("{base}/Groups/{id}"),
            row.created_at.to_rfc3339(),
            row.updated_at.to_rfc3339(),
            row.version,
        ),
    );
    Value::Object(map)
}

/// Whether a listing needs members: unless they are excluded and nothing filters or sorts
/// on them (Entra ID lists groups with `excludedAttributes=members`).
fn needs_members(q: &ListQuery) -> bool {
    let excluded = q
        .excluded
        .iter()
        .any(|a| a.name.eq_ignore_ascii_case("members"));
    let named = |text: String| text.to_ascii_lowercase().contains("members");
    !excluded
        || q.filter.as_ref().is_some_and(|f| named(format!("{f:?}")))
        || q.sort_by.as_ref().is_some_and(|s| named(s.to_string()))
}

pub async fn list(state: &Services, p: &Provisioner, q: &ListQuery) -> Result<Reply, ScimError> {
    let tenant = p.tenant();
    if q.filter.is_none() && q.sort_by.is_none() {
        // One page straight from the database, whatever the tenant's size.
        let total = sql::count_scim_groups(&state.store, tenant).await?;
        let (after, offset) = request::db_page(q);
        let mut rows =
            sql::scim_groups(&state.store, tenant, after.as_ref(), offset, q.count + 1).await?;
        let more = rows.len() > q.count;
        rows.truncate(q.count);
        let next = rows
            .last()
            .filter(|_| more)
            .map(|g| key_of(g.created_at, &g.id.to_string()));
        let resources = rendered(state, p, q, &rows).await?;
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        return Ok(Reply::json(
            200,
            request::page_of(resources, total, q, GROUP_ATTRS, next),
        ));
    }
    let cond = q
        .filter
        .as_ref()
        .and_then(|f| prefilter::condition(f, prefilter::Kind::Group));
    let max = state.config.scim.max_scan_rows;
    let rows = sql::scim_groups(
        &state.store,
        tenant,
        cond.as_ref(),
        0,
        max.saturating_add(1),
    )
    .await?;
    if rows.len() > max {
        return Err(request::too_many(max));
    }
    let resources = rendered(state, p, q, &rows).await?;
    let keyed = rows
        .iter()
        .map(|g| key_of(g.created_at, &g.id.to_string()))
        .zip(resources)
        .collect();
    Ok(Reply::json(200, request::page(keyed, q, GROUP_ATTRS)))
}

/// `rows` as SCIM shows them, with their members when the listing needs them.
async fn rendered(
    state: &Services,
    p: &Provisioner,
    q: &ListQuery,
    rows: &[ScimGroupRow],
) -> Result<Vec<Value>, ScimError> {
    let mut by_group: std::collections::HashMap<GroupId, Vec<(UserId, String)>> =
        Default::default();
    if needs_members(q) {
        let ids: Vec<GroupId> = rows.iter().map(|g| g.id).collect();
        for (g, u, label) in memberships::members_of_groups(&state.store, p.tenant(), &ids).await? {
            by_group.entry(g).or_default().push((u, label));
        }
    }
    Ok(rows
        .iter()
        .map(|g| {
            render(
                g,
                by_group.get(&g.id).map(Vec::as_slice).unwrap_or(&[]),
                &p.base,
            )
        })
        .collect())
}

pub async fn get(
    state: &Services,
    p: &Provisioner,
    id: &str,
    params: &Params,
    req: &Request,
) -> Result<Reply, ScimError> {
    let row = sql::scim_group(&state.store, p.tenant(), id)
        .await?
        .ok_or_else(|| ScimError::not_found("group"))?;
    if let Some(cached) = request::not_modified(req, row.version) {
        return Ok(cached);
    }
    let members: Vec<(UserId, String)> =
        memberships::members_of_groups(&state.store, p.tenant(), &[row.id])
            .await?
            .into_iter()
            .map(|(_, u, l)| (u, l))
            .collect();
    request::resource_reply(
        200,
        &render(&row, &members, &p.base),
        row.version,
        GROUP_ATTRS,
        params,
    )
}

/// The wanted members as users of the tenant; an unknown id is the client's error.
async fn resolve_members(
    state: &Services,
    p: &Provisioner,
    wanted: &BTreeSet<String>,
) -> Result<BTreeSet<UserId>, ScimError> {
    // Ids are UUIDs, which clients may write in any case: compare them in our spelling.
    let canonical = |w: &String| w.parse::<UserId>().map(|u| u.to_string()).ok();
    if let Some(bad) = wanted.iter().find(|w| canonical(w).is_none()) {
        return Err(no_user(bad));
    }
    let ids: Vec<String> = wanted.iter().filter_map(canonical).collect();
    let found = memberships::member_candidates(&state.store, p.tenant(), &ids).await?;
    let known: BTreeSet<String> = found.iter().map(|(u, _)| u.to_string()).collect();
    if let Some(missing) = ids.iter().find(|w| !known.contains(w.as_str())) {
        return Err(no_user(missing));
    }
    Ok(found.into_iter().map(|(u, _)| u).collect())
}

fn no_user(id: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidValue,
        format!("no user with id `{}`", crate::types::truncate(id, 64)),
    )
}

pub async fn create(
    state: &Services,
    p: &Provisioner,
    body: &Value,
    params: &Params,
) -> Result<Reply, ScimError> {
    let written = parse(body)?;
    let tenant = p.tenant();
    let key = written.key();
    for _ in 0..membership::MAX_ATTEMPTS {
        let now = state.clock.now();
        let wanted = resolve_members(state, p, &written.members).await?;
        // A group SSO logins made under this key is adopted: its members make way for the
        // client's list. It was not a SCIM group, so nobody's SCIM keys carried it.
        let adopted = sql::sso_group_by_key(&state.store, tenant, &key).await?;
        let current: BTreeSet<UserId> = match adopted {
            Some(id) => memberships::members(&state.store, tenant, id)
                .await?
                .into_iter()
                .map(|(u, _)| u)
                .collect(),
            None => BTreeSet::new(),
        };
        let sides = membership::Sides {
            old_key: None,
            new_key: Some(&key),
            current: &current,
            wanted: &wanted,
        };
        let plan = membership::plan(state, p, sides).await?;
        let row = ScimGroupRow {
            id: adopted.unwrap_or_else(GroupId::generate),
            tenant_id: tenant,
            key: key.clone(),
            display_name: written.display_name.clone(),
            external_id: written.external_id.clone(),
            json: Value::Object(written.rest.clone()).to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = state.store.begin().await?;
        if sql::sso_group_by_key(&mut tx, tenant, &key).await? != adopted
            || !membership::still_holds(&mut tx, p, &plan).await?
        {
            continue;
        }
        scim_groups::create(&mut tx, &row, adopted.is_some()).await?;
        if !membership::write(&mut tx, p, row.id, &plan, now).await? {
            continue;
        }
        let listed = memberships::members(&mut tx, tenant, row.id).await?;
        let resource = render(&row, &listed, &p.base);
        request::audit(
            &mut tx,
            now,
            p,
            Action::ScimGroupCreated,
            Target::new("group", row.id),
            None,
            Some(&resource),
        )
        .await?;
        tx.commit().await?;
        return request::resource_reply(201, &resource, row.version, GROUP_ATTRS, params);
    }
    Err(membership::busy())
}

pub async fn replace(
    state: &Services,
    p: &Provisioner,
    id: &str,
    body: &Value,
    params: &Params,
    req: &Request,
) -> Result<Reply, ScimError> {
    parse(body)?;
    update(state, p, id, params, req, |_| parse(body)).await
}

pub async fn patch(
    state: &Services,
    p: &Provisioner,
    id: &str,
    body: &Value,
    params: &Params,
    req: &Request,
) -> Result<Reply, ScimError> {
    update(state, p, id, params, req, |current| {
        parse(&request::patched(
            current,
            body,
            GROUP_ATTRS,
            &["id", "meta"],
        )?)
    })
    .await
}

async fn update(
    state: &Services,
    p: &Provisioner,
    id: &str,
    params: &Params,
    req: &Request,
    change: impl Fn(&Value) -> Result<Written, ScimError>,
) -> Result<Reply, ScimError> {
    let tenant = p.tenant();
    for _ in 0..membership::MAX_ATTEMPTS {
        // Read, apply the client's change and plan the membership change, all outside the
        // write transaction; the transaction then checks the group is still that version.
        let now = state.clock.now();
        let old = sql::scim_group(&state.store, tenant, id)
            .await?
            .ok_or_else(|| ScimError::not_found("group"))?;
        check_if_match(req, old.version)?;
        let old_members = memberships::members(&state.store, tenant, old.id).await?;
        let before = render(&old, &old_members, &p.base);
        let written = change(&before)?;
        let wanted = resolve_members(state, p, &written.members).await?;
        let current: BTreeSet<UserId> = old_members.iter().map(|(u, _)| *u).collect();
        let mut row = old.clone();
        row.key = written.key();
        row.display_name = written.display_name.clone();
        row.external_id = written.external_id.clone();
        row.json = Value::Object(written.rest.clone()).to_string();
        let same_fields = row.key == old.key
            && row.display_name == old.display_name
            && row.external_id == old.external_id
            && row.json == old.json;
        if same_fields && wanted == current {
            return request::resource_reply(200, &before, old.version, GROUP_ATTRS, params);
        }
        row.version = old.version + 1;
        row.updated_at = now;
        let sides = membership::Sides {
            old_key: Some(&old.key),
            new_key: Some(&row.key),
            current: &current,
            wanted: &wanted,
        };
        let plan = membership::plan(state, p, sides).await?;
        let mut tx = state.store.begin().await?;
        let locked = sql::scim_group_for_update(&mut tx, tenant, id)
            .await?
            .ok_or_else(|| ScimError::not_found("group"))?;
        if locked.version != old.version || !membership::still_holds(&mut tx, p, &plan).await? {
            continue;
        }
        scim_groups::update(&mut tx, &row).await?;
        if !membership::write(&mut tx, p, row.id, &plan, now).await? {
            continue;
        }
        let listed = memberships::members(&mut tx, tenant, row.id).await?;
        let after = render(&row, &listed, &p.base);
        request::audit(
            &mut tx,
            now,
            p,
            Action::ScimGroupUpdated,
            Target::new("group", row.id),
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        return request::resource_reply(200, &after, row.version, GROUP_ATTRS, params);
    }
    Err(membership::busy())
}

pub async fn delete(
    state: &Services,
    p: &Provisioner,
    id: &str,
    req: &Request,
) -> Result<Reply, ScimError> {
    let tenant = p.tenant();
    for _ in 0..membership::MAX_ATTEMPTS {
        let now = state.clock.now();
        let old = sql::scim_group(&state.store, tenant, id)
            .await?
            .ok_or_else(|| ScimError::not_found("group"))?;
        check_if_match(req, old.version)?;
        let members = memberships::members(&state.store, tenant, old.id).await?;
        let before = render(&old, &members, &p.base);
        let current: BTreeSet<UserId> = members.iter().map(|(u, _)| *u).collect();
        let sides = membership::Sides {
            old_key: Some(&old.key),
            new_key: None,
            current: &current,
            wanted: &BTreeSet::new(),
        };
        let plan = membership::plan(state, p, sides).await?;
        let mut tx = state.store.begin().await?;
        let locked = sql::scim_group_for_update(&mut tx, tenant, id)
            .await?
            .ok_or_else(|| ScimError::not_found("group"))?;
        if locked.version != old.version
            || !membership::still_holds(&mut tx, p, &plan).await?
            || !membership::write(&mut tx, p, old.id, &plan, now).await?
        {
            continue;
        }
        scim_groups::delete(&mut tx, tenant, old.id).await?;
        request::audit(
            &mut tx,
            now,
            p,
            Action::ScimGroupDeleted,
            Target::new("group", old.id),
            Some(&before),
            None,
        )
        .await?;
        tx.commit().await?;
        return Ok(Reply::empty(204, None));
    }
    Err(membership::busy())
}
