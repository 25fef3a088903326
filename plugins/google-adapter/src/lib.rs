//! The built-in adapter for Google Workspace, over OIDC (Sign in with Google) or SAML 2.0
//! (Google as the SAML IdP of a custom app).
//!
//! - Subject: OIDC `sub`, Google's stable numeric account id; SAML NameID, which Google sets to
//!   the user's primary email (it changes when the user is renamed). An empty subject is
//!   rejected.
//! - Fields: OIDC `email`, `given_name`, `family_name`, `name`; for SAML, whatever attribute
//!   names the Workspace admin mapped, read with the generic adapter's standard names, and the
//!   NameID as the email when no attribute carries one. An email value not shaped like an
//!   address is skipped, as in the generic adapter.
//! - Groups: the standard group attributes (Google sends groups over SAML only when the admin
//!   maps them; never in OIDC), every value, not split on commas.
//! - Email verified: OIDC `email_verified` (`true`, any case); SAML `saml_email_verified`
//!   (default `true`: Google is the organisation's directory). Never true without an email.
//! - Everything else passes through unchanged, including `hd` and `locale`.
//!
//! `hosted_domain` (comma-separated, e.g. `example.com, example.org`): when set, only those
//! Workspace domains may sign in. A login without a hosted domain (a consumer Google account
//! such as Gmail) or with another one is rejected, naming the domain. OIDC reads the `hd`
//! claim. SAML has no `hd`; an `hd` attribute, if the admin mapped one, is used, else the
//! domain of the NameID (the primary email) — so list every domain the users' primary
//! addresses use. Domains compare case-insensitively.
//!
//! Also reads the shared keys `email_attribute`, `given_name_attribute`,
//! `family_name_attribute`, `display_name_attribute`, `groups_attribute` and
//! `saml_email_verified`; any other key, a blank value or a bad flag is `invalid-config`.

wit_bindgen::generate!({
    path: "../../wit",
    world: "idp-adapter",
});
guest_kit::adapter_glue!();

use exports::gatehouse::plugin::adapter::Guest;
use gatehouse::plugin::types::{Identity, PluginError, RawIdentity};
use guest_kit::{comma_list, looks_like_email, Claims, Config, Conventions, Error, Protocol, Raw};

/// Config key: the Workspace domains allowed to sign in.
const HOSTED_DOMAIN: &str = "hosted_domain";

struct Google;

/// The allowed domains, lower-cased, or `None` when any account may sign in.
fn allowed_domains(cfg: &impl Config) -> Result<Option<Vec<String>>, Error> {
    let Some(text) = cfg.text(HOSTED_DOMAIN)? else {
        return Ok(None);
    };
    let domains: Vec<String> = comma_list(&text).map(str::to_ascii_lowercase).collect();
    if domains.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "`{HOSTED_DOMAIN}` lists no domain; give e.g. `example.com` or remove it"
        )));
    }
    Ok(Some(domains))
}

/// The login's Workspace domain: `hd`, or for SAML the domain of an email-shaped NameID.
fn hosted_domain(protocol: Protocol, subject: &str, claims: &Claims) -> Option<String> {
    let from_nameid = || {
        let nameid = subject.trim();
        (protocol == Protocol::Saml && looks_like_email(nameid))
            .then(|| {
                nameid
                    .rsplit_once('@')
                    .map(|(_, domain)| domain.to_string())
            })
            .flatten()
    };
    claims
        .get(&["hd"])
        .map(str::to_string)
        .or_else(from_nameid)
        .map(|d| d.to_ascii_lowercase())
}

/// Rejects a login whose hosted domain is missing or not in `allowed`.
fn check_domain(domain: Option<String>, allowed: &[String]) -> Result<(), Error> {
    let list = allowed.join(", ");
    match domain {
        Some(d) if allowed.contains(&d) => Ok(()),
        Some(d) => Err(Error::Rejected(format!(
            "the Google account's hosted domain `{d}` is not one this connection allows ({list})"
        ))),
        None => Err(Error::Rejected(format!(
            "the Google account has no hosted domain (`hd`): it is a consumer account, not one \
             of the Workspace domains this connection allows ({list})"
        ))),
    }
}

impl Guest for Google {
    fn adapt(raw: RawIdentity) -> Result<Identity, PluginError> {
        let Raw {
            protocol,
            subject,
            attributes,
            ..
        } = Raw::from(raw);
        let reader = Conventions::standard().configure(&HostConfig, &[HOSTED_DOMAIN])?;
        let claims = Claims::new(attributes);
        if let Some(allowed) = allowed_domains(&HostConfig)? {
            check_domain(hosted_domain(protocol, &subject, &claims), &allowed)?;
        }
        let identity = reader.identity(protocol, subject, claims)?;
        Ok(identity.into())
    }
}

export!(Google);
