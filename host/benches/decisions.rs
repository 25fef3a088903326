//! Permission decisions: one decision in process (the compiled table, a lookup and a few set
//! checks, beside a bare matrix lookup for scale), then the decision API over HTTP from
//! another process (batches of evaluations, as an app checks a list page), and the
//! permission snapshot's fetch latency. Run with `cargo bench -p gatehouse --bench decisions`.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use gatehouse::rbac::catalogue::{Catalogue, ScopeRef};
use gatehouse::rbac::compile::{for_user, Held};
use gatehouse::rbac::decide::{decide, Record};
use serde_json::{json, Value};

/// Evaluations per batch request: one list page of records.
const BATCH: usize = 1_000;
const CONCURRENCY: usize = 4;

fn catalogue() -> Value {
    json!({
        "roles": [
            "member", "viewer",
            {"name": "site_tech", "grants": {
                "work_orders": {"view": "location", "edit": "location", "delete": "own"},
                "assets": {"view": "tenant", "edit": "team"}
            }}
        ],
        "default_role": "member",
        "modules": [{"name": "work_orders"}, {"name": "assets"}],
        "scopes": [
            {"kind": "location", "name": "EMEA"},
            {"kind": "location", "name": "Plant 3", "parent": "EMEA"},
            {"kind": "location", "name": "Line A", "parent": "Plant 3"},
            {"kind": "location", "name": "Plant 5", "parent": "EMEA"},
            {"kind": "team", "name": "Blue"}
        ]
    })
}

/// The record of evaluation `i`: a location (inside Plant 3 or not) and an owner.
fn record_properties(i: usize) -> Value {
    let location = ["Line A", "Plant 5", "Plant 3", "EMEA"][i % 4];
    let owner = if i % 3 == 0 { "someone" } else { "else" };
    json!({"location": location, "owner": owner})
}

fn in_process() {
    let catalogue: Catalogue = serde_json::from_value(catalogue()).unwrap();
    let held = vec![
        Held {
            role: "site_tech".into(),
            scope: Some(ScopeRef {
                kind: "location".into(),
                name: "Plant 3".into(),
            }),
            source: "sso".into(),
        },
        Held {
            role: "viewer".into(),
            scope: Some(ScopeRef {
                kind: "team".into(),
                name: "Blue".into(),
            }),
            source: "scim".into(),
        },
    ];
    let started = Instant::now();
    let compiles = 10_000;
    for _ in 0..compiles {
        black_box(for_user(&catalogue, &[], "u1", false, black_box(&held)));
    }
    println!(
        "compile a user's permissions (2 assignments, 5 scopes): {:.2} µs",
        started.elapsed().as_secs_f64() * 1e6 / compiles as f64
    );
    let perms = for_user(&catalogue, &[], "u1", false, &held);
    let records: Vec<[(&str, &str); 1]> = ["Line A", "Plant 5", "Plant 3", "EMEA"]
        .iter()
        .map(|l| [("location", *l)])
        .collect();
    let questions = [
        ("work_orders", "edit"),
        ("work_orders", "delete"),
        ("assets", "view"),
        ("assets", "export"),
    ];
    let n = 10_000_000usize;
    let started = Instant::now();
    let mut allowed = 0usize;
    for i in 0..n {
        let (module, action) = questions[i % 4];
        let record = Record {
            owner: Some(if i % 3 == 0 { "u1" } else { "u2" }),
            scopes: &records[(i / 4) % 4],
        };
        allowed += usize::from(decide(black_box(&perms), module, action, &record).allowed());
    }
    let per = started.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!("one decision in process: {per:.1} ns ({allowed} of {n} allowed)");

    // For scale: a bare module × action → bool matrix lookup.
    let matrix: HashMap<(&str, &str), bool> = questions.iter().map(|q| (*q, true)).collect();
    let started = Instant::now();
    let mut hits = 0usize;
    for i in 0..n {
        hits += usize::from(*black_box(&matrix).get(&questions[i % 4]).unwrap_or(&false));
    }
    println!(
        "a bare matrix lookup, for scale: {:.1} ns ({hits})",
        started.elapsed().as_secs_f64() * 1e9 / n as f64
    );
}

fn main() {
    in_process();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(over_http());
}

async fn over_http() {
    let server = common::Server::start(None).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let base = server.base.clone();
    let tenant = server.tenant(&http, "decide").await;
    let tenant = tenant["id"].as_str().unwrap();
    let admin = server.token(&http, tenant, &["admin"]).await;
    let pep = server.token(&http, tenant, &["access:evaluate"]).await;
    let put = http
        .put(format!("{base}/api/v1/catalogue"))
        .bearer_auth(&admin)
        .json(&catalogue())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let invited: Value = http
        .post(format!("{base}/api/v1/invitations"))
        .bearer_auth(&admin)
        .json(&json!({"email": "tech@decide.example"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = invited["user_id"].as_str().unwrap().to_string();
    let assigned = http
        .put(format!("{base}/api/v1/users/{user}/roles"))
        .bearer_auth(&admin)
        .json(&json!({"assignments": [
            {"role": "site_tech", "scope": {"kind": "location", "name": "Plant 3"}},
            {"role": "viewer", "scope": {"kind": "team", "name": "Blue"}}
        ]}))
        .send()
        .await
        .unwrap();
    assert!(assigned.status().is_success());

    let evaluations: Vec<Value> = (0..BATCH)
        .map(|i| {
            let action = ["view", "edit"][i % 2];
            json!({
                "action": {"name": action},
                "resource": {"type": "work_orders", "id": i.to_string(), "properties": record_properties(i)}
            })
        })
        .collect();
    let body = Arc::new(
        json!({"subject": {"type": "user", "id": user}, "evaluations": evaluations}).to_string(),
    );
    let call = {
        let (http, base, pep, body) = (http.clone(), base.clone(), pep.clone(), body.clone());
        move |_| {
            let (http, base, pep, body) = (http.clone(), base.clone(), pep.clone(), body.clone());
            async move {
                let r = http
                    .post(format!("{base}/access/v1/evaluations"))
                    .bearer_auth(&pep)
                    .header("content-type", "application/json")
                    .body(body.as_str().to_string())
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                let answers: Value = r.json().await.unwrap();
                assert_eq!(answers["evaluations"].as_array().unwrap().len(), BATCH);
            }
        }
    };
    let load = common::Load {
        warmup: 20,
        runs: 200,
        concurrency: CONCURRENCY,
    };
    let rate = common::measure(
        &format!("POST /access/v1/evaluations, {BATCH} per request"),
        load,
        call,
    )
    .await;
    println!(
        "decisions over HTTP: {:.0}/s (batches of {BATCH})",
        rate * BATCH as f64
    );

    let snapshot = {
        let (http, base, pep, user) = (http.clone(), base.clone(), pep.clone(), user.clone());
        move |_| {
            let (http, base, pep, user) = (http.clone(), base.clone(), pep.clone(), user.clone());
            async move {
                let r = http
                    .get(format!("{base}/access/v1/users/{user}/permissions"))
                    .bearer_auth(&pep)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
            }
        }
    };
    let load = common::Load {
        warmup: 50,
        runs: 2_000,
        concurrency: CONCURRENCY,
    };
    common::measure(
        "GET /access/v1/users/{id}/permissions (snapshot)",
        load,
        snapshot,
    )
    .await;
}
