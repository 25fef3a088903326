//! The plugin management API end to end: uploads (both build shapes of the template, and the
//! ways an upload is refused), visibility between tenants, the pipeline with secrets, dry-runs
//! of one plugin and of the pipeline, the role catalogue through the built-in role mapper,
//! deletion rules, and a failing plugin failing sign-in closed with an audit event.

use gatehouse::audit::RequestContext;
use gatehouse::identity::{Attribute, Protocol, RawIdentity};
use gatehouse::plugins::sign_in;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::components::{template_cargo_component_shape, template_wasip2};
use crate::helpers::{spawn_app, TestApp};

const HOSTILE: &[u8] = include_bytes!("../../plugins/dist/hostile-mapper.wasm");
const WASM: &str = "application/wasm";

async fn admin(app: &TestApp, slug: &str) -> (String, String) {
    let tenant = app.create_tenant(slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    (tenant, token)
}

fn raw_identity() -> Value {
    json!({
        "protocol": "saml",
        "issuer": "https://idp.example.com",
        "subject": "ada@example.com",
        "attributes": {
            "email": "Ada@Example.com",
            "givenName": "Ada",
            "sn": "Lovelace",
            "Department": "Engineering",
            "groups": ["admins", "staff"],
            "space_name": "Berlin, London, Atlantis",
            "space_role": "editor, viewer, admin"
        }
    })
}

fn raw_identity_domain() -> RawIdentity {
    let attr = |name: &str, values: &[&str]| Attribute {
        name: name.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    RawIdentity {
        protocol: Protocol::Saml,
        issuer: "https://idp.example.com".into(),
        subject: "ada@example.com".into(),
        attributes: vec![
            attr("email", &["Ada@Example.com"]),
            attr("Department", &["Engineering"]),
        ],
    }
}

#[tokio::test]
async fn the_template_built_both_ways_uploads_dry_runs_and_runs_in_the_pipeline() {
    let app = spawn_app().await;
    let (tenant, token) = admin(&app, "acme").await;
    let tenant_id = tenant.parse().unwrap();
    for (version, wasm) in [
        ("1.0.0-wasip2", template_wasip2()),
        ("1.0.0-component", template_cargo_component_shape()),
    ] {
        let up = app
            .upload(
                &token,
                "/api/v1",
                &format!("name=acme-mapper&version={version}"),
                wasm.clone(),
                WASM,
            )
            .await;
        assert_eq!(up.status, StatusCode::CREATED, "{version}: {}", up.body);
        assert_eq!(up.body["world"], "attribute-mapper");
        assert_eq!(up.body["visibility"], "private");
        assert_eq!(up.body["size"], wasm.len());
        assert_eq!(up.body["sha256"].as_str().unwrap().len(), 64);
        let id = up.body["id"].as_str().unwrap().to_string();

        let dry = app
            .api(
                &token,
                Method::POST,
                &format!("/plugins/{id}/dry-run"),
                Some(json!({
                    "input": {"subject": "u1", "email": "Ada@Example.com",
                              "attributes": {"Department": "Engineering"}},
                    "config": {"custom_attributes": "department"}
                })),
            )
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
        assert_eq!(dry.body["ok"], true);
        let stage = &dry.body["stages"][0];
        assert_eq!(stage["output"]["email"], "ada@example.com");
        assert_eq!(stage["output"]["custom"][0]["name"], "department");
        assert_eq!(stage["logs"][0]["level"], "info");
        assert!(stage["duration_us"].as_u64().is_some());

        let assigned = app
            .api(
                &token,
                Method::PUT,
                "/pipeline/attribute-mapper",
                Some(json!({"plugin_id": id, "config": {"custom_attributes": "department"}})),
            )
            .await;
        assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);

        let run = app
            .api(
                &token,
                Method::POST,
                "/pipeline/dry-run",
                Some(json!({"raw_identity": raw_identity()})),
            )
            .await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.body);
        assert_eq!(run.body["ok"], true, "{}", run.body);
        let stages = run.body["stages"].as_array().unwrap();
        let names: Vec<&str> = stages
            .iter()
            .map(|s| s["plugin"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["generic-adapter", "acme-mapper", "default-role-mapper"]
        );
        assert_eq!(stages[1]["plugin"]["version"], version);
        assert_eq!(stages[1]["output"]["custom"][0]["values"][0], "Engineering");

        // The real sign-in path runs the same pipeline.
        let mapped = sign_in::run(
            &app.state,
            tenant_id,
            // A connection without its own adapter: the tenant's stages run.
            gatehouse::types::ConnectionId::generate(),
            &RequestContext::default(),
            &raw_identity_domain(),
        )
        .await
        .unwrap();
        assert_eq!(mapped.profile.email, "ada@example.com");
        assert_eq!(mapped.profile.custom[0].values, ["Engineering"]);
    }
}

#[tokio::test]
async fn uploads_are_refused_with_specific_errors() {
    let app = spawn_app().await;
    let (_, token) = admin(&app, "acme").await;
    let q = "name=x&version=1";
    let r = app
        .upload(
            &token,
            "/api/v1",
            q,
            template_wasip2(),
            "application/octet-stream",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("application/wasm"));

    let r = app
        .upload(&token, "/api/v1", q, b"not wasm".to_vec(), WASM)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "component");

    let r = app
        .upload(&token, "/api/v1", q, b"\0asm\x01\0\0\0".to_vec(), WASM)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("core WebAssembly module"),
        "{}",
        r.body
    );

    // A valid component that implements none of the worlds: the message lists what is missing.
    let empty = wit_component::ComponentEncoder::default()
        .module(&wat_module())
        .unwrap()
        .encode()
        .unwrap();
    let r = app.upload(&token, "/api/v1", q, empty, WASM).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("implements none of the plugin worlds"),
        "{detail}"
    );
    assert!(detail.contains("gatehouse:plugin/roles@0.1.0"), "{detail}");

    let r = app
        .upload(
            &token,
            "/api/v1",
            "name=Bad_Name&version=1",
            template_wasip2(),
            WASM,
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    let r = app
        .upload(&token, "/api/v1", "name=x", template_wasip2(), WASM)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    let too_big = vec![0u8; app.config.plugins.max_component_bytes + 1];
    let r = app.upload(&token, "/api/v1", q, too_big, WASM).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("plugins.max_component_bytes"));

    assert_eq!(
        app.upload(&token, "/api/v1", q, template_wasip2(), WASM)
            .await
            .status,
        StatusCode::CREATED
    );
    let again = app
        .upload(&token, "/api/v1", q, template_wasip2(), WASM)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Nothing half-written: one plugin, one upload event.
    let list = app.api(&token, Method::GET, "/plugins", None).await;
    let private: Vec<&Value> = list.body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["visibility"] == "private")
        .collect();
    assert_eq!(private.len(), 1);
}

