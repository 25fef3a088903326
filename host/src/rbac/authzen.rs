//! The decision API in the shape of OpenID AuthZEN Authorization API 1.0: a subject (`user`,
//! its Gatehouse id: the `sub` of its tokens), an action (`view`, `edit`…), a resource whose
//! `type` is a module and whose `properties` are the record's attributes (`owner`, and a
//! scope name, or a list of them, per kind: `{"location": "Line A", "team": ["Blue"]}`).
//! Each answer carries `context.reason_admin.en`, the decision's explanation.
//!
//! Single and batch evaluation (`execute_all`, `deny_on_first_deny`, `permit_on_first_permit`;
//! top-level members are defaults an item replaces whole), action search (which actions on
//! this record), resource search (Gatehouse cannot list the app's records: it answers with no
//! results and, in `context.filter`, the condition every allowed record meets, the same as the
//! `filter` extension). Subjects are compiled once per request, so a batch about one user costs
//! one compile and then a table lookup per item.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::answers::{ActionFound, Decision, SubjectFound};
use super::compile::Permissions;
use super::decide::{decide, filter, Record};
use crate::error::Error;
use crate::services::Services;
use crate::store::tenants::Feature;
use crate::types::{TenantId, UserId};

/// Most evaluations in one batch: bounds a request's work.
pub const MAX_EVALUATIONS: usize = 10_000;
/// Most distinct subjects one request may ask about: each costs a compile (a few store
/// reads), so a batch of 10,000 different users would be 10,000 compiles.
pub const MAX_SUBJECTS: usize = 100;
/// Most scope values one record may carry.
pub const MAX_RECORD_SCOPES: usize = 256;

/// A subject, resource or action as sent; members are checked when used, so one bad item in a
/// batch fails alone.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = AccessEntity)]
pub struct Entity {
    /// A subject's `user`; a resource's module.
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<Value>,
    /// A subject's user id.
    #[schema(value_type = Option<String>)]
    pub id: Option<Value>,
    /// An action's name (`view`, `edit`…).
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    /// A subject's `tenant` (required when the app asks); a resource's `owner` and scopes (a
    /// name, or a list of names, per kind).
    pub properties: Option<Map<String, Value>>,
}

/// One evaluation request, or the defaults of a batch.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = AccessEvaluation)]
pub struct Evaluation {
    pub subject: Option<Entity>,
    pub action: Option<Entity>,
    pub resource: Option<Entity>,
    /// The request's context, as AuthZEN defines it (decisions do not use it).
    pub context: Option<Value>,
}

impl Evaluation {
    /// This item with the batch's defaults filled in (a member the item has replaces the
    /// default whole).
    pub fn with_defaults(&self, defaults: &Evaluation) -> Evaluation {
        Evaluation {
            subject: self.subject.clone().or_else(|| defaults.subject.clone()),
            action: self.action.clone().or_else(|| defaults.action.clone()),
            resource: self.resource.clone().or_else(|| defaults.resource.clone()),
            context: self.context.clone().or_else(|| defaults.context.clone()),
        }
    }
}

/// Who is asking: a tenant's token or user (questions about that tenant only), or the app
/// with its client credentials (any tenant, named by the subject's `tenant` property: the
/// `tenant` claim of the user's tokens).
#[derive(Debug, Clone, Copy)]
pub enum Pep {
    Tenant(TenantId),
    App,
}

/// Subjects compiled so far in this request.
#[derive(Default)]
pub struct Subjects {
    compiled: HashMap<(TenantId, UserId), Option<Arc<Permissions>>>,
}

fn text<'a>(v: &'a Option<Value>, what: &str) -> Result<&'a str, String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(format!("{what} must be a non-empty string")),
        None => Err(format!("{what} is missing")),
    }
}

/// The tenant a subject belongs to: the caller's own (a tenant's token or user), or the one
/// its `tenant` property names (the app); `Ok(None)` for a subject of another tenant or an
/// unknown one.
fn subject_tenant(pep: Pep, subject: &Entity) -> Result<Option<TenantId>, String> {
    let named = subject
        .properties
        .as_ref()
        .and_then(|p| p.get("tenant"))
        .and_then(Value::as_str);
    Ok(match (pep, named) {
        (Pep::Tenant(own), None) => Some(own),
        (Pep::Tenant(own), Some(t)) if t == own.to_string() => Some(own),
        (Pep::Tenant(_), Some(_)) => None,
        (Pep::App, None) => {
            return Err("subject.properties.tenant is required (the user's `tenant` claim)".into())
        }
        (Pep::App, Some(t)) => t.parse::<TenantId>().ok(),
    })
}

/// The request's `action.name`.
fn action_name(req: &Evaluation) -> Result<&str, String> {
    match req.action.as_ref() {
        None => Err("action is missing".into()),
        Some(a) => text(&a.name, "action.name"),
    }
}

