//! The admin console (`/console`): server-rendered pages for a tenant's administrators. It is a
//! client of the admin API, not a second implementation: every page takes its proof with
//! [`guard::Admin`] (the API's own [`super::require::Require`], answering with a page instead of
//! JSON) and calls the same service function the REST route calls, so a page can do nothing
//! the API would refuse the same user, and a hidden button is never the only guard. Forms carry
//! the CSRF token in a hidden field; [`form_csrf`] moves it into the `X-CSRF-Token` header the
//! API's caller check reads, so there is one check. One stylesheet and one script, both served
//! from here, under a strict CSP (`script-src 'self'`, no inline script or style, no eval).
//! Pages: [`overview`] (setup checklist, activity charts, connection and stream health),
//! [`domains`], [`sso`] (connections and the per-preset setup wizard with its test sign-in),
//! [`scim`] (the base URL, the SCIM tokens, recent provisioning), [`users`], [`groups`],
//! [`roles`] (the role matrix), [`policy`], [`plugins`] (its upload reads its own multipart
//! form) and [`audit`] (search and export). A setup link's session sees SSO and SCIM only.

mod audit;
mod chart;
mod domains;
mod groups;
mod guard;
mod mappings;
mod memberships;
mod overview;
mod plugins;
mod policy;
mod presets;
mod roles;
mod scim;
mod sso;
mod users;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::error::ApiError;
use super::extract::CSRF_HEADER;
use super::state::AppState;

/// The stylesheet every page links (the sign-in pages too).
const STYLESHEET: &str = include_str!("../../../static/gatehouse.css");
/// The console's one script: copy buttons and confirmations before destructive actions.
const SCRIPT: &str = include_str!("../../../static/console.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(overview::page))
        .route("/console/sso", get(sso::list))
        .route("/console/sso/new", get(sso::presets))
        .route(
            "/console/sso/new/{preset}",
            get(sso::wizard).post(sso::create),
        )
        .route("/console/sso/{id}", get(sso::detail))
        .route("/console/sso/{id}/test", post(sso::test))
        .route("/console/sso/{id}/status", post(sso::set_status))
        .route("/console/sso/{id}/mappings", post(mappings::add))
        .route("/console/sso/{id}/mappings/remove", post(mappings::remove))
        .route("/console/domains", get(domains::page).post(domains::claim))
        .route("/console/domains/{domain}/remove", post(domains::remove))
        .route("/console/users", get(users::list))
        .route("/console/users/{id}", get(users::detail))
        .route("/console/users/{id}/roles", post(users::add_role))
        .route("/console/users/{id}/roles/remove", post(users::remove_role))
        .route("/console/users/{id}/status", post(users::set_status))
        .route("/console/users/{id}/groups", post(memberships::set))
        .route("/console/users/{id}/mfa/reset", post(users::reset_mfa))
        .route(
            "/console/users/{id}/sessions/{session}/revoke",
            post(users::revoke_session),
        )
        .route("/console/groups", get(groups::page).post(groups::create))
        .route("/console/groups/{id}/delete", post(groups::delete))
        .route("/console/roles", get(roles::list).post(roles::save))
        .route("/console/roles/edit", get(roles::edit))
        .route("/console/plugins", get(plugins::page).post(plugins::upload))
        .route(
            "/console/plugins/{id}/dry-run",
            get(plugins::dry_run_form).post(plugins::dry_run),
        )
        .route("/console/plugins/{id}/assign", post(plugins::assign))
        .route(
            "/console/plugins/stages/{stage}/config",
            post(plugins::configure),
        )
        .route(
            "/console/plugins/stages/{stage}/{action}",
            post(plugins::stage_action),
        )
        .route("/console/audit", get(audit::page))
        .route("/console/audit/export", get(audit::download))
        .route("/console/policy", get(policy::page).post(policy::save))
        .route("/console/policy/presets/{name}", post(policy::apply_preset))
        .route("/console/scim", get(scim::page))
        .route("/console/scim/tokens", post(scim::create))
        .route("/console/scim/tokens/{id}/rotate", post(scim::rotate))
        .route("/console/scim/tokens/{id}/revoke", post(scim::revoke))
        .layer(axum::middleware::from_fn(form_csrf))
        .route("/static/gatehouse.css", get(stylesheet))
        .route("/static/console.js", get(script))
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The most a console form may send (a pasted IdP metadata document is the largest field).
const MAX_FORM_BYTES: usize = 512 * 1024;

/// For a form POST (`application/x-www-form-urlencoded`) to the console: copies the form's
/// `csrf` field into the `X-CSRF-Token` header (unless the request already has one), so the
/// API's caller check verifies it against the CSRF cookie exactly as for a script's call.
/// The body is passed on unchanged.
async fn form_csrf(request: Request, next: Next) -> Response {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    // Without a session there is nobody to act for: the page's own check refuses, and the
    // body is not worth reading.
    let has_session = super::account::may_be_signed_in(request.headers());
    if request.method() != Method::POST
        || !is_form
        || !has_session
        || request.headers().contains_key(CSRF_HEADER)
    {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return ApiError::BodyTooLarge {
            limit: "512 KiB (a console form)",
        }
        .into_response();
    };
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value.into_owned());
    if let Some(value) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        parts.headers.insert(CSRF_HEADER, value);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
