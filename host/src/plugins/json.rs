//! The JSON forms of the WIT records, for dry-run input and output. Attributes are accepted
//! as an object (`{"groups": ["a", "b"], "email": "x@y"}`) or as a list of
//! `{"name", "values"}` (which keeps order and repeated names), and shown as the list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::bindings::types;
use crate::error::Error;

/// An attribute's value: one string or several.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = SampleAttributeValues)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A named attribute with its values.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SampleAttribute)]
struct AttributeJson {
    name: String,
    values: Vec<String>,
}

/// Attributes: a list of `{name, values}`, or an object of name → value(s).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = SampleAttributes)]
enum AttributesJson {
    List(Vec<AttributeJson>),
    Map(BTreeMap<String, OneOrMany>),
}

impl Default for AttributesJson {
    fn default() -> Self {
        AttributesJson::List(Vec::new())
    }
}

impl AttributesJson {
    fn into_wit(self) -> Vec<types::Attribute> {
        match self {
            AttributesJson::List(list) => list
                .into_iter()
                .map(|a| types::Attribute {
                    name: a.name,
                    values: a.values,
                })
                .collect(),
            AttributesJson::Map(map) => map
                .into_iter()
                .map(|(name, v)| types::Attribute {
                    name,
                    values: match v {
                        OneOrMany::One(s) => vec![s],
                        OneOrMany::Many(v) => v,
                    },
                })
                .collect(),
        }
    }
}

fn attributes_json(attributes: &[types::Attribute]) -> Value {
    json!(attributes
        .iter()
        .map(|a| json!({"name": a.name, "values": a.values}))
        .collect::<Vec<_>>())
}

/// A raw identity as a dry-run sample.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = SampleRawIdentity)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityJson {
    /// `saml` or `oidc`.
    protocol: String,
    issuer: String,
    subject: String,
    #[serde(default)]
    attributes: AttributesJson,
}

impl RawIdentityJson {
    pub fn into_wit(self) -> Result<types::RawIdentity, Error> {
        let protocol = match self.protocol.as_str() {
            "saml" => types::Protocol::Saml,
            "oidc" => types::Protocol::Oidc,
            other => {
                return Err(Error::invalid(
                    "protocol",
                    format!(
                        "`{}` is not `saml` or `oidc`",
                        crate::types::truncate(other, 40)
                    ),
                ))
            }
        };
        Ok(types::RawIdentity {
            protocol,
            issuer: self.issuer,
            subject: self.subject,
            attributes: self.attributes.into_wit(),
        })
    }
}

/// A canonical identity as a dry-run sample.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityJson {
    subject: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    attributes: AttributesJson,
}

impl IdentityJson {
    pub fn into_wit(self) -> types::Identity {
        types::Identity {
            subject: self.subject,
            email: self.email,
            email_verified: self.email_verified,
            given_name: self.given_name,
            family_name: self.family_name,
            display_name: self.display_name,
            groups: self.groups,
            attributes: self.attributes.into_wit(),
        }
    }
}

/// A SCIM request as a dry-run sample; `body` is the JSON itself, not text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimRequestJson {
    method: String,
    path: String,
    #[serde(default)]
    body: Option<Value>,
}

impl ScimRequestJson {
    pub fn into_wit(self) -> Result<types::ScimRequest, Error> {
        use types::HttpMethod as M;
        let method = match self.method.to_ascii_uppercase().as_str() {
            "GET" => M::Get,
            "POST" => M::Post,
            "PUT" => M::Put,
            "PATCH" => M::Patch,
            "DELETE" => M::Delete,
            _ => {
                return Err(Error::invalid(
                    "method",
                    "one of GET, POST, PUT, PATCH, DELETE",
                ))
            }
        };
        Ok(types::ScimRequest {
            method,
            path: self.path,
            body: self.body.map(|b| b.to_string()),
        })
    }
}

pub fn identity(i: &types::Identity) -> Value {
    json!({
        "subject": i.subject,
        "email": i.email,
        "email_verified": i.email_verified,
        "given_name": i.given_name,
        "family_name": i.family_name,
        "display_name": i.display_name,
        "groups": i.groups,
        "attributes": attributes_json(&i.attributes),
    })
}

pub fn profile(p: &types::Profile) -> Value {
    json!({
        "email": p.email,
        "display_name": p.display_name,
        "given_name": p.given_name,
        "family_name": p.family_name,
        "timezone": p.timezone,
        "locale": p.locale,
        "custom": attributes_json(&p.custom),
    })
}

pub fn roles(roles: &[types::RoleAssignment]) -> Value {
    json!(roles
        .iter()
        .map(|r| json!({
            "role": r.role,
            "scope": r.scope.as_ref().map(|s| json!({"kind": s.kind, "name": s.name})),
        }))
        .collect::<Vec<_>>())
}

pub fn scim(r: &types::ScimRequest) -> Value {
    let method = match r.method {
        types::HttpMethod::Get => "GET",
        types::HttpMethod::Post => "POST",
        types::HttpMethod::Put => "PUT",
        types::HttpMethod::Patch => "PATCH",
        types::HttpMethod::Delete => "DELETE",
    };
    let body = r
        .body
        .as_deref()
        .map(|b| serde_json::from_str::<Value>(b).unwrap_or(Value::String(b.to_string())));
    json!({"method": method, "path": r.path, "body": body})
}
