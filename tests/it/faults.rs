//! Load with faults: many clients write at once (SCIM creates and PATCHes, password
//! sign-ins) and are cut off mid-request at random. Afterwards writes must still succeed,
//! every created user must have its audit event and vice versa, and every audit chain must
//! verify. A short form of the soak; `GATEHOUSE_SOAK_ROUNDS` makes it longer.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};
use crate::saml::submit_form;
use crate::scim::{scim_tenant, Scim};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const PASSWORD: &str = "correct horse battery staple";
/// Clients writing at once in a round.
const CLIENTS: usize = 24;
/// Requests each client starts in a round.
const PER_CLIENT: usize = 4;

/// A small deterministic generator (xorshift), seeded per client: no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn create_user(http: &reqwest::Client, scim: &Scim, name: &str) -> StatusCode {
    http.post(format!("{}/Users", scim.base))
        .bearer_auth(&scim.token)
        .json(&json!({"schemas": [USER], "userName": name, "emails": [{"value": name, "primary": true}]}))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

async fn patch_user(http: &reqwest::Client, scim: &Scim, id: &str, n: u64) {
    let _ = http
        .patch(format!("{}/Users/{id}", scim.base))
        .bearer_auth(&scim.token)
        .json(&json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "displayName", "value": format!("Renamed {n}")}]}))
        .send()
        .await;
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cut_off_mid_write_leave_the_node_writing_and_nothing_half_written() {
    let app = spawn_app().await;
    let scim = scim_tenant(&app, "soak").await;
    let r = app
        .op(
            Method::PUT,
            &format!("/tenants/{}/owner", scim.tenant),
            Some(json!({"email": "owner@soak.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let seeded = app
        .client
        .post(format!("{}/Users", scim.base))
        .bearer_auth(&scim.token)
        .json(&json!({"schemas": [USER], "userName": "seed@soak.example"}))
        .send()
        .await
        .expect("seed");
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let seed_id = seeded.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();

    let rounds: usize = std::env::var("GATEHOUSE_SOAK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    for round in 0..rounds {
        let mut clients = Vec::new();
        for client in 0..CLIENTS {
            let app_url = app.url.clone();
            let (base, token, seed_id) = (scim.base.clone(), scim.token.clone(), seed_id.clone());
            let http = app.client.clone();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((round * CLIENTS + client) as u64 + 1));
            clients.push(tokio::spawn(async move {
                let scim = Scim {
                    tenant: String::new(),
                    token,
                    admin: String::new(),
                    base,
                };
                for i in 0..PER_CLIENT {
                    // Cut off after 0–20 ms: before, during or after the server's write.
                    let cut = Duration::from_micros(rng.next() % 20_000);
                    let n = rng.next();
                    let work = async {
                        match n % 4 {
                            0 | 1 => {
                                let name = format!("u{round}-{client}-{i}@soak.example");
                                create_user(&http, &scim, &name).await;
                            }
                            2 => patch_user(&http, &scim, &seed_id, n).await,
                            _ => {
                                submit_form(
                                    &app_url,
                                    "/login/password",
                                    "/login/password",
                                    None,
                                    &[
                                        ("organisation", "soak"),
                                        ("email", "owner@soak.example"),
                                        ("password", PASSWORD),
                                    ],
                                )
                                .await;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(cut, work).await;
                }
            }));
        }
        for c in clients {
            c.await.expect("client task");
        }
        // Right after the storm, a write from a patient client succeeds.
        let name = format!("after-{round}@soak.example");
        assert_eq!(
            create_user(&app.client, &scim, &name).await,
            StatusCode::CREATED,
            "round {round}: writes fail after clients went away"
        );
    }

    // Abandoned requests run to their end on their own tasks: let the last ones finish.
    let tenant = &scim.tenant;
    let mut settled = false;
    for _ in 0..100 {
        let users = count(
            &app,
            &format!("SELECT COUNT(*) FROM users WHERE tenant_id = '{tenant}' AND source = 'scim'"),
        )
        .await;
        let created = count(&app, &format!("SELECT COUNT(*) FROM audit_events WHERE tenant_id = '{tenant}' AND action = 'scim_user.created'")).await;
        let sessions = count(
            &app,
            &format!("SELECT COUNT(*) FROM sessions WHERE tenant_id = '{tenant}'"),
        )
        .await;
        let logins = count(&app, &format!("SELECT COUNT(*) FROM audit_events WHERE tenant_id = '{tenant}' AND action = 'login.succeeded'")).await;
        if users == created && sessions == logins {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        settled,
        "a user or session exists without its audit event, or the reverse"
    );
    // Verify once nothing is being appended any more (a chain read while an abandoned
    // request's event lands would show events past the head it read first).
    let mut last = -1;
    for _ in 0..100 {
        let now = count(&app, "SELECT COUNT(*) FROM audit_events").await;
        if now == last {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let problems = crate::audit_checkpoints::problems_at(&app, None, 0).await;
    assert!(problems.is_empty(), "{problems:?}");
    // And the node still takes ordinary writes of every kind.
    assert_eq!(
        create_user(&app.client, &scim, "last@soak.example").await,
        StatusCode::CREATED
    );
    let r = app
        .api(
            &scim.admin,
            Method::POST,
            "/tokens",
            Some(json!({"name": "after", "scopes": ["tenant:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
