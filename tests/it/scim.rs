//! SCIM 2.0 provisioning over HTTP: the request sequences Okta and Entra ID send, the
//! lifecycle with SSO (pending users linked at first login, deactivation cutting sessions
//! off, no reactivation by login), roles from SCIM groups through the role mapper, ETags,
//! Bulk, listing, the SCIM adapter hook, and bad input answered in SCIM form with nothing
//! written.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Resp, TestApp};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A tenant with a `scim` token and an admin token, and its SCIM base URL.
pub(crate) struct Scim {
    pub tenant: String,
    pub token: String,
    pub admin: String,
    /// `{url}/scim/v2/{tenant public token}`.
    pub base: String,
}

pub(crate) async fn scim_tenant(app: &TestApp, slug: &str) -> Scim {
    let tenant = app.create_tenant(slug).await;
    scim_for(app, tenant).await
}

/// SCIM tokens and base URL for an existing tenant.
pub(crate) async fn scim_for(app: &TestApp, tenant: String) -> Scim {
    let (_, token) = app.tenant_token(&tenant, &["scim"]).await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let view = app
        .op(Method::GET, &format!("/tenants/{tenant}"), None)
        .await;
    let public = view.body["public_token"].as_str().expect("public token");
    Scim {
        base: format!("{}/scim/v2/{public}", app.url),
        tenant,
        token,
        admin,
    }
}

/// Sends a SCIM request (`body` as raw text) with extra headers.
pub(crate) async fn send(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    url: &str,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = app.client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/scim+json").body(b);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    Resp {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

impl Scim {
    pub(crate) async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let r = send(
            app,
            Some(&self.token),
            method,
            &format!("{}{path}", self.base),
            body.map(|b| b.to_string()),
            &[],
        )
        .await;
        if r.status != StatusCode::NO_CONTENT && r.status != StatusCode::NOT_MODIFIED {
            assert_eq!(
                r.headers["content-type"], "application/scim+json",
                "{path}: {}",
                r.body
            );
        }
        r
    }

    /// A PATCH of `path` with these `Operations`.
    async fn patch(&self, app: &TestApp, path: &str, operations: Value) -> Resp {
        let body = json!({"schemas": [PATCH_OP], "Operations": operations});
        self.call(app, Method::PATCH, path, Some(body)).await
    }

    async fn user(&self, app: &TestApp, id: &str) -> Value {
        let r = app
            .api(&self.admin, Method::GET, &format!("/users/{id}"), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }
}

fn okta_user(email: &str, first: &str, last: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": email,
        "name": {"givenName": first, "familyName": last},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": format!("{first} {last}"),
        "locale": "en-US",
        "externalId": format!("00u{}", first.to_lowercase()),
        "groups": [],
        "password": "never-stored",
        "active": true
    })
}

