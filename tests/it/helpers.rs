//! `spawn_app` and typed helpers: a real server on port 0, a fresh database, an HTTP client.

use std::net::SocketAddr;
use std::path::PathBuf;

use gatehouse::app::{self, AppState};
use gatehouse::config::Config;
use gatehouse::types::Clock;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sqlx::Connection;

/// Environment variable naming an admin PostgreSQL URL; when set, each test gets a new database.
pub const PG_ENV: &str = "GATEHOUSE_TEST_DATABASE_URL";

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub operator_token: String,
    pub state: AppState,
    pub config: Config,
    pub clock: Clock,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

/// A PostgreSQL database created for one test and dropped after it.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

/// A fresh database URL for one test, plus its guard.
async fn fresh_database() -> (Option<String>, Option<PgDatabase>) {
    let Ok(admin_url) = std::env::var(PG_ENV) else {
        return (None, None);
    };
    let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to GATEHOUSE_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url);
    (
        Some(format!("{base}/{name}")),
        Some(PgDatabase { admin_url, name }),
    )
}

pub fn test_config(dir: &std::path::Path, database_url: Option<String>) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.server.max_body_bytes = 64 * 1024;
    config.database.max_connections = 4;
    // The tests' IdPs run on this machine.
    config.sso.allow_private_networks = true;
    // Generous for debug builds on a loaded machine; the limit itself is tested in the host.
    config.plugins.timeout_ms = 2_000;
    // Compiled components are keyed by content and engine, so every test app can share them.
    config.plugins.cache_dir =
        Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache"));
    if let Some(url) = database_url {
        config.database.url = Some(url);
        // Every node of a PostgreSQL deployment shares one configured key.
        config.secrets.master_key = Some(
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
                .to_string()
                .into(),
        );
    }
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with the test configuration changed by `change`.
pub async fn spawn_app_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, pg) = fresh_database().await;
    let mut config = test_config(dir.path(), url);
    change(&mut config);
    spawn_with(config, dir, pg).await
}

async fn spawn_with(mut config: Config, dir: tempfile::TempDir, pg: Option<PgDatabase>) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // IdPs are told absolute URLs (ACS, metadata): they must name the bound port. A test
    // that set an https public URL keeps the scheme (as behind a TLS-terminating proxy).
    let scheme = if config.is_https() { "https" } else { "http" };
    config.server.public_url = Some(format!("{scheme}://{addr}"));
    let clock = Clock::system();
    let started = app::start(config.clone(), clock.clone())
        .await
        .expect("start");
    let operator_token = started
        .operator_token
        .as_ref()
        .expect("a fresh database creates the operator token")
        .expose_secret()
        .to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = started.state.clone();
    let server = tokio::spawn(app::serve(state.clone(), listener, async {
        let _ = rx.await;
    }));
    TestApp {
        url: format!("http://{addr}"),
        client: reqwest::Client::new(),
        operator_token,
        state,
        config,
        clock,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
        pg,
    }
}

/// A response: status, headers and the body parsed as JSON (Null when empty or not JSON).
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The problem-details `type` slug (after `urn:gatehouse:problem:`).
    pub fn problem(&self) -> &str {
        self.body["type"]
            .as_str()
            .and_then(|t| t.strip_prefix("urn:gatehouse:problem:"))
            .unwrap_or("")
    }
}

impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_with(method, path, token, body, &[]).await
    }

    /// [`TestApp::call`] with extra request `headers`.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.url));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        crate::api_described::check(&method, path, status, content_type, &bytes);
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn op(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call(
            method,
            &format!("/operator/v1{path}"),
            Some(&self.operator_token),
            body,
        )
        .await
    }

    /// Uploads a component to `prefix` (`/api/v1` or `/operator/v1`) as `application/wasm`.
    pub async fn upload(
        &self,
        token: &str,
        prefix: &str,
        query: &str,
        wasm: Vec<u8>,
        content_type: &str,
    ) -> Resp {
        let res = self
            .client
            .post(format!("{}{prefix}/plugins?{query}", self.url))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(wasm)
            .send()
            .await
            .expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let got = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let path = format!("{prefix}/plugins");
        crate::api_described::check(&Method::POST, &path, status, got, &bytes);
        Resp {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn api(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call(method, &format!("/api/v1{path}"), Some(token), body)
            .await
    }

    /// [`TestApp::api`] from the client address `ip`, as a trusted proxy in front reports it.
    pub async fn api_from(
        &self,
        ip: &str,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let headers = [("x-forwarded-for", ip)];
        let path = format!("/api/v1{path}");
        self.call_with(method, &path, Some(token), body, &headers)
            .await
    }

    /// Creates a tenant with one verified domain; returns its id.
    pub async fn create_tenant(&self, slug: &str) -> String {
        let r = self
            .op(
                Method::POST,
                "/tenants",
                Some(json!({ "slug": slug, "name": format!("{slug} Inc"), "domains": [format!("{slug}.example")] })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Issues a tenant API token through the operator API; returns (token id, token).
    pub async fn tenant_token(&self, tenant: &str, scopes: &[&str]) -> (String, String) {
        let r = self
            .op(
                Method::POST,
                &format!("/tenants/{tenant}/tokens"),
                Some(json!({ "name": "test", "scopes": scopes })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            r.body["id"].as_str().expect("id").to_string(),
            r.body["token"].as_str().expect("token").to_string(),
        )
    }

    /// Actions in a tenant's audit log, oldest first.
    pub async fn audit_actions(&self, tenant: &str) -> Vec<String> {
        let r = self
            .op(
                Method::GET,
                &format!("/tenants/{tenant}/audit-events?limit=500"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let mut actions: Vec<String> = r.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["action"].as_str().unwrap_or_default().to_string())
            .collect();
        actions.reverse();
        actions
    }

    /// Runs raw SQL against the app's database, as someone with database access would.
    pub async fn raw_sql(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let url = self.config.database_url();
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .expect("raw sql");
    }

    /// Runs a query returning one integer against the app's database.
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let url = self.config.database_url();
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut conn)
            .await
            .expect("scalar query")
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("join").expect("serve");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Waits up to 30 s for `done` to hold.
/// Posts `form` (URL-encoded) to `path` of `app`; the status and the JSON answer.
pub async fn post_form_json(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.url))
        .form(form)
        .send()
        .await
        .expect("POST");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

pub async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A request as a [`Receiver`] took it: headers and body.
pub type Received = (axum::http::HeaderMap, Vec<u8>);

/// An HTTP endpoint of the app's, on loopback, that keeps every POST it takes (headers and
/// body) and answers `200`, or `503` while `down`.
#[derive(Clone, Default)]
pub struct Receiver {
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    pub down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    /// Starts one; returns it and its URL.
    pub async fn start() -> (Self, String) {
        let me = Self::default();
        let seen = me.clone();
        let router = axum::Router::new().route(
            "/receive",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let seen = seen.clone();
                    async move {
                        if seen.down.load(std::sync::atomic::Ordering::SeqCst) {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        seen.requests.lock().unwrap().push((headers, body.to_vec()));
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/receive", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (me, url)
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits for the `n`-th request (from 1) and returns it.
    pub async fn nth(&self, n: usize) -> Received {
        until(&format!("request {n}"), || async { self.count() >= n }).await;
        self.requests.lock().unwrap()[n - 1].clone()
    }
}
