//! Replaying recorded sign-ins through a three-stage candidate pipeline, measured from outside
//! as a client sees it: 1,000 users sign in through a SAML connection (IdP-initiated, signed
//! assertions), which records their raw identities; then `POST /api/v1/pipeline/replay` runs
//! a candidate for all three sign-in stages (each a built-in with a changed configuration)
//! beside the active pipeline over every recorded input. Prints the replay's wall time (three
//! runs), the server's own figure, and the server's resident memory before and its peak after.
//! `GATEHOUSE_BENCH_USERS` changes the number of users. Run with
//! `cargo bench -p gatehouse --bench replay`.

mod common;

use std::time::Instant;

use common::saml::{idp_key, signed_response};
use serde_json::{json, Value};

const RUNS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let users: usize = std::env::var("GATEHOUSE_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let server = common::Server::start(None).await;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tenant = server.tenant(&http, "replay").await;
    let tenant_id = tenant["id"].as_str().unwrap();
    let token = server.token(&http, tenant_id, &["admin"]).await;
    let call = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{base}/api/v1{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let catalogue = json!({"roles": ["member", "admin", "engineer"], "default_role": "member",
        "group_mappings": [{"group_id": "admins", "role": "admin"},
                           {"group_id": "engineering", "role": "engineer"}]});
    let r = call(reqwest::Method::PUT, "/catalogue", catalogue)
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let (cert, key) = idp_key();
    let idp = "https://idp.replay.example/metadata";
    let connection: Value = call(
        reqwest::Method::POST,
        "/sso/connections",
        json!({"name": "bench", "status": "enabled", "saml": {
            "idp_entity_id": idp, "sso_url": "https://idp.replay.example/sso",
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

    let started = Instant::now();
    for n in 0..users {
        let email = format!("user{n}@replay.example");
        let response = signed_response(n, idp, &sp, &acs, &email, &key);
        let r = http
            .post(&acs)
            .form(&[("SAMLResponse", response.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    }
    println!(
        "{users} users signed in (and recorded) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let recordings: Value = call(reqwest::Method::GET, "/pipeline/recordings", json!(null))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("recorded: {}", recordings["sources"]);

    let plugins: Value = call(reqwest::Method::GET, "/plugins", json!(null))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = |name: &str| {
        plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    // Groups and the display name read from other attributes (every user loses `admin` and
    // `engineer`), the space from another; the attribute mapper as it is.
    let candidate = json!({"stages": {
        "idp-adapter": {"plugin_id": id("generic-adapter"),
            "config": {"groups_attribute": "teams", "display_name_attribute": "nickname"}},
        "attribute-mapper": {"plugin_id": id("default-attribute-mapper")},
        "role-mapper": {"plugin_id": id("default-role-mapper"),
            "config": {"space_name_attribute": "other_space"}},
    }});
    let before = server.memory_kib();
    for run in 1..=RUNS {
        let t = Instant::now();
        let r = call(reqwest::Method::POST, "/pipeline/replay", candidate.clone())
            .await
            .unwrap();
        let status = r.status();
        let report: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{report}");
        let wall = t.elapsed();
        assert_eq!(report["counts"]["sign_ins"], users, "{}", report["counts"]);
        println!(
            "run {run}: replay of {users} recorded sign-ins through a 3-stage candidate: \
             {:.0} ms at the client, {} ms in the server; {}",
            wall.as_secs_f64() * 1e3,
            report["duration_ms"],
            report["summary"]
        );
    }
    if let (Some((rss0, _)), Some((rss, peak))) = (before, server.memory_kib()) {
        println!(
            "server memory: RSS {:.1} MiB before the replays, {:.1} MiB after, peak {:.1} MiB",
            rss0 as f64 / 1024.0,
            rss as f64 / 1024.0,
            peak as f64 / 1024.0
        );
    }
}
