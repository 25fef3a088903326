//! Why a sign-in failed ([`Failure`]), from every step's own error, and the audit of a
//! refusal: every refused SSO sign-in is recorded as `login.failed` with its reason code
//! (repeats collapsed, see [`crate::audit::failures`]).

use serde_json::json;

use super::oidc::Rejection as OidcRejection;
use super::saml::Rejection;
use crate::audit::{self, RequestContext};
use crate::directory::Refusal;
use crate::error::Error;
use crate::services::Services;
use crate::store::tenants::TenantRecord;
use crate::types::{ConnectionId, TenantId};

/// Why a sign-in failed, as the user's error page and the audit log need it.
#[derive(Debug)]
pub enum Failure {
    /// The tenant or connection in the URL does not exist.
    NotFound,
    /// The sign-in was refused; `code` is stable, `message` is for the user, `detail` (when
    /// the message must stay vague) for the audit log only.
    Refused {
        code: &'static str,
        message: String,
        detail: Option<String>,
    },
    /// Something broke on our side.
    Internal(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::PluginFailed { stage, detail } => Failure::Refused {
                code: "plugin_failed",
                message: format!("the {stage} plugin failed: {detail}"),
                detail: None,
            },
            Error::NotFound(_) => Failure::NotFound,
            Error::FeatureNotEnabled(feature) => Failure::Refused {
                code: "feature_not_enabled",
                message: crate::tenancy::features::refusal(feature),
                detail: None,
            },
            // A policy refusal, already audited with its reason where it was decided.
            Error::Forbidden(message) => Failure::Refused {
                code: "policy",
                message,
                detail: None,
            },
            Error::Conflict(message) => Failure::Refused {
                code: "conflict",
                message,
                detail: None,
            },
            other => Failure::Internal(other),
        }
    }
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Self {
        Failure::Refused {
            code: r.code(),
            message: r.to_string(),
            detail: r.detail().map(str::to_string),
        }
    }
}

impl From<OidcRejection> for Failure {
    fn from(r: OidcRejection) -> Self {
        Failure::Refused {
            code: r.code(),
            message: r.to_string(),
            detail: None,
        }
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused {
            code: r.code(),
            message: r.to_string(),
            detail: None,
        }
    }
}

impl From<crate::policy::admit::Refusal> for Failure {
    fn from(r: crate::policy::admit::Refusal) -> Self {
        Failure::Refused {
            code: r.reason,
            message: r.message,
            detail: None,
        }
    }
}

/// `result`, after recording it when it is a refusal at `connection` of `tenant`.
pub(super) async fn audited<T>(
    state: &Services,
    tenant: &TenantRecord,
    connection: ConnectionId,
    protocol: &str,
    ctx: &RequestContext,
    result: Result<T, Failure>,
) -> Result<T, Failure> {
    if let Err(Failure::Refused {
        code,
        message,
        detail,
    }) = &result
    {
        tracing::info!(tenant = %tenant.id, %connection, protocol, code, "SSO sign-in refused");
        let message = match detail {
            Some(detail) => format!("{message}: {detail}"),
            None => message.clone(),
        };
        audit_failure(state, tenant.id, connection, code, &message, ctx).await?;
    }
    result
}

/// Records a refused SSO sign-in at `connection` (repeats collapsed, see
/// [`audit::failures`]).
async fn audit_failure(
    state: &Services,
    tenant: TenantId,
    connection: ConnectionId,
    code: &str,
    message: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    audit::failures::record(
        &state.store,
        &state.failures,
        state.clock.now(),
        ctx,
        audit::failures::Kind {
            action: crate::audit::action::Action::LoginFailed,
            tenant,
            target_type: "sso_connection",
            reason: code.to_string(),
        },
        &connection.to_string(),
        json!({"message": message}),
    )
    .await?;
    Ok(())
}
