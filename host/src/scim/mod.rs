//! The SCIM 2.0 server (RFC 7643, RFC 7644). [`route`] answers a [`request::Request`]
//! (already rewritten by the tenant's SCIM adapter, if it has one) from the discovery
//! documents, or runs it as a [`bulk`] request, or hands it to [`resources`], which routes
//! it to [`users`] or [`groups`]; what these share is in [`request`], the query parameters
//! in [`params`]. Underneath: the filter language ([`filter`]) and its evaluation
//! ([`eval`]), PATCH paths ([`path`]) and their application ([`patch`]), list parameters,
//! sorting and pages ([`list`]), response attribute selection ([`projection`]), checking what
//! a client wrote against the schema ([`validate`]), errors in SCIM form ([`error`]), the
//! schema definitions ([`schema`]) and the discovery documents ([`discovery`]). The HTTP
//! edge authenticates the token and speaks HTTP; every write goes through
//! `crate::directory`, the one writer of users and groups.

pub mod bulk;
pub mod discovery;
pub mod error;
pub mod eval;
pub mod filter;
#[cfg(test)]
mod filter_tests;
pub mod groups;
pub mod list;
pub mod membership;
pub mod params;
pub mod patch;
pub mod path;
pub mod prefilter;
pub mod projection;
pub mod request;
pub mod resources;
pub mod route;
pub mod schema;
pub mod users;
pub mod validate;
