//! The console's audit-log page: the tenant's events newest first, filtered by free text,
//! action, actor, outcome and day, a page at a time, each with its before and after; and the
//! export of everything the filters select as JSON Lines, CSV or OCSF. The search is the
//! API's (`audit::query::list_for_tenant`, `audit.view`) and the export is the API's
//! (`audit::export::start`, `audit.export`, audited as `audit.exported`), streamed the same.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::guard::{also, error_page, Admin, Chrome};
use crate::audit::export::{self, Format};
use crate::audit::query::{self, AuditQuery, Filters};
use crate::audit::AuditEvent;
use crate::error::Error;
use crate::http::extract::Ctx;
use crate::http::state::AppState;
use crate::rbac::{ExportAudit, ReadAudit};
use crate::types::Timestamp;

/// Events per page.
const PER_PAGE: u32 = 50;

/// The filter form, as the page's query string carries it (blank fields are no filter).
#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor_email: String,
    #[serde(default)]
    outcome: String,
    /// A day, `YYYY-MM-DD` (UTC), from its start.
    #[serde(default)]
    from: String,
    /// A day, `YYYY-MM-DD` (UTC), to its end.
    #[serde(default)]
    to: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    format: String,
}

fn given(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The start of day `day` (UTC), or the start of the next day for an end.
fn day(field: &'static str, day: &str, end: bool) -> Result<Option<Timestamp>, Error> {
    let Some(day) = given(day) else {
        return Ok(None);
    };
    let start: Timestamp = format!("{day}T00:00:00Z")
        .parse()
        .map_err(|_| Error::invalid(field, format!("{field} must be a day, YYYY-MM-DD")))?;
    Ok(Some(if end {
        start.plus_seconds(86_400)
    } else {
        start
    }))
}

impl AuditForm {
    fn filters(&self) -> Result<Filters, Error> {
        Ok(Filters {
            from: day("from", &self.from, false)?,
            to: day("to", &self.to, true)?,
            actor_email: given(&self.actor_email),
            action: given(&self.action),
            outcome: given(&self.outcome),
            q: given(&self.q),
            ..Filters::default()
        })
    }

    /// The query string of these filters (no cursor, no format), for links.
    fn query(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("q", &self.q),
            ("action", &self.action),
            ("actor_email", &self.actor_email),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.trim().is_empty() {
                out.append_pair(name, value.trim());
            }
        }
        out.finish()
    }
}

/// An event as a row shows it (here and in the SCIM page's recent provisioning).
pub(super) struct Row {
    pub at: String,
    pub actor: String,
    pub actor_type: String,
    pub action: String,
    pub target: String,
    pub failure: bool,
    pub ip: String,
    pub changes: String,
}

/// The newest `limit` events of the caller's tenant whose action matches `action` (exact
/// actions separated by commas, or a prefix ending in `*`), when the caller may read the log.
pub(super) async fn recent<P: crate::rbac::TenantPermission>(
    state: &AppState,
    auth: &crate::rbac::Authorized<P>,
    action: &str,
    limit: u32,
) -> Result<Option<Vec<Row>>, Error> {
    let Some(read) = also::<ReadAudit, _>(state, auth).await else {
        return Ok(None);
    };
    let q = AuditQuery {
        filters: Filters {
            action: Some(action.to_string()),
            ..Filters::default()
        },
        limit: Some(limit),
        cursor: None,
    };
    let page = query::list_for_tenant(&state.store, &read, q).await?;
    Ok(Some(page.events.into_iter().map(Row::from).collect()))
}

impl From<AuditEvent> for Row {
    fn from(e: AuditEvent) -> Self {
        let raw = |v: &Option<Box<serde_json::value::RawValue>>| {
            v.as_ref()
                .and_then(|r| serde_json::from_str::<serde_json::Value>(r.get()).ok())
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
        };
        let changes = match (raw(&e.before), raw(&e.after)) {
            (None, None) => String::new(),
            (before, after) => format!(
                "before: {}\nafter: {}",
                before.unwrap_or_else(|| "-".into()),
                after.unwrap_or_else(|| "-".into())
            ),
        };
        Row {
            at: e.occurred_at.to_rfc3339(),
            actor: e.actor.label,
            actor_type: e.actor.kind,
            failure: e.outcome == "failure",
            action: e.action,
            target: format!("{} {}", e.target.kind, e.target.id),
            ip: e.ip.unwrap_or_default(),
            changes,
        }
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct Page<'a> {
    chrome: &'a Chrome,
    form: &'a AuditForm,
    rows: Vec<Row>,
    /// The link to the next (older) page.
    older: Option<String>,
    can_export: bool,
    error: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadAudit>,
    Query(form): Query<AuditForm>,
) -> Response {
    let can_export = also::<ExportAudit, _>(&state, &auth).await.is_some();
    let searched = match form.filters() {
        Ok(filters) => {
            let q = AuditQuery {
                filters,
                limit: Some(PER_PAGE),
                cursor: given(&form.cursor),
            };
            query::list_for_tenant(&state.store, &auth, q).await
        }
        Err(e) => Err(e),
    };
    let (rows, older, error) = match searched {
        Ok(page) => {
            let older = page.next_cursor.map(|c| {
                let filters = form.query();
                let cursor: String = url::form_urlencoded::byte_serialize(c.as_bytes()).collect();
                let sep = if filters.is_empty() { "" } else { "&" };
                format!("/console/audit?{filters}{sep}cursor={cursor}")
            });
            (
                page.events.into_iter().map(Row::from).collect(),
                older,
                None,
            )
        }
        Err(Error::Invalid { detail, .. }) => (vec![], None, Some(detail)),
        Err(e) => return error_page(e),
    };
    chrome.form_page(
        error.is_some(),
        &Page {
            chrome: &chrome,
            form: &form,
            rows,
            older,
            can_export,
            error,
        },
    )
}

/// The export download: what the filters select, in the format asked.
pub(super) async fn download(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<ExportAudit>,
    Ctx(ctx): Ctx,
    Query(form): Query<AuditForm>,
) -> Response {
    let format = match given(&form.format) {
        None => Format::Jsonl,
        Some(f) => match f.parse::<Format>() {
            Ok(f) => f,
            Err(_) => return error_page(Error::invalid("format", "format is jsonl, csv or ocsf")),
        },
    };
    let filters = match form.filters() {
        Ok(f) => f,
        Err(e) => return error_page(e),
    };
    match export::start(&state, &auth, &ctx, format, filters).await {
        Ok(export) => crate::http::audit::attachment(export),
        Err(e) => error_page(e),
    }
}
