//! A SCIM `filter` query parameter: the parser, its SQL narrowing and its evaluation over a
//! user must refuse or answer without a panic.
#![no_main]

use gatehouse::scim::eval::matches;
use gatehouse::scim::filter::Filter;
use gatehouse::scim::prefilter::{condition, Kind};
use gatehouse::scim::schema::USER_ATTRS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = text.parse::<Filter>() else {
        return;
    };
    let _ = condition(&filter, Kind::User);
    let _ = condition(&filter, Kind::Group);
    let user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "01900000-0000-7000-8000-000000000001",
        "userName": "Ada@Example.com",
        "externalId": "ext-1",
        "active": true,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        "meta": {"created": "2026-01-01T00:00:00Z", "lastModified": "2026-02-01T00:00:00Z"}
    });
    let _ = matches(&filter, &user, USER_ATTRS);
});
