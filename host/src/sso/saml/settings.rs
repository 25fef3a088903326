//! A SAML connection's settings: the IdP's entity id, its SSO URL (HTTP-Redirect binding)
//! and signing certificates, parsed from IdP metadata or entered by hand, validated once at
//! the edge so the sign-in path only ever sees good values.

use openssl::x509::X509;
use samael::crypto::CertificateDer;
use samael::metadata::EntityDescriptor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Most signing certificates per connection (rotation needs two; five leaves room).
const MAX_CERTIFICATES: usize = 5;
/// Largest IdP metadata document accepted (federation aggregates are refused; a single
/// entity's metadata is a few KiB).
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
/// Default and largest accepted clock skew.
const DEFAULT_SKEW_SECS: u32 = 120;
const MAX_SKEW_SECS: u32 = 600;
const MAX_TEXT: usize = 1024;
const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// Stored settings of a SAML connection (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = SamlConnectionSettings)]
pub struct SamlSettings {
    pub idp_entity_id: String,
    /// Where AuthnRequests go, with the HTTP-Redirect binding.
    pub sso_url: String,
    /// The IdP's signing certificates, base64 DER; a signature by any of them verifies.
    pub certificates: Vec<String>,
    pub want_assertions_signed: bool,
    pub clock_skew_secs: u32,
    /// Accept responses the IdP sends without our AuthnRequest (off by default: they cannot
    /// be bound to a browser, so they are open to login CSRF).
    pub allow_idp_initiated: bool,
    /// Certificates of the SP's decryption keys, newest last; IdPs encrypt to one of them.
    /// Managed through the connection's encryption-key endpoints, not set directly.
    #[serde(default)]
    #[schema(required = true)]
    pub sp_encryption_keys: Vec<super::encryption::SpKey>,
    /// Accept encrypted assertions whose content uses AES-CBC or 3DES-CBC (off: AES-GCM
    /// only). Unauthenticated CBC is what XML Encryption's plaintext-recovery attacks need;
    /// turn it on only for an IdP that cannot encrypt with GCM.
    #[serde(default)]
    #[schema(required = true)]
    pub allow_cbc_encryption: bool,
    /// Where the IdP's metadata was fetched from, when it was given by URL (fetched again
    /// when an update names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<String>,
}

/// What an admin sends: metadata XML, or the fields by hand (hand-entered fields win).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SamlConnectionInput)]
pub struct SamlInput {
    pub metadata_xml: Option<String>,
    /// Fetched by the connection API into `metadata_xml` (an https URL).
    pub metadata_url: Option<String>,
    pub idp_entity_id: Option<String>,
    pub sso_url: Option<String>,
    pub certificates: Option<Vec<String>>,
    pub want_assertions_signed: Option<bool>,
    pub clock_skew_secs: Option<u32>,
    pub allow_idp_initiated: Option<bool>,
    pub allow_cbc_encryption: Option<bool>,
}

/// A signing certificate as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SamlCertificate)]
pub struct CertificateView {
    pub sha256: String,
    pub subject: String,
    /// When the certificate expires (RFC 3339).
    #[schema(format = DateTime)]
    pub not_after: String,
    pub expired: bool,
}

impl SamlInput {
    /// Builds settings, starting from `current` on an update.
    pub fn into_settings(self, current: Option<&SamlSettings>) -> Result<SamlSettings, Error> {
        let from_metadata = match &self.metadata_xml {
            Some(xml) => Some(parse_metadata(xml)?),
            None => None,
        };
        let pick = |hand: Option<String>, meta: Option<&String>, old: Option<&String>| {
            hand.or_else(|| meta.cloned()).or_else(|| old.cloned())
        };
        let idp_entity_id = pick(
            self.idp_entity_id,
            from_metadata.as_ref().map(|m| &m.idp_entity_id),
            current.map(|c| &c.idp_entity_id),
        )
        .ok_or_else(|| {
            Error::invalid("saml.idp_entity_id", "give metadata_xml or idp_entity_id")
        })?;
        let sso_url = pick(
            self.sso_url,
            from_metadata.as_ref().map(|m| &m.sso_url),
            current.map(|c| &c.sso_url),
        )
        .ok_or_else(|| Error::invalid("saml.sso_url", "give metadata_xml or sso_url"))?;
        let certificates = self
            .certificates
            .or_else(|| from_metadata.as_ref().map(|m| m.certificates.clone()))
            .or_else(|| current.map(|c| c.certificates.clone()))
            .ok_or_else(|| {
                Error::invalid("saml.certificates", "give metadata_xml or certificates")
            })?;
        let settings = SamlSettings {
            idp_entity_id: idp_entity_id.trim().to_string(),
            sso_url: sso_url.trim().to_string(),
            certificates: certificates
                .iter()
                .map(|c| normalise_certificate(c))
                .collect::<Result<_, _>>()?,
            want_assertions_signed: self
                .want_assertions_signed
                .or(current.map(|c| c.want_assertions_signed))
                .unwrap_or(true),
            clock_skew_secs: self
                .clock_skew_secs
                .or(current.map(|c| c.clock_skew_secs))
                .unwrap_or(DEFAULT_SKEW_SECS),
            allow_idp_initiated: self
                .allow_idp_initiated
                .or(current.map(|c| c.allow_idp_initiated))
                .unwrap_or(false),
            sp_encryption_keys: current
                .map(|c| c.sp_encryption_keys.clone())
                .unwrap_or_default(),
            allow_cbc_encryption: self
                .allow_cbc_encryption
                .or(current.map(|c| c.allow_cbc_encryption))
                .unwrap_or(false),
            metadata_url: self
                .metadata_url
                .or_else(|| current.and_then(|c| c.metadata_url.clone())),
        };
        settings.validate()?;
        Ok(settings)
    }
}

