//! The vocabulary of permissions: modules and their actions, how far a grant reaches
//! ([`Reach`]), role definitions, and the built-in roles with their fixed grants. A module is
//! either one of Gatehouse's own (`gatehouse.users`…, what the admin API checks), one the
//! operator declares for the app in config (`rbac.modules`), or one a tenant adds in its
//! catalogue. Nothing here reads the database; [`super::compile`] turns a user's assignments
//! into permissions with these definitions.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The actions every app module has; a tenant's own module may add more.
pub const STANDARD_ACTIONS: [&str; 5] = ["view", "create", "edit", "delete", "export"];

/// Module names starting with this are Gatehouse's own; nobody else may use the prefix.
pub const GATEHOUSE_PREFIX: &str = "gatehouse.";

/// Gatehouse's own modules, with their actions: what its admin API checks (see
/// `rbac::TenantPermission`). `view` reads, `edit` changes, `export` takes data out.
pub const GATEHOUSE_MODULES: [(&str, &[&str]); 9] = [
    ("gatehouse.tenant", &["view", "edit"]),
    ("gatehouse.tokens", &["view", "edit"]),
    ("gatehouse.sso", &["view", "edit"]),
    ("gatehouse.scim", &["view", "edit"]),
    ("gatehouse.users", &["view", "edit"]),
    ("gatehouse.roles", &["view", "edit"]),
    ("gatehouse.policy", &["view", "edit"]),
    ("gatehouse.audit", &["view", "export", "ingest"]),
    ("gatehouse.plugins", &["view", "edit"]),
];

/// The scope kinds every tenant can grant by ("my teams", "my locations"…), whether or not
/// its catalogue names scopes of that kind yet.
pub const STANDARD_KINDS: [&str; 4] = ["team", "location", "territory", "space"];

/// How far a grant reaches, relative to the user who holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reach {
    /// Every record of the tenant (limited to the assignment's scope, if it has one).
    Tenant,
    /// Records whose `owner` is the user.
    Own,
    /// Records attached to one of the user's scopes of this kind ("my locations"), a scope's
    /// descendants included.
    Mine(String),
}

impl Reach {
    pub fn as_str(&self) -> &str {
        match self {
            Reach::Tenant => "tenant",
            Reach::Own => "own",
            Reach::Mine(kind) => kind,
        }
    }

    fn parse(s: &str) -> Reach {
        match s {
            "tenant" => Reach::Tenant,
            "own" => Reach::Own,
            kind => Reach::Mine(kind.to_string()),
        }
    }
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::Tenant => f.write_str("the whole tenant"),
            Reach::Own => f.write_str("own records"),
            Reach::Mine(kind) => write!(f, "the user's {kind} scopes"),
        }
    }
}

impl Serialize for Reach {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Reach {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Reach::parse(&String::deserialize(d)?))
    }
}

crate::types::string_schema!(
    Reach,
    None,
    "how far a grant reaches: `tenant`, `own`, or a scope kind (`location`…) for the user's scopes of that kind"
);

/// A role's grants: module → action → reach.
pub type Grants = BTreeMap<String, BTreeMap<String, Reach>>;

/// A role as the catalogue lists it: a bare name (a built-in role, or a custom role with no
/// grants yet), or a custom role with its grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RoleDef {
    Name(String),
    Custom(CustomRole),
}

/// A tenant-defined role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomRole {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Module → action → reach.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, BTreeMap<String, Reach>>)]
    pub grants: Grants,
}

impl RoleDef {
    pub fn name(&self) -> &str {
        match self {
            RoleDef::Name(name) => name,
            RoleDef::Custom(role) => &role.name,
        }
    }
}

/// A module a tenant adds to the app's catalogue, with its actions (the standard ones when
/// none are listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

impl ModuleDef {
    /// The module's actions, the standard ones when it lists none.
    pub fn actions(&self) -> Vec<String> {
        if self.actions.is_empty() {
            STANDARD_ACTIONS.iter().map(|a| a.to_string()).collect()
        } else {
            self.actions.clone()
        }
    }
}

/// The role every tenant's owner holds, implicitly; it cannot be assigned.
pub const OWNER_ROLE: &str = "owner";

/// The built-in roles a tenant enables by listing their names, with what they grant. Their
/// grants are fixed, so a tenant cannot redefine them.
pub const BUILT_IN_ROLES: [&str; 6] = [
    "admin",
    "security_admin",
    "sso_admin",
    "auditor",
    "member",
    "viewer",
];

