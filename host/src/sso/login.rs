//! A sign-in through a connection, start to finish. [`start`] records a single-use login
//! state and sends the browser to the IdP (a SAML AuthnRequest or an OIDC authorization
//! request); [`saml_acs`] takes a SAML IdP's answer (the OIDC answer is
//! [`super::callback`]'s), verifies it, runs the tenant's pipeline, reconciles the directory
//! and opens a session, all audited.
//! A test sign-in (started by an admin) stops after the pipeline and reports what it saw.
//! Every refusal is audited as `login.failed` with its reason code.

use std::sync::Arc;

use base64::Engine;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::oidc::flow as oidc_flow;
use super::saml::authn_request::{new_request_id, AuthnRequest};
use super::saml::response::{self, Expectations};
use super::saml::{replay, Rejection};
use super::{connections, oidc_redirect_uri, Connection, ConnectionStatus, Settings, SpEndpoints};
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::directory::{self, Outcome, Refusal};
use crate::error::Error;
use crate::plugins::pipeline::DryRunReport;
use crate::plugins::sign_in;
use crate::plugins::types::RawIdentity;
use crate::services::Services;
use crate::sessions::browser;
use crate::store::{self, sso::LoginStateRow, tenants::TenantRecord, tenants::TenantStatus};
use crate::types::{random_token, ConnectionId, DomainName, Email, TenantId};

/// How long a user has to come back from the IdP.
const LOGIN_STATE_TTL_SECS: i64 = 10 * 60;
/// Longest `return_to` kept.
const MAX_RETURN_TO: usize = 2048;
/// Where a signed-in user lands when the sign-in named no destination.
pub const DEFAULT_LANDING: &str = "/account";

/// Why a sign-in failed, as the user's error page and the audit log need it.
#[derive(Debug)]
pub enum Failure {
    /// The tenant or connection in the URL does not exist.
    NotFound,
    /// The sign-in was refused; `code` is stable, `message` is for the user, `detail` (when
    /// the message must stay vague) for the audit log only.
    Refused {
        code: &'static str,
        message: String,
        detail: Option<String>,
    },
    /// Something broke on our side.
    Internal(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::PluginFailed { stage, detail } => Failure::Refused {
                code: "plugin_failed",
                message: format!("the {stage} plugin failed: {detail}"),
                detail: None,
            },
            Error::NotFound(_) => Failure::NotFound,
            Error::Conflict(message) => Failure::Refused {
                code: "conflict",
                message,
                detail: None,
            },
            other => Failure::Internal(other),
        }
    }
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Self {
        Failure::Refused {
            code: r.code(),
            message: r.to_string(),
            detail: r.detail().map(str::to_string),
        }
    }
}

impl From<super::oidc::Rejection> for Failure {
    fn from(r: super::oidc::Rejection) -> Self {
        Failure::Refused {
            code: r.code(),
            message: r.to_string(),
            detail: None,
        }
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused {
            code: r.code(),
            message: r.to_string(),
            detail: None,
        }
    }
}

/// What a finished sign-in gives the browser.
#[derive(Debug)]
pub enum Finished {
    /// Signed in: set this cookie and go there.
    SignedIn {
        set_cookie: String,
        redirect: String,
    },
    /// A test sign-in's report, for the admin.
    Test(Box<TestReport>),
}

/// What a test sign-in shows: the raw identity and each pipeline stage's output.
#[derive(Debug, Serialize)]
pub struct TestReport {
    pub connection: ConnectionId,
    pub raw_identity: serde_json::Value,
    pub pipeline: DryRunReport,
}

/// Keeps `return_to` only if it is a path on this server (no open redirects).
pub fn safe_return_to(text: Option<&str>) -> Option<String> {
    let t = text?.trim();
    let ok = t.starts_with('/')
        && !t.starts_with("//")
        && !t.starts_with("/\\")
        && t.len() <= MAX_RETURN_TO
        && !t.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| t.to_string())
}

