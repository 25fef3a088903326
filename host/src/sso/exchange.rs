//! The IdP side of an app's token exchange (RFC 8693): a native or mobile app that signed a
//! user in at the tenant's IdP itself presents the ID token (OIDC) or the signed assertion
//! (SAML) it got, and the user signs in to Gatehouse as if the browser had brought the same
//! answer. An ID token is checked exactly as the relying-party flow checks one
//! ([`super::oidc::id_token`]: issuer, audience = the connection's client, signature, expiry,
//! the app's nonce when it gives one); an assertion as the ACS checks one
//! ([`super::saml::presented`]: signature, issuer, audience, recipient = the connection's
//! ACS URL, validity). Either is used once (an assertion's id shares the ACS's replay cache),
//! then takes the tenant's pipeline, policy, directory,
//! session and audit ([`super::pipeline::finish_exchange`]). Every refusal at a connection
//! is audited as `login.failed`, like a browser's. The grant itself (client, scope, tokens)
//! is [`crate::provider::exchange`]'s.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::failure::{audited, Failure};
use super::oidc::id_token;
use super::pipeline::{self, Exchanged};
use super::saml::response::Expectations;
use super::saml::{presented, replay};
use super::{route, Connection, Settings, SpEndpoints};
use crate::audit::RequestContext;
use crate::identity::RawIdentity;
use crate::services::Services;
use crate::sessions::auth_context::Upstream;
use crate::store::tenants::TenantRecord;
use crate::types::ConnectionId;

/// What the app presents.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The IdP's ID token, or its SAML assertion base64url-encoded (`subject_token`).
    pub token: &'a str,
    /// The token is a SAML assertion (`…:token-type:saml2`), not an ID token.
    pub saml: bool,
    /// The nonce the app sent the IdP, when it wants it checked.
    pub nonce: Option<&'a str>,
    /// The connection the app signed in through (an id), when it says.
    pub connection: Option<&'a str>,
}

/// Signs in the user `presented` names at `tenant`, for `app`. `Failure::NotFound` when no
/// enabled connection of the tenant (of the token's protocol) could have issued the token.
pub async fn sign_in(
    state: &Services,
    tenant: &TenantRecord,
    presented: Presented<'_>,
    app: &str,
    ctx: &RequestContext,
) -> Result<Exchanged, Failure> {
    let connection = issuing_connection(state, tenant, presented).await?;
    let (checked, protocol) = match presented.saml {
        true => (
            checked_assertion(state, tenant, &connection, presented).await,
            "saml",
        ),
        false => (
            checked_id_token(state, tenant, &connection, presented).await,
            "oidc",
        ),
    };
    let result = match checked {
        Ok((identity, upstream)) => {
            pipeline::finish_exchange(state, tenant, &connection, &identity, &upstream, app, ctx)
                .await
        }
        Err(refused) => Err(refused),
    };
    audited(state, tenant, connection.id, protocol, ctx, result).await
}

/// The tenant's enabled OIDC connection the app names, or else the one whose issuer and
/// client the token claims (unverified: this only picks which checks to run).
async fn issuing_connection(
    state: &Services,
    tenant: &TenantRecord,
    presented: Presented<'_>,
) -> Result<Connection, Failure> {
    let enabled = route::enabled_connections(state, tenant).await?;
    let mut candidates = enabled
        .into_iter()
        .filter(|c| matches!(c.settings, Settings::Saml(_)) == presented.saml);
    let found = match presented.connection {
        Some(wanted) => {
            let wanted: ConnectionId = wanted.parse().map_err(|_| Failure::NotFound)?;
            candidates.find(|c| c.id == wanted)
        }
        None if presented.saml => {
            let iss = presented::decode(presented.token)
                .ok()
                .and_then(|xml| presented::claimed_issuer(&xml))
                .ok_or_else(|| Failure::Refused {
                    code: "malformed",
                    message: "the subject token is not a SAML assertion with an Issuer".into(),
                    detail: None,
                })?;
            candidates.find(|c| matches!(&c.settings, Settings::Saml(s) if s.idp_entity_id == iss))
        }
        None => {
            let (iss, aud) =
                id_token::claimed_issuer_and_audiences(presented.token).ok_or_else(|| {
                    Failure::Refused {
                        code: "malformed",
                        message: "the subject token is not a JWT with `iss` and `aud`".into(),
                        detail: None,
                    }
                })?;
            candidates.find(|c| match &c.settings {
                Settings::Oidc(s) => s.issuer == iss && aud.contains(&s.client_id),
                Settings::Saml(_) => false,
            })
        }
    };
    found.ok_or(Failure::NotFound)
}

/// A presented ID token, checked as the relying-party flow checks one, then spent.
async fn checked_id_token(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    presented: Presented<'_>,
) -> Result<(RawIdentity, Upstream), Failure> {
    let Settings::Oidc(settings) = &connection.settings else {
        return Err(Failure::NotFound);
    };
    let now = state.clock.now();
    let verified =
        id_token::presented(&state.oidc, settings, presented.token, presented.nonce, now).await?;
    let skew = i64::from(settings.clock_skew_secs);
    let key = format!(
        "id_token:{}",
        B64URL.encode(Sha256::digest(presented.token.as_bytes()))
    );
    let until = verified.expires_at.plus_seconds(skew);
    if !replay::first_use(&state.store, tenant.id, connection.id, &key, until).await? {
        return Err(Failure::Refused {
            code: "replayed",
            message: "this ID token was already exchanged; sign in at the identity provider again"
                .into(),
            detail: None,
        });
    }
    Ok((verified.identity, verified.upstream))
}

/// A presented SAML assertion, checked as the ACS checks one, then spent in the same replay
/// cache: an assertion is used once, at the ACS or here.
async fn checked_assertion(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    presented: Presented<'_>,
) -> Result<(RawIdentity, Upstream), Failure> {
    let Settings::Saml(saml) = &connection.settings else {
        return Err(Failure::NotFound);
    };
    let xml = presented::decode(presented.token)?;
    let sp = SpEndpoints::new(
        &state.config.public_url(),
        &tenant.public_token,
        connection.id,
    );
    let certificates = saml.certificate_ders();
    let verified = presented::verify(
        &xml,
        &Expectations {
            sp_entity_id: &sp.entity_id,
            acs_url: &sp.acs_url,
            idp_entity_id: &saml.idp_entity_id,
            certificates: &certificates,
            decryption_keys: &[],
            allow_cbc: false,
            want_assertions_signed: true,
            skew_secs: i64::from(saml.clock_skew_secs),
            request_id: None,
            app_solicited: true,
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
    Ok((verified.identity, verified.upstream))
}