impl Subjects {
    /// The permissions of the request's subject; an error message for a malformed or
    /// foreign subject; `Ok(None)` for a subject the tenant does not have.
    async fn of(
        &mut self,
        state: &Services,
        pep: Pep,
        subject: Option<&Entity>,
    ) -> Result<Result<Option<Arc<Permissions>>, String>, Error> {
        let Some(subject) = subject else {
            return Ok(Err("subject is missing".into()));
        };
        match text(&subject.kind, "subject.type") {
            Ok("user") => {}
            Ok(other) => {
                return Ok(Err(format!(
                    "subject.type `{}` is not known; use `user`",
                    crate::types::truncate(other, 40)
                )))
            }
            Err(e) => return Ok(Err(e)),
        }
        let id = match text(&subject.id, "subject.id") {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        let tenant = match subject_tenant(pep, subject) {
            Err(e) => return Ok(Err(e)),
            Ok(None) => return Ok(Ok(None)),
            Ok(Some(t)) => t,
        };
        let Ok(user) = id.parse::<UserId>() else {
            return Ok(Ok(None));
        };
        if let Some(found) = self.compiled.get(&(tenant, user)) {
            return Ok(Ok(found.clone()));
        }
        if self.compiled.len() >= MAX_SUBJECTS {
            return Ok(Err(format!(
                "a request may ask about at most {MAX_SUBJECTS} different subjects"
            )));
        }
        let Some(record) = crate::store::tenants::get(&state.store, tenant).await? else {
            return Ok(Ok(None));
        };
        // An app asks about any tenant's user: one without the feature is refused as such.
        if let Err(e) = crate::tenancy::features::check(&record, Feature::Roles) {
            return Ok(Err(e.to_string()));
        }
        let live = record.status == crate::store::tenants::TenantStatus::Active;
        let perms = if live {
            super::effective::load(state, tenant, user)
                .await?
                .filter(|e| e.user.status != crate::store::users::UserStatus::Deactivated)
                .map(|e| Arc::new(e.permissions))
        } else {
            None
        };
        self.compiled.insert((tenant, user), perms.clone());
        Ok(Ok(perms))
    }
}

/// The record a question is about: its module (the resource's `type`), `owner`, and
/// `(kind, name)` pairs from string or string-list properties (other values are ignored:
/// they are the app's own).
struct Target {
    module: String,
    owner: Option<String>,
    scopes: Vec<(String, String)>,
}

impl Target {
    fn of(resource: Option<&Entity>) -> Result<Target, String> {
        let resource = resource.ok_or("resource is missing")?;
        let module = text(&resource.kind, "resource.type")?.to_string();
        let mut owner = None;
        let mut scopes = Vec::new();
        for (key, value) in resource.properties.iter().flatten() {
            match (key.as_str(), value) {
                ("owner", Value::String(s)) => owner = Some(s.clone()),
                (_, Value::String(s)) => scopes.push((key.clone(), s.clone())),
                (_, Value::Array(items)) => scopes.extend(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|s| (key.clone(), s.to_string())),
                ),
                _ => {}
            }
            if scopes.len() > MAX_RECORD_SCOPES {
                return Err(format!(
                    "resource.properties carries more than {MAX_RECORD_SCOPES} scope values"
                ));
            }
        }
        Ok(Target {
            module,
            owner,
            scopes,
        })
    }

    fn allows(&self, perms: &Permissions, action: &str) -> (bool, String) {
        let pairs: Vec<(&str, &str)> = self
            .scopes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let record = Record {
            owner: self.owner.as_deref(),
            scopes: &pairs,
        };
        let decision = decide(perms, &self.module, action, &record);
        (decision.allowed(), decision.explain(&self.module, action))
    }
}

/// Answers one evaluation. A malformed item is a denial with `context.error` (the whole
/// request fails with 400 only at the HTTP edge, for a single evaluation).
pub async fn evaluate(
    state: &Services,
    pep: Pep,
    subjects: &mut Subjects,
    req: &Evaluation,
) -> Result<Result<Decision, String>, Error> {
    let perms = match subjects.of(state, pep, req.subject.as_ref()).await? {
        Err(e) => return Ok(Err(e)),
        Ok(None) => {
            return Ok(Ok(Decision::explained(
                false,
                "denied: the subject is not a user of the tenant, or is deactivated".into(),
            )))
        }
        Ok(Some(p)) => p,
    };
    let action = match action_name(req) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let target = match Target::of(req.resource.as_ref()) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let (allowed, reason) = target.allows(&perms, action);
    Ok(Ok(Decision::explained(allowed, reason)))
}

/// How a batch stops early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

impl Semantic {
    pub fn parse(options: Option<&Value>) -> Result<Semantic, String> {
        match options.and_then(|o| o.get("evaluations_semantic")) {
            None => Ok(Semantic::ExecuteAll),
            Some(Value::String(s)) => match s.as_str() {
                "execute_all" => Ok(Semantic::ExecuteAll),
                "deny_on_first_deny" => Ok(Semantic::DenyOnFirstDeny),
                "permit_on_first_permit" => Ok(Semantic::PermitOnFirstPermit),
                _ => Err("options.evaluations_semantic must be execute_all, \
                          deny_on_first_deny or permit_on_first_permit"
                    .into()),
            },
            Some(_) => Err("options.evaluations_semantic must be a string".into()),
        }
    }
}

