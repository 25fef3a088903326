//! `/Users`: SCIM users as directory users. A SCIM-created user is *pending* (no password:
//! only an SSO login can sign them in, and the first one links to them by email); `active:
//! false` deactivates at once (sessions revoked, pending codes dropped, in the same
//! transaction); `active: true` reactivates. A PATCH that removes `active` leaves the
//! account as it is (removing is no instruction to reactivate or deactivate) and the
//! attribute unassigned, as RFC 7644 §3.5.2.2 says, until a client writes it again; a
//! create or PUT without it means `true`. A create whose email belongs to a user an SSO
//! login made adopts that user. The resource the client wrote is kept as written (minus
//! what the server owns); the profile columns (email, names, locale, time zone) are derived
//! from it, and SSO logins never overwrite them.

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::list::ListQuery;
use super::params::Params;
use super::prefilter;
use super::request::{self, check_if_match, key_of, name_value, Provisioner, Reply, Request};
use super::schema::{ENTERPRISE_USER, USER, USER_ATTRS};
use super::validate;
use crate::audit::action::Action;
use crate::audit::Target;
use crate::directory::scim_users::{self, Created, Lifecycle, Written as Done};
use crate::directory::Profile;
use crate::services::Services;
use crate::store::users::{ScimIdentity, ScimUserRow, UserStatus};
use crate::store::{memberships, user_reads};
use crate::types::{GroupId, Timestamp, UserId};

/// A user as the client wrote it, checked.
struct Written {
    user_name: String,
    external_id: Option<String>,
    /// `active` as written; `None` when it is not (a create or PUT takes that as `true`).
    active: Option<bool>,
    /// Everything else the client wrote (schema spelling; no server-owned attributes).
    rest: Map<String, Value>,
}

fn parse(input: &Value) -> Result<Written, ScimError> {
    let mut rest = validate::check(input, USER, USER_ATTRS, &[ENTERPRISE_USER])?;
    let user_name = name_value(&rest, "userName", true)?.unwrap_or_default();
    let external_id = name_value(&rest, "externalId", false)?;
    let active = rest.get("active").and_then(Value::as_bool);
    for owned in ["userName", "externalId", "active", "schemas"] {
        rest.remove(owned);
    }
    Ok(Written {
        user_name,
        external_id,
        active,
        rest,
    })
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The address a user is known by: the primary email, else a work one, else the first; else
/// the userName (Okta's userName is the email). Lower-cased.
fn email_of(w: &Written) -> String {
    let emails = w.rest.get("emails").and_then(Value::as_array);
    let pick = emails.and_then(|list| {
        list.iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| {
                list.iter()
                    .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
            })
            .or_else(|| list.first())
    });
    text(pick.and_then(|e| e.get("value")))
        .unwrap_or_else(|| w.user_name.clone())
        .to_lowercase()
}

/// The directory profile derived from what the client wrote.
fn profile_of(w: &Written, domains: &[String]) -> Profile {
    let email = email_of(w);
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let name = w.rest.get("name");
    let given_name = text(name.and_then(|n| n.get("givenName")));
    let family_name = text(name.and_then(|n| n.get("familyName")));
    let display_name = text(w.rest.get("displayName"))
        .or_else(|| text(name.and_then(|n| n.get("formatted"))))
        .or_else(|| match (&given_name, &family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            _ => None,
        });
    Profile {
        // The tenant's own IdP provisioned it; it is verified when its domain is the tenant's.
        email_verified: domains.iter().any(|d| d == domain),
        email,
        display_name,
        given_name,
        family_name,
        locale: text(w.rest.get("locale")).or_else(|| text(w.rest.get("preferredLanguage"))),
        timezone: text(w.rest.get("timezone")),
        custom_json: None,
    }
}

/// The SCIM identity of what the client wrote, with the rest of the resource as `rest`.
fn identity_of(w: &Written, rest: Map<String, Value>) -> ScimIdentity {
    ScimIdentity {
        user_name: w.user_name.clone(),
        external_id: w.external_id.clone(),
        json: Value::Object(rest).to_string(),
        version: 1,
    }
}

/// What the stored resource holds as `active` once a PATCH removed it. The stored resource
/// otherwise never holds `active`: the account's status is its value.
const UNASSIGNED: Value = Value::Null;

