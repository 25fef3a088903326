//! Recorded inputs: each sign-in's raw identity (the newest per user and connection) and each
//! SCIM request that changes something or filters, kept sealed with the tenant's data key so
//! a candidate plugin version can be replayed over them (`replay`). Bounded in count per
//! source and in age, both by the operator (`plugins.record_*`) and, below that, by the
//! tenant; the tenant admin can turn recording off and delete what was kept. Nobody reads an
//! input in clear through the API: only a replay opens them, to run plugins on. Recording is
//! best effort: a failure is logged and never fails the sign-in or request it records.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::bindings::types;
use super::convert;
use crate::audit::action::Action;
use crate::audit::{self, Chain, NewEvent, RequestContext, Target};
use crate::config::PluginsConfig;
use crate::error::Error;
use crate::identity::RawIdentity;
use crate::rbac::{Authorized, ReadPlugins, WritePlugins};
use crate::scim::request::{Method, Sent};
use crate::services::Services;
use crate::store::{self, recordings::SettingsRow};
use crate::types::{ConnectionId, TenantId, Timestamp};

/// Largest input kept, as JSON before sealing. A sign-in with thousands of groups or a SCIM
/// Bulk body past it is not recorded, so one tenant's recordings stay within
/// `max_per_source` × this.
pub const MAX_RECORDED_BYTES: usize = 64 * 1024;
/// The associated data recorded inputs are sealed under.
const PURPOSE: &str = "recorded-input";
/// The source name of a tenant's SCIM requests.
pub const SCIM_SOURCE: &str = "scim";

/// A tenant's recording settings: stored values bounded by the operator's, or the operator's
/// own when the tenant chose nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingSettings {
    /// Record sign-ins and SCIM requests for replay.
    pub enabled: bool,
    /// Most inputs kept per source (at most the operator's `plugins.record_max_per_source`).
    pub max_per_source: u32,
    /// Days an input is kept (at most the operator's `plugins.record_max_age_days`).
    pub max_age_days: u32,
    /// A new plugin version can only be activated from a replay
    /// (`POST /pipeline/replays/{id}/activate`); rollback and reset stay one call.
    pub require_replay: bool,
}

impl RecordingSettings {
    /// Nothing recorded (a dry-run's pipeline).
    pub(super) const OFF: Self = Self {
        enabled: false,
        max_per_source: 0,
        max_age_days: 1,
        require_replay: false,
    };

    /// The operator's defaults.
    fn operator(config: &PluginsConfig) -> Self {
        Self {
            enabled: config.record_max_per_source > 0,
            max_per_source: config.record_max_per_source,
            max_age_days: config.record_max_age_days,
            require_replay: false,
        }
    }

    /// `stored` within the operator's current bounds (which may have shrunk since).
    fn effective(config: &PluginsConfig, stored: Option<SettingsRow>) -> Self {
        let op = Self::operator(config);
        let Some(s) = stored else { return op };
        let clamp = |v: i64, max: u32| u32::try_from(v.max(0)).unwrap_or(max).min(max);
        Self {
            enabled: s.enabled && op.enabled,
            max_per_source: clamp(s.max_per_source, op.max_per_source),
            max_age_days: clamp(s.max_age_days, op.max_age_days).max(1),
            require_replay: s.require_replay,
        }
    }

    /// The oldest input a replay reads at `now`.
    pub(super) fn oldest_kept(&self, now: Timestamp) -> Timestamp {
        now.plus_seconds(-(i64::from(self.max_age_days) * 86_400))
    }
}

/// The tenant's effective settings, read from the database.
pub async fn settings(state: &Services, tenant: TenantId) -> Result<RecordingSettings, Error> {
    let stored = store::recordings::settings(&state.store, tenant).await?;
    Ok(RecordingSettings::effective(&state.config.plugins, stored))
}

/// A recorded input, as sealed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(super) enum Recorded {
    SignIn {
        connection: ConnectionId,
        protocol: String,
        issuer: String,
        subject: String,
        attributes: Vec<(String, Vec<String>)>,
    },
    Scim {
        method: String,
        path: String,
        body: Option<String>,
    },
}

