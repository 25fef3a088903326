//! The replay gate: real SAML sign-ins and SCIM requests are recorded (sealed, counted, never
//! shown), a candidate role-mapper configuration replayed over them shows the role it would
//! remove from each recorded user, activation from the replay is the only way in when the
//! tenant requires it, the next sign-in gets the new roles and a rollback restores them; a
//! new SCIM adapter replayed over recorded SCIM requests shows the requests it rewrites.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::connection_adapters::{connection, plugin_id, sign_in, tenant};
use crate::helpers::spawn_app;
use crate::saml::events;
use crate::scim::{scim_tenant, send};

fn space_user(email: &str) -> Value {
    json!({"name_id": email, "attributes": {
        "email": [email], "space_name": ["Docs"], "space_role": ["editor"]}})
}

#[tokio::test]
async fn a_role_mapper_version_is_replayed_activated_and_rolled_back() {
    let t = tenant("replay-co").await;
    let saml = connection(&t, "IdP", None).await;
    let mapper = plugin_id(&t, "default-role-mapper").await;
    let r = t
        .app
        .api(
            &t.token,
            Method::PUT,
            "/pipeline/role-mapper",
            Some(json!({"plugin_id": mapper})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for who in ["ada@replay-co.example", "grace@replay-co.example"] {
        assert_eq!(
            sign_in(&t, &saml, &space_user(who)).await,
            ["editor@space:Docs"]
        );
    }
    // A second sign-in of the same user replaces their recorded input.
    sign_in(&t, &saml, &space_user("ada@replay-co.example")).await;

    // Counted per source, never shown.
    let r = t
        .app
        .api(&t.token, Method::GET, "/pipeline/recordings", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["sources"][0]["connection_id"],
        saml.as_str(),
        "{}",
        r.body
    );
    assert_eq!(r.body["sources"][0]["count"], 2, "{}", r.body);
    assert_eq!(r.body["settings"]["max_per_source"], 1000);
    assert!(!r.body.to_string().contains("ada@replay-co"), "{}", r.body);

    // The tenant requires a replay: a plain assignment is refused.
    let settings = json!({"enabled": true, "max_per_source": 500, "max_age_days": 7,
        "require_replay": true});
    let r = t
        .app
        .api(
            &t.token,
            Method::PUT,
            "/pipeline/recordings/settings",
            Some(settings),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let candidate = json!({"plugin_id": mapper, "config": {"space_name_attribute": "other_space"}});
    let r = t
        .app
        .api(
            &t.token,
            Method::PUT,
            "/pipeline/role-mapper",
            Some(candidate.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("replay"),
        "{}",
        r.body
    );
    let too_many = json!({"enabled": true, "max_per_source": 5000, "max_age_days": 7,
        "require_replay": true});
    let r = t
        .app
        .api(
            &t.token,
            Method::PUT,
            "/pipeline/recordings/settings",
            Some(too_many),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // Replaying needs users:read besides plugins:write: the report shows users' roles.
    let (_, writer) = t.app.tenant_token(&t.tenant, &["plugins:write"]).await;
    let body = json!({"stages": {"role-mapper": candidate}});
    let r = t
        .app
        .api(
            &writer,
            Method::POST,
            "/pipeline/replay",
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            "/pipeline/replay",
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report = r.body;
    assert_eq!(report["counts"]["sign_ins"], 2, "{report}");
    assert_eq!(report["counts"]["changed"], 2, "{report}");
    assert_eq!(
        report["roles"]["editor@space:Docs"]["removed"], 2,
        "{report}"
    );
    assert!(
        report["summary"]
            .as_array()
            .unwrap()
            .contains(&json!("would remove role editor@space:Docs from 2 users")),
        "{report}"
    );
    let mut subjects: Vec<&str> = report["sign_ins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["roles_removed"], json!(["editor@space:Docs"]), "{d}");
            assert_eq!(d["verdict"], "changed");
            d["subject"].as_str().unwrap()
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["ada@replay-co.example", "grace@replay-co.example"]
    );
    let id = report["id"].as_str().unwrap().to_string();
    let again = t
        .app
        .api(
            &t.token,
            Method::GET,
            &format!("/pipeline/replays/{id}"),
            None,
        )
        .await;
    assert_eq!(again.body["summary"], report["summary"], "{}", again.body);

    // Activation from the replay; once only.
    let activate = format!("/pipeline/replays/{id}/activate");
    let r = t.app.api(&t.token, Method::POST, &activate, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["activated_at"].is_string(), "{}", r.body);
    let r = t.app.api(&t.token, Method::POST, &activate, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let history = t
        .app
        .api(&t.token, Method::GET, "/pipeline/role-mapper/history", None)
        .await;
    let current = &history.body["activations"][0];
    assert_eq!(
        current["replay"]["replay_id"],
        id.as_str(),
        "{}",
        history.body
    );
    assert_eq!(current["config"]["space_name_attribute"], "other_space");
    let assigned = events(&t.app, &t.tenant, "pipeline.stage_assigned").await;
    let last = &assigned[0];
    assert_eq!(last["after"]["replay"]["replay_id"], id.as_str(), "{last}");
    assert_eq!(last["after"]["replay"]["counts"]["changed"], 2, "{last}");

    // The next sign-in has the candidate's roles; rollback (no replay needed) restores them.
    assert!(sign_in(&t, &saml, &space_user("ada@replay-co.example"))
        .await
        .is_empty());
    let stale = t
        .app
        .api(&t.token, Method::POST, "/pipeline/replay", Some(body))
        .await;
    assert_eq!(stale.status, StatusCode::OK, "{}", stale.body);
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            "/pipeline/role-mapper/rollback",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        sign_in(&t, &saml, &space_user("ada@replay-co.example")).await,
        ["editor@space:Docs"]
    );
    // A replay made before the rollback compares against a version no longer active.
    let stale_id = stale.body["id"].as_str().unwrap();
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            &format!("/pipeline/replays/{stale_id}/activate"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("changed since"),
        "{}",
        r.body
    );

    // The admin deletes the recordings: audited, and a replay has nothing left to compare.
    let r = t
        .app
        .api(&t.token, Method::DELETE, "/pipeline/recordings", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["deleted"], 2, "{}", r.body);
    let audit = t.app.audit_actions(&t.tenant).await;
    for action in ["pipeline.recordings_deleted", "pipeline.recording_changed"] {
        assert!(audit.iter().any(|a| a == action), "{action}: {audit:?}");
    }
    let body = json!({"stages": {"role-mapper": {"plugin_id": mapper}}});
    let r = t
        .app
        .api(&t.token, Method::POST, "/pipeline/replay", Some(body))
        .await;
    assert_eq!(r.body["counts"]["sign_ins"], 0, "{}", r.body);
}

#[tokio::test]
async fn a_scim_adapter_version_is_replayed_over_recorded_requests() {
    let app = &spawn_app().await;
    let s = scim_tenant(app, "scim-replay").await;
    let created = s
        .call(
            app,
            Method::POST,
            "/Users",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ada@scim-replay.example", "active": true}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let user = created.body["id"].as_str().unwrap();
    // Entra's dialect: a capitalised op and a boolean as a string.
    let entra_patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let before = s
        .call(
            app,
            Method::PATCH,
            &format!("/Users/{user}"),
            Some(entra_patch),
        )
        .await;
    // A plain read is not recorded; a filter is.
    s.call(app, Method::GET, &format!("/Users/{user}"), None)
        .await;
    let r = send(
        app,
        Some(&s.token),
        Method::GET,
        &format!(
            "{}/Users?filter=userName%20eq%20%22ada%40scim-replay.example%22",
            s.base
        ),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let counts = app
        .api(&s.admin, Method::GET, "/pipeline/recordings", None)
        .await;
    assert_eq!(
        counts.body["sources"][0]["source"], "scim",
        "{}",
        counts.body
    );
    assert_eq!(counts.body["sources"][0]["count"], 3, "{}", counts.body);

    let wasm = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/dist/scim-fixer.wasm"
    ))
    .unwrap();
    let up = app
        .upload(
            &s.admin,
            "/api/v1",
            "name=scim-fixer&version=1",
            wasm,
            "application/wasm",
        )
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    let fixer = up.body["id"].as_str().unwrap();
    let body = json!({"stages": {"scim-adapter": {"plugin_id": fixer}}});
    let r = app
        .api(&s.admin, Method::POST, "/pipeline/replay", Some(body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report = r.body;
    assert_eq!(report["counts"]["scim_requests"], 3, "{report}");
    assert_eq!(report["counts"]["sign_ins"], 0, "{report}");
    assert_eq!(report["counts"]["unchanged"], 2, "{report}");
    let diffs = report["scim"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{report}");
    assert_eq!(diffs[0]["method"], "PATCH");
    assert_eq!(diffs[0]["verdict"], "changed");
    assert_eq!(diffs[0]["before"]["body"]["Operations"][0]["op"], "Replace");
    assert_eq!(diffs[0]["after"]["body"]["Operations"][0]["op"], "replace");
    assert_eq!(diffs[0]["after"]["body"]["Operations"][0]["value"], false);
    assert!(
        report["summary"]
            .as_array()
            .unwrap()
            .contains(&json!("1 SCIM request would be rewritten differently")),
        "{report}"
    );

    // Activated from the replay, the same request now reads as the client meant it.
    let id = report["id"].as_str().unwrap();
    let r = app
        .api(
            &s.admin,
            Method::POST,
            &format!("/pipeline/replays/{id}/activate"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let entra_patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let after = s
        .call(
            app,
            Method::PATCH,
            &format!("/Users/{user}"),
            Some(entra_patch),
        )
        .await;
    assert_eq!(
        after.status,
        StatusCode::OK,
        "before: {} {}; after: {}",
        before.status,
        before.body,
        after.body
    );
    assert_eq!(after.body["active"], false, "{}", after.body);

    // The count bound: past it, the oldest inputs go.
    let two = json!({"enabled": true, "max_per_source": 2, "max_age_days": 7,
        "require_replay": false});
    let r = app
        .api(
            &s.admin,
            Method::PUT,
            "/pipeline/recordings/settings",
            Some(two),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for n in 0..3 {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("u{n}@scim-replay.example")});
        let r = s.call(app, Method::POST, "/Users", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let counts = app
        .api(&s.admin, Method::GET, "/pipeline/recordings", None)
        .await;
    assert_eq!(counts.body["sources"][0]["count"], 2, "{}", counts.body);

    // Recording off: nothing more is kept.
    let off = json!({"enabled": false, "max_per_source": 1000, "max_age_days": 7,
        "require_replay": false});
    let r = app
        .api(
            &s.admin,
            Method::PUT,
            "/pipeline/recordings/settings",
            Some(off),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let n = app.scalar("SELECT COUNT(*) FROM recorded_inputs").await;
    s.call(app, Method::DELETE, &format!("/Users/{user}"), None)
        .await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM recorded_inputs").await, n);
}
