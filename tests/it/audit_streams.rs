//! Audit streams through real receivers: an HTTP webhook receiver written here (checking
//! the HMAC signature with RustCrypto), Debian's rsyslogd, and moto's S3 server. Each
//! receiver is stopped while events happen and started again: nothing is lost, and an event
//! arrives twice only with the same id.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, until, TestApp};
use crate::peers::{free_port, moto_s3, rsyslog, run_python};

const KEY: &str = "0123456789abcdef0123456789abcdef-webhook";

/// A tenant and an admin token.
async fn tenant(app: &TestApp) -> (String, String) {
    let tenant = app.create_tenant("acme").await;
    let (_, admin) = app.tenant_token(&tenant, &["admin"]).await;
    (tenant, admin)
}

/// Every event id of the tenant's chain.
async fn chain_ids(app: &TestApp, tenant: &str) -> BTreeSet<String> {
    let r = app
        .op(
            Method::GET,
            &format!("/tenants/{tenant}/audit-events?limit=500"),
            None,
        )
        .await;
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Makes `n` new events.
async fn events(app: &TestApp, admin: &str, tag: &str, n: usize) {
    for i in 0..n {
        let r = app
            .api(
                admin,
                Method::POST,
                "/domains",
                Some(json!({ "domain": format!("{tag}{i}.example") })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
}

async fn create_stream(app: &TestApp, admin: &str, body: Value) -> String {
    let r = app
        .api(admin, Method::POST, "/audit-streams", Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(
        !r.body.to_string().contains("secret\":\""),
        "a secret came back: {}",
        r.body
    );
    r.body["id"].as_str().unwrap().to_string()
}

async fn stream(app: &TestApp, admin: &str, id: &str) -> Value {
    let r = app.api(admin, Method::GET, "/audit-streams", None).await;
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .expect("the stream is listed")
}

/// Stops a receiver, makes events while it is down, waits for the stream to show the
/// error, starts the receiver again with `restart`, and asks for a retry at once.
async fn outage<R, F, Fut>(app: &TestApp, admin: &str, id: &str, receiver: R, restart: F) -> R
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = R>,
{
    drop(receiver);
    events(app, admin, "down", 3).await;
    until("the stream to report the outage", || async {
        let s = stream(app, admin, id).await;
        s["status"] == "error" && s["last_error"].is_string()
    })
    .await;
    // The backlog shows what the destination is owed, to the tenant and to the operator.
    let down = stream(app, admin, id).await;
    assert!(down["backlog"].as_i64().unwrap() >= 3, "{down}");
    let all = app.op(Method::GET, "/audit-streams", None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let listed = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .expect("the operator sees the stream");
    assert_eq!(listed["status"], "error", "{listed}");
    assert_eq!(listed["tenant_id"], down["tenant_id"], "{listed}");
    assert!(listed["backlog"].as_i64().unwrap() >= 3, "{listed}");
    let receiver = restart().await;
    let r = app
        .api(
            admin,
            Method::PATCH,
            &format!("/audit-streams/{id}"),
            Some(json!({ "paused": false })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    receiver
}

/// The webhook receiver: records each delivery's events; counts bad signatures.
struct Hook {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Clone, Default)]
struct Received {
    ids: Arc<Mutex<Vec<String>>>,
    bad_signatures: Arc<Mutex<usize>>,
}

async fn hook(port: u16, received: Received) -> Hook {
    use axum::{body::Bytes, http::HeaderMap, routing::post, Router};
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let received = received.clone();
            async move {
                let header = headers
                    .get("gatehouse-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let (t, v1) = header
                    .split_once(",v1=")
                    .map(|(t, v)| (t.trim_start_matches("t="), v))
                    .unwrap_or_default();
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
                mac.update(t.as_bytes());
                mac.update(b".");
                mac.update(&body);
                let valid = hex::decode(v1).is_ok_and(|sig| mac.verify_slice(&sig).is_ok());
                if !valid {
                    *received.bad_signatures.lock().unwrap() += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let batch: Value = serde_json::from_slice(&body).unwrap();
                let mut ids = received.ids.lock().unwrap();
                for e in batch["events"].as_array().unwrap() {
                    ids.push(e["id"].as_str().unwrap().to_string());
                }
                StatusCode::OK
            }
        }),
    );
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(([127, 0, 0, 1], port).into()).unwrap();
    let listener = socket.listen(64).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Hook { stop: Some(stop) }
}

#[tokio::test]
async fn a_webhook_gets_every_event_signed_across_an_outage() {
    let app = spawn_app().await;
    let (tenant, admin) = tenant(&app).await;
    let port = free_port();
    let received = Received::default();
    let receiver = hook(port, received.clone()).await;
    let id = create_stream(
        &app,
        &admin,
        json!({ "name": "siem", "start": "oldest", "secret": KEY,
                "destination": { "kind": "webhook", "url": format!("http://127.0.0.1:{port}/hook") } }),
    )
    .await;
    let all_delivered = || async {
        let want = chain_ids(&app, &tenant).await;
        let got: BTreeSet<String> = received.ids.lock().unwrap().iter().cloned().collect();
        got == want
    };
    until("the first delivery", all_delivered).await;
    let _receiver = outage(&app, &admin, &id, receiver, || hook(port, received.clone())).await;
    until("delivery after the outage", all_delivered).await;
    until("the backlog to clear", || async {
        stream(&app, &admin, &id).await["backlog"] == 0
    })
    .await;

    assert_eq!(*received.bad_signatures.lock().unwrap(), 0);
    let s = stream(&app, &admin, &id).await;
    assert_eq!(s["status"], "active", "{s}");
    assert!(s["last_delivered_at"].is_string());
    // The stream's configuration changes are audited, without the secret.
    let log = app
        .op(
            Method::GET,
            &format!("/tenants/{tenant}/audit-events?action=audit_stream.*"),
            None,
        )
        .await;
    assert_eq!(
        log.body["events"].as_array().unwrap().len(),
        2,
        "{}",
        log.body
    );
    assert!(!log.body.to_string().contains(KEY));
}

#[tokio::test]
async fn rsyslog_gets_every_event_as_json_and_cef_across_an_outage() {
    let app = spawn_app().await;
    let (tenant, admin) = tenant(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let receiver = rsyslog(dir.path(), port, false).await;
    let mut ids = Vec::new();
    for format in ["json", "cef"] {
        ids.push(
            create_stream(
                &app,
                &admin,
                json!({ "name": format, "start": "oldest",
                        "destination": { "kind": "syslog", "host": "127.0.0.1", "port": port, "format": format } }),
            )
            .await,
        );
    }
    let log = dir.path().join("received.log");
    // Ids seen in JSON messages, and in CEF messages (externalId=).
    let seen = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let mut json_ids = BTreeSet::new();
        let mut cef_ids = BTreeSet::new();
        for line in text.lines() {
            assert!(
                line.starts_with("<11") || line.starts_with("<10"),
                "not RFC 5424: {line}"
            );
            if let Some(start) = line.find("CEF:0|Gatehouse|") {
                let ext = &line[start..];
                let id = ext
                    .split("externalId=")
                    .nth(1)
                    .and_then(|r| r.split(' ').next());
                cef_ids.insert(id.unwrap().to_string());
            } else if let Some(start) = line.find('{') {
                let event: Value = serde_json::from_str(&line[start..]).unwrap();
                json_ids.insert(event["id"].as_str().unwrap().to_string());
            }
        }
        (json_ids, cef_ids)
    };
    let all_delivered = || async {
        let want = chain_ids(&app, &tenant).await;
        let (json_ids, cef_ids) = seen();
        json_ids == want && cef_ids == want
    };
    until("the first delivery", all_delivered).await;
    let receiver = outage(&app, &admin, &ids[0], receiver, || {
        rsyslog(dir.path(), port, false)
    })
    .await;
    let r = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/audit-streams/{}", ids[1]),
            Some(json!({ "paused": false })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    until("delivery after the outage", all_delivered).await;
    drop(receiver);
}

#[tokio::test]
async fn an_s3_bucket_gets_gzip_json_lines_objects_across_an_outage() {
    let app = spawn_app().await;
    let (tenant, admin) = tenant(&app).await;
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let receiver = moto_s3(port).await;
    let created = run_python("s3_bucket.py", &["create", &endpoint, "audit-logs"]).await;
    assert!(created.get("error").is_none(), "{created}");
    let id = create_stream(
        &app,
        &admin,
        json!({ "name": "bucket", "start": "oldest", "secret": "test-secret",
                "destination": { "kind": "s3", "endpoint": endpoint, "bucket": "audit-logs",
                                 "region": "us-east-1", "prefix": "gatehouse/", "access_key_id": "test-key" } }),
    )
    .await;
    let read = || async {
        let r = run_python("s3_bucket.py", &["read", &endpoint, "audit-logs"]).await;
        assert!(r.get("error").is_none(), "{r}");
        r["objects"].as_array().unwrap().clone()
    };
    let ids_in = |objects: &[Value]| -> BTreeSet<String> {
        objects
            .iter()
            .flat_map(|o| {
                o["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().unwrap().to_string())
            })
            .collect()
    };
    let before = Arc::new(Mutex::new(BTreeSet::new()));
    until("the first delivery", || async {
        let objects = read().await;
        let got = ids_in(&objects);
        *before.lock().unwrap() = got.clone();
        got == chain_ids(&app, &tenant).await
    })
    .await;
    let objects = read().await;
    for o in &objects {
        let key = o["key"].as_str().unwrap();
        assert!(
            key.starts_with(&format!("gatehouse/{tenant}/")) && key.ends_with(".jsonl.gz"),
            "{key}"
        );
    }
    // moto keeps objects in memory: after the restart the bucket is new and empty, so the
    // events from the outage on must all arrive there.
    let endpoint2 = endpoint.clone();
    let _receiver = outage(&app, &admin, &id, receiver, || async move {
        let receiver = moto_s3(port).await;
        run_python("s3_bucket.py", &["create", &endpoint2, "audit-logs"]).await;
        receiver
    })
    .await;
    until("delivery after the outage", || async {
        let mut got = before.lock().unwrap().clone();
        got.extend(ids_in(&read().await));
        got == chain_ids(&app, &tenant).await
    })
    .await;
}

/// A CA and a certificate it signs for 127.0.0.1, written as `ca.pem`, `cert.pem` and
/// `key.pem` in `dir`; returns the CA's PEM.
fn certificates(dir: &std::path::Path, name: &str) -> String {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};
    let cert = |cn: &str, issuer: Option<(&openssl::x509::X509, &PKey<openssl::pkey::Private>)>| {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let mut subject = X509NameBuilder::new().unwrap();
        subject.append_entry_by_text("CN", cn).unwrap();
        let subject = subject.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(
            &BigNum::from_u32(rand_serial())
                .unwrap()
                .to_asn1_integer()
                .unwrap(),
        )
        .unwrap();
        b.set_subject_name(&subject).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        match issuer {
            None => {
                b.set_issuer_name(&subject).unwrap();
                b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                    .unwrap();
                b.sign(&key, MessageDigest::sha256()).unwrap();
            }
            Some((ca, ca_key)) => {
                b.set_issuer_name(ca.subject_name()).unwrap();
                let san = SubjectAlternativeName::new()
                    .ip("127.0.0.1")
                    .build(&b.x509v3_context(Some(ca), None))
                    .unwrap();
                b.append_extension(san).unwrap();
                b.sign(ca_key, MessageDigest::sha256()).unwrap();
            }
        }
        (b.build(), key)
    };
    let (ca, ca_key) = cert(&format!("{name} test CA"), None);
    let (server, server_key) = cert("127.0.0.1", Some((&ca, &ca_key)));
    let ca_pem = String::from_utf8(ca.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
    std::fs::write(dir.join("cert.pem"), server.to_pem().unwrap()).unwrap();
    std::fs::write(
        dir.join("key.pem"),
        server_key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    ca_pem
}

fn rand_serial() -> u32 {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u32::from_le_bytes(b) >> 1
}

#[tokio::test]
async fn syslog_over_tls_delivers_only_to_the_certificate_its_ca_signed() {
    let app = spawn_app().await;
    let (tenant, admin) = tenant(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let ca = certificates(dir.path(), "receiver");
    let wrong_ca = certificates(other.path(), "someone else");
    let port = free_port();
    let _receiver = rsyslog(dir.path(), port, true).await;
    let destination = |ca: &str| {
        json!({ "kind": "syslog", "host": "127.0.0.1", "port": port, "tls": true,
                "ca_pem": ca, "format": "json" })
    };
    let trusted = create_stream(
        &app,
        &admin,
        json!({ "name": "tls", "start": "oldest", "destination": destination(&ca) }),
    )
    .await;
    let untrusted = create_stream(
        &app,
        &admin,
        json!({ "name": "wrong ca", "start": "oldest", "destination": destination(&wrong_ca) }),
    )
    .await;
    let log = dir.path().join("received.log");
    until("delivery over TLS", || async {
        let want = chain_ids(&app, &tenant).await;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let got: BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.find('{').map(|i| &l[i..]))
            .map(|j| {
                serde_json::from_str::<Value>(j).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        // Delivered by the trusted stream; the other adds nothing.
        got == want
    })
    .await;
    until("the untrusted stream to fail", || async {
        let s = stream(&app, &admin, &untrusted).await;
        s["status"] == "error" && s["last_error"].as_str().unwrap_or_default().contains("TLS")
    })
    .await;
    let s = stream(&app, &admin, &trusted).await;
    assert_eq!(s["status"], "active", "{s}");
    let s = stream(&app, &admin, &untrusted).await;
    assert!(s["last_delivered_at"].is_null(), "{s}");
}
