//! The operator credential: created on the first start of an empty database and printed
//! once; rotated from the CLI (`gatehouse operator rotate-token`) if lost.

use secrecy::SecretString;
use serde_json::json;

use super::{mint, secret_matches, OPERATOR_TOKEN_PREFIX};
use crate::audit::action::Action;
use crate::audit::{self, Actor, Chain, NewEvent, RequestContext, Target};
use crate::error::Error;
use crate::rbac::Principal;
use crate::services::Services;
use crate::store::{self, tokens::OperatorTokenRecord, Store};
use crate::types::{Clock, TokenId};

/// Creates the first operator token if there has never been one; returns it to print once.
pub async fn bootstrap(store: &Store, clock: &Clock) -> Result<Option<SecretString>, Error> {
    let mut tx = store.begin().await?;
    if store::tokens::count_operator_tokens(&mut tx).await? > 0 {
        return Ok(None);
    }
    let token = insert_new(&mut tx, clock, "bootstrap", Action::OperatorTokenCreated).await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// Revokes every operator token and issues a new one (for a lost or leaked token).
pub async fn rotate(store: &Store, clock: &Clock) -> Result<SecretString, Error> {
    let mut tx = store.begin().await?;
    store::tokens::revoke_all_operator_tokens(&mut tx, clock.now()).await?;
    let token = insert_new(&mut tx, clock, "cli", Action::OperatorTokenRotated).await?;
    tx.commit().await?;
    Ok(token)
}

async fn insert_new(
    tx: &mut store::Tx,
    clock: &Clock,
    by: &str,
    action: Action,
) -> Result<SecretString, Error> {
    let minted = mint(OPERATOR_TOKEN_PREFIX);
    let record = OperatorTokenRecord {
        id: minted.id,
        name: "operator".into(),
        created_at: clock.now(),
        revoked_at: None,
    };
    store::tokens::insert_operator_token(tx, &record, &minted.secret_hash).await?;
    audit::record(
        tx,
        clock.now(),
        &RequestContext::default(),
        NewEvent {
            chain: Chain::Operator,
            actor: Actor::system(by),
            action,
            target: Target::new("operator_token", minted.id),
            before: None,
            after: Some(json!({ "id": minted.id, "name": record.name })),
        },
    )
    .await?;
    Ok(minted.token)
}

pub(super) async fn authenticate(
    state: &Services,
    id: TokenId,
    secret: &str,
) -> Result<Principal, Error> {
    let invalid = || Error::Unauthenticated("the token is not valid".into());
    let Some((record, hash)) = store::tokens::operator_token_hash(&state.store, id).await? else {
        // Same work as a real check, so response time does not reveal which ids exist.
        let _ = secret_matches(secret, &[0u8; 32]);
        return Err(invalid());
    };
    if !secret_matches(secret, &hash) {
        return Err(invalid());
    }
    if record.revoked_at.is_some() {
        return Err(Error::Unauthenticated("the token has been revoked".into()));
    }
    Ok(Principal::Operator {
        token_id: record.id,
    })
}
