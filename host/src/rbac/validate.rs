//! The checks a catalogue passes before it is stored: sizes (every list a client sends is
//! bounded), names, uniqueness, and that every reference resolves: a grant names a module and
//! action that exist and a reach the tenant can use, a group row or the default assignment
//! names a listed role and a defined scope, and the scope hierarchy has no loops.

use std::collections::{BTreeMap, BTreeSet};

use super::catalogue::{Catalogue, ScopeRef};
use super::model::{
    built_in_grants, is_identifier, Reach, RoleDef, GATEHOUSE_PREFIX, OWNER_ROLE, STANDARD_KINDS,
};
use crate::error::Error;
use crate::types::truncate;

/// Most roles a tenant may define.
pub const MAX_ROLES: usize = 200;
/// Most scopes; a scope per office or team is common, tens of thousands are not.
pub const MAX_SCOPES: usize = 5_000;
/// Most group → role rows.
pub const MAX_GROUP_MAPPINGS: usize = 5_000;
/// Most modules a tenant adds, and most actions one module has.
pub const MAX_MODULES: usize = 200;
pub const MAX_ACTIONS: usize = 32;
/// Most grants across all custom roles: what a permission compile walks per user.
pub const MAX_GRANTS: usize = 20_000;
/// Longest role, scope kind, scope name or group id.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest role description.
pub const MAX_DESCRIPTION_BYTES: usize = 1_000;

pub(crate) fn name(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!(
                "`{}` must be 1–{max} bytes without control characters",
                truncate(value, 60)
            ),
        ));
    }
    Ok(())
}

fn too_many(field: &'static str, max: usize) -> Error {
    Error::invalid(field, format!("at most {max} entries"))
}