/// The tenant a work email routes to, and its enabled connection.
pub async fn route(state: &Services, email: &str) -> Result<(TenantRecord, Connection), Failure> {
    let unknown = || Failure::Refused {
        code: "no_connection",
        message: "no organisation signs in with this email domain here".into(),
        detail: None,
    };
    let email: Email = email.parse().map_err(|_| Failure::Refused {
        code: "bad_email",
        message: "enter a work email address, such as ada@example.com".into(),
        detail: None,
    })?;
    let domain: DomainName = email.domain().parse().map_err(|_| unknown())?;
    let tenant = store::tenants::find_by_verified_domain(&state.store, domain.as_str())
        .await
        .map_err(Error::from)?
        .ok_or_else(unknown)?;
    if tenant.status != TenantStatus::Active {
        return Err(unknown());
    }
    let rows = store::sso::connections(&state.store, tenant.id)
        .await
        .map_err(Error::from)?;
    for row in rows {
        let c = connections::parse_row(row)?;
        if c.status == ConnectionStatus::Enabled {
            return Ok((tenant, c));
        }
    }
    Err(unknown())
}

/// Name prefix of the cookies that bind a sign-in to the browser that started it; the rest
/// of the name is the start of the login state id, so parallel sign-ins do not collide.
pub const BINDING_COOKIE_PREFIX: &str = "gatehouse_sso_";
/// Characters of the login state id in the binding cookie's name.
const BINDING_NAME_CHARS: usize = 16;

/// Where the browser goes next and, for a browser-started sign-in, the `Set-Cookie` value
/// that binds the answer to this browser.
pub struct Started {
    pub redirect_url: String,
    pub binding_cookie: Option<String>,
}

fn binding_cookie_name(state_id: &str) -> String {
    let prefix: String = state_id.chars().take(BINDING_NAME_CHARS).collect();
    format!("{BINDING_COOKIE_PREFIX}{prefix}")
}

/// Path of the binding cookie: the SAML ACS and the OIDC callback both live under it.
const BINDING_PATH: &str = "/sso/";

/// The `Set-Cookie` value for a binding. A SAML IdP posts the answer cross-site, so on https
/// the cookie is `SameSite=None; Secure`; it is scoped to the IdP-facing paths and dies with
/// the login state.
fn binding_set_cookie(state: &Services, state_id: &str, value: &str) -> String {
    let site = if state.config.is_https() {
        "; SameSite=None; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path={BINDING_PATH}; HttpOnly; Max-Age={LOGIN_STATE_TTL_SECS}{site}",
        binding_cookie_name(state_id)
    )
}

/// Records a login state and returns where to send the browser. A test sign-in (started by
/// an admin through the API, then opened in some browser) is not bound to a browser.
pub async fn start(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    return_to: Option<String>,
    test_mode: bool,
) -> Result<Started, Error> {
    if !test_mode && connection.status != ConnectionStatus::Enabled {
        return Err(Error::Conflict(
            "this connection is not enabled for sign-in".into(),
        ));
    }
    if connection.status == ConnectionStatus::Disabled {
        return Err(Error::Conflict("this connection is disabled".into()));
    }
    let now = state.clock.now();
    let binding = (!test_mode).then(random_token);
    let mut login = LoginStateRow {
        binding_hash: binding
            .as_ref()
            .map(|b| Sha256::digest(b.as_bytes()).to_vec()),
        id: random_token(),
        tenant_id: tenant.id,
        connection_id: connection.id,
        request_id: String::new(),
        secrets_sealed: None,
        return_to: safe_return_to(return_to.as_deref()),
        test_mode,
        created_at: now,
        expires_at: now.plus_seconds(LOGIN_STATE_TTL_SECS),
    };
    let public_url = state.config.public_url();
    let url = match &connection.settings {
        Settings::Saml(saml) => {
            let sp = SpEndpoints::new(&public_url, &tenant.public_token, connection.id);
            login.request_id = new_request_id();
            AuthnRequest {
                id: &login.request_id,
                issue_instant: now,
                sp_entity_id: &sp.entity_id,
                acs_url: &sp.acs_url,
                destination: &saml.sso_url,
                force_authn: test_mode,
            }
            .redirect_url(&login.id)
            .map_err(Error::Internal)?
        }
        Settings::Oidc(oidc) => {
            let metadata = state.oidc.metadata(&oidc.issuer).await.map_err(|e| {
                Error::Conflict(format!("the identity provider cannot be used now: {e}"))
            })?;
            let (challenge, pending) = oidc_flow::new_pending();
            let redirect_uri = oidc_redirect_uri(&public_url, &tenant.public_token, connection.id);
            let url = oidc_flow::authorization_url(
                &metadata,
                oidc,
                &redirect_uri,
                &login.id,
                challenge,
                &pending,
                test_mode,
            )
            .map_err(|e| Error::Conflict(e.to_string()))?;
            let plain = zeroize::Zeroizing::new(
                serde_json::to_vec(&pending).map_err(|e| Error::Internal(e.into()))?,
            );
            login.secrets_sealed = Some(
                state
                    .secrets
                    .seal(&state.store, tenant.id, &pending_purpose(&login.id), &plain)
                    .await?,
            );
            url
        }
    };
    let mut tx = state.store.begin().await?;
    store::sso::insert_login_state(&mut tx, &login).await?;
    tx.commit().await?;
    Ok(Started {
        redirect_url: url,
        binding_cookie: binding.map(|b| binding_set_cookie(state, &login.id, &b)),
    })
}

