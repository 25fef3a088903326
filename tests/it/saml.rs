//! SAML 2.0 sign-on against an independent IdP (pysaml2, signing with xmlsec1): connection
//! set-up from metadata, SP-initiated sign-in through the plugin pipeline into the
//! directory and a session, IdP-initiated sign-in when allowed, test mode, and refusals,
//! each with its audit event.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::peers;

/// A browser without redirects or a cookie jar: the test reads every hop.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// An HTML form's action and hidden inputs, as the IdP's auto-post page carries them.
pub(crate) fn form_fields(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(
            tag[start..end]
                .replace("&quot;", "\"")
                .replace("&#x27;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    let form_tag = &html[html.find("<form").expect("a form")..];
    let action = attr(&form_tag[..form_tag.find('>').unwrap()], "action").expect("action");
    let mut fields = Vec::new();
    for piece in html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
            fields.push((n, v));
        }
    }
    (action, fields)
}

pub(crate) struct Setup {
    pub app: TestApp,
    pub tenant: String,
    pub token: String,
    pub connection: String,
    pub acs_url: String,
    pub idp: String,
}

/// A tenant `slug` (domain `slug.example`) with a SAML connection made from the IdP's
/// metadata, registered at the IdP.
pub(crate) async fn setup(slug: &str, extra: Value) -> Setup {
    let app = spawn_app().await;
    let tenant = app.create_tenant(slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let idp = peers::saml_idp();
    let metadata = reqwest::get(format!("{idp}/metadata"))
        .await
        .expect("idp metadata")
        .text()
        .await
        .unwrap();
    let mut saml = json!({ "metadata_xml": metadata });
    for (k, v) in extra.as_object().into_iter().flatten() {
        saml[k] = v.clone();
    }
    let r = app
        .api(
            &token,
            Method::POST,
            "/sso/connections",
            Some(json!({ "name": "Corporate IdP", "status": "enabled", "saml": saml })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let connection = r.body["id"].as_str().unwrap().to_string();
    let sp = &r.body["saml"]["service_provider"];
    let sp_metadata = reqwest::get(sp["metadata_url"].as_str().unwrap())
        .await
        .expect("sp metadata")
        .text()
        .await
        .unwrap();
    assert!(
        sp_metadata.contains("AssertionConsumerService"),
        "{sp_metadata}"
    );
    let registered = reqwest::Client::new()
        .post(format!("{idp}/sp"))
        .body(sp_metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::NO_CONTENT);
    Setup {
        acs_url: sp["acs_url"].as_str().unwrap().to_string(),
        app,
        tenant,
        token,
        connection,
        idp,
    }
}

pub(crate) fn user(email: &str, groups: &[&str]) -> Value {
    json!({
        "name_id": email,
        "attributes": {
            "email": [email],
            // Okta-style names: pysaml2 passes them through as sent.
            "firstName": ["Ada"],
            "lastName": ["Lovelace"],
            "groups": groups,
        }
    })
}

/// Follows the IdP redirect as `who` and returns the auto-post form (action, fields).
pub(crate) async fn at_idp(location: &str, who: &Value) -> (String, Vec<(String, String)>) {
    let as_param = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(who.to_string());
    let page = browser()
        .get(format!("{location}&as={as_param}"))
        .send()
        .await
        .expect("idp sso");
    assert_eq!(page.status(), StatusCode::OK);
    form_fields(&page.text().await.unwrap())
}

/// Loads a page of ours as a browser holding `cookie` would, and posts its form to `action`
/// with `fields` and the page's CSRF token; returns the answer.
pub(crate) async fn submit_form(
    base: &str,
    page: &str,
    action: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    submit_form_with(base, page, action, cookie, fields, &[]).await
}

/// [`submit_form`] with extra request `headers` on both requests (`X-Forwarded-For`, say).
pub(crate) async fn submit_form_with(
    base: &str,
    page: &str,
    action: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let with = |mut request: reqwest::RequestBuilder| {
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };
    let mut get = with(browser().get(format!("{base}{page}")));
    if let Some(c) = cookie {
        get = get.header("cookie", c);
    }
    let r = get.send().await.unwrap();
    let csrf_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_csrf=") || v.starts_with("__Host-gatehouse_csrf="))
        .map(|v| v.split(';').next().unwrap().to_string());
    let html = r.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF field on {page}: {html}"))
        .to_string();
    let cookies: Vec<String> = cookie
        .map(str::to_string)
        .into_iter()
        .chain(csrf_cookie)
        .collect();
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("csrf", &token));
    with(browser().post(format!("{base}{action}")))
        .header("cookie", cookies.join("; "))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Starts a sign-in on the login page with `email`; returns the IdP URL and the cookie that
/// binds the sign-in to this browser.
pub(crate) async fn login_page(app: &TestApp, email: &str) -> (String, String) {
    let r = submit_form(
        &app.url,
        "/login",
        "/login",
        None,
        &[("email", email), ("return_to", "/account")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let binding = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_sso_"))
        .expect("a browser-binding cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    (
        r.headers()["location"].to_str().unwrap().to_string(),
        binding,
    )
}

/// Posts the IdP's form as the browser holding `cookie` (the sign-in's binding).
pub(crate) async fn post_bound(
    action: &str,
    fields: &[(String, String)],
    cookie: &str,
) -> reqwest::Response {
    browser()
        .post(action)
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn post_form(action: &str, fields: &[(String, String)]) -> reqwest::Response {
    browser().post(action).form(fields).send().await.unwrap()
}

/// The HTML of `url` as the browser holding `cookie` sees it.
pub(crate) async fn page_html(url: &str, cookie: &str) -> String {
    browser()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) fn cookie(r: &reqwest::Response) -> String {
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    set.split(';').next().unwrap().to_string()
}

/// The session cookie (`gatehouse_session=…`) among a response's `Set-Cookie`s.
pub(crate) fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("gatehouse_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// Every audit event with `action` in the tenant's log, newest first.
pub(crate) async fn events(app: &TestApp, tenant: &str, action: &str) -> Vec<Value> {
    let r = app
        .op(
            Method::GET,
            &format!("/tenants/{tenant}/audit-events?action={action}&limit=500"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["events"].as_array().cloned().unwrap_or_default()
}

/// The latest audit event with `action` in the tenant's log.
pub(crate) async fn last_event(app: &TestApp, tenant: &str, action: &str) -> Value {
    let r = app
        .op(
            Method::GET,
            &format!("/tenants/{tenant}/audit-events?action={action}&limit=1"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["events"][0].clone()
}

#[tokio::test]
async fn sp_initiated_sign_in_provisions_the_user_and_opens_a_session() {
    let s = setup("saml-sp", json!({})).await;
    // The answer to a sign-in started in one browser is refused in another (login CSRF).
    let (elsewhere, _) = login_page(&s.app, "ada@saml-sp.example").await;
    let (action, fields) = at_idp(&elsewhere, &user("ada@saml-sp.example", &[])).await;
    let stolen = post_form(&action, &fields).await;
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN);
    assert!(stolen
        .text()
        .await
        .unwrap()
        .contains("data-code=\"browser_mismatch\""));

    let (location, binding) = login_page(&s.app, "ada@saml-sp.example").await;
    assert!(
        location.starts_with(&format!("{}/sso/redirect?SAMLRequest=", s.idp)),
        "{location}"
    );
    let (action, fields) = at_idp(
        &location,
        &user("ada@saml-sp.example", &["engineering", "admins"]),
    )
    .await;
    assert_eq!(action, s.acs_url);
    let done = post_bound(&action, &fields, &binding).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    assert_eq!(done.headers()["location"], "/account");
    let session = cookie(&done);

    let page = browser()
        .get(format!("{}/account", s.app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("ada@saml-sp.example"), "{html}");

    let provisioned = last_event(&s.app, &s.tenant, "user.provisioned").await;
    assert_eq!(provisioned["after"]["email"], "ada@saml-sp.example");
    assert_eq!(
        provisioned["after"]["groups"],
        json!(["admins", "engineering"])
    );
    assert_eq!(provisioned["after"]["given_name"], "Ada");
    let succeeded = last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(succeeded["after"]["outcome"], "provisioned");
    assert_eq!(succeeded["after"]["connection"], s.connection.as_str());

    // The same response again: its login state is spent, so it is unsolicited now.
    let again = post_form(&action, &fields).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("data-code=\"unsolicited\""));
    let failed = last_event(&s.app, &s.tenant, "login.failed").await;
    assert_eq!(failed["after"]["reason"], "unsolicited");

    // A second sign-in finds the same user through the (connection, subject) link.
    let (location, binding) = login_page(&s.app, "ada@saml-sp.example").await;
    let (action, fields) = at_idp(&location, &user("ada@saml-sp.example", &["engineering"])).await;
    let done = post_bound(&action, &fields, &binding).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let succeeded = last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(succeeded["after"]["outcome"], "existing");
    assert_eq!(succeeded["after"]["user"]["groups"], json!(["engineering"]));

    // The IdP now sends an email outside the tenant's verified domains for the same subject:
    // the user still signs in (the subject is linked) but keeps the verified email.
    let mut moved = user("ada@saml-sp.example", &["engineering"]);
    moved["attributes"]["email"] = json!(["ada@elsewhere.example"]);
    let (location, binding) = login_page(&s.app, "ada@saml-sp.example").await;
    let (action, fields) = at_idp(&location, &moved).await;
    assert_eq!(
        post_bound(&action, &fields, &binding).await.status(),
        StatusCode::SEE_OTHER
    );
    let succeeded = last_event(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(succeeded["after"]["user"]["email"], "ada@saml-sp.example");

    // Signing out revokes the session.
    let forged = browser()
        .post(format!("{}/logout", s.app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a cross-site post without the token"
    );
    let out = submit_form(&s.app.url, "/account", "/logout", Some(&session), &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let page = browser()
        .get(format!("{}/account", s.app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "a revoked session is no session"
    );
}

#[tokio::test]
async fn idp_initiated_sign_in_works_only_when_allowed_and_an_assertion_is_used_once() {
    let s = setup("saml-idp", json!({})).await;
    let unsolicited = |s: &Setup| {
        json!({"sp": s.acs_url.replace("/acs", "/metadata"), "acs": s.acs_url, "name_id": "grace@saml-idp.example",
               "attributes": {"email": ["grace@saml-idp.example"]}})
    };
    let page = reqwest::Client::new()
        .post(format!("{}/idp-initiated", s.idp))
        .json(&unsolicited(&s))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let (action, fields) = form_fields(&page.text().await.unwrap());
    let refused = post_form(&action, &fields).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("data-code=\"unsolicited\""));

    let r = s
        .app
        .api(
            &s.token,
            Method::PATCH,
            &format!("/sso/connections/{}", s.connection),
            Some(json!({"saml": {"allow_idp_initiated": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        last_event(&s.app, &s.tenant, "sso_connection.updated").await["after"]["settings"]
            ["allow_idp_initiated"],
        true
    );

    let page = reqwest::Client::new()
        .post(format!("{}/idp-initiated", s.idp))
        .json(&unsolicited(&s))
        .send()
        .await
        .unwrap();
    let (action, fields) = form_fields(&page.text().await.unwrap());
    let done = post_form(&action, &fields).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    let replayed = post_form(&action, &fields).await;
    assert_eq!(replayed.status(), StatusCode::FORBIDDEN);
    assert!(replayed
        .text()
        .await
        .unwrap()
        .contains("data-code=\"replayed\""));
    assert_eq!(
        last_event(&s.app, &s.tenant, "login.failed").await["after"]["reason"],
        "replayed"
    );

    // Housekeeping drops the replay entry only once the assertion could not pass anyway.
    let state = &s.app.state;
    let mut tx = state.store.begin().await.unwrap();
    let purged = gatehouse::store::sso::purge_expired(&mut tx, state.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(purged, 0, "nothing has expired yet");
    s.app
        .clock
        .advance(std::time::Duration::from_secs(25 * 3600));
    let mut tx = state.store.begin().await.unwrap();
    let purged = gatehouse::store::sso::purge_expired(&mut tx, state.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(purged >= 1, "the replay entry is dropped");
    let late = post_form(&action, &fields).await;
    assert!(late.text().await.unwrap().contains("data-code=\"expired\""));
}

#[tokio::test]
async fn a_test_sign_in_reports_the_assertion_and_each_stage_without_signing_in() {
    let s = setup("saml-test", json!({})).await;
    let r = s
        .app
        .api(
            &s.token,
            Method::PATCH,
            &format!("/sso/connections/{}", s.connection),
            Some(json!({"status": "test"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Users cannot sign in through a connection in test mode.
    let login = submit_form(
        &s.app.url,
        "/login",
        "/login",
        None,
        &[("email", "ada@saml-test.example")],
    )
    .await;
    assert_eq!(login.status(), StatusCode::BAD_REQUEST);

    let r = s
        .app
        .api(
            &s.token,
            Method::POST,
            &format!("/sso/connections/{}/test", s.connection),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let location = r.body["redirect_url"].as_str().unwrap();
    // LDAP names, which pysaml2 sends in the legacy `urn:mace:dir:attribute-def:` form.
    let ldap = json!({"name_id": "ada@saml-test.example", "attributes": {
        "mail": ["ada@saml-test.example"], "givenName": ["Ada"], "sn": ["Lovelace"], "groups": ["g1"]}});
    let (action, fields) = at_idp(location, &ldap).await;
    let report = post_form(&action, &fields).await;
    assert_eq!(report.status(), StatusCode::OK);
    assert!(
        report.headers().get("set-cookie").is_none(),
        "a test sign-in opens no session"
    );
    let report: Value = report.json().await.unwrap();
    assert_eq!(report["raw_identity"]["subject"], "ada@saml-test.example");
    assert_eq!(report["pipeline"]["ok"], true, "{report}");
    assert_eq!(report["pipeline"]["stages"].as_array().unwrap().len(), 3);
    let raw = report["raw_identity"]["attributes"].to_string();
    assert!(
        raw.contains("urn:mace:dir:attribute-def:givenName"),
        "{raw}"
    );
    let identity = &report["pipeline"]["stages"][0]["output"];
    assert_eq!(identity["given_name"], "Ada", "{identity}");
    assert_eq!(identity["family_name"], "Lovelace");
    assert_eq!(identity["email"], "ada@saml-test.example");
    assert!(!s
        .app
        .audit_actions(&s.tenant)
        .await
        .contains(&"user.provisioned".to_string()));
}

#[tokio::test]
async fn responses_signed_by_another_key_or_for_another_domain_are_refused_and_audited() {
    let s = setup("saml-neg", json!({})).await;
    let mut rogue = user("eve@saml-neg.example", &[]);
    rogue["key"] = json!("rogue");
    let (location, binding) = login_page(&s.app, "eve@saml-neg.example").await;
    let (action, fields) = at_idp(&location, &rogue).await;
    let refused = post_bound(&action, &fields, &binding).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("data-code=\"bad_signature\""));
    assert_eq!(
        last_event(&s.app, &s.tenant, "login.failed").await["after"]["reason"],
        "bad_signature"
    );

    // Signed correctly, but for an email outside the tenant's verified domains.
    let (location, binding) = login_page(&s.app, "eve@saml-neg.example").await;
    let (action, fields) = at_idp(&location, &user("eve@elsewhere.example", &[])).await;
    let refused = post_bound(&action, &fields, &binding).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("email_domain_not_verified"));

    // Not signed at all.
    let mut unsigned = user("eve@saml-neg.example", &[]);
    unsigned["sign_assertion"] = json!(false);
    let (location, binding) = login_page(&s.app, "eve@saml-neg.example").await;
    let (action, fields) = at_idp(&location, &unsigned).await;
    let refused = post_bound(&action, &fields, &binding).await;
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("data-code=\"unsigned\""));
    assert_eq!(
        last_event(&s.app, &s.tenant, "login.failed").await["after"]["reason"],
        "unsigned"
    );
}

const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";

#[tokio::test]
async fn encrypted_assertions_decrypt_with_any_current_sp_key_and_keys_rotate() {
    let s = setup("saml-enc", json!({})).await;
    let path = format!("/sso/connections/{}/encryption-keys", s.connection);
    let r = s.app.api(&s.token, Method::POST, &path, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let first = r.body["saml"]["sp_encryption_keys"][0].clone();
    let metadata = reqwest::get(
        r.body["saml"]["service_provider"]["metadata_url"]
            .as_str()
            .unwrap(),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(metadata.contains("use=\"encryption\""), "{metadata}");
    assert!(metadata.contains(first["certificate"].as_str().unwrap()));
    assert!(
        r.body.to_string().find("PRIVATE KEY").is_none(),
        "private keys are never shown"
    );

    let encrypted_to = |cert: &Value| {
        let mut who = user("ada@saml-enc.example", &["g1"]);
        who["encrypt_assertion"] = json!(true);
        who["encrypt_cert"] = cert.clone();
        who["encrypt_alg"] = json!(AES128_GCM);
        who
    };
    let sign_in = |who: Value| {
        let app = &s.app;
        async move {
            let (location, binding) = login_page(app, "ada@saml-enc.example").await;
            let (action, fields) = at_idp(&location, &who).await;
            let encoded = &fields.iter().find(|(n, _)| n == "SAMLResponse").unwrap().1;
            let xml = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap(),
            )
            .unwrap();
            assert!(
                xml.contains("EncryptedAssertion") && !xml.contains("ada@saml-enc.example"),
                "the IdP encrypted it"
            );
            post_bound(&action, &fields, &binding).await
        }
    };
    let done = sign_in(encrypted_to(&first["certificate"])).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );

    // Rotation: a second key is added; responses to either key work until the first goes.
    let r = s.app.api(&s.token, Method::POST, &path, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let second = r.body["saml"]["sp_encryption_keys"][1].clone();
    let done = sign_in(encrypted_to(&second["certificate"])).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let done = sign_in(encrypted_to(&first["certificate"])).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let r = s
        .app
        .api(
            &s.token,
            Method::DELETE,
            &format!("{path}/{}", first["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refused = sign_in(encrypted_to(&first["certificate"])).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("data-code=\"undecryptable\""));
    let actions = s.app.audit_actions(&s.tenant).await;
    assert!(actions.contains(&"sso_connection.key_added".to_string()));
    assert!(actions.contains(&"sso_connection.key_removed".to_string()));
}

/// Flips one bit of the encrypted content (IV first, then ciphertext) at `at` bytes from the
/// start (or from the end when negative) of a SAMLResponse's EncryptedData CipherValue.
fn tamper(fields: &[(String, String)], at: isize) -> Vec<(String, String)> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    fields
        .iter()
        .map(|(n, v)| {
            if n != "SAMLResponse" {
                return (n.clone(), v.clone());
            }
            let xml = String::from_utf8(b64.decode(v).unwrap()).unwrap();
            // The EncryptedData's CipherValue is the last one (the key's sits in KeyInfo).
            let closing = xml.rfind("CipherValue>").unwrap();
            let value_end = xml[..closing].rfind("</").unwrap();
            let value_start = xml[..value_end].rfind('>').unwrap() + 1;
            let compact: String = xml[value_start..value_end].split_whitespace().collect();
            let mut data = b64.decode(compact).unwrap();
            let i = if at < 0 {
                data.len() - at.unsigned_abs()
            } else {
                at as usize
            };
            data[i] ^= 0x01;
            let forged = format!(
                "{}{}{}",
                &xml[..value_start],
                b64.encode(&data),
                &xml[value_end..]
            );
            (n.clone(), b64.encode(forged))
        })
        .collect()
}

#[tokio::test]
async fn cbc_is_refused_unless_allowed_and_every_decryption_failure_answers_alike() {
    let s = setup("saml-cbc", json!({})).await;
    let path = format!("/sso/connections/{}/encryption-keys", s.connection);
    let r = s.app.api(&s.token, Method::POST, &path, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cert = r.body["saml"]["sp_encryption_keys"][0]["certificate"].clone();
    let mut who = user("ada@saml-cbc.example", &[]);
    who["encrypt_assertion"] = json!(true);
    who["encrypt_cert"] = cert;
    who["encrypt_alg"] = json!(AES128_CBC);
    let at_acs = |at: Option<isize>| {
        let (app, who) = (&s.app, &who);
        async move {
            let (location, binding) = login_page(app, "ada@saml-cbc.example").await;
            let (action, fields) = at_idp(&location, who).await;
            let fields = match at {
                Some(at) => tamper(&fields, at),
                None => fields,
            };
            let r = post_bound(&action, &fields, &binding).await;
            (r.status(), r.text().await.unwrap())
        }
    };

    // GCM only by default: CBC content is refused for what it declares, before decrypting.
    let (status, body) = at_acs(None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("data-code=\"unsupported\""), "{body}");

    let r = s
        .app
        .api(
            &s.token,
            Method::PATCH,
            &format!("/sso/connections/{}", s.connection),
            Some(json!({"saml": {"allow_cbc_encryption": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["saml"]["allow_cbc_encryption"], true);
    let (status, body) = at_acs(None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    // Bit flips in the IV, the first block, the middle and the padding block each break the
    // plaintext differently (not XML, not UTF-8, bad padding, unsigned); the answer is one.
    let mut answers = Vec::new();
    for at in [0, 3, 20, 40, -17, -20] {
        answers.push(at_acs(Some(at)).await);
    }
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("data-code=\"undecryptable\""), "{body}");
        assert_eq!(
            body, &answers[0].1,
            "two decryption failures answered differently"
        );
    }
    // The reason is in the audit log for the admin.
    let failed = events(&s.app, &s.tenant, "login.failed").await;
    let undecryptable = failed
        .iter()
        .find(|e| e["after"]["reason"] == "undecryptable")
        .expect("an undecryptable failure is audited");
    let message = undecryptable["after"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not be decrypted and verified: "),
        "{message}"
    );
}

#[tokio::test]
async fn a_connection_can_be_made_from_the_idps_metadata_url() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("saml-url").await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let idp = peers::saml_idp();
    let url = format!("{idp}/metadata");
    let r = app
        .api(
            &token,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": "By URL", "saml": {"metadata_url": url}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["saml"]["metadata_url"], url.as_str());
    assert_eq!(r.body["saml"]["sso_url"], format!("{idp}/sso/redirect"));
    assert_eq!(r.body["saml"]["certificates"].as_array().unwrap().len(), 1);
    let r = app
        .api(
            &token,
            Method::POST,
            "/sso/connections",
            Some(
                json!({"name": "Nowhere", "saml": {"metadata_url": format!("{idp}/no-such-page")}}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "saml.metadata_url");
    assert!(
        r.body["detail"].as_str().unwrap().contains("404"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_metadata_fetch_does_not_hold_the_writer() {
    let s = setup("saml-slow", json!({})).await;
    let metadata = reqwest::get(format!("{}/metadata", s.idp))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // An IdP whose metadata URL answers after three seconds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}/metadata", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/metadata",
        axum::routing::get(move || {
            let metadata = metadata.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                metadata
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (url, token, connection) = (s.app.url.clone(), s.token.clone(), s.connection.clone());
    let update = tokio::spawn(async move {
        reqwest::Client::new()
            .patch(format!("{url}/api/v1/sso/connections/{connection}"))
            .bearer_auth(token)
            .json(&json!({"saml": {"metadata_url": slow}}))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Meanwhile the node takes other writes: the fetch runs before the update's transaction.
    let r = s
        .app
        .api(
            &s.token,
            Method::POST,
            "/tokens",
            Some(json!({"name": "meanwhile", "scopes": ["tenant:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(
        !update.is_finished(),
        "a write waited for the metadata fetch"
    );
    assert_eq!(update.await.unwrap(), StatusCode::OK);
}
