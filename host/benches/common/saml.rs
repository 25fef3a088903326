//! A SAML IdP for the benches: a self-signed signing key and IdP-initiated responses whose
//! assertion is signed (RSA-SHA256, xmlsec), for any user.
#![allow(
    dead_code,
    reason = "every bench compiles this module; the SAML benches use it"
)]

use base64::Engine;
use samael::crypto::{Crypto, CryptoProvider};

/// A self-signed IdP certificate and its private key (DER).
pub fn idp_key() -> (String, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "bench idp").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    let not_before = Asn1Time::days_from_now(0).unwrap();
    let not_after = Asn1Time::days_from_now(30).unwrap();
    b.set_not_before(&not_before).unwrap();
    b.set_not_after(&not_after).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = base64::engine::general_purpose::STANDARD.encode(b.build().to_der().unwrap());
    (cert, key.private_key_to_der().unwrap())
}

fn now_plus(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// An unsolicited response for `email`, its assertion signed with `key`.
pub fn signed_response(
    n: usize,
    idp: &str,
    sp: &str,
    acs: &str,
    email: &str,
    key: &[u8],
) -> String {
    let aid = format!("_a{n:08}{}", uuid::Uuid::new_v4().simple());
    let sig = format!(
        concat!(
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>"#,
            r##"<ds:Reference URI="#{aid}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>"#,
            r#"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue>"#,
            r#"</ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"#
        ),
        aid = aid
    );
    let xml = format!(
        concat!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" "#,
            r#"ID="_r{aid}" Version="2.0" IssueInstant="{now}" Destination="{acs}"><saml:Issuer>{idp}</saml:Issuer>"#,
            r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#,
            r#"<saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{idp}</saml:Issuer>{sig}"#,
            r#"<saml:Subject><saml:NameID>{email}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
            r#"<saml:SubjectConfirmationData NotOnOrAfter="{later}" Recipient="{acs}"/></saml:SubjectConfirmation></saml:Subject>"#,
            r#"<saml:Conditions NotBefore="{now}" NotOnOrAfter="{later}"><saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience>"#,
            r#"</saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement>"#,
            r#"<saml:Attribute Name="email"><saml:AttributeValue>{email}</saml:AttributeValue></saml:Attribute>"#,
            r#"<saml:Attribute Name="groups"><saml:AttributeValue>engineering</saml:AttributeValue><saml:AttributeValue>admins</saml:AttributeValue></saml:Attribute>"#,
            r#"</saml:AttributeStatement></saml:Assertion></samlp:Response>"#
        ),
        aid = aid,
        now = now_plus(0),
        later = now_plus(600),
        acs = acs,
        idp = idp,
        sp = sp,
        sig = sig,
        email = email,
    );
    let signed = Crypto::sign_xml(xml, key).expect("sign");
    base64::engine::general_purpose::STANDARD.encode(signed)
}
