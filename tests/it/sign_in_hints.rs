//! An app's ways into sign-in without Gatehouse's email page: SSO discovery by public token
//! or work email; `login_hint`, `organization` and `connection` on `/oauth2/authorize`
//! (a standard client library sends them, and the browser goes straight to the IdP); the
//! direct start link of each connection; the choice page when a tenant has several; and
//! the other way round, Gatehouse opening an app for a signed-in user (`initiate_login_uri`).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::oidc::{at_provider, setup};
use crate::oidc_provider::{register_app, rp};
use crate::saml::browser;

const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// A second, SAML connection for the tenant, in `status`.
async fn add_saml(s: &crate::oidc::Setup, name: &str, status: &str) -> String {
    let r = s
        .app
        .api(
            &s.token,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": name, "status": status, "saml": {
                "idp_entity_id": "https://idp.example/saml", "sso_url": "https://idp.example/sso",
                "certificates": [crate::node_cache::other_certificate()],
            }})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// The Location of an anonymous GET that must redirect.
async fn redirect_of(url: &str) -> reqwest::Response {
    let r = browser().get(url).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{url}: {}",
        r.text().await.unwrap()
    );
    r
}

/// `GET /sso/discovery?{query}`, anonymously.
async fn discover(app: &crate::helpers::TestApp, query: &str) -> crate::helpers::Resp {
    app.call(Method::GET, &format!("/sso/discovery?{query}"), None, None)
        .await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The `Set-Cookie` pairs of a response, as one `Cookie` header.
fn cookies(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn discovery_names_a_tenants_sign_in_options_and_nothing_secret() {
    let s = setup("disco", "enabled").await;
    add_saml(&s, "Backup SAML", "test").await;
    let by_email = discover(&s.app, "email=ada%40disco.example").await;
    assert_eq!(by_email.status, StatusCode::OK, "{}", by_email.body);
    let token = by_email.body["tenant"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let options = &by_email.body;
    assert_eq!(options["tenant"]["name"], "disco Inc");
    let connections = options["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "a connection in test is not offered");
    assert_eq!(connections[0]["id"], s.connection.as_str());
    assert_eq!(connections[0]["name"], "Node OP");
    assert_eq!(connections[0]["protocol"], "oidc");
    assert_eq!(
        connections[0]["start_url"],
        format!("{}/sso/start/{token}/{}", s.app.url, s.connection)
    );
    assert_eq!(options["password_sign_in"], true);
    assert_eq!(options["mfa_required"], "off");
    assert_eq!(options["data_classification"], "Unclassified");
    let mut keys: Vec<&String> = options.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "connections",
            "data_classification",
            "mfa_required",
            "password_sign_in",
            "password_url",
            "single_sign_on",
            "tenant"
        ]
    );
    assert_eq!(
        connections[0].as_object().unwrap().len(),
        4,
        "no IdP settings: {options}"
    );
    assert!(!options.to_string().contains(&s.issuer), "{options}");

    let by_token = discover(&s.app, &format!("tenant={token}")).await;
    assert_eq!(by_token.status, StatusCode::OK);
    assert_eq!(by_token.body, by_email.body);

    // The policy shows through: SSO only, MFA for everyone.
    let r = s
        .app
        .api(
            &s.token,
            Method::PUT,
            "/policy",
            Some(json!({"sso_only": true, "mfa": {"required": "everyone"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = discover(&s.app, &format!("tenant={token}")).await;
    assert_eq!(after.body["password_sign_in"], false);
    assert_eq!(after.body["password_url"], Value::Null);
    assert_eq!(after.body["mfa_required"], "everyone");

    // Unknown, malformed and missing lookups.
    for (query, status, problem) in [
        ("email=ada%40nowhere.example", 404, "not-found"),
        ("tenant=not-a-token", 404, "not-found"),
        ("email=not-an-email", 422, "invalid-value"),
        ("", 400, "invalid-query"),
        ("email=a%40disco.example&tenant=x", 400, "invalid-query"),
        ("colour=red", 400, "invalid-query"),
    ] {
        let r = discover(&s.app, query).await;
        assert_eq!(r.status.as_u16(), status, "{query}: {}", r.body);
        assert_eq!(r.problem(), problem, "{query}: {}", r.body);
    }
    // A suspended tenant is not found either.
    let r = s
        .app
        .op(
            Method::POST,
            &format!("/tenants/{}/suspend", s.tenant),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = discover(&s.app, &format!("tenant={token}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_login_hint_goes_straight_to_the_idp_and_the_app_gets_its_code() {
    let s = setup("hinted", "enabled").await;
    let email = "ada@hinted.example";
    crate::peers::oidc_op_account(
        &s.issuer,
        "ada-hinted",
        json!({"email": email, "email_verified": true, "name": "Ada Lovelace",
               "zoneinfo": "Europe/London", "locale": "en-GB"}),
    )
    .await;
    let registered = register_app(&s.app, false).await;
    let client_id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    let creds = (client_id.to_string(), secret.to_string());
    let hint = format!("login_hint={email}");
    let start = rp(&s.app, &creds, "start", &["openid email profile", &hint]).await;
    assert!(start.get("error").is_none(), "{start}");
    let authorize_url = start["url"].as_str().unwrap();

    // No email page: the authorization request sends the browser to the IdP, with the hint.
    let out = redirect_of(authorize_url).await;
    let at_idp = location(&out);
    assert!(at_idp.starts_with(&s.issuer), "{at_idp}");
    assert!(
        at_idp.contains("login_hint=ada%40hinted.example"),
        "{at_idp}"
    );
    let binding = cookies(&out);
    let back = at_provider(&at_idp, "ada-hinted").await;
    let signed_in = browser()
        .get(&back)
        .header("cookie", &binding)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let resume = location(&signed_in);
    assert!(resume.starts_with("/oauth2/authorize?"), "{resume}");
    let session = cookies(&signed_in);

    // Back at the authorization request, signed in: the app gets its code.
    let coded = browser()
        .get(format!("{}{resume}", s.app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let callback = location(&coded);
    assert!(
        callback.starts_with(CALLBACK) && callback.contains("code="),
        "{callback}"
    );
    let finish = [
        callback.as_str(),
        start["state"].as_str().unwrap(),
        start["code_verifier"].as_str().unwrap(),
        start["nonce"].as_str().unwrap(),
    ];
    let done = rp(&s.app, &creds, "finish", &finish).await;
    assert!(done.get("error").is_none(), "{done}");
    assert_eq!(done["id_token"]["email"], email);
    assert_eq!(
        done["id_token"]["zoneinfo"], "Europe/London",
        "from the IdP"
    );
    assert_eq!(done["id_token"]["locale"], "en-GB");
    assert_eq!(done["id_token"]["tenant"], s.tenant.as_str());

    // Signed in to this tenant, a hint naming another tenant asks for a new sign-in
    // (`prompt=none` gets `login_required`) rather than a code for the wrong organisation.
    let other = s.app.create_tenant("elsewhere").await;
    let query = format!(
        "response_type=code&client_id={client_id}&redirect_uri={}&scope=openid\
         &code_challenge=D4Zdtgy1-mk6PiekUxaYrMv6LdOScJ1RWs6FDW189Bg&code_challenge_method=S256",
        urlencode(CALLBACK)
    );
    let r = browser()
        .get(format!(
            "{}/oauth2/authorize?{query}&organization={other}&prompt=none",
            s.app.url
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).contains("error=login_required"),
        "{}",
        location(&r)
    );
    let r = browser()
        .get(format!(
            "{}/oauth2/authorize?{query}&organization=hinted&prompt=none",
            s.app.url
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert!(location(&r).contains("code="), "{}", location(&r));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn hints_pick_a_connection_or_offer_a_choice_and_start_links_work() {
    let s = setup("choosy", "enabled").await;
    let saml = add_saml(&s, "Azure SAML", "enabled").await;
    let registered = register_app(&s.app, true).await;
    let client_id = registered["client_id"].as_str().unwrap();
    let authorize = |extra: &str| {
        format!(
            "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
             &scope=openid&code_challenge=D4Zdtgy1-mk6PiekUxaYrMv6LdOScJ1RWs6FDW189Bg\
             &code_challenge_method=S256&state=s{extra}",
            s.app.url,
            urlencode(CALLBACK)
        )
    };

    // Two enabled connections: the organisation hint leads to a choice between them.
    let r = redirect_of(&authorize("&organization=choosy")).await;
    let choose = location(&r);
    assert!(choose.starts_with("/login?"), "{choose}");
    let page = browser()
        .get(format!("{}{choose}", s.app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in to choosy Inc"), "{html}");
    let a = html
        .find("Sign in with Azure SAML")
        .expect("the SAML choice");
    let b = html.find("Sign in with Node OP").expect("the OIDC choice");
    assert!(a < b, "by name: {html}");
    // Each choice is the connection's start link, coming back to the authorization request.
    let href = html
        .split("href=\"")
        .map(|h| h.split('"').next().unwrap())
        .find(|h| h.contains(&s.connection))
        .unwrap()
        .replace("&amp;", "&");
    assert!(href.starts_with("/sso/start/"), "{href}");
    assert!(href.contains("return_to=%2Foauth2%2Fauthorize"), "{href}");
    let r = redirect_of(&format!("{}{href}", s.app.url)).await;
    assert!(location(&r).starts_with(&s.issuer), "{}", location(&r));
    assert!(
        cookies(&r).contains("gatehouse_sso_"),
        "bound to this browser"
    );

    // A connection hint within the organisation goes straight to that IdP.
    let r = redirect_of(&authorize(&format!(
        "&organization=choosy&connection={saml}"
    )))
    .await;
    assert!(
        location(&r).starts_with("https://idp.example/sso?SAMLRequest="),
        "{}",
        location(&r)
    );
    // A connection hint without its organisation names nothing: the email page.
    let r = redirect_of(&authorize(&format!("&connection={saml}"))).await;
    assert!(location(&r).starts_with("/login?"), "{}", location(&r));
    assert!(!location(&r).contains("tenant="), "{}", location(&r));
    // A login hint at an unknown domain: the email page, filled in.
    let r = redirect_of(&authorize("&login_hint=bob%40unknown.example")).await;
    let page = browser()
        .get(format!("{}{}", s.app.url, location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"bob@unknown.example\""), "{page}");

    // The email page offers the same choice for an address at the tenant's domain.
    let r = crate::saml::submit_form(
        &s.app.url,
        "/login",
        "/login",
        None,
        &[("email", "eve@choosy.example"), ("return_to", "/account")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign in with Azure SAML") && html.contains("Sign in with Node OP"));

    // A start link for a disabled connection, or under another tenant's token, is not found.
    let token = discover(&s.app, "email=a%40choosy.example").await.body["tenant"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .app
        .api(
            &s.token,
            Method::PATCH,
            &format!("/sso/connections/{saml}"),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for path in [
        format!("/sso/start/{token}/{saml}"),
        format!("/sso/start/not-a-token/{}", s.connection),
        format!("/sso/start/{token}/not-an-id"),
    ] {
        let r = browser()
            .get(format!("{}{path}", s.app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // With one enabled connection left, the organisation hint goes straight to it.
    let r = redirect_of(&authorize("&organization=choosy")).await;
    assert!(location(&r).starts_with(&s.issuer), "{}", location(&r));
}

#[tokio::test]
async fn a_signed_in_user_opens_an_app_at_its_initiate_login_uri() {
    let app = crate::helpers::spawn_app().await;
    let (_, cookie) = crate::oidc_provider::signed_in(&app, "launch").await;
    let initiate = "https://app.example/sso/start?from=gatehouse";
    let (id, _) = crate::app_tokens::register(&app, json!({"initiate_login_uri": initiate})).await;
    let r = browser()
        .get(format!("{}/oauth2/launch/{id}", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(to.path(), "/sso/start");
    let query: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(query["from"], "gatehouse");
    assert_eq!(query["iss"], app.url);
    assert_eq!(query["login_hint"], "owner@launch.example");

    // Not signed in: sign in first, then come back here.
    let r = browser()
        .get(format!("{}/oauth2/launch/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = r.headers()["location"].to_str().unwrap();
    assert!(
        login.starts_with("/login?return_to=/oauth2/launch/app_"),
        "{login}"
    );

    // An app without the URI, or none at all, cannot be opened; a bad URI is refused.
    let (plain, _) = crate::app_tokens::register(&app, json!({})).await;
    for app_id in [plain.as_str(), "app_nope", "../etc"] {
        let r = browser()
            .get(format!("{}/oauth2/launch/{app_id}", app.url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{app_id}");
    }
    let r = app
        .op(
            Method::POST,
            "/apps",
            Some(json!({"name": "x", "redirect_uris": [CALLBACK],
                        "initiate_login_uri": "http://app.example/start"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "initiate_login_uri");
}
