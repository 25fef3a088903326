//! SCIM provisioning per second, end to end over HTTP on loopback: `POST /Users` (a new
//! user: token check, schema check, uniqueness, insert, audit event in the same
//! transaction) and `PATCH /Users/{id}` (read, apply, check, write, audit), each with p50
//! and p99 latency, on SQLite and on PostgreSQL (127.0.0.1:5432, a fresh database; set
//! `GATEHOUSE_BENCH_POSTGRES_URL` to use another server, or to `none` to skip it). The server
//! and the load generator share this machine. Run with `cargo bench -p gatehouse --bench scim`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::app;
use gatehouse::config::Config;
use gatehouse::types::Clock;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sqlx::Connection;

const WARMUP: usize = 300;
const RUNS: usize = 6_000;
const CONCURRENCY: usize = 16;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        bench("SQLite", None).await;
        let pg = std::env::var("GATEHOUSE_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        if pg != "none" {
            let name = format!("gh_bench_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&pg).await.expect("PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut admin)
                .await
                .unwrap();
            let base = pg.rsplit_once('/').map(|(b, _)| b).unwrap_or(&pg);
            bench("PostgreSQL", Some(format!("{base}/{name}"))).await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    });
}

/// Runs `call(i)` for i in WARMUP..WARMUP+RUNS from CONCURRENCY workers; prints the line.
async fn measure<F, Fut>(what: &str, call: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    for i in 0..WARMUP {
        call(i).await;
    }
    let next = Arc::new(AtomicUsize::new(WARMUP));
    let began = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let next = next.clone();
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= WARMUP + RUNS {
                    return times;
                }
                let started = Instant::now();
                call(i).await;
                times.push(started.elapsed());
            }
        }));
    }
    let mut times = Vec::with_capacity(RUNS);
    for w in workers {
        times.extend(w.await.unwrap());
    }
    let elapsed = began.elapsed();
    times.sort();
    println!(
        "{what} ({CONCURRENCY} concurrent): {:.0}/s over {RUNS}; latency p50 {:.2} ms, p99 {:.2} ms",
        RUNS as f64 / elapsed.as_secs_f64(),
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
    );
}

async fn bench(backend: &'static str, database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    if database_url.is_some() {
        // Every node of a PostgreSQL deployment shares one configured key.
        config.secrets.master_key = Some(
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
                .to_string()
                .into(),
        );
    }
    config.database.url = database_url;
    config.server.public_url = Some(base.clone());
    config.log.level = "warn".into();
    let started = app::start(config, Clock::system()).await.expect("start");
    let operator = started.operator_token.unwrap().expose_secret().to_string();
    tokio::spawn(app::serve(started.state, listener, std::future::pending()));

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let post = |path: String, token: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let tenant: Value = post(
        "/operator/v1/tenants".into(),
        &operator,
        json!({"slug": "bench", "name": "Bench", "domains": ["bench.example"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let tenant_id = tenant["id"].as_str().unwrap().to_string();
    let public = tenant["public_token"].as_str().unwrap().to_string();
    let token: Value = post(
        format!("/operator/v1/tenants/{tenant_id}/tokens"),
        &operator,
        json!({"name": "idp", "scopes": ["scim"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = Arc::new(token["token"].as_str().unwrap().to_string());
    let users = Arc::new(format!("{base}/scim/v2/{public}/Users"));
    let ids: Arc<Vec<std::sync::OnceLock<String>>> = Arc::new(
        (0..WARMUP + RUNS)
            .map(|_| std::sync::OnceLock::new())
            .collect(),
    );

    {
        let (http, token, users, ids) = (http.clone(), token.clone(), users.clone(), ids.clone());
        measure(&format!("SCIM POST /Users, {backend}"), move |i| {
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
        measure(&format!("SCIM PATCH /Users/{{id}}, {backend}"), move |i| {
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
        })
        .await;
    }
}
