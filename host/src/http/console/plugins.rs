//! The console's plugins: the pipeline (what runs in each stage, with roll-back to the
//! previous version and reset to the built-in), the plugins the tenant can use, an upload of
//! a private component from a file, a dry-run of one plugin on a sample (its output, logs and
//! time, nothing stored), assigning a plugin to its stage, and a stage's configuration (the
//! attribute mapper's `custom_attributes`, say). Each action is the API's own
//! (`plugins::manage::upload`, `plugins::dry_run::dry_run_plugin`,
//! `plugins::activation::{assign, rollback, reset}`) under the same permission; an
//! activation the tenant gates behind a replay is refused here as there, with the reason.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use futures_util::stream;
use serde::Deserialize;
use serde_json::{json, Value};

use super::guard::{also, error_page, Admin, Chrome};
use crate::error::Error;
use crate::http::extract::{path_param, Ctx, CSRF_HEADER};
use crate::http::state::AppState;
use crate::plugins::activation::{self, Rollback};
use crate::plugins::dry_run::{self, DryRunReport, PluginDryRun};
use crate::plugins::manage::{self, UploadParams};
use crate::plugins::pipeline::{self, AssignStage, StageView};
use crate::plugins::registry::PluginView;
use crate::plugins::{Slot, World};
use crate::rbac::{Authorized, ReadPlugins, WritePlugins};
use crate::types::PluginId;

#[derive(Template)]
#[template(path = "console/plugins.html")]
struct Page<'a> {
    chrome: &'a Chrome,
    stages: Vec<StageView>,
    plugins: Vec<PluginView>,
    can_write: bool,
    error: Option<String>,
}

async fn render(
    state: &AppState,
    auth: &Authorized<ReadPlugins>,
    chrome: &Chrome,
    error: Option<String>,
) -> Response {
    let (view, plugins) = match (
        pipeline::get(state, auth).await,
        manage::list(state, auth).await,
    ) {
        (Ok(view), Ok(plugins)) => (view, plugins),
        (Err(e), _) | (_, Err(e)) => return error_page(e),
    };
    chrome.form_page(
        error.is_some(),
        &Page {
            chrome,
            stages: view.stages,
            plugins,
            can_write: also::<WritePlugins, _>(state, auth).await.is_some(),
            error,
        },
    )
}

pub(super) async fn page(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadPlugins>,
) -> Response {
    render(&state, &auth, &chrome, None).await
}

/// After a change: back to the page, or the page with the API's reason when it was refused
/// on the input or the state (a replay gate, a wrong world).
async fn after(
    state: &AppState,
    auth: &Authorized<WritePlugins>,
    chrome: &Chrome,
    done: Result<(), Error>,
) -> Response {
    match done {
        Ok(()) => Redirect::to("/console/plugins").into_response(),
        Err(Error::Invalid { detail, .. }) | Err(Error::Conflict(detail)) => {
            match also::<ReadPlugins, _>(state, auth).await {
                Some(read) => render(state, &read, chrome, Some(detail)).await,
                None => error_page(Error::invalid("plugin", detail)),
            }
        }
        Err(e) => error_page(e),
    }
}

