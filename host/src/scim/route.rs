//! The SCIM server's front: a request (method, path below the tenant's SCIM base, JSON body,
//! preconditions) is answered from the discovery documents, run as a Bulk request
//! ([`super::bulk`]) or handed to [`super::resources`] for `/Users` and `/Groups`.

use serde_json::Value;

use super::discovery;
use super::error::{ScimError, ScimType};
use super::list;
use super::request::{body, split, unrouted, Method, Provisioner, Reply, Request, Sent};
use super::resources;
use super::schema;
use crate::plugins::provisioning;
use crate::services::Services;

/// Answers a request as the client sent it: the tenant's SCIM adapter rewrites it first (a
/// tenant without one: it passes unchanged), then the body is read as JSON and [`handle`]
/// answers. `if_match` and `if_none_match` are the client's preconditions.
pub async fn serve(
    state: &Services,
    p: &Provisioner,
    sent: Sent,
    if_match: Option<String>,
    if_none_match: Option<String>,
) -> Result<Reply, ScimError> {
    let sent = provisioning::normalize_scim(state, p.tenant(), &p.ctx, sent).await?;
    let body = sent
        .body
        .as_deref()
        .map(|t| {
            serde_json::from_str::<Value>(t).map_err(|e| {
                ScimError::bad_request(
                    ScimType::InvalidSyntax,
                    format!("the body is not valid JSON: {e}"),
                )
            })
        })
        .transpose()?;
    let request = Request {
        method: sent.method,
        path: sent.path,
        body,
        if_match,
        if_none_match,
    };
    handle(state, p, request).await
}

/// Answers one SCIM request.
pub async fn handle(state: &Services, p: &Provisioner, req: Request) -> Result<Reply, ScimError> {
    let (segments, _) = split(&req)?;
    use Method::*;
    match (req.method, segments.as_slice()) {
        (Get, ["ServiceProviderConfig"]) => Ok(Reply::json(
            200,
            discovery::service_provider_config(&p.base, p.limits()),
        )),
        (Get, ["ResourceTypes"]) => {
            let all = discovery::resource_types(&p.base);
            Ok(Reply::json(200, list::response(all.len(), 1, all)))
        }
        (Get, ["ResourceTypes", name]) => discovery::resource_types(&p.base)
            .into_iter()
            .find(|r| r["id"] == *name)
            .map(|r| Reply::json(200, r))
            .ok_or_else(|| ScimError::not_found("resource type")),
        (Get, ["Schemas"]) => {
            let all: Vec<Value> = [schema::USER, schema::GROUP, schema::ENTERPRISE_USER]
                .into_iter()
                .filter_map(|id| schema::schema_json(id, &format!("{}/Schemas/{id}", p.base)))
                .collect();
            Ok(Reply::json(200, list::response(all.len(), 1, all)))
        }
        (Get, ["Schemas", id]) => schema::schema_json(id, &format!("{}/Schemas/{id}", p.base))
            .map(|s| Reply::json(200, s))
            .ok_or_else(|| ScimError::not_found("schema")),
        (Post, ["Bulk"]) => super::bulk::run(state, p, body(&req)?).await,
        // A query at the root spans every resource type (RFC 7644 §3.4.2.1, §3.4.3). That is
        // optional, and RFC 7644 §3.12 answers an unsupported operation with 501; a 404
        // would say the client has the wrong base URL.
        (Get, [""]) | (Post, [".search"]) => Err(ScimError::new(
            501,
            None,
            "queries across resource types are not supported: query /Users or /Groups",
        )),
        (_, ["Users" | "Groups", ..]) => resources::handle(state, p, &req).await,
        _ => Err(unrouted(&segments)),
    }
}