impl Catalogue {
    /// Checks the catalogue against the app's modules (`app`, from `rbac.modules`).
    pub fn validate(&self, app: &[String]) -> Result<(), Error> {
        if self.roles.len() > MAX_ROLES {
            return Err(too_many("roles", MAX_ROLES));
        }
        if self.scopes.len() > MAX_SCOPES {
            return Err(too_many("scopes", MAX_SCOPES));
        }
        if self.group_mappings.len() > MAX_GROUP_MAPPINGS {
            return Err(too_many("group_mappings", MAX_GROUP_MAPPINGS));
        }
        if self.modules.len() > MAX_MODULES {
            return Err(too_many("modules", MAX_MODULES));
        }
        self.check_modules(app)?;
        let scopes = self.check_scopes()?;
        let roles = self.check_roles(app, &scopes)?;
        let role_known = |field: &'static str, role: &str, what: &str| {
            if roles.contains(role) {
                Ok(())
            } else {
                Err(Error::invalid(
                    field,
                    format!("{what} `{}` is not one of the roles", truncate(role, 60)),
                ))
            }
        };
        let scope_known = |field: &'static str, scope: &ScopeRef, what: &str| {
            if scopes.contains_key(scope) {
                Ok(())
            } else {
                Err(Error::invalid(
                    field,
                    format!(
                        "{what} names undefined scope {} `{}`",
                        truncate(&scope.kind, 60),
                        truncate(&scope.name, 60)
                    ),
                ))
            }
        };
        role_known("default_role", &self.default_role, "the default role")?;
        if let Some(default) = &self.default_assignment {
            role_known(
                "default_assignment",
                &default.role,
                "the default assignment's role",
            )?;
            if let Some(scope) = &default.scope {
                scope_known("default_assignment", scope, "the default assignment")?;
            }
        }
        for m in &self.group_mappings {
            name("group_mappings", &m.group_id, MAX_NAME_BYTES)?;
            if !roles.contains(m.role.as_str()) {
                return Err(Error::invalid(
                    "group_mappings",
                    format!("group `{}` maps to undefined role `{}`", m.group_id, m.role),
                ));
            }
            if let Some(scope) = &m.scope {
                scope_known(
                    "group_mappings",
                    scope,
                    &format!("the row for group `{}`", truncate(&m.group_id, 60)),
                )?;
            }
        }
        Ok(())
    }

    fn check_modules(&self, app: &[String]) -> Result<(), Error> {
        let mut seen: BTreeSet<&str> = app.iter().map(String::as_str).collect();
        for module in &self.modules {
            if !is_identifier(&module.name) || module.name.starts_with(GATEHOUSE_PREFIX) {
                return Err(Error::invalid(
                    "modules",
                    format!(
                        "`{}` is not a usable module name: lower-case letters, digits, _ - . \
                         (at most 64), not starting with {GATEHOUSE_PREFIX}",
                        truncate(&module.name, 60)
                    ),
                ));
            }
            if !seen.insert(&module.name) {
                return Err(Error::invalid(
                    "modules",
                    format!("module `{}` is already defined", module.name),
                ));
            }
            if module.actions.len() > MAX_ACTIONS {
                return Err(too_many("modules", MAX_ACTIONS));
            }
            let mut actions = BTreeSet::new();
            for action in &module.actions {
                if !is_identifier(action) || !actions.insert(action) {
                    return Err(Error::invalid(
                        "modules",
                        format!(
                            "module `{}`: action `{}` is repeated or not a lower-case name",
                            module.name,
                            truncate(action, 60)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The defined scopes with their parents, checked: unique, parents of the same kind that
    /// exist, no loops.
    fn check_scopes(&self) -> Result<BTreeMap<ScopeRef, Option<String>>, Error> {
        let mut scopes = BTreeMap::new();
        for scope in &self.scopes {
            name("scopes", &scope.kind, MAX_NAME_BYTES)?;
            name("scopes", &scope.name, MAX_NAME_BYTES)?;
            if scopes
                .insert(scope.to_ref(), scope.parent.clone())
                .is_some()
            {
                return Err(Error::invalid(
                    "scopes",
                    format!("scope {} `{}` is listed twice", scope.kind, scope.name),
                ));
            }
        }
        for (scope, parent) in &scopes {
            let mut at = parent.clone();
            let mut steps = 0;
            while let Some(up) = at {
                let key = ScopeRef {
                    kind: scope.kind.clone(),
                    name: up.clone(),
                };
                let Some(next) = scopes.get(&key) else {
                    return Err(Error::invalid(
                        "scopes",
                        format!(
                            "scope {} `{}` has parent `{}`, which is not a {} scope",
                            scope.kind,
                            scope.name,
                            truncate(&up, 60),
                            scope.kind
                        ),
                    ));
                };
                steps += 1;
                if up == scope.name || steps > scopes.len() {
                    return Err(Error::invalid(
                        "scopes",
                        format!("scope {} `{}` is its own ancestor", scope.kind, scope.name),
                    ));
                }
                at = next.clone();
            }
        }
        Ok(scopes)
    }

    /// The listed role names, checked; custom roles' grants resolve.
    fn check_roles<'a>(
        &'a self,
        app: &[String],
        scopes: &BTreeMap<ScopeRef, Option<String>>,
    ) -> Result<BTreeSet<&'a str>, Error> {
        let modules: BTreeMap<String, Vec<String>> = self.modules(app).into_iter().collect();
        let kinds: BTreeSet<&str> = STANDARD_KINDS
            .iter()
            .copied()
            .chain(scopes.keys().map(|s| s.kind.as_str()))
            .collect();
        let mut roles = BTreeSet::new();
        let mut grants = 0usize;
        for role in &self.roles {
            let role_name = role.name();
            name("roles", role_name, MAX_NAME_BYTES)?;
            if role_name == OWNER_ROLE {
                return Err(Error::invalid(
                    "roles",
                    "`owner` is the tenant owner's implicit role and cannot be listed or assigned",
                ));
            }
            if !roles.insert(role_name) {
                return Err(Error::invalid(
                    "roles",
                    format!("role `{role_name}` is listed twice"),
                ));
            }
            let RoleDef::Custom(custom) = role else {
                continue;
            };
            if built_in_grants(role_name, &[]).is_some() {
                return Err(Error::invalid(
                    "roles",
                    format!(
                        "`{role_name}` is a built-in role: list it by name, its grants are fixed"
                    ),
                ));
            }
            if let Some(d) = &custom.description {
                name("roles", d, MAX_DESCRIPTION_BYTES)?;
            }
            for (module, actions) in &custom.grants {
                let Some(known) = modules.get(module) else {
                    return Err(Error::invalid(
                        "roles",
                        format!(
                            "role `{role_name}` grants on unknown module `{}`",
                            truncate(module, 60)
                        ),
                    ));
                };
                for (action, reach) in actions {
                    grants += 1;
                    if !known.contains(action) {
                        return Err(Error::invalid(
                            "roles",
                            format!(
                                "role `{role_name}`: module `{module}` has no action `{}` \
                                 (it has {})",
                                truncate(action, 60),
                                known.join(", ")
                            ),
                        ));
                    }
                    if let Reach::Mine(kind) = reach {
                        if !kinds.contains(kind.as_str()) || !is_identifier(kind) {
                            return Err(Error::invalid(
                                "roles",
                                format!(
                                    "role `{role_name}`: `{module}.{action}` reaches `{}`; use \
                                     tenant, own, or a scope kind ({})",
                                    truncate(kind, 60),
                                    kinds.iter().copied().collect::<Vec<_>>().join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
            if grants > MAX_GRANTS {
                return Err(too_many("roles", MAX_GRANTS));
            }
        }
        Ok(roles)
    }
}
