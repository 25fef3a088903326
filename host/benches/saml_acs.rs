//! SAML sign-ins per second at the ACS, end to end over HTTP on loopback: a signed
//! assertion (RSA-SHA256, xmlsec) for an existing user, every response check, the replay
//! cache, the three-stage plugin pipeline, the directory reconcile, a new session and the
//! audit events, on SQLite. The server runs as its own `gatehouse serve` process (see
//! `common::Server`); it and the load generator share this 2-core machine. Prints the first
//! sign-ins right after start (cold) and the warm rate. Run with
//! `cargo bench -p gatehouse --bench saml_acs`.

mod common;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use common::saml::{idp_key, signed_response};

const WARMUP: usize = 300;
const RUNS: usize = 4_000;
const CONCURRENCY: usize = 16;

/// What the load generator posts, and where.
struct Poster {
    http: reqwest::Client,
    acs: String,
    responses: Arc<Vec<String>>,
}

impl Poster {
    async fn post(&self, i: usize) {
        let r = self
            .http
            .post(&self.acs)
            .form(&[("SAMLResponse", self.responses[i].as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            reqwest::StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap()
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let server = common::Server::start(None).await;
    let base = server.base.clone();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let call = |method: reqwest::Method, path: &str, token: &str, body: Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let tenant = server.tenant(&http, "bench").await;
    let tenant_id = tenant["id"].as_str().unwrap();
    let token = &server.token(&http, tenant_id, &["admin"]).await;
    let (cert, key) = idp_key();
    let idp = "https://idp.bench.example/metadata";
    let connection: Value = call(
        reqwest::Method::POST,
        "/api/v1/sso/connections",
        token,
        json!({"name": "bench", "status": "enabled", "saml": {
            "idp_entity_id": idp, "sso_url": "https://idp.bench.example/sso",
            "certificates": [cert], "allow_idp_initiated": true}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let sp = connection["saml"]["service_provider"]["entity_id"]
        .as_str()
        .unwrap()
        .to_string();
    let acs = connection["saml"]["service_provider"]["acs_url"]
        .as_str()
        .unwrap()
        .to_string();

    let signing = Instant::now();
    let responses: Vec<String> = (0..WARMUP + RUNS)
        .map(|n| signed_response(n, idp, &sp, &acs, "ada@bench.example", &key))
        .collect();
    println!(
        "signed {} responses in {:.1} s (the IdP side, not measured below)",
        responses.len(),
        signing.elapsed().as_secs_f64()
    );
    let responses = Arc::new(responses);

    let poster = Arc::new(Poster {
        http: http.clone(),
        acs,
        responses,
    });
    // The first sign-in provisions the user; after it, every one is an existing user.
    let load = common::Load {
        warmup: WARMUP,
        runs: RUNS,
        concurrency: CONCURRENCY,
    };
    common::measure(
        "SAML ACS sign-ins (existing user, signed assertion, SQLite)",
        load,
        move |i| {
            let poster = poster.clone();
            async move { poster.post(i).await }
        },
    )
    .await;
}
