//! SAML 2.0 service provider, one per connection: its settings and IdP certificates
//! ([`settings`]), SP metadata ([`metadata`]), the AuthnRequest sent with the HTTP-Redirect
//! binding ([`authn_request`]), the checks on the response posted to the ACS ([`response`])
//! and on a bare assertion an app presents for token exchange ([`presented`]), and the
//! one-time use of assertion ids ([`replay`]). It knows nothing of users or
//! sessions; [`crate::sso::pipeline`] joins it to the pipeline and the directory.

pub mod authn_request;
pub mod encryption;
pub mod metadata;
pub mod presented;
pub mod replay;
pub mod response;
pub mod settings;

pub use settings::SamlSettings;

/// Why a SAML response was refused. The code goes to the audit log and the message to the
/// user's error page; neither carries assertion content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the response is malformed: {0}")]
    Malformed(String),
    #[error("the response contains {0}, which SAML responses never need")]
    ForbiddenXml(&'static str),
    #[error("the response must carry exactly one assertion; it carries {0}")]
    AssertionCount(usize),
    #[error("{0} are not supported by this connection")]
    Unsupported(&'static str),
    /// Anything that went wrong between the encrypted assertion and its verified signature:
    /// no key of this connection unwraps it, it does not decrypt, it is not UTF-8 or XML, or
    /// what it decrypts to is not signed. One answer for all of them: telling them apart
    /// would be a decryption oracle (an attacker flipping ciphertext bits learns the
    /// plaintext from which failure comes back). The detail is for the audit log only.
    #[error("the encrypted assertion could not be decrypted and verified")]
    Undecryptable(String),
    #[error("the response is not signed")]
    Unsigned,
    #[error("the signature does not verify with any certificate of this connection, or uses a refused algorithm")]
    BadSignature,
    #[error("the assertion itself is not signed, and this connection wants signed assertions")]
    AssertionNotSigned,
    #[error("the identity provider answered with status {0}")]
    Status(String),
    #[error("the response's Destination is not this connection's ACS URL")]
    Destination,
    #[error("the issuer is not this connection's identity provider")]
    Issuer,
    #[error("the assertion's audience is not this service provider")]
    Audience,
    #[error("the assertion's Recipient is not this connection's ACS URL")]
    Recipient,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion is not valid yet")]
    NotYetValid,
    #[error("the response does not answer the sign-in request it came back with")]
    InResponseTo,
    #[error("this connection does not accept sign-ins started at the identity provider")]
    Unsolicited,
    #[error("this assertion was already used")]
    Replayed,
    #[error("the assertion names no subject")]
    NoSubject,
}

impl Rejection {
    /// A stable code for the audit log and for tests.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::ForbiddenXml(_) => "forbidden_xml",
            Rejection::AssertionCount(_) => "assertion_count",
            Rejection::Unsupported(_) => "unsupported",
            Rejection::Undecryptable(_) => "undecryptable",
            Rejection::Unsigned => "unsigned",
            Rejection::BadSignature => "bad_signature",
            Rejection::AssertionNotSigned => "assertion_not_signed",
            Rejection::Status(_) => "idp_status",
            Rejection::Destination => "destination",
            Rejection::Issuer => "issuer",
            Rejection::Audience => "audience",
            Rejection::Recipient => "recipient",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::InResponseTo => "in_response_to",
            Rejection::Unsolicited => "unsolicited",
            Rejection::Replayed => "replayed",
            Rejection::NoSubject => "no_subject",
        }
    }

    /// What the audit log (never the answer) may add to the message.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Rejection::Undecryptable(detail) => Some(detail),
            _ => None,
        }
    }

    /// The same failure, as it may be told about an encrypted assertion: every failure of
    /// decryption, parsing or signature becomes [`Rejection::Undecryptable`]. Refusals that
    /// depend only on what the response declares in the clear (an algorithm) stay as they are.
    pub(crate) fn concealed(self) -> Rejection {
        match self {
            Rejection::Unsupported(_) | Rejection::Undecryptable(_) => self,
            other => Rejection::Undecryptable(other.to_string()),
        }
    }
}
