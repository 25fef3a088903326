//! Helpers shared by the built-in guest components, so each adapter and mapper crate holds only
//! what is particular to it. This crate knows nothing of WIT: it works on its own plain types
//! ([`Raw`], [`Attr`], [`Canonical`], [`Error`]), and each guest connects its generated bindings
//! to them with one macro call ([`adapter_glue!`] or [`config_glue!`]).
//!
//! - [`config`]: reading the plugin's tenant-set configuration strictly (unknown keys, blank
//!   values and bad flags are configuration errors that name the key).
//! - [`claims`]: looking up raw attributes by name and consuming the ones an adapter interprets,
//!   so that everything else passes through unchanged.
//! - [`standard`]: the field conventions standards-compliant SAML 2.0 and OIDC IdPs follow
//!   (which names carry the email, names and groups; how email verification is read).
//! - [`glue`]: the macros.

pub mod claims;
pub mod config;
mod glue;
pub mod standard;

pub use claims::Claims;
pub use config::Config;
pub use standard::{Conventions, Names, Reader};

/// The sign-on protocol that produced a raw identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A SAML 2.0 assertion; the subject is the NameID.
    Saml,
    /// OpenID Connect claims; the subject is the `sub` claim.
    Oidc,
}

/// One SAML attribute or OIDC claim with all its values, in the order the IdP sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// The name exactly as sent.
    pub name: String,
    /// Every value, in order.
    pub values: Vec<String>,
}

/// What the IdP asserted, before interpretation.
#[derive(Debug, Clone)]
pub struct Raw {
    /// Which protocol it came in on.
    pub protocol: Protocol,
    /// The IdP's entity id or issuer URL.
    pub issuer: String,
    /// The NameID (SAML) or `sub` (OIDC).
    pub subject: String,
    /// Every attribute or claim.
    pub attributes: Vec<Attr>,
}

/// The canonical identity an adapter produces; mirrors the contract's `identity` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// Stable, unique id of the user at this IdP.
    pub subject: String,
    /// The email address, if the IdP gave one.
    pub email: Option<String>,
    /// True only when the IdP vouches for the email address.
    pub email_verified: bool,
    /// Given (first) name.
    pub given_name: Option<String>,
    /// Family (last) name.
    pub family_name: Option<String>,
    /// Full name for display.
    pub display_name: Option<String>,
    /// Group identifiers as the IdP sends them.
    pub groups: Vec<String>,
    /// Every raw attribute the adapter did not interpret, unchanged.
    pub attributes: Vec<Attr>,
}

/// Why a guest did not produce a result; mirrors the contract's `plugin-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Valid input that must not succeed; the text is shown to the tenant admin.
    Rejected(String),
    /// The configuration is missing or unusable; the text names the key.
    InvalidConfig(String),
    /// Input the guest cannot handle; the text says what to change.
    Unsupported(String),
}

/// Splits a comma-separated list: each part trimmed, empty parts dropped.
pub fn comma_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
}

/// True for something shaped like an email address: one `@` with text on both sides, a dot in
/// the domain, no whitespace. A plausibility check for choosing a value, not validation.
pub fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_lists_drop_blank_parts() {
        let parts: Vec<_> = comma_list(" a, ,b ,,c ").collect();
        assert_eq!(parts, ["a", "b", "c"]);
    }

    #[test]
    fn email_shapes() {
        assert!(looks_like_email("ada@example.com"));
        assert!(!looks_like_email("ada"));
        assert!(!looks_like_email("@example.com"));
        assert!(!looks_like_email("ada@localhost"));
        assert!(!looks_like_email("a b@example.com"));
        assert!(!looks_like_email("a@b@example.com"));
    }
}
