//! Memory with many tenants and many private plugins, measured from outside on the server
//! process: `GATEHOUSE_BENCH_TENANTS` tenants (default 1,000), each uploading
//! `GATEHOUSE_BENCH_PLUGINS` private plugins (default 3: its own idp-adapter, attribute
//! mapper and role mapper, each a built-in with a custom section naming the tenant, so every
//! one is a separate component with its own compiled code), assigning them to its pipeline
//! and signing one user in through its own SAML connection. Prints the server's resident
//! memory (now and peak) along the way and at the end with the resident-component figures
//! from `/metrics`; then the sign-in latency of tenants whose components are resident
//! against tenants whose components were evicted and must reload. The budget is the server's
//! `plugins.loaded_budget_mib` (set `GATEHOUSE_PLUGINS__LOADED_BUDGET_MIB` to change it).
//! Run with `cargo bench -p gatehouse --bench plugin_memory`.

mod common;

use std::time::{Duration, Instant};

use common::saml::{idp_key, signed_response};
use serde_json::{json, Value};

/// The built-ins each tenant uploads a private copy of, and the stage it takes.
const PRIVATE: [(&str, &str); 3] = [
    ("default-attribute-mapper", "attribute-mapper"),
    ("default-role-mapper", "role-mapper"),
    ("generic-adapter", "idp-adapter"),
];

/// `wasm` with a custom section naming `variant`: the same code under another content hash.
fn variant(wasm: &[u8], variant: &str) -> Vec<u8> {
    let name = b"gatehouse-bench-variant";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(variant.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(u8::try_from(payload.len()).expect("a short section"));
    out.extend_from_slice(&payload);
    out
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One tenant's sign-in endpoint and a pre-signed response for it.
struct Tenant {
    acs: String,
    sp: String,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let tenants = env_or("GATEHOUSE_BENCH_TENANTS", 1000);
    let per_tenant = env_or("GATEHOUSE_BENCH_PLUGINS", 3).min(PRIVATE.len());
    let server = common::Server::start(None).await;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let wasm: Vec<Vec<u8>> = PRIVATE
        .iter()
        .map(|(name, _)| {
            std::fs::read(format!(
                "{}/../plugins/dist/{name}.wasm",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        })
        .collect();
    let (cert, key) = idp_key();
    let idp = "https://idp.memory.example/metadata";
    let memory = |label: &str| {
        if let Some((rss, peak)) = server.memory_kib() {
            println!(
                "{label}: RSS {:.0} MiB, peak {:.0} MiB",
                rss as f64 / 1024.0,
                peak as f64 / 1024.0
            );
        }
    };
    memory("started");
    let started = Instant::now();
    let mut made = Vec::with_capacity(tenants);
    for t in 0..tenants {
        let slug = format!("mem{t}");
        let tenant = server.tenant(&http, &slug).await;
        let id = tenant["id"].as_str().unwrap().to_string();
        let token = server.token(&http, &id, &["admin"]).await;
        for (i, (name, stage)) in PRIVATE.iter().take(per_tenant).enumerate() {
            let r = http
                .post(format!("{base}/api/v1/plugins?name=my-{name}&version=1"))
                .bearer_auth(&token)
                .header("content-type", "application/wasm")
                .body(variant(&wasm[i], &slug))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert!(status.is_success(), "{body}");
            let r = http
                .put(format!("{base}/api/v1/pipeline/{stage}"))
                .bearer_auth(&token)
                .json(&json!({"plugin_id": body["id"]}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
        let connection: Value = http
            .post(format!("{base}/api/v1/sso/connections"))
            .bearer_auth(&token)
            .json(&json!({"name": "idp", "status": "enabled", "saml": {
                "idp_entity_id": idp, "sso_url": "https://idp.memory.example/sso",
                "certificates": [cert], "allow_idp_initiated": true}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tenant = Tenant {
            acs: connection["saml"]["service_provider"]["acs_url"]
                .as_str()
                .unwrap()
                .to_string(),
            sp: connection["saml"]["service_provider"]["entity_id"]
                .as_str()
                .unwrap()
                .to_string(),
        };
        sign_in(&http, &tenant, idp, &key, t, &slug).await;
        made.push((tenant, slug));
        if (t + 1) % 250 == 0 {
            memory(&format!(
                "{} tenants set up and signed in ({:.0} s)",
                t + 1,
                started.elapsed().as_secs_f64()
            ));
        }
    }
    memory(&format!("all {tenants} tenants signed in"));
    print_resident(&http, &base).await;

    // Three kinds of sign-in, 50 each, interleaved: the newest tenant again (every cache
    // warm); a tenant set up a while ago whose components are still resident (the node's
    // short-lived caches of tenant, connection and pipeline have expired); the earliest
    // tenants, whose components were evicted (when the budget is smaller than everything
    // uploaded). The last two differ only in the component reload.
    let mut hot = Vec::new();
    let mut resident = Vec::new();
    let mut evicted = Vec::new();
    let last = made.len() - 1;
    for round in 0..50 {
        let (tenant, slug) = &made[last];
        hot.push(sign_in(&http, tenant, idp, &key, 1_000_000 + round, slug).await);
        let (tenant, slug) = &made[last.saturating_sub(20 + round)];
        resident.push(sign_in(&http, tenant, idp, &key, 2_000_000 + round, slug).await);
        let (tenant, slug) = &made[round % made.len()];
        evicted.push(sign_in(&http, tenant, idp, &key, 3_000_000 + round, slug).await);
    }
    let p50 = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    let (resident, evicted) = (p50(&mut resident), p50(&mut evicted));
    println!(
        "sign-in p50: newest tenant again {:.2} ms; components resident, node caches expired \
         {resident:.2} ms; components evicted (reloaded) {evicted:.2} ms; reload extra {:.2} ms",
        p50(&mut hot),
        evicted - resident
    );
    print_resident(&http, &base).await;
    memory("end");
}

/// Signs a fresh user of tenant `slug` in; returns the time the ACS took.
async fn sign_in(
    http: &reqwest::Client,
    tenant: &Tenant,
    idp: &str,
    key: &[u8],
    n: usize,
    slug: &str,
) -> Duration {
    let email = format!("user{n}@{slug}.example");
    let response = signed_response(n, idp, &tenant.sp, &tenant.acs, &email, key);
    let t = Instant::now();
    let r = http
        .post(&tenant.acs)
        .form(&[("SAMLResponse", response.as_str())])
        .send()
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(
        r.status(),
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    took
}

async fn print_resident(http: &reqwest::Client, base: &str) {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("gatehouse_plugin_resident"))
        .collect();
    println!("{}", lines.join("\n"));
}