/// The named fields of a `multipart/form-data` body (a file's bytes as its value).
async fn multipart_fields(content_type: &str, body: Bytes) -> Result<Vec<(String, Bytes)>, Error> {
    let bad = |e: multer::Error| Error::invalid("file", format!("the form did not parse: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(bad)?;
    let chunks = stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(chunks, boundary);
    let mut fields = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        fields.push((name, field.bytes().await.map_err(bad)?));
    }
    Ok(fields)
}

/// The upload: a file input and its name, version and description, as `multipart/form-data`.
/// The form's CSRF token travels in the body, so it is read out before the caller is checked
/// (the console's form middleware reads only URL-encoded forms); the body is bounded by the
/// component size limit plus room for the other fields.
pub(super) async fn upload(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let signed_in = crate::http::account::may_be_signed_in(&parts.headers);
    let mut fields = Vec::new();
    if signed_in && content_type.starts_with("multipart/form-data") {
        let limit = state.config.plugins.max_component_bytes + 64 * 1024;
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return error_page(Error::invalid(
                "file",
                "the component is larger than this deployment accepts",
            ));
        };
        fields = match multipart_fields(&content_type, bytes).await {
            Ok(fields) => fields,
            Err(e) => return error_page(e),
        };
        let csrf = fields.iter().find(|(n, _)| n == "csrf");
        if let Some(value) = csrf.and_then(|(_, v)| HeaderValue::from_bytes(v).ok()) {
            parts.headers.insert(CSRF_HEADER, value);
        }
    }
    let Admin { auth, chrome } =
        match Admin::<WritePlugins>::from_request_parts(&mut parts, &state).await {
            Ok(admin) => admin,
            Err(refused) => return refused,
        };
    let ctx = match Ctx::from_request_parts(&mut parts, &state).await {
        Ok(Ctx(ctx)) => ctx,
        Err(e) => return e.into_response(),
    };
    let text = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
            .unwrap_or_default()
    };
    let wasm = fields
        .iter()
        .find(|(n, _)| n == "component")
        .map(|(_, v)| v.to_vec())
        .unwrap_or_default();
    let done = if wasm.is_empty() {
        Err(Error::invalid(
            "component",
            "choose a component file (.wasm)",
        ))
    } else {
        let description = text("description");
        let params = UploadParams {
            name: text("name"),
            version: text("version"),
            description: (!description.is_empty()).then_some(description),
        };
        manage::upload(&state, &auth, &ctx, params, wasm)
            .await
            .map(|_| ())
    };
    after(&state, &auth, &chrome, done).await
}

/// A sample input for `world`'s dry-run, to start from.
fn sample(world: World) -> Value {
    match world {
        World::IdpAdapter => json!({
            "protocol": "saml", "issuer": "https://idp.example.com", "subject": "ada@example.com",
            "attributes": {"email": "ada@example.com", "givenName": "Ada", "sn": "Lovelace",
                           "groups": ["engineering"]}
        }),
        World::AttributeMapper | World::RoleMapper => json!({
            "subject": "ada@example.com", "email": "ada@example.com",
            "attributes": {"givenName": "Ada", "department": "Engineering"}
        }),
        World::ScimAdapter => json!({
            "method": "POST", "path": "/Users",
            "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                     "userName": "ada@example.com"}
        }),
    }
}

#[derive(Template)]
#[template(path = "console/plugin_dry_run.html")]
struct DryRunPage<'a> {
    chrome: &'a Chrome,
    plugin: PluginView,
    input: String,
    config: String,
    report: Option<DryRunReport>,
    report_json: String,
    error: Option<String>,
}

async fn dry_run_page(
    state: &AppState,
    auth: &Authorized<WritePlugins>,
    chrome: &Chrome,
    id: PluginId,
    form: Option<DryRunForm>,
) -> Response {
    let plugin = match manage::get(state, auth, id).await {
        Ok(p) => p,
        Err(e) => return error_page(e),
    };
    let world = World::parse(&plugin.world).unwrap_or(World::AttributeMapper);
    let (input, config) = match &form {
        Some(f) => (f.input.clone(), f.config.clone()),
        None => (
            serde_json::to_string_pretty(&sample(world)).unwrap_or_default(),
            String::new(),
        ),
    };
    let mut error = None;
    let mut report = None;
    if form.is_some() {
        match run(state, auth, id, &input, &config).await {
            Ok(r) => report = Some(r),
            Err(Error::Invalid { detail, .. }) => error = Some(detail),
            Err(e) => return error_page(e),
        }
    }
    let report_json = report
        .as_ref()
        .and_then(|r| serde_json::to_string_pretty(&r.stages).ok())
        .unwrap_or_default();
    chrome.form_page(
        error.is_some(),
        &DryRunPage {
            chrome,
            plugin,
            input,
            config,
            report,
            report_json,
            error,
        },
    )
}

/// A configuration typed as `key=value` lines (blank lines skipped).
fn config_lines(config: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut values = BTreeMap::new();
    for line in config.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            return Err(Error::invalid(
                "config",
                format!("configuration lines are key=value: {line:?}"),
            ));
        };
        values.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(values)
}

