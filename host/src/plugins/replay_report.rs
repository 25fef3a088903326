//! What a replay found: for each recorded sign-in, the roles (with their record scopes),
//! groups and profile fields the candidate would change, and whether it now fails or passes;
//! for each recorded SCIM request, whether the candidate rewrites it differently or fails; the
//! counts and a summary an admin reads first ("would remove role admin from 37 users").
//! Only the inputs with a difference are listed. Pure comparison: running the plugins is
//! `replay`'s.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::limits::PluginError;
use super::slot::ActivatedPlugin;
use super::world::World;
use crate::identity::{Mapped, Profile, RoleGrant};
use crate::types::{ConnectionId, ReplayId, Timestamp};

/// Most differing inputs a report lists (the counts cover them all).
pub const MAX_LISTED: usize = 1000;

/// How an input fared under the candidate, against the active version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Unchanged,
    /// Both succeed, with a different result.
    Changed,
    /// Succeeds now, fails under the candidate.
    NowFails,
    /// Fails now, succeeds under the candidate.
    NowPasses,
    /// Fails under both.
    StillFails,
}

/// Where and why a run failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunFailure {
    pub stage: World,
    pub code: String,
    pub message: String,
}

impl RunFailure {
    pub(super) fn new(stage: World, error: &PluginError) -> Self {
        Self {
            stage,
            code: error.code().to_string(),
            message: error.to_string(),
        }
    }
}

/// A field's value before and after.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    #[schema(value_type = Object)]
    pub before: Value,
    #[schema(value_type = Object)]
    pub after: Value,
}

/// A recorded sign-in the candidate treats differently.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignInDiff {
    pub connection_id: ConnectionId,
    /// The subject the IdP sent.
    pub subject: String,
    pub recorded_at: Timestamp,
    pub verdict: Verdict,
    /// Roles as `role` or `role@kind:name` (with a record scope).
    pub roles_added: Vec<String>,
    pub roles_removed: Vec<String>,
    pub groups_added: Vec<String>,
    pub groups_removed: Vec<String>,
    /// Profile fields (`email`, `display_name`, … `custom`) whose value changes.
    pub profile: BTreeMap<String, FieldChange>,
    pub failure_before: Option<RunFailure>,
    pub failure_after: Option<RunFailure>,
}

/// A recorded SCIM request the candidate adapter treats differently.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScimDiff {
    pub recorded_at: Timestamp,
    pub method: String,
    /// The path as the client sent it.
    pub path: String,
    pub verdict: Verdict,
    /// The request as the server would read it now and under the candidate.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub failure_before: Option<RunFailure>,
    pub failure_after: Option<RunFailure>,
}

/// Inputs by verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counts {
    pub sign_ins: u32,
    pub scim_requests: u32,
    pub unchanged: u32,
    pub changed: u32,
    pub now_fails: u32,
    pub now_passes: u32,
    pub still_fails: u32,
}

/// How many users would gain and lose one role.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleCount {
    pub added: u32,
    pub removed: u32,
}

/// One slot of the candidate.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateView {
    /// A stage name, or `connection:<id>` for a connection's own adapter.
    pub slot: String,
    pub plugin: ActivatedPlugin,
    pub config: BTreeMap<String, String>,
    /// Names of the candidate's secrets; values are never shown.
    pub secret_keys: Vec<String>,
    /// The slot's history entry the comparison ran against (0: never assigned).
    pub base_seq: i64,
}

/// A replay report, as stored and shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayReport {
    pub id: ReplayId,
    pub created_at: Timestamp,
    /// Set once the candidate was activated from this replay.
    pub activated_at: Option<Timestamp>,
    pub candidate: Vec<CandidateView>,
    /// Sentences an admin reads first.
    pub summary: Vec<String>,
    pub counts: Counts,
    /// Per role (`role` or `role@kind:name`): users who would gain it and lose it.
    pub roles: BTreeMap<String, RoleCount>,
    /// The differing sign-ins (at most [`MAX_LISTED`]).
    pub sign_ins: Vec<SignInDiff>,
    /// The differing SCIM requests (at most [`MAX_LISTED`]).
    pub scim: Vec<ScimDiff>,
    /// True when more inputs differ than are listed.
    pub truncated: bool,
    /// Wall time of the replay, in milliseconds.
    pub duration_ms: u64,
}

