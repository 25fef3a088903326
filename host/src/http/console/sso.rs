//! The console's SSO pages: the connections list, the preset chooser, the per-preset setup
//! wizard (the values to enter at the IdP with copy buttons, the IdP's own steps, its
//! metadata by URL or pasted, or entered by hand for OIDC), a connection's page (what the IdP
//! was given and what Gatehouse trusts: entity id, sign-in URL, certificate subjects and
//! expiry, health) with its test sign-in and enable/disable. Each action calls the service
//! the REST route calls (`sso::connections`, `sso::start::test`) with the proof from
//! [`Admin`].

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::guard::{also, error_page, Admin, Chrome};
use super::presets::{self, Preset, Protocol, PRESETS};
use crate::error::Error;
use crate::http::extract::{path_param, Ctx};
use crate::http::state::AppState;
use crate::rbac::{ReadSso, WriteSso};
use crate::sso::connection_view::ConnectionView;
use crate::sso::connections::{self, CreateConnection, UpdateConnection};
use crate::sso::oidc::settings::OidcInput;
use crate::sso::saml::settings::SamlInput;
use crate::sso::{oidc_redirect_uri, ConnectionStatus, SpEndpoints};
use crate::store;
use crate::types::ConnectionId;

#[derive(Template)]
#[template(path = "console/sso_list.html")]
struct List<'a> {
    chrome: &'a Chrome,
    connections: Vec<ConnectionView>,
    can_write: bool,
}

pub(super) async fn list(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadSso>,
) -> Response {
    match connections::list(&state, &auth).await {
        Ok(connections) => {
            let can_write = also::<WriteSso, _>(&state, &auth).await.is_some();
            chrome.page(
                StatusCode::OK,
                &List {
                    chrome: &chrome,
                    connections,
                    can_write,
                },
            )
        }
        Err(e) => error_page(e),
    }
}

#[derive(Template)]
#[template(path = "console/sso_presets.html")]
struct Presets<'a> {
    chrome: &'a Chrome,
    presets: &'static [Preset],
}

pub(super) async fn presets(Admin { chrome, .. }: Admin<WriteSso>) -> Response {
    chrome.page(
        StatusCode::OK,
        &Presets {
            chrome: &chrome,
            presets: PRESETS,
        },
    )
}

/// What the wizard's form sends.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WizardForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    metadata_url: String,
    #[serde(default)]
    metadata_xml: String,
    #[serde(default)]
    idp_entity_id: String,
    #[serde(default)]
    sso_url: String,
    /// One signing certificate, PEM or bare base64.
    #[serde(default)]
    certificate: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    client_id: String,
    /// Write-only: never rendered back, never in `Debug`.
    #[serde(default)]
    client_secret: Option<SecretString>,
    /// Space-separated; blank: the default (`openid email profile`).
    #[serde(default)]
    scopes: String,
}

#[derive(Template)]
#[template(path = "console/sso_wizard.html")]
struct Wizard<'a> {
    chrome: &'a Chrome,
    preset: &'static Preset,
    saml: bool,
    id: ConnectionId,
    /// (label, element id, value) of each value to enter at the IdP.
    sp_values: Vec<(&'static str, &'static str, String)>,
    metadata_url: Option<String>,
    form: WizardForm,
    /// The field at fault and what is wrong with it.
    error: Option<(String, String)>,
}

impl Wizard<'_> {
    /// The error message when `field` is the one at fault.
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// The wizard's query: the id the connection will have.
#[derive(Debug, Deserialize)]
pub(super) struct WizardQuery {
    id: Option<String>,
}

/// The wizard for a preset. The connection's id is chosen on the first visit and kept in
/// the URL, so a reload (or coming back after setting up the IdP in another tab) shows the
/// same values the IdP was given.
pub(super) async fn wizard(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteSso>,
    Path(slug): Path<String>,
    Query(query): Query<WizardQuery>,
) -> Response {
    let Some(preset) = presets::find(&slug) else {
        return error_page(Error::NotFound("preset"));
    };
    let Some(id) = query.id.and_then(|id| path_param::<ConnectionId>(&id).ok()) else {
        let id = ConnectionId::generate();
        return Redirect::to(&format!("/console/sso/new/{}?id={id}", preset.slug)).into_response();
    };
    wizard_page(
        &state,
        &chrome,
        auth.tenant(),
        preset,
        id,
        WizardForm::default(),
        None,
    )
    .await
}

async fn wizard_page(
    state: &AppState,
    chrome: &Chrome,
    tenant: crate::types::TenantId,
    preset: &'static Preset,
    id: ConnectionId,
    form: WizardForm,
    error: Option<(String, String)>,
) -> Response {
    let record = match store::tenants::get(&state.store, tenant).await {
        Ok(Some(record)) => record,
        Ok(None) => return error_page(Error::NotFound("tenant")),
        Err(e) => return error_page(e.into()),
    };
    let public_url = state.config.public_url();
    let saml = preset.protocol == Protocol::Saml;
    let (sp_values, metadata_url) = if saml {
        let sp = SpEndpoints::new(&public_url, &record.public_token, id);
        (
            vec![
                (
                    "ACS URL (Assertion Consumer Service, HTTP-POST)",
                    "sp-acs",
                    sp.acs_url,
                ),
                ("Entity ID (Audience)", "sp-entity-id", sp.entity_id),
                ("SP metadata URL", "sp-metadata", sp.metadata_url.clone()),
            ],
            Some(sp.metadata_url),
        )
    } else {
        (
            vec![(
                "Redirect URI",
                "sp-redirect-uri",
                oidc_redirect_uri(&public_url, &record.public_token, id),
            )],
            None,
        )
    };
    chrome.form_page(
        error.is_some(),
        &Wizard {
            chrome,
            preset,
            saml,
            id,
            sp_values,
            metadata_url,
            form,
            error,
        },
    )
}

