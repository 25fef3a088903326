//! RFC 9865 cursor pagination of SCIM listings: advertised in ServiceProviderConfig, every
//! resource seen exactly once across pages while resources are added and removed between
//! them, with and without a filter, in a GET and a `.search`; bad cursors and mixed paging
//! are refused in SCIM form.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::spawn_app;
use crate::scim::{scim_tenant, Scim};

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
           "emails": [{"value": name, "primary": true}]})
}

/// Pages through `path` (which holds `?…&`) by cursor, `count` at a time, running
/// `between` after each page; the userNames seen, in order.
async fn walk<F, Fut>(
    app: &crate::helpers::TestApp,
    s: &Scim,
    path: &str,
    count: usize,
    mut between: F,
) -> Vec<String>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for page in 0.. {
        assert!(page < 50, "the walk does not end");
        let r = s
            .call(
                app,
                Method::GET,
                &format!("{path}count={count}&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.get("startIndex").is_none(), "{}", r.body);
        let resources = r.body["Resources"].as_array().cloned().unwrap_or_default();
        assert!(resources.len() <= count);
        seen.extend(
            resources
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_string()),
        );
        between(page).await;
        match r.body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    seen
}

#[tokio::test]
async fn cursor_pages_see_every_user_once_while_the_directory_changes() {
    let app = spawn_app().await;
    let s = scim_tenant(&app, "cursors").await;
    let spc = s
        .call(&app, Method::GET, "/ServiceProviderConfig", None)
        .await;
    assert_eq!(spc.body["pagination"]["cursor"], true, "{}", spc.body);
    assert_eq!(spc.body["pagination"]["index"], true);

    let mut ids = Vec::new();
    for i in 0..7 {
        let r = s
            .call(
                &app,
                Method::POST,
                "/Users",
                Some(user(&format!("u{i}@cursors.example"))),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    // Between pages, a user not yet seen is deleted and a new one added: the walk sees each
    // remaining user once, and the new one at the end.
    let seen = walk(&app, &s, "/Users?", 3, |page| {
        let (app, s, ids) = (&app, &s, &ids);
        async move {
            if page == 0 {
                let r = s
                    .call(app, Method::DELETE, &format!("/Users/{}", ids[5]), None)
                    .await;
                assert_eq!(r.status, StatusCode::NO_CONTENT);
                let r = s
                    .call(
                        app,
                        Method::POST,
                        "/Users",
                        Some(user("late@cursors.example")),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED);
            }
        }
    })
    .await;
    let expected: Vec<String> = [0, 1, 2, 3, 4, 6]
        .iter()
        .map(|i| format!("u{i}@cursors.example"))
        .chain(["late@cursors.example".to_string()])
        .collect();
    assert_eq!(seen, expected);

    // With a filter (read and matched in memory), the same.
    let seen = walk(
        &app,
        &s,
        "/Users?filter=userName%20sw%20%22u%22&",
        2,
        |_| async {},
    )
    .await;
    assert_eq!(seen, expected[..6].to_vec());

    // A .search pages by cursor too.
    let r = s
        .call(
            &app,
            Method::POST,
            "/Users/.search",
            Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "count": 4, "cursor": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 4);
    assert!(r.body["nextCursor"].is_string(), "{}", r.body);

    // Bad cursors and mixed paging are refused in SCIM form.
    for (query, scim_type) in [
        ("cursor=not-a-cursor", "invalidCursor"),
        ("cursor=&startIndex=2", "invalidValue"),
        ("cursor=&sortBy=userName", "invalidValue"),
    ] {
        let r = s
            .call(&app, Method::GET, &format!("/Users?{query}"), None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert_eq!(r.body["scimType"], scim_type, "{query}: {}", r.body);
    }
}
