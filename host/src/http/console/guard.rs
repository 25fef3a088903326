//! Who may see a console page: [`Admin<P>`] takes the same proof as the admin API
//! ([`Require<P>`]) and, when the API would refuse, answers with what a browser needs instead
//! of JSON: a signed-out visitor goes to the sign-in page and comes back; a refused user sees
//! the API's own reason on a page with the API's status. [`Chrome`] is what every page shows
//! around its content (tenant, user, the sections this user may read) and [`Chrome::page`]
//! renders a page with the console's headers.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::Error;
use crate::http::csrf::Csrf;
use crate::http::error::ApiError;
use crate::http::pages::{render, secure};
use crate::http::require::Require;
use crate::http::state::AppState;
use crate::rbac::{self, Authorized, TenantPermission};
use crate::store;

/// The console's content security policy: scripts and styles from this origin only, no
/// inline script or style, no eval, never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A section of the console and the permission that lets a user read it: the navigation
/// shows a section only to whom the API would answer, and the page checks again.
struct Section {
    href: &'static str,
    label: &'static str,
    module: &'static str,
    action: &'static str,
}

/// The section at `href`, which a user reads with `P`.
const fn section<P: TenantPermission>(href: &'static str, label: &'static str) -> Section {
    Section {
        href,
        label,
        module: P::MODULE,
        action: P::ACTION,
    }
}

const SECTIONS: &[Section] = &[
    section::<rbac::ReadTenant>("/console", "Overview"),
    section::<rbac::ReadTenant>("/console/domains", "Domains"),
    section::<rbac::ReadSso>("/console/sso", "Single sign-on"),
    section::<rbac::WriteTokens>("/console/scim", "SCIM provisioning"),
    section::<rbac::ReadUsers>("/console/users", "Users"),
    section::<rbac::ReadUsers>("/console/groups", "Groups"),
    section::<rbac::ReadRoles>("/console/roles", "Roles"),
    section::<rbac::ReadPolicy>("/console/policy", "Security policy"),
    section::<rbac::ReadPlugins>("/console/plugins", "Plugins"),
    section::<rbac::ReadAudit>("/console/audit", "Audit log"),
];

/// A navigation entry as the layout shows it.
pub(super) struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What surrounds every page.
pub(super) struct Chrome {
    pub tenant_name: String,
    pub user: String,
    pub nav: Vec<NavItem>,
    csrf: Csrf,
    secure: bool,
}

impl Chrome {
    /// Where the brand link goes: the first section this user may read.
    pub fn home(&self) -> &'static str {
        self.nav.first().map_or("/console", |item| item.href)
    }

    /// The token for a form's hidden `csrf` field.
    pub fn csrf(&self) -> &str {
        self.csrf.token()
    }

    /// `page` after a form: 422 when it shows what was wrong with the input, else 200.
    pub fn form_page(&self, refused: bool, page: &impl Template) -> Response {
        let status = if refused {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        self.page(status, page)
    }

    /// `page` with `status` and the console's headers (and the CSRF cookie when new).
    pub fn page(&self, status: StatusCode, page: &impl Template) -> Response {
        let mut response = self.csrf.apply(render(status, page), self.secure);
        with_csp(&mut response);
        response
    }
}

/// Adds the console's CSP to `response`.
pub(super) fn with_csp(response: &mut Response) {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
}

/// The proof that the signed-in user may exercise `P`, with the page's chrome.
pub(super) struct Admin<P> {
    pub auth: Authorized<P>,
    pub chrome: Chrome,
}

impl<P: TenantPermission + Send> FromRequestParts<AppState> for Admin<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let auth = match Require::<P>::from_request_parts(parts, state).await {
            Ok(Require(auth)) => auth,
            Err(refused) => return Err(refusal(refused, parts, state)),
        };
        let csrf = Csrf::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let tenant = match store::tenants::get(&state.store, auth.tenant()).await {
            Ok(Some(t)) => t,
            Ok(None) => return Err(error_page(Error::NotFound("tenant"))),
            Err(e) => return Err(error_page(e.into())),
        };
        let path = parts.uri.path();
        let nav = SECTIONS
            .iter()
            .filter(|s| auth.may(s.module, s.action))
            .map(|s| NavItem {
                href: s.href,
                label: s.label,
                current: path == s.href
                    || (s.href != "/console" && path.starts_with(&format!("{}/", s.href))),
            })
            .collect();
        let chrome = Chrome {
            tenant_name: tenant.name,
            user: auth.actor().label,
            nav,
            csrf,
            secure: secure(state),
        };
        Ok(Admin { auth, chrome })
    }
}

/// A refused page: to the sign-in page when nobody is signed in (coming back here after),
/// a notice when a setup session ended, otherwise the API's refusal as a page.
fn refusal(refused: ApiError, parts: &Parts, state: &AppState) -> Response {
    let setup_only = crate::http::account::session_cookie(state, &parts.headers).is_none()
        && crate::http::account::setup_cookie(state, &parts.headers).is_some();
    match refused {
        // A setup link's session that ended (revoked, or its hours ran out): signing in is
        // no way back for someone without an account.
        ApiError::Domain(Error::Unauthenticated(_)) if setup_only => message_page(
            StatusCode::UNAUTHORIZED,
            "Setup session ended",
            "This setup session has ended or its link was revoked. Ask for a new setup link.",
        ),
        ApiError::Domain(Error::Unauthenticated(_)) => {
            let back = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/console");
            let encoded: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            Redirect::to(&format!("/login?return_to={encoded}")).into_response()
        }
        ApiError::Domain(e) => error_page(e),
        other => {
            let status = other.into_response().status();
            message_page(status, "Not available", "This request cannot be served.")
        }
    }
}

/// The page for a domain error: the API's message, with the API's status; an internal
/// failure is logged and shown generically.
pub(super) fn error_page(e: Error) -> Response {
    if let Error::Internal(inner) = &e {
        tracing::error!(error = ?inner, "a console page failed");
        return message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "This page failed on our side; try again later.",
        );
    }
    let message = e.to_string();
    // The status the API gives the same error, from its one mapping.
    let status = ApiError::Domain(e).into_response().status();
    let title = match status {
        StatusCode::UNAUTHORIZED => "Sign in first",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Not possible now",
        _ => "Not accepted",
    };
    message_page(status, title, &message)
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let mut response = render(
        status,
        &crate::http::pages::Notice {
            title,
            code: None,
            message,
            try_again: false,
        },
    );
    with_csp(&mut response);
    response
}

/// A further proof for the same caller, when the page shows something another permission
/// guards (the overview's checklist reads connections, policy, roles): the API's own check
/// and feature gate, `None` when either refuses.
pub(super) async fn also<Q: TenantPermission, P: TenantPermission>(
    state: &AppState,
    auth: &Authorized<P>,
) -> Option<Authorized<Q>> {
    let proof = rbac::for_tenant::<Q>(auth.principal(), auth.tenant()).ok()?;
    crate::tenancy::features::require_for::<Q>(state, auth.tenant())
        .await
        .ok()?;
    Some(proof)
}
