//! The built-in adapter for Microsoft Entra ID (formerly Azure AD), over SAML 2.0 or OIDC.
//!
//! - Subject: the object id (`…/identity/claims/objectidentifier`, OIDC `oid`) when present,
//!   else the NameID / `sub`. Entra's `sub` is pairwise (different per application) and its
//!   default SAML NameID is the UPN, which an admin can change; the object id is the user's
//!   one immutable id in the tenant. (OIDC sends `oid` with the `profile` scope.)
//! - Email: `…/claims/emailaddress` (SAML, the user's `mail`), OIDC `email`, then the standard
//!   names; a value not shaped like an address is skipped, as in the generic adapter. The UPN (`…/claims/name`, `upn`, `preferred_username`) is never taken as the email,
//!   nor is the NameID: a UPN looks like an address but need not be a mailbox. It passes
//!   through; set `email_attribute` to `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name`
//!   to use it anyway.
//! - Names: `…/claims/givenname` / `given_name`, `…/claims/surname` / `family_name`,
//!   `…/identity/claims/displayname` / `name`, then the standard names.
//! - Groups: `…/ws/2008/06/identity/claims/groups` / `groups`: object ids (GUIDs), passed as
//!   they are; map them to roles by id.
//! - Groups overage: when a user is in more groups than fit (150 in SAML, 200 in a JWT), Entra
//!   sends a link to Microsoft Graph instead of the groups (SAML `…/claims/groups.link`; OIDC
//!   `_claim_names` naming `groups`, or `hasgroups`). This adapter cannot call Graph, and
//!   continuing without groups would silently drop roles, so the login fails `unsupported`
//!   with a message telling the admin to restrict the group claim.
//! - Email verified: Entra does not verify the OIDC `email` claim: it is the user's `mail`
//!   attribute, which in a tenant with unverified domains anyone can set to any address (the
//!   "nOAuth" account takeover). OIDC email counts as verified only when the optional claim
//!   `xms_edov` (email domain owner verified) is `true`; add it to the app's token
//!   configuration. `email_verified` is ignored and passes through. SAML uses
//!   `saml_email_verified` (default `true`, as the tenant's own directory vouches for `mail`
//!   within the tenant the connection is limited to; set `tenant_id`).
//! - Everything else passes through unchanged (tenant id, UPN, `roles`, `space_name`, …).
//!
//! `tenant_id` (the directory id, a GUID): when set, a login from another tenant, or with no
//! tenant id (`…/identity/claims/tenantid`, OIDC `tid`), is rejected, naming both. Set it for
//! every single-tenant connection. Also reads the shared keys `email_attribute`,
//! `given_name_attribute`, `family_name_attribute`, `display_name_attribute`,
//! `groups_attribute` and `saml_email_verified`; any other key, a blank value, a bad flag or a
//! `tenant_id` that is not a GUID is `invalid-config` naming the key.

wit_bindgen::generate!({
    path: "../../wit",
    world: "idp-adapter",
});
guest_kit::adapter_glue!();

use exports::gatehouse::plugin::adapter::Guest;
use gatehouse::plugin::types::{Identity, PluginError, RawIdentity};
use guest_kit::standard::prefer;
use guest_kit::{Claims, Config, Conventions, Error, Protocol, Raw};

/// Config key: the only tenant allowed to sign in.
const TENANT_ID: &str = "tenant_id";

/// The user's immutable object id.
const OBJECT_ID: [&str; 2] = [
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "oid",
];
/// The directory (tenant) id the user signed in from.
const TENANT: [&str; 2] = [
    "http://schemas.microsoft.com/identity/claims/tenantid",
    "tid",
];
/// SAML claim URIs Entra sends by default.
const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
const GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
const DISPLAY_NAME: &str = "http://schemas.microsoft.com/identity/claims/displayname";
const GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
/// SAML groups overage: a Graph link in place of the groups.
const SAML_GROUPS_LINK: &str = "http://schemas.microsoft.com/claims/groups.link";

struct Entra;

/// The standard conventions with Entra's claim names first, `xms_edov` as the OIDC
/// verification claim, and no NameID fallback for the email.
fn conventions() -> Conventions {
    let mut c = Conventions::standard();
    let n = &mut c.names;
    prefer(&mut n.email, &[EMAIL, "email"]);
    prefer(&mut n.given_name, &[GIVEN_NAME, "given_name"]);
    prefer(&mut n.family_name, &[SURNAME, "family_name"]);
    prefer(&mut n.display_name, &[DISPLAY_NAME, "name"]);
    prefer(&mut n.groups, &[GROUPS, "groups"]);
    c.verified_claim = "xms_edov";
    c.nameid_is_email = false;
    c
}

/// The configured tenant id, lower-cased; it must be a GUID.
fn tenant_id(cfg: &impl Config) -> Result<Option<String>, Error> {
    let Some(id) = cfg.text(TENANT_ID)? else {
        return Ok(None);
    };
    if !is_guid(&id) {
        return Err(Error::InvalidConfig(format!(
            "`{TENANT_ID}` must be the directory (tenant) id, the GUID shown as Tenant ID on \
             the Entra admin center's overview page, not `{id}`"
        )));
    }
    Ok(Some(id.to_ascii_lowercase()))
}

/// True for `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Rejects a login whose tenant is not `expected`.
fn check_tenant(claims: &Claims, expected: &str) -> Result<(), Error> {
    match claims.get(&TENANT) {
        Some(tid) if tid.eq_ignore_ascii_case(expected) => Ok(()),
        Some(tid) => Err(Error::Rejected(format!(
            "the login comes from Entra tenant `{tid}`, but this connection accepts only tenant \
             `{expected}`"
        ))),
        None => Err(Error::Rejected(format!(
            "the login carries no Entra tenant id, but this connection accepts only tenant \
             `{expected}`"
        ))),
    }
}

/// Fails when Entra replaced the groups with a link (groups overage).
fn check_overage(protocol: Protocol, claims: &Claims) -> Result<(), Error> {
    let overage = match protocol {
        Protocol::Saml => claims.contains(SAML_GROUPS_LINK),
        Protocol::Oidc => {
            claims.contains("hasgroups")
                || claims
                    .get(&["_claim_names"])
                    .is_some_and(|names| names.contains("groups"))
        }
    };
    if overage {
        return Err(Error::Unsupported(
            "Entra ID sent a link to the user's groups instead of the groups (groups overage: \
             the user is in more than 150 groups for SAML or 200 for OIDC), and Gatehouse does \
             not call Microsoft Graph. In the Entra app registration, set the groups claim to \
             \"Groups assigned to the application\" and assign the groups that matter, or \
             filter the groups the claim includes."
                .into(),
        ));
    }
    Ok(())
}

impl Guest for Entra {
    fn adapt(raw: RawIdentity) -> Result<Identity, PluginError> {
        let Raw {
            protocol,
            subject,
            attributes,
            ..
        } = Raw::from(raw);
        let reader = conventions().configure(&HostConfig, &[TENANT_ID])?;
        let mut claims = Claims::new(attributes);
        if let Some(expected) = tenant_id(&HostConfig)? {
            check_tenant(&claims, &expected)?;
        }
        check_overage(protocol, &claims)?;
        let subject = claims.take(&OBJECT_ID).unwrap_or(subject);
        let identity = reader.identity(protocol, subject, claims)?;
        Ok(identity.into())
    }
}

export!(Entra);