impl ReplayReport {
    /// What an activation keeps of it (the full report stays readable by its id).
    pub(super) fn digest(&self) -> Value {
        json!({ "replay_id": self.id, "summary": self.summary, "counts": self.counts })
    }
}

fn grant_text(g: &RoleGrant) -> String {
    match &g.scope {
        Some(s) => format!("{}@{}:{}", g.role, s.kind, s.name),
        None => g.role.clone(),
    }
}

fn profile_fields(p: &Profile) -> BTreeMap<&'static str, Value> {
    let custom: BTreeMap<&str, &Vec<String>> = p
        .custom
        .iter()
        .map(|a| (a.name.as_str(), &a.values))
        .collect();
    BTreeMap::from([
        ("email", json!(p.email)),
        ("display_name", json!(p.display_name)),
        ("given_name", json!(p.given_name)),
        ("family_name", json!(p.family_name)),
        ("timezone", json!(p.timezone)),
        ("locale", json!(p.locale)),
        ("custom", json!(custom)),
    ])
}

fn set_diff(before: &BTreeSet<String>, after: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (
        after.difference(before).cloned().collect(),
        before.difference(after).cloned().collect(),
    )
}

/// A sign-in's outcome under one version.
pub(super) type Run = Result<Mapped, RunFailure>;

/// Collects the comparison of every input.
#[derive(Default)]
pub(super) struct Collector {
    pub(super) counts: Counts,
    pub(super) roles: BTreeMap<String, RoleCount>,
    pub(super) sign_ins: Vec<SignInDiff>,
    pub(super) scim: Vec<ScimDiff>,
    pub(super) profile_changes: u32,
    sign_ins_failing: u32,
    scim_changed: u32,
    scim_failing: u32,
    pub(super) truncated: bool,
}

impl Collector {
    fn tally(&mut self, verdict: Verdict) -> bool {
        let c = &mut self.counts;
        match verdict {
            Verdict::Unchanged => c.unchanged += 1,
            Verdict::Changed => c.changed += 1,
            Verdict::NowFails => c.now_fails += 1,
            Verdict::NowPasses => c.now_passes += 1,
            Verdict::StillFails => c.still_fails += 1,
        }
        if verdict == Verdict::Unchanged {
            return false;
        }
        if self.sign_ins.len() + self.scim.len() >= MAX_LISTED {
            self.truncated = true;
            return false;
        }
        true
    }

    /// Compares one recorded sign-in's runs.
    pub(super) fn sign_in(
        &mut self,
        connection_id: ConnectionId,
        subject: String,
        recorded_at: Timestamp,
        before: Run,
        after: Run,
    ) {
        self.counts.sign_ins += 1;
        let roles = |r: &Run| -> BTreeSet<String> {
            r.as_ref()
                .map(|m| m.roles.iter().map(grant_text).collect())
                .unwrap_or_default()
        };
        let groups = |r: &Run| -> BTreeSet<String> {
            r.as_ref()
                .map(|m| m.identity.groups.iter().cloned().collect())
                .unwrap_or_default()
        };
        let (roles_added, roles_removed) = set_diff(&roles(&before), &roles(&after));
        let (groups_added, groups_removed) = set_diff(&groups(&before), &groups(&after));
        let mut profile = BTreeMap::new();
        if let (Ok(b), Ok(a)) = (&before, &after) {
            let (pb, pa) = (profile_fields(&b.profile), profile_fields(&a.profile));
            for (field, value) in pb {
                if pa[field] != value {
                    let change = FieldChange {
                        before: value,
                        after: pa[field].clone(),
                    };
                    profile.insert(field.to_string(), change);
                }
            }
        }
        let verdict = match (&before, &after) {
            (Ok(_), Ok(_)) => {
                let same = roles_added.is_empty()
                    && roles_removed.is_empty()
                    && groups_added.is_empty()
                    && groups_removed.is_empty()
                    && profile.is_empty();
                if same {
                    Verdict::Unchanged
                } else {
                    Verdict::Changed
                }
            }
            (Ok(_), Err(_)) => Verdict::NowFails,
            (Err(_), Ok(_)) => Verdict::NowPasses,
            (Err(b), Err(a)) if b == a => Verdict::Unchanged,
            (Err(_), Err(_)) => Verdict::StillFails,
        };
        // Roles a user loses because the sign-in would now fail count as removed too: the
        // user keeps none of them on their next sign-in.
        for r in &roles_added {
            self.roles.entry(r.clone()).or_default().added += 1;
        }
        for r in &roles_removed {
            self.roles.entry(r.clone()).or_default().removed += 1;
        }
        if !profile.is_empty() {
            self.profile_changes += 1;
        }
        if verdict == Verdict::NowFails {
            self.sign_ins_failing += 1;
        }
        if !self.tally(verdict) {
            return;
        }
        self.sign_ins.push(SignInDiff {
            connection_id,
            subject,
            recorded_at,
            verdict,
            roles_added,
            roles_removed,
            groups_added,
            groups_removed,
            profile,
            failure_before: before.err(),
            failure_after: after.err(),
        });
    }

