//! OpenID Connect relying party, one per connection: settings ([`settings`]), the IdPs'
//! discovery documents and keys, cached per node ([`discovery`]), and the authorization code
//! flow with PKCE S256, state and nonce and the code exchange ([`flow`]), and every check of
//! an ID token, redeemed or presented by an app ([`id_token`]). Like [`super::saml`] it
//! knows nothing of users or sessions; [`crate::sso::pipeline`] joins it to the pipeline and
//! the directory.

pub mod discovery;
pub mod flow;
pub mod id_token;
pub mod settings;

pub use discovery::ProviderCache;
pub use settings::OidcSettings;

/// Why an OIDC sign-in was refused. The code goes to the audit log and the message to the
/// user's error page; neither carries token content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the identity provider could not be used: {0}")]
    Provider(String),
    #[error("the identity provider refused the sign-in: {0}")]
    IdpError(String),
    #[error("the identity provider did not redeem the authorization code: {0}")]
    TokenError(String),
    #[error("the identity provider's answer is malformed: {0}")]
    Malformed(String),
    #[error("the token response carries no ID token")]
    NoIdToken,
    #[error("the ID token is not signed")]
    Unsigned,
    #[error("the ID token is signed with an algorithm this connection does not accept")]
    Algorithm,
    #[error("the ID token is signed with a key the identity provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature does not verify")]
    BadSignature,
    #[error("the ID token's issuer is not this connection's identity provider")]
    Issuer,
    #[error("the ID token is not meant for this connection's client")]
    Audience,
    #[error("the ID token's authorized party is not this connection's client")]
    AuthorizedParty,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was issued in the future")]
    NotYetValid,
    #[error("the ID token does not answer this sign-in (nonce mismatch)")]
    Nonce,
    #[error("the userinfo answer is for another subject")]
    UserinfoSubject,
}

impl Rejection {
    /// A stable code for the audit log and for tests.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Provider(_) => "provider_unavailable",
            Rejection::IdpError(_) => "idp_error",
            Rejection::TokenError(_) => "token_error",
            Rejection::Malformed(_) => "malformed",
            Rejection::NoIdToken => "no_id_token",
            Rejection::Unsigned => "unsigned",
            Rejection::Algorithm => "alg_refused",
            Rejection::UnknownKey => "unknown_key",
            Rejection::BadSignature => "bad_signature",
            Rejection::Issuer => "issuer",
            Rejection::Audience => "audience",
            Rejection::AuthorizedParty => "azp",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::Nonce => "nonce",
            Rejection::UserinfoSubject => "userinfo_subject",
        }
    }
}
