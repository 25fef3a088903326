//! The built-in adapter for Okta, over SAML 2.0 or OIDC.
//!
//! - Subject: the NameID (SAML) or `sub` (OIDC), unchanged; an empty subject is rejected.
//!   Okta's OIDC `sub` is its stable user id (`00u…`). A SAML NameID is the app username,
//!   which by default is the user's login and changes when the login does: set the SAML app's
//!   application username format to one that yields the Okta user id to keep accounts linked
//!   across renames.
//! - Fields: Okta's names come first: SAML attribute statements `email`, `firstName`,
//!   `lastName`, `groups` (a group attribute statement); OIDC claims `email`, `given_name`,
//!   `family_name`, `name`, `groups`. After them, the standard names of the generic adapter,
//!   since Okta attribute statements are named by the admin. As there, an email value not
//!   shaped like an address is skipped, and without an email attribute a SAML NameID shaped
//!   like an email is the email.
//! - Groups: every value of the groups attribute (Okta sends one value per group), not split
//!   on commas.
//! - Email verified: OIDC `email_verified` (`true`, any case); SAML `saml_email_verified`
//!   (default `true`: Okta is the organisation's directory and authoritative for its
//!   addresses). Never true without an email.
//! - Everything else passes through unchanged, e.g. `preferred_username` (the Okta login),
//!   `locale`, `zoneinfo`, `space_name`. `preferred_username` is never taken as the email:
//!   an Okta login is shaped like an email but need not be a mailbox the user reads.
//!
//! Configuration: `email_attribute`, `given_name_attribute`, `family_name_attribute`,
//! `display_name_attribute`, `groups_attribute` (one attribute name each, replacing the lists
//! above) and `saml_email_verified` (`true`/`false`); any other key, a blank value or a bad
//! flag is `invalid-config` naming the key.

wit_bindgen::generate!({
    path: "../../wit",
    world: "idp-adapter",
});
guest_kit::adapter_glue!();

use exports::gatehouse::plugin::adapter::Guest;
use gatehouse::plugin::types::{Identity, PluginError, RawIdentity};
use guest_kit::standard::prefer;
use guest_kit::{Claims, Conventions, Raw};

struct Okta;

/// The standard conventions with Okta's own names first.
fn conventions() -> Conventions {
    let mut c = Conventions::standard();
    prefer(&mut c.names.email, &["email"]);
    prefer(&mut c.names.given_name, &["firstName", "given_name"]);
    prefer(&mut c.names.family_name, &["lastName", "family_name"]);
    prefer(&mut c.names.display_name, &["name"]);
    prefer(&mut c.names.groups, &["groups"]);
    c
}

impl Guest for Okta {
    fn adapt(raw: RawIdentity) -> Result<Identity, PluginError> {
        let raw = Raw::from(raw);
        let reader = conventions().configure(&HostConfig, &[])?;
        let identity = reader.identity(raw.protocol, raw.subject, Claims::new(raw.attributes))?;
        Ok(identity.into())
    }
}

export!(Okta);
