//! A SCIM request and its reply, without HTTP types (the HTTP edge builds the [`Request`]
//! after the tenant's SCIM adapter has rewritten it, and sends the [`Reply`]), and what the
//! resource handlers share: the [`Provisioner`], ETags and preconditions, `meta`, list
//! pages, projection of single resources and the audit record of a change.

use serde_json::{json, Map, Value};

use super::discovery::Limits;
use super::error::{ScimError, ScimType};
use super::list::{CursorKey, ListQuery, Paging};
use super::params::{Params, MAX_RESULTS};
use super::projection;
use super::schema::Attr;
use crate::audit::{Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, ProvisionScim};
use crate::store::listing::Cond;
use crate::store::Tx;
use crate::types::{TenantId, Timestamp};

/// Most operations in one Bulk request.
pub const BULK_MAX_OPERATIONS: u32 = 1000;
/// Longest userName, displayName or externalId accepted, in characters.
pub const MAX_NAME_CHARS: usize = 512;

/// HTTP methods SCIM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// A SCIM request as the client sent it, its body still text: what the tenant's SCIM adapter
/// may rewrite before the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub method: Method,
    /// Path below the tenant's base URL, with query string.
    pub path: String,
    pub body: Option<String>,
}

/// A SCIM request, below the tenant's base URL.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path with query string, e.g. `/Users?filter=…`.
    pub path: String,
    pub body: Option<Value>,
    /// `If-Match` (PUT, PATCH, DELETE): the ETags the client expects.
    pub if_match: Option<String>,
    /// `If-None-Match` (GET): answered 304 when it names the current ETag.
    pub if_none_match: Option<String>,
}

/// A SCIM answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub etag: Option<String>,
    pub location: Option<String>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            etag: None,
            location: None,
        }
    }

    /// An answer without a body: 204 after a DELETE, 304 with the current ETag.
    pub fn empty(status: u16, etag: Option<String>) -> Self {
        Self {
            status,
            body: None,
            etag,
            location: None,
        }
    }
}

/// Who provisions, for which tenant, and where the tenant's SCIM base URL is.
pub struct Provisioner {
    pub auth: Authorized<ProvisionScim>,
    /// The SCIM base URL as the client used it (resource locations are built on it).
    pub base: String,
    pub ctx: RequestContext,
    /// The largest body the server reads, as ServiceProviderConfig states.
    pub max_payload_bytes: u64,
}

impl Provisioner {
    pub fn tenant(&self) -> TenantId {
        self.auth.tenant()
    }

    pub fn actor(&self) -> Actor {
        self.auth.actor()
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_results: MAX_RESULTS,
            bulk_max_operations: BULK_MAX_OPERATIONS,
            max_payload_bytes: self.max_payload_bytes,
        }
    }
}

/// Domain errors in SCIM form. Internal causes are logged here and never sent.
impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { detail, .. } => ScimError::bad_request(ScimType::InvalidValue, detail),
            Error::Unauthenticated(detail) => ScimError::new(401, None, detail),
            Error::Forbidden(detail) => ScimError::new(403, None, detail),
            Error::TenantSuspended => ScimError::new(403, None, "the tenant is suspended"),
            Error::FeatureNotEnabled(feature) => {
                ScimError::new(403, None, crate::tenancy::features::refusal(feature))
            }
            Error::NotFound(what) => ScimError::not_found(what),
            Error::Conflict(detail) => ScimError::new(409, Some(ScimType::Uniqueness), detail),
            Error::PluginFailed { stage, detail } => {
                ScimError::new(403, None, format!("the {stage} plugin failed: {detail}"))
            }
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error in SCIM");
                ScimError::new(
                    500,
                    None,
                    "internal error; the request id is in the server log",
                )
            }
        }
    }
}

impl From<crate::store::StoreError> for ScimError {
    fn from(e: crate::store::StoreError) -> Self {
        Error::from(e).into()
    }
}

pub(super) fn body(req: &Request) -> Result<&Value, ScimError> {
    req.body.as_ref().ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidSyntax, "this request needs a JSON body")
    })
}

/// The path segments below the SCIM base and the query parameters of `req`.
pub(super) fn split(req: &Request) -> Result<(Vec<&str>, Params), ScimError> {
    let (path, query) = match req.path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (req.path.as_str(), ""),
    };
    let segments = path.trim_matches('/').split('/').collect();
    Ok((segments, Params::parse(query)?))
}

