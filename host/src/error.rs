//! The domain error: one enum named by outcome, returned by every service module and mapped to
//! an HTTP response in exactly one place (`http::error`). Variants carry messages meant for the
//! client; anything internal travels in [`Error::Internal`] and is logged, never sent.

/// What went wrong, as a caller needs to branch on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is well-formed but not acceptable (bad value, out of range).
    #[error("{detail}")]
    Invalid {
        /// The request field at fault, when there is one.
        field: Option<&'static str>,
        detail: String,
    },
    /// No credentials, or credentials that do not identify anyone.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The tenant exists but is suspended; nothing of it is served.
    #[error("tenant is suspended")]
    TenantSuspended,
    /// The operator has not enabled this part of the add-on for the tenant.
    #[error("{} is not enabled for this tenant", .0.as_str())]
    FeatureNotEnabled(crate::store::tenants::Feature),
    /// The named resource does not exist (or belongs to another tenant, which looks the same).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change conflicts with the current state (duplicate, in use, wrong state).
    #[error("{0}")]
    Conflict(String),
    /// A tenant's plugin refused or failed, so the operation failed closed. The detail names
    /// the stage and the reason (never plugin configuration).
    #[error("the {stage} plugin failed: {detail}")]
    PluginFailed { stage: &'static str, detail: String },
    /// A failure the caller cannot fix; details go to the log only.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(field: &'static str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field),
            detail: detail.into(),
        }
    }
}
