//! Per-connection IdP adapters and slot history: two connections of one tenant, made from
//! the Okta and Entra presets, each read their own IdP's group claim through real SAML
//! sign-ins at the test IdP; a connection's adapter and a pipeline stage keep a history and
//! roll back to an earlier version, which the next real sign-in uses.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::peers;
use crate::saml::{at_idp, browser, events, last_event, post_bound};

/// An Entra group's object id, as Entra sends it in the groups claim.
const ENTRA_GROUP: &str = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b";
const ENTRA_GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
const ENTRA_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
const ENTRA_OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";

pub(crate) struct Tenant {
    pub(crate) app: TestApp,
    pub(crate) tenant: String,
    pub(crate) token: String,
    public_token: String,
    pub(crate) idp: String,
}

pub(crate) async fn tenant(slug: &str) -> Tenant {
    tenant_in(spawn_app().await, slug).await
}

/// [`tenant`] in an app started by the caller.
pub(crate) async fn tenant_in(app: TestApp, slug: &str) -> Tenant {
    let tenant = app.create_tenant(slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let catalogue = json!({
        "roles": ["member", "okta_admin", "entra_admin", "editor"],
        "default_role": "member",
        "scopes": [{"kind": "space", "name": "Docs"}],
        "group_mappings": [
            {"group_id": "okta-admins", "role": "okta_admin"},
            {"group_id": ENTRA_GROUP, "role": "entra_admin"}
        ]
    });
    let r = app
        .api(&token, Method::PUT, "/catalogue", Some(catalogue))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let public_token = app
        .op(Method::GET, &format!("/tenants/{tenant}"), None)
        .await
        .body["public_token"]
        .as_str()
        .unwrap()
        .to_string();
    Tenant {
        app,
        tenant,
        token,
        public_token,
        idp: peers::saml_idp(),
    }
}

/// A SAML connection made from the test IdP's metadata with `preset` (if any), enabled and
/// registered at the IdP; returns its id.
pub(crate) async fn connection(t: &Tenant, name: &str, preset: Option<&str>) -> String {
    let metadata = reqwest::get(format!("{}/metadata", t.idp))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    connection_with(t, name, json!({"metadata_xml": metadata}), preset).await
}

/// A SAML connection with these `saml` settings (and `preset`, if any), enabled and
/// registered at the test IdP; returns its id.
pub(crate) async fn connection_with(
    t: &Tenant,
    name: &str,
    saml: Value,
    preset: Option<&str>,
) -> String {
    let mut body = json!({"name": name, "status": "enabled", "saml": saml});
    if let Some(preset) = preset {
        body["preset"] = json!(preset);
    }
    let r = t
        .app
        .api(&t.token, Method::POST, "/sso/connections", Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let sp = r.body["saml"]["service_provider"]["metadata_url"]
        .as_str()
        .unwrap();
    let sp_metadata = reqwest::get(sp).await.unwrap().text().await.unwrap();
    let registered = reqwest::Client::new()
        .post(format!("{}/sp", t.idp))
        .body(sp_metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::NO_CONTENT);
    r.body["id"].as_str().unwrap().to_string()
}

/// Sends `who` through `connection`'s sign-in (SP-initiated, from its start link) and
/// returns the ACS's answer.
pub(crate) async fn attempt(t: &Tenant, connection: &str, who: &Value) -> reqwest::Response {
    let start = browser()
        .get(format!(
            "{}/sso/start/{}/{connection}",
            t.app.url, t.public_token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let binding: Vec<String> = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let (action, fields) = at_idp(&location, who).await;
    post_bound(&action, &fields, &binding.join("; ")).await
}

/// Signs `who` in through `connection` (SP-initiated, from its start link) and returns the
/// user's effective roles, sorted.
pub(crate) async fn sign_in(t: &Tenant, connection: &str, who: &Value) -> Vec<String> {
    let done = attempt(t, connection, who).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    let succeeded = last_event(&t.app, &t.tenant, "login.succeeded").await;
    let user = succeeded["target"]["id"].as_str().unwrap().to_string();
    let view = t
        .app
        .api(&t.token, Method::GET, &format!("/users/{user}"), None)
        .await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.body);
    let mut roles: Vec<String> = view.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    roles.sort();
    roles
}

fn okta_user(email: &str, groups: &[&str]) -> Value {
    json!({"name_id": email, "attributes": {"email": [email], "firstName": ["Ada"], "groups": groups}})
}

fn entra_user(email: &str, object_id: &str) -> Value {
    json!({"name_id": email, "attributes": {
        ENTRA_EMAIL: [email],
        ENTRA_OBJECT_ID: [object_id],
        ENTRA_GROUPS: [ENTRA_GROUP],
    }})
}

pub(crate) async fn plugin_id(t: &Tenant, name: &str) -> String {
    let r = t.app.api(&t.token, Method::GET, "/plugins", None).await;
    r.body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no plugin {name}: {}", r.body))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_okta_and_an_entra_connection_of_one_tenant_each_map_their_own_groups() {
    let t = tenant("two-idps").await;
    let okta = connection(&t, "Okta", Some("okta")).await;
    let entra = connection(&t, "Entra ID", Some("entra")).await;
    for (id, adapter) in [(&okta, "okta-adapter"), (&entra, "entra-adapter")] {
        let r = t
            .app
            .api(
                &t.token,
                Method::GET,
                &format!("/sso/connections/{id}"),
                None,
            )
            .await;
        assert_eq!(r.body["adapter"]["name"], adapter, "{}", r.body);
    }
    let created = events(&t.app, &t.tenant, "sso_connection.adapter_assigned").await;
    assert_eq!(created.len(), 2, "the presets' adapters are audited");

    let okta_roles = sign_in(
        &t,
        &okta,
        &okta_user("ada@two-idps.example", &["okta-admins"]),
    )
    .await;
    assert_eq!(okta_roles, ["okta_admin"]);
    let entra_roles = sign_in(
        &t,
        &entra,
        &entra_user(
            "grace@two-idps.example",
            "0b6f1e9a-1111-4c2d-9e3f-123456789abc",
        ),
    )
    .await;
    assert_eq!(entra_roles, ["entra_admin"]);

    // The Entra dialect through the Okta connection: its adapter does not read Microsoft's
    // group claim, so the group gives nothing there. Each connection reads its own IdP.
    let through_okta = sign_in(
        &t,
        &okta,
        &entra_user(
            "alan@two-idps.example",
            "0b6f1e9a-2222-4c2d-9e3f-123456789abc",
        ),
    )
    .await;
    assert!(through_okta.is_empty(), "{through_okta:?}");

    // A dry-run as a sign-in through a connection runs that connection's adapter.
    let raw = json!({"protocol": "saml", "issuer": "https://idp.example", "subject": "s-1",
        "attributes": [{"name": ENTRA_GROUPS, "values": [ENTRA_GROUP]},
                       {"name": ENTRA_EMAIL, "values": ["x@two-idps.example"]}]});
    for (id, adapter, group) in [
        (&entra, "entra-adapter", true),
        (&okta, "okta-adapter", false),
    ] {
        let r = t
            .app
            .api(
                &t.token,
                Method::POST,
                "/pipeline/dry-run",
                Some(json!({"raw_identity": raw, "connection_id": id})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["stages"][0]["plugin"]["name"], adapter, "{}", r.body);
        let groups = &r.body["stages"][0]["output"]["groups"];
        assert_eq!(groups == &json!([ENTRA_GROUP]), group, "{}", r.body);
    }

    // The whole pipeline shows both adapters.
    let pipeline = t.app.api(&t.token, Method::GET, "/pipeline", None).await;
    assert_eq!(
        pipeline.body["connection_adapters"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{}",
        pipeline.body
    );
}

#[tokio::test]
async fn a_connection_adapter_is_checked_kept_in_history_and_rolled_back() {
    let t = tenant("adapter-history").await;
    let okta = connection(&t, "Okta", Some("okta")).await;
    let path = format!("/sso/connections/{okta}/adapter");

    // Only an idp-adapter may run there.
    let mapper = plugin_id(&t, "default-role-mapper").await;
    let r = t
        .app
        .api(
            &t.token,
            Method::PUT,
            &path,
            Some(json!({"plugin_id": mapper})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("role-mapper"),
        "{}",
        r.body
    );

    // Another tenant's connection is not found, and nothing is written for it.
    let other = t.app.create_tenant("adapter-other").await;
    let (_, other_token) = t.app.tenant_token(&other, &["admin"]).await;
    let generic = plugin_id(&t, "generic-adapter").await;
    let r = t
        .app
        .api(
            &other_token,
            Method::PUT,
            &path,
            Some(json!({"plugin_id": generic})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // A new version for the connection: the generic adapter with a groups attribute.
    let r = t
        .app
        .api(
            &t.token,
            Method::PUT,
            &path,
            Some(json!({"plugin_id": generic, "config": {"groups_attribute": "teams"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["assigned"], true);
    assert_eq!(r.body["connection_id"], okta.as_str());
    let user = json!({"name_id": "ada@adapter-history.example", "attributes": {
        "email": ["ada@adapter-history.example"], "groups": ["okta-admins"], "teams": ["none"]}});
    assert!(sign_in(&t, &okta, &user).await.is_empty());

    let history = t
        .app
        .api(&t.token, Method::GET, &format!("{path}/history"), None)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let entries = history.body["activations"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", history.body);
    assert_eq!(entries[0]["plugin"]["name"], "generic-adapter");
    assert_eq!(entries[0]["config"]["groups_attribute"], "teams");
    assert_eq!(entries[0]["current"], true);
    assert_eq!(entries[0]["activated_by"]["type"], "api_token");
    assert_eq!(entries[1]["plugin"]["name"], "okta-adapter");
    assert_eq!(entries[1]["seq"], 1);

    // Rollback: the Okta adapter again, and the next sign-in maps the group once more.
    let r = t
        .app
        .api(&t.token, Method::POST, &format!("{path}/rollback"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["plugin"]["name"], "okta-adapter");
    assert_eq!(sign_in(&t, &okta, &user).await, ["okta_admin"]);
    let rolled = events(&t.app, &t.tenant, "sso_connection.adapter_rolled_back").await;
    assert_eq!(rolled.last().unwrap()["after"]["restores"], 1);

    // To a named entry; then a reset returns the connection to the tenant's stage.
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            &format!("{path}/rollback?to=2"),
            None,
        )
        .await;
    assert_eq!(r.body["plugin"]["name"], "generic-adapter", "{}", r.body);
    assert_eq!(r.body["config"]["groups_attribute"], "teams");
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            &format!("{path}/rollback?to=9"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = t.app.api(&t.token, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["assigned"], false);
    assert_eq!(
        r.body["plugin"]["name"], "generic-adapter",
        "the tenant's stage"
    );
    let entries = t
        .app
        .api(&t.token, Method::GET, &format!("{path}/history"), None)
        .await
        .body["activations"]
        .clone();
    let kinds: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "reset",
            "rolled_back",
            "rolled_back",
            "assigned",
            "assigned"
        ]
    );

    // Deleting the connection deletes its adapter with it.
    let r = t
        .app
        .api(
            &t.token,
            Method::PUT,
            &path,
            Some(json!({"plugin_id": generic})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .app
        .api(
            &t.token,
            Method::DELETE,
            &format!("/sso/connections/{okta}"),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(
        t.app
            .scalar("SELECT COUNT(*) FROM connection_adapters")
            .await,
        0
    );
}

#[tokio::test]
async fn a_stage_rolls_back_to_the_version_and_configuration_it_had() {
    let t = tenant("stage-rollback").await;
    let saml = connection(&t, "IdP", None).await;
    let mapper = plugin_id(&t, "default-role-mapper").await;
    let put = |config: Value| {
        let body = json!({"plugin_id": mapper, "config": config});
        async {
            let r = t
                .app
                .api(&t.token, Method::PUT, "/pipeline/role-mapper", Some(body))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    let user = json!({"name_id": "ada@stage-rollback.example", "attributes": {
        "email": ["ada@stage-rollback.example"],
        "space_name": ["Docs"], "space_role": ["editor"],
        "dept_space": ["Docs"]}});
    put(json!({})).await;
    assert_eq!(sign_in(&t, &saml, &user).await, ["editor@space:Docs"]);
    // Version two reads the space from another attribute: the user's space role goes.
    put(json!({"space_name_attribute": "other_space"})).await;
    assert!(sign_in(&t, &saml, &user).await.is_empty());
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            "/pipeline/role-mapper/rollback",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["config"], json!({}));
    assert_eq!(sign_in(&t, &saml, &user).await, ["editor@space:Docs"]);

    let history = t
        .app
        .api(&t.token, Method::GET, "/pipeline/role-mapper/history", None)
        .await;
    let entries = history.body["activations"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{}", history.body);
    assert_eq!(entries[0]["kind"], "rolled_back");
    let audit = t.app.audit_actions(&t.tenant).await;
    assert!(
        audit.iter().any(|a| a == "pipeline.stage_rolled_back"),
        "{audit:?}"
    );
    // Nothing before the first entry but the default; a stage never assigned has nothing.
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            "/pipeline/attribute-mapper/rollback",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
}
