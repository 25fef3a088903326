//! A SAML IdP's answer posted to a connection's ACS: the login state it names is taken
//! back (an unsolicited answer only where the connection allows IdP-initiated sign-in), the
//! response is decoded within its size limit, verified and decrypted
//! ([`super::saml::response`]), its assertion spent against replay, and the identity handed
//! to [`super::pipeline::finish`].

use base64::Engine;

use super::failure::{audited, Failure};
use super::login_state::take_state;
use super::pipeline::{self, Finished};
use super::saml::response::{self, Expectations};
use super::saml::{replay, Rejection};
use super::{connection_secrets, Connection, Settings, SpEndpoints};
use crate::audit::RequestContext;
use crate::services::Services;
use crate::store::tenants::TenantRecord;

/// Handles a response posted to a connection's ACS. Audits every refusal.
pub async fn saml_acs(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    saml_response: &str,
    relay_state: Option<&str>,
    cookies: &[(String, String)],
    ctx: &RequestContext,
) -> Result<Finished, Failure> {
    let result = saml_acs_inner(
        state,
        tenant,
        connection,
        saml_response,
        relay_state,
        cookies,
        ctx,
    )
    .await;
    audited(state, tenant, connection.id, "saml", ctx, result).await
}

async fn saml_acs_inner(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    saml_response: &str,
    relay_state: Option<&str>,
    cookies: &[(String, String)],
    ctx: &RequestContext,
) -> Result<Finished, Failure> {
    let Settings::Saml(saml) = &connection.settings else {
        return Err(Failure::NotFound);
    };
    pipeline::check_not_disabled(connection)?;
    let login = take_state(state, tenant.id, connection, relay_state, cookies).await?;
    if login.is_none() && !saml.allow_idp_initiated {
        return Err(Rejection::Unsolicited.into());
    }
    let xml = decode(saml_response)?;
    let sp = SpEndpoints::new(
        &state.config.public_url(),
        &tenant.public_token,
        connection.id,
    );
    let certificates = saml.certificate_ders();
    let decryption_keys = connection_secrets::decryption_keys(state, connection).await?;
    let verified = response::verify(
        &xml,
        &Expectations {
            sp_entity_id: &sp.entity_id,
            acs_url: &sp.acs_url,
            idp_entity_id: &saml.idp_entity_id,
            certificates: &certificates,
            decryption_keys: &decryption_keys,
            allow_cbc: saml.allow_cbc_encryption,
            want_assertions_signed: saml.want_assertions_signed,
            skew_secs: i64::from(saml.clock_skew_secs),
            request_id: login.as_ref().map(|l| l.request_id.as_str()),
            app_solicited: false,
            now: state.clock.now(),
        },
    )?;
    replay::consume(
        &state.store,
        tenant.id,
        connection.id,
        &verified.assertion_id,
        verified.replay_until,
    )
    .await??;

    pipeline::finish(
        state,
        tenant,
        connection,
        &verified.identity,
        &verified.upstream,
        login,
        ctx,
    )
    .await
}

/// Base64 of the posted response, bounded before decoding.
fn decode(encoded: &str) -> Result<String, Failure> {
    let max_encoded = response::MAX_RESPONSE_BYTES / 3 * 4 + 1024;
    if encoded.len() > max_encoded {
        return Err(Rejection::Malformed("the SAMLResponse is too large".into()).into());
    }
    let compact: String = encoded.split_ascii_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| Rejection::Malformed("SAMLResponse is not base64".into()))?;
    String::from_utf8(bytes)
        .map_err(|_| Rejection::Malformed("SAMLResponse is not UTF-8 XML".into()).into())
}