/// The answer to a request no handler took: 405 at an endpoint that exists, 404 elsewhere.
pub(super) fn unrouted(segments: &[&str]) -> ScimError {
    match segments {
        ["ServiceProviderConfig" | "ResourceTypes" | "Schemas" | "Bulk", ..]
        | ["Users" | "Groups"]
        | ["Users" | "Groups", _] => {
            ScimError::new(405, None, "this method is not allowed on this endpoint")
        }
        _ => ScimError::not_found("endpoint"),
    }
}

/// The refusal of a filtered or sorted listing that would read more than `max` rows
/// (`scim.max_scan_rows`) to evaluate in memory: the filter, narrowed in SQL first (see
/// `prefilter`), still names too many. Unfiltered, unsorted lists page in SQL instead.
pub fn too_many(max: usize) -> ScimError {
    ScimError::bad_request(
        ScimType::TooMany,
        format!(
            "the filter leaves more than {max} resources to examine; narrow it (for example by \
             userName, externalId, emails or meta.lastModified)"
        ),
    )
}

/// Filters, sorts, pages and projects `resources` (already narrowed) into a ListResponse.
pub fn page(keyed: Vec<(CursorKey, Value)>, q: &ListQuery, attrs: &'static [Attr]) -> Value {
    let (mut keys, mut resources): (Vec<CursorKey>, Vec<Value>) = match &q.filter {
        Some(f) => keyed
            .into_iter()
            .filter(|(_, r)| super::eval::matches(f, r, attrs))
            .unzip(),
        None => keyed.into_iter().unzip(),
    };
    if let Some(by) = &q.sort_by {
        // Sorting pages by index only (the parser refuses a cursor with `sortBy`).
        super::list::sort(&mut resources, by, q.descending, attrs);
        keys.clear();
    }
    let total = resources.len();
    let skip = match &q.paging {
        Paging::Index(start) => start.saturating_sub(1),
        // In listing order, as read: resume after the cursor's resource.
        Paging::Cursor(None) => 0,
        Paging::Cursor(Some(after)) => match keys.iter().position(|k| k == after) {
            Some(i) => i + 1,
            // The cursor's resource is gone: resume at the first one created after it.
            None => keys
                .iter()
                .take_while(|k| (k.micros, k.id.as_str()) <= (after.micros, after.id.as_str()))
                .count(),
        },
    };
    let end = skip.saturating_add(q.count).min(total);
    let next = if end < total && end > skip {
        keys.get(end - 1).cloned()
    } else {
        None
    };
    let page: Vec<Value> = resources.into_iter().skip(skip).take(q.count).collect();
    page_of(page, total, q, attrs, next)
}

/// How a page is read straight from the database: after a cursor's resource, or from an
/// offset (`startIndex`).
pub fn db_page(q: &ListQuery) -> (Option<Cond>, usize) {
    match &q.paging {
        Paging::Index(start) => (None, start.saturating_sub(1)),
        Paging::Cursor(None) => (None, 0),
        Paging::Cursor(Some(after)) => (
            Some(Cond::After {
                micros: after.micros,
                id: after.id.clone(),
            }),
            0,
        ),
    }
}

/// The cursor of a resource created at `at` with `id`.
pub fn key_of(at: Timestamp, id: &str) -> CursorKey {
    CursorKey {
        micros: at.as_micros(),
        id: id.to_string(),
    }
}

/// A ListResponse of one page already read (`total` resources in all), projected; `next`
/// is where a cursor-paged listing resumes when more follow.
pub fn page_of(
    page: Vec<Value>,
    total: usize,
    q: &ListQuery,
    attrs: &'static [Attr],
    next: Option<CursorKey>,
) -> Value {
    let page = page
        .iter()
        .map(|r| projection::project(r, attrs, q.attributes.as_deref(), &q.excluded))
        .collect();
    match q.paging {
        Paging::Index(start) => super::list::response(total, start, page),
        Paging::Cursor(_) => super::list::cursor_response(total, page, next),
    }
}

