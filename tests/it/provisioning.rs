//! A connection's provisioning settings, through a real OIDC provider: with just-in-time
//! creation off only users that SCIM (or an admin) created can sign in, and a connection's
//! default role goes to each user it creates, as an admin's assignment that later sign-ins
//! keep. Bad settings are refused with the field named.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::oidc::{add_account, setup, sign_in_via_provider, Setup};
use crate::saml::last_event;
use crate::scim::scim_for;

/// Signs `account` (email `email`) in through the login page; the final answer.
async fn sign_in(s: &Setup, account: &str, email: &str) -> reqwest::Response {
    sign_in_via_provider(s, account, email, &[]).await
}

async fn set_provisioning(s: &Setup, provisioning: Value) -> crate::helpers::Resp {
    s.app
        .api(
            &s.token,
            Method::PATCH,
            &format!("/sso/connections/{}", s.connection),
            Some(json!({ "provisioning": provisioning })),
        )
        .await
}

#[tokio::test]
async fn with_jit_off_only_known_users_sign_in_and_new_users_get_the_default_role() {
    let s = setup("jit-off", "enabled").await;
    let r = set_provisioning(&s, json!({"jit": false, "default_role": "no-such-role"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.to_string().contains("provisioning"), "{}", r.body);
    let r = set_provisioning(&s, json!({"jit": false, "surprise": 1})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = set_provisioning(&s, json!({"jit": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["provisioning"],
        json!({"jit": false, "default_role": null})
    );
    let updated = last_event(&s.app, &s.tenant, "sso_connection.updated").await;
    assert_eq!(updated["before"]["provisioning"]["jit"], true);
    assert_eq!(updated["after"]["provisioning"]["jit"], false);

    // Nobody has this user: the sign-in is refused, audited, and creates nothing.
    let email = "ada@jit-off.example";
    add_account(&s, "ada-jit-off", email, &[]).await;
    let r = sign_in(&s, "ada-jit-off", email).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("data-code=\"not_provisioned\""));
    let failed = last_event(&s.app, &s.tenant, "login.failed").await;
    assert_eq!(failed["after"]["reason"], "not_provisioned", "{failed}");
    let users = s.app.api(&s.token, Method::GET, "/users", None).await;
    assert_eq!(
        users.body["users"].as_array().map(Vec::len),
        Some(0),
        "{}",
        users.body
    );

    // SCIM creates the user; the same sign-in now links to it.
    let scim = scim_for(&s.app, s.tenant.clone()).await;
    let r = scim
        .call(
            &s.app,
            Method::POST,
            "/Users",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": email, "emails": [{"value": email, "primary": true}]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = sign_in(&s, "ada-jit-off", email).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ok = last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(ok["after"]["outcome"], "linked");

    // JIT on with a default role: a new user gets it, as an admin's assignment.
    let catalogue = json!({"roles": ["member", "viewer"], "default_role": "member"});
    let r = s
        .app
        .api(&s.token, Method::PUT, "/catalogue", Some(catalogue))
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let r = set_provisioning(&s, json!({"jit": true, "default_role": "viewer"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let newbie = "grace@jit-off.example";
    add_account(&s, "grace-jit-off", newbie, &[]).await;
    let r = sign_in(&s, "grace-jit-off", newbie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ok = last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(ok["after"]["outcome"], "provisioned");
    assert_eq!(ok["after"]["user"]["roles"], json!(["viewer"]), "{ok}");
    let id = ok["target"]["id"].as_str().unwrap().to_string();
    let user = s
        .app
        .api(&s.token, Method::GET, &format!("/users/{id}"), None)
        .await;
    assert_eq!(user.body["roles"], json!(["viewer"]), "{}", user.body);
    // A later sign-in keeps it (the role mapper's own roles are replaced, not this one).
    let r = sign_in(&s, "grace-jit-off", newbie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let user = s
        .app
        .api(&s.token, Method::GET, &format!("/users/{id}"), None)
        .await;
    assert_eq!(user.body["roles"], json!(["viewer"]), "{}", user.body);
    // The user who existed before is not given it.
    let users = s.app.api(&s.token, Method::GET, "/users", None).await;
    let ada = users.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .cloned()
        .unwrap();
    assert_eq!(ada["roles"], json!([]), "{ada}");
}