impl SamlSettings {
    fn validate(&self) -> Result<(), Error> {
        if self.idp_entity_id.is_empty() || self.idp_entity_id.len() > MAX_TEXT {
            return Err(Error::invalid(
                "saml.idp_entity_id",
                format!("must be 1 to {MAX_TEXT} characters"),
            ));
        }
        crate::sso::check_url("saml.sso_url", &self.sso_url)?;
        if self.certificates.is_empty() || self.certificates.len() > MAX_CERTIFICATES {
            return Err(Error::invalid(
                "saml.certificates",
                format!("give 1 to {MAX_CERTIFICATES} signing certificates"),
            ));
        }
        if self.clock_skew_secs > MAX_SKEW_SECS {
            return Err(Error::invalid(
                "saml.clock_skew_secs",
                format!("must be at most {MAX_SKEW_SECS} seconds"),
            ));
        }
        Ok(())
    }

    /// The certificates in the form the signature check takes. They were validated on the
    /// way in; a row that no longer decodes yields no certificate (and so no sign-in).
    pub fn certificate_ders(&self) -> Vec<CertificateDer> {
        use base64::Engine;
        self.certificates
            .iter()
            .filter_map(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
            .map(CertificateDer::from)
            .collect()
    }

    pub fn certificate_views(&self, now_unix: i64) -> Vec<CertificateView> {
        self.certificate_ders()
            .iter()
            .filter_map(|der| view(der.der_data(), now_unix))
            .collect()
    }
}

/// When a certificate (DER) expires, in unix seconds; none when it does not parse.
pub fn not_after_unix(der: &[u8]) -> Option<i64> {
    let cert = X509::from_der(der).ok()?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(cert.not_after()).ok()?;
    Some(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

fn view(der: &[u8], now_unix: i64) -> Option<CertificateView> {
    let cert = X509::from_der(der).ok()?;
    let not_after_unix = not_after_unix(der)?;
    let subject = cert
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    Some(CertificateView {
        sha256: hex::encode(Sha256::digest(der)),
        subject,
        not_after: crate::types::Timestamp::from_micros(not_after_unix * 1_000_000).to_rfc3339(),
        expired: not_after_unix < now_unix,
    })
}

/// Accepts PEM or bare base64 DER; returns base64 DER of a certificate that parses.
fn normalise_certificate(text: &str) -> Result<String, Error> {
    use base64::Engine;
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .split_whitespace()
        .collect();
    let bad = || {
        Error::invalid(
            "saml.certificates",
            "each certificate must be an X.509 certificate, PEM or base64 DER",
        )
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| bad())?;
    X509::from_der(&der).map_err(|_| bad())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}

/// What IdP metadata yields.
struct FromMetadata {
    idp_entity_id: String,
    sso_url: String,
    certificates: Vec<String>,
}

fn parse_metadata(xml: &str) -> Result<FromMetadata, Error> {
    let field = "saml.metadata_xml";
    if xml.len() > MAX_METADATA_BYTES {
        return Err(Error::invalid(
            field,
            format!("metadata over {MAX_METADATA_BYTES} bytes; give one entity's metadata"),
        ));
    }
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err(Error::invalid(field, "metadata with a DOCTYPE is refused"));
    }
    let entity: EntityDescriptor = xml.parse().map_err(|e| {
        Error::invalid(
            field,
            format!("not SAML metadata (an EntityDescriptor): {e}"),
        )
    })?;
    let idp_entity_id = entity
        .entity_id
        .clone()
        .ok_or_else(|| Error::invalid(field, "the EntityDescriptor has no entityID"))?;
    let descriptor = entity
        .idp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or_else(|| Error::invalid(field, "the metadata has no IDPSSODescriptor"))?;
    let sso_url = descriptor
        .single_sign_on_services
        .iter()
        .find(|s| s.binding == REDIRECT_BINDING)
        .map(|s| s.location.clone())
        .ok_or_else(|| {
            Error::invalid(
                field,
                "the IdP offers no SingleSignOnService with the HTTP-Redirect binding",
            )
        })?;
    let mut certificates = Vec::new();
    for key in &descriptor.key_descriptors {
        if key.key_use.as_deref().is_some_and(|u| u == "encryption") {
            continue;
        }
        for data in key.key_info.x509_data.iter() {
            certificates.extend(data.certificates.iter().cloned());
        }
    }
    if certificates.is_empty() {
        return Err(Error::invalid(
            field,
            "the metadata names no signing certificate",
        ));
    }
    Ok(FromMetadata {
        idp_entity_id,
        sso_url,
        certificates,
    })
}
