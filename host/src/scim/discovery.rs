//! The SCIM discovery documents (RFC 7644 §4): `/ServiceProviderConfig`, which states what
//! the server supports and the limits a client must stay within (the same values the
//! server enforces), and `/ResourceTypes`.

use serde_json::{json, Value};

use super::schema::{ENTERPRISE_USER, GROUP, USER};

/// The limits the server enforces and advertises.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most resources one list or search answers with (`count` is capped to it).
    pub max_results: u32,
    /// Most operations in one Bulk request.
    pub bulk_max_operations: u32,
    /// Largest request body, in bytes (Bulk included).
    pub max_payload_bytes: u64,
}

/// `/ServiceProviderConfig`; `base` is the tenant's SCIM base URL.
pub fn service_provider_config(base: &str, limits: Limits) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": limits.bulk_max_operations,
            "maxPayloadSize": limits.max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": limits.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        // RFC 9865: both ways of paging; a cursor never expires (it names a resource).
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": limits.max_results,
            "maxPageSize": limits.max_results,
        },
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A tenant SCIM token, sent as `Authorization: Bearer <token>`",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

/// `/ResourceTypes`: User (with the enterprise extension) and Group.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_state_the_enforced_limits() {
        let limits = Limits {
            max_results: 200,
            bulk_max_operations: 100,
            max_payload_bytes: 1_048_576,
        };
        let spc = service_provider_config("https://g/scim/v2/t", limits);
        assert_eq!(spc["filter"]["maxResults"], 200);
        assert_eq!(spc["bulk"]["maxOperations"], 100);
        assert_eq!(spc["bulk"]["maxPayloadSize"], 1_048_576);
        assert_eq!(spc["etag"]["supported"], true);
        let types = resource_types("https://g/scim/v2/t");
        assert_eq!(types[0]["schemaExtensions"][0]["schema"], ENTERPRISE_USER);
        assert_eq!(
            types[1]["meta"]["location"],
            "https://g/scim/v2/t/ResourceTypes/Group"
        );
    }
}
