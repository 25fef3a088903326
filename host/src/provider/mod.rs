//! Gatehouse as OpenID Connect provider to the SaaS app: discovery, JWKS with key rotation
//! ([`keys`]), the apps the operator registers ([`clients`]), the authorization-code flow
//! with PKCE S256 and the app's sign-in hints ([`flow`]): authorize and logout; the token
//! endpoint's grants and userinfo, with the apps authenticated by secret or signed assertion
//! ([`client_auth`]), ([`tokens`], with the claims in [`claims`]); token exchange
//! for native apps that signed in at the tenant's IdP ([`exchange`]); refresh
//! tokens with rotation and reuse detection ([`refresh`]); revocation and introspection
//! ([`revocation`]); back-channel logout notices to the apps when a session ends
//! ([`backchannel`]). Tokens are RS256 JWTs carrying the tenant, subject, email, name, roles
//! and role scopes; access tokens are typed `at+jwt` (RFC 9068) so an ID token is never
//! accepted where an access token is due.

pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod clients;
pub mod dpop;
pub mod exchange;
pub mod flow;
pub mod keys;
pub mod refresh;
pub mod revocation;
pub mod ssf;
pub mod tokens;

use serde::Serialize;
use serde_json::{json, Value};

/// An OAuth 2.0 / OIDC error, sent in OAuth form (`{error, error_description}`).
#[derive(Debug)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
    /// The `WWW-Authenticate` value a protected resource answers with, where the default for
    /// the error (RFC 6750's `Bearer`) is not the right one: a DPoP challenge (RFC 9449 §7.1).
    pub challenge: Option<String>,
}

impl OAuthError {
    pub fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            challenge: None,
        }
    }
    /// This error as a resource answers a DPoP request (RFC 9449 §7.1): 401 with a `DPoP`
    /// challenge naming the error and the proof algorithms taken.
    pub fn dpop_challenge(mut self) -> Self {
        self.status = 401;
        self.challenge = Some(format!(
            "DPoP error=\"{}\", error_description=\"{}\", algs=\"{}\"",
            self.error,
            self.description.replace(['"', '\\'], "'"),
            dpop::ALGORITHMS
        ));
        self
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(401, "invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", d)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new(401, "invalid_token", d)
    }
}

impl From<crate::Error> for OAuthError {
    fn from(e: crate::Error) -> Self {
        tracing::error!(error = ?e, "OAuth endpoint failed");
        Self::new(500, "server_error", "the server failed; try again later")
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        crate::Error::from(e).into()
    }
}

/// The body of an OAuth error response.
#[derive(Serialize)]
pub struct OAuthErrorBody<'a> {
    pub error: &'a str,
    pub error_description: &'a str,
}

/// The issuer identifier: the public URL.
pub fn issuer(public_url: &str) -> String {
    public_url.to_string()
}

/// The discovery document (OIDC Discovery 1.0 §3).
pub fn discovery(public_url: &str) -> Value {
    let iss = issuer(public_url);
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{public_url}/oauth2/authorize"),
        "token_endpoint": format!("{public_url}/oauth2/token"),
        "userinfo_endpoint": format!("{public_url}/oauth2/userinfo"),
        "jwks_uri": format!("{public_url}/oauth2/jwks"),
        "end_session_endpoint": format!("{public_url}/oauth2/logout"),
        "revocation_endpoint": format!("{public_url}/oauth2/revoke"),
        "introspection_endpoint": format!("{public_url}/oauth2/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", exchange::GRANT],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": dpop::ALGORITHMS.split(' ').collect::<Vec<_>>(),
        "scopes_supported": ["openid", "email", "profile", "permissions", "offline_access"],
        "acr_values_supported": [
            crate::sessions::auth_context::ACR_MFA,
            crate::sessions::auth_context::ACR_SINGLE_FACTOR,
        ],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "azp",
            "acr", "amr", "session_expiry",
            "email", "email_verified", "name", "given_name", "family_name", "zoneinfo", "locale",
            "tenant", "tenant_slug", "roles", "role_assignments", "data_classification",
            "permissions_version", "permissions"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}
