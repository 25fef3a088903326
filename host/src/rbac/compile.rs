//! From assignments to permissions: a user's role assignments (every source), the tenant's
//! catalogue and the app's modules compile into [`Permissions`], a table
//! `module → action → rules`, each rule a condition on the record and where it came from.
//! Compiled once per request or snapshot, so a decision is a table lookup and a few set
//! checks ([`super::decide`]). An API token compiles from its scopes instead, so the admin API
//! asks the same question of both.
//!
//! How an assignment of role R (limited to scope S, or not) turns a grant of R into a
//! condition, by the grant's reach:
//! - `tenant`: any record; with S, records within S.
//! - `own`: records the user owns; with S, also within S.
//! - a kind K ("my locations"): records within one of the user's K scopes (the scopes of kind K
//!   on any of the user's assignments, descendants included); with S of kind K, within S;
//!   with S of another kind, both.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::catalogue::{Catalogue, ScopeRef};
use super::model::{Reach, OWNER_ROLE};
use super::Scope;

/// Where a rule came from, for explanations and the user's effective-permission view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = RuleVia)]
pub struct Via {
    /// The role (an API token's rules are named after its scope).
    pub role: String,
    /// `owner`, `sso`, `scim`, `manual`, `group` (an admin-made group, through the group
    /// table), `default` (the catalogue's default assignment) or `token`.
    pub source: String,
    /// The assignment's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeRef>,
    /// The grant's reach.
    pub reach: Reach,
}

/// What a record must satisfy for a rule to allow the action on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Every record.
    Any,
    /// Records whose `owner` is the subject.
    Owner,
    /// Records whose `kind` attribute is one of `names` (the scopes and their descendants).
    Within {
        kind: String,
        /// The scopes as assigned, for explanations.
        scopes: Vec<String>,
        /// The scopes and every descendant: what a record's attribute is compared against.
        names: Arc<BTreeSet<String>>,
    },
    /// Both conditions.
    Both(Box<Cond>, Box<Cond>),
}

/// One way the subject may perform an action.
#[derive(Debug, Clone)]
pub struct Rule {
    pub via: Via,
    pub cond: Cond,
}

/// A subject's compiled permissions.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    /// The user these are for (`None` for an API token): what `own` compares with.
    pub subject: Option<String>,
    /// module → action → rules.
    pub(super) rules: HashMap<String, HashMap<String, Vec<Rule>>>,
}

/// One stored role assignment: role, scope (if any) and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub role: String,
    pub scope: Option<ScopeRef>,
    pub source: String,
}

/// The scope hierarchy, for expanding a scope to itself and its descendants.
struct Tree<'a> {
    children: BTreeMap<(&'a str, &'a str), Vec<&'a str>>,
}

impl<'a> Tree<'a> {
    fn new(catalogue: &'a Catalogue) -> Self {
        let mut children: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for s in &catalogue.scopes {
            if let Some(parent) = &s.parent {
                children
                    .entry((s.kind.as_str(), parent.as_str()))
                    .or_default()
                    .push(s.name.as_str());
            }
        }
        Self { children }
    }

    /// `name` and every scope below it (the catalogue has no loops; the set stops a stored
    /// one anyway).
    fn expand(&self, kind: &str, name: &str, into: &mut BTreeSet<String>) {
        let mut stack = vec![name.to_string()];
        while let Some(at) = stack.pop() {
            if !into.insert(at.clone()) {
                continue;
            }
            if let Some(kids) = self.children.get(&(kind, at.as_str())) {
                stack.extend(kids.iter().map(|k| k.to_string()));
            }
        }
    }

    fn within(&self, kind: &str, scopes: &[&str]) -> Cond {
        let mut names = BTreeSet::new();
        for s in scopes {
            self.expand(kind, s, &mut names);
        }
        Cond::Within {
            kind: kind.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            names: Arc::new(names),
        }
    }
}

/// What the catalogue's group table gives a member of admin-made groups with these IdP
/// identifiers (`keys`): each matching row's role and scope, source `group`. (An IdP's groups
/// reach roles through the role mapper at sign-in or SCIM time instead.)
pub fn from_groups(catalogue: &Catalogue, keys: &[String]) -> Vec<Held> {
    catalogue
        .group_mappings
        .iter()
        .filter(|m| keys.contains(&m.group_id))
        .map(|m| Held {
            role: m.role.clone(),
            scope: m.scope.clone(),
            source: "group".into(),
        })
        .collect()
}

/// `held`, or the catalogue's default assignment (source `default`) when it is empty.
pub fn with_default(catalogue: &Catalogue, held: &[Held]) -> Vec<Held> {
    if !held.is_empty() {
        return held.to_vec();
    }
    catalogue
        .default_assignment
        .iter()
        .map(|a| Held {
            role: a.role.clone(),
            scope: a.scope.clone(),
            source: "default".into(),
        })
        .collect()
}

/// Compiles the permissions of `user` (the tenant's owner when `is_owner`) holding `held`,
/// with the tenant's catalogue and the app's modules. Assignments of roles the catalogue no
/// longer lists give nothing. A user holding nothing gets the catalogue's default assignment.
pub fn for_user(
    catalogue: &Catalogue,
    app_modules: &[String],
    user: &str,
    is_owner: bool,
    held: &[Held],
) -> Permissions {
    let modules = catalogue.modules(app_modules);
    let tree = Tree::new(catalogue);
    let held = &with_default(catalogue, held)[..];
    let mut mine: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for h in held {
        if let Some(s) = &h.scope {
            mine.entry(s.kind.as_str())
                .or_default()
                .push(s.name.as_str());
        }
    }
    let mut perms = Permissions {
        subject: Some(user.to_string()),
        rules: HashMap::new(),
    };
    let owner_grant = is_owner
        .then(|| super::model::built_in_grants(OWNER_ROLE, &modules))
        .flatten();
    if let Some(grants) = owner_grant {
        let owner = Held {
            role: OWNER_ROLE.into(),
            scope: None,
            source: "owner".into(),
        };
        add(&mut perms, &owner, &grants, &tree, &mine);
    }
    for h in held {
        if let Some(grants) = catalogue.grants_of(&h.role, &modules) {
            add(&mut perms, h, &grants, &tree, &mine);
        }
    }
    perms
}

