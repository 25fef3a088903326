//! What is checked against the outside world before a connection is saved, outside any
//! write transaction: an OIDC issuer is discovered (a wrong one is refused at once) and SAML
//! IdP metadata named by URL is fetched.

use super::oidc::OidcSettings;
use super::saml::settings::SamlInput;
use crate::error::Error;
use crate::services::Services;

/// Discovers an OIDC issuer, so a connection is never saved pointing at something that is
/// not an OpenID provider, or with algorithms the provider never uses.
pub(super) async fn check_discovery(
    state: &Services,
    settings: &OidcSettings,
) -> Result<(), Error> {
    state.oidc.forget(&settings.issuer);
    let metadata = state
        .oidc
        .metadata(&settings.issuer)
        .await
        .map_err(|e| Error::invalid("oidc.issuer", e))?;
    let offered: Vec<String> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if !settings.allowed_algs.iter().any(|a| offered.contains(a)) {
        return Err(Error::invalid(
            "oidc.allowed_algs",
            format!(
                "the provider signs ID tokens with {}; allow one of them",
                offered.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Fetches IdP metadata named by URL into the input (given XML wins over a URL).
pub(super) async fn fetch_metadata(state: &Services, input: &mut SamlInput) -> Result<(), Error> {
    let Some(url) = input.metadata_url.as_deref().map(str::trim) else {
        return Ok(());
    };
    if input.metadata_xml.is_some() {
        return Err(Error::invalid(
            "saml.metadata_url",
            "give metadata_xml or metadata_url, not both",
        ));
    }
    super::check_url("saml.metadata_url", url)?;
    let bytes = state
        .oidc
        .outbound()
        .get(
            url,
            "application/samlmetadata+xml, application/xml, text/xml",
        )
        .await
        .map_err(|e| Error::invalid("saml.metadata_url", format!("fetching metadata: {e}")))?;
    let xml = String::from_utf8(bytes)
        .map_err(|_| Error::invalid("saml.metadata_url", "the metadata is not UTF-8 XML"))?;
    input.metadata_url = Some(url.to_string());
    input.metadata_xml = Some(xml);
    Ok(())
}