/// The user as SCIM shows it.
fn render(row: &ScimUserRow, groups: &[(GroupId, String)], base: &str) -> Value {
    let mut map: Map<String, Value> = serde_json::from_str(&row.scim.json).unwrap_or_else(|e| {
        tracing::error!(user = %row.user.id, error = %e, "stored SCIM user does not parse");
        Map::new()
    });
    let mut schemas = vec![json!(USER)];
    if map.contains_key(ENTERPRISE_USER) {
        schemas.push(json!(ENTERPRISE_USER));
    }
    let id = row.user.id.to_string();
    map.insert("schemas".into(), Value::Array(schemas));
    map.insert("id".into(), json!(id));
    if let Some(e) = &row.scim.external_id {
        map.insert("externalId".into(), json!(e));
    }
    map.insert("userName".into(), json!(row.scim.user_name));
    // Stored as null: a PATCH removed it, and it stays unassigned (see `UNASSIGNED`).
    if map.get("active") == Some(&UNASSIGNED) {
        map.remove("active");
    } else {
        map.insert(
            "active".into(),
            json!(row.user.status != UserStatus::Deactivated),
        );
    }
    if !groups.is_empty() {
        let list: Vec<Value> = groups
            .iter()
            .map(|(g, name)| {
                json!({"value": g.to_string(), "display": name, "$ref": format!("{base}/Groups/{g}"), "type": "direct"})
            })
            .collect();
        map.insert("groups".into(), Value::Array(list));
    }
    map.insert(
        "meta".into(),
        request::meta(
            "User",
            format!("{base}/Users/{id}"),
            row.user.created_at.to_rfc3339(),
            row.user.updated_at.to_rfc3339(),
            row.scim.version,
        ),
    );
    Value::Object(map)
}

async fn groups_of(
    state: &Services,
    p: &Provisioner,
    user: UserId,
) -> Result<Vec<(GroupId, String)>, ScimError> {
    Ok(
        memberships::groups_of_users(&state.store, p.tenant(), &[user])
            .await?
            .into_iter()
            .map(|(_, g, name)| (g, name))
            .collect(),
    )
}

