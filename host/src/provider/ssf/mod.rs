//! OpenID Shared Signals Framework 1.0 transmitter, with CAEP 1.0 and RISC 1.0 events, for
//! the apps Gatehouse signs users in to. One transmitter for the instance, whose issuer is
//! Gatehouse's OIDC issuer, because the apps are registered for the instance and serve every
//! tenant: each SET names the user as its ID tokens do (`iss` + `sub`) and the tenant (the
//! `tenant` claim), so a receiver handles every tenant's users in one stream. Discovery at
//! `/.well-known/ssf-configuration`; SETs are signed with the provider's key (its JWKS).
//!
//! - [`events`]: which Gatehouse changes are signals, and the signed SETs.
//! - [`streams`]: stream management for a receiver.
//! - [`delivery`]: push through the outbox, poll, verification.

pub mod delivery;
pub mod events;
pub mod streams;

use serde_json::{json, Value};

use super::issuer;

/// Push delivery (RFC 8935).
pub const PUSH: &str = "urn:ietf:rfc:8935";
/// Poll delivery (RFC 8936).
pub const POLL: &str = "urn:ietf:rfc:8936";

/// Where a poll stream's receiver polls.
pub fn poll_url(public_url: &str, stream: &str) -> String {
    format!("{public_url}/ssf/poll/{stream}")
}

/// The sealing purpose of a push stream's `Authorization` value.
pub fn authorization_purpose(stream: &str) -> String {
    format!("ssf-authorization:{stream}")
}

/// The transmitter configuration (SSF 1.0 §7.1).
pub fn configuration(public_url: &str) -> Value {
    json!({
        "spec_version": "1_0",
        "issuer": issuer(public_url),
        "jwks_uri": format!("{public_url}/oauth2/jwks"),
        "delivery_methods_supported": [PUSH, POLL],
        "configuration_endpoint": format!("{public_url}/ssf/streams"),
        "status_endpoint": format!("{public_url}/ssf/status"),
        "add_subject_endpoint": format!("{public_url}/ssf/subjects:add"),
        "remove_subject_endpoint": format!("{public_url}/ssf/subjects:remove"),
        "verification_endpoint": format!("{public_url}/ssf/verify"),
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "ALL",
    })
}