impl Recorded {
    fn sign_in(connection: ConnectionId, raw: &types::RawIdentity) -> Self {
        Recorded::SignIn {
            connection,
            protocol: match raw.protocol {
                types::Protocol::Saml => "saml",
                types::Protocol::Oidc => "oidc",
            }
            .into(),
            issuer: raw.issuer.clone(),
            subject: raw.subject.clone(),
            attributes: raw
                .attributes
                .iter()
                .map(|a| (a.name.clone(), a.values.clone()))
                .collect(),
        }
    }

    /// The raw identity of a recorded sign-in, as the idp-adapter receives it.
    pub(super) fn raw_identity(
        protocol: &str,
        issuer: &str,
        subject: &str,
        attributes: &[(String, Vec<String>)],
    ) -> types::RawIdentity {
        types::RawIdentity {
            protocol: if protocol == "oidc" {
                types::Protocol::Oidc
            } else {
                types::Protocol::Saml
            },
            issuer: issuer.to_string(),
            subject: subject.to_string(),
            attributes: attributes
                .iter()
                .map(|(name, values)| types::Attribute {
                    name: name.clone(),
                    values: values.clone(),
                })
                .collect(),
        }
    }
}

/// The source name of a connection's sign-ins.
pub(super) fn connection_source(id: ConnectionId) -> String {
    format!("connection:{id}")
}

/// Seals and keeps `input` under `key` in `source`.
async fn keep(
    state: &Services,
    tenant: TenantId,
    settings: RecordingSettings,
    source: &str,
    key: &str,
    input: &Recorded,
) -> Result<(), Error> {
    let plain = serde_json::to_vec(input).map_err(|e| Error::Internal(e.into()))?;
    if plain.len() > MAX_RECORDED_BYTES {
        tracing::debug!(%tenant, source, bytes = plain.len(), "input too large to record");
        return Ok(());
    }
    let sealed = state
        .secrets
        .seal(&state.store, tenant, PURPOSE, &plain)
        .await?;
    let mut tx = state.store.begin().await?;
    let now = state.clock.now();
    let limit = i64::from(settings.max_per_source);
    store::recordings::record(&mut tx, tenant, source, key, &sealed, now, limit).await?;
    tx.commit().await?;
    Ok(())
}

/// Records a sign-in's raw identity through `connection` (replacing the user's previous one).
pub(super) async fn sign_in(
    state: &Services,
    tenant: TenantId,
    settings: RecordingSettings,
    connection: ConnectionId,
    raw: &RawIdentity,
) {
    if !settings.enabled || settings.max_per_source == 0 {
        return;
    }
    let input = Recorded::sign_in(connection, &convert::raw_identity(raw));
    let key = hex::encode(Sha256::digest(format!("{connection}\0{}", raw.subject)));
    let source = connection_source(connection);
    if let Err(e) = keep(state, tenant, settings, &source, &key, &input).await {
        tracing::warn!(%tenant, error = ?e, "recording a sign-in for replay failed");
    }
}

/// Records a SCIM request as sent, if it changes something or filters (plain reads are not
/// worth replaying and would push the writes out).
pub(super) async fn scim(
    state: &Services,
    tenant: TenantId,
    settings: RecordingSettings,
    sent: &Sent,
) {
    if !settings.enabled || settings.max_per_source == 0 {
        return;
    }
    let method = match sent.method {
        Method::Get if !sent.path.contains("filter=") => return,
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    };
    let input = Recorded::Scim {
        method: method.into(),
        path: sent.path.clone(),
        body: sent.body.clone(),
    };
    let key = uuid::Uuid::now_v7().to_string();
    if let Err(e) = keep(state, tenant, settings, SCIM_SOURCE, &key, &input).await {
        tracing::warn!(%tenant, error = ?e, "recording a SCIM request for replay failed");
    }
}

/// Opens a recorded input.
pub(super) async fn open(
    state: &Services,
    tenant: TenantId,
    sealed: &[u8],
) -> Result<Recorded, Error> {
    let plain = state
        .secrets
        .open(&state.store, tenant, PURPOSE, sealed)
        .await?;
    serde_json::from_slice(&plain)
        .map_err(|e| Error::Internal(anyhow::anyhow!("a recorded input does not parse: {e}")))
}

/// One source's recorded inputs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    /// `connection:<id>` or `scim`.
    pub source: String,
    pub connection_id: Option<ConnectionId>,
    pub count: i64,
    pub oldest: Timestamp,
    pub newest: Timestamp,
}

