//! The SCIM 2.0 server (RFC 7643, RFC 7644), growing piece by piece. So far: the filter
//! language ([`filter`]), PATCH paths ([`path`]) and errors in SCIM form ([`error`]).
//! Resources, PATCH application, Bulk and the HTTP routes come next; the directory module
//! stays the one place users and groups are written.

pub mod error;
pub mod filter;
pub mod path;
