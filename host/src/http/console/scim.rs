//! The console's SCIM page: the base URL an IdP provisions to, the tenant's SCIM tokens (API
//! tokens with the `scim` scope: when each was last used, when it expires), a new token shown
//! once, rotation (the old token keeps working for the API's default overlap, said before
//! the admin confirms) and revocation, and the newest provisioning events from the audit log
//! (for whom may read it). Each action is the API's own (`sessions::api_tokens`)
//! under the same permission (`tokens.edit`).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::guard::{error_page, Admin, Chrome};
use crate::error::Error;
use crate::http::extract::{path_param, Ctx};
use crate::http::state::AppState;
use crate::rbac::{Authorized, Scope, WriteTokens};
use crate::sessions::api_tokens::{self, CreateApiToken, RotateApiToken, DEFAULT_OVERLAP_SECONDS};
use crate::store::tokens::ApiTokenRecord;
use crate::types::TokenId;

/// Provisioning events the page shows.
const RECENT: u32 = 20;

#[derive(Template)]
#[template(path = "console/scim.html")]
struct Page<'a> {
    chrome: &'a Chrome,
    base_url: String,
    tokens: Vec<ApiTokenRecord>,
    now: crate::types::Timestamp,
    /// A token just made: (name, the secret), shown this once.
    created: Option<(String, String)>,
    overlap_hours: i64,
    error: Option<String>,
    /// The newest SCIM writes, when the user may read the audit log.
    recent: Option<Vec<super::audit::Row>>,
}

async fn render(
    state: &AppState,
    auth: &Authorized<WriteTokens>,
    chrome: &Chrome,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Response {
    let tokens = match api_tokens::list(state, auth).await {
        Ok(tokens) => tokens
            .into_iter()
            .filter(|t| t.scopes.contains(&Scope::Scim))
            .collect(),
        Err(e) => return error_page(e),
    };
    let recent = match super::audit::recent(state, auth, "scim_*", RECENT).await {
        Ok(recent) => recent,
        Err(e) => return error_page(e),
    };
    chrome.form_page(
        error.is_some(),
        &Page {
            chrome,
            base_url: format!("{}/scim/v2", state.config.public_url()),
            tokens,
            now: state.clock.now(),
            created,
            overlap_hours: DEFAULT_OVERLAP_SECONDS / 3600,
            error,
            recent,
        },
    )
}

pub(super) async fn page(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteTokens>,
) -> Response {
    render(&state, &auth, &chrome, None, None).await
}

#[derive(Debug, Deserialize)]
pub(super) struct NewToken {
    #[serde(default)]
    name: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteTokens>,
    Ctx(ctx): Ctx,
    Form(form): Form<NewToken>,
) -> Response {
    let request = CreateApiToken {
        name: form.name.trim().to_string(),
        scopes: vec![Scope::Scim],
        expires_in_seconds: None,
    };
    match api_tokens::create(&state, &auth, &ctx, request).await {
        Ok(made) => {
            let created = Some((made.record.name.clone(), made.token));
            render(&state, &auth, &chrome, created, None).await
        }
        Err(Error::Invalid { detail, .. }) => {
            render(&state, &auth, &chrome, None, Some(detail)).await
        }
        Err(e) => error_page(e),
    }
}

pub(super) async fn rotate(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteTokens>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = path_param::<TokenId>(&id) else {
        return error_page(Error::NotFound("token"));
    };
    match api_tokens::rotate(&state, &auth, &ctx, id, RotateApiToken::default()).await {
        Ok(made) => {
            let created = Some((made.record.name.clone(), made.token));
            render(&state, &auth, &chrome, created, None).await
        }
        Err(e) => error_page(e),
    }
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteTokens>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = path_param::<TokenId>(&id) else {
        return error_page(Error::NotFound("token"));
    };
    match api_tokens::revoke(&state, &auth, &ctx, id).await {
        Ok(_) => Redirect::to("/console/scim").into_response(),
        Err(e) => error_page(e),
    }
}