/// What built-in role `role` grants over `modules` (every module with its actions), or
/// `None` when `role` is not built in. The owner role grants everything, like `admin`.
pub fn built_in_grants(role: &str, modules: &[(String, Vec<String>)]) -> Option<Grants> {
    let gatehouse = |m: &str| m.starts_with(GATEHOUSE_PREFIX);
    // Auditors read and export the log; writing the app's events into it is the app's.
    let reads_audit = |m: &str, a: &str| m == "gatehouse.audit" && a != "ingest";
    let pick = |keep: &dyn Fn(&str, &str) -> Option<Reach>| -> Grants {
        let mut grants = Grants::new();
        for (module, actions) in modules {
            for action in actions {
                if let Some(reach) = keep(module, action) {
                    grants
                        .entry(module.clone())
                        .or_default()
                        .insert(action.clone(), reach);
                }
            }
        }
        grants
    };
    let short = |m: &str| m.trim_start_matches(GATEHOUSE_PREFIX).to_string();
    let grants = match role {
        OWNER_ROLE | "admin" => pick(&|_, _| Some(Reach::Tenant)),
        "security_admin" => pick(&|m, a| {
            let full = ["policy", "users", "tokens"].contains(&short(m).as_str());
            (gatehouse(m) && (full || a == "view" || reads_audit(m, a))).then_some(Reach::Tenant)
        }),
        "sso_admin" => pick(&|m, a| {
            let full = ["sso", "scim", "plugins"].contains(&short(m).as_str());
            (gatehouse(m) && m != "gatehouse.audit" && (full || a == "view"))
                .then_some(Reach::Tenant)
        }),
        "auditor" => pick(&|m, a| {
            (gatehouse(m) && (a == "view" || reads_audit(m, a))).then_some(Reach::Tenant)
        }),
        "member" => pick(&|m, a| match a {
            _ if gatehouse(m) => None,
            "view" => Some(Reach::Tenant),
            "create" | "edit" | "delete" => Some(Reach::Own),
            _ => None,
        }),
        "viewer" => pick(&|m, a| (!gatehouse(m) && a == "view").then_some(Reach::Tenant)),
        _ => return None,
    };
    Some(grants)
}

/// True for a name that works as a module, action or scope kind: lower-case ASCII letters,
/// digits, `_`, `-` and `.`, starting with a letter, at most 64 bytes; so a grant reads the
/// same in every client and turns into a column or key name without quoting.
pub fn is_identifier(s: &str) -> bool {
    s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

/// Most modules an app declares.
pub const MAX_APP_MODULES: usize = 200;

/// Checks a list of module names an app or the operator declares: usable names, not
/// Gatehouse's prefix, no repeats, at most [`MAX_APP_MODULES`].
pub fn check_module_names(field: &'static str, names: &[String]) -> Result<(), crate::Error> {
    if names.len() > MAX_APP_MODULES {
        return Err(crate::Error::invalid(
            field,
            format!("at most {MAX_APP_MODULES} modules"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if !is_identifier(name) || name.starts_with(GATEHOUSE_PREFIX) || !seen.insert(name) {
            return Err(crate::Error::invalid(
                field,
                format!(
                    "`{}` is repeated or not a usable module name: lower-case letters, digits, \
                     _ - . (at most 64), not starting with {GATEHOUSE_PREFIX}",
                    crate::types::truncate(name, 60)
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules() -> Vec<(String, Vec<String>)> {
        let mut all: Vec<(String, Vec<String>)> = GATEHOUSE_MODULES
            .iter()
            .map(|(m, a)| (m.to_string(), a.iter().map(|a| a.to_string()).collect()))
            .collect();
        all.push((
            "work_orders".into(),
            STANDARD_ACTIONS.iter().map(|a| a.to_string()).collect(),
        ));
        all
    }

    #[test]
    fn built_in_roles_grant_what_their_names_say() {
        let m = modules();
        let auditor = built_in_grants("auditor", &m).unwrap();
        assert_eq!(auditor["gatehouse.audit"]["export"], Reach::Tenant);
        assert!(!auditor["gatehouse.users"].contains_key("edit"));
        assert!(!auditor.contains_key("work_orders"));
        let member = built_in_grants("member", &m).unwrap();
        assert_eq!(member["work_orders"]["view"], Reach::Tenant);
        assert_eq!(member["work_orders"]["edit"], Reach::Own);
        assert!(!member.keys().any(|k| k.starts_with(GATEHOUSE_PREFIX)));
        let sso = built_in_grants("sso_admin", &m).unwrap();
        assert_eq!(sso["gatehouse.scim"]["edit"], Reach::Tenant);
        assert!(!sso["gatehouse.policy"].contains_key("edit"));
        assert!(!sso.contains_key("gatehouse.audit"));
        let security = built_in_grants("security_admin", &m).unwrap();
        assert_eq!(security["gatehouse.policy"]["edit"], Reach::Tenant);
        assert!(!security["gatehouse.sso"].contains_key("edit"));
        assert!(built_in_grants("site_tech", &m).is_none());
    }

    #[test]
    fn roles_parse_as_names_or_definitions() {
        let roles: Vec<RoleDef> = serde_json::from_value(serde_json::json!([
            "member",
            {"name": "site_tech", "grants": {"work_orders": {"edit": "location", "view": "tenant"}}}
        ]))
        .unwrap();
        assert_eq!(roles[0], RoleDef::Name("member".into()));
        let RoleDef::Custom(tech) = &roles[1] else {
            panic!("custom role expected")
        };
        assert_eq!(
            tech.grants["work_orders"]["edit"],
            Reach::Mine("location".into())
        );
        assert!(is_identifier("work_orders") && !is_identifier("Work Orders"));
    }
}
