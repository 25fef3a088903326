//! The SCIM 2.0 server (RFC 7643, RFC 7644), growing piece by piece. So far: the filter
//! language ([`filter`]). Resources, PATCH, Bulk and the HTTP routes come next; the
//! directory module stays the one place users and groups are written.

pub mod filter;
