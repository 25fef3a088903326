//! Roles and permissions end to end: the built-in roles × Gatehouse's admin endpoints through
//! a signed-in session and through tokens; manual assignments and their audit; the decision
//! API (AuthZEN shapes) with each scope kind, the location hierarchy and explanations; the
//! snapshot's ETag and version; an IdP group → scoped role through a real SAML sign-in; a SCIM
//! group → role.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Resp, TestApp};
use crate::local_accounts::{invite, set_password, PASSWORD};
use crate::local_login::password_login;
use crate::saml::{at_idp, cookie, last_event, login_page, post_bound, setup, user};

/// A double-submit CSRF value the test's "browser" chose: cookie and header carry the same.
const CSRF: &str = "cccccccccccccccccccccccccccccccccccccccccc0";

/// A local user of `slug` holding `roles` (manual), signed in: (user id, cookie header).
async fn signed_in(
    app: &TestApp,
    admin: &str,
    slug: &str,
    email: &str,
    roles: Value,
) -> (String, String) {
    let issued = invite(app, admin, email).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let id = issued.body["user_id"].as_str().unwrap().to_string();
    let link = issued.body["link"].as_str().unwrap();
    assert_eq!(
        set_password(app, link, PASSWORD).await.status(),
        StatusCode::OK
    );
    let r = assign(app, admin, &id, roles).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = password_login(app, slug, email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (id, format!("{}; gatehouse_csrf={CSRF}", cookie(&r)))
}

/// Invites `email` as a local user (pending); returns its id.
async fn invited(app: &TestApp, admin: &str, email: &str) -> String {
    let issued = invite(app, admin, email).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    issued.body["user_id"].as_str().unwrap().to_string()
}

async fn assign(app: &TestApp, admin: &str, user: &str, assignments: Value) -> Resp {
    app.api(
        admin,
        Method::PUT,
        &format!("/users/{user}/roles"),
        Some(json!({ "assignments": assignments })),
    )
    .await
}

/// An admin-API call as the browser holding `cookie`, with the CSRF header.
async fn as_browser(
    app: &TestApp,
    cookie: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Resp {
    app.call_with(
        method,
        &format!("/api/v1{path}"),
        None,
        body,
        &[("cookie", cookie), ("x-csrf-token", CSRF)],
    )
    .await
}

/// The admin endpoints of the matrix: (name, method, path, body); `{me}` is the caller's id.
fn endpoints(
    policy: &Value,
    catalogue: &Value,
) -> Vec<(&'static str, Method, String, Option<Value>)> {
    vec![
        ("tenant.view", Method::GET, "/tenant".into(), None),
        ("tenant.view", Method::GET, "/domains".into(), None),
        ("tokens.edit", Method::GET, "/tokens".into(), None),
        ("audit.view", Method::GET, "/audit-events".into(), None),
        ("sso.view", Method::GET, "/sso/connections".into(), None),
        ("policy.view", Method::GET, "/policy".into(), None),
        (
            "policy.edit",
            Method::PUT,
            "/policy".into(),
            Some(policy.clone()),
        ),
        ("roles.view", Method::GET, "/catalogue".into(), None),
        (
            "roles.edit",
            Method::PUT,
            "/catalogue".into(),
            Some(catalogue.clone()),
        ),
        (
            "users.view",
            Method::GET,
            "/users/{me}/permissions".into(),
            None,
        ),
        ("users.view", Method::GET, "/mfa/enrolments".into(), None),
        (
            "users.edit",
            Method::POST,
            "/invitations".into(),
            Some(json!({"email": "x-{me}@matrix.example"})),
        ),
        ("plugins.view", Method::GET, "/pipeline".into(), None),
    ]
}

/// What each built-in role may do on Gatehouse's own modules, written out by hand from the
/// roles' documentation (not from the code that defines them).
fn expected(role: &str, permission: &str) -> bool {
    let (module, action) = permission.split_once('.').unwrap();
    match role {
        "admin" => true,
        "security_admin" => {
            action == "view" || ["policy", "users", "tokens", "audit"].contains(&module)
        }
        "sso_admin" => {
            module != "audit" && (action == "view" || ["sso", "scim", "plugins"].contains(&module))
        }
        "auditor" => action == "view",
        "member" | "viewer" => false,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn built_in_roles_reach_exactly_their_admin_endpoints_by_session_and_token() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("matrix").await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let catalogue = json!({
        "roles": ["admin", "security_admin", "sso_admin", "auditor", "member", "viewer"],
        "default_role": "member"
    });
    let r = app
        .api(&admin, Method::PUT, "/catalogue", Some(catalogue.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let policy = app.api(&admin, Method::GET, "/policy", None).await.body;

    for role in [
        "admin",
        "security_admin",
        "sso_admin",
        "auditor",
        "member",
        "viewer",
    ] {
        let email = format!("{role}@matrix.example");
        let (me, browser) =
            signed_in(&app, &admin, "matrix", &email, json!([{"role": role}])).await;
        for (permission, method, path, body) in endpoints(&policy, &catalogue) {
            let path = path.replace("{me}", &me);
            let body =
                body.map(|b| serde_json::from_str(&b.to_string().replace("{me}", &me)).unwrap());
            let r = as_browser(&app, &browser, method.clone(), &path, body).await;
            let allowed = r.status != StatusCode::FORBIDDEN;
            assert_eq!(
                allowed,
                expected(role, permission),
                "{role} {method} {path} ({permission}): {} {}",
                r.status,
                r.body
            );
            assert!(
                r.status.is_success() || r.status == StatusCode::FORBIDDEN,
                "{role} {path}: {} {}",
                r.status,
                r.body
            );
            if !allowed {
                let detail = r.body["detail"].as_str().unwrap_or_default();
                assert!(
                    detail.contains(&format!("gatehouse.{permission}")),
                    "{detail}"
                );
            }
        }
    }

    // Tokens: their scopes are the ceiling, checked by the same function.
    for (scope, allowed) in [
        (
            "tenant:read",
            vec![
                "tenant.view",
                "sso.view",
                "policy.view",
                "roles.view",
                "users.view",
                "plugins.view",
            ],
        ),
        ("audit:read", vec!["audit.view"]),
        // A scope that changes a module also reads it.
        ("sso:write", vec!["sso.view", "policy.view", "policy.edit"]),
        ("users:write", vec!["users.view", "users.edit"]),
        (
            "plugins:write",
            vec!["plugins.view", "roles.view", "roles.edit"],
        ),
        ("tokens:write", vec!["tokens.edit"]),
    ] {
        let (_, token) = app.tenant_token(&tenant, &[scope]).await;
        for (permission, method, path, body) in endpoints(&policy, &catalogue) {
            let path = path.replace("{me}", "0190c0de-0000-7000-8000-000000000000");
            let body = body.map(|b| {
                serde_json::from_str(
                    &b.to_string()
                        .replace("{me}", scope.replace(':', "-").as_str()),
                )
                .unwrap()
            });
            let r = app.api(&token, method.clone(), &path, body).await;
            assert_eq!(
                r.status != StatusCode::FORBIDDEN,
                allowed.contains(&permission),
                "token {scope} {method} {path}: {} {}",
                r.status,
                r.body
            );
        }
    }
}

#[tokio::test]
async fn a_session_needs_the_csrf_header_to_change_anything_and_cannot_escalate() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("csrf-co").await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let catalogue = json!({
        "roles": ["security_admin", "member",
                  {"name": "role_keeper", "grants": {"gatehouse.roles": {"view": "tenant", "edit": "tenant"}, "gatehouse.users": {"view": "tenant"}}}],
        "default_role": "member"
    });
    assert_eq!(
        app.api(&admin, Method::PUT, "/catalogue", Some(catalogue.clone()))
            .await
            .status,
        StatusCode::OK
    );
    let (me, browser) = signed_in(
        &app,
        &admin,
        "csrf-co",
        "keeper@csrf-co.example",
        json!([{"role": "role_keeper"}]),
    )
    .await;

    // Without the header (a cross-site form could send the cookie, not the header).
    let r = app
        .call_with(
            Method::PUT,
            "/api/v1/catalogue",
            None,
            Some(catalogue.clone()),
            &[("cookie", &browser)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("X-CSRF-Token"),
        "{}",
        r.body
    );
    // A wrong header value.
    let r = app
        .call_with(
            Method::PUT,
            "/api/v1/catalogue",
            None,
            Some(catalogue.clone()),
            &[("cookie", &browser), ("x-csrf-token", "nope")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Reads need no header; with it, the change goes through.
    let r = app
        .call_with(
            Method::GET,
            "/api/v1/catalogue",
            None,
            None,
            &[("cookie", &browser)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        as_browser(
            &app,
            &browser,
            Method::PUT,
            "/catalogue",
            Some(catalogue.clone())
        )
        .await
        .status,
        StatusCode::OK
    );

    // A role keeper may not hand out power over Gatehouse they lack: not to themselves...
    let r = as_browser(
        &app,
        &browser,
        Method::PUT,
        &format!("/users/{me}/roles"),
        Some(json!({"assignments": [{"role": "security_admin"}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("which you do not hold"),
        "{}",
        r.body
    );
    // ...nor by redefining their own role, nor through the group table.
    let mut wider = catalogue.clone();
    wider["roles"][2]["grants"]["gatehouse.policy"] = json!({"edit": "tenant"});
    assert_eq!(
        as_browser(&app, &browser, Method::PUT, "/catalogue", Some(wider))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let mut mapped = catalogue.clone();
    mapped["group_mappings"] = json!([{"group_id": "keepers", "role": "security_admin"}]);
    assert_eq!(
        as_browser(&app, &browser, Method::PUT, "/catalogue", Some(mapped))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Roles without Gatehouse grants they may assign.
    let r = as_browser(
        &app,
        &browser,
        Method::PUT,
        &format!("/users/{me}/roles"),
        Some(json!({"assignments": [{"role": "role_keeper"}, {"role": "member"}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let event = last_event(&app, &tenant, "roles.assigned").await;
    assert_eq!(event["actor"]["type"], "user", "{event}");
    assert_eq!(event["before"]["manual"], json!([{"role": "role_keeper"}]));
    assert_eq!(
        event["after"]["manual"],
        json!([{"role": "member"}, {"role": "role_keeper"}])
    );

    // Deactivated, the user's cookie no longer authenticates; nor does a forged one.
    let r = app
        .api(
            &admin,
            Method::POST,
            &format!("/users/{me}/deactivate"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let gone = app
        .call_with(
            Method::GET,
            "/api/v1/catalogue",
            None,
            None,
            &[("cookie", &browser)],
        )
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "{}", gone.body);
    let unknown = app
        .call_with(
            Method::GET,
            "/api/v1/catalogue",
            None,
            None,
            &[("cookie", "gatehouse_session=forged")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
}

/// A tenant with a CMMS-style catalogue; returns (tenant, admin token, evaluate token).
async fn cmms(app: &TestApp, slug: &str) -> (String, String, String) {
    let tenant = app.create_tenant(slug).await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let (_, pep) = app.tenant_token(&tenant, &["access:evaluate"]).await;
    let catalogue = json!({
        "roles": [
            "member", "viewer",
            {"name": "site_tech", "description": "Technicians of a site",
             "grants": {"work_orders": {"view": "location", "edit": "location"}, "inspections": {"view": "tenant", "sign_off": "own"}}},
            {"name": "dispatcher", "grants": {"work_orders": {"view": "territory", "delete": "team"}}}
        ],
        "default_role": "member",
        "modules": [{"name": "work_orders"}, {"name": "inspections", "actions": ["view", "sign_off"]}],
        "scopes": [
            {"kind": "location", "name": "EMEA"},
            {"kind": "location", "name": "Plant 3", "parent": "EMEA"},
            {"kind": "location", "name": "Line A", "parent": "Plant 3"},
            {"kind": "location", "name": "Plant 5", "parent": "EMEA"},
            {"kind": "territory", "name": "North"},
            {"kind": "team", "name": "Blue"}
        ],
        "group_mappings": [{"group_id": "plant3-techs", "role": "site_tech", "scope": {"kind": "location", "name": "Plant 3"}}]
    });
    let r = app
        .api(&admin, Method::PUT, "/catalogue", Some(catalogue))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (tenant, admin, pep)
}

async fn evaluate(app: &TestApp, pep: &str, body: Value) -> Resp {
    app.call(Method::POST, "/access/v1/evaluation", Some(pep), Some(body))
        .await
}

fn question(user: &str, action: &str, module: &str, properties: Value) -> Value {
    json!({
        "subject": {"type": "user", "id": user},
        "action": {"name": action},
        "resource": {"type": module, "id": "r1", "properties": properties}
    })
}

#[tokio::test]
async fn the_decision_api_answers_for_each_scope_kind_and_explains() {
    let app = spawn_app().await;
    let (tenant, admin, pep) = cmms(&app, "cmms").await;
    let tech = invited(&app, &admin, "tech@cmms.example").await;
    let r = assign(
        &app,
        &admin,
        &tech,
        json!([
            {"role": "site_tech", "scope": {"kind": "location", "name": "Plant 3"}},
            {"role": "dispatcher", "scope": {"kind": "territory", "name": "North"}},
            {"role": "viewer", "scope": {"kind": "team", "name": "Blue"}}
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // An undefined scope or role is refused and nothing changes.
    let r = assign(
        &app,
        &admin,
        &tech,
        json!([{"role": "site_tech", "scope": {"kind": "location", "name": "Mars"}}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = assign(&app, &admin, &tech, json!([{"role": "janitor"}])).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    let cases = [
        (
            "edit",
            "work_orders",
            json!({"location": "Line A"}),
            true,
            "allowed by role site_tech (manual): work_orders.edit within location Plant 3",
        ),
        (
            "edit",
            "work_orders",
            json!({"location": "Plant 5"}),
            false,
            "granted only within location Plant 3",
        ),
        (
            "edit",
            "work_orders",
            json!({"location": "EMEA"}),
            false,
            "granted only",
        ),
        (
            "view",
            "work_orders",
            json!({"territory": "North"}),
            true,
            "role dispatcher",
        ),
        (
            "delete",
            "work_orders",
            json!({"team": ["Red", "Blue"], "territory": "North"}),
            true,
            "within team Blue",
        ),
        (
            "delete",
            "work_orders",
            json!({"team": "Blue"}),
            false,
            "within territory North",
        ),
        (
            "sign_off",
            "inspections",
            json!({"owner": tech, "location": "Line A"}),
            true,
            "own records",
        ),
        (
            "sign_off",
            "inspections",
            json!({"owner": "someone-else", "location": "Line A"}),
            false,
            "denied",
        ),
        (
            "export",
            "work_orders",
            json!({"location": "Line A"}),
            false,
            "denied: nothing grants work_orders.export",
        ),
        (
            "view",
            "gatehouse.users",
            json!({}),
            false,
            "nothing grants",
        ),
    ];
    for (action, module, properties, allowed, why) in cases {
        let r = evaluate(
            &app,
            &pep,
            question(&tech, action, module, properties.clone()),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body["decision"], allowed,
            "{action} {module} {properties}: {}",
            r.body
        );
        let reason = r.body["context"]["reason_admin"]["en"].as_str().unwrap();
        assert!(
            reason.contains(why),
            "{action} {module} {properties}: {reason}"
        );
    }

    // Batch, with defaults and each semantic.
    let batch = |semantic: &str| {
        json!({
            "subject": {"type": "user", "id": tech},
            "action": {"name": "edit"},
            "options": {"evaluations_semantic": semantic},
            "evaluations": [
                {"resource": {"type": "work_orders", "id": "1", "properties": {"location": "Line A"}}},
                {"resource": {"type": "work_orders", "id": "2", "properties": {"location": "Plant 5"}}},
                {"resource": {"type": "work_orders", "id": "3", "properties": {"location": "Plant 3"}}},
                {"action": {"name": "view"}, "resource": {"type": "inspections", "id": "4", "properties": {"location": "Line A"}}}
            ]
        })
    };
    let decisions = |r: &Resp| {
        r.body["evaluations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["decision"].as_bool().unwrap())
            .collect::<Vec<_>>()
    };
    let all = app
        .call(
            Method::POST,
            "/access/v1/evaluations",
            Some(&pep),
            Some(batch("execute_all")),
        )
        .await;
    assert_eq!(decisions(&all), [true, false, true, true], "{}", all.body);
    let deny = app
        .call(
            Method::POST,
            "/access/v1/evaluations",
            Some(&pep),
            Some(batch("deny_on_first_deny")),
        )
        .await;
    assert_eq!(decisions(&deny), [true, false]);
    let permit = app
        .call(
            Method::POST,
            "/access/v1/evaluations",
            Some(&pep),
            Some(batch("permit_on_first_permit")),
        )
        .await;
    assert_eq!(decisions(&permit), [true]);
    // A malformed item fails alone; a malformed single request is a 400.
    let mixed = app
        .call(
            Method::POST,
            "/access/v1/evaluations",
            Some(&pep),
            Some(json!({
                "subject": {"type": "user", "id": tech},
                "evaluations": [
                    {"action": {"name": "view"}, "resource": {"type": "inspections", "id": "4", "properties": {"location": "Line A"}}},
                    {"resource": {"type": "inspections", "id": "5"}}
                ]
            })),
        )
        .await;
    assert_eq!(decisions(&mixed), [true, false]);
    assert_eq!(
        mixed.body["evaluations"][1]["context"]["error"]["message"],
        "action is missing"
    );
    let r = evaluate(
        &app,
        &pep,
        json!({"subject": {"type": "user", "id": tech}, "action": {"name": "view"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = evaluate(&app, &pep, json!({"subject": {"type": "robot", "id": tech}, "action": {"name": "view"}, "resource": {"type": "x", "id": "1"}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // Not JSON, or no JSON content type: 400 as well; the request id comes back.
    for (content_type, body) in [("application/json", "{\"subject\":"), ("text/plain", "{}")] {
        let r = app
            .client
            .post(format!("{}/access/v1/evaluation", app.url))
            .bearer_auth(&pep)
            .header("content-type", content_type)
            .header("x-request-id", "pep-42")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{content_type}");
        assert_eq!(r.headers()["x-request-id"], "pep-42");
    }
    // At most 100 different subjects per request; the rest fail alone.
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"subject": {"type": "user", "id": format!("0190c0de-0000-7000-8000-{i:012}")}}))
        .collect();
    let r = app
        .call(Method::POST, "/access/v1/evaluations", Some(&pep), Some(json!({
            "action": {"name": "view"}, "resource": {"type": "inspections", "id": "1"}, "evaluations": many
        })))
        .await;
    let answers = r.body["evaluations"].as_array().unwrap();
    assert_eq!(answers.len(), 101);
    assert!(answers[99]["context"]["error"].is_null(), "{}", answers[99]);
    assert!(answers[100]["context"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 100"));
    // No batch at all: a single evaluation's answer.
    let single = app
        .call(
            Method::POST,
            "/access/v1/evaluations",
            Some(&pep),
            Some(question(
                &tech,
                "view",
                "inspections",
                json!({"location": "Plant 3"}),
            )),
        )
        .await;
    assert_eq!(
        single.body,
        json!({"decision": true, "context": single.body["context"]})
    );

    // The list-view filter, with the hierarchy expanded.
    let search = app.call(Method::POST, "/access/v1/search/resource", Some(&pep), Some(json!({
        "subject": {"type": "user", "id": tech}, "action": {"name": "edit"}, "resource": {"type": "work_orders"}
    }))).await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.body);
    assert_eq!(search.body["results"], json!([]));
    assert_eq!(
        search.body["context"]["filter"],
        json!({"any_of": [{"location_in": ["Line A", "Plant 3"]}]})
    );
    let actions = app.call(Method::POST, "/access/v1/search/action", Some(&pep), Some(json!({
        "subject": {"type": "user", "id": tech}, "resource": {"type": "work_orders", "id": "9", "properties": {"location": "Line A", "territory": "North"}}
    }))).await;
    assert_eq!(
        actions.body["results"],
        json!([{"name": "edit"}, {"name": "view"}]),
        "{}",
        actions.body
    );

    // Another tenant's user, an unknown user, another tenant's token: denied, never an error.
    let (_, _, other_pep) = cmms(&app, "other-cmms").await;
    let r = evaluate(
        &app,
        &other_pep,
        question(&tech, "view", "inspections", json!({"location": "Plant 3"})),
    )
    .await;
    assert_eq!(r.body["decision"], false, "{}", r.body);
    let r = evaluate(
        &app,
        &pep,
        question(
            "0190c0de-0000-7000-8000-000000000000",
            "view",
            "inspections",
            json!({}),
        ),
    )
    .await;
    assert_eq!(r.body["decision"], false);
    // A token without the scope may not ask.
    let (_, reader) = app.tenant_token(&tenant, &["audit:read"]).await;
    assert_eq!(
        evaluate(
            &app,
            &reader,
            question(&tech, "view", "inspections", json!({"location": "Plant 3"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let meta = app
        .call(
            Method::GET,
            "/.well-known/authzen-configuration",
            None,
            None,
        )
        .await;
    assert_eq!(meta.body["policy_decision_point"], app.url.as_str());
    assert_eq!(
        meta.body["access_evaluation_endpoint"],
        format!("{}/access/v1/evaluation", app.url)
    );
}

#[tokio::test]
async fn the_snapshot_revalidates_by_etag_and_changes_with_assignments() {
    let app = spawn_app().await;
    let (tenant, admin, pep) = cmms(&app, "snap").await;
    let sam = invited(&app, &admin, "sam@snap.example").await;
    let path = format!("/access/v1/users/{sam}/permissions");
    let first = app.call(Method::GET, &path, Some(&pep), None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        first.body["permissions"],
        json!({}),
        "no roles yet: {}",
        first.body
    );
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    assert_eq!(
        etag,
        format!("\"{}\"", first.body["version"].as_str().unwrap())
    );
    let again = app
        .call_with(
            Method::GET,
            &path,
            Some(&pep),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    assign(
        &app,
        &admin,
        &sam,
        json!([{"role": "site_tech", "scope": {"kind": "location", "name": "EMEA"}}]),
    )
    .await;
    let changed = app
        .call_with(
            Method::GET,
            &path,
            Some(&pep),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.body["version"], first.body["version"]);
    assert_eq!(
        changed.body["permissions"]["work_orders"]["edit"],
        json!({"any_of": [{"location_in": ["EMEA", "Line A", "Plant 3", "Plant 5"]}]})
    );
    assert_eq!(
        changed.body["assignments"],
        json!([{"role": "site_tech", "source": "manual", "scope": {"kind": "location", "name": "EMEA"}}])
    );
    // A change to what the role grants changes the version too.
    let mut catalogue = app.api(&admin, Method::GET, "/catalogue", None).await.body;
    catalogue["roles"][2]["grants"]["work_orders"]["export"] = json!("location");
    assert_eq!(
        app.api(&admin, Method::PUT, "/catalogue", Some(catalogue))
            .await
            .status,
        StatusCode::OK
    );
    let regranted = app.call(Method::GET, &path, Some(&pep), None).await;
    assert_ne!(regranted.body["version"], changed.body["version"]);

    // The admin's view adds where each rule came from.
    let view = app
        .api(
            &admin,
            Method::GET,
            &format!("/users/{sam}/permissions"),
            None,
        )
        .await;
    let sources = view.body["sources"].as_array().unwrap();
    assert!(
        sources.iter().any(|s| s["module"] == "work_orders"
            && s["action"] == "export"
            && s["role"] == "site_tech"
            && s["source"] == "manual"),
        "{}",
        view.body
    );
    // The app with its client credentials names the tenant.
    let app_client = app
        .op(
            Method::POST,
            "/apps",
            Some(json!({"name": "cmms", "redirect_uris": ["https://app.example/cb"]})),
        )
        .await;
    assert_eq!(
        app_client.status,
        StatusCode::CREATED,
        "{}",
        app_client.body
    );
    let (id, secret) = (
        app_client.body["client_id"].as_str().unwrap(),
        app_client.body["client_secret"].as_str().unwrap(),
    );
    let basic = |p: &str| {
        app.client
            .get(format!("{}{p}", app.url))
            .basic_auth(id, Some(secret))
    };
    let r = basic(&path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = basic(&format!("{path}?tenant={tenant}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let wrong = app
        .client
        .get(format!("{}{path}?tenant={tenant}", app.url))
        .basic_auth(id, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let r = app.client.post(format!("{}/access/v1/evaluation", app.url)).basic_auth(id, Some(secret))
        .json(&json!({"subject": {"type": "user", "id": sam, "properties": {"tenant": tenant}}, "action": {"name": "edit"}, "resource": {"type": "work_orders", "id": "1", "properties": {"location": "Plant 5"}}}))
        .send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["decision"], true, "{body}");
}

#[tokio::test]
async fn an_idp_group_gives_a_scoped_role_through_a_real_saml_sign_in() {
    let s = setup("saml-roles", json!({})).await;
    let catalogue = json!({
        "roles": ["member", {"name": "site_tech", "grants": {"work_orders": {"edit": "location"}}}],
        "default_role": "member",
        "modules": [{"name": "work_orders"}],
        "scopes": [{"kind": "location", "name": "Plant 3"}, {"kind": "location", "name": "Line A", "parent": "Plant 3"}],
        "group_mappings": [{"group_id": "plant3-techs", "role": "site_tech", "scope": {"kind": "location", "name": "Plant 3"}}]
    });
    assert_eq!(
        s.app
            .api(&s.token, Method::PUT, "/catalogue", Some(catalogue))
            .await
            .status,
        StatusCode::OK
    );
    let (location, binding) = login_page(&s.app, "ada@saml-roles.example").await;
    let (action, fields) = at_idp(
        &location,
        &user("ada@saml-roles.example", &["plant3-techs", "other"]),
    )
    .await;
    let done = post_bound(&action, &fields, &binding).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let users = s
        .app
        .scalar("SELECT COUNT(*) FROM users WHERE email = 'ada@saml-roles.example'")
        .await;
    assert_eq!(users, 1);
    let event = last_event(&s.app, &s.tenant, "login.succeeded").await;
    let ada = event["target"]["id"].as_str().unwrap().to_string();
    let (_, pep) = s.app.tenant_token(&s.tenant, &["access:evaluate"]).await;
    let r = evaluate(
        &s.app,
        &pep,
        question(&ada, "edit", "work_orders", json!({"location": "Line A"})),
    )
    .await;
    assert_eq!(r.body["decision"], true, "{}", r.body);
    assert_eq!(
        r.body["context"]["reason_admin"]["en"],
        "allowed by role site_tech (sso): work_orders.edit within location Plant 3"
    );
}

#[tokio::test]
async fn a_scim_group_gives_a_role() {
    let app = spawn_app().await;
    let s = crate::scim::scim_tenant(&app, "scim-roles").await;
    let catalogue = json!({
        "roles": ["member", "auditor"],
        "default_role": "member",
        "group_mappings": [{"group_id": "Auditors", "role": "auditor"}]
    });
    assert_eq!(
        app.api(&s.admin, Method::PUT, "/catalogue", Some(catalogue))
            .await
            .status,
        StatusCode::OK
    );
    let created = s.call(&app, Method::POST, "/Users", Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "kim@scim-roles.example",
        "emails": [{"value": "kim@scim-roles.example", "primary": true}], "active": true
    }))).await;
    let kim = created.body["id"].as_str().unwrap().to_string();
    let (_, pep) = app.tenant_token(&s.tenant, &["access:evaluate"]).await;
    let ask = || question(&kim, "export", "gatehouse.audit", json!({}));
    assert_eq!(evaluate(&app, &pep, ask()).await.body["decision"], false);
    s.call(&app, Method::POST, "/Groups", Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Auditors", "members": [{"value": kim}]
    }))).await;
    let r = evaluate(&app, &pep, ask()).await;
    assert_eq!(r.body["decision"], true, "{}", r.body);
    assert!(r.body["context"]["reason_admin"]["en"]
        .as_str()
        .unwrap()
        .contains("role auditor (scim)"));
}

#[tokio::test]
async fn admins_search_users_and_the_app_searches_subjects() {
    let app = spawn_app().await;
    let (_, admin, pep) = cmms(&app, "search-co").await;
    let mut ids = Vec::new();
    for (i, name) in ["ana", "ben", "cho", "dee", "eli"].iter().enumerate() {
        let id = invited(&app, &admin, &format!("{name}@search-co.example")).await;
        if i % 2 == 0 {
            let plant = if i == 0 { "Plant 3" } else { "Plant 5" };
            assign(
                &app,
                &admin,
                &id,
                json!([{"role": "site_tech", "scope": {"kind": "location", "name": plant}}]),
            )
            .await;
        }
        ids.push(id);
    }
    let search = |query: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            app.api(admin, Method::GET, &format!("/users?{query}"), None)
                .await
        }
    };
    let emails = |r: &Resp| -> Vec<String> {
        r.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_string())
            .collect()
    };
    let r = search("role=site_tech").await;
    assert_eq!(
        emails(&r),
        [
            "ana@search-co.example",
            "cho@search-co.example",
            "eli@search-co.example"
        ],
        "{}",
        r.body
    );
    assert_eq!(
        r.body["users"][0]["roles"],
        json!(["site_tech@location:Plant 3"])
    );
    let r = search("q=BEN").await;
    assert_eq!(emails(&r), ["ben@search-co.example"]);
    let r = search("q=%25").await;
    assert_eq!(
        emails(&r),
        Vec::<String>::new(),
        "a LIKE wildcard is matched literally"
    );
    let r = search("status=pending&source=local&limit=2").await;
    assert_eq!(
        emails(&r),
        ["ana@search-co.example", "ben@search-co.example"]
    );
    let next = r.body["next"].as_str().unwrap().to_string();
    let r = app
        .api(
            &admin,
            Method::GET,
            &format!("/users?status=pending&limit=2&after={next}"),
            None,
        )
        .await;
    assert_eq!(
        emails(&r),
        ["cho@search-co.example", "dee@search-co.example"]
    );
    let r = search("status=asleep").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = search("limit=0").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // Who may edit work orders on Line A? Only the Plant 3 technician.
    let ask = |page: Value| {
        json!({
            "subject": {"type": "user"},
            "action": {"name": "edit"},
            "resource": {"type": "work_orders", "id": "7", "properties": {"location": "Line A"}},
            "page": page
        })
    };
    let r = app
        .call(
            Method::POST,
            "/access/v1/search/subject",
            Some(&pep),
            Some(ask(json!({}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["results"], json!([{"type": "user", "id": ids[0]}]));
    assert_eq!(r.body["page"]["next_token"], "");
    // Paged two users at a time, the answer is the same.
    let mut found = Vec::new();
    let mut token = String::new();
    loop {
        let r = app
            .call(
                Method::POST,
                "/access/v1/search/subject",
                Some(&pep),
                Some(ask(json!({"token": token, "limit": 2}))),
            )
            .await;
        found.extend(r.body["results"].as_array().unwrap().clone());
        token = r.body["page"]["next_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(found, vec![json!({"type": "user", "id": ids[0]})]);
    let meta = app
        .call(
            Method::GET,
            "/.well-known/authzen-configuration",
            None,
            None,
        )
        .await;
    assert_eq!(
        meta.body["search_subject_endpoint"],
        format!("{}/access/v1/search/subject", app.url)
    );
}

#[tokio::test]
async fn admin_made_groups_give_their_members_the_mapped_roles() {
    let app = spawn_app().await;
    let (tenant, admin, pep) = cmms(&app, "groups-co").await;
    let mut catalogue = app.api(&admin, Method::GET, "/catalogue", None).await.body;
    catalogue["group_mappings"] = json!([{"group_id": "night-shift", "role": "site_tech", "scope": {"kind": "location", "name": "Plant 3"}}]);
    assert_eq!(
        app.api(&admin, Method::PUT, "/catalogue", Some(catalogue))
            .await
            .status,
        StatusCode::OK
    );

    let created = app
        .api(
            &admin,
            Method::POST,
            "/groups",
            Some(json!({"display_name": "Night shift", "external_id": "night-shift"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["source"], "manual");
    let group = created.body["id"].as_str().unwrap().to_string();
    let twin = app
        .api(
            &admin,
            Method::POST,
            "/groups",
            Some(json!({"display_name": "Other", "external_id": "night-shift"})),
        )
        .await;
    assert_eq!(twin.status, StatusCode::CONFLICT, "{}", twin.body);
    let blank = app
        .api(
            &admin,
            Method::POST,
            "/groups",
            Some(json!({"display_name": " "})),
        )
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);

    let nia = invited(&app, &admin, "nia@groups-co.example").await;
    let ask = || question(&nia, "edit", "work_orders", json!({"location": "Line A"}));
    assert_eq!(evaluate(&app, &pep, ask()).await.body["decision"], false);
    let member = format!("/groups/{group}/members/{nia}");
    assert_eq!(
        app.api(&admin, Method::PUT, &member, None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = evaluate(&app, &pep, ask()).await;
    assert_eq!(r.body["decision"], true, "{}", r.body);
    assert!(r.body["context"]["reason_admin"]["en"]
        .as_str()
        .unwrap()
        .contains("role site_tech (group)"));
    let listed = app
        .api(&admin, Method::GET, &format!("/users?group={group}"), None)
        .await;
    assert_eq!(
        listed.body["users"][0]["email"], "nia@groups-co.example",
        "{}",
        listed.body
    );

    // Renamed to an identifier the table does not map: the role goes with it.
    let r = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/groups/{group}"),
            Some(json!({"external_id": "day-shift"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(evaluate(&app, &pep, ask()).await.body["decision"], false);
    app.api(
        &admin,
        Method::PATCH,
        &format!("/groups/{group}"),
        Some(json!({"external_id": "night-shift"})),
    )
    .await;
    assert_eq!(evaluate(&app, &pep, ask()).await.body["decision"], true);
    assert_eq!(
        app.api(&admin, Method::DELETE, &member, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(evaluate(&app, &pep, ask()).await.body["decision"], false);

    // Users and groups an IdP manages are not the admin's to change here.
    let s = crate::scim::scim_for(&app, tenant.clone()).await;
    let scim_user = s.call(&app, Method::POST, "/Users", Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "sid@groups-co.example", "active": true
    }))).await.body["id"].as_str().unwrap().to_string();
    let r = app
        .api(
            &admin,
            Method::PUT,
            &format!("/groups/{group}/members/{scim_user}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let scim_group = s.call(&app, Method::POST, "/Groups", Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Provisioned"
    }))).await.body["id"].as_str().unwrap().to_string();
    let r = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/groups/{scim_group}"),
            Some(json!({"display_name": "Mine now"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let all = app.api(&admin, Method::GET, "/groups", None).await;
    assert_eq!(
        all.body["groups"].as_array().unwrap().len(),
        2,
        "{}",
        all.body
    );

    assert_eq!(
        app.api(&admin, Method::DELETE, &format!("/groups/{group}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.api(&admin, Method::GET, &format!("/groups/{group}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let actions = app.audit_actions(&tenant).await;
    for a in [
        "group.created",
        "group.updated",
        "group.member_added",
        "group.member_removed",
        "group.deleted",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn an_apps_registered_modules_are_every_tenants_to_grant_on() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("app-modules").await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    let (_, pep) = app.tenant_token(&tenant, &["access:evaluate"]).await;
    let catalogue = json!({
        "roles": ["member", {"name": "planner", "grants": {"rentals": {"view": "tenant", "export": "tenant"}}}],
        "default_role": "member"
    });
    let r = app
        .api(&admin, Method::PUT, "/catalogue", Some(catalogue.clone()))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown module `rentals`"),
        "{}",
        r.body
    );

    let bad = app.op(Method::POST, "/apps", Some(json!({"name": "x", "redirect_uris": ["https://fleet.example/cb"], "modules": ["Rentals"]}))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let registered = app.op(Method::POST, "/apps", Some(json!({
        "name": "Fleet", "redirect_uris": ["https://fleet.example/cb"], "modules": ["rentals", "assets"]
    }))).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert_eq!(registered.body["modules"], json!(["rentals", "assets"]));
    let r = app
        .api(&admin, Method::PUT, "/catalogue", Some(catalogue.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A tenant's own module may not take an app module's name.
    let mut shadow = catalogue.clone();
    shadow["modules"] = json!([{"name": "rentals"}]);
    let r = app
        .api(&admin, Method::PUT, "/catalogue", Some(shadow))
        .await;
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("already defined"),
        "{}",
        r.body
    );

    // The built-in member role reaches the app's modules too.
    let max = invited(&app, &admin, "max@app-modules.example").await;
    assign(&app, &admin, &max, json!([{"role": "member"}])).await;
    let r = evaluate(&app, &pep, question(&max, "view", "rentals", json!({}))).await;
    assert_eq!(r.body["decision"], true, "{}", r.body);
    let r = evaluate(&app, &pep, question(&max, "export", "rentals", json!({}))).await;
    assert_eq!(r.body["decision"], false, "{}", r.body);
}
