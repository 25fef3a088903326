//! Console and API parity: each console action is made in one tenant through the console's
//! form, and the same change in a twin tenant through the REST API, both by the owner's
//! browser session; the stored state read back through the API and the audit event it
//! wrote must be the same. And a user without the permission gets the same refusal from
//! both, with nothing changed.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::console::{tenant_with_owner, PASSWORD};
use crate::helpers::TestApp;

const CSRF: &str = "pppppppppppppppppppppppppppppppppppppppppp1";

/// An owner's (or a user's) signed-in browser session over plain HTTP.
struct Session<'a> {
    app: &'a TestApp,
    cookie: String,
}

impl<'a> Session<'a> {
    async fn sign_in(app: &'a TestApp, slug: &str, email: &str, password: &str) -> Self {
        let r = crate::local_login::password_login(app, slug, email, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in failed");
        Session {
            app,
            cookie: format!("{}; gatehouse_csrf={CSRF}", crate::saml::session_cookie(&r)),
        }
    }

    /// Posts a console form; the status and the page.
    async fn form(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut fields = fields.to_vec();
        fields.push(("csrf", CSRF));
        let r = crate::saml::browser()
            .post(format!("{}{path}", self.app.url))
            .header("cookie", &self.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Calls the admin API as the same browser would (cookie and CSRF header).
    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = crate::saml::browser()
            .request(method, format!("{}/api/v1{path}", self.app.url))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", CSRF);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The newest audit event: its action, actor type and target type.
    async fn last_event(&self) -> (Value, Value, Value) {
        let (_, page) = self.api(Method::GET, "/audit-events?limit=1", None).await;
        let e = &page["events"][0];
        (
            e["action"].clone(),
            e["actor"]["type"].clone(),
            e["target"]["type"].clone(),
        )
    }
}

/// One action both ways: the console's form and the API's call, and how to read the state
/// it leaves (the same read in both tenants).
struct Case {
    what: &'static str,
    form: (&'static str, Vec<(&'static str, &'static str)>),
    api: (Method, &'static str, Option<Value>),
    read: &'static str,
    project: fn(&Value) -> Value,
}

fn domains(v: &Value) -> Value {
    json!(v
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["domain"] == "claimed.parity.example")
        .map(|d| json!([d["domain"], d["status"], d["txt_record_name"]]))
        .collect::<Vec<_>>())
}

fn scim_tokens(v: &Value) -> Value {
    json!(v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!([t["name"], t["scopes"], t["revoked_at"]]))
        .collect::<Vec<_>>())
}

fn same(v: &Value) -> Value {
    v.clone()
}

#[tokio::test]
async fn each_console_action_leaves_what_the_api_leaves_and_is_refused_the_same() {
    let app = crate::helpers::spawn_app().await;
    tenant_with_owner(&app, "parity-console").await;
    tenant_with_owner(&app, "parity-api").await;
    let console = Session::sign_in(
        &app,
        "parity-console",
        "owner@parity-console.example",
        PASSWORD,
    )
    .await;
    let api = Session::sign_in(&app, "parity-api", "owner@parity-api.example", PASSWORD).await;

    // The API's catalogue: the tenant's own with the role added, as the console adds it.
    let (_, mut role) = api.api(Method::GET, "/catalogue", None).await;
    role["roles"].as_array_mut().unwrap().push(json!({
        "name": "support_agent", "description": "Support",
        "grants": {"gatehouse.users": {"view": "tenant"}}
    }));
    let cases = vec![
        Case {
            what: "policy preset",
            form: ("/console/policy/presets/enterprise", vec![]),
            api: (Method::POST, "/policy/presets/enterprise", None),
            read: "/policy",
            project: same,
        },
        Case {
            what: "domain claim",
            form: (
                "/console/domains",
                vec![("domain", "claimed.parity.example")],
            ),
            api: (
                Method::POST,
                "/domains",
                Some(json!({"domain": "claimed.parity.example"})),
            ),
            read: "/domains",
            project: domains,
        },
        Case {
            what: "custom role",
            form: (
                "/console/roles",
                vec![
                    ("name", "support_agent"),
                    ("description", "Support"),
                    ("grant:gatehouse.users:view", "tenant"),
                    ("grant:gatehouse.users:edit", ""),
                ],
            ),
            api: (Method::PUT, "/catalogue", Some(role)),
            read: "/catalogue",
            project: same,
        },
        Case {
            what: "SCIM token",
            form: ("/console/scim/tokens", vec![("name", "Okta SCIM")]),
            api: (
                Method::POST,
                "/tokens",
                Some(json!({"name": "Okta SCIM", "scopes": ["scim"]})),
            ),
            read: "/tokens",
            project: scim_tokens,
        },
    ];
    for case in cases {
        let (status, page) = console.form(case.form.0, &case.form.1).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::SEE_OTHER,
            "{}: the console answered {status}: {page}",
            case.what
        );
        let (status, body) = api
            .api(case.api.0.clone(), case.api.1, case.api.2.clone())
            .await;
        assert!(
            status.is_success(),
            "{}: the API answered {status}: {body}",
            case.what
        );
        let (_, by_console) = console.api(Method::GET, case.read, None).await;
        let (_, by_api) = api.api(Method::GET, case.read, None).await;
        assert_eq!(
            (case.project)(&by_console),
            (case.project)(&by_api),
            "{}: the stored state differs",
            case.what
        );
        assert_eq!(
            console.last_event().await,
            api.last_event().await,
            "{}: the audit event differs",
            case.what
        );
    }

    // Per-user actions: the same invited user in each tenant.
    let mut users = Vec::new();
    for (session, slug) in [(&console, "parity-console"), (&api, "parity-api")] {
        let (status, body) = session
            .api(
                Method::POST,
                "/invitations",
                Some(json!({"email": format!("sam@{slug}.example")})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        users.push(body["user_id"].as_str().unwrap().to_string());
    }
    let (cu, au) = (&users[0], &users[1]);
    // (what, the console's form and fields, the API's method, path and body)
    type UserCase<'a> = (
        &'a str,
        String,
        Vec<(&'a str, &'a str)>,
        Method,
        String,
        Option<Value>,
    );
    let user_cases: Vec<UserCase> = vec![
        (
            "manual role",
            format!("/console/users/{cu}/roles"),
            vec![("role", "support_agent"), ("scope", "")],
            Method::PUT,
            format!("/users/{au}/roles"),
            Some(json!({"assignments": [{"role": "support_agent"}]})),
        ),
        (
            "deactivation",
            format!("/console/users/{cu}/status"),
            vec![("active", "false")],
            Method::POST,
            format!("/users/{au}/deactivate"),
            None,
        ),
    ];
    for (what, form, fields, method, path, body) in user_cases {
        let (status, page) = console.form(&form, &fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{what}: {page}");
        let (status, answer) = api.api(method, &path, body).await;
        assert!(status.is_success(), "{what}: {status} {answer}");
        let read = |id: &String| format!("/users/{id}/permissions");
        let (_, c) = console.api(Method::GET, &read(cu), None).await;
        let (_, a) = api.api(Method::GET, &read(au), None).await;
        assert_eq!(c["assignments"], a["assignments"], "{what}");
        assert_eq!(c["permissions"], a["permissions"], "{what}");
        let (_, c) = console
            .api(Method::GET, &format!("/users/{cu}"), None)
            .await;
        let (_, a) = api.api(Method::GET, &format!("/users/{au}"), None).await;
        assert_eq!(c["status"], a["status"], "{what}");
        assert_eq!(console.last_event().await, api.last_event().await, "{what}");
    }

    // A member (no policy permission) is refused the same way by both, and nothing changes.
    let (_, invited) = console
        .api(
            Method::POST,
            "/invitations",
            Some(json!({"email": "mo@parity-console.example"})),
        )
        .await;
    let link = invited["link"].as_str().unwrap();
    let set = crate::local_accounts::set_password(&app, link, PASSWORD).await;
    assert_eq!(set.status(), StatusCode::OK);
    let member = Session::sign_in(
        &app,
        "parity-console",
        "mo@parity-console.example",
        PASSWORD,
    )
    .await;
    let (_, before) = console.api(Method::GET, "/policy", None).await;
    let (page_status, page) = member
        .form("/console/policy/presets/government-cui", &[])
        .await;
    let (api_status, refusal) = member
        .api(Method::POST, "/policy/presets/government-cui", None)
        .await;
    assert_eq!(api_status, StatusCode::FORBIDDEN, "{refusal}");
    assert_eq!(page_status, api_status, "{page}");
    let reason = refusal["detail"].as_str().unwrap();
    let escaped = reason.replace('`', "&#96;").replace('\'', "&#39;");
    assert!(
        page.contains(reason) || page.contains(&escaped),
        "{reason} not in {page}"
    );
    let (_, after) = console.api(Method::GET, "/policy", None).await;
    assert_eq!(before, after);
}
