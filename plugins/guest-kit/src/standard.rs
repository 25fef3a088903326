//! The field conventions of standards-compliant SAML 2.0 and OIDC IdPs: which attribute names
//! carry the email, names and groups, and how email verification is read. An adapter starts
//! from [`Conventions::standard`], adjusts what its IdP does differently, applies the tenant's
//! configuration with [`Conventions::configure`] and builds the identity with
//! [`Reader::identity`].
//!
//! Configuration keys every adapter reads:
//! - `email_attribute`, `given_name_attribute`, `family_name_attribute`,
//!   `display_name_attribute`, `groups_attribute`: one attribute name that replaces the
//!   adapter's list of names for that field.
//! - `saml_email_verified` (`true`/`false`, default `true`): whether a SAML email counts as
//!   verified. SAML has no verification claim; the IdP is the organisation's own directory and
//!   authoritative for its accounts' addresses. Set `false` for an IdP that lets users edit
//!   their own email address.

use crate::{looks_like_email, Canonical, Claims, Config, Error, Protocol};

/// The configuration keys [`Conventions::configure`] reads.
pub const SHARED_KEYS: [&str; 6] = [
    EMAIL_ATTRIBUTE,
    GIVEN_NAME_ATTRIBUTE,
    FAMILY_NAME_ATTRIBUTE,
    DISPLAY_NAME_ATTRIBUTE,
    GROUPS_ATTRIBUTE,
    SAML_EMAIL_VERIFIED,
];
const EMAIL_ATTRIBUTE: &str = "email_attribute";
const GIVEN_NAME_ATTRIBUTE: &str = "given_name_attribute";
const FAMILY_NAME_ATTRIBUTE: &str = "family_name_attribute";
const DISPLAY_NAME_ATTRIBUTE: &str = "display_name_attribute";
const GROUPS_ATTRIBUTE: &str = "groups_attribute";
const SAML_EMAIL_VERIFIED: &str = "saml_email_verified";

/// For each identity field, the attribute names that may carry it, most preferred first.
#[derive(Debug, Clone)]
pub struct Names {
    /// The first one present whose value is shaped like an email address is the email (a
    /// malformed one is skipped and passes through, rather than failing the login).
    pub email: Vec<String>,
    /// The first one present is the given name.
    pub given_name: Vec<String>,
    /// The first one present is the family name.
    pub family_name: Vec<String>,
    /// The first one present is the display name.
    pub display_name: Vec<String>,
    /// Every value of every one present is a group.
    pub groups: Vec<String>,
}

/// Owned names from a static list.
pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| n.to_string()).collect()
}

/// Puts `first` at the front of `list`, in that order, keeping the other names after them:
/// an adapter's own IdP names win over the standard ones when an IdP sends both.
pub fn prefer(list: &mut Vec<String>, first: &[&str]) {
    list.retain(|name| !first.contains(&name.as_str()));
    list.splice(0..0, first.iter().map(|n| n.to_string()));
}

impl Names {
    /// OIDC standard claims, LDAP/eduPerson SAML names (plain, `urn:oid:` and the legacy
    /// `urn:mace:dir:attribute-def:` form older Shibboleth and pysaml2 IdPs send), and the
    /// WS-Federation claim URIs ADFS and Entra ID use.
    pub fn standard() -> Self {
        Self {
            email: names(&[
                "email",
                "mail",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                "urn:oid:0.9.2342.19200300.100.1.3",
                "urn:mace:dir:attribute-def:mail",
                "urn:mace:dir:attribute-def:email",
            ]),
            given_name: names(&[
                "given_name",
                "givenName",
                "firstName",
                "urn:oid:2.5.4.42",
                "urn:mace:dir:attribute-def:givenName",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
            ]),
            family_name: names(&[
                "family_name",
                "sn",
                "surname",
                "lastName",
                "urn:oid:2.5.4.4",
                "urn:mace:dir:attribute-def:sn",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
            ]),
            display_name: names(&[
                "name",
                "displayName",
                "urn:oid:2.16.840.1.113730.3.1.241",
                "urn:mace:dir:attribute-def:displayName",
                "http://schemas.microsoft.com/identity/claims/displayname",
            ]),
            groups: names(&[
                "groups",
                "memberOf",
                "http://schemas.xmlsoap.org/claims/Group",
            ]),
        }
    }
}

