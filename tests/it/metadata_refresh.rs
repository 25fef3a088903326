//! IdP metadata that keeps itself current, and certificate expiry warnings: a metadata URL
//! served by the test rotates the test IdP's signing certificate (old and new listed, then
//! only new) and sign-ins signed by the new key succeed with no admin action; a metadata URL
//! that breaks keeps the last good metadata and turns the connection's health to warning;
//! a controlled clock walks a certificate through the 30, 7 and 1-day thresholds to expiry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::connection_adapters::{attempt, connection_with, tenant_in, Tenant};
use crate::helpers::spawn_app_with;
use crate::saml::events;

/// IdP metadata for the test IdP listing `certificates` (base64 DER) as signing keys.
fn metadata(idp: &str, certificates: &[&str]) -> String {
    let keys: String = certificates
        .iter()
        .map(|c| {
            format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
            )
        })
        .collect();
    format!(
        concat!(
            r#"<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" "#,
            r#"xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{idp}/metadata">"#,
            r#"<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}"#,
            r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" "#,
            r#"Location="{idp}/sso/redirect"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        ),
        idp = idp,
        keys = keys
    )
}

/// Serves whatever `doc` holds at `/idp-metadata` on loopback; returns the URL.
async fn serve(doc: Arc<Mutex<String>>) -> String {
    let app = axum::Router::new().route(
        "/idp-metadata",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move {
                let body = doc.lock().unwrap().clone();
                ([("content-type", "application/samlmetadata+xml")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/idp-metadata", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn cert(idp: &str, key: &str) -> String {
    reqwest::get(format!("{idp}/cert?key={key}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .trim()
        .to_string()
}

fn signed_by(email: &str, key: &str) -> Value {
    json!({"name_id": email, "key": key, "attributes": {"email": [email]}})
}

async fn connection_view(t: &Tenant, id: &str) -> Value {
    let r = t
        .app
        .api(
            &t.token,
            Method::GET,
            &format!("/sso/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_rotated_idp_certificate_is_adopted_from_the_metadata_url() {
    let app = spawn_app_with(|c| c.sso.metadata_refresh_secs = 60).await;
    let t = tenant_in(app, "rotate-co").await;
    let (old, new) = (cert(&t.idp, "idp").await, cert(&t.idp, "rogue").await);
    let doc = Arc::new(Mutex::new(metadata(&t.idp, &[&old])));
    let url = serve(doc.clone()).await;
    let id = connection_with(&t, "Rotating IdP", json!({"metadata_url": url}), None).await;
    let email = "ada@rotate-co.example";
    assert_eq!(
        attempt(&t, &id, &signed_by(email, "idp")).await.status(),
        StatusCode::SEE_OTHER
    );
    // The IdP's next key is not trusted yet.
    assert_eq!(
        attempt(&t, &id, &signed_by(email, "rogue")).await.status(),
        StatusCode::FORBIDDEN
    );

    // The IdP publishes its next certificate beside the current one; an on-demand refresh.
    *doc.lock().unwrap() = metadata(&t.idp, &[&old, &new]);
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            &format!("/sso/connections/{id}/metadata/refresh"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["saml"]["certificates"],
        json!([old, new]),
        "{}",
        r.body
    );
    assert_eq!(r.body["health"]["state"], "ok", "{}", r.body);
    assert!(
        r.body["health"]["metadata"]["changed_at"].is_string(),
        "{}",
        r.body
    );
    for key in ["idp", "rogue"] {
        let done = attempt(&t, &id, &signed_by(email, key)).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{key}");
    }
    let refreshed = events(&t.app, &t.tenant, "sso_connection.metadata_refreshed").await;
    assert_eq!(refreshed.len(), 1);

    // Then the new one alone, picked up by the schedule (no admin action).
    *doc.lock().unwrap() = metadata(&t.idp, &[&new]);
    t.app.state.clock.advance(Duration::from_secs(61));
    gatehouse::sso::metadata_refresh::refresh_due(&t.app.state)
        .await
        .unwrap();
    let view = connection_view(&t, &id).await;
    assert_eq!(view["saml"]["certificates"], json!([new]), "{view}");
    assert_eq!(
        attempt(&t, &id, &signed_by(email, "idp")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        attempt(&t, &id, &signed_by(email, "rogue")).await.status(),
        StatusCode::SEE_OTHER
    );

    // The URL breaks: the last good metadata stays, the health says why, audited once.
    *doc.lock().unwrap() = "<html>maintenance</html>".into();
    t.app.state.clock.advance(Duration::from_secs(61));
    gatehouse::sso::metadata_refresh::refresh_due(&t.app.state)
        .await
        .unwrap();
    let view = connection_view(&t, &id).await;
    assert_eq!(view["saml"]["certificates"], json!([new]), "{view}");
    assert_eq!(view["health"]["state"], "warning", "{view}");
    assert!(view["health"]["metadata"]["error"].is_string(), "{view}");
    assert!(
        view["health"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("last good metadata"),
        "{view}"
    );
    assert_eq!(
        attempt(&t, &id, &signed_by(email, "rogue")).await.status(),
        StatusCode::SEE_OTHER
    );
    t.app.state.clock.advance(Duration::from_secs(61));
    gatehouse::sso::metadata_refresh::refresh_due(&t.app.state)
        .await
        .unwrap();
    let failed = events(&t.app, &t.tenant, "sso_connection.metadata_refresh_failed").await;
    assert_eq!(
        failed.len(),
        1,
        "a failure is audited once, not at every retry"
    );
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            &format!("/sso/connections/{id}/metadata/refresh"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // Back: the health recovers.
    *doc.lock().unwrap() = metadata(&t.idp, &[&new]);
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            &format!("/sso/connections/{id}/metadata/refresh"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["health"]["state"], "ok", "{}", r.body);
    assert!(
        r.body["health"]["metadata"]["error"].is_null(),
        "{}",
        r.body
    );
}

/// A self-signed certificate valid for `days` from now, base64 DER.
fn certificate(days: u32) -> String {
    use base64::Engine;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "expiring idp").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(days).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(b.build().to_der().unwrap())
}

async fn expiring_metric(t: &Tenant, within: &str) -> String {
    let text = t
        .app
        .client
        .get(format!("{}/metrics", t.app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("gatehouse_sso_connections_certificate_expiring{{within=\"{within}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
        .to_string()
}

#[tokio::test]
async fn certificate_expiry_is_warned_at_each_threshold() {
    let app = spawn_app_with(|_| {}).await;
    let t = tenant_in(app, "expiry-co").await;
    let r = t
        .app
        .api(
            &t.token,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": "Expiring", "status": "enabled", "saml": {
                "idp_entity_id": "https://idp.expiry.example", "sso_url": "https://idp.expiry.example/sso",
                "certificates": [certificate(40)]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let check = || async {
        let counts = gatehouse::sso::health::check_expiry(&t.app.state)
            .await
            .unwrap();
        t.app.state.metrics.set_certificate_expiry(&counts);
    };
    let warnings = || async {
        events(&t.app, &t.tenant, "sso_connection.certificate_expiring")
            .await
            .iter()
            .map(|e| e["after"]["threshold_days"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    check().await;
    assert!(warnings().await.is_empty());
    assert_eq!(connection_view(&t, &id).await["health"]["state"], "ok");

    let day = Duration::from_secs(86_400);
    let mut expected = Vec::new();
    for (advance, threshold, state) in [
        (11, 30, "warning"),
        (23, 7, "warning"),
        (5, 1, "warning"),
        (2, 0, "error"),
    ] {
        t.app.state.clock.advance(day * advance);
        check().await;
        check().await;
        expected.push(threshold);
        let mut seen = warnings().await;
        seen.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(seen, expected, "each threshold once");
        let view = connection_view(&t, &id).await;
        assert_eq!(view["health"]["state"], state, "{view}");
    }
    let last = events(&t.app, &t.tenant, "sso_connection.certificate_expiring").await;
    assert_eq!(last[0]["after"]["certificates"], "idp", "{}", last[0]);
    assert_eq!(expiring_metric(&t, "expired").await, "1");
    assert_eq!(expiring_metric(&t, "30d").await, "0");
}
