//! Managing plugins: upload (validated by compiling the component and naming its world),
//! list, get and delete, by the operator (published plugins) or a tenant admin (its own);
//! every change is audited in the same transaction.

use serde::Deserialize;
use serde_json::json;

use super::registry::PluginView;
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::{Authorized, OperateInstance, ReadPlugins, WritePlugins};
use crate::services::Services;
use crate::store;
use crate::store::plugins::{Owner, PluginRecord};
use crate::store::tenants::Feature;
use crate::types::PluginId;

/// Longest plugin name or version.
const MAX_NAME_BYTES: usize = 64;
/// Longest description.
const MAX_DESCRIPTION_BYTES: usize = 500;

/// Who can see plugins: the operator sees the published ones, a tenant those plus its own.
pub trait ViewPlugins {
    fn viewer(&self) -> Owner;
}

/// Who can change plugins: the operator (published) or a tenant admin (its own).
pub trait WritePluginsAs: ViewPlugins {
    fn actor(&self) -> Actor;
}

impl ViewPlugins for Authorized<OperateInstance> {
    fn viewer(&self) -> Owner {
        Owner::Operator
    }
}
impl WritePluginsAs for Authorized<OperateInstance> {
    fn actor(&self) -> Actor {
        Authorized::actor(self)
    }
}
impl ViewPlugins for Authorized<ReadPlugins> {
    fn viewer(&self) -> Owner {
        Owner::Tenant(self.tenant())
    }
}
impl ViewPlugins for Authorized<WritePlugins> {
    fn viewer(&self) -> Owner {
        Owner::Tenant(self.tenant())
    }
}
impl WritePluginsAs for Authorized<WritePlugins> {
    fn actor(&self) -> Actor {
        Authorized::actor(self)
    }
}

pub(super) fn chain_of(owner: Owner) -> Chain {
    match owner {
        Owner::Operator => Chain::Operator,
        Owner::Tenant(t) => Chain::Tenant(t),
    }
}

/// Upload parameters (query string; the body is the component).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// Lower-case letters, digits and `-`, e.g. `acme-role-mapper`.
    pub name: String,
    /// Letters, digits, `.`, `-` and `+`, e.g. `1.2.0`.
    pub version: String,
    /// What the plugin does, for people.
    pub description: Option<String>,
}

fn check_params(p: &UploadParams) -> Result<(), Error> {
    let name_ok = !p.name.is_empty()
        && p.name.len() <= MAX_NAME_BYTES
        && p.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !p.name.starts_with('-');
    if !name_ok {
        return Err(Error::invalid(
            "name",
            format!(
                "use 1–{MAX_NAME_BYTES} lower-case letters, digits and `-`, not starting with `-`"
            ),
        ));
    }
    let version_ok = !p.version.is_empty()
        && p.version.len() <= MAX_NAME_BYTES
        && p.version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if !version_ok {
        return Err(Error::invalid(
            "version",
            format!("use 1–{MAX_NAME_BYTES} letters, digits, `.`, `-`, `_` and `+`, e.g. 1.2.0"),
        ));
    }
    if p.description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES)
    {
        return Err(Error::invalid(
            "description",
            format!("at most {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Validates and stores a component: it must compile, link against the capabilities the
/// host grants, and implement exactly one world.
pub async fn upload(
    state: &Services,
    auth: &impl WritePluginsAs,
    ctx: &RequestContext,
    params: UploadParams,
    wasm: Vec<u8>,
) -> Result<PluginView, Error> {
    check_params(&params)?;
    let owner = auth.viewer();
    if let Owner::Tenant(t) = owner {
        crate::tenancy::features::require(state, t, Feature::CustomPlugins).await?;
    }
    let registry = &state.plugins;
    if wasm.len() > registry.max_component_bytes {
        return Err(Error::invalid(
            "component",
            format!(
                "the component is {} bytes; the limit is {} (plugins.max_component_bytes)",
                wasm.len(),
                registry.max_component_bytes
            ),
        ));
    }
    let loaded = registry
        .compile(&params.name, wasm.clone(), false)
        .await
        .map_err(|e| Error::invalid("component", e.to_string()))?;
    let record = PluginRecord {
        id: PluginId::generate(),
        owner,
        name: params.name,
        version: params.version,
        world: loaded.world().as_str().to_string(),
        sha256: loaded.sha256().to_string(),
        size: wasm.len() as i64,
        builtin: false,
        description: params.description,
        uploaded_by: auth.actor().id,
        created_at: state.clock.now(),
    };
    let mut tx = state.store.begin().await?;
    if let Owner::Tenant(t) = owner {
        crate::tenancy::features::live_with(&mut tx, t, Feature::CustomPlugins).await?;
    }
    store::plugins::insert(&mut tx, &record, &wasm).await?;
    let view = PluginView::of(&record);
    audit::record(
        &mut tx,
        record.created_at,
        ctx,
        NewEvent {
            chain: chain_of(owner),
            actor: auth.actor(),
            action: Action::PluginUploaded,
            target: Target::new("plugin", record.id),
            before: None,
            after: Some(json!(view)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn list(state: &Services, auth: &impl ViewPlugins) -> Result<Vec<PluginView>, Error> {
    Ok(store::plugins::list(&state.store, auth.viewer())
        .await?
        .iter()
        .map(PluginView::of)
        .collect())
}

pub async fn get(
    state: &Services,
    auth: &impl ViewPlugins,
    id: PluginId,
) -> Result<PluginView, Error> {
    store::plugins::get(&state.store, auth.viewer(), id)
        .await?
        .as_ref()
        .map(PluginView::of)
        .ok_or(Error::NotFound("plugin"))
}

/// Deletes a plugin the caller owns, when no pipeline uses it. Built-ins stay.
pub async fn delete(
    state: &Services,
    auth: &impl WritePluginsAs,
    ctx: &RequestContext,
    id: PluginId,
) -> Result<(), Error> {
    let owner = auth.viewer();
    let record = store::plugins::get(&state.store, owner, id)
        .await?
        .filter(|r| r.owner == owner)
        .ok_or(Error::NotFound("plugin"))?;
    if record.builtin {
        return Err(Error::Conflict("built-in plugins cannot be deleted".into()));
    }
    let mut tx = state.store.begin().await?;
    let used = store::plugin_slots::usage(&mut tx, id).await?;
    if used > 0 {
        return Err(Error::Conflict(format!(
            "the plugin runs in {used} pipeline stage(s) or connection adapter(s); assign another version first"
        )));
    }
    if !store::plugins::delete(&mut tx, owner, id).await? {
        return Err(Error::NotFound("plugin"));
    }
    audit::record(
        &mut tx,
        state.clock.now(),
        ctx,
        NewEvent {
            chain: chain_of(owner),
            actor: auth.actor(),
            action: Action::PluginDeleted,
            target: Target::new("plugin", id),
            before: Some(json!(PluginView::of(&record))),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_all();
    Ok(())
}
