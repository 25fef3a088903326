//! The assertion consumer's checks on a `<samlp:Response>` (SAML 2.0 core §3.2.2 and the Web
//! SSO profile §4.1.4): a structural pre-scan that refuses what no honest IdP sends (DTDs,
//! comments, several assertions), the XML signature verified by xmlsec through samael against
//! the connection's certificates with an allow-list of algorithms, and then every semantic
//! check against Gatehouse's own clock. Only content that the signature covers is read for
//! identity; the unsigned envelope is read only for Status, Destination and InResponseTo.
//!
//! The replay check (one-time use of the assertion id) needs the database and lives in
//! `replay`; this module reports the id and until when it must be remembered.

use crate::sessions::auth_context::Upstream;
use quick_xml::events::Event;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use samael::schema::{Assertion, Response};

use super::{encryption, Rejection};
use crate::identity::{Attribute, Protocol, RawIdentity};
use crate::types::Timestamp;

/// Largest decoded response accepted. Real responses with many groups stay under 100 KiB;
/// the cap bounds parser and signature work for a request anyone can send.
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;
/// Longest NameID kept as a subject (the pipeline's own subject limit).
const MAX_SUBJECT_CHARS: usize = 512;
/// Most attributes and values per attribute read from an assertion.
const MAX_ATTRIBUTES: usize = 256;
const MAX_VALUES: usize = 1000;
/// An assertion issued longer ago than this (plus skew) is stale, whatever its conditions say.
const MAX_ASSERTION_AGE_SECS: i64 = 10 * 60;
/// The longest a replay-cache entry is kept, capping what a far-future NotOnOrAfter costs.
const MAX_REPLAY_WINDOW_SECS: i64 = 24 * 3600;

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// Signature algorithms accepted: SHA-2 RSA and ECDSA. SHA-1 and DSA are refused.
pub(super) const ALLOWED_ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// What the response must match: the connection's settings and the sign-in it answers.
pub struct Expectations<'a> {
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub idp_entity_id: &'a str,
    pub certificates: &'a [CertificateDer],
    /// The connection's SP decryption keys (for encrypted assertions), newest first.
    pub decryption_keys: &'a [openssl::pkey::PKey<openssl::pkey::Private>],
    /// Accept CBC content encryption (the connection opted in); AES-GCM otherwise.
    pub allow_cbc: bool,
    pub want_assertions_signed: bool,
    pub skew_secs: i64,
    /// The AuthnRequest id this answers (SP-initiated), or `None` for an unsolicited response.
    pub request_id: Option<&'a str>,
    /// An assertion an app presents answers the app's own request, which Gatehouse never
    /// saw: any `InResponseTo` is taken (the app checked it; the replay cache still holds).
    pub app_solicited: bool,
    pub now: Timestamp,
}

/// A response that passed every check but the replay cache.
#[derive(Debug)]
pub struct Verified {
    pub assertion_id: String,
    /// Remember the assertion id until then.
    pub replay_until: Timestamp,
    pub identity: RawIdentity,
    /// What the IdP said of the authentication: its `AuthnContextClassRef` (as `acr`, and
    /// whether it proves MFA) and `SessionNotOnOrAfter` (as the session's end).
    pub upstream: Upstream,
}

/// What the pre-scan counted.
#[derive(Default)]
pub(super) struct Shape {
    pub(super) assertions: usize,
    pub(super) encrypted: usize,
    pub(super) signatures: usize,
    /// A Signature is a direct child of the Assertion element.
    pub(super) assertion_signed: bool,
}

/// Refuses DTDs (entity expansion, XXE), comments (NameID comment injection), processing
/// instructions and more than one assertion (signature wrapping); counts signatures.
pub(super) fn prescan(xml: &str) -> Result<Shape, Rejection> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut shape = Shape::default();
    let mut parents: Vec<Vec<u8>> = Vec::new();
    loop {
        let event = reader.read_event();
        if let Ok(Event::Start(e) | Event::Empty(e)) = &event {
            if e.local_name().as_ref() == b"Signature"
                && parents.last().is_some_and(|p| p == b"Assertion")
            {
                shape.assertion_signed = true;
            }
        }
        match &event {
            Ok(Event::Start(e)) => parents.push(e.local_name().as_ref().to_vec()),
            Ok(Event::End(_)) => {
                parents.pop();
            }
            _ => {}
        }
        match event {
            Ok(Event::Eof) => break,
            Ok(Event::DocType(_)) => return Err(Rejection::ForbiddenXml("a DOCTYPE")),
            Ok(Event::Comment(_)) => return Err(Rejection::ForbiddenXml("an XML comment")),
            Ok(Event::PI(_)) => return Err(Rejection::ForbiddenXml("a processing instruction")),
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                b"Assertion" => shape.assertions += 1,
                b"EncryptedAssertion" => shape.encrypted += 1,
                b"Signature" => shape.signatures += 1,
                _ => {}
            },
            Ok(_) => {}
            Err(e) => return Err(Rejection::Malformed(format!("not well-formed XML: {e}"))),
        }
    }
    if shape.assertions + shape.encrypted != 1 {
        return Err(Rejection::AssertionCount(
            shape.assertions + shape.encrypted,
        ));
    }
    Ok(shape)
}

