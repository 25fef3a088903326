//! Forged SAML responses, each signed by the test IdP's real key (xmlsec1, through pysaml2)
//! but wrong in one way: expired, not yet valid beyond the skew, another audience, another
//! recipient or destination, an InResponseTo for another request, signature wrapping, a
//! tampered assertion, a comment injected into the NameID. Each must be refused with its
//! own reason, audited as `login.failed`, and leave no user behind.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::saml::{last_event, login_page, post_form, setup, Setup};

/// What to put in a forged response; `Default` is a response that should be accepted.
#[derive(Clone)]
struct Forge {
    email: String,
    issued: Duration,
    not_before: Duration,
    not_on_or_after: Duration,
    audience: Option<String>,
    recipient: Option<String>,
    destination: Option<String>,
    in_response_to: Option<String>,
}

impl Forge {
    fn new(email: &str) -> Self {
        Self {
            email: email.into(),
            issued: Duration::ZERO,
            not_before: Duration::seconds(-30),
            not_on_or_after: Duration::minutes(5),
            audience: None,
            recipient: None,
            destination: None,
            in_response_to: None,
        }
    }
}

fn at(offset: Duration) -> String {
    let t = OffsetDateTime::now_utc() + offset;
    t.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap()
}

fn random_id() -> String {
    format!("_{}", uuid::Uuid::new_v4().simple())
}

