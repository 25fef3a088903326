//! SCIM errors in SCIM form (RFC 7644 §3.12): an HTTP status, an optional `scimType` and a
//! detail for the client. The HTTP layer turns a [`ScimError`] into a response with
//! [`ScimError::body`]; internal failures never carry their cause here (it is logged).

use serde_json::{json, Value};

use super::filter::FilterError;

/// The error message schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// RFC 7644 Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    /// RFC 9865: the cursor is not one this server gave.
    InvalidCursor,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
        }
    }
}

/// An error answered in SCIM form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// When to come back (a 429's `Retry-After`, whole seconds).
    pub retry_after_secs: Option<u64>,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after_secs: None,
        }
    }

    /// 429: the tenant is over its SCIM rate; come back after `secs`.
    pub fn too_many_requests(secs: u64) -> Self {
        Self {
            retry_after_secs: Some(secs),
            ..Self::new(
                429,
                None,
                format!("this tenant is over its SCIM request rate; retry after {secs} s"),
            )
        }
    }

    /// 400 with a `scimType`.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(404, None, format!("{what} not found"))
    }

    /// The JSON body; `status` is a string, as RFC 7644 shows it.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t.as_str());
        }
        body
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        ScimError::bad_request(ScimType::InvalidFilter, e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_rfc_7644() {
        let e: ScimError = "userName zz \"a\""
            .parse::<super::super::filter::Filter>()
            .unwrap_err()
            .into();
        let body = e.body();
        assert_eq!(body["schemas"], json!([ERROR_SCHEMA]));
        assert_eq!(body["status"], "400");
        assert_eq!(body["scimType"], "invalidFilter");
        assert!(body["detail"].as_str().unwrap().contains("zz"));
        assert!(ScimError::not_found("User")
            .body()
            .get("scimType")
            .is_none());
    }
}
