//! A user's effective permissions, read from the store: their assignments from every source
//! and the tenant's catalogue, compiled ([`super::compile`]). Also the snapshot the app fetches
//! to decide locally: every module and action the user has anything on, as a filter, with a
//! version that changes whenever their assignments or what those grant change (a hash of the
//! content, so every node computes the same one and nothing has to be bumped by hand).

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::catalogue;
use super::compile::{self, Held, Permissions, Via};
use super::decide::{filter, rule_filter};
use crate::error::Error;
use crate::services::Services;
use crate::store::{self, users::UserRow};
use crate::types::{TenantId, UserId};

/// A user and what they may do.
pub struct Effective {
    pub user: UserRow,
    pub is_owner: bool,
    pub held: Vec<Held>,
    pub permissions: Permissions,
}

/// The user's effective permissions; `None` when the tenant has no such user.
pub async fn load(
    state: &Services,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<Effective>, Error> {
    let Some((row, is_owner)) =
        store::user_reads::user_with_owner(&state.store, tenant, user).await?
    else {
        return Ok(None);
    };
    let mut held: Vec<Held> = store::roles::assignments_of(&state.store, tenant, user)
        .await?
        .into_iter()
        .map(|((role, kind, name), source)| Held {
            role,
            scope: (!kind.is_empty()).then_some(catalogue::ScopeRef { kind, name }),
            source: source.as_str().to_string(),
        })
        .collect();
    let catalogue = catalogue::load(state, tenant).await?;
    let groups = store::memberships::manual_group_keys(&state.store, tenant, user).await?;
    held.extend(compile::from_groups(&catalogue, &groups));
    let held = compile::with_default(&catalogue, &held);
    let permissions = compile::for_user(
        &catalogue,
        &super::app_modules(state).await?,
        &user.to_string(),
        is_owner,
        &held,
    );
    Ok(Some(Effective {
        user: row,
        is_owner,
        held,
        permissions,
    }))
}

/// One rule of the effective permissions, for people: what it allows and where it came from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PermissionSource)]
pub struct Source<'a> {
    pub module: &'a str,
    pub action: &'a str,
    #[serde(flatten)]
    pub via: &'a Via,
    /// Which records, as a filter: `true`, `false` or a condition (`{"owner": …}`,
    /// `{"<kind>_in": […]}`, `{"all_of": […]}`).
    pub records: Value,
}

impl Effective {
    /// The assignments as the snapshot and tokens show them.
    pub fn assignments(&self) -> Vec<Value> {
        self.held
            .iter()
            .map(|h| match &h.scope {
                None => json!({"role": h.role, "source": h.source}),
                Some(s) => json!({"role": h.role, "source": h.source, "scope": s}),
            })
            .collect()
    }

    /// module → action → filter, for every action the user has a rule for.
    pub fn matrix(&self) -> BTreeMap<&str, BTreeMap<&str, Value>> {
        let mut out: BTreeMap<&str, BTreeMap<&str, Value>> = BTreeMap::new();
        for (module, actions) in &self.permissions.rules {
            for action in actions.keys() {
                out.entry(module)
                    .or_default()
                    .insert(action, filter(&self.permissions, module, action));
            }
        }
        out
    }

    /// Every rule, sorted, with its source.
    pub fn sources(&self) -> Vec<Source<'_>> {
        let mut out = Vec::new();
        for (module, actions) in &self.permissions.rules {
            for (action, rules) in actions {
                for rule in rules {
                    out.push(Source {
                        module,
                        action,
                        via: &rule.via,
                        records: rule_filter(rule, self.permissions.subject.as_deref()),
                    });
                }
            }
        }
        out.sort_by(|a, b| (a.module, a.action).cmp(&(b.module, b.action)));
        out
    }

    /// The snapshot the app fetches: the matrix, the assignments and their version.
    pub fn snapshot(&self, tenant: TenantId) -> Value {
        let body = json!({
            "permissions": self.matrix(),
            "assignments": self.assignments(),
        });
        let version = version_of(&body);
        json!({
            "subject": {"type": "user", "id": self.user.id},
            "tenant": tenant,
            "version": version,
            "permissions": body["permissions"],
            "assignments": body["assignments"],
        })
    }

    /// The version alone, for tokens.
    pub fn version(&self) -> String {
        version_of(&json!({
            "permissions": self.matrix(),
            "assignments": self.assignments(),
        }))
    }
}

/// 128 bits of SHA-256 over the canonical JSON (maps are sorted), base64url.
fn version_of(body: &Value) -> String {
    let digest = Sha256::digest(body.to_string().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}
