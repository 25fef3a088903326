//! A bare SAML 2.0 assertion an app presents for token exchange (RFC 8693 with
//! `…:token-type:saml2`, the assertion base64url-encoded as RFC 7522 §2.1 has it): the
//! assertion an IdP issued to this connection's SP, which a native app obtained itself. It
//! is checked as the assertion consumer checks one inside a response ([`super::response`]):
//! the same pre-scan, the assertion's own signature by the connection's certificates with
//! the same algorithms, issuer, audience, bearer confirmation to this SP's ACS URL, validity
//! window; encrypted assertions are refused. Its `InResponseTo`, if any, answers the app's
//! request, which Gatehouse did not see.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use samael::crypto::{Crypto, CryptoProvider, ReduceMode};
use samael::schema::Assertion;

use super::response::{
    check_assertion, prescan, root_name, signed_assertion, Expectations, Verified,
    ALLOWED_ALGORITHMS, MAX_RESPONSE_BYTES,
};
use super::Rejection;

/// The assertion's XML from the `subject_token` (base64url, padded or not).
pub fn decode(token: &str) -> Result<String, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(token))
        .map_err(|_| Rejection::Malformed("the subject token is not base64url".into()))?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(Rejection::Malformed(format!(
            "the assertion is over {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    String::from_utf8(bytes).map_err(|_| Rejection::Malformed("the assertion is not UTF-8".into()))
}

/// The issuer the assertion claims, unverified: only to pick the connection whose checks run.
pub fn claimed_issuer(xml: &str) -> Option<String> {
    prescan(xml).ok()?;
    let assertion: Assertion = xml.parse().ok()?;
    assertion.issuer.value.map(|v| v.trim().to_string())
}

/// Verifies a presented assertion (`expect.app_solicited` should be set).
pub fn verify(xml: &str, expect: &Expectations) -> Result<Verified, Rejection> {
    let shape = prescan(xml)?;
    if shape.encrypted > 0 {
        return Err(Rejection::Malformed(
            "an encrypted assertion cannot be exchanged: present the decrypted, signed one".into(),
        ));
    }
    if root_name(xml).map_err(Rejection::Malformed)? != "Assertion" {
        return Err(Rejection::Malformed(
            "the subject token must be a SAML Assertion element".into(),
        ));
    }
    if !shape.assertion_signed {
        return Err(Rejection::AssertionNotSigned);
    }
    let reduced = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        expect.certificates,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&ALLOWED_ALGORITHMS),
    )
    .map_err(|_| Rejection::BadSignature)?;
    let assertion = signed_assertion(&reduced, true)?;
    check_assertion(&assertion, expect)
}
