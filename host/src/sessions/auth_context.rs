//! How a session's user authenticated, in the terms an app reads from an ID token (the IPSIE
//! SL1 profile asks for them): `amr` (RFC 8176 method references) and `acr` (the class of
//! the whole authentication). Gatehouse's own sign-ins say it from the session's method; an
//! SSO sign-in passes on what the upstream IdP said ([`Upstream`], kept on the session as
//! JSON), whose `session_expiry` also caps the session. It decides nothing about policy:
//! whether an IdP proved MFA is [`crate::policy::idp_mfa`]'s reading.

use serde::{Deserialize, Serialize};

/// The `acr` of an authentication with more than one factor: the PAPE multi-factor policy,
/// which relying parties (and Gatehouse's own IdP checks) recognise.
pub const ACR_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
/// The `acr` of a single factor: a password, or an IdP that showed no more.
pub const ACR_SINGLE_FACTOR: &str = "urn:gatehouse:acr:single-factor";
/// Most upstream `amr` values kept, and the longest value (an IdP controls both).
const MAX_AMR: usize = 10;
const MAX_VALUE: usize = 256;

/// What the upstream IdP said about the authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// Its `amr` values (OIDC); SAML has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Its `acr` (OIDC), or the assertion's first `AuthnContextClassRef` (SAML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Whether its answer proves MFA.
    #[serde(default)]
    pub mfa: bool,
    /// When the IdP's own session ends (its `session_expiry` claim, unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiry: Option<i64>,
}

fn fits(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_VALUE && !value.chars().any(char::is_control)
}

impl Upstream {
    /// The IdP's values, bounded: at most ten `amr` values and no over-long or control
    /// characters (others are dropped, not trimmed: a cut value would mean something else).
    pub fn new(amr: &[String], acr: Option<&str>, mfa: bool, session_expiry: Option<i64>) -> Self {
        Self {
            amr: amr
                .iter()
                .filter(|v| fits(v))
                .take(MAX_AMR)
                .cloned()
                .collect(),
            acr: acr.filter(|v| fits(v)).map(str::to_string),
            mfa,
            session_expiry: session_expiry.filter(|s| *s > 0),
        }
    }
}

/// The `amr` and `acr` of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    pub amr: Vec<String>,
    pub acr: String,
}

/// How the user of a session opened with `method` (`password`, `password+totp`,
/// `password+recovery_code`, `sso:…`) authenticated; `upstream` is the IdP's account of an
/// SSO sign-in.
pub fn of(method: &str, upstream: Option<&Upstream>) -> AuthContext {
    let local = |amr: &[&str], acr: &str| AuthContext {
        amr: amr.iter().map(|m| m.to_string()).collect(),
        acr: acr.to_string(),
    };
    match method {
        "password" => local(&["pwd"], ACR_SINGLE_FACTOR),
        "password+totp" => local(&["pwd", "otp", "mfa"], ACR_MFA),
        // A one-time recovery code stands in for the authenticator.
        "password+recovery_code" => local(&["pwd", "mfa"], ACR_MFA),
        _ => {
            let upstream = upstream.cloned().unwrap_or_default();
            let mut amr = upstream.amr;
            if upstream.mfa && !amr.iter().any(|m| m == "mfa") {
                amr.push("mfa".into());
            }
            let fallback = if upstream.mfa {
                ACR_MFA
            } else {
                ACR_SINGLE_FACTOR
            };
            AuthContext {
                amr,
                acr: upstream.acr.unwrap_or_else(|| fallback.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_methods_and_upstream_values_become_amr_and_acr() {
        assert_eq!(of("password", None).amr, ["pwd"]);
        assert_eq!(of("password", None).acr, ACR_SINGLE_FACTOR);
        assert_eq!(of("password+totp", None).acr, ACR_MFA);
        let okta = Upstream::new(
            &["pwd".into(), "otp".into()],
            Some("urn:okta:mfa"),
            true,
            None,
        );
        let c = of("sso:x", Some(&okta));
        assert_eq!(
            (c.amr, c.acr.as_str()),
            (
                vec!["pwd".into(), "otp".into(), "mfa".into()],
                "urn:okta:mfa"
            )
        );
        let saml = Upstream::new(&[], None, false, None);
        assert_eq!(of("sso:x", Some(&saml)).acr, ACR_SINGLE_FACTOR);
        assert!(of("sso:x", None).amr.is_empty());
    }

    #[test]
    fn upstream_values_are_bounded() {
        let many: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        let long = "x".repeat(MAX_VALUE + 1);
        let u = Upstream::new(&many, Some(&long), false, Some(-5));
        assert_eq!(u.amr.len(), MAX_AMR);
        assert_eq!((u.acr, u.session_expiry), (None, None));
        let u = Upstream::new(&["a\nb".into()], Some("ok"), false, Some(1));
        assert!(u.amr.is_empty());
        assert_eq!(u.acr.as_deref(), Some("ok"));
    }
}
