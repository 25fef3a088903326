//! PATCH (RFC 7644 §3.5.2) on whole resources: the shapes Okta and Entra ID send, paths with
//! filters, extensions, what may not be changed, and the errors, through [`super::patch::apply`].

use serde_json::{json, Value};

use super::apply;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::schema::{Attr, GROUP_ATTRS, USER_ATTRS};

fn user() -> Value {
    json!({
        "userName": "bjensen", "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@work.example", "type": "work", "primary": true}],
    })
}

fn patch(resource: &mut Value, ops: Value, attrs: &'static [Attr]) -> Result<(), ScimError> {
    apply(
        resource,
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
        attrs,
    )
}

#[test]
fn okta_and_entra_shapes_apply() {
    let mut u = user();
    patch(&mut u, json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "value": {"name.familyName": "Smith", "displayName": "Babs"}},
        {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "babs@work.example"},
        {"op": "add", "path": "addresses[type eq \"work\"].locality", "value": "Leeds"},
        {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
        {"op": "add", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}}},
        {"op": "add", "path": "phoneNumbers", "value": [{"value": "+44 1", "type": "work"}]},
    ]), USER_ATTRS).unwrap();
    assert_eq!(u["active"], false);
    assert_eq!(u["name"]["familyName"], "Smith");
    assert_eq!(u["name"]["givenName"], "Barbara");
    assert_eq!(u["displayName"], "Babs");
    assert_eq!(
        u["emails"],
        json!([{"value": "babs@work.example", "type": "work", "primary": true}])
    );
    assert_eq!(
        u["addresses"],
        json!([{"type": "work", "locality": "Leeds"}])
    );
    let ext = &u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(ext["department"], "R&D");
    assert_eq!(ext["employeeNumber"], "7");
    assert_eq!(u["phoneNumbers"][0]["value"], "+44 1");

    patch(
        &mut u,
        json!([
            {"op": "remove", "path": "emails[type eq \"work\"]"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "replace", "path": "phoneNumbers", "value": []},
        ]),
        USER_ATTRS,
    )
    .unwrap();
    assert_eq!(u["emails"], json!([]));
    assert!(u["name"].get("givenName").is_none());
    assert_eq!(u["phoneNumbers"], json!([]));
}

#[test]
fn group_members_are_added_and_removed_both_ways() {
    let mut g = json!({"displayName": "Admins", "members": [{"value": "a"}, {"value": "b"}]});
    patch(
        &mut g,
        json!([
            {"op": "add", "path": "members", "value": [{"value": "c"}, {"value": "a"}]},
            {"op": "remove", "path": "members[value eq \"b\"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "c"}]},
        ]),
        GROUP_ATTRS,
    )
    .unwrap();
    assert_eq!(g["members"], json!([{"value": "a"}]));
    patch(
        &mut g,
        json!([{"op": "remove", "path": "members"}]),
        GROUP_ATTRS,
    )
    .unwrap();
    assert!(g.get("members").is_none());
}

#[test]
fn common_attributes_and_whole_extensions_are_paths() {
    const EXT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut u = user();
    patch(
        &mut u,
        json!([
            {"op": "add", "path": "externalId", "value": "e1"},
            {"op": "add", "path": EXT, "value": {"schemas": [EXT], "department": "R&D"}},
            {"op": "add", "path": EXT, "value": {"division": "Labs"}},
        ]),
        USER_ATTRS,
    )
    .unwrap();
    assert_eq!(u["externalId"], "e1");
    assert_eq!(u[EXT], json!({"department": "R&D", "division": "Labs"}));
    patch(
        &mut u,
        json!([
            {"op": "replace", "path": "externalId", "value": "e2"},
            {"op": "replace", "path": EXT.to_lowercase(), "value": {"costCenter": "4"}},
        ]),
        USER_ATTRS,
    )
    .unwrap();
    assert_eq!(u["externalId"], "e2");
    assert_eq!(u[EXT], json!({"costCenter": "4"}));
    patch(
        &mut u,
        json!([
            {"op": "remove", "path": "externalId"},
            {"op": "remove", "path": EXT},
        ]),
        USER_ATTRS,
    )
    .unwrap();
    assert!(u.get("externalId").is_none() && u.get(EXT).is_none(), "{u}");
    for ops in [
        json!([{"op": "replace", "path": "id", "value": "x"}]),
        json!([{"op": "replace", "path": "meta", "value": {}}]),
    ] {
        let err = patch(&mut u, ops, USER_ATTRS).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::Mutability));
    }
    let err = patch(
        &mut u,
        json!([{"op": "add", "path": EXT, "value": "x"}]),
        USER_ATTRS,
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn bad_operations_are_refused_with_their_scim_type() {
    let cases = [
        (
            json!([{"op": "move", "path": "title", "value": "x"}]),
            ScimType::InvalidSyntax,
        ),
        (json!([{"op": "remove"}]), ScimType::NoTarget),
        (
            json!([{"op": "add", "path": "nope", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "add", "path": "emails[type eq", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "groups", "value": []}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "remove", "path": "userName"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "add", "value": "not an object"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"home\" or primary eq true].value", "value": "x"}]),
            ScimType::NoTarget,
        ),
        (
            json!([{"op": "replace", "path": "emails.value", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (json!([]), ScimType::InvalidSyntax),
    ];
    for (ops, expected) in cases {
        let mut u = json!({"userName": "x", "emails": [{"value": "a", "type": "work"}]});
        let err = patch(&mut u, ops.clone(), USER_ATTRS).unwrap_err();
        assert_eq!(err.scim_type, Some(expected), "{ops}: {err}");
        assert_eq!(err.status, 400);
    }
}
