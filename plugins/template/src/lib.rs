//! The plugin template: an attribute mapper to copy and change. It turns the canonical
//! identity (what the IdP adapter produced) into the user's profile in the tenant:
//!
//! - the email address is required and lower-cased; without one the sign-in is rejected;
//! - given, family and display name are taken over, and a display name is built from the
//!   other two when the IdP sent none;
//! - the identity attributes named in the configuration key `custom_attributes`
//!   (comma-separated, e.g. `department,cost_center`) are copied into `profile.custom`;
//! - one info line is logged per call, which a dry-run shows.
//!
//! A plugin sees only its arguments, its configuration and the log: no network, files, clock
//! or randomness. It returns a `PluginError` instead of panicking; a panic aborts the call and
//! the host fails the sign-in closed.

// Generates Rust types and traits from the Gatehouse contract. `path` is the folder holding
// `gatehouse.wit`, relative to this crate's `Cargo.toml`; in a copy outside the Gatehouse
// repository, copy that folder beside your crate and write `path: "../wit"` (see
// `plugins/README.md` for why not inside it). `world` says which kind of plugin this is:
// `attribute-mapper` imports `log` and `config` and exports `attributes`.
wit_bindgen::generate!({
    path: "../../wit",
    world: "attribute-mapper",
});

// `exports::…::Guest` is the trait this plugin implements; `gatehouse::plugin::…` holds the
// contract's records and the two functions the host gives us (`config`, `log`).
use exports::gatehouse::plugin::attributes::Guest;
use gatehouse::plugin::config;
use gatehouse::plugin::log::{self, Field, Level};
use gatehouse::plugin::types::{Attribute, Identity, PluginError, Profile};

/// The configuration key listing the identity attributes to copy into `profile.custom`.
const CUSTOM_ATTRIBUTES: &str = "custom_attributes";

/// Every configuration key this plugin reads. Any other key is an error, so a typo does not
/// silently switch something off.
const KNOWN_KEYS: &[&str] = &[CUSTOM_ATTRIBUTES];

/// Most attributes `custom_attributes` may name: a profile is not a dump of everything the
/// IdP sent, and the host bounds the output anyway.
const MAX_CUSTOM_ATTRIBUTES: usize = 32;

/// The type the `Guest` trait is implemented on; it holds no state, because every call runs
/// in a fresh instance.
struct TemplateMapper;

impl Guest for TemplateMapper {
    fn map_profile(identity: Identity) -> Result<Profile, PluginError> {
        // Read the configuration first, so a bad value is reported whatever the input is.
        let wanted = custom_attribute_names()?;

        let email = identity
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| e.contains('@'))
            .ok_or_else(|| PluginError::Rejected("the identity has no email address".into()))?
            .to_lowercase();

        let display_name = identity.display_name.clone().or_else(|| {
            match (&identity.given_name, &identity.family_name) {
                (Some(given), Some(family)) => Some(format!("{given} {family}")),
                (Some(given), None) => Some(given.clone()),
                (None, Some(family)) => Some(family.clone()),
                (None, None) => None,
            }
        });

        // Copy each wanted attribute that the identity carries, under the configured name.
        // Missing ones are skipped, not an error: not every user has every attribute.
        let mut custom = Vec::new();
        let mut missing = Vec::new();
        for name in &wanted {
            match identity
                .attributes
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
            {
                Some(found) => custom.push(Attribute {
                    name: name.clone(),
                    values: found.values.clone(),
                }),
                None => missing.push(name.as_str()),
            }
        }

        // Logging is best effort: the host refuses lines past its limits, and that must not
        // fail the sign-in. Log names and counts, not personal data.
        let _ = log::emit(
            Level::Info,
            "profile mapped",
            &[
                Field {
                    key: "custom_copied".into(),
                    value: custom.len().to_string(),
                },
                Field {
                    key: "custom_missing".into(),
                    value: missing.join(","),
                },
            ],
        );

        Ok(Profile {
            email,
            display_name,
            given_name: identity.given_name,
            family_name: identity.family_name,
            timezone: None,
            locale: None,
            custom,
        })
    }
}

/// The attribute names in `custom_attributes`, trimmed; none when the key is not set.
/// Unknown keys, empty names and too many names are `InvalidConfig`, with a message that
/// tells the tenant admin what to change.
fn custom_attribute_names() -> Result<Vec<String>, PluginError> {
    let unreadable = |_| PluginError::InvalidConfig("the configuration could not be read".into());
    if let Some(key) = config::keys()
        .map_err(unreadable)?
        .into_iter()
        .find(|k| !KNOWN_KEYS.contains(&k.as_str()))
    {
        return Err(PluginError::InvalidConfig(format!(
            "unknown key `{key}`; this plugin reads only `{CUSTOM_ATTRIBUTES}`"
        )));
    }
    let Some(value) = config::get(CUSTOM_ATTRIBUTES).map_err(unreadable)? else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = value.split(',').map(|n| n.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(PluginError::InvalidConfig(format!(
            "`{CUSTOM_ATTRIBUTES}` has an empty name; list attribute names separated by \
             commas, e.g. `department,cost_center`"
        )));
    }
    if names.len() > MAX_CUSTOM_ATTRIBUTES {
        return Err(PluginError::InvalidConfig(format!(
            "`{CUSTOM_ATTRIBUTES}` names {} attributes; at most {MAX_CUSTOM_ATTRIBUTES} are allowed",
            names.len()
        )));
    }
    Ok(names)
}

// Exports `TemplateMapper` as the component's implementation of `attributes`.
export!(TemplateMapper);