/// The associated data an OIDC login state's sealed nonce and PKCE verifier are bound to.
pub(super) fn pending_purpose(login_state: &str) -> String {
    format!("sso-login-state:{login_state}")
}

/// The tenant and connection named in an IdP-facing URL, through the node cache (see
/// [`crate::cache`] for how fresh they are).
pub async fn resolve(
    state: &Services,
    tenant_token: &str,
    connection: &str,
) -> Result<(TenantRecord, Arc<Connection>), Failure> {
    let id: ConnectionId = connection.parse().map_err(|_| Failure::NotFound)?;
    let tenant = state
        .cache
        .tenant_by_token(tenant_token, || {
            store::tenants::find_by_public_token(&state.store, tenant_token)
        })
        .await
        .map_err(Error::from)?
        .ok_or(Failure::NotFound)?;
    if tenant.status != TenantStatus::Active {
        return Err(Failure::NotFound);
    }
    let connection = state
        .cache
        .connection(tenant.id, id, || async {
            connections::load(state, tenant.id, id)
                .await
                .map(|c| Some(Arc::new(c)))
        })
        .await?
        .ok_or(Failure::NotFound)?;
    Ok((tenant, connection))
}

/// Handles a response posted to a connection's ACS. Audits every refusal.
pub async fn saml_acs(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    saml_response: &str,
    relay_state: Option<&str>,
    cookies: &[(String, String)],
    ctx: &RequestContext,
) -> Result<Finished, Failure> {
    let result = saml_acs_inner(
        state,
        tenant,
        connection,
        saml_response,
        relay_state,
        cookies,
        ctx,
    )
    .await;
    if let Err(Failure::Refused {
        code,
        message,
        detail,
    }) = &result
    {
        tracing::info!(tenant = %tenant.id, connection = %connection.id, code, "SAML sign-in refused");
        let message = match detail {
            Some(detail) => format!("{message}: {detail}"),
            None => message.clone(),
        };
        audit_failure(state, tenant.id, connection.id, code, &message, ctx).await?;
    }
    result
}

/// Records a refused SSO sign-in at `connection` (repeats collapsed, see
/// [`audit::failures`]).
pub(super) async fn audit_failure(
    state: &Services,
    tenant: TenantId,
    connection: ConnectionId,
    code: &str,
    message: &str,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    audit::failures::record(
        &state.store,
        &state.failures,
        state.clock.now(),
        ctx,
        audit::failures::Kind {
            tenant,
            target_type: "sso_connection",
            reason: code.to_string(),
        },
        &connection.to_string(),
        json!({"message": message}),
    )
    .await?;
    Ok(())
}

/// True when the login state needs no binding, or this browser holds its cookie.
fn bound_to_this_browser(login: &LoginStateRow, cookies: &[(String, String)]) -> bool {
    let Some(expected) = &login.binding_hash else {
        return true;
    };
    let name = binding_cookie_name(&login.id);
    cookies.iter().any(|(n, v)| {
        *n == name && bool::from(Sha256::digest(v.as_bytes()).as_slice().ct_eq(expected))
    })
}

