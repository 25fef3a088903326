//! An OIDC connection's settings: the IdP's issuer (its discovery document is fetched from
//! it), our client id at the IdP, scopes, the ID-token signature algorithms we accept, how we
//! authenticate at the token endpoint, clock skew and whether to ask userinfo for more
//! claims. The client secret is not a setting: it is sealed with the tenant's data key and
//! never shown again.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Default and largest accepted clock skew, as for SAML.
const DEFAULT_SKEW_SECS: u32 = 120;
const MAX_SKEW_SECS: u32 = 600;
/// Longest client id and client secret accepted (Entra and Okta use well under 100).
const MAX_CLIENT_ID: usize = 256;
const MAX_CLIENT_SECRET: usize = 1024;
/// Most scopes, and the longest scope (RFC 6749 scope tokens; these stop a settings blob
/// that would make the authorization URL too long for browsers).
const MAX_SCOPES: usize = 20;
const MAX_SCOPE: usize = 100;

/// Signature algorithms an ID token may use. Only asymmetric ones: `none` is never a
/// signature, and HMAC algorithms would make the client secret (or, in the classic
/// confusion attack, the IdP's public key) the verification key.
pub const ACCEPTABLE_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// How we authenticate to the IdP's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = OidcTokenAuthMethod)]
pub enum TokenAuthMethod {
    /// HTTP Basic with the client id and secret (the OAuth default).
    ClientSecretBasic,
    /// The client id and secret in the form body.
    ClientSecretPost,
}

/// Stored settings of an OIDC connection (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = OidcConnectionSettings)]
pub struct OidcSettings {
    /// The IdP's issuer identifier; discovery is `{issuer}/.well-known/openid-configuration`
    /// and the ID token's `iss` must equal it exactly.
    pub issuer: String,
    pub client_id: String,
    /// Requested scopes; `openid` is always sent.
    pub scopes: Vec<String>,
    /// ID-token signature algorithms accepted (a subset of [`ACCEPTABLE_ALGS`]).
    pub allowed_algs: Vec<String>,
    pub token_auth_method: TokenAuthMethod,
    pub clock_skew_secs: u32,
    /// Also fetch the userinfo endpoint and add the claims the ID token lacks (for IdPs
    /// that keep profile claims out of the ID token).
    pub fetch_userinfo: bool,
}

/// What an admin sends; absent fields keep their current value on an update.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OidcConnectionInput)]
pub struct OidcInput {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Write-only: sealed, never returned.
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<SecretString>,
    pub scopes: Option<Vec<String>>,
    pub allowed_algs: Option<Vec<String>>,
    pub token_auth_method: Option<TokenAuthMethod>,
    pub clock_skew_secs: Option<u32>,
    pub fetch_userinfo: Option<bool>,
}

impl OidcInput {
    /// Builds settings, starting from `current` on an update. The secret is taken apart by
    /// the caller (it is sealed, not stored in the settings).
    pub fn into_settings(self, current: Option<&OidcSettings>) -> Result<OidcSettings, Error> {
        let required = |v: Option<String>, old: Option<&String>, field: &'static str| {
            v.or_else(|| old.cloned())
                .map(|s| s.trim().to_string())
                .ok_or_else(|| Error::invalid(field, "is required"))
        };
        let settings = OidcSettings {
            issuer: required(self.issuer, current.map(|c| &c.issuer), "oidc.issuer")?,
            client_id: required(
                self.client_id,
                current.map(|c| &c.client_id),
                "oidc.client_id",
            )?,
            scopes: self
                .scopes
                .or_else(|| current.map(|c| c.scopes.clone()))
                .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]),
            allowed_algs: self
                .allowed_algs
                .or_else(|| current.map(|c| c.allowed_algs.clone()))
                .unwrap_or_else(|| vec!["RS256".into()]),
            token_auth_method: self
                .token_auth_method
                .or(current.map(|c| c.token_auth_method))
                .unwrap_or(TokenAuthMethod::ClientSecretBasic),
            clock_skew_secs: self
                .clock_skew_secs
                .or(current.map(|c| c.clock_skew_secs))
                .unwrap_or(DEFAULT_SKEW_SECS),
            fetch_userinfo: self
                .fetch_userinfo
                .or(current.map(|c| c.fetch_userinfo))
                .unwrap_or(false),
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// Checks a client secret an admin sent.
pub fn check_secret(secret: &str) -> Result<(), Error> {
    if secret.is_empty() || secret.len() > MAX_CLIENT_SECRET || secret.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "oidc.client_secret",
            format!("must be 1 to {MAX_CLIENT_SECRET} printable characters"),
        ));
    }
    Ok(())
}