/// Trimmed, or absent when blank.
fn given(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// The base64 body of a PEM certificate (or the base64 as given), whitespace removed.
fn base64_of(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.split_whitespace())
        .collect()
}

pub(super) async fn create(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WriteSso>,
    Ctx(ctx): Ctx,
    Path(slug): Path<String>,
    Form(mut form): Form<WizardForm>,
) -> Response {
    let Some(preset) = presets::find(&slug) else {
        return error_page(Error::NotFound("preset"));
    };
    let Ok(id) = path_param::<ConnectionId>(&form.id) else {
        return error_page(Error::invalid(
            "id",
            "the form is damaged: reload the wizard",
        ));
    };
    let (saml, oidc) = match preset.protocol {
        Protocol::Saml => (
            Some(SamlInput {
                metadata_url: given(&form.metadata_url),
                metadata_xml: given(&form.metadata_xml),
                idp_entity_id: given(&form.idp_entity_id),
                sso_url: given(&form.sso_url),
                certificates: given(&form.certificate).map(|pem| vec![base64_of(&pem)]),
                ..SamlInput::default()
            }),
            None,
        ),
        Protocol::Oidc => (
            None,
            Some(OidcInput {
                issuer: given(&form.issuer),
                client_id: given(&form.client_id),
                client_secret: form
                    .client_secret
                    .take()
                    .filter(|s| !s.expose_secret().trim().is_empty()),
                scopes: given(&form.scopes)
                    .map(|s| s.split_whitespace().map(str::to_string).collect()),
                ..OidcInput::default()
            }),
        ),
    };
    let body = CreateConnection {
        name: form.name.trim().to_string(),
        status: None,
        saml,
        oidc,
        provisioning: None,
        preset: Some(preset.adapter),
        id: Some(id),
    };
    match connections::create(&state, &auth, &ctx, body).await {
        Ok(view) => Redirect::to(&format!("/console/sso/{}", view.id)).into_response(),
        Err(Error::Invalid { field, detail }) => {
            // The secret went into the request above: it is not echoed back into the page.
            // The API names nested fields (`saml.metadata_url`); the form's are flat.
            let field = field
                .and_then(|f| f.rsplit('.').next())
                .unwrap_or("form")
                .to_string();
            wizard_page(
                &state,
                &chrome,
                auth.tenant(),
                preset,
                id,
                form,
                Some((field, detail)),
            )
            .await
        }
        Err(e) => error_page(e),
    }
}

#[derive(Template)]
#[template(path = "console/sso_detail.html")]
struct Detail<'a> {
    chrome: &'a Chrome,
    c: ConnectionView,
    can_write: bool,
    mappings: Option<super::mappings::Mappings>,
}

pub(super) async fn detail(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadSso>,
    Path(id): Path<String>,
) -> Response {
    let id = match path_param::<ConnectionId>(&id) {
        Ok(id) => id,
        Err(_) => return error_page(Error::NotFound("connection")),
    };
    match connections::get(&state, &auth, id).await {
        Ok(c) => {
            let can_write = also::<WriteSso, _>(&state, &auth).await.is_some();
            let adapter = c.adapter.as_ref().map(|a| a.name.as_str());
            let mappings = match super::mappings::view(&state, &auth, adapter).await {
                Ok(m) => m,
                Err(e) => return error_page(e),
            };
            chrome.page(
                StatusCode::OK,
                &Detail {
                    chrome: &chrome,
                    c,
                    can_write,
                    mappings,
                },
            )
        }
        Err(e) => error_page(e),
    }
}

/// Starts a test sign-in: the browser goes to the IdP, and comes back to the report.
pub(super) async fn test(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteSso>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = path_param::<ConnectionId>(&id) else {
        return error_page(Error::NotFound("connection"));
    };
    match crate::sso::start::test(&state, &auth, id).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => error_page(e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct StatusForm {
    status: String,
}

/// Enables or disables a connection (or puts it back in test mode).
pub(super) async fn set_status(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WriteSso>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    let Ok(id) = path_param::<ConnectionId>(&id) else {
        return error_page(Error::NotFound("connection"));
    };
    let Some(status) = ConnectionStatus::parse(&form.status) else {
        return error_page(Error::invalid(
            "status",
            "status is test, enabled or disabled",
        ));
    };
    let change = UpdateConnection {
        name: None,
        status: Some(status),
        saml: None,
        oidc: None,
        provisioning: None,
    };
    match connections::update(&state, &auth, &ctx, id, change).await {
        Ok(view) => Redirect::to(&format!("/console/sso/{}", view.id)).into_response(),
        Err(e) => error_page(e),
    }
}