/// `config` is `key=value` lines; blank means the stage's stored configuration.
async fn run(
    state: &AppState,
    auth: &Authorized<WritePlugins>,
    id: PluginId,
    input: &str,
    config: &str,
) -> Result<DryRunReport, Error> {
    let input: Value = serde_json::from_str(input)
        .map_err(|e| Error::invalid("input", format!("the sample is not JSON: {e}")))?;
    let values = config_lines(config)?;
    let body = PluginDryRun {
        input,
        config: (!values.is_empty()).then_some(values),
        secrets: Default::default(),
        catalogue: None,
    };
    dry_run::dry_run_plugin(state, auth, id, body).await
}

pub(super) async fn dry_run_form(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WritePlugins>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = path_param::<PluginId>(&id) else {
        return error_page(Error::NotFound("plugin"));
    };
    dry_run_page(&state, &auth, &chrome, id, None).await
}

#[derive(Deserialize)]
pub(super) struct DryRunForm {
    input: String,
    #[serde(default)]
    config: String,
}

pub(super) async fn dry_run(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WritePlugins>,
    Path(id): Path<String>,
    Form(form): Form<DryRunForm>,
) -> Response {
    let Ok(id) = path_param::<PluginId>(&id) else {
        return error_page(Error::NotFound("plugin"));
    };
    dry_run_page(&state, &auth, &chrome, id, Some(form)).await
}

/// Assigns the plugin to the stage of its kind, with no configuration.
pub(super) async fn assign(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = path_param::<PluginId>(&id) else {
        return error_page(Error::NotFound("plugin"));
    };
    let done = async {
        let plugin = manage::get(&state, &auth, id).await?;
        let world = World::parse(&plugin.world)
            .ok_or_else(|| Error::invalid("plugin", "this plugin fits no stage"))?;
        let body = AssignStage {
            plugin_id: id,
            config: Default::default(),
            secrets: Default::default(),
        };
        activation::assign(&state, &auth, &ctx, Slot::Stage(world), body).await
    }
    .await
    .map(|_| ());
    after(&state, &auth, &chrome, done).await
}

#[derive(Deserialize)]
pub(super) struct StageAction {
    stage: String,
    /// `rollback` (to the version before) or `reset` (to the built-in default).
    action: String,
}

/// A stage's roll-back or reset.
pub(super) async fn stage_action(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(p): Path<StageAction>,
) -> Response {
    let Some(world) = World::parse(&p.stage) else {
        return error_page(Error::NotFound("stage"));
    };
    let slot = Slot::Stage(world);
    let done = match p.action.as_str() {
        "rollback" => activation::rollback(&state, &auth, &ctx, slot, Rollback::default()).await,
        "reset" => activation::reset(&state, &auth, &ctx, slot).await,
        _ => return error_page(Error::NotFound("action")),
    };
    after(&state, &auth, &chrome, done.map(|_| ())).await
}

#[derive(Deserialize)]
pub(super) struct StageConfig {
    #[serde(default)]
    config: String,
}

/// A stage's configuration (`key=value` lines), saved by assigning the plugin that runs
/// there again with it. A stage with secrets is configured through the API, which takes
/// them again (the page cannot show them to keep).
pub(super) async fn configure(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WritePlugins>,
    Ctx(ctx): Ctx,
    Path(raw): Path<String>,
    Form(form): Form<StageConfig>,
) -> Response {
    let Some(world) = World::parse(&raw) else {
        return error_page(Error::NotFound("stage"));
    };
    let done = async {
        let config = config_lines(&form.config)?;
        let current = pipeline::slot_view(&state, auth.tenant(), Slot::Stage(world)).await?;
        if !current.secret_keys.is_empty() {
            return Err(Error::Conflict(
                "this stage holds secrets: change its configuration through the API \
                 (PUT /api/v1/pipeline/{stage} with the secrets again)"
                    .into(),
            ));
        }
        let Some(plugin) = current.plugin else {
            return Err(Error::Conflict(
                "nothing runs in this stage: assign a plugin first".into(),
            ));
        };
        let body = AssignStage {
            plugin_id: plugin.id,
            config,
            secrets: Default::default(),
        };
        activation::assign(&state, &auth, &ctx, Slot::Stage(world), body).await
    }
    .await
    .map(|_| ());
    after(&state, &auth, &chrome, done).await
}
