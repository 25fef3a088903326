//! The common end of every SSO sign-in, SAML or OIDC, once the IdP's answer is verified
//! into a raw identity ([`finish`]): a test sign-in runs the tenant's pipeline as a trial
//! and reports what it saw; a real one runs the pipeline, reconciles the directory and opens
//! a session, all in one audited transaction ([`sign_in_user`]). An app's token exchange
//! ends the same way ([`finish_exchange`]), with a session linked to the app and no cookie.

use serde::Serialize;
use serde_json::json;

use super::failure::Failure;
use super::{Connection, ConnectionStatus};
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::directory::{self, Outcome};
use crate::error::Error;
use crate::identity::{Mapped, RawIdentity, RoleGrant};
use crate::plugins::dry_run::DryRunReport;
use crate::plugins::sign_in;
use crate::policy::admit::{self, Via};
use crate::policy::Policy;
use crate::services::Services;
use crate::sessions::auth_context::Upstream;
use crate::sessions::browser;
use crate::store::{self, sso::LoginStateRow, tenants::TenantRecord};
use crate::types::{ConnectionId, SessionId, UserId};

/// Where a signed-in user lands when the sign-in named no destination.
pub const DEFAULT_LANDING: &str = "/account";

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

/// Refuses a sign-in through a disabled connection.
pub(super) fn check_not_disabled(connection: &Connection) -> Result<(), Failure> {
    if connection.status == ConnectionStatus::Disabled {
        return Err(Failure::Refused {
            code: "connection_disabled",
            message: "this connection is disabled".into(),
            detail: None,
        });
    }
    Ok(())
}

/// Finishes a sign-in whose answer `identity` is verified. `login` is the login state the
/// answer named (none for an IdP-initiated SAML sign-in): a test sign-in reports the
/// pipeline's trial; otherwise the connection must be enabled.
pub(super) async fn finish(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    identity: &RawIdentity,
    upstream: &Upstream,
    login: Option<LoginStateRow>,
    ctx: &RequestContext,
) -> Result<Finished, Failure> {
    if login.as_ref().is_some_and(|l| l.test_mode) {
        let pipeline = sign_in::trial(state, tenant.id, connection.id, identity).await?;
        return Ok(Finished::Test(Box::new(TestReport {
            connection: connection.id,
            raw_identity: identity.to_json(),
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
    let (_, opened) = admitted(state, tenant, connection, identity, upstream, None, ctx).await?;
    Ok(Finished::SignedIn {
        set_cookie: browser::set_cookie(state, &opened),
        redirect: return_to.unwrap_or_else(|| DEFAULT_LANDING.to_string()),
    })
}

/// Who an exchanged token signed in, and the session that opened for them.
#[derive(Debug, Clone, Copy)]
pub struct Exchanged {
    pub user: UserId,
    pub session: SessionId,
}

/// Finishes a sign-in by a token `app` exchanged (RFC 8693): the same pipeline, policy,
/// directory and audit as a browser's, through an enabled connection only; the session
/// opens linked to the app (its back-channel hears when it ends) and has no cookie.
pub(super) async fn finish_exchange(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    identity: &RawIdentity,
    upstream: &Upstream,
    app: &str,
    ctx: &RequestContext,
) -> Result<Exchanged, Failure> {
    check_not_disabled(connection)?;
    if connection.status != ConnectionStatus::Enabled {
        return Err(Failure::Refused {
            code: "connection_in_test",
            message: "this connection is in test mode; tokens cannot be exchanged through it"
                .into(),
            detail: None,
        });
    }
    let (user, opened) = admitted(
        state,
        tenant,
        connection,
        identity,
        upstream,
        Some(app),
        ctx,
    )
    .await?;
    Ok(Exchanged {
        user,
        session: opened.id,
    })
}

/// The policy's admission, then the sign-in itself.
async fn admitted(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    identity: &RawIdentity,
    upstream: &Upstream,
    app: Option<&str>,
    ctx: &RequestContext,
) -> Result<(UserId, browser::Opened), Failure> {
    let policy = crate::policy::load(&state.store, tenant.id).await?;
    let via = Via::Sso {
        connection: connection.id,
        idp_mfa: upstream.mfa,
    };
    admit::admit(&policy, &via, ctx, state.clock.now())?;
    let how = SignIn {
        raw: identity,
        upstream,
        app,
    };
    sign_in_user(state, tenant, connection, how, &policy.policy, ctx).await
}

/// What the directory needs of a mapped sign-in through `connection`, in its own types.
fn signed_in(mapped: &Mapped, connection: &Connection) -> directory::SignIn {
    let p = &mapped.profile;
    let custom: serde_json::Map<String, serde_json::Value> = p
        .custom
        .iter()
        .map(|a| (a.name.clone(), json!(a.values)))
        .collect();
    directory::SignIn {
        connection: connection.id,
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
            .cloned()
            .map(RoleGrant::into_parts)
            .collect(),
        jit: connection.provisioning.jit,
        default_role: connection.provisioning.default_role.clone(),
    }
}

/// A verified sign-in: the identity, the IdP's account of the authentication, and the app
/// whose token exchange it is (none for a browser).
struct SignIn<'a> {
    raw: &'a RawIdentity,
    upstream: &'a Upstream,
    app: Option<&'a str>,
}

/// Pipeline, directory, session and audit, for a verified identity; with an `app`, the
/// session is linked to it and the audit names it.
async fn sign_in_user(
    state: &Services,
    tenant: &TenantRecord,
    connection: &Connection,
    how: SignIn<'_>,
    policy: &Policy,
    ctx: &RequestContext,
) -> Result<(UserId, browser::Opened), Failure> {
    let SignIn { raw, upstream, app } = how;
    let mapped = sign_in::run(state, tenant.id, connection.id, ctx, raw).await?;
    let domains = crate::tenancy::domains::verified(state, tenant.id).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await.map_err(Error::from)?;
    let login = signed_in(&mapped, connection);
    let reconciled = directory::reconcile(&mut tx, tenant.id, &login, &domains, now).await??;
    let user = &reconciled.user;
    let actor = Actor::user(user.id, &user.email);
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
        policy,
        tenant.id,
        user.id,
        browser::How {
            method: format!("sso:{}", connection.id),
            upstream: Some(upstream),
        },
        ctx,
    )
    .await??;
    if let Some(app) = app {
        store::session_apps::link(&mut tx, tenant.id, opened.id, app, user.id, now)
            .await
            .map_err(Error::from)?;
    }
    let mut after = json!({
        "connection": connection.id,
        "subject": raw.subject,
        "session": opened.id,
        "outcome": reconciled.outcome,
        "user": reconciled.after,
    });
    if let Some(app) = app {
        after["method"] = json!("token_exchange");
        after["client_id"] = json!(app);
    }
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
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await.map_err(Error::from)?;
    Ok((user.id, opened))
}
