//! One call per world, each in a fresh instance, and the checks on what comes back: every
//! output is bounded in bytes and items and must make sense (an identity has a subject, a
//! profile a real email address, a role assignment names a role and scope the tenant
//! defines, a rewritten SCIM request stays below the SCIM base). Anything else is
//! [`PluginError::InvalidOutput`] or [`PluginError::OutputTooLarge`], and the caller fails
//! closed.

use super::bindings::types::{
    Attribute, Catalogue, Identity, Profile, RawIdentity, RoleAssignment, ScimRequest,
};
use super::limits::{Outcome, PluginConfig, PluginError, MAX_OUTPUT_BYTES, MAX_OUTPUT_ITEMS};
use super::runtime::{Exports, Loaded, PluginHost};
use super::world::World;
use crate::types::Email;

/// Largest SCIM request body a SCIM adapter may return (the SCIM server's own limit applies
/// after it); larger than identity outputs because bulk requests are legitimately big.
pub const MAX_SCIM_OUTPUT_BYTES: usize = 1024 * 1024;

/// Longest subject an adapter may return; IdP subjects are ids, not documents.
const MAX_SUBJECT_BYTES: usize = 512;

impl PluginHost {
    /// Runs an IdP adapter on `raw`.
    pub fn adapt(
        &self,
        plugin: &Loaded,
        config: &PluginConfig,
        raw: &RawIdentity,
    ) -> Outcome<Identity> {
        let Exports::Adapter(ix) = &plugin.exports else {
            return Outcome::wrong_world(World::IdpAdapter, plugin.world);
        };
        self.run(plugin, config, |store, instance| {
            ix.load(&mut *store, instance)?.call_adapt(store, raw)
        })
        .checked(check_identity)
    }

    /// Runs an attribute mapper on `identity`.
    pub fn map_profile(
        &self,
        plugin: &Loaded,
        config: &PluginConfig,
        identity: &Identity,
    ) -> Outcome<Profile> {
        let Exports::Attributes(ix) = &plugin.exports else {
            return Outcome::wrong_world(World::AttributeMapper, plugin.world);
        };
        self.run(plugin, config, |store, instance| {
            ix.load(&mut *store, instance)?
                .call_map_profile(store, identity)
        })
        .checked(check_profile)
    }

    /// Runs a role mapper on `identity` with the tenant's `catalogue`.
    pub fn map_roles(
        &self,
        plugin: &Loaded,
        config: &PluginConfig,
        identity: &Identity,
        catalogue: &Catalogue,
    ) -> Outcome<Vec<RoleAssignment>> {
        let Exports::Roles(ix) = &plugin.exports else {
            return Outcome::wrong_world(World::RoleMapper, plugin.world);
        };
        self.run(plugin, config, |store, instance| {
            ix.load(&mut *store, instance)?
                .call_map_roles(store, identity, catalogue)
        })
        .checked(|roles| check_roles(roles, catalogue))
    }

    /// Runs a SCIM adapter on `request`.
    pub fn normalize(
        &self,
        plugin: &Loaded,
        config: &PluginConfig,
        request: &ScimRequest,
    ) -> Outcome<ScimRequest> {
        let Exports::Scim(ix) = &plugin.exports else {
            return Outcome::wrong_world(World::ScimAdapter, plugin.world);
        };
        self.run(plugin, config, |store, instance| {
            ix.load(&mut *store, instance)?
                .call_normalize(store, request)
        })
        .checked(check_scim)
    }
}

impl<T> Outcome<T> {
    fn wrong_world(expected: World, actual: World) -> Self {
        Outcome {
            result: Err(PluginError::WrongWorld { expected, actual }),
            logs: Vec::new(),
            elapsed: std::time::Duration::ZERO,
        }
    }

    fn checked(mut self, check: impl FnOnce(&T) -> Result<(), PluginError>) -> Self {
        if let Ok(value) = &self.result {
            if let Err(e) = check(value) {
                self.result = Err(e);
            }
        }
        self
    }
}

fn opt_len(o: &Option<String>) -> usize {
    o.as_ref().map_or(0, String::len)
}

fn attributes_size(attributes: &[Attribute]) -> (usize, usize) {
    attributes.iter().fold((0, 0), |(bytes, items), a| {
        (
            bytes + a.name.len() + a.values.iter().map(String::len).sum::<usize>(),
            items + 1 + a.values.len(),
        )
    })
}

