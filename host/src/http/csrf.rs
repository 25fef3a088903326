//! CSRF protection for Gatehouse's own HTML forms (double-submit): each browser gets a
//! random token in a `SameSite=Strict`, HttpOnly cookie, every form carries the same value in
//! a hidden field, and a POST is accepted only when the two match (constant-time). A
//! cross-site page can make the browser post, but cannot read the token to put in the form.
//! (The SAML ACS is cross-site by design and is protected by its own checks.)

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use subtle::ConstantTimeEq;

/// The cookie's name.
const COOKIE: &str = "gatehouse_csrf";
/// 32 random bytes, base64url.
const TOKEN_CHARS: usize = 43;

/// The browser's CSRF token; `fresh` when this request had none and one was just made.
pub struct Csrf {
    token: String,
    fresh: bool,
}

/// A value this module could have made: 43 base64url characters. Anything else in the cookie
/// (it is echoed into every form) is replaced with a fresh token.
fn is_token(value: &str) -> bool {
    value.len() == TOKEN_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let existing = super::extract::cookies(&parts.headers)
            .find(|(name, value)| *name == COOKIE && is_token(value))
            .map(|(_, value)| value.to_string());
        Ok(match existing {
            Some(token) => Csrf {
                token,
                fresh: false,
            },
            None => Csrf {
                token: crate::types::random_token(),
                fresh: true,
            },
        })
    }
}

impl Csrf {
    /// The token, for the form's hidden `csrf` field.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// True when the request carried the cookie and the form the same token.
    pub fn verify(&self, presented: Option<&str>) -> bool {
        !self.fresh
            && presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.token.as_bytes())))
    }

    /// Sets the cookie on `response` when the token is new.
    pub fn apply(&self, mut response: Response, secure: bool) -> Response {
        if self.fresh {
            let cookie = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
                self.token,
                if secure { "; Secure" } else { "" }
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn csrf_for(cookie: &str) -> Csrf {
        let request = axum::http::Request::builder()
            .header(header::COOKIE, cookie)
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        Csrf::from_request_parts(&mut parts, &()).await.unwrap()
    }

    #[tokio::test]
    async fn only_a_token_of_ours_is_kept_and_echoed() {
        let good = "A".repeat(42) + "_";
        let kept = csrf_for(&format!("{COOKIE}={good}")).await;
        assert!(!kept.fresh);
        assert_eq!(kept.token(), good);
        // 43 bytes that would break out of the hidden field's attribute.
        let hostile = format!("\"><script>alert(1)</script>{}", "x".repeat(16));
        assert_eq!(hostile.len(), TOKEN_CHARS);
        let replaced = csrf_for(&format!("{COOKIE}={hostile}")).await;
        assert!(replaced.fresh);
        assert!(!replaced.token().contains("<script>"));
        assert!(!replaced.verify(Some(&hostile)));
    }
}
