//! The built-in attribute mapper: takes the profile straight from the canonical identity.
//! The email is required (lower-cased); a display name is built from given and family names
//! when the IdP sent none; `timezone` and `locale` attributes are passed through when present.

wit_bindgen::generate!({
    path: "../../wit",
    world: "attribute-mapper",
});

use exports::gatehouse::plugin::attributes::Guest;
use gatehouse::plugin::types::{Attribute, Identity, PluginError, Profile};

struct Mapper;

fn first(attributes: &[Attribute], names: &[&str]) -> Option<String> {
    attributes
        .iter()
        .find(|a| names.iter().any(|n| a.name.eq_ignore_ascii_case(n)))
        .and_then(|a| a.values.first().cloned())
        .filter(|v| !v.trim().is_empty())
}

impl Guest for Mapper {
    fn map_profile(identity: Identity) -> Result<Profile, PluginError> {
        let email = identity
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| e.contains('@'))
            .ok_or_else(|| PluginError::Rejected("the identity has no email address".into()))?
            .to_lowercase();
        let display_name = identity.display_name.clone().or_else(|| {
            match (&identity.given_name, &identity.family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (Some(g), None) => Some(g.clone()),
                (None, Some(f)) => Some(f.clone()),
                (None, None) => None,
            }
        });
        Ok(Profile {
            email,
            display_name,
            given_name: identity.given_name,
            family_name: identity.family_name,
            timezone: first(&identity.attributes, &["timezone", "zoneinfo"]),
            locale: first(&identity.attributes, &["locale", "preferredLanguage"]),
            custom: Vec::new(),
        })
    }
}

export!(Mapper);