fn bounded(bytes: usize, items: usize) -> Result<(), PluginError> {
    if bytes > MAX_OUTPUT_BYTES {
        return Err(PluginError::OutputTooLarge(MAX_OUTPUT_BYTES));
    }
    if items > MAX_OUTPUT_ITEMS {
        return Err(PluginError::InvalidOutput(format!(
            "{items} list entries, more than the {MAX_OUTPUT_ITEMS} allowed"
        )));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), PluginError> {
    email
        .parse::<Email>()
        .map(drop)
        .map_err(|e| PluginError::InvalidOutput(e.0))
}

fn check_identity(identity: &Identity) -> Result<(), PluginError> {
    let (attr_bytes, attr_items) = attributes_size(&identity.attributes);
    let bytes = identity.subject.len()
        + opt_len(&identity.email)
        + opt_len(&identity.given_name)
        + opt_len(&identity.family_name)
        + opt_len(&identity.display_name)
        + identity.groups.iter().map(String::len).sum::<usize>()
        + attr_bytes;
    bounded(bytes, identity.groups.len() + attr_items)?;
    if identity.subject.trim().is_empty() {
        return Err(PluginError::InvalidOutput(
            "the identity has no subject".into(),
        ));
    }
    if identity.subject.len() > MAX_SUBJECT_BYTES {
        return Err(PluginError::InvalidOutput(format!(
            "the subject is longer than {MAX_SUBJECT_BYTES} bytes"
        )));
    }
    if let Some(email) = &identity.email {
        check_email(email)?;
    }
    Ok(())
}

fn check_profile(profile: &Profile) -> Result<(), PluginError> {
    let (attr_bytes, attr_items) = attributes_size(&profile.custom);
    let bytes = profile.email.len()
        + opt_len(&profile.display_name)
        + opt_len(&profile.given_name)
        + opt_len(&profile.family_name)
        + opt_len(&profile.timezone)
        + opt_len(&profile.locale)
        + attr_bytes;
    bounded(bytes, attr_items)?;
    check_email(&profile.email)
}

fn check_roles(roles: &[RoleAssignment], catalogue: &Catalogue) -> Result<(), PluginError> {
    let bytes = roles
        .iter()
        .map(|r| r.role.len() + r.scope.as_ref().map_or(0, |s| s.kind.len() + s.name.len()))
        .sum();
    bounded(bytes, roles.len())?;
    for r in roles {
        if !catalogue.roles.contains(&r.role) {
            return Err(PluginError::InvalidOutput(format!(
                "role `{}` is not in the tenant's catalogue",
                crate::types::truncate(&r.role, 80)
            )));
        }
        if let Some(scope) = &r.scope {
            if !catalogue
                .scopes
                .iter()
                .any(|c| c.kind == scope.kind && c.name == scope.name)
            {
                return Err(PluginError::InvalidOutput(format!(
                    "scope {} `{}` is not in the tenant's catalogue",
                    crate::types::truncate(&scope.kind, 40),
                    crate::types::truncate(&scope.name, 80)
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn check_scim(request: &ScimRequest) -> Result<(), PluginError> {
    let bytes = request.path.len() + opt_len(&request.body);
    if bytes > MAX_SCIM_OUTPUT_BYTES {
        return Err(PluginError::OutputTooLarge(MAX_SCIM_OUTPUT_BYTES));
    }
    let path = &request.path;
    if !path.starts_with('/')
        || path.starts_with("//")
        || path.chars().any(char::is_control)
        || path.split(['/', '?']).any(|segment| segment == "..")
    {
        return Err(PluginError::InvalidOutput(format!(
            "the rewritten path `{}` is not a path below the SCIM base URL",
            crate::types::truncate(path, 80)
        )));
    }
    if let Some(body) = &request.body {
        if serde_json::from_str::<serde::de::IgnoredAny>(body).is_err() {
            return Err(PluginError::InvalidOutput(
                "the rewritten body is not JSON".into(),
            ));
        }
    }
    Ok(())
}

/// Every output check, for the fuzz targets: each output as a plugin could return it.
#[cfg(feature = "fuzzing")]
pub fn check_outputs(
    identity: &Identity,
    profile: &Profile,
    roles: &[RoleAssignment],
    catalogue: &Catalogue,
    scim: &ScimRequest,
) {
    let _ = check_identity(identity);
    let _ = check_profile(profile);
    let _ = check_roles(roles, catalogue);
    let _ = check_scim(scim);
    let _ = super::json::identity(identity);
    let _ = super::json::profile(profile);
    let _ = super::json::roles(roles);
    let _ = super::json::scim(scim);
}
