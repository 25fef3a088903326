//! The SCIM 2.0 server (RFC 7643, RFC 7644). [`service`] routes a request (already rewritten
//! by the tenant's SCIM adapter, if it has one) to the discovery documents, [`users`],
//! [`groups`] or [`bulk`]. Underneath: the filter language ([`filter`]) and its evaluation
//! ([`eval`]), PATCH paths ([`path`]) and their application ([`patch`]), list parameters,
//! sorting and pages ([`list`]), response attribute selection ([`projection`]), checking what
//! a client wrote against the schema ([`validate`]), errors in SCIM form ([`error`]), the
//! schema definitions ([`schema`]) and the discovery documents ([`discovery`]). The HTTP
//! edge authenticates the token and speaks HTTP; storage goes through `store::scim`, and the
//! lifecycle side effects (sessions cut off, roles re-derived) through `directory::provision`.

pub mod bulk;
pub mod discovery;
pub mod error;
pub mod eval;
pub mod filter;
pub mod groups;
pub mod list;
pub mod membership;
pub mod patch;
pub mod path;
pub mod prefilter;
pub mod projection;
pub mod schema;
pub mod service;
pub mod users;
pub mod validate;