    /// Compares one recorded SCIM request's rewrites.
    pub(super) fn scim(
        &mut self,
        recorded_at: Timestamp,
        (method, path): (String, String),
        before: Result<Value, RunFailure>,
        after: Result<Value, RunFailure>,
    ) {
        self.counts.scim_requests += 1;
        let verdict = match (&before, &after) {
            (Ok(b), Ok(a)) if b == a => Verdict::Unchanged,
            (Ok(_), Ok(_)) => Verdict::Changed,
            (Ok(_), Err(_)) => Verdict::NowFails,
            (Err(_), Ok(_)) => Verdict::NowPasses,
            (Err(b), Err(a)) if b == a => Verdict::Unchanged,
            (Err(_), Err(_)) => Verdict::StillFails,
        };
        match verdict {
            Verdict::Changed => self.scim_changed += 1,
            Verdict::NowFails => self.scim_failing += 1,
            _ => {}
        }
        if !self.tally(verdict) {
            return;
        }
        let (before, failure_before) = split(before);
        let (after, failure_after) = split(after);
        self.scim.push(ScimDiff {
            recorded_at,
            method,
            path,
            verdict,
            before,
            after,
            failure_before,
            failure_after,
        });
    }

    /// The sentences an admin reads first.
    pub(super) fn summary(&self) -> Vec<String> {
        let users = |n: u32| {
            if n == 1 {
                "1 user".into()
            } else {
                format!("{n} users")
            }
        };
        let mut out = Vec::new();
        for (role, c) in &self.roles {
            if c.removed > 0 {
                out.push(format!(
                    "would remove role {role} from {}",
                    users(c.removed)
                ));
            }
        }
        for (role, c) in &self.roles {
            if c.added > 0 {
                out.push(format!("would give role {role} to {}", users(c.added)));
            }
        }
        if self.profile_changes > 0 {
            out.push(format!(
                "would change profile fields of {}",
                users(self.profile_changes)
            ));
        }
        let c = &self.counts;
        let (fs, fc, scim_changed) = (self.sign_ins_failing, self.scim_failing, self.scim_changed);
        if fs > 0 {
            out.push(format!("{fs} sign-in{} would fail", plural(fs)));
        }
        if scim_changed > 0 {
            out.push(format!(
                "{scim_changed} SCIM request{} would be rewritten differently",
                plural(scim_changed)
            ));
        }
        if fc > 0 {
            out.push(format!("{fc} SCIM request{} would fail", plural(fc)));
        }
        if c.now_passes > 0 {
            out.push(format!("{} failing input(s) would pass", c.now_passes));
        }
        if out.is_empty() {
            out.push(format!(
                "no difference on {} recorded sign-in(s) and {} SCIM request(s)",
                c.sign_ins, c.scim_requests
            ));
        }
        out
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn split(r: Result<Value, RunFailure>) -> (Option<Value>, Option<RunFailure>) {
    match r {
        Ok(v) => (Some(v), None),
        Err(f) => (None, Some(f)),
    }
}