/// The `Set-Cookie` value that removes the binding cookie of `relay_state`.
pub fn clear_binding_cookie(relay_state: &str) -> String {
    format!(
        "{}=; Path={BINDING_PATH}; HttpOnly; Max-Age=0",
        binding_cookie_name(relay_state)
    )
}

/// Takes the login state named by RelayState; `None` for an unsolicited response.
pub(super) async fn take_state(
    state: &Services,
    tenant: TenantId,
    connection: &Connection,
    relay_state: Option<&str>,
    cookies: &[(String, String)],
) -> Result<Option<LoginStateRow>, Failure> {
    let Some(relay) = relay_state.filter(|r| !r.is_empty() && r.len() <= 80) else {
        return Ok(None);
    };
    let mut tx = state.store.begin().await.map_err(Error::from)?;
    let taken = store::sso::take_login_state(&mut tx, tenant, relay)
        .await
        .map_err(Error::from)?;
    tx.commit().await.map_err(Error::from)?;
    match taken {
        Some(s) if s.connection_id != connection.id => Err(Rejection::InResponseTo.into()),
        Some(s) if s.expires_at <= state.clock.now() => Err(Failure::Refused {
            code: "login_expired",
            message: "the sign-in took too long; start again".into(),
            detail: None,
        }),
        Some(s) if !bound_to_this_browser(&s, cookies) => Err(Failure::Refused {
            code: "browser_mismatch",
            message: "this sign-in was started in another browser; start again here".into(),
            detail: None,
        }),
        other => Ok(other),
    }
}

async fn saml_acs_inner(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    saml_response: &str,
    relay_state: Option<&str>,
    cookies: &[(String, String)],
    ctx: &RequestContext,
) -> Result<Finished, Failure> {
    if connection.status == ConnectionStatus::Disabled {
        return Err(Failure::Refused {
            code: "connection_disabled",
            message: "this connection is disabled".into(),
            detail: None,
        });
    }
    let Settings::Saml(saml) = &connection.settings else {
        return Err(Failure::NotFound);
    };
    let login = take_state(state, tenant.id, connection, relay_state, cookies).await?;
    if login.is_none() && !saml.allow_idp_initiated {
        return Err(Rejection::Unsolicited.into());
    }
    let xml = decode(saml_response)?;
    let sp = SpEndpoints::new(
        &state.config.public_url(),
        &tenant.public_token,
        connection.id,
    );
    let certificates = saml.certificate_ders();
    let decryption_keys = connections::decryption_keys(state, connection).await?;
    let verified = response::verify(
        &xml,
        &Expectations {
            sp_entity_id: &sp.entity_id,
            acs_url: &sp.acs_url,
            idp_entity_id: &saml.idp_entity_id,
            certificates: &certificates,
            decryption_keys: &decryption_keys,
            allow_cbc: saml.allow_cbc_encryption,
            want_assertions_signed: saml.want_assertions_signed,
            skew_secs: i64::from(saml.clock_skew_secs),
            request_id: login.as_ref().map(|l| l.request_id.as_str()),
            now: state.clock.now(),
        },
    )?;
    replay::consume(
        &state.store,
        tenant.id,
        connection.id,
        &verified.assertion_id,
        verified.replay_until,
    )
    .await??;

    let test_mode = login.as_ref().is_some_and(|l| l.test_mode);
    if test_mode {
        let pipeline = sign_in::trial(state, tenant.id, &verified.identity).await?;
        return Ok(Finished::Test(Box::new(TestReport {
            connection: connection.id,
            raw_identity: raw_json(&verified.identity),
            pipeline,
        })));
    }
    if connection.status != ConnectionStatus::Enabled {
        return Err(Failure::Refused {
            code: "connection_in_test",
            message: "this connection is in test mode; only admin test sign-ins work".into(),
            detail: None,
        });
    }
    let return_to = login.and_then(|l| l.return_to);
    sign_in_user(
        state,
        tenant,
        connection,
        &verified.identity,
        return_to,
        ctx,
    )
    .await
}

