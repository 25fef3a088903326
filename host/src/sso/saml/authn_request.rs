//! The AuthnRequest (core §3.4.1) sent with the HTTP-Redirect binding (bindings §3.4):
//! DEFLATE, base64, URL-encoded as `SAMLRequest`, with the login state as `RelayState`.

use std::io::Write;

use base64::Engine;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::metadata::escape;
use crate::types::Timestamp;

/// A request about to be sent.
pub struct AuthnRequest<'a> {
    /// `_` + random hex: an xs:ID must not start with a digit.
    pub id: &'a str,
    pub issue_instant: Timestamp,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub destination: &'a str,
    /// Ask the IdP to authenticate again even with a session (test sign-ins).
    pub force_authn: bool,
}

/// A fresh request id.
pub fn new_request_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("_{}", hex::encode(bytes))
}

impl AuthnRequest<'_> {
    pub fn to_xml(&self) -> String {
        // Second precision, as IdPs expect (some refuse fractional seconds).
        let instant =
            Timestamp::from_micros(self.issue_instant.as_micros() / 1_000_000 * 1_000_000);
        format!(
            concat!(
                r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" "#,
                r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" "#,
                r#"IssueInstant="{instant}" Destination="{destination}" "#,
                r#"AssertionConsumerServiceURL="{acs}" "#,
                r#"ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"{force}>"#,
                r#"<saml:Issuer>{issuer}</saml:Issuer>"#,
                r#"<samlp:NameIDPolicy AllowCreate="true" "#,
                r#"Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"/>"#,
                r#"</samlp:AuthnRequest>"#
            ),
            id = escape(self.id),
            instant = instant.to_rfc3339(),
            destination = escape(self.destination),
            acs = escape(self.acs_url),
            force = if self.force_authn {
                r#" ForceAuthn="true""#
            } else {
                ""
            },
            issuer = escape(self.sp_entity_id),
        )
    }

    /// The IdP URL with `SAMLRequest` and `RelayState` added to its query.
    pub fn redirect_url(&self, relay_state: &str) -> anyhow::Result<String> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(self.to_xml().as_bytes())?;
        let deflated = encoder.finish()?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(deflated);
        let mut url = url::Url::parse(self.destination)?;
        url.query_pairs_mut()
            .append_pair("SAMLRequest", &encoded)
            .append_pair("RelayState", relay_state);
        Ok(url.into())
    }
}