fn add(
    perms: &mut Permissions,
    held: &Held,
    grants: &super::model::Grants,
    tree: &Tree<'_>,
    mine: &BTreeMap<&str, Vec<&str>>,
) {
    for (module, actions) in grants {
        for (action, reach) in actions {
            let assigned = held
                .scope
                .as_ref()
                .map(|s| tree.within(&s.kind, &[s.name.as_str()]));
            let cond = match (reach, assigned) {
                (Reach::Tenant, None) => Cond::Any,
                (Reach::Tenant, Some(within)) => within,
                (Reach::Own, None) => Cond::Owner,
                (Reach::Own, Some(within)) => Cond::Both(Box::new(Cond::Owner), Box::new(within)),
                (Reach::Mine(kind), Some(within))
                    if held.scope.as_ref().is_some_and(|s| &s.kind == kind) =>
                {
                    within
                }
                (Reach::Mine(kind), assigned) => {
                    let names = mine.get(kind.as_str()).cloned().unwrap_or_default();
                    let own_kind = tree.within(kind, &names);
                    match assigned {
                        None => own_kind,
                        Some(within) => Cond::Both(Box::new(own_kind), Box::new(within)),
                    }
                }
            };
            perms
                .rules
                .entry(module.clone())
                .or_default()
                .entry(action.clone())
                .or_default()
                .push(Rule {
                    via: Via {
                        role: held.role.clone(),
                        source: held.source.clone(),
                        scope: held.scope.clone(),
                        reach: reach.clone(),
                    },
                    cond,
                });
        }
    }
}

/// What each API-token scope allows on Gatehouse's own modules: a token's rules.
pub fn scope_grants(scope: Scope) -> &'static [(&'static str, &'static [&'static str])] {
    const VIEW: &[&str] = &["view"];
    const EDIT: &[&str] = &["view", "edit"];
    match scope {
        Scope::Admin => &[
            ("gatehouse.tenant", EDIT),
            ("gatehouse.tokens", EDIT),
            ("gatehouse.sso", EDIT),
            ("gatehouse.scim", EDIT),
            ("gatehouse.users", EDIT),
            ("gatehouse.roles", EDIT),
            ("gatehouse.policy", EDIT),
            ("gatehouse.audit", &["view", "export", "ingest"]),
            ("gatehouse.plugins", EDIT),
        ],
        Scope::TenantRead => &[
            ("gatehouse.tenant", VIEW),
            ("gatehouse.sso", VIEW),
            ("gatehouse.users", VIEW),
            ("gatehouse.roles", VIEW),
            ("gatehouse.policy", VIEW),
            ("gatehouse.plugins", VIEW),
        ],
        Scope::DomainsWrite => &[("gatehouse.tenant", EDIT)],
        Scope::TokensWrite => &[("gatehouse.tokens", EDIT)],
        Scope::AuditRead => &[("gatehouse.audit", &["view", "export"])],
        Scope::AuditWrite => &[("gatehouse.audit", &["ingest"])],
        // The role catalogue was always edited with the plugins scope: the role mapper reads it.
        Scope::PluginsWrite => &[("gatehouse.plugins", EDIT), ("gatehouse.roles", EDIT)],
        // Policy rides with SSO: both decide how people get in.
        Scope::SsoWrite => &[("gatehouse.sso", EDIT), ("gatehouse.policy", EDIT)],
        Scope::Scim => &[("gatehouse.scim", EDIT)],
        Scope::UsersWrite => &[("gatehouse.users", EDIT)],
        Scope::AccessEvaluate => &[("gatehouse.roles", VIEW)],
    }
}

/// An API token's permissions: what its scopes allow, tenant-wide.
pub fn for_token(scopes: &[Scope]) -> Permissions {
    let mut perms = Permissions::default();
    for scope in scopes {
        grant(&mut perms, scope.as_str(), "token", scope_grants(*scope));
    }
    perms
}

/// What a setup link's session may do, tenant-wide: set up SSO connections (and test them)
/// and the SCIM tokens an IdP provisions with. Nothing else: no users, roles, policy or
/// audit log, and no token but a SCIM one (`Authorized::can_grant`).
pub fn for_setup_link() -> Permissions {
    const EDIT: &[&str] = &["view", "edit"];
    let mut perms = Permissions::default();
    let grants: &[(&str, &[&str])] = &[("gatehouse.sso", EDIT), ("gatehouse.tokens", EDIT)];
    grant(&mut perms, "setup", "setup_link", grants);
    perms
}

/// Adds tenant-wide `grants` to `perms`, as role `role` from `source`.
fn grant(perms: &mut Permissions, role: &str, source: &str, grants: &[(&str, &[&str])]) {
    for (module, actions) in grants {
        for action in *actions {
            perms
                .rules
                .entry(module.to_string())
                .or_default()
                .entry(action.to_string())
                .or_default()
                .push(Rule {
                    via: Via {
                        role: role.to_string(),
                        source: source.into(),
                        scope: None,
                        reach: Reach::Tenant,
                    },
                    cond: Cond::Any,
                });
        }
    }
}
