//! The SCIM 2.0 server (RFC 7643, RFC 7644), growing piece by piece. So far: the filter
//! language ([`filter`]) and its evaluation ([`eval`]), PATCH paths ([`path`]) and their
//! application ([`patch`]), list parameters, sorting and pages ([`list`]), response
//! attribute selection ([`projection`]), errors in SCIM form ([`error`]), the schema
//! definitions ([`schema`]) and the discovery documents ([`discovery`]). Resources and
//! their storage, tokens, Bulk and the HTTP routes come next; the directory module stays the
//! one place users and groups are written.

pub mod discovery;
pub mod error;
pub mod eval;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod schema;