fn error_type(r: &Resp) -> (&str, &str) {
    assert_eq!(
        r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{}",
        r.body
    );
    (
        r.body["status"].as_str().unwrap_or_default(),
        r.body["scimType"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn okta_provisions_updates_pushes_groups_and_deactivates() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "okta-co").await;
    let email = "ada@okta-co.example";

    // Okta looks the user up first, then creates it.
    let found = s
        .call(
            &app,
            Method::GET,
            &format!("/Users?filter=userName%20eq%20%22{email}%22&startIndex=1&count=100"),
            None,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(
        found.body,
        json!({"schemas": [LIST], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
    let created = s
        .call(
            &app,
            Method::POST,
            "/Users",
            Some(okta_user(email, "Ada", "Lovelace")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("{}/Users/{id}", s.base)
    );
    assert_eq!(created.headers["etag"], "W/\"1\"");
    assert_eq!(created.body["meta"]["version"], "W/\"1\"");
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert_eq!(created.body["userName"], email);
    assert_eq!(created.body["active"], true);
    assert!(created.body.get("password").is_none(), "{}", created.body);
    // Pending: provisioned, no password, waiting for the first SSO login.
    let user = s.user(&app, &id).await;
    assert_eq!(
        (user["status"].as_str(), user["source"].as_str()),
        (Some("pending"), Some("scim"))
    );
    assert_eq!(user["display_name"], "Ada Lovelace");
    assert_eq!(user["email_verified"], true, "the domain is the tenant's");

    // The same userName in another case is the same user: 409 uniqueness.
    let dup = s
        .call(
            &app,
            Method::POST,
            "/Users",
            Some(okta_user(&email.to_uppercase(), "Ada", "L")),
        )
        .await;
    assert_eq!(error_type(&dup), ("409", "uniqueness"));
    let found = s
        .call(
            &app,
            Method::GET,
            &format!(
                "/Users?filter=userName%20eq%20%22{}%22",
                email.to_uppercase()
            ),
            None,
        )
        .await;
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());

    // Okta updates a profile with PUT of the whole user.
    let mut changed = okta_user(email, "Ada", "King");
    changed["name"]["middleName"] = json!("Augusta");
    let put = s
        .call(&app, Method::PUT, &format!("/Users/{id}"), Some(changed))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["name"]["familyName"], "King");
    assert_eq!(put.headers["etag"], "W/\"2\"");
    assert_eq!(s.user(&app, &id).await["family_name"], "King");

    // Group push: create, add the member with PATCH, rename with PUT carrying members.
    let group = s
        .call(
            &app,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Engineering", "members": []})),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_string();
    let add = s
        .patch(
            &app,
            &format!("/Groups/{gid}"),
            json!([
                {"op": "add", "path": "members", "value": [{"value": id, "display": email}]}]),
        )
        .await;
    assert_eq!(add.status, StatusCode::OK, "{}", add.body);
    assert_eq!(add.body["members"][0]["value"], id.as_str());
    let member = s
        .call(&app, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(member.body["groups"][0]["value"], gid.as_str());
    assert_eq!(member.body["groups"][0]["display"], "Engineering");
    let renamed = s
        .call(
            &app,
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [GROUP], "id": gid, "displayName": "Engineering EU", "members": [{"value": id}]})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["displayName"], "Engineering EU");
    assert_eq!(renamed.body["members"].as_array().unwrap().len(), 1);
    let removed = s
        .patch(
            &app,
            &format!("/Groups/{gid}"),
            json!([
                {"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(removed.body.get("members").is_none(), "{}", removed.body);

    // Deactivation: Okta's PATCH without a path.
    let off = s
        .patch(
            &app,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.body["active"], false);
    assert_eq!(s.user(&app, &id).await["status"], "deactivated");
    let on = s
        .patch(
            &app,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(on.body["active"], true);
    assert_eq!(
        s.user(&app, &id).await["status"],
        "pending",
        "never signed in"
    );

    let gone = s
        .call(&app, Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.call(&app, Method::GET, &format!("/Groups/{gid}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let actions: Vec<String> = app
        .audit_actions(&s.tenant)
        .await
        .into_iter()
        .filter(|a| a.starts_with("scim_"))
        .collect();
    assert_eq!(
        actions,
        [
            "scim_user.created",
            "scim_user.updated",
            "scim_group.created",
            "scim_group.updated",
            "scim_group.updated",
            "scim_group.updated",
            "scim_user.deactivated",
            "scim_user.reactivated",
            "scim_group.deleted"
        ]
    );
    let event = crate::saml::last_event(&app, &s.tenant, "scim_user.updated").await;
    assert_eq!(event["before"]["name"]["familyName"], "Lovelace");
    assert_eq!(event["after"]["name"]["familyName"], "King");
    assert_eq!(event["actor"]["type"], "api_token");
}

#[tokio::test]
async fn entra_id_dialect_is_understood() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "entra-co").await;
    let email = "grace@entra-co.example";
    let probe = s
        .call(
            &app,
            Method::GET,
            "/Users?filter=userName+eq+%22not-there%40entra-co.example%22",
            None,
        )
        .await;
    assert_eq!(probe.body["totalResults"], 0);
    let created = s
        .call(
            &app,
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": [USER, ENTERPRISE],
                "externalId": "b5c6e3a0-1d4f-4c32-9d9c-7f1e2a3b4c5d",
                "userName": email,
                "active": true,
                "displayName": "Grace Hopper",
                "emails": [{"primary": true, "type": "work", "value": email}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "Grace Hopper", "familyName": "Hopper", "givenName": "Grace"},
                "roles": [],
                ENTERPRISE: {"department": "Navy", "employeeNumber": "1906"}
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(created.body[ENTERPRISE]["department"], "Navy");

    // Entra's PATCH: capitalised op names, "False" strings, extension paths, value filters.
    let patched = s.patch(&app, &format!("/Users/{id}"), json!([
                {"op": "Replace", "path": "displayName", "value": "Rear Admiral Hopper"},
                {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Computing"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ghopper@entra-co.example"},
                {"op": "Replace", "path": "name.givenName", "value": "Grace B."}
            ]))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["displayName"], "Rear Admiral Hopper");
    assert_eq!(patched.body[ENTERPRISE]["department"], "Computing");
    assert_eq!(
        patched.body["emails"][0]["value"],
        "ghopper@entra-co.example"
    );
    assert_eq!(s.user(&app, &id).await["email"], "ghopper@entra-co.example");

    // Groups: looked up without members, created with an object id, members added and
    // removed with Entra's `remove` carrying a value list.
    let lookup = s
        .call(
            &app,
            Method::GET,
            "/Groups?excludedAttributes=members&filter=displayName+eq+%22Ops%22",
            None,
        )
        .await;
    assert_eq!(lookup.body["totalResults"], 0);
    let group = s
        .call(
            &app,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "externalId": "6a3c0d39-d1b2-4e57-8a2b-1e3f0c9d8e7f", "displayName": "Ops", "members": []})),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_string();
    let add = s
        .patch(
            &app,
            &format!("/Groups/{gid}"),
            json!([{"op": "Add", "path": "members", "value": [{"value": id}]}]),
        )
        .await;
    assert_eq!(add.status, StatusCode::OK, "{}", add.body);
    let listed = s
        .call(
            &app,
            Method::GET,
            "/Groups?excludedAttributes=members&filter=displayName+eq+%22ops%22",
            None,
        )
        .await;
    assert_eq!(listed.body["totalResults"], 1);
    assert!(listed.body["Resources"][0].get("members").is_none());
    let remove = s
        .patch(
            &app,
            &format!("/Groups/{gid}"),
            json!([{"op": "Remove", "path": "members", "value": [{"value": id}]}]),
        )
        .await;
    assert_eq!(remove.status, StatusCode::OK, "{}", remove.body);
    assert!(remove.body.get("members").is_none(), "{}", remove.body);

    let off = s
        .patch(
            &app,
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(off.body["active"], false, "{}", off.body);
    let deleted = s
        .call(&app, Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let after = s
        .call(&app, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(error_type(&after).0, "404");
    let r = app
        .api(&s.admin, Method::GET, &format!("/users/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(app
        .audit_actions(&s.tenant)
        .await
        .contains(&"scim_user.deleted".to_string()));
}

#[tokio::test]
async fn scim_groups_reach_roles_through_the_role_mapper() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "roles-co").await;
    let catalogue = json!({
        "roles": ["admin", "member"],
        "default_role": "member",
        "group_mappings": [
            {"group_id": "Admins", "role": "admin"},
            {"group_id": "0b1c-object-id", "role": "admin"}
        ]
    });
    let put = app
        .api(&s.admin, Method::PUT, "/catalogue", Some(catalogue))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let id = s
        .call(
            &app,
            Method::POST,
            "/Users",
            Some(okta_user("lin@roles-co.example", "Lin", "Chen")),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.user(&app, &id).await["roles"], json!([]));

    // Okta's group, named by displayName.
    let admins = s
        .call(
            &app,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Admins", "members": [{"value": id}]})),
        )
        .await;
    assert_eq!(admins.status, StatusCode::CREATED, "{}", admins.body);
    assert_eq!(s.user(&app, &id).await["roles"], json!(["admin"]));
    let gid = admins.body["id"].as_str().unwrap().to_string();
    s.patch(
        &app,
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": "members"}]),
    )
    .await;
    assert_eq!(s.user(&app, &id).await["roles"], json!([]));

    // Entra's group, named by its object id (externalId), mapped by it; renaming keeps it.
    let other = s
        .call(
            &app,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "externalId": "0b1c-object-id", "displayName": "Tenant admins", "members": [{"value": id}]})),
        )
        .await;
    assert_eq!(s.user(&app, &id).await["roles"], json!(["admin"]));
    let other_id = other.body["id"].as_str().unwrap().to_string();
    s.patch(
        &app,
        &format!("/Groups/{other_id}"),
        json!([{"op": "replace", "path": "displayName", "value": "Admins (EU)"}]),
    )
    .await;
    assert_eq!(s.user(&app, &id).await["roles"], json!(["admin"]));
    // Deleting the group takes the role away.
    s.call(&app, Method::DELETE, &format!("/Groups/{other_id}"), None)
        .await;
    assert_eq!(s.user(&app, &id).await["roles"], json!([]));

    // A member that is no user of this tenant is refused, and nothing changes.
    let stranger = s
        .call(&app, Method::POST, "/Groups", Some(json!({"schemas": [GROUP], "displayName": "Ghosts", "members": [{"value": "0190c0de-0000-7000-8000-000000000000"}]})))
        .await;
    assert_eq!(error_type(&stranger), ("400", "invalidValue"));
    let all = s.call(&app, Method::GET, "/Groups", None).await;
    assert_eq!(all.body["totalResults"], 1, "{}", all.body);
}

#[tokio::test]
async fn etags_make_writes_conditional() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "etag-co").await;
    let created = s
        .call(
            &app,
            Method::POST,
            "/Users",
            Some(okta_user("e@etag-co.example", "E", "Tag")),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let url = format!("{}/Users/{id}", s.base);
    let cached = send(
        &app,
        Some(&s.token),
        Method::GET,
        &url,
        None,
        &[("if-none-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    let stale = send(
        &app,
        Some(&s.token),
        Method::PUT,
        &url,
        Some(okta_user("e@etag-co.example", "E", "Changed").to_string()),
        &[("if-match", "W/\"7\"")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(error_type(&stale).0, "412");
    let fresh = send(
        &app,
        Some(&s.token),
        Method::PUT,
        &url,
        Some(okta_user("e@etag-co.example", "E", "Changed").to_string()),
        &[("if-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(fresh.headers["etag"], "W/\"2\"");
    let again = send(
        &app,
        Some(&s.token),
        Method::GET,
        &url,
        None,
        &[("if-none-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    let delete = send(
        &app,
        Some(&s.token),
        Method::DELETE,
        &url,
        None,
        &[("if-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(delete.status, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn bulk_resolves_references_and_stops_after_the_allowed_errors() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "bulk-co").await;
    // The group refers to a user created later in the same request.
    let r = s
        .call(
            &app,
            Method::POST,
            "/Bulk",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "path": "/Groups", "bulkId": "g1",
                     "data": {"schemas": [GROUP], "displayName": "Bulkers", "members": [{"type": "User", "value": "bulkId:u1"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "u1", "data": okta_user("b1@bulk-co.example", "B", "One")},
                    {"method": "PATCH", "path": "/Users/bulkId:u1",
                     "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Lead"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "dup", "data": okta_user("b1@bulk-co.example", "B", "Again")},
                    {"method": "DELETE", "path": "/Users/bulkId:nobody"}
                ]
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    let ops = r.body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "409", "409"], "{}", r.body);
    assert_eq!(ops[0]["bulkId"], "g1");
    assert!(ops[1]["location"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/Users/", s.base)));
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    let group = s
        .call(
            &app,
            Method::GET,
            "/Groups?filter=displayName+eq+%22Bulkers%22",
            None,
        )
        .await;
    let uid = ops[1]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    assert_eq!(group.body["Resources"][0]["members"][0]["value"], uid);
    assert_eq!(
        s.call(&app, Method::GET, &format!("/Users/{uid}"), None)
            .await
            .body["title"],
        "Lead"
    );

    // failOnErrors: 1 stops at the first error; later operations do not run.
    let r = s
        .call(
            &app,
            Method::POST,
            "/Bulk",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "failOnErrors": 1,
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"schemas": [USER]}},
                    {"method": "POST", "path": "/Users", "bulkId": "y", "data": okta_user("never@bulk-co.example", "N", "Ever")}
                ]
            })),
        )
        .await;
    assert_eq!(
        r.body["Operations"].as_array().unwrap().len(),
        1,
        "{}",
        r.body
    );
    let never = s
        .call(
            &app,
            Method::GET,
            "/Users?filter=userName+eq+%22never%40bulk-co.example%22",
            None,
        )
        .await;
    assert_eq!(never.body["totalResults"], 0);
    let config = s
        .call(&app, Method::GET, "/ServiceProviderConfig", None)
        .await;
    let max = config.body["bulk"]["maxOperations"].as_u64().unwrap() as usize;
    let too_many: Vec<Value> = (0..=max)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
        .collect();
    let r = s
        .call(&app, Method::POST, "/Bulk", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": too_many})))
        .await;
    assert_eq!(error_type(&r).0, "413");
}

#[tokio::test]
async fn lists_filter_sort_page_and_project() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "list-co").await;
    for (i, name) in ["carol", "Alice", "bob", "dave", "erin"].iter().enumerate() {
        let mut u = okta_user(&format!("{name}@list-co.example"), name, "X");
        if i % 2 == 0 {
            u["emails"] = json!([{"value": format!("{name}@home.example"), "type": "home"}, {"value": format!("{name}@x.example"), "type": "work"}]);
        }
        let r = s.call(&app, Method::POST, "/Users", Some(u)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let q = |f: &str| format!("/Users?filter={}", url_escape(f));
    let complex = s
        .call(
            &app,
            Method::GET,
            &q("emails[type eq \"work\" and value co \"@x.\"]"),
            None,
        )
        .await;
    assert_eq!(complex.body["totalResults"], 3, "{}", complex.body);
    let either = s
        .call(&app, Method::GET, &q("(userName sw \"A\" or userName ew \"b@list-co.example\") and not (active eq false)"), None)
        .await;
    assert_eq!(either.body["totalResults"], 2, "{}", either.body);
    let sorted = s
        .call(
            &app,
            Method::GET,
            "/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2&attributes=userName",
            None,
        )
        .await;
    assert_eq!(sorted.body["totalResults"], 5);
    assert_eq!(sorted.body["startIndex"], 2);
    assert_eq!(sorted.body["itemsPerPage"], 2);
    let names: Vec<&str> = sorted.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dave@list-co.example", "carol@list-co.example"]);
    let first = &sorted.body["Resources"][0];
    assert!(
        first.get("emails").is_none() && first.get("id").is_some(),
        "{first}"
    );
    let search = s
        .call(
            &app,
            Method::POST,
            "/Users/.search",
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "name.givenName eq \"BOB\"", "excludedAttributes": ["emails"]})),
        )
        .await;
    assert_eq!(search.body["totalResults"], 1, "{}", search.body);
    assert!(search.body["Resources"][0].get("emails").is_none());
    let meta = s
        .call(
            &app,
            Method::GET,
            &q("meta.created gt \"2000-01-01T00:00:00Z\""),
            None,
        )
        .await;
    assert_eq!(meta.body["totalResults"], 5, "{}", meta.body);
    let zero = s.call(&app, Method::GET, "/Users?count=0", None).await;
    assert_eq!(
        (
            zero.body["totalResults"].as_u64(),
            zero.body["Resources"].as_array().map(Vec::len)
        ),
        (Some(5), Some(0))
    );
    let schemas = s.call(&app, Method::GET, "/Schemas", None).await;
    assert_eq!(schemas.body["totalResults"], 3);
    let types = s.call(&app, Method::GET, "/ResourceTypes/User", None).await;
    assert_eq!(types.body["schemaExtensions"][0]["schema"], ENTERPRISE);
}

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn bad_input_gets_scim_errors_and_writes_nothing() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "bad-co").await;
    let other = scim_tenant(&app, "other-co").await;
    let url = format!("{}/Users", s.base);
    let post = |body: &str| {
        send(
            &app,
            Some(&s.token),
            Method::POST,
            &url,
            Some(body.to_string()),
            &[],
        )
    };

    assert_eq!(
        error_type(&post("{\"userName\": ").await),
        ("400", "invalidSyntax")
    );
    assert_eq!(error_type(&post("[1, 2]").await), ("400", "invalidSyntax"));
    assert_eq!(
        error_type(
            &post(
                &json!({"schemas": [USER], "userName": "u@bad-co.example", "shoeSize": 44})
                    .to_string()
            )
            .await
        ),
        ("400", "invalidSyntax")
    );
    assert_eq!(
        error_type(
            &post(
                &json!({"schemas": [USER], "userName": "u@bad-co.example", "active": "perhaps"})
                    .to_string()
            )
            .await
        ),
        ("400", "invalidValue")
    );
    assert_eq!(
        error_type(&post(&json!({"schemas": [USER], "displayName": "nobody"}).to_string()).await),
        ("400", "invalidValue")
    );
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(40), ")".repeat(40));
    let long = format!("userName eq \"{}\"", "a".repeat(5000));
    for f in [
        "userName eq".to_string(),
        "userName zz \"a\"".into(),
        deep,
        long,
    ] {
        let u = format!("{url}?filter={}", url_escape(&f));
        let r = send(&app, Some(&s.token), Method::GET, &u, None, &[]).await;
        assert_eq!(error_type(&r), ("400", "invalidFilter"), "{f:.40}");
    }
    let patch = send(
        &app,
        Some(&s.token),
        Method::PATCH,
        &format!("{url}/nope"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]}).to_string()),
        &[],
    )
    .await;
    assert_eq!(error_type(&patch).0, "404");

    // Larger than server.max_body_bytes: 413 in SCIM form.
    let huge = json!({"schemas": [USER], "userName": "big@bad-co.example", "nickName": "x".repeat(app.config.server.max_body_bytes)});
    let big = post(&huge.to_string()).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_type(&big).0, "413");
    let no_body = send(
        &app,
        Some(&s.token),
        Method::POST,
        &url,
        None,
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(error_type(&no_body), ("400", "invalidSyntax"), "no body");
    let xml = app
        .client
        .post(&url)
        .bearer_auth(&s.token)
        .header("content-type", "application/xml")
        .body("<user/>")
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(xml.headers()["content-type"], "application/scim+json");

    // Credentials: none, not SCIM's, another tenant's.
    let none = send(&app, None, Method::GET, &url, None, &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(none.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(error_type(&none).0, "401");
    let forged = send(&app, Some("ght_nope"), Method::GET, &url, None, &[]).await;
    assert_eq!(error_type(&forged).0, "401");
    let (_, reader) = app.tenant_token(&s.tenant, &["audit:read"]).await;
    let scope = send(&app, Some(&reader), Method::GET, &url, None, &[]).await;
    assert_eq!(error_type(&scope).0, "403");
    let cross = send(
        &app,
        Some(&other.token),
        Method::POST,
        &url,
        Some(okta_user("x@bad-co.example", "X", "Y").to_string()),
        &[],
    )
    .await;
    assert_eq!(error_type(&cross).0, "404");
    // The token's own tenant, without a token in the URL, is the other tenant: still nothing here.
    let own = send(
        &app,
        Some(&other.token),
        Method::GET,
        &format!("{}/scim/v2/Users", app.url),
        None,
        &[],
    )
    .await;
    assert_eq!(own.body["totalResults"], 0);

    let listed = s.call(&app, Method::GET, "/Users", None).await;
    assert_eq!(listed.body["totalResults"], 0, "{}", listed.body);
    assert!(!app
        .audit_actions(&s.tenant)
        .await
        .iter()
        .any(|a| a.starts_with("scim_")));
    assert!(!app
        .audit_actions(&other.tenant)
        .await
        .iter()
        .any(|a| a.starts_with("scim_")));
}

#[tokio::test]
async fn a_tenants_scim_adapter_rewrites_requests_and_fails_closed() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "fixer-co").await;
    let wasm = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/dist/scim-fixer.wasm"
    ))
    .unwrap();
    let up = app
        .upload(
            &s.admin,
            "/api/v1",
            "name=scim-fixer&version=1",
            wasm,
            "application/wasm",
        )
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    let plugin = up.body["id"].as_str().unwrap();
    let assign = app
        .api(
            &s.admin,
            Method::PUT,
            "/pipeline/scim-adapter",
            Some(json!({"plugin_id": plugin})),
        )
        .await;
    assert_eq!(assign.status, StatusCode::OK, "{}", assign.body);
    let created = s
        .call(
            &app,
            Method::POST,
            "/Users",
            Some(okta_user("f@fixer-co.example", "F", "X")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // Text the adapter cannot read: it refuses, the request fails closed and is audited.
    let refused = send(
        &app,
        Some(&s.token),
        Method::POST,
        &format!("{}/Users", s.base),
        Some("not json".into()),
        &[],
    )
    .await;
    assert_eq!(error_type(&refused).0, "403", "{}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("scim-adapter"),
        "{}",
        refused.body
    );
    assert!(app
        .audit_actions(&s.tenant)
        .await
        .contains(&"plugin.failed".to_string()));
}

/// Signs `email` in through the SAML IdP; returns the response (303 with a session cookie
/// on success).
async fn saml_sign_in(app: &TestApp, email: &str, first: &str) -> reqwest::Response {
    use crate::saml::{at_idp, login_page, post_bound, user};
    let (location, binding) = login_page(app, email).await;
    let mut who = user(email, &["engineering"]);
    who["attributes"]["firstName"] = json!([first]);
    let (action, fields) = at_idp(&location, &who).await;
    post_bound(&action, &fields, &binding).await
}

async fn account_status(app: &TestApp, session: &str) -> StatusCode {
    crate::saml::browser()
        .get(format!("{}/account", app.url))
        .header("cookie", session)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn deprovisioning_cuts_sessions_off_and_sso_never_undoes_it() {
    let setup = crate::saml::setup("life-co", json!({})).await;
    let app = &setup.app;
    let s = scim_for(app, setup.tenant.clone()).await;
    let email = "ada@life-co.example";
    let mut body = okta_user(email, "Augusta", "King");
    body["displayName"] = json!("Countess of Lovelace");
    let id = s.call(app, Method::POST, "/Users", Some(body)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.user(app, &id).await["status"], "pending");

    // The first SSO login links to the pending user and activates it; SCIM's attributes stay.
    let done = saml_sign_in(app, email, "Ada").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let session = crate::saml::cookie(&done);
    assert_eq!(account_status(app, &session).await, StatusCode::OK);
    let user = s.user(app, &id).await;
    assert_eq!(user["status"], "active");
    assert_eq!(user["given_name"], "Augusta", "SCIM owns the profile");
    assert_eq!(user["display_name"], "Countess of Lovelace");
    let linked = crate::saml::last_event(app, &s.tenant, "login.succeeded").await;
    assert_eq!(linked["after"]["outcome"], "linked");

    // `active: false` revokes the live session in the same request.
    let off = s
        .patch(
            app,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(
        account_status(app, &session).await,
        StatusCode::SEE_OTHER,
        "the session is gone"
    );
    // A login does not bring the user back.
    let refused = saml_sign_in(app, email, "Ada").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("user_deactivated"));
    assert_eq!(s.user(app, &id).await["status"], "deactivated");

    // Reactivated by SCIM: active again (it has signed in before), and logins work.
    let on = s
        .patch(
            app,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": true}]),
        )
        .await;
    assert_eq!(on.body["active"], true);
    assert_eq!(s.user(app, &id).await["status"], "active");
    // The session was revoked, not merely hidden while the user was inactive.
    assert_eq!(account_status(app, &session).await, StatusCode::SEE_OTHER);
    let back = saml_sign_in(app, email, "Ada").await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let session = crate::saml::cookie(&back);

    // DELETE removes the user and everything it could sign in with.
    let deleted = s
        .call(app, Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(account_status(app, &session).await, StatusCode::SEE_OTHER);
    let event = crate::saml::last_event(app, &s.tenant, "scim_user.deactivated").await;
    assert_eq!(event["before"]["active"], true);
    assert_eq!(event["after"]["active"], false);
}

#[tokio::test]
async fn a_scim_create_adopts_the_user_an_sso_login_made() {
    let setup = crate::saml::setup("adopt-co", json!({})).await;
    let app = &setup.app;
    let s = scim_for(app, setup.tenant.clone()).await;
    let email = "jit@adopt-co.example";
    assert_eq!(
        saml_sign_in(app, email, "Jit").await.status(),
        StatusCode::SEE_OTHER
    );
    let created = s
        .call(
            app,
            Method::POST,
            "/Users",
            Some(okta_user(email, "Jay", "Doe")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let user = s.user(app, id).await;
    assert_eq!(
        (user["source"].as_str(), user["status"].as_str()),
        (Some("scim"), Some("active"))
    );
    assert_eq!(user["given_name"], "Jay");
    let event = crate::saml::last_event(app, &s.tenant, "scim_user.created").await;
    assert_eq!(event["before"]["email"], email, "{event}");
    // The group that login made ("engineering") is adopted by a SCIM create of that name,
    // with a member id written in upper case.
    let group = s
        .call(
            app,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "engineering", "members": [{"value": id.to_uppercase()}]})),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    assert_eq!(group.body["members"][0]["value"], id);
    // From now on a login leaves the profile to SCIM.
    assert_eq!(
        saml_sign_in(app, email, "Jit").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(s.user(app, id).await["given_name"], "Jay");
}

#[tokio::test]
async fn a_scim_token_rotates_with_an_overlap_and_revokes() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "rotate-co").await;
    let url = format!("{}/Users", s.base);
    let tokens = app.api(&s.admin, Method::GET, "/tokens", None).await;
    let old_id = tokens.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scopes"] == json!(["scim"]))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotated = app
        .api(
            &s.admin,
            Method::POST,
            &format!("/tokens/{old_id}/rotate"),
            Some(json!({"overlap_seconds": 3600})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    let new = rotated.body["token"].as_str().unwrap().to_string();
    for token in [&s.token, &new] {
        let r = send(&app, Some(token), Method::GET, &url, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let revoked = app
        .api(&s.admin, Method::DELETE, &format!("/tokens/{old_id}"), None)
        .await;
    assert!(revoked.status.is_success(), "{}", revoked.body);
    let r = send(&app, Some(&s.token), Method::GET, &url, None, &[]).await;
    assert_eq!(error_type(&r).0, "401");
    let r = send(&app, Some(&new), Method::GET, &url, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_and_concurrent_membership_changes_are_bounded_and_land_whole() {
    let app = crate::helpers::spawn_app_with(|c| c.server.max_body_bytes = 1024 * 1024).await;
    let s = scim_tenant(&app, "crowd-co").await;
    let catalogue = json!({"roles": ["admin", "member"], "default_role": "member",
        "group_mappings": [{"group_id": "Crowd", "role": "admin"}]});
    let put = app
        .api(&s.admin, Method::PUT, "/catalogue", Some(catalogue))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    // 1,001 users through Bulk (1,000 operations at most per request).
    let mut ids = Vec::new();
    for batch in 0..2 {
        let n = if batch == 0 { 1000 } else { 1 };
        let ops: Vec<Value> = (0..n)
            .map(|i| {
                json!({"method": "POST", "bulkId": format!("u{i}"), "path": "/Users",
                "data": {"schemas": [USER], "userName": format!("u{batch}-{i}@crowd-co.example")}})
            })
            .collect();
        let r = s
            .call(&app, Method::POST, "/Bulk", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for op in r.body["Operations"].as_array().unwrap() {
            assert_eq!(op["status"], "201", "{op}");
            ids.push(
                op["location"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    let group = s
        .call(
            &app,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Crowd"})),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_string();
    let add = |users: &[String]| {
        json!([{"op": "add", "path": "members",
            "value": users.iter().map(|u| json!({"value": u})).collect::<Vec<_>>()}])
    };

    // More than 1,000 membership changes in one request: refused, nothing written.
    let r = s.patch(&app, &format!("/Groups/{gid}"), add(&ids)).await;
    assert_eq!(error_type(&r), ("400", "invalidValue"), "{}", r.body);
    let g = s
        .call(&app, Method::GET, &format!("/Groups/{gid}"), None)
        .await;
    assert!(g.body.get("members").is_none(), "{}", g.body);
    assert_eq!(s.user(&app, &ids[0]).await["roles"], json!([]));

    // 1,000 at once are fine, and each member gets the group's role.
    let r = s
        .patch(&app, &format!("/Groups/{gid}"), add(&ids[..1000]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1000);
    assert_eq!(s.user(&app, &ids[999]).await["roles"], json!(["admin"]));

    // Concurrent PATCHes of one group (removals, from several clients): each lands whole or
    // (after repeated conflicts) not at all, and roles follow membership exactly.
    let mut clients = Vec::new();
    for chunk in ids[..40].chunks(8) {
        let (base, token, http, gid) = (
            s.base.clone(),
            s.token.clone(),
            app.client.clone(),
            gid.clone(),
        );
        let chunk = chunk.to_vec();
        clients.push(tokio::spawn(async move {
            let body = json!({"schemas": [PATCH_OP], "Operations": chunk.iter().map(|u|
                json!({"op": "remove", "path": format!("members[value eq \"{u}\"]")})).collect::<Vec<_>>()});
            let status = http
                .patch(format!("{base}/Groups/{gid}"))
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .status();
            (chunk, status)
        }));
    }
    let mut outcomes = Vec::new();
    for c in clients {
        outcomes.push(c.await.unwrap());
    }
    let g = s
        .call(&app, Method::GET, &format!("/Groups/{gid}"), None)
        .await;
    let members: Vec<String> = g.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    let landed = outcomes
        .iter()
        .filter(|(_, st)| *st == StatusCode::OK)
        .count();
    assert!(landed >= 1, "no concurrent change landed");
    for (chunk, status) in &outcomes {
        assert!(
            *status == StatusCode::OK || *status == StatusCode::CONFLICT,
            "{status}"
        );
        for u in chunk {
            assert_eq!(
                members.contains(u),
                *status == StatusCode::CONFLICT,
                "{u} after {status}"
            );
            let roles = s.user(&app, u).await["roles"].clone();
            assert_eq!(
                roles == json!(["admin"]),
                members.contains(u),
                "{u}: {roles}"
            );
        }
    }
}

/// The ids a listing returned, sorted.
fn listed_ids(r: &Resp) -> Vec<String> {
    let mut ids: Vec<String> = r.body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.body))
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn filters_narrowed_in_sql_find_exactly_what_the_full_scan_finds() {
    let app = crate::helpers::spawn_app_with(|c| c.server.max_body_bytes = 1024 * 1024).await;
    let s = scim_tenant(&app, "filter-co").await;
    let people = [
        (
            "Ada@Filter-Co.example",
            Some("ext-1"),
            "Ada Lovelace",
            true,
            "Engineering",
        ),
        (
            "bob@filter-co.example",
            Some("EXT-2"),
            "Bob 100% \"Quoted\"",
            true,
            "Sales",
        ),
        (
            "carla_x@filter-co.example",
            None,
            "Carla Zoë",
            false,
            "Engineering",
        ),
        ("dave@other.example", Some("ext-4"), "Dave", true, "R&D"),
        (
            "erin@filter-co.example",
            Some("ext-5"),
            "Erin back\\slash",
            true,
            "Sales",
        ),
    ];
    for (name, ext, display, active, dept) in people {
        let mut body = json!({"schemas": [USER, ENTERPRISE], "userName": name, "displayName": display,
            "active": active, "emails": [{"value": name.to_lowercase(), "type": "work", "primary": true}],
            ENTERPRISE: {"department": dept}});
        if let Some(e) = ext {
            body["externalId"] = json!(e);
        }
        let r = s.call(&app, Method::POST, "/Users", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let g = s
        .call(
            &app,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Ops Team", "externalId": "g-1"})),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    s.call(
        &app,
        Method::POST,
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "ops"})),
    )
    .await;

    let user_filters = [
        r#"userName eq "ADA@filter-co.example""#,
        r#"userName ne "ada@filter-co.example""#,
        r#"userName co "FILTER""#,
        r#"userName sw "carla_""#,
        r#"userName ew ".EXAMPLE""#,
        r#"userName gt "c""#,
        r#"userName le "bob@filter-co.example""#,
        r#"userName pr"#,
        r#"externalId eq "ext-1""#,
        r#"externalId eq "EXT-1""#,
        r#"externalId co "xt""#,
        r#"externalId sw "EXT""#,
        r#"externalId pr"#,
        r#"externalId ne "ext-1""#,
        r#"emails co "other""#,
        r#"emails.value eq "BOB@filter-co.example""#,
        r#"emails[type eq "work" and value sw "ada"]"#,
        r#"displayName co "100%""#,
        r#"displayName eq "Bob 100% \"Quoted\"""#,
        r#"displayName co "back\\slash""#,
        r#"displayName co "zoë""#,
        r#"active eq true"#,
        r#"active eq false"#,
        r#"active ne false"#,
        r#"meta.lastModified gt "2000-01-01T00:00:00Z""#,
        r#"meta.created lt "2000-01-01T00:00:00Z""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "engineering""#,
        r#"userName sw "a" or externalId eq "ext-4""#,
        r#"userName sw "a" and active eq true"#,
        r#"not (active eq true)"#,
        r#"name.familyName eq "nobody""#,
        r#"title pr"#,
    ];
    for f in user_filters {
        let narrowed = s
            .call(
                &app,
                Method::GET,
                &format!("/Users?filter={}", urlencode(f)),
                None,
            )
            .await;
        assert_eq!(narrowed.status, StatusCode::OK, "{f}: {}", narrowed.body);
        // An `or` with a branch SQL cannot say reads every row: the in-memory truth.
        let full = format!("({f}) or not (userName pr)");
        let scanned = s
            .call(
                &app,
                Method::GET,
                &format!("/Users?filter={}", urlencode(&full)),
                None,
            )
            .await;
        assert_eq!(listed_ids(&narrowed), listed_ids(&scanned), "{f}");
    }
    for f in [
        r#"displayName eq "OPS""#,
        r#"displayName sw "Ops ""#,
        r#"externalId eq "g-1""#,
        r#"displayName gt "ops""#,
    ] {
        let narrowed = s
            .call(
                &app,
                Method::GET,
                &format!("/Groups?filter={}", urlencode(f)),
                None,
            )
            .await;
        let full = format!("({f}) or not (displayName pr)");
        let scanned = s
            .call(
                &app,
                Method::GET,
                &format!("/Groups?filter={}", urlencode(&full)),
                None,
            )
            .await;
        assert_eq!(listed_ids(&narrowed), listed_ids(&scanned), "{f}");
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_filter_sql_cannot_narrow_is_refused_past_the_scan_limit() {
    let app = crate::helpers::spawn_app_with(|c| c.scim.max_scan_rows = 20).await;
    let s = scim_tenant(&app, "scan-co").await;
    let ops: Vec<Value> = (0..30)
        .map(|i| {
            json!({"method": "POST", "bulkId": format!("u{i}"), "path": "/Users",
            "data": {"schemas": [USER], "userName": format!("u{i}@scan-co.example")}})
        })
        .collect();
    let r = s
        .call(&app, Method::POST, "/Bulk", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Narrowed in SQL: fine, however many users the tenant has.
    let one = s
        .call(
            &app,
            Method::GET,
            "/Users?filter=userName%20eq%20%22u7%40scan-co.example%22",
            None,
        )
        .await;
    assert_eq!(one.body["totalResults"], 1, "{}", one.body);
    // Unfiltered: paged in SQL, with the real total.
    let page = s
        .call(&app, Method::GET, "/Users?startIndex=11&count=5", None)
        .await;
    assert_eq!(page.body["totalResults"], 30, "{}", page.body);
    assert_eq!(page.body["Resources"].as_array().unwrap().len(), 5);
    assert_eq!(page.body["startIndex"], 11);
    // Not narrowable: more than 20 rows to examine is refused in SCIM form.
    for path in [
        "/Users?filter=not%20(userName%20eq%20%22x%22)",
        "/Users?sortBy=userName",
    ] {
        let r = s.call(&app, Method::GET, path, None).await;
        assert_eq!(error_type(&r), ("400", "tooMany"), "{path}: {}", r.body);
    }
    // A search inside Bulk is refused per operation; a Bulk of them cannot scan a tenant 1,000 times.
    let r = s
        .call(&app, Method::POST, "/Bulk", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "POST", "path": "/Users/.search", "bulkId": "s", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}}]})))
        .await;
    assert_eq!(r.body["Operations"][0]["status"], "400", "{}", r.body);
}
