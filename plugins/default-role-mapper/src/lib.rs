//! The built-in role mapper. Its output is (a) then (b), without repeats, in a stable order;
//! the host replaces the user's IdP-derived role assignments with exactly this list.
//!
//! (a) The admin's group table: every `catalogue.group-mappings` row, in table order, whose
//! `group-id` equals one of the identity's groups exactly (case-sensitive: Entra sends object
//! ids, other IdPs names, and the table holds them as the IdP sends them) gives its role with
//! its scope. A row whose role is not in `catalogue.roles`, or whose scope is not among the
//! catalogue's scopes, is skipped and logged (the host refuses an assignment outside the
//! catalogue, and one stale row must not fail every login). Role and scope names match
//! case-insensitively and the catalogue's spelling is emitted, as in (b).
//!
//! (b) The `space_name` and `space_role` attributes: each value is split on commas, parts
//! trimmed, empty parts dropped; several values count as several parts. Roles match
//! `catalogue.roles` and spaces match catalogue scopes of kind `scope_kind` case-insensitively,
//! and the catalogue's spelling is emitted.
//! 1. One role and several spaces: the role applies to every space.
//! 2. Several roles for one space: the first valid role wins; with none valid, the default role.
//!    (This also holds when a space is named twice in a pairing.)
//! 3. An unknown role: the space gets `catalogue.default-role`.
//! 4. More spaces than roles (more than one role): paired in order; extra spaces get the
//!    default role.
//! 5. More roles than spaces (more than one space): paired in order; extra roles are ignored.
//! 6. An unknown space is ignored together with its paired role.
//!
//! Spaces with no roles given each get the default role. Roles with no spaces give nothing: a
//! role from these attributes is always limited to a space, and never becomes tenant-wide.
//!
//! The catalogue's default role must be one of its roles (case-insensitively); otherwise every
//! call fails `invalid-config`, even when the default would not be needed, so the mistake
//! shows on the first dry-run rather than on the first user it affects.
//!
//! Every skipped table row, unknown space, unknown or unused role is logged with its details,
//! for the admin's dry-run; lines past the host's per-call budget are counted, not written.
//!
//! Configuration: `space_name_attribute` (default `space_name`), `space_role_attribute`
//! (default `space_role`), `scope_kind` (default `space`; compared exactly). Any other key or
//! a blank value is `invalid-config` naming the key.

wit_bindgen::generate!({
    path: "../../wit",
    world: "role-mapper",
    additional_derives: [PartialEq],
});
guest_kit::config_glue!();

mod dry_run;
mod pairing;

use dry_run::DryRun;
use exports::gatehouse::plugin::roles::Guest;
use gatehouse::plugin::log::Level;
use gatehouse::plugin::types::{
    Attribute, Catalogue, Identity, PluginError, RoleAssignment, ScopeRef,
};
use guest_kit::{comma_list, Config, Error};

/// Config key: the attribute naming the spaces.
const SPACE_NAME_ATTRIBUTE: &str = "space_name_attribute";
/// Config key: the attribute naming the roles in those spaces.
const SPACE_ROLE_ATTRIBUTE: &str = "space_role_attribute";
/// Config key: the kind of catalogue scope a space is.
const SCOPE_KIND: &str = "scope_kind";

/// The tenant's configuration of this mapper.
struct Settings {
    /// Attribute naming the spaces.
    space_name: String,
    /// Attribute naming the roles.
    space_role: String,
    /// Scope kind the spaces are looked up in.
    scope_kind: String,
}

impl Settings {
    fn read(cfg: &impl Config) -> Result<Self, Error> {
        cfg.only_known(&[SPACE_NAME_ATTRIBUTE, SPACE_ROLE_ATTRIBUTE, SCOPE_KIND])?;
        let or = |key, default: &str| Ok::<_, Error>(cfg.text(key)?.unwrap_or(default.into()));
        Ok(Self {
            space_name: or(SPACE_NAME_ATTRIBUTE, "space_name")?,
            space_role: or(SPACE_ROLE_ATTRIBUTE, "space_role")?,
            scope_kind: or(SCOPE_KIND, "space")?,
        })
    }
}

/// The catalogue's spelling of `name`, if it is one of its roles.
fn role<'c>(catalogue: &'c Catalogue, name: &str) -> Option<&'c str> {
    catalogue
        .roles
        .iter()
        .find(|r| r.eq_ignore_ascii_case(name))
        .map(String::as_str)
}

/// The catalogue scope of `kind` called `name`, in any case.
fn scope<'c>(catalogue: &'c Catalogue, kind: &str, name: &str) -> Option<&'c ScopeRef> {
    catalogue
        .scopes
        .iter()
        .find(|s| s.kind == kind && s.name.eq_ignore_ascii_case(name))
}