impl OidcSettings {
    fn validate(&self) -> Result<(), Error> {
        crate::sso::check_url("oidc.issuer", &self.issuer)?;
        if self.issuer.contains(['?', '#']) {
            return Err(Error::invalid(
                "oidc.issuer",
                "an issuer has no query or fragment",
            ));
        }
        if self.client_id.is_empty()
            || self.client_id.len() > MAX_CLIENT_ID
            || self.client_id.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "oidc.client_id",
                format!("must be 1 to {MAX_CLIENT_ID} printable characters"),
            ));
        }
        if self.scopes.len() > MAX_SCOPES
            || self.scopes.iter().any(|s| {
                s.is_empty()
                    || s.len() > MAX_SCOPE
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
            })
        {
            return Err(Error::invalid(
                "oidc.scopes",
                format!("give at most {MAX_SCOPES} scopes, each 1 to {MAX_SCOPE} printable ASCII characters without spaces"),
            ));
        }
        if self.allowed_algs.is_empty()
            || self
                .allowed_algs
                .iter()
                .any(|a| !ACCEPTABLE_ALGS.contains(&a.as_str()))
        {
            return Err(Error::invalid(
                "oidc.allowed_algs",
                format!(
                    "give one or more of {} (`none` and HMAC algorithms are refused)",
                    ACCEPTABLE_ALGS.join(", ")
                ),
            ));
        }
        if self.clock_skew_secs > MAX_SKEW_SECS {
            return Err(Error::invalid(
                "oidc.clock_skew_secs",
                format!("must be at most {MAX_SKEW_SECS} seconds"),
            ));
        }
        Ok(())
    }

    /// The scopes to request: `openid` first, then the rest without duplicates.
    pub fn request_scopes(&self) -> Vec<String> {
        let mut out = vec!["openid".to_string()];
        for s in &self.scopes {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> Result<OidcSettings, Error> {
        serde_json::from_value::<OidcInput>(json)
            .unwrap()
            .into_settings(None)
    }

    #[test]
    fn defaults_and_refusals() {
        let s = input(serde_json::json!({"issuer": "https://idp.example", "client_id": "abc"}))
            .unwrap();
        assert_eq!(s.allowed_algs, ["RS256"]);
        assert_eq!(s.request_scopes(), ["openid", "email", "profile"]);
        assert_eq!(s.clock_skew_secs, 120);
        for bad in [
            serde_json::json!({"issuer": "http://idp.example", "client_id": "abc"}),
            serde_json::json!({"issuer": "https://idp.example?x=1", "client_id": "abc"}),
            serde_json::json!({"issuer": "https://idp.example", "client_id": ""}),
            serde_json::json!({"issuer": "https://idp.example", "client_id": "a", "allowed_algs": ["none"]}),
            serde_json::json!({"issuer": "https://idp.example", "client_id": "a", "allowed_algs": ["HS256"]}),
            serde_json::json!({"issuer": "https://idp.example", "client_id": "a", "scopes": ["a b"]}),
            serde_json::json!({"issuer": "https://idp.example", "client_id": "a", "clock_skew_secs": 601}),
            serde_json::json!({"client_id": "a"}),
        ] {
            assert!(input(bad.clone()).is_err(), "{bad}");
        }
    }
}