/// The smallest core module with a `memory` export: wrapped, it is a component that
/// exports nothing a plugin world needs.
fn wat_module() -> Vec<u8> {
    // (module (memory (export "memory") 1))
    vec![
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x0a,
        0x01, 0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00,
    ]
}

#[tokio::test]
async fn tenant_uploads_are_private_and_operator_uploads_are_shared() {
    let app = spawn_app().await;
    let (_, a) = admin(&app, "alpha").await;
    let (_, b) = admin(&app, "bravo").await;
    let private = app
        .upload(
            &a,
            "/api/v1",
            "name=alpha-mapper&version=1",
            template_wasip2(),
            WASM,
        )
        .await;
    let private_id = private.body["id"].as_str().unwrap().to_string();
    let op = app.operator_token.clone();
    let published = app
        .upload(
            &op,
            "/operator/v1",
            "name=shared-mapper&version=1",
            template_wasip2(),
            WASM,
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    assert_eq!(published.body["visibility"], "published");

    let names = |r: &Value| -> Vec<String> {
        r["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let seen_by_b = names(&app.api(&b, Method::GET, "/plugins", None).await.body);
    assert!(seen_by_b.contains(&"shared-mapper".to_string()));
    assert!(seen_by_b.contains(&"entra-adapter".to_string()));
    assert!(!seen_by_b.contains(&"alpha-mapper".to_string()));
    assert_eq!(
        app.api(&b, Method::GET, &format!("/plugins/{private_id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let steal = app
        .api(
            &b,
            Method::PUT,
            "/pipeline/attribute-mapper",
            Some(json!({"plugin_id": private_id})),
        )
        .await;
    assert_eq!(steal.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.api(&b, Method::DELETE, &format!("/plugins/{private_id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let seen_by_operator = names(&app.op(Method::GET, "/plugins", None).await.body);
    assert!(seen_by_operator.contains(&"shared-mapper".to_string()));
    assert!(!seen_by_operator.contains(&"alpha-mapper".to_string()));

    // A tenant cannot delete a published plugin, and nobody deletes a built-in.
    let shared_id = published.body["id"].as_str().unwrap();
    assert_eq!(
        app.api(&a, Method::DELETE, &format!("/plugins/{shared_id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let list = app.op(Method::GET, "/plugins", None).await;
    let builtin = list.body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["builtin"] == true)
        .unwrap();
    let r = app
        .op(
            Method::DELETE,
            &format!("/plugins/{}", builtin["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_plugin_in_use_is_kept_until_its_stage_is_reset_and_every_change_is_audited() {
    let app = spawn_app().await;
    let (tenant, token) = admin(&app, "acme").await;
    let up = app
        .upload(
            &token,
            "/api/v1",
            "name=acme-mapper&version=2",
            template_wasip2(),
            WASM,
        )
        .await;
    let id = up.body["id"].as_str().unwrap().to_string();
    let assigned = app
        .api(
            &token,
            Method::PUT,
            "/pipeline/attribute-mapper",
            Some(
                json!({"plugin_id": id, "config": {"custom_attributes": "department"},
                        "secrets": {"api_key": "s3cr3t-value"}}),
            ),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    assert_eq!(assigned.body["secret_keys"], json!(["api_key"]));

    // Secrets are write-only and never stored or audited in the clear.
    let pipeline = app.api(&token, Method::GET, "/pipeline", None).await;
    let text = pipeline.body.to_string();
    assert!(!text.contains("s3cr3t-value"));
    let stage = pipeline.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "attribute-mapper")
        .unwrap();
    assert_eq!(stage["assigned"], true);
    assert_eq!(stage["config"]["custom_attributes"], "department");
    let events = app.api(&token, Method::GET, "/audit-events", None).await;
    assert!(!events.body.to_string().contains("s3cr3t-value"));

    // A stage only takes a plugin of its world.
    let wrong = app
        .api(
            &token,
            Method::PUT,
            "/pipeline/role-mapper",
            Some(json!({"plugin_id": id})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("plugin_id"))
    );
    let bad_stage = app
        .api(
            &token,
            Method::PUT,
            "/pipeline/mapper",
            Some(json!({"plugin_id": id})),
        )
        .await;
    assert_eq!(bad_stage.status, StatusCode::BAD_REQUEST);

    let busy = app
        .api(&token, Method::DELETE, &format!("/plugins/{id}"), None)
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{}", busy.body);
    let reset = app
        .api(&token, Method::DELETE, "/pipeline/attribute-mapper", None)
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let gone = app
        .api(&token, Method::DELETE, &format!("/plugins/{id}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);

    let actions = app.audit_actions(&tenant).await;
    for action in [
        "plugin.uploaded",
        "pipeline.stage_assigned",
        "pipeline.stage_reset",
        "plugin.deleted",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_built_in_role_mapper_applies_the_tenant_catalogue() {
    let app = spawn_app().await;
    let (_, token) = admin(&app, "acme").await;
    let bad = app
        .api(
            &token,
            Method::PUT,
            "/catalogue",
            Some(json!({"roles": ["member"], "default_role": "owner"})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("default_role"))
    );

    let catalogue = json!({
        "roles": ["admin", "editor", "viewer", "member"],
        "default_role": "member",
        "scopes": [{"kind": "space", "name": "Berlin"}, {"kind": "space", "name": "London"}],
        "group_mappings": [{"group_id": "admins", "role": "admin"}]
    });
    let put = app
        .api(&token, Method::PUT, "/catalogue", Some(catalogue.clone()))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(
        app.api(&token, Method::GET, "/catalogue", None).await.body,
        catalogue
    );

    let run = app
        .api(
            &token,
            Method::POST,
            "/pipeline/dry-run",
            Some(json!({"raw_identity": raw_identity()})),
        )
        .await;
    assert_eq!(run.body["ok"], true, "{}", run.body);
    // Group table first; then spaces paired with roles in order, Atlantis (unknown) dropped
    // with its role.
    assert_eq!(
        run.body["stages"][2]["output"],
        json!([
            {"role": "admin", "scope": null},
            {"role": "editor", "scope": {"kind": "space", "name": "Berlin"}},
            {"role": "viewer", "scope": {"kind": "space", "name": "London"}},
        ])
    );
}

#[tokio::test]
async fn a_failing_plugin_fails_sign_in_closed_and_is_audited() {
    let app = spawn_app().await;
    let (tenant, token) = admin(&app, "acme").await;
    let up = app
        .upload(
            &token,
            "/api/v1",
            "name=hostile&version=1",
            HOSTILE.to_vec(),
            WASM,
        )
        .await;
    let id = up.body["id"].as_str().unwrap().to_string();

    // The dry-run shows the failure per stage without assigning anything.
    let dry = app
        .api(
            &token,
            Method::POST,
            "/pipeline/dry-run",
            Some(json!({"raw_identity": raw_identity(),
                        "overrides": {"attribute-mapper": {"plugin_id": id, "config": {"mode": "trap"}}}})),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert_eq!(dry.body["ok"], false);
    assert_eq!(dry.body["stages"].as_array().unwrap().len(), 2);
    assert_eq!(dry.body["stages"][1]["error"]["code"], "trap");

    let assign = app
        .api(
            &token,
            Method::PUT,
            "/pipeline/attribute-mapper",
            Some(json!({"plugin_id": id, "config": {"mode": "invalid-output"}})),
        )
        .await;
    assert_eq!(assign.status, StatusCode::OK, "{}", assign.body);
    let err = sign_in::run(
        &app.state,
        tenant.parse().unwrap(),
        gatehouse::types::ConnectionId::generate(),
        &RequestContext::default(),
        &raw_identity_domain(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            gatehouse::Error::PluginFailed {
                stage: "attribute-mapper",
                ..
            }
        ),
        "{err:?}"
    );
    let actions = app.audit_actions(&tenant).await;
    assert!(actions.iter().any(|a| a == "plugin.failed"), "{actions:?}");
    // The host keeps serving.
    assert_eq!(
        app.api(&token, Method::GET, "/pipeline", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_scim_adapter_dry_runs_and_takes_the_scim_stage() {
    let app = spawn_app().await;
    let (_, token) = admin(&app, "acme").await;
    let fixer = include_bytes!("../../plugins/dist/scim-fixer.wasm").to_vec();
    let up = app
        .upload(
            &token,
            "/api/v1",
            "name=entra-scim-fix&version=1",
            fixer,
            WASM,
        )
        .await;
    assert_eq!(up.body["world"], "scim-adapter", "{}", up.body);
    let id = up.body["id"].as_str().unwrap().to_string();
    let dry = app
        .api(
            &token,
            Method::POST,
            &format!("/plugins/{id}/dry-run"),
            Some(json!({"input": {"method": "PATCH", "path": "/Users/42",
                "body": {"Operations": [{"op": "Add", "path": "members", "value": [{"value": "7"}]}]}}})),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert_eq!(
        dry.body["stages"][0]["output"],
        json!({"method": "PATCH", "path": "/Users/42",
               "body": {"Operations": [{"op": "add", "path": "members", "value": [{"value": "7"}]}]}})
    );
    let bad = app
        .api(
            &token,
            Method::POST,
            &format!("/plugins/{id}/dry-run"),
            Some(json!({"input": {"method": "BREW", "path": "/"}})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("method"))
    );

    let assign = app
        .api(
            &token,
            Method::PUT,
            "/pipeline/scim-adapter",
            Some(json!({"plugin_id": id})),
        )
        .await;
    assert_eq!(assign.status, StatusCode::OK, "{}", assign.body);
    let pipeline = app.api(&token, Method::GET, "/pipeline", None).await;
    let stage = pipeline.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "scim-adapter")
        .unwrap();
    assert_eq!(stage["plugin"]["name"], "entra-scim-fix");
}

#[tokio::test]
async fn a_dry_run_override_never_hands_a_stages_stored_secrets_to_another_plugin() {
    let app = spawn_app().await;
    let (_, token) = admin(&app, "secrets-co").await;
    let mut ids = Vec::new();
    for version in ["1", "2"] {
        let up = app
            .upload(
                &token,
                "/api/v1",
                &format!("name=echo&version={version}"),
                HOSTILE.to_vec(),
                WASM,
            )
            .await;
        assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
        ids.push(up.body["id"].as_str().unwrap().to_string());
    }
    let assign = app
        .api(
            &token,
            Method::PUT,
            "/pipeline/attribute-mapper",
            Some(json!({"plugin_id": ids[0], "config": {"mode": "echo-config"}, "secrets": {"api_key": "s3cret-value"}})),
        )
        .await;
    assert_eq!(assign.status, StatusCode::OK, "{}", assign.body);
    let dry_run = |plugin: &str| {
        app.api(
            &token,
            Method::POST,
            "/pipeline/dry-run",
            Some(json!({"raw_identity": raw_identity(), "overrides": {"attribute-mapper": {"plugin_id": plugin}}})),
        )
    };
    // The plugin the secret was given to still gets it in a dry-run.
    let same = dry_run(&ids[0]).await;
    assert!(
        same.body.to_string().contains("api_key=s3cret-value"),
        "{}",
        same.body
    );
    // Another plugin, even with the stored values, does not.
    let other = dry_run(&ids[1]).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    let text = other.body.to_string();
    assert!(text.contains("mode=echo-config"), "{text}");
    assert!(
        !text.contains("s3cret"),
        "a stored secret reached another plugin: {text}"
    );
}