/// Answers a batch, in order, stopping where `semantic` says (the stopping item included).
pub async fn evaluate_all(
    state: &Services,
    pep: Pep,
    defaults: &Evaluation,
    items: &[Evaluation],
    semantic: Semantic,
) -> Result<Vec<Decision>, Error> {
    let mut subjects = Subjects::default();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let answer =
            match evaluate(state, pep, &mut subjects, &item.with_defaults(defaults)).await? {
                Ok(answer) => answer,
                Err(message) => Decision::malformed(message),
            };
        let allowed = answer.decision;
        out.push(answer);
        match semantic {
            Semantic::DenyOnFirstDeny if !allowed => break,
            Semantic::PermitOnFirstPermit if allowed => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The actions the subject may perform on the resource.
pub async fn search_actions(
    state: &Services,
    pep: Pep,
    req: &Evaluation,
) -> Result<Result<Vec<ActionFound>, String>, Error> {
    let mut subjects = Subjects::default();
    let perms = match subjects.of(state, pep, req.subject.as_ref()).await? {
        Err(e) => return Ok(Err(e)),
        Ok(None) => return Ok(Ok(Vec::new())),
        Ok(Some(p)) => p,
    };
    let target = match Target::of(req.resource.as_ref()) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let mut actions: Vec<&String> = perms
        .rules
        .get(&target.module)
        .map(|a| a.keys().collect())
        .unwrap_or_default();
    actions.sort();
    Ok(Ok(actions
        .into_iter()
        .filter(|a| target.allows(&perms, a).0)
        .map(|a| ActionFound { name: a.clone() })
        .collect()))
}

/// Most users one page of a subject search reads.
pub const MAX_SUBJECT_PAGE: usize = 100;

/// A page of a subject search: the users (of the scanned page) allowed, and where the next
/// page starts (`""`: no more).
pub struct SubjectPage {
    pub results: Vec<SubjectFound>,
    pub next_token: String,
}

/// The tenant's users who may perform the action on the resource, a page of users at a
/// time in id order (`token`: the previous page's `next_token`; `limit`: users read).
pub async fn search_subjects(
    state: &Services,
    pep: Pep,
    req: &Evaluation,
    token: Option<&str>,
    limit: Option<usize>,
) -> Result<Result<SubjectPage, String>, Error> {
    let Some(subject) = req.subject.as_ref() else {
        return Ok(Err("subject is missing".into()));
    };
    let nobody = || SubjectPage {
        results: Vec::new(),
        next_token: String::new(),
    };
    match text(&subject.kind, "subject.type") {
        Ok("user") => {}
        Ok(_) => return Ok(Ok(nobody())),
        Err(e) => return Ok(Err(e)),
    }
    let tenant = match subject_tenant(pep, subject) {
        Err(e) => return Ok(Err(e)),
        Ok(None) => return Ok(Ok(nobody())),
        Ok(Some(t)) => t,
    };
    let action = match action_name(req) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let target = match Target::of(req.resource.as_ref()) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let after = match token.filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match t.parse::<UserId>() {
            Ok(u) => Some(u),
            Err(_) => return Ok(Err("page.token is not one this server gave".into())),
        },
    };
    let limit = limit.unwrap_or(MAX_SUBJECT_PAGE).clamp(1, MAX_SUBJECT_PAGE);
    let query = crate::store::user_search::UserQuery {
        after,
        limit,
        ..Default::default()
    };
    let users = crate::store::user_search::search(&state.store, tenant, &query).await?;
    let next_token = match users.len() == limit {
        true => users.last().map(|u| u.id.to_string()).unwrap_or_default(),
        false => String::new(),
    };
    let mut results = Vec::new();
    let mut subjects = Subjects::default();
    for user in users {
        let who = Entity {
            kind: Some(json!("user")),
            id: Some(json!(user.id)),
            name: None,
            properties: Some(
                [("tenant".to_string(), json!(tenant))]
                    .into_iter()
                    .collect(),
            ),
        };
        if let Ok(Some(perms)) = subjects.of(state, Pep::Tenant(tenant), Some(&who)).await? {
            if target.allows(&perms, action).0 {
                results.push(SubjectFound {
                    kind: "user",
                    id: user.id,
                });
            }
        }
    }
    Ok(Ok(SubjectPage {
        results,
        next_token,
    }))
}

/// The condition every record the subject may perform the action on meets (`false` for an
/// unknown subject).
pub async fn filter_for(
    state: &Services,
    pep: Pep,
    req: &Evaluation,
) -> Result<Result<Value, String>, Error> {
    let mut subjects = Subjects::default();
    let perms = match subjects.of(state, pep, req.subject.as_ref()).await? {
        Err(e) => return Ok(Err(e)),
        Ok(None) => return Ok(Ok(Value::Bool(false))),
        Ok(Some(p)) => p,
    };
    let action = match action_name(req) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let module = match req
        .resource
        .as_ref()
        .map(|r| text(&r.kind, "resource.type"))
    {
        None => return Ok(Err("resource is missing".into())),
        Some(Err(e)) => return Ok(Err(e)),
        Some(Ok(m)) => m,
    };
    Ok(Ok(filter(&perms, module, action)))
}