/// The tenant's recording settings, the operator's bounds, and what is kept per source (counts
/// only: inputs are never shown).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordingView {
    pub settings: RecordingSettings,
    pub operator_max_per_source: u32,
    pub operator_max_age_days: u32,
    pub sources: Vec<SourceView>,
}

pub async fn view(
    state: &Services,
    auth: &Authorized<ReadPlugins>,
) -> Result<RecordingView, Error> {
    view_of(state, auth.tenant()).await
}

async fn view_of(state: &Services, tenant: TenantId) -> Result<RecordingView, Error> {
    let sources = store::recordings::counts(&state.store, tenant)
        .await?
        .into_iter()
        .map(|(source, count, oldest, newest)| SourceView {
            connection_id: source
                .strip_prefix("connection:")
                .and_then(|id| id.parse().ok()),
            source,
            count,
            oldest,
            newest,
        })
        .collect();
    Ok(RecordingView {
        settings: settings(state, tenant).await?,
        operator_max_per_source: state.config.plugins.record_max_per_source,
        operator_max_age_days: state.config.plugins.record_max_age_days,
        sources,
    })
}

/// Changes the tenant's settings (within the operator's bounds); audited.
pub async fn update(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    body: RecordingSettings,
) -> Result<RecordingView, Error> {
    let tenant = auth.tenant();
    let op = RecordingSettings::operator(&state.config.plugins);
    if body.max_per_source > op.max_per_source {
        return Err(Error::invalid(
            "max_per_source",
            format!("at most {} (the operator's bound)", op.max_per_source),
        ));
    }
    if body.max_age_days == 0 || body.max_age_days > op.max_age_days {
        return Err(Error::invalid(
            "max_age_days",
            format!("1–{} (the operator's bound)", op.max_age_days),
        ));
    }
    if body.enabled && !op.enabled {
        return Err(Error::invalid(
            "enabled",
            "the operator turned recording off (plugins.record_max_per_source = 0)",
        ));
    }
    let before = settings(state, tenant).await?;
    let row = SettingsRow {
        enabled: body.enabled,
        max_per_source: i64::from(body.max_per_source),
        max_age_days: i64::from(body.max_age_days),
        require_replay: body.require_replay,
    };
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    crate::tenancy::domains::live_tenant(&mut tx, tenant).await?;
    store::recordings::put_settings(&mut tx, tenant, row, now).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::PipelineRecordingChanged,
            target: Target::new("tenant", tenant),
            before: Some(json!(before)),
            after: Some(json!(body)),
        },
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate_tenant(tenant);
    view_of(state, tenant).await
}

/// Which recorded inputs to delete (query string).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteRecordings {
    /// `connection:<id>` or `scim`; every source when absent.
    #[serde(default)]
    pub source: Option<String>,
}

/// How many inputs a deletion removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

/// Deletes recorded inputs; audited with the count.
pub async fn delete(
    state: &Services,
    auth: &Authorized<WritePlugins>,
    ctx: &RequestContext,
    query: DeleteRecordings,
) -> Result<Deleted, Error> {
    let tenant = auth.tenant();
    if let Some(source) = &query.source {
        let known = source == SCIM_SOURCE
            || source
                .strip_prefix("connection:")
                .is_some_and(|id| id.parse::<ConnectionId>().is_ok());
        if !known {
            return Err(Error::invalid(
                "source",
                "`scim` or `connection:<connection id>`",
            ));
        }
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let deleted = store::recordings::delete(&mut tx, tenant, query.source.as_deref()).await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant),
            actor: auth.actor(),
            action: Action::PipelineRecordingsDeleted,
            target: Target::new("tenant", tenant),
            before: None,
            after: Some(json!({ "source": query.source, "deleted": deleted })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Deleted { deleted })
}

/// Housekeeping: drops inputs past their tenant's age limit and those of deleted connections.
pub async fn purge(
    store: &store::Store,
    now: Timestamp,
    config: &PluginsConfig,
) -> Result<u64, store::StoreError> {
    let mut tx = store.begin().await?;
    let since = now.plus_seconds(-(crate::plugins::replay::KEPT_FOR_SECS));
    let n = store::recordings::purge_expired(&mut tx, now, i64::from(config.record_max_age_days))
        .await?
        + store::recordings::forget_replays(&mut tx, since).await?;
    tx.commit().await?;
    Ok(n)
}
