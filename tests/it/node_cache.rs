//! The per-node cache of tenants, connections and pipelines must never make a stale answer
//! observable on the node that made a change: disabling a connection, replacing its IdP
//! certificate or suspending the tenant through the API stops the very next sign-in here
//! (other nodes see it within the cache's staleness bound). Each response below was
//! issued by the IdP before the change, so only the change can refuse it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::saml::{at_idp, login_page, post_bound, setup, user, Setup};

/// A sign-in started and answered at the IdP, not yet posted: (ACS, form, binding cookie).
async fn prepared(s: &Setup) -> (String, Vec<(String, String)>, String) {
    let email = "ada@saml-cache.example";
    let (location, binding) = login_page(&s.app, email).await;
    let (action, fields) = at_idp(&location, &user(email, &[])).await;
    (action, fields, binding)
}

async fn post(prepared: (String, Vec<(String, String)>, String)) -> StatusCode {
    let (action, fields, binding) = prepared;
    post_bound(&action, &fields, &binding).await.status()
}

/// A self-signed certificate the IdP does not sign with (base64 DER).
pub(crate) fn other_certificate() -> String {
    use base64::Engine;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "another idp").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(b.build().to_der().unwrap())
}

#[tokio::test]
async fn changes_through_the_api_stop_the_next_sign_in_at_once() {
    let s = setup("saml-cache", json!({})).await;
    let path = format!("/sso/connections/{}", s.connection);
    let patch = |body: serde_json::Value| {
        let s = &s;
        let path = path.clone();
        async move {
            let r = s.app.api(&s.token, Method::PATCH, &path, Some(body)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body
        }
    };

    // Twice, so the second sign-in is served from what the first one cached.
    assert_eq!(post(prepared(&s).await).await, StatusCode::SEE_OTHER);
    assert_eq!(post(prepared(&s).await).await, StatusCode::SEE_OTHER);

    let pending = prepared(&s).await;
    patch(json!({"status": "disabled"})).await;
    assert_eq!(
        post(pending).await,
        StatusCode::FORBIDDEN,
        "disabled at once"
    );
    patch(json!({"status": "enabled"})).await;
    assert_eq!(post(prepared(&s).await).await, StatusCode::SEE_OTHER);

    // Replacing the IdP's certificate (a rotation after a key leak) takes effect at once.
    let pending = prepared(&s).await;
    patch(json!({"saml": {"certificates": [other_certificate()]}})).await;
    assert_eq!(
        post(pending).await,
        StatusCode::FORBIDDEN,
        "old certificate"
    );

    // Back to the IdP's own certificate, then the tenant is suspended.
    let metadata = reqwest::get(format!("{}/metadata", s.idp))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    patch(json!({"saml": {"metadata_xml": metadata}})).await;
    assert_eq!(post(prepared(&s).await).await, StatusCode::SEE_OTHER);
    let pending = prepared(&s).await;
    let r = s
        .app
        .op(
            Method::POST,
            &format!("/tenants/{}/suspend", s.tenant),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(
        post(pending).await,
        StatusCode::NOT_FOUND,
        "suspended at once"
    );
}