/// samael's times are chrono's; Gatehouse's clock counts microseconds.
fn micros(t: &chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp::from_micros(t.timestamp_micros())
}

/// Verifies a decoded SAML response. See the module doc for the order of checks.
pub fn verify(xml: &str, expect: &Expectations) -> Result<Verified, Rejection> {
    if xml.len() > MAX_RESPONSE_BYTES {
        return Err(Rejection::Malformed(format!(
            "the response is over {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    let shape = prescan(xml)?;
    // The envelope is read without the encrypted assertion, which the schema types cannot
    // always parse; the assertion itself is read after decryption.
    let without_encrypted;
    let envelope_xml = match shape.encrypted {
        0 => xml,
        _ => match encryption::element_span(xml, b"EncryptedAssertion")? {
            Some((start, end)) => {
                without_encrypted = format!("{}{}", &xml[..start], &xml[end..]);
                without_encrypted.as_str()
            }
            None => xml,
        },
    };
    let envelope: Response = envelope_xml
        .parse()
        .map_err(|e| Rejection::Malformed(format!("not a SAML Response: {e}")))?;
    check_envelope(&envelope, expect)?;
    let encrypted = shape.encrypted > 0;
    // From decryption to a verified signature, an encrypted assertion's failures are told
    // apart only in the audit log (see `Rejection::Undecryptable`).
    let conceal = |r: Rejection| if encrypted { r.concealed() } else { r };
    let decrypted;
    let (xml, shape) = if encrypted {
        decrypted = decrypt(xml, &shape, expect).map_err(conceal)?;
        let shape = prescan(&decrypted).map_err(conceal)?;
        if shape.encrypted > 0 {
            return Err(conceal(Rejection::AssertionCount(2)));
        }
        (decrypted.as_str(), shape)
    } else {
        (xml, shape)
    };
    if shape.signatures == 0 {
        return Err(conceal(Rejection::Unsigned));
    }
    let reduced = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        expect.certificates,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&ALLOWED_ALGORITHMS),
    )
    .map_err(|_| conceal(Rejection::BadSignature))?;
    let assertion = signed_assertion(
        &reduced,
        expect.want_assertions_signed && !shape.assertion_signed,
    )
    .map_err(conceal)?;
    check_assertion(&assertion, expect)
}

/// Verifies a signature over the encrypted form (if any: it can only be the response's),
/// drops it (its digest covered the ciphertext) and decrypts the assertion in place. The
/// assertion inside must then carry its own signature, checked like any other.
fn decrypt(xml: &str, shape: &Shape, expect: &Expectations) -> Result<String, Rejection> {
    let mut outer = xml.to_string();
    if shape.signatures > 0 {
        Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            expect.certificates,
            ReduceMode::ValidateAndMarkNoAncestors,
            Some(&ALLOWED_ALGORITHMS),
        )
        .map_err(|_| Rejection::BadSignature)?;
        if let Some((start, end)) = encryption::element_span(xml, b"Signature")? {
            outer = format!("{}{}", &xml[..start], &xml[end..]);
        }
    }
    if expect.decryption_keys.is_empty() {
        return Err(Rejection::Undecryptable(
            "the connection holds no decryption key".into(),
        ));
    }
    encryption::decrypt_in_place(&outer, expect.decryption_keys, expect.allow_cbc)
}

/// Status, Destination, Issuer and InResponseTo on the response element.
fn check_envelope(response: &Response, expect: &Expectations) -> Result<(), Rejection> {
    let status = response
        .status
        .as_ref()
        .and_then(|s| s.status_code.value.as_deref())
        .unwrap_or_default();
    if status != STATUS_SUCCESS {
        return Err(Rejection::Status(status.to_string()));
    }
    if let Some(destination) = &response.destination {
        if destination != expect.acs_url {
            return Err(Rejection::Destination);
        }
    } else if response.signature.is_some() {
        // Core §3.4.5.2: a signed response must carry its Destination.
        return Err(Rejection::Destination);
    }
    if let Some(issuer) = response.issuer.as_ref().and_then(|i| i.value.as_deref()) {
        if issuer.trim() != expect.idp_entity_id {
            return Err(Rejection::Issuer);
        }
    }
    check_in_response_to(response.in_response_to.as_deref(), expect)
}

fn check_in_response_to(found: Option<&str>, expect: &Expectations) -> Result<(), Rejection> {
    match (expect.request_id, found) {
        (None, _) if expect.app_solicited => Ok(()),
        (Some(expected), Some(found)) if expected == found => Ok(()),
        (Some(_), _) => Err(Rejection::InResponseTo),
        (None, None) => Ok(()),
        (None, Some(_)) => Err(Rejection::InResponseTo),
    }
}

/// The assertion from the signature-verified document. Every signature in the document
/// verified, so an assertion carrying its own Signature is signed; `need_own_signature`
/// (wanted, and the pre-scan saw none inside the assertion) is met only when the verified
/// content is the assertion itself.
pub(super) fn signed_assertion(
    reduced: &str,
    need_own_signature: bool,
) -> Result<Assertion, Rejection> {
    let malformed = |e: String| Rejection::Malformed(format!("signed content: {e}"));
    let root = root_name(reduced).map_err(malformed)?;
    let assertion = match root.as_str() {
        "Assertion" => reduced
            .parse::<Assertion>()
            .map_err(|e| malformed(e.to_string()))?,
        "Response" => reduced
            .parse::<Response>()
            .map_err(|e| malformed(e.to_string()))?
            .assertion
            .ok_or(Rejection::AssertionCount(0))?,
        other => return Err(malformed(format!("unexpected signed element {other}"))),
    };
    if need_own_signature && root != "Assertion" {
        return Err(Rejection::AssertionNotSigned);
    }
    Ok(assertion)
}

pub(super) fn root_name(xml: &str) -> Result<String, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                return Ok(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
            }
            Ok(Event::Eof) => return Err("empty document".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

pub(super) fn check_assertion(
    assertion: &Assertion,
    expect: &Expectations,
) -> Result<Verified, Rejection> {
    let skew = expect.skew_secs;
    let now = expect.now;
    if assertion.issuer.value.as_deref().map(str::trim) != Some(expect.idp_entity_id) {
        return Err(Rejection::Issuer);
    }
    let issued = micros(&assertion.issue_instant);
    if issued.plus_seconds(-skew) > now {
        return Err(Rejection::NotYetValid);
    }
    if issued.plus_seconds(MAX_ASSERTION_AGE_SECS + skew) < now {
        return Err(Rejection::Expired);
    }
    let conditions = assertion.conditions.as_ref().ok_or(Rejection::Audience)?;
    if let Some(not_before) = &conditions.not_before {
        if micros(not_before).plus_seconds(-skew) > now {
            return Err(Rejection::NotYetValid);
        }
    }
    let mut replay_until = issued.plus_seconds(MAX_ASSERTION_AGE_SECS + skew);
    if let Some(not_after) = &conditions.not_on_or_after {
        let not_after = micros(not_after);
        if not_after.plus_seconds(skew) <= now {
            return Err(Rejection::Expired);
        }
        replay_until = replay_until.max(not_after.plus_seconds(skew));
    }
    // Every AudienceRestriction must name us (core §2.5.1.4); at least one must be present.
    let restrictions = conditions.audience_restrictions.as_deref().unwrap_or(&[]);
    if restrictions.is_empty()
        || !restrictions
            .iter()
            .all(|r| r.audience.iter().any(|a| a.trim() == expect.sp_entity_id))
    {
        return Err(Rejection::Audience);
    }
    let subject = assertion.subject.as_ref().ok_or(Rejection::NoSubject)?;
    let confirmation_until = check_confirmation(subject, expect)?;
    replay_until = replay_until.max(confirmation_until);
    let name_id = subject
        .name_id
        .as_ref()
        .map(|n| n.value.trim())
        .filter(|v| !v.is_empty())
        .ok_or(Rejection::NoSubject)?;
    if name_id.chars().count() > MAX_SUBJECT_CHARS {
        return Err(Rejection::Malformed(format!(
            "the NameID is over {MAX_SUBJECT_CHARS} characters"
        )));
    }
    let cap = now.plus_seconds(MAX_REPLAY_WINDOW_SECS);
    let class_refs: Vec<String> = assertion
        .authn_statements
        .iter()
        .flatten()
        .filter_map(|s| s.authn_context.as_ref()?.value.as_ref()?.value.clone())
        .collect();
    let session_ends = assertion
        .authn_statements
        .iter()
        .flatten()
        .filter_map(|s| s.session_not_on_or_after)
        .map(|t| t.timestamp())
        .min();
    Ok(Verified {
        upstream: Upstream::new(
            &[],
            class_refs.first().map(|c| c.trim()),
            crate::policy::idp_mfa::saml(&class_refs),
            session_ends,
        ),
        assertion_id: assertion.id.clone(),
        replay_until: replay_until.min(cap),
        identity: RawIdentity {
            protocol: Protocol::Saml,
            issuer: expect.idp_entity_id.to_string(),
            subject: name_id.to_string(),
            attributes: attributes(assertion)?,
        },
    })
}

/// Finds a bearer SubjectConfirmation whose data matches (profile §4.1.4.2): recipient is our
/// ACS, still valid, and answering our request. Returns its NotOnOrAfter.
fn check_confirmation(
    subject: &samael::schema::Subject,
    expect: &Expectations,
) -> Result<Timestamp, Rejection> {
    let mut first_error = None;
    for confirmation in subject.subject_confirmations.iter().flatten() {
        if confirmation.method.as_deref() != Some(BEARER) {
            continue;
        }
        let Some(data) = &confirmation.subject_confirmation_data else {
            first_error.get_or_insert(Rejection::NoSubject);
            continue;
        };
        let result = (|| {
            if data.recipient.as_deref().map(str::trim) != Some(expect.acs_url) {
                return Err(Rejection::Recipient);
            }
            if let Some(not_before) = &data.not_before {
                if micros(not_before).plus_seconds(-expect.skew_secs) > expect.now {
                    return Err(Rejection::NotYetValid);
                }
            }
            let not_after = data.not_on_or_after.as_ref().ok_or(Rejection::Expired)?;
            let not_after = micros(not_after);
            if not_after.plus_seconds(expect.skew_secs) <= expect.now {
                return Err(Rejection::Expired);
            }
            check_in_response_to(data.in_response_to.as_deref(), expect)?;
            Ok(not_after.plus_seconds(expect.skew_secs))
        })();
        match result {
            Ok(until) => return Ok(until),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(Rejection::NoSubject))
}

fn attributes(assertion: &Assertion) -> Result<Vec<Attribute>, Rejection> {
    let mut out: Vec<Attribute> = Vec::new();
    for statement in assertion.attribute_statements.iter().flatten() {
        for attribute in &statement.attributes {
            let Some(name) = attribute.name.as_deref().map(str::trim) else {
                continue;
            };
            let values: Vec<String> = attribute
                .values
                .iter()
                .filter_map(|v| v.value.as_deref().map(|s| s.trim().to_string()))
                .collect();
            if values.len() > MAX_VALUES || out.len() >= MAX_ATTRIBUTES {
                return Err(Rejection::Malformed(format!(
                    "more than {MAX_ATTRIBUTES} attributes or {MAX_VALUES} values in one"
                )));
            }
            match out.iter_mut().find(|a| a.name == name) {
                Some(existing) => existing.values.extend(values),
                None => out.push(Attribute {
                    name: name.to_string(),
                    values,
                }),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prescan_refuses_what_no_honest_idp_sends() {
        let one =
            r#"<samlp:Response xmlns:samlp="p"><saml:Assertion xmlns:saml="a"/></samlp:Response>"#;
        assert!(prescan(one).is_ok());
        let two = r#"<Response><Assertion/><Extensions><Assertion/></Extensions></Response>"#;
        assert!(matches!(prescan(two), Err(Rejection::AssertionCount(2))));
        let none = r#"<Response/>"#;
        assert!(matches!(prescan(none), Err(Rejection::AssertionCount(0))));
        let comment =
            r#"<Response><Assertion><NameID>a@x.com<!---->.evil</NameID></Assertion></Response>"#;
        assert!(matches!(prescan(comment), Err(Rejection::ForbiddenXml(_))));
        let dtd = r#"<!DOCTYPE r [<!ENTITY a "b">]><Response><Assertion/></Response>"#;
        assert!(matches!(prescan(dtd), Err(Rejection::ForbiddenXml(_))));
        assert!(matches!(
            prescan("<Response><Assertion>"),
            Err(Rejection::Malformed(_)) | Ok(_)
        ));
    }
}
