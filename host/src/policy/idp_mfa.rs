//! Whether an IdP's answer proves multi-factor authentication, for connections the policy
//! asks to prove it. SAML carries it in the assertion's `AuthnContextClassRef` (SAML 2.0
//! authentication context classes; REFEDS MFA; Microsoft's `multipleauthn`), OIDC in the
//! ID token's `amr` (RFC 8176 values) and `acr`. Only values that mean more than one factor
//! count; an unknown value does not (fail closed).

/// Authentication context classes (SAML) and `acr` values (OIDC) that mean MFA.
const MFA_CONTEXTS: &[&str] = &[
    "https://refeds.org/profile/mfa",
    "http://schemas.microsoft.com/claims/multipleauthn",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical",
];

/// RFC 8176 `amr` values that are a factor beyond a password on their own (`mfa` says so
/// outright; the others are a possession or hardware factor).
const MFA_AMR: &[&str] = &["mfa", "otp", "hwk", "sc", "sms", "tel"];

/// Whether SAML authentication context classes prove MFA.
pub fn saml(class_refs: &[String]) -> bool {
    class_refs.iter().any(|c| MFA_CONTEXTS.contains(&c.trim()))
}

/// Whether OIDC `amr` values and an `acr` prove MFA.
pub fn oidc(amr: &[String], acr: Option<&str>) -> bool {
    amr.iter().any(|m| MFA_AMR.contains(&m.as_str()))
        || acr.is_some_and(|a| MFA_CONTEXTS.contains(&a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_multi_factor_values_count() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(oidc(&s(&["pwd", "mfa"]), None));
        assert!(oidc(&s(&["pwd", "otp"]), None));
        assert!(!oidc(&s(&["pwd"]), None));
        assert!(!oidc(&[], Some("1")));
        assert!(oidc(&[], Some("https://refeds.org/profile/mfa")));
        assert!(saml(&s(&[
            "http://schemas.microsoft.com/claims/multipleauthn"
        ])));
        assert!(!saml(&s(&[
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        ])));
    }
}
