//! OIDC sign-in against a hostile provider that this file controls: it publishes real
//! discovery and keys, but its token endpoint answers with whatever ID token a test forges
//! (`alg: none`, HS256 keyed with the public key, a stranger's key, wrong issuer, audience,
//! authorized party or nonce, expired, issued in the future, an unknown key id). Each forgery
//! must be refused with its own reason, audited as `login.failed`, and leave no user behind;
//! the honest token, a rotated key and a token within the clock skew must still sign in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::saml::{browser, events, last_event, login_page};

const CLIENT_ID: &str = "gatehouse-client";
const CLIENT_SECRET: &str = "correct horse battery staple";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn jwk(kid: &str, key: &PKey<Private>) -> Value {
    let rsa = key.rsa().unwrap();
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
           "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec())})
}

/// How a forged token is signed.
enum Sign<'a> {
    Rs256(&'a PKey<Private>),
    Hs256(&'a [u8]),
    Nothing,
}

fn jwt(header: Value, claims: &Value, sign: Sign) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = match sign {
        Sign::Rs256(key) => {
            let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
            s.update(input.as_bytes()).unwrap();
            b64(&s.sign_to_vec().unwrap())
        }
        Sign::Hs256(secret) => {
            let key = PKey::hmac(secret).unwrap();
            let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
            s.update(input.as_bytes()).unwrap();
            b64(&s.sign_to_vec().unwrap())
        }
        Sign::Nothing => String::new(),
    };
    format!("{input}.{signature}")
}

#[derive(Default)]
struct OpState {
    /// Published keys (kid, key).
    keys: Vec<(String, PKey<Private>)>,
    /// What the token endpoint answers next: the ID token, or an OAuth error.
    id_token: String,
    token_error: Option<&'static str>,
    /// Each token request's form and Authorization header.
    requests: Vec<(HashMap<String, String>, String)>,
    /// What the userinfo endpoint answers.
    userinfo: Value,
    /// The Authorization header of each userinfo request.
    userinfo_auth: Vec<String>,
}

/// The provider: discovery, JWKS and a token endpoint on 127.0.0.1.
struct HostileOp {
    issuer: String,
    state: Arc<Mutex<OpState>>,
}

impl HostileOp {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(OpState {
            keys: vec![("k1".into(), rsa_key())],
            ..OpState::default()
        }));
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        let router = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { issuer, state }
    }

    fn key(&self) -> PKey<Private> {
        self.state.lock().unwrap().keys[0].1.clone()
    }

    fn answer(&self, id_token: String) {
        let mut s = self.state.lock().unwrap();
        s.id_token = id_token;
        s.token_error = None;
    }
}

async fn jwks(State(state): State<Arc<Mutex<OpState>>>) -> Json<Value> {
    let s = state.lock().unwrap();
    let keys: Vec<Value> = s.keys.iter().map(|(kid, k)| jwk(kid, k)).collect();
    Json(json!({ "keys": keys }))
}

async fn userinfo(State(state): State<Arc<Mutex<OpState>>>, headers: HeaderMap) -> Json<Value> {
    let mut s = state.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    s.userinfo_auth.push(auth);
    Json(s.userinfo.clone())
}