/// Every comma-separated part of every value of the attributes called `name`.
fn parts<'i>(attributes: &'i [Attribute], name: &str) -> Vec<&'i str> {
    attributes
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(name))
        .flat_map(|a| a.values.iter().flat_map(|v| comma_list(v)))
        .collect()
}

/// Appends `assignment` unless it is already in `out`; true when appended.
fn push_new(out: &mut Vec<RoleAssignment>, assignment: RoleAssignment) -> bool {
    let new = !out.contains(&assignment);
    if new {
        out.push(assignment);
    }
    new
}

/// (a): the group table.
fn from_groups(
    identity: &Identity,
    catalogue: &Catalogue,
    log: &mut DryRun,
    out: &mut Vec<RoleAssignment>,
) -> usize {
    let mut added = 0;
    for row in &catalogue.group_mappings {
        if !identity.groups.contains(&row.group_id) {
            continue;
        }
        let Some(role) = role(catalogue, &row.role) else {
            log.note(
                Level::Info,
                "group mapping skipped: its role is not in the catalogue",
                &[("group", &row.group_id), ("role", &row.role)],
            );
            continue;
        };
        let scope = match &row.scope {
            None => None,
            Some(wanted) => match scope(catalogue, &wanted.kind, &wanted.name) {
                Some(found) => Some(found.clone()),
                None => {
                    log.note(
                        Level::Info,
                        "group mapping skipped: its scope is not in the catalogue",
                        &[
                            ("group", &row.group_id),
                            ("kind", &wanted.kind),
                            ("scope", &wanted.name),
                        ],
                    );
                    continue;
                }
            },
        };
        let assignment = RoleAssignment {
            role: role.to_string(),
            scope,
        };
        added += usize::from(push_new(out, assignment));
    }
    added
}

/// (b): the space attributes.
fn from_spaces(
    identity: &Identity,
    catalogue: &Catalogue,
    settings: &Settings,
    default: &str,
    log: &mut DryRun,
    out: &mut Vec<RoleAssignment>,
) -> usize {
    let spaces = parts(&identity.attributes, &settings.space_name);
    let roles = parts(&identity.attributes, &settings.space_role);
    let (pairs, left_over) = pairing::pair(&spaces, &roles);
    for role in left_over {
        let why = if spaces.is_empty() {
            "role ignored: no space is named"
        } else {
            "role ignored: more roles than spaces"
        };
        log.note(Level::Info, why, &[("role", role)]);
    }

    // Known spaces in first-named order, each with every role named for it.
    let mut known: Vec<(&ScopeRef, Vec<&str>)> = Vec::new();
    for pair in pairs {
        let Some(found) = scope(catalogue, &settings.scope_kind, pair.space) else {
            log.note(
                Level::Info,
                "space ignored, with its role: not in the catalogue",
                &[
                    ("space", pair.space),
                    ("kind", &settings.scope_kind),
                    ("role", &pair.roles.join(",")),
                ],
            );
            continue;
        };
        match known.iter_mut().find(|(s, _)| *s == found) {
            Some((_, roles)) => roles.extend(pair.roles),
            None => known.push((found, pair.roles)),
        }
    }

    let mut added = 0;
    for (space, named) in known {
        let chosen = named.iter().find_map(|r| role(catalogue, r));
        for &name in &named {
            let message = match (role(catalogue, name), chosen) {
                (None, Some(_)) => "unknown role ignored: another role given for the space applies",
                (None, None) => "unknown role: the space gets the default role",
                (Some(r), Some(c)) if r != c => {
                    "role not applied: an earlier role for the space wins"
                }
                (Some(_), _) => continue,
            };
            log.note(
                Level::Info,
                message,
                &[("space", &space.name), ("role", name)],
            );
        }
        if named.is_empty() {
            log.note(
                Level::Debug,
                "no role given: the space gets the default role",
                &[("space", &space.name), ("role", default)],
            );
        }
        let assignment = RoleAssignment {
            role: chosen.unwrap_or(default).to_string(),
            scope: Some(space.clone()),
        };
        added += usize::from(push_new(out, assignment));
    }
    added
}

struct Mapper;

impl Guest for Mapper {
    fn map_roles(
        identity: Identity,
        catalogue: Catalogue,
    ) -> Result<Vec<RoleAssignment>, PluginError> {
        let settings = Settings::read(&HostConfig)?;
        let default = role(&catalogue, &catalogue.default_role).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the catalogue's default role `{}` is not one of its roles",
                catalogue.default_role
            ))
        })?;
        let mut log = DryRun::default();
        let mut out = Vec::new();
        let from_table = from_groups(&identity, &catalogue, &mut log, &mut out);
        let from_attrs = from_spaces(
            &identity, &catalogue, &settings, default, &mut log, &mut out,
        );
        log.finish(from_table, from_attrs);
        Ok(out)
    }
}

export!(Mapper);
