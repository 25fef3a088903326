//! A SCIM PATCH body: its paths (value filters, sub-attributes, extension URNs) and their
//! application to a user and a group must refuse or apply without a panic.
#![no_main]

use gatehouse::scim::patch::apply;
use gatehouse::scim::schema::{GROUP_ATTRS, USER_ATTRS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let mut user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@example.com",
        "active": true,
        "name": {"givenName": "Ada"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true},
                   {"value": "a@home.example", "type": "home"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}
    });
    let _ = apply(&mut user, &body, USER_ATTRS);
    let mut group = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Ops",
        "members": [{"value": "01900000-0000-7000-8000-000000000001"}]
    });
    let _ = apply(&mut group, &body, GROUP_ATTRS);
});
