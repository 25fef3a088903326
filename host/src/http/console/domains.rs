//! The console's domains: the tenant's email domains with their state, the DNS TXT record
//! that proves a pending one (name and value with copy buttons), a claim form and removal
//! after a confirmation. The operator verifies a claimed domain (Gatehouse does not resolve
//! DNS yet), which the page says. Each action is the API's own (`tenancy::domains`) under
//! the same permission.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::guard::{also, error_page, Admin, Chrome};
use crate::error::Error;
use crate::http::extract::Ctx;
use crate::http::state::AppState;
use crate::rbac::{Authorized, ReadTenant, WriteDomains};
use crate::tenancy::domains::{self, DomainChallenge};

#[derive(Template)]
#[template(path = "console/domains.html")]
struct Page<'a> {
    chrome: &'a Chrome,
    domains: Vec<DomainChallenge>,
    can_write: bool,
    typed: String,
    error: Option<String>,
}

async fn render(
    state: &AppState,
    auth: &Authorized<ReadTenant>,
    chrome: &Chrome,
    typed: String,
    error: Option<String>,
) -> Response {
    let domains = match domains::list(state, auth.tenant()).await {
        Ok(d) => d,
        Err(e) => return error_page(e),
    };
    chrome.form_page(
        error.is_some(),
        &Page {
            chrome,
            domains,
            can_write: also::<WriteDomains, _>(state, auth).await.is_some(),
            typed,
            error,
        },
    )
}

pub(super) async fn page(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadTenant>,
) -> Response {
    render(&state, &auth, &chrome, String::new(), None).await
}

#[derive(Deserialize)]
pub(super) struct Claim {
    #[serde(default)]
    domain: String,
}

pub(super) async fn claim(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteDomains>,
    Ctx(ctx): Ctx,
    Form(form): Form<Claim>,
) -> Response {
    let typed = form.domain.trim().to_ascii_lowercase();
    match domains::request(&state, &auth, &ctx, &typed).await {
        Ok(_) => Redirect::to("/console/domains").into_response(),
        Err(Error::Invalid { detail, .. }) | Err(Error::Conflict(detail)) => {
            match also::<ReadTenant, _>(&state, &auth).await {
                Some(read) => render(&state, &read, &chrome, typed, Some(detail)).await,
                None => error_page(Error::invalid("domain", detail)),
            }
        }
        Err(e) => error_page(e),
    }
}

pub(super) async fn remove(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteDomains>,
    Ctx(ctx): Ctx,
    Path(domain): Path<String>,
) -> Response {
    match domains::remove(&state, &auth, &ctx, &domain).await {
        Ok(()) => Redirect::to("/console/domains").into_response(),
        Err(e) => error_page(e),
    }
}
