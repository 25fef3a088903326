//! The console's other pages in a real browser (headless Chromium), each checked against the
//! API afterwards: a custom role made in the module × action matrix and given to a user,
//! whose effective permissions then show it; a policy preset applied (and a bad policy
//! refused next to the field); the audit log filtered and exported, the download parsed; a
//! plugin uploaded from a file, dry-run, assigned and rolled back; a domain claimed with its
//! DNS record; a user deactivated. Screenshots land in `docs/console/` when
//! `GATEHOUSE_SCREENSHOTS=1`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::console::{ok, screenshot, sign_in, tenant_with_owner};
use crate::helpers::spawn_app;
use crate::peers;

#[tokio::test]
async fn a_role_made_in_the_matrix_shows_in_a_users_effective_permissions() {
    let app = spawn_app().await;
    let slug = "console-roles";
    let tenant = tenant_with_owner(&app, slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let invited = crate::local_accounts::invite(&app, &token, "dana@console-roles.example").await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let user = invited.body["user_id"].as_str().unwrap().to_string();
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/groups", app.url)}),
        json!({"fill": "#group-name", "value": "Support desk"}),
        json!({"fill": "#group-external", "value": "support"}),
        json!({"click": "#create-group"}),
    ]);
    steps.extend(screenshot("groups"));
    steps.extend([
        json!({"goto": format!("{}/console/roles", app.url)}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("roles"));
    steps.extend([
        json!({"click": "#new-role"}),
        json!({"fill": "#role-name", "value": "support_agent"}),
        json!({"fill": "#role-description", "value": "Reads users and the audit log"}),
        json!({"select": "select[name=\"grant:gatehouse.users:view\"]", "value": "tenant"}),
        json!({"select": "select[name=\"grant:gatehouse.audit:view\"]", "value": "tenant"}),
    ]);
    steps.extend(screenshot("role-matrix"));
    steps.extend([
        json!({"click": "#save-role"}),
        json!({"snapshot": true}),
        json!({"goto": format!("{}/console/users", app.url)}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("users"));
    steps.extend([
        json!({"goto": format!("{}/console/users/{user}", app.url)}),
        json!({"select": "#add-role", "value": "support_agent"}),
        json!({"click": "#add-role-button"}),
        json!({"click": "tr[data-group=\"support\"] button.join"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("user"));
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let roles = page["snapshots"][0]["text"].as_str().unwrap();
    // Before: the default catalogue's one built-in role, and no custom role yet.
    assert!(
        roles.contains("member built in") && !roles.contains("support_agent"),
        "{roles}"
    );
    let saved = page["snapshots"][1]["text"].as_str().unwrap();
    assert!(
        saved.contains("support_agent") && saved.contains("gatehouse.users: view"),
        "{saved}"
    );
    let users = page["snapshots"][2]["text"].as_str().unwrap();
    assert!(users.contains("dana@console-roles.example"), "{users}");
    let detail = page["snapshots"][3]["text"].as_str().unwrap();
    assert!(detail.contains("gatehouse.users view"), "{detail}");
    assert!(detail.contains("support_agent (manual)"), "{detail}");
    assert!(detail.contains("Support desk support\tmember"), "{detail}");

    // The API sees what the console made: the role in the catalogue, the user's permission
    // with its source, and both changes audited as the owner's.
    let r = app.api(&token, Method::GET, "/catalogue", None).await;
    let role = r.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "support_agent")
        .cloned()
        .unwrap_or_else(|| panic!("no role in {}", r.body));
    assert_eq!(role["grants"]["gatehouse.users"]["view"], "tenant");
    assert_eq!(role["description"], "Reads users and the audit log");
    let r = app
        .api(
            &token,
            Method::GET,
            &format!("/users/{user}/permissions"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["permissions"]["gatehouse.users"]["view"], true,
        "{}",
        r.body
    );
    let sources = r.body["sources"].as_array().unwrap();
    assert!(
        sources
            .iter()
            .any(|s| s["role"] == "support_agent" && s["source"] == "manual"),
        "{sources:?}"
    );
    let actions = app.audit_actions(&tenant).await;
    for action in ["catalogue.updated", "roles.assigned", "group.member_added"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn a_policy_preset_is_applied_and_a_bad_policy_is_refused_at_the_field() {
    let app = spawn_app().await;
    let slug = "console-policy";
    let tenant = tenant_with_owner(&app, slug).await;
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/policy", app.url)}),
        json!({"click": "#preset-enterprise"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("policy"));
    steps.extend([
        json!({"fill": "#policy-json", "value": "{\"mfa\": {\"required\": \"sometimes\"}}"}),
        json!({"click": "#save-policy"}),
        json!({"snapshot": true}),
    ]);
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let applied = page["snapshots"][0]["text"].as_str().unwrap();
    assert!(applied.contains("Preset enterprise applied"), "{applied}");
    assert!(applied.contains("direct"), "{applied}");
    assert!(
        page["dialogs"][0]
            .as_str()
            .unwrap()
            .starts_with("Apply the Enterprise preset?"),
        "{page:#}"
    );
    let refused = &page["snapshots"][1];
    assert_eq!(refused["status"], 422, "{refused:#}");
    assert!(
        refused["text"].as_str().unwrap().contains("sometimes"),
        "{refused:#}"
    );
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let r = app.api(&token, Method::GET, "/policy", None).await;
    assert_eq!(r.body["mfa"]["required"], "direct", "{}", r.body);
    assert_eq!(r.body["sessions"]["max_per_user"], 10, "{}", r.body);
    let actions = app.audit_actions(&tenant).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "policy.updated").count(),
        1,
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_audit_log_is_filtered_and_its_export_downloaded_and_parsed() {
    let app = spawn_app().await;
    let slug = "console-audit";
    let tenant = tenant_with_owner(&app, slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    for domain in ["one.console-audit.example", "two.console-audit.example"] {
        let r = app
            .api(
                &token,
                Method::POST,
                "/domains",
                Some(json!({"domain": domain})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    let jsonl = dir.path().join("export.jsonl");
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/audit", app.url)}),
        json!({"fill": "#f-action", "value": "domain.requested"}),
        json!({"click": "#search"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("audit"));
    steps.extend([
        json!({"select": "#export-format", "value": "csv"}),
        json!({"download": "#export", "save": csv.to_str().unwrap()}),
        json!({"select": "#export-format", "value": "jsonl"}),
        json!({"download": "#export", "save": jsonl.to_str().unwrap()}),
        json!({"goto": format!("{}/console/audit?from=yesterday", app.url)}),
        json!({"snapshot": true}),
    ]);
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let listed = page["snapshots"][0]["text"].as_str().unwrap();
    assert!(
        listed.contains("one.console-audit.example")
            && listed.contains("two.console-audit.example"),
        "{listed}"
    );
    assert!(!listed.contains("tenant.created"), "{listed}");
    let bad = &page["snapshots"][1];
    assert_eq!(bad["status"], 422, "{bad:#}");
    assert!(bad["text"].as_str().unwrap().contains("YYYY-MM-DD"));

    // The CSV has its header and one row per matching event.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(
        header.contains(&"action") && header.contains(&"hash"),
        "{header:?}"
    );
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows.iter().all(|r| r.contains("domain.requested")),
        "{text}"
    );
    // The JSON Lines: the header with the filters, the events as the API shows them (each
    // with its hash links), and the trailer with the count.
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["export"]["filters"]["action"], "domain.requested");
    assert_eq!(lines[3]["export_end"]["events"], 2, "{}", lines[3]);
    let events = &lines[1..3];
    assert!(events
        .iter()
        .all(|e| e["action"] == "domain.requested" && e["hash"].as_str().unwrap().len() == 64));
    let actions = app.audit_actions(&tenant).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "audit.exported").count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_plugin_is_uploaded_dry_run_assigned_and_rolled_back_in_a_browser() {
    let app = spawn_app().await;
    let slug = "console-plugins";
    let tenant = tenant_with_owner(&app, slug).await;
    let wasm = format!(
        "{}/../plugins/dist/plugin-template.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/plugins", app.url)}),
        json!({"upload": "#plugin-file", "file": wasm}),
        json!({"fill": "#plugin-name", "value": "acme-mapper"}),
        json!({"fill": "#plugin-version", "value": "1.0.0"}),
        json!({"fill": "#plugin-description", "value": "Acme's attributes"}),
        json!({"click": "#upload-plugin"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("plugins"));
    steps.extend([
        json!({"click": "tr[data-plugin=\"acme-mapper\"] a.dry-run"}),
        json!({"click": "#run-dry-run"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("plugin-dry-run"));
    steps.extend([
        json!({"fill": "#dry-input", "value": "not json"}),
        json!({"click": "#run-dry-run"}),
        json!({"snapshot": true}),
        json!({"goto": format!("{}/console/plugins", app.url)}),
        json!({"click": "tr[data-plugin=\"acme-mapper\"] button.assign"}),
        json!({"snapshot": true}),
        json!({"click": "tr[data-stage=\"attribute-mapper\"] button.rollback"}),
        json!({"snapshot": true}),
        json!({"fill": "#config-attribute-mapper", "value": "custom_attributes=department"}),
        json!({"click": "tr[data-stage=\"attribute-mapper\"] button.save-config"}),
        json!({"snapshot": true}),
    ]);
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let uploaded = page["snapshots"][0]["text"].as_str().unwrap();
    assert!(
        uploaded.contains("acme-mapper 1.0.0") && uploaded.contains("Acme's attributes"),
        "{uploaded}"
    );
    let ran = page["snapshots"][1]["text"].as_str().unwrap();
    assert!(ran.contains("output produced"), "{ran}");
    assert!(ran.contains("ada@example.com"), "{ran}");
    let bad = &page["snapshots"][2];
    assert_eq!(bad["status"], 422, "{bad:#}");
    assert!(bad["text"].as_str().unwrap().contains("not JSON"));
    let assigned = page["snapshots"][3]["text"].as_str().unwrap();
    assert!(
        assigned.contains("attribute-mapper\tacme-mapper 1.0.0"),
        "{assigned}"
    );
    let rolled = page["snapshots"][4]["text"].as_str().unwrap();
    assert!(
        !rolled.contains("attribute-mapper\tacme-mapper 1.0.0"),
        "{rolled}"
    );

    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    // The stage's configuration, saved from the page: the API shows it, and the built-in
    // mapper now keeps the department (a dry-run of the pipeline).
    let r = app.api(&token, Method::GET, "/pipeline", None).await;
    let stage = r.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "attribute-mapper")
        .cloned()
        .unwrap();
    assert_eq!(
        stage["config"]["custom_attributes"], "department",
        "{stage}"
    );
    assert_eq!(stage["assigned"], true, "{stage}");
    let r = app.api(&token, Method::GET, "/plugins", None).await;
    let plugin = r.body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "acme-mapper")
        .cloned()
        .unwrap_or_else(|| panic!("not uploaded: {}", r.body));
    assert_eq!(plugin["visibility"], "private");
    assert_eq!(plugin["world"], "attribute-mapper");
    let r = app
        .api(
            &token,
            Method::GET,
            "/pipeline/attribute-mapper/history",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let actions = app.audit_actions(&tenant).await;
    for action in [
        "plugin.uploaded",
        "pipeline.stage_assigned",
        "pipeline.stage_rolled_back",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn a_domain_is_claimed_with_its_dns_record_and_a_user_deactivated_in_a_browser() {
    let app = spawn_app().await;
    let slug = "console-domains";
    let tenant = tenant_with_owner(&app, slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let invited = crate::local_accounts::invite(&app, &token, "eve@console-domains.example").await;
    let user = invited.body["user_id"].as_str().unwrap().to_string();
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/domains", app.url)}),
        json!({"fill": "#domain-name", "value": "Acme-Console.example"}),
        json!({"click": "#claim-domain"}),
        json!({"snapshot": true}),
        json!({"remember": "txt", "value_of": "#txt-value-1"}),
    ]);
    steps.extend(screenshot("domains"));
    steps.extend([
        json!({"fill": "#domain-name", "value": "not a domain"}),
        json!({"click": "#claim-domain"}),
        json!({"snapshot": true}),
        json!({"goto": format!("{}/console/users/{user}", app.url)}),
        json!({"click": "#deactivate"}),
        json!({"snapshot": true}),
    ]);
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    let claimed = page["snapshots"][0]["text"].as_str().unwrap();
    assert!(
        claimed.contains("acme-console.example") && claimed.contains("pending"),
        "{claimed}"
    );
    let r = app.api(&token, Method::GET, "/domains", None).await;
    assert_eq!(
        page["remembered"]["txt"], r.body[0]["txt_record_value"],
        "{}",
        r.body
    );
    let bad = &page["snapshots"][1];
    assert_eq!(bad["status"], 422, "{bad:#}");
    let deactivated = page["snapshots"][2]["text"].as_str().unwrap();
    assert!(deactivated.contains("deactivated"), "{deactivated}");
    assert!(page["dialogs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d.as_str().unwrap().starts_with("Deactivate eve@")));
    let r = app
        .api(&token, Method::GET, &format!("/users/{user}"), None)
        .await;
    assert_eq!(r.body["status"], "deactivated", "{}", r.body);
}

#[tokio::test]
async fn an_uploaded_metadata_file_makes_a_connection_whose_page_maps_groups_to_roles() {
    let app = spawn_app().await;
    let slug = "console-mapping";
    let tenant = tenant_with_owner(&app, slug).await;
    let idp = peers::saml_idp();
    let metadata = reqwest::get(format!("{idp}/metadata"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("idp-metadata.xml");
    std::fs::write(&file, &metadata).unwrap();
    let mut steps = sign_in(&app, slug);
    steps.extend([
        json!({"goto": format!("{}/console/sso/new/entra", app.url)}),
        json!({"fill": "#name", "value": "Entra from a file"}),
        json!({"upload": "#metadata_file", "file": file.to_str().unwrap()}),
        json!({"wait_filled": "#metadata_xml"}),
        json!({"remember": "pasted", "value_of": "#metadata_xml"}),
        json!({"click": "#create"}),
        json!({"fill": "#map-group", "value": "3f2a9c4e-0000-4000-8000-00000000beef"}),
        json!({"select": "#map-role", "value": "member"}),
        json!({"click": "#add-mapping"}),
        json!({"snapshot": true}),
    ]);
    steps.extend(screenshot("sso-group-mapping"));
    let page = peers::browser(Value::Array(steps)).await;
    let page = ok(&page);
    // The file went into the paste box (the console's script), and the connection trusts it.
    assert_eq!(page["remembered"]["pasted"], metadata.as_str());
    let shown = &page["snapshots"][0];
    let text = shown["text"].as_str().unwrap();
    assert!(text.contains("Object ID"), "the Entra hint: {text}");
    assert!(
        text.contains("3f2a9c4e-0000-4000-8000-00000000beef\tmember"),
        "{text}"
    );
    let connection = shown["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .to_string();
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let r = app
        .api(
            &token,
            Method::GET,
            &format!("/sso/connections/{connection}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["adapter"]["name"], "entra-adapter", "{}", r.body);
    assert!(
        metadata.contains(r.body["saml"]["idp_entity_id"].as_str().unwrap()),
        "{}",
        r.body
    );
    let r = app.api(&token, Method::GET, "/catalogue", None).await;
    assert_eq!(
        r.body["group_mappings"],
        json!([{"group_id": "3f2a9c4e-0000-4000-8000-00000000beef", "role": "member"}]),
        "{}",
        r.body
    );
}
