//! The four plugin kinds (WIT worlds) and how a component is recognised as one of them: by
//! the one plugin interface it exports. A component that exports none, or several, is refused
//! with a message listing what it does export and what each world needs.

use std::fmt;

use serde::{Deserialize, Serialize};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The version of the WIT package every export name carries.
const PACKAGE: &str = "gatehouse:plugin";
const VERSION: &str = "0.1.0";

/// A plugin kind: one world of `wit/gatehouse.wit`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[schema(as = PluginWorld)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    IdpAdapter,
    AttributeMapper,
    RoleMapper,
    ScimAdapter,
}

impl World {
    pub const ALL: [World; 4] = [
        World::IdpAdapter,
        World::AttributeMapper,
        World::RoleMapper,
        World::ScimAdapter,
    ];

    /// The world's name in the WIT package.
    pub fn as_str(self) -> &'static str {
        match self {
            World::IdpAdapter => "idp-adapter",
            World::AttributeMapper => "attribute-mapper",
            World::RoleMapper => "role-mapper",
            World::ScimAdapter => "scim-adapter",
        }
    }

    /// The interface the world exports (without package and version).
    pub fn interface(self) -> &'static str {
        match self {
            World::IdpAdapter => "adapter",
            World::AttributeMapper => "attributes",
            World::RoleMapper => "roles",
            World::ScimAdapter => "scim",
        }
    }

    /// The fully qualified export name a component of this world carries.
    pub fn export_name(self) -> String {
        format!("{PACKAGE}/{}@{VERSION}", self.interface())
    }

    pub fn parse(s: &str) -> Option<World> {
        World::ALL.into_iter().find(|w| w.as_str() == s)
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names the world `component` implements, from its exports; the error says why none does.
pub fn classify(engine: &Engine, component: &Component) -> Result<World, String> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let found: Vec<World> = World::ALL
        .into_iter()
        .filter(|w| exports.iter().any(|e| *e == w.export_name()))
        .collect();
    match found.as_slice() {
        [world] => Ok(*world),
        [] => Err(format!(
            "the component implements none of the plugin worlds: it exports {}, but a plugin \
             must export exactly one of {}",
            describe(&exports),
            expected_exports()
        )),
        several => Err(format!(
            "the component exports the interfaces of several worlds ({}); a plugin implements \
             exactly one world",
            several
                .iter()
                .map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn describe(exports: &[String]) -> String {
    if exports.is_empty() {
        "nothing".into()
    } else {
        exports
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn expected_exports() -> String {
    World::ALL
        .into_iter()
        .map(|w| format!("`{}` (world {})", w.export_name(), w.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
