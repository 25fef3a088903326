//! `/Users` and `/Groups`: one request on the resources, routed to [`super::users`] or
//! [`super::groups`]. The front ([`super::route`]) and each Bulk operation
//! ([`super::bulk`]) come through here.

use super::error::ScimError;
use super::groups;
use super::params::search_query;
use super::request::{body, split, unrouted, Method, Provisioner, Reply, Request};
use super::users;
use crate::services::Services;

/// Answers one request on `/Users` or `/Groups`.
pub async fn handle(state: &Services, p: &Provisioner, req: &Request) -> Result<Reply, ScimError> {
    let (segments, params) = split(req)?;
    use Method::*;
    match (req.method, segments.as_slice()) {
        (Get, ["Users"]) => users::list(state, p, &params.list()?).await,
        (Post, ["Users", ".search"]) => {
            users::list(state, p, &search_query(req.body.as_ref())?).await
        }
        (Post, ["Users"]) => users::create(state, p, body(req)?, &params).await,
        (Get, ["Users", id]) => users::get(state, p, id, &params, req).await,
        (Put, ["Users", id]) => users::replace(state, p, id, body(req)?, &params, req).await,
        (Patch, ["Users", id]) => users::patch(state, p, id, body(req)?, &params, req).await,
        (Delete, ["Users", id]) => users::delete(state, p, id, req).await,
        (Get, ["Groups"]) => groups::list(state, p, &params.list()?).await,
        (Post, ["Groups", ".search"]) => {
            groups::list(state, p, &search_query(req.body.as_ref())?).await
        }
        (Post, ["Groups"]) => groups::create(state, p, body(req)?, &params).await,
        (Get, ["Groups", id]) => groups::get(state, p, id, &params, req).await,
        (Put, ["Groups", id]) => groups::replace(state, p, id, body(req)?, &params, req).await,
        (Patch, ["Groups", id]) => groups::patch(state, p, id, body(req)?, &params, req).await,
        (Delete, ["Groups", id]) => groups::delete(state, p, id, req).await,
        _ => Err(unrouted(&segments)),
    }
}