/// How one IdP family presents the standard fields.
#[derive(Debug, Clone)]
pub struct Conventions {
    /// Where each field is found.
    pub names: Names,
    /// The OIDC claim whose value `true` (any case) marks the email verified.
    pub verified_claim: &'static str,
    /// Whether a SAML NameID shaped like an email is the email when no attribute carries one
    /// (NameID format `emailAddress`).
    pub nameid_is_email: bool,
}

impl Conventions {
    /// What a standards-compliant IdP does: [`Names::standard`], OIDC `email_verified`, and
    /// the NameID as fallback email.
    pub fn standard() -> Self {
        Self {
            names: Names::standard(),
            verified_claim: "email_verified",
            nameid_is_email: true,
        }
    }

    /// Applies the tenant's configuration ([`SHARED_KEYS`]). Any key set that is neither one
    /// of those nor in `extra_keys` (read by the adapter itself) is an error.
    pub fn configure(mut self, cfg: &impl Config, extra_keys: &[&str]) -> Result<Reader, Error> {
        let known: Vec<&str> = SHARED_KEYS.iter().chain(extra_keys).copied().collect();
        cfg.only_known(&known)?;
        let fields = [
            (EMAIL_ATTRIBUTE, &mut self.names.email),
            (GIVEN_NAME_ATTRIBUTE, &mut self.names.given_name),
            (FAMILY_NAME_ATTRIBUTE, &mut self.names.family_name),
            (DISPLAY_NAME_ATTRIBUTE, &mut self.names.display_name),
            (GROUPS_ATTRIBUTE, &mut self.names.groups),
        ];
        for (key, list) in fields {
            if let Some(name) = cfg.text(key)? {
                *list = vec![name];
            }
        }
        Ok(Reader {
            saml_email_verified: cfg.flag(SAML_EMAIL_VERIFIED, true)?,
            conventions: self,
        })
    }
}

/// [`Conventions`] with the tenant's configuration applied, ready to read identities.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The conventions, with configured names in place.
    conventions: Conventions,
    /// Whether a SAML email counts as verified (`saml_email_verified`).
    saml_email_verified: bool,
}

impl Reader {
    /// Builds the identity for `subject`, taking the standard fields from `claims`; every
    /// attribute not taken passes through. Rejects a blank subject. `email_verified` is false
    /// whenever there is no email.
    pub fn identity(
        &self,
        protocol: Protocol,
        subject: String,
        mut claims: Claims,
    ) -> Result<Canonical, Error> {
        if subject.trim().is_empty() {
            return Err(Error::Rejected(
                "the IdP sent an empty subject (SAML NameID or OIDC `sub`), so the user cannot be identified".into(),
            ));
        }
        let c = &self.conventions;
        let nameid_email = || {
            let nameid = subject.trim();
            (protocol == Protocol::Saml && c.nameid_is_email && looks_like_email(nameid))
                .then(|| nameid.to_string())
        };
        let email = claims
            .take_if(&c.names.email, looks_like_email)
            .or_else(nameid_email);
        let vouched = match protocol {
            Protocol::Oidc => claims
                .take(&[c.verified_claim])
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            Protocol::Saml => self.saml_email_verified,
        };
        Ok(Canonical {
            email_verified: vouched && email.is_some(),
            email,
            given_name: claims.take(&c.names.given_name),
            family_name: claims.take(&c.names.family_name),
            display_name: claims.take(&c.names.display_name),
            groups: claims.take_all(&c.names.groups),
            subject,
            attributes: claims.into_rest(),
        })
    }
}
