//! The console's security-policy page: the policy in force in plain words, the presets (each
//! said in a sentence, applied after a confirmation) and the whole policy as JSON for the
//! parts no preset sets (network allow-lists, blocked words, labels). Each action is the
//! API's own (`policy::apply_preset`, `policy::set`) under the same permission, so the
//! lock-out guard speaks here as it does there: an allow-list that leaves out the admin's own
//! address is saved only with the box that says they mean it.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::Value;

use super::guard::{also, error_page, Admin, Chrome};
use crate::error::Error;
use crate::http::extract::Ctx;
use crate::http::state::AppState;
use crate::policy::{self, presets, Policy};
use crate::rbac::{Authorized, ReadPolicy, WritePolicy};

/// A preset as the page offers it.
struct PresetChoice {
    name: &'static str,
    title: &'static str,
    says: &'static str,
}

const PRESETS: &[PresetChoice] = &[
    PresetChoice {
        name: "enterprise",
        title: "Enterprise",
        says: "MFA for password sign-ins after a week's grace; sessions end after 8 idle hours \
               or 7 days; up to 10 sessions per user, the oldest ending first; Confidential.",
    },
    PresetChoice {
        name: "government-cui",
        title: "Government / CUI (NIST SP 800-171)",
        says: "MFA for everyone with no grace; sessions end after 15 idle minutes or 12 \
               hours; at most 3 sessions per user, a fourth refused; labelled CUI.",
    },
];

#[derive(Template)]
#[template(path = "console/policy.html")]
struct Page<'a> {
    chrome: &'a Chrome,
    summary: Vec<(&'static str, String)>,
    presets: &'static [PresetChoice],
    json: String,
    can_write: bool,
    error: Option<String>,
    lockout: bool,
    applied: Option<String>,
}

/// The policy in plain words, one line per part.
fn summary(policy: &Policy) -> Vec<(&'static str, String)> {
    let v = serde_json::to_value(policy).unwrap_or(Value::Null);
    let word = |v: &Value| v.as_str().unwrap_or_default().replace('_', " ");
    let or = |v: &Value, unset: &str| match v {
        Value::Null => unset.to_string(),
        other => other.to_string(),
    };
    let list = |v: &Value, none: &str| match v.as_array() {
        Some(a) if !a.is_empty() => a.iter().map(word).collect::<Vec<_>>().join(", "),
        _ => none.to_string(),
    };
    vec![
        (
            "SSO only",
            if policy.sso_only { "yes" } else { "no" }.into(),
        ),
        ("MFA required", word(&v["mfa"]["required"])),
        ("MFA grace days", v["mfa"]["grace_days"].to_string()),
        (
            "Idle timeout (minutes)",
            or(&v["sessions"]["idle_minutes"], "deployment default"),
        ),
        (
            "Absolute timeout (minutes)",
            or(&v["sessions"]["absolute_minutes"], "deployment default"),
        ),
        (
            "Sessions per user",
            or(&v["sessions"]["max_per_user"], "no cap"),
        ),
        ("When full", word(&v["sessions"]["when_full"])),
        (
            "Minimum password length",
            or(&v["passwords"]["min_length"], "deployment default"),
        ),
        (
            "Sign-in networks",
            list(&v["networks"]["sign_in"], "anywhere"),
        ),
        (
            "Admin API networks",
            list(&v["networks"]["admin_api"], "anywhere"),
        ),
        ("Classification", word(&v["classification"]["level"])),
    ]
}

struct Shown {
    error: Option<String>,
    lockout: bool,
    applied: Option<String>,
    json: Option<String>,
}

async fn render(
    state: &AppState,
    auth: &Authorized<ReadPolicy>,
    chrome: &Chrome,
    shown: Shown,
) -> Response {
    let current = match policy::get(state, auth).await {
        Ok(p) => p,
        Err(e) => return error_page(e),
    };
    let can_write = also::<WritePolicy, _>(state, auth).await.is_some();
    let json = shown
        .json
        .unwrap_or_else(|| serde_json::to_string_pretty(&current).unwrap_or_default());
    chrome.form_page(
        shown.error.is_some(),
        &Page {
            chrome,
            summary: summary(&current),
            presets: PRESETS,
            json,
            can_write,
            error: shown.error,
            lockout: shown.lockout,
            applied: shown.applied,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct Applied {
    applied: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<ReadPolicy>,
    axum::extract::Query(q): axum::extract::Query<Applied>,
) -> Response {
    let applied = q
        .applied
        .filter(|name| presets::NAMES.contains(&name.as_str()));
    let shown = Shown {
        error: None,
        lockout: false,
        applied,
        json: None,
    };
    render(&state, &auth, &chrome, shown).await
}

pub(super) async fn apply_preset(
    State(state): State<AppState>,
    Admin { auth, .. }: Admin<WritePolicy>,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
) -> Response {
    match policy::apply_preset(&state, &auth, &ctx, &name).await {
        Ok(_) => Redirect::to(&format!("/console/policy?applied={name}")).into_response(),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub(super) struct Edited {
    policy: String,
    confirm_lockout: Option<String>,
}

pub(super) async fn save(
    State(state): State<AppState>,
    Admin { auth, chrome }: Admin<WritePolicy>,
    Ctx(ctx): Ctx,
    Form(form): Form<Edited>,
) -> Response {
    let refused = |error: String, lockout: bool| Shown {
        error: Some(error),
        lockout,
        applied: None,
        json: Some(form.policy.clone()),
    };
    let shown = match serde_json::from_str::<Policy>(&form.policy) {
        Err(e) => refused(format!("This is not a policy: {e}"), false),
        Ok(edited) => {
            let confirm = form.confirm_lockout.is_some();
            match policy::set(&state, &auth, &ctx, edited, confirm).await {
                Ok(_) => return Redirect::to("/console/policy").into_response(),
                Err(Error::Invalid { detail, .. }) => refused(detail, false),
                // The lock-out guard: say it, and offer the box that overrides it.
                Err(Error::Conflict(detail)) => refused(detail, true),
                Err(e) => return error_page(e),
            }
        }
    };
    match also::<ReadPolicy, _>(&state, &auth).await {
        Some(read) => render(&state, &read, &chrome, shown).await,
        None => error_page(Error::Forbidden(shown.error.unwrap_or_default())),
    }
}
