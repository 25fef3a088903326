//! The browser's pages: sign-in, password sign-in, the code prompt, the account page with
//! MFA enrolment and recovery codes, notices (refusals, errors, rate limits, expired forms)
//! and the sign-out confirmation, rendered from the askama templates in `host/templates/`
//! (every value auto-escaped), with the headers every page carries.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::csrf::Csrf;
use super::state::AppState;
use crate::sso::failure::Failure;

/// A notice: a title and one message, with a stable reason code for a refusal.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct Notice<'a> {
    pub title: &'a str,
    /// `data-code` of the message, for a refusal.
    pub code: Option<&'a str>,
    pub message: &'a str,
    /// Offers a link back to the sign-in page.
    pub try_again: bool,
}

/// The sign-in page: a work email routes the user to the organisation's IdP.
#[derive(Template)]
#[template(path = "login.html")]
pub struct Login<'a> {
    pub csrf: &'a str,
    pub return_to: Option<&'a str>,
    /// The address filled in (an app's `login_hint`, or what was typed).
    pub email: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// A tenant's enabled connections to choose from: (name, start link) each.
#[derive(Template)]
#[template(path = "choose.html")]
pub struct Choose<'a> {
    pub tenant: &'a str,
    pub choices: Vec<(&'a str, String)>,
}

/// The password sign-in page (organisation owners).
#[derive(Template)]
#[template(path = "password.html")]
pub struct Password<'a> {
    pub csrf: &'a str,
    pub error: Option<&'a str>,
}

/// The page a setup link opens: what it is for, and the button that spends it.
#[derive(Template)]
#[template(path = "setup.html")]
pub struct Setup<'a> {
    pub csrf: &'a str,
    pub token: &'a str,
    pub tenant: &'a str,
    pub label: &'a str,
    pub hours: i64,
}

/// The page of a one-time password link: the form, or the confirmation.
#[derive(Template)]
#[template(path = "set_password.html")]
pub struct SetPassword<'a> {
    pub csrf: &'a str,
    pub token: &'a str,
    pub email: &'a str,
    pub min_length: u16,
    pub error: Option<&'a str>,
    pub done: bool,
}

/// Who is signed in, their second factors, and a sign-out button.
#[derive(Template)]
#[template(path = "account.html")]
pub struct Account<'a> {
    pub csrf: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub mfa: crate::mfa::enrol::Status,
    /// The user's live sessions, and which one is this browser's.
    pub sessions: &'a [crate::sessions::manage::SessionView],
    pub current: crate::types::SessionId,
    /// When the policy requires MFA of this unenrolled user: the end of their grace period.
    pub enrol_by: Option<&'a str>,
}

/// The second step of a sign-in: a TOTP code or a recovery code.
#[derive(Template)]
#[template(path = "mfa_code.html")]
pub struct MfaCode<'a> {
    pub csrf: &'a str,
    pub error: Option<&'a str>,
}

/// A pending enrolment: the QR code (our own SVG, not escaped), the key, and the form for
/// the first code.
#[derive(Template)]
#[template(path = "mfa_enrol.html")]
pub struct MfaEnrol<'a> {
    pub csrf: &'a str,
    /// Where the first code goes: the account's enrolment, or a sign-in's forced one.
    pub action: &'a str,
    /// The sign-in cannot finish without it (the policy requires MFA).
    pub forced: bool,
    pub secret: &'a str,
    pub uri: &'a str,
    pub qr_svg: &'a str,
    pub error: Option<&'a str>,
}

/// Recovery codes, shown once.
#[derive(Template)]
#[template(path = "mfa_codes.html")]
pub struct MfaCodes<'a> {
    pub codes: &'a [String],
    /// An earlier set was voided.
    pub replaced: bool,
}

/// The confirmation of a sign-out an application asked for; `hidden` carries its parameters.
#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirm<'a> {
    pub csrf: &'a str,
    pub hidden: Vec<(&'a str, &'a str)>,
}

/// A test sign-in's report: what the IdP sent, then each pipeline stage's output.
#[derive(Template)]
#[template(path = "test_report.html")]
pub struct TestReport<'a> {
    /// `SAML` or `OIDC`.
    pub protocol: String,
    /// The protocol checks the answer passed (a failed one refuses before any report).
    pub checks: &'a [&'a str],
    pub raw_identity: String,
    pub ok: bool,
    /// (stage, plugin, microseconds, output or error as text, log lines).
    pub stages: Vec<(String, String, u64, String, Vec<String>)>,
}