/// Builds the response and has the IdP sign its assertion; returns the signed XML.
async fn forge(s: &Setup, f: &Forge) -> String {
    let sp_entity = s.acs_url.replace("/acs", "/metadata");
    let idp_entity = format!("{}/metadata", s.idp);
    let assertion_id = random_id();
    let irt = f
        .in_response_to
        .as_ref()
        .map(|id| format!(" InResponseTo=\"{id}\""))
        .unwrap_or_default();
    let template: String = reqwest::Client::new()
        .post(format!("{}/signature-template", s.idp))
        .json(&json!({"id": assertion_id}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let xml = format!(
        concat!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" "#,
            r#"ID="{rid}" Version="2.0" IssueInstant="{issued}" Destination="{dest}"{irt}>"#,
            r#"<saml:Issuer>{idp}</saml:Issuer>"#,
            r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#,
            r#"<saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{issued}">"#,
            r#"<saml:Issuer>{idp}</saml:Issuer>{sig}"#,
            r#"<saml:Subject><saml:NameID>{email}</saml:NameID>"#,
            r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
            r#"<saml:SubjectConfirmationData NotOnOrAfter="{nooa}" Recipient="{recipient}"{irt}/>"#,
            r#"</saml:SubjectConfirmation></saml:Subject>"#,
            r#"<saml:Conditions NotBefore="{nb}" NotOnOrAfter="{nooa}"><saml:AudienceRestriction>"#,
            r#"<saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>"#,
            r#"<saml:AuthnStatement AuthnInstant="{issued}"><saml:AuthnContext><saml:AuthnContextClassRef>"#,
            r#"urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"#,
            r#"<saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>{email}</saml:AttributeValue>"#,
            r#"</saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#
        ),
        rid = random_id(),
        aid = assertion_id,
        issued = at(f.issued),
        dest = f.destination.as_deref().unwrap_or(&s.acs_url),
        irt = irt,
        idp = idp_entity,
        sig = template,
        email = f.email,
        nooa = at(f.not_on_or_after),
        nb = at(f.not_before),
        recipient = f.recipient.as_deref().unwrap_or(&s.acs_url),
        aud = f.audience.as_deref().unwrap_or(&sp_entity),
    );
    let r = reqwest::Client::new()
        .post(format!("{}/sign", s.idp))
        .json(&json!({"xml": xml, "node": "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", "id": assertion_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// Posts `xml` to the ACS, with `relay_state` and the browser's binding cookie when given;
/// returns status and reason code.
async fn post(s: &Setup, xml: &str, relay_state: Option<(&str, &str)>) -> (StatusCode, String) {
    let mut fields = vec![(
        "SAMLResponse".to_string(),
        base64::engine::general_purpose::STANDARD.encode(xml),
    )];
    let r = match relay_state {
        Some((relay, cookie)) => {
            fields.push(("RelayState".into(), relay.into()));
            crate::saml::post_bound(&s.acs_url, &fields, cookie).await
        }
        None => post_form(&s.acs_url, &fields).await,
    };
    let status = r.status();
    let body = r.text().await.unwrap();
    let code = body
        .split("data-code=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string();
    (status, code)
}

/// Asserts `xml` is refused with `code`, audited, and that no user was created.
async fn refused(s: &Setup, xml: &str, relay_state: Option<(&str, &str)>, code: &str) {
    let (status, got) = post(s, xml, relay_state).await;
    assert_eq!(
        (status, got.as_str()),
        (StatusCode::FORBIDDEN, code),
        "expected refusal {code}"
    );
    let event = last_event(&s.app, &s.tenant, "login.failed").await;
    assert_eq!(event["after"]["reason"], code);
    let provisioned: Vec<Value> = crate::saml::events(&s.app, &s.tenant, "user.provisioned").await;
    assert!(provisioned.is_empty(), "a refused response created a user");
}

async fn unsolicited_setup(slug: &str) -> Setup {
    setup(slug, json!({"allow_idp_initiated": true})).await
}

#[tokio::test]
async fn a_forged_response_signed_in_shape_is_accepted_so_the_refusals_below_mean_something() {
    let s = unsolicited_setup("forge-ok").await;
    let mut f = Forge::new("ok@forge-ok.example");
    // Within the 120 s skew: the clocks of IdP and SP may differ by that much.
    f.not_before = Duration::seconds(60);
    let xml = forge(&s, &f).await;
    let (status, code) = post(&s, &xml, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "refused with {code}");
}

#[tokio::test]
async fn validity_window_audience_recipient_and_destination_are_enforced() {
    let s = unsolicited_setup("forge-time").await;
    let email = "mallory@forge-time.example";

    let mut f = Forge::new(email);
    f.issued = Duration::minutes(-20);
    f.not_before = Duration::minutes(-20);
    f.not_on_or_after = Duration::minutes(-15);
    refused(&s, &forge(&s, &f).await, None, "expired").await;

    let mut f = Forge::new(email);
    f.not_before = Duration::minutes(10);
    refused(&s, &forge(&s, &f).await, None, "not_yet_valid").await;

    let mut f = Forge::new(email);
    f.audience = Some("https://another-sp.example/metadata".into());
    refused(&s, &forge(&s, &f).await, None, "audience").await;

    let mut f = Forge::new(email);
    f.recipient = Some("https://another-sp.example/acs".into());
    refused(&s, &forge(&s, &f).await, None, "recipient").await;

    let mut f = Forge::new(email);
    f.destination = Some("https://another-sp.example/acs".into());
    refused(&s, &forge(&s, &f).await, None, "destination").await;
}

#[tokio::test]
async fn a_response_must_answer_the_request_it_comes_back_with() {
    let s = setup("forge-irt", json!({})).await;
    let (location, binding) = login_page(&s.app, "pat@forge-irt.example").await;
    let relay = url_param(&location, "RelayState");
    let mut f = Forge::new("pat@forge-irt.example");
    f.in_response_to = Some("_not-the-request-we-sent".into());
    refused(
        &s,
        &forge(&s, &f).await,
        Some((&relay, &binding)),
        "in_response_to",
    )
    .await;
}

fn url_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    for pair in query.split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            if k == name {
                return percent_decode(v);
            }
        }
    }
    panic!("{name} not in {url}");
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn signature_wrapping_tampering_and_comment_injection_are_refused() {
    let s = unsolicited_setup("forge-xsw").await;
    let signed = forge(&s, &Forge::new("worker@forge-xsw.example")).await;
    let start = signed.find("<saml:Assertion").expect("assertion");
    let end = signed.find("</saml:Assertion>").expect("assertion end") + "</saml:Assertion>".len();
    let legit = &signed[start..end];
    let evil = legit
        .replace("worker@forge-xsw.example", "boss@forge-xsw.example")
        .replacen("ID=\"_", "ID=\"_evil", 1);

    // XSW: an unsigned evil assertion beside the signed one, before or after it.
    let before = signed.replacen(legit, &format!("{evil}{legit}"), 1);
    refused(&s, &before, None, "assertion_count").await;
    let after = signed.replacen(legit, &format!("{legit}{evil}"), 1);
    refused(&s, &after, None, "assertion_count").await;
    // XSW: the signed assertion tucked into Extensions, the evil one in its place.
    let tucked = signed.replacen(
        legit,
        &format!("<samlp:Extensions>{legit}</samlp:Extensions>{evil}"),
        1,
    );
    refused(&s, &tucked, None, "assertion_count").await;

    // The signed assertion edited after signing: the digest no longer matches.
    let tampered = signed.replace("worker@forge-xsw.example", "boss@forge-xsw.example");
    refused(&s, &tampered, None, "bad_signature").await;

    // Comment injection: the IdP signed `boss@forge-xsw.example.evil.example`; a comment
    // splits it so a naive reader sees `boss@forge-xsw.example`. Canonicalisation drops
    // comments, so the signature still verifies; the response must be refused anyway.
    let signed = forge(&s, &Forge::new("boss@forge-xsw.example.evil.example")).await;
    let injected = signed.replace(
        "boss@forge-xsw.example.evil.example",
        "boss@forge-xsw.example<!---->.evil.example",
    );
    refused(&s, &injected, None, "forbidden_xml").await;
}
