//! Where a plugin version runs: a stage of the tenant's pipeline, or one SSO connection's own
//! IdP adapter (which its sign-ins use instead of the tenant's idp-adapter stage, so an Okta
//! and an Entra connection of one tenant each read their IdP's dialect). Each slot has its
//! assignment, its configuration sealed under its own purpose, and its history of
//! activations; this names them, the audit actions and targets that go with them, and how
//! the API shows an activation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::world::World;
use crate::audit::action::Action;
use crate::audit::Target;
use crate::store::plugin_slots::SlotKey;
use crate::types::{ConnectionId, PluginId, Timestamp};

/// A place a plugin version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A stage of the tenant's pipeline.
    Stage(World),
    /// A connection's own IdP adapter; without one, the tenant's idp-adapter stage runs.
    Adapter(ConnectionId),
}

impl Slot {
    /// The world a plugin must implement to run here.
    pub fn world(self) -> World {
        match self {
            Slot::Stage(world) => world,
            Slot::Adapter(_) => World::IdpAdapter,
        }
    }

    /// The slot a history or replay names as text (see [`SlotKey::as_text`]).
    pub(super) fn parse(text: &str) -> Option<Slot> {
        match text.strip_prefix("connection:") {
            Some(id) => id.parse().ok().map(Slot::Adapter),
            None => World::parse(text).map(Slot::Stage),
        }
    }

    pub(super) fn key(self) -> SlotKey {
        match self {
            Slot::Stage(world) => SlotKey::Stage(world.as_str()),
            Slot::Adapter(id) => SlotKey::Connection(id),
        }
    }

    /// The associated data the slot's configuration is sealed under: a sealed configuration
    /// opens only for the slot it was written for.
    pub(super) fn purpose(self) -> String {
        match self {
            Slot::Stage(world) => format!("plugin-config:{world}"),
            Slot::Adapter(id) => format!("plugin-config:idp-adapter:{id}"),
        }
    }

    pub(super) fn target(self) -> Target {
        match self {
            Slot::Stage(world) => Target::new("pipeline_stage", world),
            Slot::Adapter(id) => Target::new("sso_connection", id),
        }
    }

    pub(super) fn action(self, kind: Kind) -> Action {
        match (self, kind) {
            (Slot::Stage(_), Kind::Assigned) => Action::PipelineStageAssigned,
            (Slot::Stage(_), Kind::Reset) => Action::PipelineStageReset,
            (Slot::Stage(_), Kind::RolledBack) => Action::PipelineStageRolledBack,
            (Slot::Adapter(_), Kind::Assigned) => Action::SsoConnectionAdapterAssigned,
            (Slot::Adapter(_), Kind::Reset) => Action::SsoConnectionAdapterReset,
            (Slot::Adapter(_), Kind::RolledBack) => Action::SsoConnectionAdapterRolledBack,
        }
    }
}

/// How an activation came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An admin assigned a plugin version (or a connection was created from a preset).
    Assigned,
    /// The slot returned to its default.
    Reset,
    /// An earlier activation was made current again.
    RolledBack,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Assigned => "assigned",
            Kind::Reset => "reset",
            Kind::RolledBack => "rolled_back",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        [Kind::Assigned, Kind::Reset, Kind::RolledBack]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// The plugin version an activation made current.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivatedPlugin {
    pub id: PluginId,
    pub name: String,
    pub version: String,
}

/// Who made an activation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivatedBy {
    /// `operator`, `api_token`, `user`, `app` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub label: String,
}

/// One entry of a slot's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivationView {
    /// Position in the slot's history, from 1; `rollback` takes it as `to`.
    pub seq: i64,
    /// The version made current; none when the slot returned to its default.
    pub plugin: Option<ActivatedPlugin>,
    pub kind: Kind,
    /// True for the entry in force now.
    pub current: bool,
    pub config: BTreeMap<String, String>,
    /// Names of the secret entries that went with it; their values are never shown.
    pub secret_keys: Vec<String>,
    pub activated_by: ActivatedBy,
    pub activated_at: Timestamp,
    /// The replay report the activation was checked against, when there was one.
    #[schema(value_type = Option<Object>)]
    pub replay: Option<serde_json::Value>,
}

/// A slot's history, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub activations: Vec<ActivationView>,
}