/// What a SAML answer has passed when it reaches the pipeline (`sso::saml`).
const SAML_CHECKS: [&str; 7] = [
    "signed by one of the connection's IdP certificates (XML signature, no wrapping)",
    "issued by the connection's IdP entity ID",
    "for this SP (audience), to this ACS (recipient, destination)",
    "inside its validity window, with the connection's clock skew",
    "in response to this browser's request (InResponseTo and its binding cookie)",
    "not seen before (replay cache)",
    "decrypted with one of this SP's keys, when encrypted",
];

/// What an OIDC answer has passed when it reaches the pipeline (`sso::oidc`).
const OIDC_CHECKS: [&str; 6] = [
    "state bound to this browser",
    "code exchanged with its PKCE verifier",
    "ID token signed by a key from the issuer's JWKS, with an accepted algorithm",
    "issuer and audience (client ID) as configured",
    "not expired, issued recently, within the clock skew",
    "nonce matching this sign-in",
];

/// The page of a test sign-in's report.
pub(super) fn test_report(report: &crate::sso::pipeline::TestReport) -> Response {
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let stages = report
        .pipeline
        .stages
        .iter()
        .map(|s| {
            let shown = match (&s.output, &s.error) {
                (Some(output), _) => pretty(output),
                (None, Some(e)) => format!("failed ({}): {}", e.code, e.message),
                (None, None) => String::new(),
            };
            let logs = s
                .logs
                .iter()
                .map(|l| format!("{} {}", l.level, l.message))
                .collect();
            (
                s.stage.as_str().to_string(),
                format!("{} {}", s.plugin.name, s.plugin.version),
                s.duration_us,
                shown,
                logs,
            )
        })
        .collect();
    let protocol = report.raw_identity["protocol"].as_str().unwrap_or("sso");
    let checks: &[&str] = if protocol == "oidc" {
        &OIDC_CHECKS
    } else {
        &SAML_CHECKS
    };
    render(
        StatusCode::OK,
        &TestReport {
            protocol: protocol.to_uppercase(),
            checks,
            raw_identity: pretty(&report.raw_identity),
            ok: report.pipeline.ok,
            stages,
        },
    )
}

/// The content security policy of every page: the one stylesheet, no script at all (the
/// console's pages allow its own script, see `console::guard`), images only from here or
/// inline data, never framed. Forms are not restricted to this origin: the sign-in form's
/// answer redirects to the organisation's IdP.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                        frame-ancestors 'none'; base-uri 'none'";

/// `page` as an HTML response with `status`: never cached, never framed, no script.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    let html = match page.render() {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            return (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response();
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        ],
        html,
    )
        .into_response()
}

pub(super) fn failure_page(failure: Failure) -> Response {
    match failure {
        Failure::NotFound => notice(
            StatusCode::NOT_FOUND,
            "Not found",
            None,
            "No such sign-in endpoint.",
        ),
        Failure::Refused { code, message, .. } => render(
            StatusCode::FORBIDDEN,
            &Notice {
                title: "Sign-in refused",
                code: Some(code),
                message: &message,
                try_again: true,
            },
        ),
        Failure::Internal(e) => {
            tracing::error!(error = ?e, "sign-in failed");
            notice(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                None,
                "Sign-in failed on our side; try again later.",
            )
        }
    }
}

/// A one-message page.
pub(super) fn notice(
    status: StatusCode,
    title: &str,
    code: Option<&str>,
    message: &str,
) -> Response {
    render(
        status,
        &Notice {
            title,
            code,
            message,
            try_again: false,
        },
    )
}

/// No caching and no referrer, for a page whose URL holds a one-time token.
pub(super) fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

pub(super) fn secure(state: &AppState) -> bool {
    state.config.is_https()
}

pub(super) fn expired_form(state: &AppState, csrf: &Csrf) -> Response {
    csrf.apply(
        notice(
            StatusCode::FORBIDDEN,
            "Form expired",
            Some("csrf"),
            "This form was not sent from this site, or it expired. Go back, reload and try again.",
        ),
        secure(state),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_the_page_keeps_its_landmarks() {
        let html = Login {
            csrf: "tok",
            return_to: Some("/a\"><script>alert(1)</script>"),
            email: Some("\"><script>"),
            error: Some("<b>no</b>"),
        }
        .render()
        .unwrap();
        assert!(html.starts_with("<!doctype html><html lang=\"en\">"));
        assert!(html.contains("<title>Sign in · Gatehouse</title>"));
        assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"tok\">"));
        assert!(html.contains("<p id=\"error\" role=\"alert\">&#60;b&#62;no&#60;/b&#62;</p>"));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn a_refusal_names_its_code() {
        let html = Notice {
            title: "Sign-in refused",
            code: Some("unsolicited"),
            message: "start again",
            try_again: true,
        }
        .render()
        .unwrap();
        assert!(html.contains("<p id=\"reason\" data-code=\"unsolicited\">start again</p>"));
        assert!(html.contains("<a href=\"/login\">Try again</a>"));
    }
}