async fn token(
    State(state): State<Arc<Mutex<OpState>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> (AxumStatus, Json<Value>) {
    let mut s = state.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    s.requests.push((form, auth));
    match s.token_error {
        Some(error) => (
            AxumStatus::BAD_REQUEST,
            Json(json!({"error": error, "error_description": "the code is spent"})),
        ),
        None => (
            AxumStatus::OK,
            Json(
                json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": s.id_token}),
            ),
        ),
    }
}

struct Setup {
    app: TestApp,
    tenant: String,
    token: String,
    connection: String,
    op: HostileOp,
    email: String,
}

async fn setup(slug: &str) -> Setup {
    let app = spawn_app().await;
    let tenant = app.create_tenant(slug).await;
    let (_, token) = app.tenant_token(&tenant, &["admin"]).await;
    let op = HostileOp::start().await;
    let r = app
        .api(
            &token,
            Method::POST,
            "/sso/connections",
            Some(json!({"name": "Hostile", "status": "enabled", "oidc": {
                "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            }})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Setup {
        connection: r.body["id"].as_str().unwrap().to_string(),
        app,
        tenant,
        token,
        op,
        email: format!("ada@{slug}.example"),
    }
}

/// A sign-in started on the login page: the authorization request's parameters and the
/// browser-binding cookie.
struct Started {
    params: HashMap<String, String>,
    binding: String,
}

async fn start(s: &Setup) -> Started {
    let (location, binding) = login_page(&s.app, &s.email).await;
    assert!(
        location.starts_with(&format!("{}/authorize?", s.op.issuer)),
        "{location}"
    );
    let params = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Started { params, binding }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Honest claims for the sign-in `st`.
fn claims(s: &Setup, st: &Started) -> Value {
    json!({
        "iss": s.op.issuer, "sub": "user-1", "aud": CLIENT_ID, "iat": now(), "exp": now() + 300,
        "nonce": st.params["nonce"], "email": s.email, "email_verified": true,
        "name": "Ada Lovelace", "groups": ["engineering"],
    })
}

/// Comes back to Gatehouse from the IdP with `query` (the state is added).
async fn callback(st: &Started, query: &[(&str, &str)]) -> reqwest::Response {
    let mut url = reqwest::Url::parse(&st.params["redirect_uri"]).unwrap();
    url.query_pairs_mut()
        .extend_pairs(query)
        .append_pair("state", &st.params["state"]);
    browser()
        .get(url)
        .header("cookie", &st.binding)
        .send()
        .await
        .unwrap()
}

async fn refused_with(s: &Setup, r: reqwest::Response, code: &str, case: &str) {
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{case}");
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("data-code=\"{code}\"")),
        "{case}: {html}"
    );
    // Repeats of one reason within a minute are counted into one event, so the reason is
    // found among the failures rather than always last.
    let failed = events(&s.app, &s.tenant, "login.failed").await;
    assert!(
        failed.iter().any(|e| e["after"]["reason"] == code),
        "{case}: {failed:?}"
    );
}

#[tokio::test]
async fn forged_id_tokens_are_refused_and_audited() {
    let s = setup("oidc-forge").await;
    let key = s.op.key();
    let header = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
    let public_pem = key.public_key_to_pem().unwrap();
    let stranger = rsa_key();

    type Forge = Box<dyn Fn(&Setup, &Started) -> String>;
    let with = |f: fn(&mut Value)| -> Forge {
        let key = key.clone();
        let header = header.clone();
        Box::new(move |s: &Setup, st: &Started| {
            let mut c = claims(s, st);
            f(&mut c);
            jwt(header.clone(), &c, Sign::Rs256(&key))
        })
    };
    let cases: Vec<(&str, Forge, &str)> = vec![
        (
            "alg none",
            Box::new(|s: &Setup, st: &Started| {
                jwt(json!({"alg": "none"}), &claims(s, st), Sign::Nothing)
            }),
            "unsigned",
        ),
        (
            "HS256 keyed with the provider's public key",
            Box::new(move |s: &Setup, st: &Started| {
                jwt(
                    json!({"alg": "HS256", "kid": "k1"}),
                    &claims(s, st),
                    Sign::Hs256(&public_pem),
                )
            }),
            "alg_refused",
        ),
        (
            "signed by another key under the published kid",
            Box::new(move |s: &Setup, st: &Started| {
                jwt(
                    json!({"alg": "RS256", "kid": "k1"}),
                    &claims(s, st),
                    Sign::Rs256(&stranger),
                )
            }),
            "bad_signature",
        ),
        (
            "wrong issuer",
            with(|c| c["iss"] = json!("https://evil.example")),
            "issuer",
        ),
        (
            "wrong audience",
            with(|c| c["aud"] = json!("another-client")),
            "audience",
        ),
        (
            "an untrusted second audience",
            with(|c| {
                c["aud"] = json!([CLIENT_ID, "another-client"]);
                c["azp"] = json!(CLIENT_ID);
            }),
            "audience",
        ),
        (
            "authorized party is someone else",
            with(|c| c["azp"] = json!("another-client")),
            "azp",
        ),
        (
            "wrong nonce",
            with(|c| c["nonce"] = json!("not-the-nonce")),
            "nonce",
        ),
        (
            "no nonce",
            with(|c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
            "nonce",
        ),
        (
            "expired beyond the skew",
            with(|c| c["exp"] = json!(now() - 300)),
            "expired",
        ),
        (
            "issued in the future beyond the skew",
            with(|c| c["iat"] = json!(now() + 600)),
            "not_yet_valid",
        ),
        (
            "issued long ago",
            with(|c| c["iat"] = json!(now() - 3600)),
            "expired",
        ),
    ];
    for (case, forge, code) in &cases {
        let st = start(&s).await;
        s.op.answer(forge(&s, &st));
        let r = callback(&st, &[("code", "c1")]).await;
        refused_with(&s, r, code, case).await;
    }

    // A key id the provider does not publish, even after the keys are fetched again.
    let st = start(&s).await;
    let unknown = rsa_key();
    s.op.answer(jwt(
        json!({"alg": "RS256", "kid": "k-unpublished"}),
        &claims(&s, &st),
        Sign::Rs256(&unknown),
    ));
    refused_with(
        &s,
        callback(&st, &[("code", "c1")]).await,
        "unknown_key",
        "unknown kid",
    )
    .await;

    // The IdP said no, or would not redeem the code.
    let st = start(&s).await;
    let r = callback(
        &st,
        &[
            ("error", "access_denied"),
            ("error_description", "user is not assigned"),
        ],
    )
    .await;
    refused_with(&s, r, "idp_error", "IdP error").await;
    let st = start(&s).await;
    s.op.state.lock().unwrap().token_error = Some("invalid_grant");
    refused_with(
        &s,
        callback(&st, &[("code", "c1")]).await,
        "token_error",
        "token endpoint refusal",
    )
    .await;
    // An answer naming another issuer (RFC 9207 mix-up).
    let st = start(&s).await;
    let r = callback(&st, &[("code", "c1"), ("iss", "https://evil.example")]).await;
    refused_with(&s, r, "issuer", "iss parameter").await;

    assert!(
        events(&s.app, &s.tenant, "user.provisioned")
            .await
            .is_empty(),
        "a refused sign-in created a user"
    );
    // Every refusal was audited (checked one by one above); repeats of a reason within the
    // minute were counted into its first event rather than written again.
    let failed = events(&s.app, &s.tenant, "login.failed").await;
    let reasons: std::collections::BTreeSet<&str> = failed
        .iter()
        .map(|e| e["after"]["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(reasons.len(), failed.len(), "{failed:?}");
    assert!(failed.len() <= cases.len() + 4);
}

#[tokio::test]
async fn honest_tokens_sign_in_with_pkce_rotation_and_skew() {
    let s = setup("oidc-honest").await;
    let key = s.op.key();
    let header = json!({"alg": "RS256", "kid": "k1"});

    let st = start(&s).await;
    assert_eq!(st.params["code_challenge_method"], "S256");
    assert_eq!(st.params["response_type"], "code");
    assert_eq!(st.params["client_id"], CLIENT_ID);
    let scopes: Vec<&str> = st.params["scope"].split(' ').collect();
    assert!(scopes.contains(&"openid"), "{scopes:?}");
    s.op.answer(jwt(header.clone(), &claims(&s, &st), Sign::Rs256(&key)));
    let done = callback(&st, &[("code", "the-code")]).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    assert_eq!(done.headers()["location"], "/account");
    // The code was redeemed with the PKCE verifier matching the challenge, and the client
    // authenticated with HTTP Basic.
    let (form, auth) = s.op.state.lock().unwrap().requests.last().cloned().unwrap();
    assert_eq!(form["code"], "the-code");
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["redirect_uri"], st.params["redirect_uri"]);
    let digest = openssl::sha::sha256(form["code_verifier"].as_bytes());
    assert_eq!(b64(&digest), st.params["code_challenge"]);
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{CLIENT_ID}:{}", CLIENT_SECRET.replace(' ', "+")));
    assert_eq!(auth, format!("Basic {basic}"));
    let provisioned = last_event(&s.app, &s.tenant, "user.provisioned").await;
    assert_eq!(provisioned["after"]["email"], s.email);
    assert_eq!(provisioned["after"]["groups"], json!(["engineering"]));

    // The same state again: spent.
    let again = callback(&st, &[("code", "the-code")]).await;
    refused_with(&s, again, "unsolicited", "replayed state").await;

    // Expired a minute ago is within the two-minute skew.
    let st = start(&s).await;
    let mut c = claims(&s, &st);
    c["exp"] = json!(now() - 60);
    s.op.answer(jwt(header.clone(), &c, Sign::Rs256(&key)));
    assert_eq!(
        callback(&st, &[("code", "c2")]).await.status(),
        StatusCode::SEE_OTHER
    );

    // The provider rotates to a new key: the unknown kid makes Gatehouse fetch the keys again.
    let rotated = rsa_key();
    s.op.state.lock().unwrap().keys = vec![("k2".into(), rotated.clone())];
    let st = start(&s).await;
    s.op.answer(jwt(
        json!({"alg": "RS256", "kid": "k2"}),
        &claims(&s, &st),
        Sign::Rs256(&rotated),
    ));
    let r = callback(&st, &[("code", "c3")]).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let logins = events(&s.app, &s.tenant, "login.succeeded").await;
    assert_eq!(logins.len(), 3);
    assert_eq!(logins[0]["after"]["outcome"], "existing");
}

#[tokio::test]
async fn userinfo_fills_missing_claims_and_must_name_the_same_subject() {
    let s = setup("oidc-userinfo").await;
    let r = s
        .app
        .api(
            &s.token,
            Method::PATCH,
            &format!("/sso/connections/{}", s.connection),
            Some(json!({"oidc": {"fetch_userinfo": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["oidc"]["fetch_userinfo"], true);
    let key = s.op.key();
    let header = json!({"alg": "RS256", "kid": "k1"});
    // The ID token carries no names; userinfo does, and cannot override the ID token's email.
    let lean = |st: &Started| {
        let mut c = claims(&s, st);
        let map = c.as_object_mut().unwrap();
        map.remove("name");
        map.remove("groups");
        c
    };

    let st = start(&s).await;
    s.op.state.lock().unwrap().userinfo =
        json!({"sub": "someone-else", "given_name": "Eve", "email": "eve@elsewhere.example"});
    s.op.answer(jwt(header.clone(), &lean(&st), Sign::Rs256(&key)));
    refused_with(
        &s,
        callback(&st, &[("code", "c1")]).await,
        "userinfo_subject",
        "userinfo for another subject",
    )
    .await;

    let st = start(&s).await;
    s.op.state.lock().unwrap().userinfo = json!({"sub": "user-1", "given_name": "Ada",
        "family_name": "Lovelace", "email": "eve@elsewhere.example", "groups": ["research"]});
    s.op.answer(jwt(header.clone(), &lean(&st), Sign::Rs256(&key)));
    let done = callback(&st, &[("code", "c2")]).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    assert_eq!(
        s.op.state.lock().unwrap().userinfo_auth.last().unwrap(),
        "Bearer at"
    );
    let provisioned = last_event(&s.app, &s.tenant, "user.provisioned").await;
    assert_eq!(provisioned["after"]["email"], s.email);
    assert_eq!(provisioned["after"]["given_name"], "Ada");
    assert_eq!(provisioned["after"]["groups"], json!(["research"]));
}
