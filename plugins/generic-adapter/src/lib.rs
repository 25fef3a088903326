//! The built-in adapter for any standards-compliant SAML 2.0 or OIDC identity provider.
//!
//! - Subject: the NameID (SAML) or `sub` (OIDC), unchanged. An empty subject is rejected.
//! - Email: the first present of `email`, `mail`, the WS-Federation `emailaddress` claim URI,
//!   `urn:oid:0.9.2342.19200300.100.1.3` and `urn:mace:dir:attribute-def:mail`/`email` whose value is shaped like an email address (a
//!   malformed one is skipped and passes through: the host would refuse it and fail the
//!   login); for SAML, else the NameID when it is shaped like an email address (NameID format
//!   `emailAddress`). An OIDC `sub` is never taken as an email: it is an opaque id.
//! - Names: given from `given_name`, `givenName`, `firstName`, `urn:oid:2.5.4.42`, `…/givenname`;
//!   family from `family_name`, `sn`, `surname`, `lastName`, `urn:oid:2.5.4.4`, `…/surname`;
//!   display from `name`, `displayName`, `urn:oid:2.16.840.1.113730.3.1.241`, Microsoft's
//!   `…/displayname`; each also in the legacy `urn:mace:dir:attribute-def:` form. Names match case-insensitively; the first non-blank value wins.
//! - Groups: every value of `groups`, `memberOf` and `http://schemas.xmlsoap.org/claims/Group`,
//!   merged in that order without repeats. A single comma-separated value is *not* split:
//!   group names may contain commas (an LDAP DN in `memberOf` is `CN=Staff,OU=Groups,…`), and
//!   IdPs send multi-valued attributes or JSON arrays, which arrive as several values.
//! - Email verified: OIDC reads `email_verified` (`true`, any case; anything else, or absent,
//!   is false). SAML has no such claim, so `saml_email_verified` decides (default `true`: the
//!   IdP is the organisation's own directory and authoritative for its accounts' addresses).
//!   Never true without an email.
//! - Every attribute not used above passes through unchanged (`locale`, `zoneinfo`,
//!   `space_name`, …), as do `email`-like attributes that lost to an earlier name.
//!
//! Configuration: `email_attribute`, `given_name_attribute`, `family_name_attribute`,
//! `display_name_attribute`, `groups_attribute` (one attribute name each, replacing the list
//! above) and `saml_email_verified` (`true`/`false`). Any other key, a blank value or a flag
//! that is neither `true` nor `false` is `invalid-config` naming the key.

wit_bindgen::generate!({
    path: "../../wit",
    world: "idp-adapter",
});
guest_kit::adapter_glue!();

use exports::gatehouse::plugin::adapter::Guest;
use gatehouse::plugin::types::{Identity, PluginError, RawIdentity};
use guest_kit::{Claims, Conventions, Raw};

struct Generic;

impl Guest for Generic {
    fn adapt(raw: RawIdentity) -> Result<Identity, PluginError> {
        let raw = Raw::from(raw);
        let reader = Conventions::standard().configure(&HostConfig, &[])?;
        let identity = reader.identity(raw.protocol, raw.subject, Claims::new(raw.attributes))?;
        Ok(identity.into())
    }
}

export!(Generic);
