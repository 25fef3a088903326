//! Compiled components stay within the node's memory budget: past it the least recently used
//! private component is dropped and reloads from the compiled cache when next used, with the
//! same result; `/metrics` reports the budget, hits, misses and evictions.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app_with, TestApp};

/// `wasm` with a custom section naming `variant`: the same code under another content hash,
/// so the registry holds it as a separate component.
fn variant(wasm: &[u8], variant: &str) -> Vec<u8> {
    let name = b"gatehouse-test-variant";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(variant.as_bytes());
    assert!(payload.len() < 128, "one-byte LEB128 size");
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(payload.len() as u8);
    out.extend_from_slice(&payload);
    out
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test]
async fn components_past_the_budget_are_evicted_and_reload_on_use() {
    let app = spawn_app_with(|c| c.plugins.loaded_budget_mib = 1).await;
    let tenant = app.create_tenant("budget-co").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let mapper = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/dist/default-attribute-mapper.wasm"
    ))
    .unwrap();
    let mut ids = Vec::new();
    for v in ["a", "b"] {
        let up = app
            .upload(
                &token,
                "/api/v1",
                &format!("name=mapper-{v}&version=1"),
                variant(&mapper, v),
                "application/wasm",
            )
            .await;
        assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
        ids.push(up.body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        metric(&app, "gatehouse_plugin_resident_budget_bytes").await,
        1048576.0
    );
    let evicted = metric(&app, "gatehouse_plugin_resident_evictions_total").await;
    assert!(evicted >= 2.0, "the built-ins alone fill 1 MiB: {evicted}");

    let raw = json!({"protocol": "saml", "issuer": "https://idp.example", "subject": "s-1",
        "attributes": {"email": "ada@budget-co.example", "firstName": "Ada"}});
    let misses = metric(&app, "gatehouse_plugin_resident_misses_total").await;
    for id in [&ids[0], &ids[1], &ids[0]] {
        let body = json!({"raw_identity": raw,
            "overrides": {"attribute-mapper": {"plugin_id": id}}});
        let r = app
            .api(&token, Method::POST, "/pipeline/dry-run", Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["ok"], true, "{}", r.body);
        assert_eq!(
            r.body["stages"][1]["output"]["email"], "ada@budget-co.example",
            "{}",
            r.body
        );
    }
    let reloaded = metric(&app, "gatehouse_plugin_resident_misses_total").await - misses;
    assert!(
        reloaded >= 3.0,
        "each use reloaded its component: {reloaded}"
    );
    assert!(metric(&app, "gatehouse_plugin_resident_hits_total").await > 0.0);
}