/// The ETag of a resource version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether a precondition header (a list of ETags, or `*`) names `current`. Weak and strong
/// forms of the same tag match: SCIM versions are weak ETags, and clients send them back
/// either way.
pub fn etag_listed(header: &str, current: &str) -> bool {
    let bare = |t: &str| {
        t.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string()
    };
    let current = bare(current);
    header
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == current)
}

/// Checks `If-Match` against the current version: 412 when it names another.
pub fn check_if_match(req: &Request, version: i64) -> Result<(), ScimError> {
    match &req.if_match {
        Some(h) if !etag_listed(h, &etag(version)) => Err(ScimError::new(
            412,
            None,
            "the resource has changed since the version in If-Match",
        )),
        _ => Ok(()),
    }
}

/// 304 when `If-None-Match` names the current version.
pub fn not_modified(req: &Request, version: i64) -> Option<Reply> {
    let current = etag(version);
    req.if_none_match
        .as_deref()
        .filter(|h| etag_listed(h, &current))
        .map(|_| Reply::empty(304, Some(current)))
}

/// `current` with the PATCH `body` applied; a change to any of `read_only` (server-owned
/// attributes such as `id` and `meta`) is refused with `mutability`.
pub fn patched(
    current: &Value,
    body: &Value,
    attrs: &'static [Attr],
    read_only: &[&str],
) -> Result<Value, ScimError> {
    let mut changed = current.clone();
    super::patch::apply(&mut changed, body, attrs)?;
    for owned in read_only {
        if changed.get(*owned) != current.get(*owned) {
            return Err(ScimError::bad_request(
                ScimType::Mutability,
                format!("`{owned}` is read-only"),
            ));
        }
    }
    Ok(changed)
}

/// A single-resource answer: projected, with its ETag and (for creates) its location.
pub fn resource_reply(
    status: u16,
    resource: &Value,
    version: i64,
    attrs: &'static [Attr],
    params: &Params,
) -> Result<Reply, ScimError> {
    let (include, exclude) = params.projection()?;
    let body = projection::project(resource, attrs, include.as_deref(), &exclude);
    Ok(Reply {
        status,
        body: Some(body),
        etag: Some(etag(version)),
        location: (status == 201)
            .then(|| resource["meta"]["location"].as_str().map(str::to_string))
            .flatten(),
    })
}

/// `meta` for a resource.
pub fn meta(
    kind: &str,
    location: String,
    created: String,
    modified: String,
    version: i64,
) -> Value {
    json!({
        "resourceType": kind,
        "created": created,
        "lastModified": modified,
        "location": location,
        "version": etag(version),
    })
}

/// Records a SCIM change in the tenant's audit chain, inside the change's transaction. The
/// resources are kept as the client sees them, without `meta` (the event has its own time).
pub async fn audit(
    tx: &mut Tx,
    now: Timestamp,
    p: &Provisioner,
    action: crate::audit::action::Action,
    target: Target,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<(), ScimError> {
    let view = |resource: &Value| {
        let mut v = resource.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("meta");
        }
        v
    };
    let event = NewEvent {
        chain: Chain::Tenant(p.tenant()),
        actor: p.actor(),
        action,
        target,
        before: before.map(view),
        after: after.map(view),
    };
    crate::audit::record(tx, now, &p.ctx, event).await?;
    Ok(())
}

/// A name-like string the client gave: non-empty, bounded, no control characters.
pub fn name_value(
    map: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<Option<String>, ScimError> {
    match map.get(key).and_then(Value::as_str) {
        None if required => Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("`{key}` is required"),
        )),
        None => Ok(None),
        Some(s) if s.trim().is_empty() && required => Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("`{key}` must not be empty"),
        )),
        Some(s) if s.chars().count() > MAX_NAME_CHARS || s.chars().any(char::is_control) => {
            Err(ScimError::bad_request(
                ScimType::InvalidValue,
                format!("`{key}` must be at most {MAX_NAME_CHARS} printable characters"),
            ))
        }
        Some(s) => Ok(Some(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions_compare_weak_and_strong_forms() {
        assert!(etag_listed("W/\"3\"", &etag(3)));
        assert!(etag_listed("\"3\"", &etag(3)));
        assert!(etag_listed("W/\"1\", W/\"3\"", &etag(3)));
        assert!(etag_listed("*", &etag(3)));
        assert!(!etag_listed("W/\"2\"", &etag(3)));
    }
}
