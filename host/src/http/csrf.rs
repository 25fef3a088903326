//! CSRF protection for Gatehouse's own HTML forms (double-submit): each browser gets a
//! random token in a `SameSite=Strict`, HttpOnly cookie, every form carries the same value in
//! a hidden field, and a POST is accepted only when the two match (constant-time). A
//! cross-site page can make the browser post, but cannot read the token to put in the form.
//! (The SAML ACS is cross-site by design and is protected by its own checks.)

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::state::AppState;

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

impl FromRequestParts<AppState> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Csrf::of(&parts.headers, state.config.is_https()))
    }
}

impl Csrf {
    /// The browser's token from its cookie (the `__Host-` one on https, `secure`), or a
    /// fresh one.
    fn of(headers: &HeaderMap, secure: bool) -> Csrf {
        let existing = super::extract::own_cookie(headers, COOKIE, secure)
            .filter(|value| is_token(value))
            .map(str::to_string);
        match existing {
            Some(token) => Csrf {
                token,
                fresh: false,
            },
            None => Csrf {
                token: crate::types::random_token(),
                fresh: true,
            },
        }
    }

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
                "{}={}; Path=/; HttpOnly; SameSite=Strict{}",
                crate::sessions::browser::cookie_name(secure, COOKIE),
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

    fn csrf_for(cookie: &str, secure: bool) -> Csrf {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, cookie.parse().unwrap());
        Csrf::of(&headers, secure)
    }

    #[test]
    fn only_a_token_of_ours_is_kept_and_echoed() {
        let good = "A".repeat(42) + "_";
        let kept = csrf_for(&format!("{COOKIE}={good}"), false);
        assert!(!kept.fresh);
        assert_eq!(kept.token(), good);
        // 43 bytes that would break out of the hidden field's attribute.
        let hostile = format!("\"><script>alert(1)</script>{}", "x".repeat(16));
        assert_eq!(hostile.len(), TOKEN_CHARS);
        let replaced = csrf_for(&format!("{COOKIE}={hostile}"), false);
        assert!(replaced.fresh);
        assert!(!replaced.token().contains("<script>"));
        assert!(!replaced.verify(Some(&hostile)));
    }

    #[test]
    fn on_https_only_the_host_prefixed_cookie_counts() {
        let good = "B".repeat(43);
        // A sibling subdomain can plant `gatehouse_csrf`, never `__Host-gatehouse_csrf`.
        assert!(csrf_for(&format!("{COOKIE}={good}"), true).fresh);
        let kept = csrf_for(&format!("__Host-{COOKIE}={good}"), true);
        assert!(!kept.fresh);
        assert!(csrf_for(&format!("__Host-{COOKIE}={good}"), false).fresh);
        let set = kept_cookie(csrf_for("", true));
        assert!(
            set.starts_with("__Host-gatehouse_csrf=") && set.contains("; Secure"),
            "{set}"
        );
    }

    fn kept_cookie(csrf: Csrf) -> String {
        let response = csrf.apply(Response::default(), true);
        response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string()
    }
}
