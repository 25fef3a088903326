//! The built-in components, embedded in the binary from `plugins/dist/` so `gatehouse serve`
//! needs no wasm toolchain. At start they are registered as operator-published plugins (one
//! row per name and content), so tenants pin, dry-run and roll back built-ins exactly like
//! uploads: the default path and the custom path are one path.

use super::world::World;

/// One embedded component.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub world: World,
    /// Used when a tenant has not assigned this stage.
    pub default_for_stage: bool,
    pub description: &'static str,
    pub wasm: &'static [u8],
}

impl Builtin {
    /// The registered version: the crate version plus the first 12 hex digits of the
    /// content hash, so a rebuilt built-in is a new version and pinned pipelines keep theirs.
    pub fn version(&self, sha256: &str) -> String {
        format!("{CRATE_VERSION}+{}", &sha256[..12])
    }
}

/// The IdPs a connection can be created for: each picks the built-in adapter that reads its
/// dialect (its group claim, its names for email and names).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum IdpPreset {
    /// Any standards-compliant IdP: `generic-adapter`.
    Generic,
    /// Okta: `okta-adapter`.
    Okta,
    /// Microsoft Entra ID: `entra-adapter` (object-id groups from the `…/claims/groups` claim).
    Entra,
    /// Google Workspace: `google-adapter`.
    Google,
    /// AD FS: `generic-adapter`, which reads its `…/claims/Group` and `…/emailaddress` claims.
    Adfs,
}

impl IdpPreset {
    /// The built-in adapter the preset picks.
    pub fn adapter(self) -> &'static str {
        match self {
            IdpPreset::Generic | IdpPreset::Adfs => "generic-adapter",
            IdpPreset::Okta => "okta-adapter",
            IdpPreset::Entra => "entra-adapter",
            IdpPreset::Google => "google-adapter",
        }
    }
}

/// The version of the built-in crates (`plugins/*/Cargo.toml`).
const CRATE_VERSION: &str = "0.1.0";

macro_rules! dist {
    ($file:literal) => {
        include_bytes!(concat!("../../../plugins/dist/", $file, ".wasm"))
    };
}

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "generic-adapter",
        world: World::IdpAdapter,
        default_for_stage: true,
        description: "Any standards-compliant SAML 2.0 or OIDC identity provider",
        wasm: dist!("generic-adapter"),
    },
    Builtin {
        name: "okta-adapter",
        world: World::IdpAdapter,
        default_for_stage: false,
        description: "Okta (SAML and OIDC)",
        wasm: dist!("okta-adapter"),
    },
    Builtin {
        name: "entra-adapter",
        world: World::IdpAdapter,
        default_for_stage: false,
        description: "Microsoft Entra ID: object-id groups, claim URIs, groups-overage error",
        wasm: dist!("entra-adapter"),
    },
    Builtin {
        name: "google-adapter",
        world: World::IdpAdapter,
        default_for_stage: false,
        description: "Google Workspace, with an optional hosted-domain check",
        wasm: dist!("google-adapter"),
    },
    Builtin {
        name: "default-attribute-mapper",
        world: World::AttributeMapper,
        default_for_stage: true,
        description: "Profile straight from the canonical identity",
        wasm: dist!("default-attribute-mapper"),
    },
    Builtin {
        name: "default-role-mapper",
        world: World::RoleMapper,
        default_for_stage: true,
        description: "Group-id → role table and space_name/space_role attributes",
        wasm: dist!("default-role-mapper"),
    },
];
