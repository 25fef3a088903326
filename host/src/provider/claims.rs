//! The claims about a user that ID tokens, access tokens, userinfo and introspection carry:
//! subject, tenant, roles and their scopes, the data classification, the permission version
//! (and with the `permissions` scope the matrix), email and profile by scope. `None` for a
//! user who is no longer active, so no token is minted or answered for them.

use serde_json::{json, Value};

use super::OAuthError;
use crate::services::Services;
use crate::store;
use crate::types::{TenantId, UserId};

/// Claims about the user that both tokens and userinfo carry.
pub(super) async fn user_claims(
    state: &Services,
    tenant: TenantId,
    user: UserId,
    scope: &str,
) -> Result<Option<serde_json::Map<String, Value>>, OAuthError> {
    let Some(u) = store::user_reads::user(&state.store, tenant, user).await? else {
        return Ok(None);
    };
    if u.status != crate::store::users::UserStatus::Active {
        return Ok(None);
    }
    let Some(t) = store::tenants::get(&state.store, tenant).await? else {
        return Ok(None);
    };
    // Roles as the permissions see them: every source, the default assignment for a user
    // with none, and `owner` for the tenant's owner.
    let Some(effective) = crate::rbac::effective::load(state, tenant, user).await? else {
        return Ok(None);
    };
    let mut role_names: Vec<&str> = effective.held.iter().map(|h| h.role.as_str()).collect();
    if effective.is_owner {
        role_names.push(crate::rbac::model::OWNER_ROLE);
    }
    role_names.sort();
    role_names.dedup();
    let distinct: std::collections::BTreeSet<(&str, Option<&crate::identity::ScopeRef>)> =
        effective
            .held
            .iter()
            .map(|h| (h.role.as_str(), h.scope.as_ref()))
            .collect();
    let assignments: Vec<Value> = distinct
        .into_iter()
        .map(|(role, scope)| match scope {
            None => json!({"role": role}),
            Some(s) => json!({"role": role, "scope": s}),
        })
        .collect();
    let mut c = serde_json::Map::new();
    c.insert("sub".into(), json!(u.id));
    c.insert("tenant".into(), json!(t.id));
    c.insert("tenant_slug".into(), json!(t.slug));
    c.insert("roles".into(), json!(role_names));
    c.insert("role_assignments".into(), json!(assignments));
    let policy = crate::policy::load(&state.store, tenant).await?.policy;
    c.insert(
        "data_classification".into(),
        json!(policy.classification.level),
    );
    let scopes: Vec<&str> = scope.split(' ').collect();
    // The app refetches the permission snapshot when this changes; with the `permissions`
    // scope the token also carries the matrix itself (module → action → filter).
    c.insert("permissions_version".into(), json!(effective.version()));
    if scopes.contains(&"permissions") {
        c.insert("permissions".into(), json!(effective.matrix()));
    }
    if scopes.contains(&"email") {
        c.insert("email".into(), json!(u.email));
        c.insert("email_verified".into(), json!(u.email_verified));
    }
    if scopes.contains(&"profile") {
        let name = u
            .display_name
            .clone()
            .or_else(|| match (&u.given_name, &u.family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                _ => None,
            });
        c.insert("name".into(), json!(name));
        c.insert("given_name".into(), json!(u.given_name));
        c.insert("family_name".into(), json!(u.family_name));
        // OIDC Core §5.1 names: an IANA time zone and a BCP 47 language tag, as the IdP or
        // SCIM gave them.
        c.insert("zoneinfo".into(), json!(u.timezone));
        c.insert("locale".into(), json!(u.locale));
    }
    Ok(Some(c))
}