/// Base64 of the posted response, bounded before decoding.
fn decode(encoded: &str) -> Result<String, Failure> {
    let max_encoded = response::MAX_RESPONSE_BYTES / 3 * 4 + 1024;
    if encoded.len() > max_encoded {
        return Err(Rejection::Malformed("the SAMLResponse is too large".into()).into());
    }
    let compact: String = encoded.split_ascii_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| Rejection::Malformed("SAMLResponse is not base64".into()))?;
    String::from_utf8(bytes)
        .map_err(|_| Rejection::Malformed("SAMLResponse is not UTF-8 XML".into()).into())
}

pub(super) fn raw_json(raw: &RawIdentity) -> serde_json::Value {
    json!({
        "protocol": match raw.protocol {
            crate::plugins::types::Protocol::Saml => "saml",
            crate::plugins::types::Protocol::Oidc => "oidc",
        },
        "issuer": raw.issuer,
        "subject": raw.subject,
        "attributes": raw.attributes.iter().map(|a| json!({"name": a.name, "values": a.values})).collect::<Vec<_>>(),
    })
}

/// What the directory needs of a mapped sign-in, in its own types.
fn signed_in(mapped: &sign_in::Mapped, connection: ConnectionId) -> directory::SignIn {
    let p = &mapped.profile;
    let custom: serde_json::Map<String, serde_json::Value> = p
        .custom
        .iter()
        .map(|a| (a.name.clone(), json!(a.values)))
        .collect();
    directory::SignIn {
        connection,
        subject: mapped.identity.subject.clone(),
        email_verified: mapped.identity.email_verified,
        profile: directory::Profile {
            email: p.email.to_lowercase(),
            email_verified: true,
            display_name: p.display_name.clone(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            locale: p.locale.clone(),
            timezone: p.timezone.clone(),
            custom_json: Some(serde_json::Value::Object(custom).to_string()),
        },
        groups: mapped.identity.groups.clone(),
        roles: mapped
            .roles
            .iter()
            .map(|r| match &r.scope {
                Some(s) => (r.role.clone(), s.kind.clone(), s.name.clone()),
                None => (r.role.clone(), String::new(), String::new()),
            })
            .collect(),
    }
}

/// Pipeline, directory, session and audit, for a verified identity.
pub(super) async fn sign_in_user(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    raw: &RawIdentity,
    return_to: Option<String>,
    ctx: &RequestContext,
) -> Result<Finished, Failure> {
    let mapped = sign_in::run(state, tenant.id, ctx, raw).await?;
    let domains = crate::tenancy::domains::verified(state, tenant.id).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await.map_err(Error::from)?;
    let login = signed_in(&mapped, connection.id);
    let reconciled = directory::reconcile(&mut tx, tenant.id, &login, &domains, now).await??;
    let user = &reconciled.user;
    let actor = Actor {
        kind: "user",
        id: user.id.to_string(),
        label: user.email.clone(),
    };
    let lifecycle = match reconciled.outcome {
        Outcome::Provisioned => Some(Action::UserProvisioned),
        Outcome::Linked => Some(Action::UserLinked),
        Outcome::Existing => None,
    };
    if let Some(action) = lifecycle {
        audit::record(
            &mut tx,
            now,
            ctx,
            NewEvent {
                chain: Chain::Tenant(tenant.id),
                actor: actor.clone(),
                action,
                target: Target::new("user", user.id),
                before: reconciled.before.clone(),
                after: Some(reconciled.after.clone()),
            },
        )
        .await?;
    }
    let opened = browser::open(
        state,
        &mut tx,
        tenant.id,
        user.id,
        format!("sso:{}", connection.id),
        ctx,
    )
    .await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        NewEvent {
            chain: Chain::Tenant(tenant.id),
            actor,
            action: Action::LoginSucceeded,
            target: Target::new("user", user.id),
            before: reconciled.before,
            after: Some(json!({
                "connection": connection.id,
                "subject": raw.subject,
                "session": opened.id,
                "outcome": reconciled.outcome,
                "user": reconciled.after,
            })),
        },
    )
    .await?;
    tx.commit().await.map_err(Error::from)?;
    Ok(Finished::SignedIn {
        set_cookie: browser::set_cookie(state, &opened),
        redirect: return_to.unwrap_or_else(|| DEFAULT_LANDING.to_string()),
    })
}
