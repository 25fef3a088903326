//! The node cache must never make a stale answer observable on the node that made the
//! change: a connection disabled or a tenant suspended through the API stops the very next
//! sign-in here (other nodes see it within [`crate::cache::STALE_AFTER`]). End to end over
//! HTTP on port 0, SQLite; the integration suite covers the sign-in itself on both databases.

use base64::Engine;
use reqwest::{Method, StatusCode};
use samael::crypto::{Crypto, CryptoProvider};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::app;
use crate::config::Config;
use crate::types::Clock;

/// A self-signed IdP certificate (base64 DER) and its private key (DER).
fn idp_key() -> (String, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "cache test idp").unwrap();
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
    let cert = base64::engine::general_purpose::STANDARD.encode(b.build().to_der().unwrap());
    (cert, key.private_key_to_der().unwrap())
}

fn rfc3339(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// An unsolicited response for ada@acme.example, its assertion signed with `key`.
fn signed_response(idp: &str, sp: &str, acs: &str, key: &[u8]) -> String {
    let aid = format!("_a{}", uuid::Uuid::new_v4().simple());
    let sig = format!(
        concat!(
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>"#,
            r##"<ds:Reference URI="#{aid}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>"#,
            r#"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue>"#,
            r#"</ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"#
        ),
        aid = aid
    );
    let xml = format!(
        concat!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" "#,
            r#"ID="_r{aid}" Version="2.0" IssueInstant="{now}" Destination="{acs}"><saml:Issuer>{idp}</saml:Issuer>"#,
            r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#,
            r#"<saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{idp}</saml:Issuer>{sig}"#,
            r#"<saml:Subject><saml:NameID>ada@acme.example</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
            r#"<saml:SubjectConfirmationData NotOnOrAfter="{later}" Recipient="{acs}"/></saml:SubjectConfirmation></saml:Subject>"#,
            r#"<saml:Conditions NotBefore="{now}" NotOnOrAfter="{later}"><saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience>"#,
            r#"</saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement>"#,
            r#"<saml:Attribute Name="email"><saml:AttributeValue>ada@acme.example</saml:AttributeValue></saml:Attribute>"#,
            r#"</saml:AttributeStatement></saml:Assertion></samlp:Response>"#
        ),
        aid = aid,
        now = rfc3339(0),
        later = rfc3339(300),
        acs = acs,
        idp = idp,
        sp = sp,
        sig = sig,
    );
    let signed = Crypto::sign_xml(xml, key).expect("sign");
    base64::engine::general_purpose::STANDARD.encode(signed)
}

struct Server {
    base: String,
    http: reqwest::Client,
    operator: String,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.server.public_url = Some(base.clone());
        config.log.level = "warn".into();
        let started = app::start(config, Clock::system()).await.expect("start");
        let operator = started.operator_token.unwrap().expose_secret().to_string();
        tokio::spawn(app::serve(started.state, listener, std::future::pending()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base,
            http,
            operator,
            _dir: dir,
        }
    }

    async fn call(&self, method: Method, path: String, token: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    async fn post_acs(&self, acs: &str, response: String) -> StatusCode {
        self.http
            .post(acs)
            .form(&[("SAMLResponse", response.as_str())])
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn disabling_a_connection_or_suspending_the_tenant_stops_the_next_sign_in() {
    let app = Server::start().await;
    let op = app.operator.clone();
    let tenant = app
        .call(
            Method::POST,
            "/operator/v1/tenants".to_string(),
            &op,
            json!({"slug": "acme", "name": "Acme", "domains": ["acme.example"]}),
        )
        .await;
    let tenant_id = tenant["id"].as_str().unwrap().to_string();
    let token = app
        .call(
            Method::POST,
            format!("/operator/v1/tenants/{tenant_id}/tokens"),
            &op,
            json!({"name": "admin", "scopes": ["admin"]}),
        )
        .await;
    let token = token["token"].as_str().unwrap().to_string();
    let (cert, key) = idp_key();
    let idp = "https://idp.acme.example/metadata";
    let connection = app
        .call(
            Method::POST,
            "/api/v1/sso/connections".to_string(),
            &token,
            json!({"name": "acme", "status": "enabled", "saml": {
                "idp_entity_id": idp, "sso_url": "https://idp.acme.example/sso",
                "certificates": [cert], "allow_idp_initiated": true}}),
        )
        .await;
    let id = connection["id"].as_str().unwrap().to_string();
    let sp = connection["saml"]["service_provider"]["entity_id"]
        .as_str()
        .unwrap()
        .to_string();
    let acs = connection["saml"]["service_provider"]["acs_url"]
        .as_str()
        .unwrap()
        .to_string();
    let sign_in = || app.post_acs(&acs, signed_response(idp, &sp, &acs, &key));
    let patch = |status: &'static str| {
        app.call(
            Method::PATCH,
            format!("/api/v1/sso/connections/{id}"),
            &token,
            json!({ "status": status }),
        )
    };

    // Twice, so the second sign-in is served from the cache the first one filled.
    assert_eq!(sign_in().await, StatusCode::SEE_OTHER);
    assert_eq!(sign_in().await, StatusCode::SEE_OTHER);

    patch("disabled").await;
    assert_eq!(sign_in().await, StatusCode::FORBIDDEN, "disabled at once");
    patch("enabled").await;
    assert_eq!(sign_in().await, StatusCode::SEE_OTHER, "enabled at once");

    // Removing the only IdP certificate (a rotation after a key leak) takes effect at once.
    let (other_cert, _) = idp_key();
    app.call(
        Method::PATCH,
        format!("/api/v1/sso/connections/{id}"),
        &token,
        json!({"saml": {"idp_entity_id": idp, "sso_url": "https://idp.acme.example/sso",
            "certificates": [other_cert], "allow_idp_initiated": true}}),
    )
    .await;
    assert_eq!(sign_in().await, StatusCode::FORBIDDEN, "old certificate");

    app.call(
        Method::POST,
        format!("/operator/v1/tenants/{tenant_id}/suspend"),
        &op,
        json!({}),
    )
    .await;
    assert_eq!(sign_in().await, StatusCode::NOT_FOUND, "suspended at once");
}
