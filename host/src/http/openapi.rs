//! The described API: the operator (`/operator/v1`), admin (`/api/v1`, with the SCIM-token,
//! SCIM-client and audit-ingest routes) and decision (`/access/v1`) APIs as one OpenAPI 3.1
//! document. The document is not written by hand: each route is registered with
//! `utoipa_axum::routes!`, which takes the handler's `#[utoipa::path]` and the `ToSchema` of
//! its request and answer types, so a route cannot be served without being described.
//! Served at [`PATH`], committed as `docs/openapi.json` (a test compares the two), printed by
//! `gatehouse openapi`. The protocol endpoints that have their own descriptions (OIDC
//! discovery, SCIM's `/Schemas`, SSF configuration) and the pages are not in it.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::error::Problem;
use super::state::AppState;

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

/// The document's fixed parts; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse",
        description = "Enterprise single sign-on, SCIM provisioning, MFA, roles and audit for \
                       a multi-tenant SaaS app. The operator API (`/operator/v1`) takes the \
                       operator token; the admin API (`/api/v1`) takes a tenant API token (or \
                       an admin's session); the decision API (`/access/v1`) takes the app's \
                       client credentials or a tenant API token with `access:evaluate`. \
                       Failures are RFC 9457 problem details.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(Problem)),
    tags(
        (name = "operator", description = "Tenants, operator tokens, apps and shared plugins"),
        (name = "admin", description = "A tenant's own settings, users, groups and tokens"),
        (name = "connections", description = "SSO connections and the sign-in pipeline"),
        (name = "plugins", description = "Plugin versions, dry runs and pipelines"),
        (name = "audit", description = "The audit trail: search, ingest, export, streams, retention"),
        (name = "access", description = "Decisions for the app (OpenID AuthZEN)"),
    )
)]
struct ApiDoc;

/// Adds what every operation shares: the security schemes, and the problem-details answer
/// for every status an operation does not describe itself. Applied to the whole document once
/// the routers' paths are in it (an `#[openapi(modifiers)]` would run before).
struct Described;

impl Modify for Described {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "app_client",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        let problem = ResponseBuilder::new()
            .description("A problem (RFC 9457): what went wrong and, for a field, which one")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
        let app = SecurityRequirement::new("app_client", Vec::<String>::new());
        for (path, item) in doc.paths.paths.iter_mut() {
            // The decision API also takes the app's client credentials (`access::Caller`).
            let security = if path.starts_with("/access/") {
                vec![app.clone(), bearer.clone()]
            } else {
                vec![bearer.clone()]
            };
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                operation.security.get_or_insert_with(|| security.clone());
                // OpenAPI asks every response for a description: the status's own words
                // where the handler gave none.
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response {
                        if response.description.is_empty() {
                            let reason = status.parse::<u16>().ok().and_then(|code| {
                                axum::http::StatusCode::from_u16(code)
                                    .ok()?
                                    .canonical_reason()
                            });
                            response.description = reason.unwrap_or("Success").to_string();
                        }
                    }
                }
                operation
                    .responses
                    .responses
                    .entry("default".to_string())
                    .or_insert_with(|| problem.clone().into());
            }
        }
    }
}

/// The described routes, unnested: `super::router` serves them, [`document`] describes them.
pub fn routes(max_component: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::access::router())
        .nest(
            "/operator/v1",
            super::operator::router()
                .merge(super::plugins::operator_router(max_component))
                .merge(super::oauth::operator_router())
                .merge(super::connections::operator_policy_router())
                .merge(super::audit::operator_router())
                .merge(super::setup_links::operator_router()),
        )
        .nest(
            "/api/v1",
            super::admin::router()
                .merge(super::audit::router())
                .merge(super::audit_streams::router())
                .merge(super::audit_exports::router())
                .merge(super::groups::router())
                .merge(super::plugins::tenant_router(max_component))
                .merge(super::slots::router())
                .merge(super::replays::router())
                .merge(super::connections::router()),
        )
}

/// The routes as an axum router, and a route serving their document at [`PATH`].
pub fn router(max_component: usize) -> Router<AppState> {
    let (router, mut doc) = routes(max_component).split_for_parts();
    Described.modify(&mut doc);
    let json: Arc<str> = to_json(&doc).into();
    router.route(
        PATH,
        get(move || {
            let json = Arc::clone(&json);
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    json.to_string(),
                )
                    .into_response()
            }
        }),
    )
}

/// The document, as `docs/openapi.json` holds it.
pub fn document() -> String {
    let mut doc = routes(usize::MAX).into_openapi();
    Described.modify(&mut doc);
    to_json(&doc)
}

fn to_json(doc: &utoipa::openapi::OpenApi) -> String {
    let mut json = doc.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
