//! The one decision function: may the holder of [`Permissions`] perform `module.action` on a
//! record with these attributes? It answers with the rule that allowed it (or none), which
//! explains itself ("allowed by role site_tech (manual): work_orders.edit within location
//! Plant 3"). For list views, [`filter`] gives the same answer for every record at once, as a
//! condition the app turns into a `WHERE` clause. The admin API, the decision API and the
//! permission snapshot all ask here.

use serde_json::{json, Value};

use super::compile::{Cond, Permissions, Rule};

/// The attributes of the record a decision is about: its owner and the scopes it is
/// attached to, as `(kind, name)` pairs (a record in two teams has two `team` pairs). An empty
/// record is the tenant itself: only a tenant-wide rule allows an action on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Record<'a> {
    pub owner: Option<&'a str>,
    pub scopes: &'a [(&'a str, &'a str)],
}

/// The answer, with what it rests on.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'p> {
    /// The first rule that allowed it; `None`: denied.
    pub allowed_by: Option<&'p Rule>,
    /// Every rule for the action, when denied: what the record would have had to satisfy.
    pub candidates: &'p [Rule],
}

impl Decision<'_> {
    pub fn allowed(&self) -> bool {
        self.allowed_by.is_some()
    }

    /// A sentence for people: which role allowed it, or why nothing did.
    pub fn explain(&self, module: &str, action: &str) -> String {
        if let Some(rule) = self.allowed_by {
            return format!(
                "allowed by {}: {module}.{action} {}",
                via(rule),
                cond_text(&rule.cond)
            );
        }
        if self.candidates.is_empty() {
            return format!("denied: nothing grants {module}.{action}");
        }
        let offers: Vec<String> = self
            .candidates
            .iter()
            .map(|r| format!("{} ({})", cond_text(&r.cond), via(r)))
            .collect();
        format!(
            "denied: {module}.{action} is granted only {}, and the record matches none of them",
            offers.join("; ")
        )
    }
}

fn via(rule: &Rule) -> String {
    match rule.via.source.as_str() {
        "owner" => "the tenant owner's role".into(),
        "token" => format!("the token's `{}` scope", rule.via.role),
        source => format!("role {} ({source})", rule.via.role),
    }
}

fn cond_text(cond: &Cond) -> String {
    match cond {
        Cond::Any => "on every record".into(),
        Cond::Owner => "on the user's own records".into(),
        Cond::Within { kind, scopes, .. } if scopes.is_empty() => {
            format!("within the user's {kind} scopes, of which there are none")
        }
        Cond::Within { kind, scopes, .. } => format!("within {kind} {}", scopes.join(", ")),
        Cond::Both(a, b) => format!("{} and {}", cond_text(a), cond_text(b)),
    }
}

fn holds(cond: &Cond, subject: Option<&str>, record: &Record<'_>) -> bool {
    match cond {
        Cond::Any => true,
        Cond::Owner => subject.is_some() && record.owner.is_some() && record.owner == subject,
        Cond::Within { kind, names, .. } => record
            .scopes
            .iter()
            .any(|(k, name)| k == kind && names.contains(*name)),
        Cond::Both(a, b) => holds(a, subject, record) && holds(b, subject, record),
    }
}

const NO_RULES: &[Rule] = &[];

/// The rules for `module.action` (none for an unknown module or action).
fn rules_for<'p>(perms: &'p Permissions, module: &str, action: &str) -> &'p [Rule] {
    perms
        .rules
        .get(module)
        .and_then(|actions| actions.get(action))
        .map(Vec::as_slice)
        .unwrap_or(NO_RULES)
}

/// May `perms`' holder perform `module.action` on `record`?
pub fn decide<'p>(
    perms: &'p Permissions,
    module: &str,
    action: &str,
    record: &Record<'_>,
) -> Decision<'p> {
    let rules = rules_for(perms, module, action);
    let subject = perms.subject.as_deref();
    Decision {
        allowed_by: rules.iter().find(|r| holds(&r.cond, subject, record)),
        candidates: rules,
    }
}

/// Every record the holder may perform `module.action` on, as a condition: `true` (all),
/// `false` (none), or `{"any_of": [...]}` of `{"owner": id}`, `{"<kind>_in": [names]}` (a
/// scope's descendants included) and `{"all_of": [...]}`.
pub fn filter(perms: &Permissions, module: &str, action: &str) -> Value {
    let rules = rules_for(perms, module, action);
    if rules.iter().any(|r| r.cond == Cond::Any) {
        return Value::Bool(true);
    }
    let subject = perms.subject.as_deref();
    let mut any: Vec<Value> = Vec::new();
    for rule in rules {
        if let Some(cond) = cond_json(&rule.cond, subject) {
            if !any.contains(&cond) {
                any.push(cond);
            }
        }
    }
    if any.is_empty() {
        return Value::Bool(false);
    }
    json!({ "any_of": any })
}

/// The records one rule allows, as a filter (`true`, `false` or a condition).
pub fn rule_filter(rule: &Rule, subject: Option<&str>) -> Value {
    cond_json(&rule.cond, subject).unwrap_or(Value::Bool(false))
}

/// A condition as filter JSON; `None` when no record can satisfy it.
fn cond_json(cond: &Cond, subject: Option<&str>) -> Option<Value> {
    match cond {
        Cond::Any => Some(Value::Bool(true)),
        Cond::Owner => subject.map(|s| json!({ "owner": s })),
        Cond::Within { names, .. } if names.is_empty() => None,
        Cond::Within { kind, names, .. } => {
            let mut map = serde_json::Map::new();
            map.insert(
                format!("{kind}_in"),
                json!(names.iter().collect::<Vec<_>>()),
            );
            Some(Value::Object(map))
        }
        Cond::Both(a, b) => Some(json!({
            "all_of": [cond_json(a, subject)?, cond_json(b, subject)?]
        })),
    }
}