pub async fn list(state: &Services, p: &Provisioner, q: &ListQuery) -> Result<Reply, ScimError> {
    let tenant = p.tenant();
    if q.filter.is_none() && q.sort_by.is_none() {
        // One page straight from the database, whatever the tenant's size.
        let total = user_reads::count_scim_users(&state.store, tenant).await?;
        let (after, offset) = request::db_page(q);
        let mut rows =
            user_reads::scim_users(&state.store, tenant, after.as_ref(), offset, q.count + 1)
                .await?;
        let more = rows.len() > q.count;
        rows.truncate(q.count);
        let next = rows
            .last()
            .filter(|_| more)
            .map(|r| key_of(r.user.created_at, &r.user.id.to_string()));
        let resources = rendered(state, p, &rows).await?;
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        return Ok(Reply::json(
            200,
            request::page_of(resources, total, q, USER_ATTRS, next),
        ));
    }
    let cond = q
        .filter
        .as_ref()
        .and_then(|f| prefilter::condition(f, prefilter::Kind::User));
    let max = state.config.scim.max_scan_rows;
    let rows = user_reads::scim_users(
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
    let resources = rendered(state, p, &rows).await?;
    let keyed = rows
        .iter()
        .map(|r| key_of(r.user.created_at, &r.user.id.to_string()))
        .zip(resources)
        .collect();
    Ok(Reply::json(200, request::page(keyed, q, USER_ATTRS)))
}

/// `rows` as SCIM shows them, with their groups (a filter or sort may name `groups`).
async fn rendered(
    state: &Services,
    p: &Provisioner,
    rows: &[ScimUserRow],
) -> Result<Vec<Value>, ScimError> {
    let ids: Vec<UserId> = rows.iter().map(|r| r.user.id).collect();
    let mut by_user: std::collections::HashMap<UserId, Vec<(GroupId, String)>> = Default::default();
    for (u, g, name) in memberships::groups_of_users(&state.store, p.tenant(), &ids).await? {
        by_user.entry(u).or_default().push((g, name));
    }
    Ok(rows
        .iter()
        .map(|r| {
            render(
                r,
                by_user.get(&r.user.id).map(Vec::as_slice).unwrap_or(&[]),
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
    let row = user_reads::scim_user(&state.store, p.tenant(), id)
        .await?
        .ok_or_else(|| ScimError::not_found("user"))?;
    if let Some(cached) = request::not_modified(req, row.scim.version) {
        return Ok(cached);
    }
    let groups = groups_of(state, p, row.user.id).await?;
    request::resource_reply(
        200,
        &render(&row, &groups, &p.base),
        row.scim.version,
        USER_ATTRS,
        params,
    )
}

pub async fn create(
    state: &Services,
    p: &Provisioner,
    body: &Value,
    params: &Params,
) -> Result<Reply, ScimError> {
    let written = parse(body)?;
    let active = written.active.unwrap_or(true);
    let tenant = p.tenant();
    let domains = crate::tenancy::domains::verified(state, tenant).await?;
    let now = state.clock.now();
    let profile = profile_of(&written, &domains);
    let identity = identity_of(&written, written.rest.clone());
    let mut tx = state.store.begin().await?;
    let created = scim_users::create(&mut tx, tenant, &profile, identity, active, now).await?;
    let row = created.row();
    let resource = render(row, &[], &p.base);
    let before = match &created {
        Created::Adopted { before, .. } => Some(before),
        Created::New(_) => None,
    };
    request::audit(
        &mut tx,
        now,
        p,
        Action::ScimUserCreated,
        Target::new("user", row.user.id),
        before,
        Some(&resource),
    )
    .await?;
    tx.commit().await?;
    request::resource_reply(201, &resource, row.scim.version, USER_ATTRS, params)
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
    // A PUT without `active` means active (RFC 7643 §4.1.1 default).
    let replacement = || {
        let mut written = parse(body)?;
        written.active = Some(written.active.unwrap_or(true));
        Ok(written)
    };
    update(state, p, id, params, req, |_| replacement()).await
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
            USER_ATTRS,
            &["id", "groups", "meta"],
        )?)
    })
    .await
}

/// Loads the user, lets `change` turn its current resource into what the client wants, and
/// writes the difference: profile, SCIM identity, and the lifecycle step `active` implies.
async fn update(
    state: &Services,
    p: &Provisioner,
    id: &str,
    params: &Params,
    req: &Request,
    change: impl Fn(&Value) -> Result<Written, ScimError>,
) -> Result<Reply, ScimError> {
    let tenant = p.tenant();
    let domains = crate::tenancy::domains::verified(state, tenant).await?;
    let uid: UserId = id.parse().map_err(|_| ScimError::not_found("user"))?;
    // Memberships do not change in a user update: read them before taking the writer.
    let groups = groups_of(state, p, uid).await?;
    for _ in 0..super::membership::MAX_ATTEMPTS {
        // Read and apply the client's change outside the write transaction; the transaction
        // then checks the user is still that version.
        let now = state.clock.now();
        let old = user_reads::scim_user(&state.store, tenant, id)
            .await?
            .ok_or_else(|| ScimError::not_found("user"))?;
        check_if_match(req, old.scim.version)?;
        let before = render(&old, &groups, &p.base);
        let written = change(&before)?;
        let mut rest = written.rest.clone();
        if written.active.is_none() {
            rest.insert("active".into(), UNASSIGNED);
        }
        let profile = profile_of(&written, &domains);
        let identity = identity_of(&written, rest);
        let mut row = scim_users::updated(&old, &profile, identity, written.active);
        let same = row.scim == old.scim && row.user.status == old.user.status;
        if same {
            return request::resource_reply(200, &before, old.scim.version, USER_ATTRS, params);
        }
        row.scim.version = old.scim.version + 1;
        row.user.updated_at = now;
        let mut tx = state.store.begin().await?;
        let step = match scim_users::update(&mut tx, &old, &row, now).await? {
            Done::Done(step) => step,
            Done::Changed => continue,
            Done::Gone => return Err(ScimError::not_found("user")),
        };
        let action = match step {
            Lifecycle::Deactivated => Action::ScimUserDeactivated,
            Lifecycle::Reactivated => Action::ScimUserReactivated,
            Lifecycle::Updated => Action::ScimUserUpdated,
        };
        let after = render(&row, &groups, &p.base);
        request::audit(
            &mut tx,
            now,
            p,
            action,
            Target::new("user", row.user.id),
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        return request::resource_reply(200, &after, row.scim.version, USER_ATTRS, params);
    }
    Err(ScimError::new(
        409,
        None,
        "the user changed while this request was applied, several times; retry",
    ))
}

pub async fn delete(
    state: &Services,
    p: &Provisioner,
    id: &str,
    req: &Request,
) -> Result<Reply, ScimError> {
    let tenant = p.tenant();
    let now: Timestamp = state.clock.now();
    let mut tx = state.store.begin().await?;
    let old = user_reads::scim_user_for_update(&mut tx, tenant, id)
        .await?
        .ok_or_else(|| ScimError::not_found("user"))?;
    check_if_match(req, old.scim.version)?;
    let groups = groups_of(state, p, old.user.id).await?;
    let before = render(&old, &groups, &p.base);
    scim_users::delete(&mut tx, tenant, old.user.id).await?;
    request::audit(
        &mut tx,
        now,
        p,
        Action::ScimUserDeleted,
        Target::new("user", old.user.id),
        Some(&before),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::empty(204, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_email_is_the_primary_then_work_then_first_then_the_user_name() {
        let w = |v: Value| parse(&v).unwrap();
        let e = |v: Value| email_of(&w(v));
        assert_eq!(
            e(
                json!({"userName": "u", "emails": [{"value": "B@x", "type": "home"}, {"value": "a@x", "primary": true}]})
            ),
            "a@x"
        );
        assert_eq!(
            e(
                json!({"userName": "u", "emails": [{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "work"}]})
            ),
            "w@x"
        );
        assert_eq!(e(json!({"userName": "Bob@X.com"})), "bob@x.com");
        assert_eq!(
            w(json!({"userName": "u", "active": "False"})).active,
            Some(false)
        );
        assert_eq!(w(json!({"userName": "u"})).active, None);
        assert!(parse(&json!({"userName": "  "})).is_err());
        assert!(parse(&json!({"displayName": "no user name"})).is_err());
    }
}
