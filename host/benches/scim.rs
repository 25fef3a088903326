//! SCIM provisioning per second, end to end over HTTP on loopback: `POST /Users` (a new
//! user: token check, schema check, uniqueness, insert, audit event in the same
//! transaction) and `PATCH /Users/{id}` (read, apply, check, write, audit), each with p50
//! and p99 latency, on SQLite and on PostgreSQL (127.0.0.1:5432, a fresh database; set
//! `GATEHOUSE_BENCH_POSTGRES_URL` to use another server, or to `none` to skip it). The server
//! runs as its own `gatehouse serve` process (see `common::Server`); it and the load
//! generator share this machine. Run with `cargo bench -p gatehouse --bench scim`.

mod common;

use std::sync::Arc;

use serde_json::{json, Value};

const WARMUP: usize = 300;
const RUNS: usize = 6_000;
const CONCURRENCY: usize = 16;

fn main() {
    common::on_each_database(bench);
}

/// Each phase: WARMUP calls one by one, then RUNS from CONCURRENCY workers.
fn load() -> common::Load {
    common::Load {
        warmup: WARMUP,
        runs: RUNS,
        concurrency: CONCURRENCY,
    }
}

async fn bench(backend: &'static str, database_url: Option<String>) {
    let server = common::Server::start(database_url).await;
    let base = server.base.clone();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let tenant = server.tenant(&http, "bench").await;
    let tenant_id = tenant["id"].as_str().unwrap().to_string();
    let public = tenant["public_token"].as_str().unwrap().to_string();
    let token = Arc::new(server.token(&http, &tenant_id, &["scim"]).await);
    let users = Arc::new(format!("{base}/scim/v2/{public}/Users"));
    let ids: Arc<Vec<std::sync::OnceLock<String>>> = Arc::new(
        (0..WARMUP + RUNS)
            .map(|_| std::sync::OnceLock::new())
            .collect(),
    );

    {
        let (http, token, users, ids) = (http.clone(), token.clone(), users.clone(), ids.clone());
        common::measure(&format!("SCIM POST /Users, {backend}"), load(), move |i| {
            let (http, token, users, ids) =
                (http.clone(), token.clone(), users.clone(), ids.clone());
            async move {
                let email = format!("user{i}@bench.example");
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": email,
                    "externalId": format!("ext-{i}"),
                    "name": {"givenName": "Bench", "familyName": format!("User {i}")},
                    "emails": [{"value": email, "type": "work", "primary": true}],
                    "active": true
                });
                let r = http
                    .post(users.as_str())
                    .bearer_auth(token.as_str())
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), reqwest::StatusCode::CREATED);
                let created: Value = r.json().await.unwrap();
                let _ = ids[i].set(created["id"].as_str().unwrap().to_string());
            }
        })
        .await;
    }
    {
        let (http, token, users, ids) = (http.clone(), token.clone(), users.clone(), ids.clone());
        common::measure(
            &format!("SCIM PATCH /Users/{{id}}, {backend}"),
            load(),
            move |i| {
                let (http, token, users, ids) =
                    (http.clone(), token.clone(), users.clone(), ids.clone());
                async move {
                    let id = ids[i].get().expect("created above");
                    let body = json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [
                            {"op": "replace", "path": "title", "value": format!("Title {i}")},
                            {"op": "replace", "path": "name.givenName", "value": "Patched"}
                        ]
                    });
                    let r = http
                        .patch(format!("{users}/{id}"))
                        .bearer_auth(token.as_str())
                        .header("content-type", "application/scim+json")
                        .body(body.to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), reqwest::StatusCode::OK);
                    let _ = r.bytes().await;
                }
            },
        )
        .await;
    }
}
