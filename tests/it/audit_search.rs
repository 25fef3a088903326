//! Audit search and export: each filter finds its events and only them, bad filters get a
//! specific 400, and every export format parses back (JSON Lines and CSV also in Python),
//! checks offline with `gatehouse audit verify --export`, and shows a tampered file; free text
//! looked for in growing windows of the newest events finds what the whole chain holds, and so
//! does a CIDR block.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::local_login::password_login_with;
use gatehouse::cli::{AuditCommand, Command};

/// A tenant with three domain requests from three addresses (request ids `req-0..2`) and
/// one failed sign-in from an IPv6 address. Returns (app, tenant, admin token).
async fn tenant_with_events() -> (TestApp, String, String) {
    let app = spawn_app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    for (n, ip) in ["10.1.2.3", "10.1.9.9", "192.0.2.7"].iter().enumerate() {
        let r = app
            .call_with(
                Method::POST,
                "/api/v1/domains",
                Some(&token),
                Some(json!({ "domain": format!("d{n}.example") })),
                &[
                    ("x-forwarded-for", ip),
                    ("x-request-id", &format!("req-{n}")),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    password_login_with(
        &app,
        "acme",
        "nobody@acme.example",
        "not the password",
        &[("x-forwarded-for", "2001:db8::5")],
    )
    .await;
    (app, tenant, token)
}

/// The events of one page of a search.
async fn events_of(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app
        .api(token, Method::GET, &format!("/audit-events?{query}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    r.body["events"].as_array().unwrap().clone()
}

/// The actions of a search, newest first.
async fn actions(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let events = events_of(app, token, query).await;
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_filter_finds_its_events_and_only_them() {
    let (app, _tenant, token) = tenant_with_events().await;
    let domain = |n: usize| vec!["domain.requested".to_string(); n];
    let failed = vec!["login.failed".to_string()];

    assert_eq!(
        actions(&app, &token, "target_type=domain&target_id=d1.example").await,
        domain(1)
    );
    assert_eq!(actions(&app, &token, "ip=10.1.0.0/16").await, domain(2));
    assert_eq!(actions(&app, &token, "ip=192.0.2.7").await, domain(1));
    assert_eq!(actions(&app, &token, "ip=2001:db8::/32").await, failed);
    assert_eq!(actions(&app, &token, "request_id=req-2").await, domain(1));
    assert_eq!(actions(&app, &token, "outcome=failure").await, failed);
    assert_eq!(
        actions(&app, &token, "actor_type=api_token").await,
        domain(3)
    );
    assert_eq!(
        actions(&app, &token, "action=login.failed,domain.requested")
            .await
            .len(),
        4
    );
    assert_eq!(actions(&app, &token, "action=domain.*").await.len(), 4);
    // Free text: every word must occur; `word*` is a prefix.
    assert_eq!(actions(&app, &token, "q=d1.example").await, domain(1));
    assert_eq!(actions(&app, &token, "q=reque*").await, domain(3));
    assert_eq!(
        actions(&app, &token, "q=d1%20d2").await,
        Vec::<String>::new()
    );
    // Filters combine.
    assert_eq!(
        actions(&app, &token, "ip=10.1.0.0/16&request_id=req-1").await,
        domain(1)
    );

    // The actor's label (a token's name, a user's email) is a filter of its own.
    let all = app
        .api(
            &token,
            Method::GET,
            "/audit-events?actor_type=api_token",
            None,
        )
        .await;
    let label = all.body["events"][0]["actor"]["label"]
        .as_str()
        .unwrap()
        .to_string();
    let by_label = app
        .api(
            &token,
            Method::GET,
            &format!("/audit-events?actor_email={label}"),
            None,
        )
        .await;
    assert_eq!(by_label.body["events"].as_array().unwrap().len(), 3);

    // Pages of a filtered search: newest first, none lost, none twice.
    let first = app
        .api(
            &token,
            Method::GET,
            "/audit-events?action=domain.requested&limit=2",
            None,
        )
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = app
        .api(
            &token,
            Method::GET,
            &format!("/audit-events?action=domain.requested&limit=2&cursor={cursor}"),
            None,
        )
        .await;
    let seqs: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|r| r.body["events"].as_array().unwrap().clone())
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    assert!(second.body["next_cursor"].is_null());

    // Each way a search is read (one index walk per action merged, a prefix expanded to the
    // actions it names, free text driven by the text index) pages one event at a time to
    // exactly the events one page holds, newest first.
    for query in [
        "action=login.failed,domain.requested",
        "action=domain.*",
        "action=domain.*&ip=10.1.0.0/16",
        "q=reque*",
        "q=example",
        "q=domain&ip=10.1.0.0/16",
    ] {
        let whole = seqs_of(&app, &token, query).await;
        assert!(whole.len() >= 2, "{query}: {whole:?}");
        assert!(whole.windows(2).all(|w| w[0] > w[1]), "{query}: {whole:?}");
        let paged = all_pages(&app, &token, query, 1).await;
        assert_eq!(paged, whole, "{query}");
    }
    assert!(seqs_of(&app, &token, "action=nothing.*").await.is_empty());
}

/// The sequence numbers a search lists, following its pages of `limit`.
pub(crate) async fn all_pages(app: &TestApp, token: &str, query: &str, limit: u32) -> Vec<i64> {
    let mut seqs = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/audit-events?{query}&limit={limit}{cursor}");
        let r = app.api(token, Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
        let page = r.body["events"].as_array().unwrap();
        seqs.extend(page.iter().map(|e| e["seq"].as_i64().unwrap()));
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return seqs,
        }
        assert!(seqs.len() < 10_000, "{query}: the pages do not end");
    }
}

/// The sequence numbers of one page of a search.
async fn seqs_of(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let events = events_of(app, token, query).await;
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn bad_filters_are_refused_with_the_field_named() {
    let (app, _tenant, token) = tenant_with_events().await;
    for (query, field) in [
        ("ip=10.0.0.300", "ip"),
        ("ip=10.0.0.0/99", "ip"),
        ("outcome=maybe", "outcome"),
        ("q=a*", "q"),
        ("q=1%202%203%204%205%206%207%208%209", "q"),
        ("action=a.*,b", "action"),
        ("action=a,,b", "action"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("limit=0", "limit"),
    ] {
        let r = app
            .api(&token, Method::GET, &format!("/audit-events?{query}"), None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{query}: {}", r.body);
        assert!(r.body.to_string().contains(field), "{query}: {}", r.body);
    }
    let r = app
        .api(&token, Method::GET, "/audit-events?format=csv", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app
        .api(&token, Method::GET, "/audit-events/export?format=xml", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

/// Downloads an export; returns its content type, disposition and body.
pub(crate) async fn download(app: &TestApp, token: &str, query: &str) -> (String, String, String) {
    let res = app
        .client
        .get(format!("{}/api/v1/audit-events/export?{query}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    (kind, disposition, res.text().await.unwrap())
}

/// Runs `gatehouse audit verify --export FILE [--keys KEYS]`.
async fn verify_export(
    app: &TestApp,
    file: &std::path::Path,
    keys: Option<&std::path::Path>,
) -> (bool, String) {
    let mut out = Vec::new();
    let code = gatehouse::cli::run(
        Command::Audit {
            command: AuditCommand::Verify {
                chain: None,
                export: Some(file.to_path_buf()),
                keys: keys.map(|k| k.to_path_buf()),
            },
        },
        app.config.clone(),
        &mut out,
    )
    .await
    .expect("verify runs");
    (
        code == std::process::ExitCode::SUCCESS,
        String::from_utf8(out).unwrap(),
    )
}

#[tokio::test]
async fn exports_parse_back_in_every_format_and_verify_offline() {
    let (app, tenant, token) = tenant_with_events().await;
    let signed = app.op(Method::POST, "/audit/checkpoints", None).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    // One more event after the checkpoint: exported, but not yet covered by one.
    let r = app
        .api(
            &token,
            Method::POST,
            "/domains",
            Some(json!({ "domain": "late.example" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let (kind, disposition, jsonl) = download(&app, &token, "format=jsonl").await;
    assert_eq!(kind, "application/x-ndjson");
    assert!(
        disposition.starts_with("attachment; filename=\"audit-"),
        "{disposition}"
    );
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["export"]["chain"], tenant.as_str());
    let events: Vec<&Value> = lines.iter().filter(|l| l.get("id").is_some()).collect();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "sequence order"
    );
    assert_eq!(
        lines.last().unwrap()["export_end"]["events"].as_u64(),
        Some(events.len() as u64)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &jsonl).unwrap();
    let (ok, report) = verify_export(&app, &file, None).await;
    assert!(ok, "{report}");
    // The late event, and the export's own record, come after the newest checkpoint.
    assert!(
        report.contains("2 event(s) are not linked to a checkpoint"),
        "{report}"
    );

    // Checked against the instance's published keys.
    let keys = app
        .call(Method::GET, "/.well-known/gatehouse-audit-keys", None, None)
        .await;
    assert_eq!(keys.status, StatusCode::OK);
    let keys_file = dir.path().join("keys.json");
    std::fs::write(&keys_file, keys.body.to_string()).unwrap();
    let (ok, report) = verify_export(&app, &file, Some(&keys_file)).await;
    assert!(ok, "{report}");

    // The same export in CSV and OCSF: the same events.
    let (kind, _, csv) = download(&app, &token, "format=csv").await;
    assert_eq!(kind, "text/csv; charset=utf-8");
    let csv_file = dir.path().join("export.csv");
    std::fs::write(&csv_file, &csv).unwrap();
    let peer = crate::peers::run_python(
        "audit_export_check.py",
        &[
            file.to_str().unwrap(),
            csv_file.to_str().unwrap(),
            keys_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(peer.get("error").is_none(), "{peer}");
    // The CSV was fetched after the JSON Lines export was recorded: one event more.
    let ids = peer["events"].as_array().unwrap();
    let csv_ids = peer["csv_ids"].as_array().unwrap();
    assert_eq!(csv_ids.len(), ids.len() + 1);
    assert_eq!(&csv_ids[..ids.len()], &ids[..]);
    assert!(
        peer["checkpoints_verified"].as_u64().unwrap() >= 1,
        "{peer}"
    );
    assert_eq!(peer["checkpoints_verified"], peer["checkpoints"]);

    let (_, _, ocsf) = download(&app, &token, "format=ocsf&action=domain.requested").await;
    let ocsf: Vec<Value> = ocsf
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ocsf.len(), 4);
    assert!(ocsf
        .iter()
        .all(|e| e["class_uid"] == 6003 && e["activity_id"] == 1));
    assert!(ocsf
        .iter()
        .all(|e| e["metadata"]["tenant_uid"] == tenant.as_str()));

    // Each export is recorded.
    let exported = app.audit_actions(&tenant).await;
    assert_eq!(
        exported.iter().filter(|a| *a == "audit.exported").count(),
        3
    );

    // A tampered file fails: an edited event, a removed event, a cut-short file.
    let edited = jsonl.replacen("d1.example", "d9.example", 1);
    std::fs::write(&file, &edited).unwrap();
    let (ok, report) = verify_export(&app, &file, None).await;
    assert!(!ok && report.contains("was altered"), "{report}");
    let mut removed: Vec<&str> = jsonl.lines().collect();
    removed.remove(3);
    std::fs::write(&file, removed.join("\n")).unwrap();
    let (ok, report) = verify_export(&app, &file, None).await;
    assert!(
        !ok && report.contains("events 3..3 are missing"),
        "{report}"
    );
    let cut: Vec<&str> = jsonl.lines().take(4).collect();
    std::fs::write(&file, cut.join("\n")).unwrap();
    let (ok, report) = verify_export(&app, &file, None).await;
    assert!(!ok && report.contains("cut short"), "{report}");
}

#[tokio::test]
async fn an_export_needs_the_export_permission_and_stays_in_its_tenant() {
    let (app, _tenant, _token) = tenant_with_events().await;
    let other = app.create_tenant("other").await;
    let (_, reader) = app.tenant_token(&other, &["tenant:read"]).await;
    let r = app
        .api(&reader, Method::GET, "/audit-events/export", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let (_, auditor) = app.tenant_token(&other, &["audit:read"]).await;
    let (_, _, body) = download(&app, &auditor, "format=jsonl").await;
    assert!(
        !body.contains("d1.example"),
        "another tenant's events leaked"
    );
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l.get("id").is_some())
        .collect();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["tenant_id"] == other.as_str()));
}

#[tokio::test]
async fn a_large_export_runs_as_a_job_with_a_short_lived_link() {
    let (app, tenant, token) = tenant_with_events().await;
    let r = app
        .api(
            &token,
            Method::POST,
            "/audit-exports",
            Some(json!({ "format": "jsonl" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let mut job = Value::Null;
    for _ in 0..100 {
        job = app
            .api(&token, Method::GET, &format!("/audit-exports/{id}"), None)
            .await
            .body;
        if job["status"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["events"], job["total"], "{job}");
    let url = job["download_url"].as_str().unwrap().to_string();

    // The link is the credential: no bearer token.
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/gzip");
    let gz = res.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    let events = text.lines().filter(|l| l.starts_with("{\"id\"")).count();
    assert_eq!(Some(events as u64), job["events"].as_u64());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.jsonl");
    std::fs::write(&file, &text).unwrap();
    let (ok, report) = verify_export(&app, &file, None).await;
    assert!(ok, "{report}");

    // Only the newest link works, only for a while, and only as given.
    let newer = app
        .api(&token, Method::GET, &format!("/audit-exports/{id}"), None)
        .await;
    let newer = newer.body["download_url"].as_str().unwrap().to_string();
    let status = |url: String| {
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().status() }
    };
    assert_eq!(status(url).await, StatusCode::NOT_FOUND);
    let wrong = format!("{}x", newer);
    assert_eq!(status(wrong).await, StatusCode::NOT_FOUND);
    let other = app.create_tenant("other").await;
    assert_eq!(
        status(newer.replace(&tenant, &other)).await,
        StatusCode::NOT_FOUND
    );
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    assert_eq!(status(newer).await, StatusCode::NOT_FOUND);
}

/// An export longer than a page (pages are read several at once) comes out whole and in
/// order, checked offline, also with a filter that leaves pages empty; the generator's
/// events with a second target are found by it.
#[tokio::test]
async fn an_export_of_many_pages_is_whole_and_in_order() {
    let app = spawn_app_with(|_| {}).await;
    let tenant = app.create_tenant("big").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let mut out = Vec::new();
    let code = gatehouse::cli::run(
        Command::Audit {
            command: AuditCommand::Generate {
                tenant: tenant.clone(),
                events: 3_500,
                days: 2,
                checkpoint_every: 1_000,
            },
        },
        app.config.clone(),
        &mut out,
    )
    .await
    .expect("generate runs");
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let total = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE tenant_id = '{tenant}'"
        ))
        .await;

    let viewed = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE tenant_id = '{tenant}' \
             AND action = 'document.viewed'"
        ))
        .await;
    assert!(viewed > 100, "{viewed}");
    let dir = tempfile::tempdir().unwrap();
    for (query, expected) in [
        ("format=jsonl", total + 1),
        // Every tenth generated event names folder-0 .. folder-999 in turn.
        ("format=jsonl&target_id=folder-7", 1),
        ("format=jsonl&action=document.viewed", viewed),
    ] {
        let (_, _, jsonl) = download(&app, &token, query).await;
        let seqs: Vec<i64> = jsonl
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["seq"].as_i64())
            .collect();
        // The export records itself, so the whole chain is one longer than it was.
        assert_eq!(seqs.len() as i64, expected, "{query}");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{query}: out of order"
        );
        let file = dir.path().join("export.jsonl");
        std::fs::write(&file, &jsonl).unwrap();
        let (ok, report) = verify_export(&app, &file, None).await;
        assert!(ok, "{query}: {report}");
    }
}

/// Records the app's `events` in one batch.
async fn ingest(app: &TestApp, writer: &str, events: Vec<Value>) {
    let r = app
        .api(
            writer,
            Method::POST,
            "/audit-events/batch",
            Some(json!({ "events": events })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn free_text_in_growing_windows_finds_what_the_whole_chain_search_finds() {
    use gatehouse::store::audit_search::{search_in_windows, Position, SearchFilter, Word};
    let app = spawn_app().await;
    let tenant = app.create_tenant("windows").await;
    let (_, writer) = app.tenant_token(&tenant, &["audit:write"]).await;
    // 40 events: every one says "common", one in ten also "rare".
    let events: Vec<Value> = (0..40)
        .map(|j| {
            let note = if j % 10 == 0 { "common rare" } else { "common" };
            json!({"action": "document.viewed", "occurred_at": app.clock.now().to_rfc3339(),
                   "actor": {"type": "user", "id": format!("u{j}")},
                   "targets": [{"type": "document", "id": format!("d{j}")}],
                   "metadata": {"note": note}})
        })
        .collect();
    ingest(&app, &writer, events).await;
    let store = &app.state.store;
    let filter = |words: &str, limit: u32, after: Option<i64>| SearchFilter {
        chain: Some(tenant.clone()),
        words: words
            .split(' ')
            .map(|text| Word {
                text: text.into(),
                prefix: false,
                named: None,
            })
            .collect(),
        after: after.map(|seq| Position {
            occurred_at: 0,
            chain: tenant.clone(),
            seq,
        }),
        limit,
        ..Default::default()
    };
    let seqs = |rows: Vec<gatehouse::store::audit::AuditRow>| -> Vec<i64> {
        rows.iter().map(|r| r.seq).collect()
    };
    for (word, limit, after) in [
        // The first window holds a page.
        ("common", 3, None),
        // Only the whole chain holds a page: every window is tried, then the chain.
        ("rare", 3, None),
        // From a cursor, windows count down from it.
        ("common", 3, Some(20)),
        ("rare", 2, Some(25)),
        // A page gathered from several windows, each read from where the one before ended.
        ("common", 6, None),
        ("rare", 3, Some(32)),
        // Two words: on PostgreSQL a window adds its recency words to the query.
        ("common rare", 3, None),
        ("rare common", 2, Some(25)),
    ] {
        let f = filter(word, limit, after);
        let windowed = seqs(search_in_windows(store, &f, &[4, 8]).await.unwrap());
        let whole = seqs(search_in_windows(store, &f, &[]).await.unwrap());
        assert_eq!(windowed, whole, "{word} after {after:?}");
        assert_eq!(windowed.len(), limit as usize, "{word} after {after:?}");
        assert!(windowed.windows(2).all(|w| w[0] > w[1]), "{windowed:?}");
    }
}

/// On PostgreSQL a search of whole words first asks the text index for the newest bucket of
/// 32,768 events holding them and starts below it, and a prefix that names few words of the
/// chain is searched as them; it finds what a read of the whole chain finds. Two chains of
/// 70,000 events (three buckets), written straight into the table.
#[tokio::test]
async fn whole_words_start_from_the_newest_bucket_that_holds_them() {
    use gatehouse::store::audit_recency::match_top;
    use gatehouse::store::audit_search::{search, search_in_windows, Position, SearchFilter, Word};
    use gatehouse::store::audit_words::name_prefixes;
    let app = spawn_app().await;
    if !app.is_postgres() {
        // The buckets are recency words of PostgreSQL's text index only.
        return;
    }
    let chain = "bucket-chain-a";
    for (id, from, words) in [
        (
            chain,
            1,
            "CASE WHEN s <= 30000 AND s % 7 = 0 THEN 'older n' || (s % 5) \
             WHEN s BETWEEN 40000 AND 50000 AND s % 3 = 0 THEN 'middle' \
             WHEN s > 66000 THEN 'newest' \
             ELSE 'filler pre' || chr(97 + s % 6) || chr(97 + s / 6 % 7) END",
        ),
        // Another chain whose newest events say "older": not this chain's.
        ("bucket-chain-b", 40_000, "'older n3'"),
    ] {
        app.raw_sql(&format!(
            "INSERT INTO audit_events (tenant_id, seq, id, occurred_at, actor_type, actor_id, \
             actor_label, action, target_type, target_id, prev_hash, hash) \
             SELECT '{id}', s, '{id}-' || s, 1700000000000000 + s, 'user', 'u' || (s % 10), \
             'someone', 'document.viewed', 'document', {words}, '\\x00'::bytea, '\\x00'::bytea \
             FROM generate_series({from}, 70000) AS s"
        ))
        .await;
    }
    let store = &app.state.store;
    let filter = |words: &str, cursor: i64| SearchFilter {
        chain: Some(chain.into()),
        words: words
            .split(' ')
            .map(|text| Word {
                text: text.trim_end_matches('*').into(),
                prefix: text.ends_with('*'),
                named: None,
            })
            .collect(),
        after: Some(Position {
            occurred_at: 0,
            chain: chain.into(),
            seq: cursor,
        }),
        limit: 5,
        ..Default::default()
    };
    for (words, cursor, top) in [
        // The newest bucket holding the words: its top, or the cursor inside it.
        ("older", 70_001, Some(1 << 15)),
        ("older n3", 70_001, Some(1 << 15)),
        ("middle", 70_001, Some(2 << 15)),
        ("middle", 45_000, Some(45_000)),
        ("older", 40_000, Some(1 << 15)),
        ("newest", 70_001, Some(70_001)),
        // Words no bucket holds together, or at all: nothing to read.
        ("older middle", 70_001, None),
        ("absent", 70_001, None),
        ("newest", 60_000, None),
        // A prefix is searched as the words it names (written by the trigger)...
        ("old*", 70_001, Some(1 << 15)),
        ("prea*", 70_001, Some(70_001)),
        ("zzz*", 70_001, None),
        // ...unless it names more than 32, or a word with a digit (the actors `u0`..`u9`),
        // or has one: then it is not asked about.
        ("pre*", 70_001, Some(70_001)),
        ("u*", 70_001, Some(70_001)),
        ("u1*", 70_001, Some(70_001)),
    ] {
        let mut f = filter(words, cursor);
        let asked = match name_prefixes(store, &mut f).await.unwrap() {
            true => match_top(store, &f, cursor).await.unwrap(),
            false => None,
        };
        assert_eq!(asked, top, "{words} below {cursor}");
        let named = f.words.last().and_then(|w| w.named.as_ref()).map(Vec::len);
        let expected_named = match words {
            "old*" => Some(1),
            "prea*" => Some(7),
            _ => None,
        };
        assert_eq!(named, expected_named, "{words}");
        let f = filter(words, cursor);
        let seqs = |rows: Vec<gatehouse::store::audit::AuditRow>| -> Vec<i64> {
            rows.iter().map(|r| r.seq).collect()
        };
        let found = seqs(search(store, &f).await.unwrap());
        let whole = seqs(search_in_windows(store, &f, &[]).await.unwrap());
        assert_eq!(found, whole, "{words} below {cursor}");
        let expected = if top.is_some() { 5 } else { 0 };
        assert_eq!(found.len(), expected, "{words} below {cursor}");
        if let (Some(top), Some(first)) = (top, found.first()) {
            assert!(*first < top, "{words} below {cursor}: {found:?}");
        }
    }
}

#[tokio::test]
async fn a_cidr_block_in_growing_windows_finds_the_newest_of_the_block() {
    use gatehouse::audit::ip;
    use gatehouse::store::audit_search::{search_in_windows, Position, SearchFilter};
    let app = spawn_app().await;
    let tenant = app.create_tenant("blocks").await;
    let (_, writer) = app.tenant_token(&tenant, &["audit:write"]).await;
    // 48 events; three in four from three /24s of 10.1.0.0/16, the rest elsewhere. Their
    // times are shuffled against their order of recording, so time order is not sequence
    // order.
    let now = app.clock.now();
    let address = |j: i64| match j % 4 {
        0 => format!("10.2.0.{j}"),
        k => format!("10.1.{}.{j}", k * 40),
    };
    let minutes_ago = |j: i64| (j * 17) % 48;
    let events: Vec<Value> = (0..48)
        .map(|j| {
            let at = now.as_micros() - minutes_ago(j) * 60_000_000;
            let at = gatehouse::types::Timestamp::from_micros(at);
            json!({"action": "document.viewed", "occurred_at": at.to_rfc3339(),
                   "actor": {"type": "user", "id": format!("u{j}")},
                   "targets": [{"type": "document", "id": format!("d{j}")}],
                   "context": {"location": address(j)}})
        })
        .collect();
    ingest(&app, &writer, events).await;
    let store = &app.state.store;
    let rows = |f: &SearchFilter, windows: &'static [i64]| {
        let f = f.clone();
        async move {
            search_in_windows(store, &f, windows)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.occurred_at, r.seq, r.ip))
                .collect::<Vec<_>>()
        }
    };
    let everything = SearchFilter {
        chain: Some(tenant.clone()),
        limit: 100,
        ..Default::default()
    };
    let all = rows(&everything, &[]).await;
    for (cidr, limit) in [
        ("10.1.0.0/16", 5),
        ("10.1.40.0/22", 4),
        ("10.1.0.0/16", 100),
    ] {
        let range = ip::range(cidr).unwrap();
        let inside = |ip: &Option<String>| {
            ip.as_deref()
                .and_then(ip::key)
                .is_some_and(|key| range.0 <= key && key <= range.1)
        };
        // What the block holds, newest first, straight from every event.
        let expected: Vec<_> = all.iter().filter(|r| inside(&r.2)).cloned().collect();
        assert!(expected.len() >= 12, "{cidr}: {}", expected.len());
        let mut f = SearchFilter {
            ip_range: Some(range.clone()),
            limit,
            ..everything.clone()
        };
        let mut seen = Vec::new();
        loop {
            let windowed = rows(&f, &[4, 8]).await;
            assert_eq!(windowed, rows(&f, &[]).await, "{cidr} after {:?}", f.after);
            seen.extend(windowed.iter().cloned());
            match windowed.last() {
                Some(last) if windowed.len() == limit as usize => {
                    f.after = Some(Position {
                        occurred_at: last.0,
                        chain: tenant.clone(),
                        seq: last.1,
                    })
                }
                _ => break,
            }
        }
        assert_eq!(seen, expected, "{cidr}");
    }
}
