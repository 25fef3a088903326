//! One-time use of assertion ids (profile §4.1.4.5), in the database so it holds across
//! nodes: the first insert of (tenant, connection, assertion id) wins, any later one is a
//! replay. Entries are dropped once the assertion could not be accepted anyway. ID tokens
//! that apps exchange ([`crate::sso::exchange`]) are used once the same way ([`first_use`]).

use super::Rejection;
use crate::store::{self, Store, StoreError};
use crate::types::{ConnectionId, TenantId, Timestamp};

/// Records `assertion_id` as used, or reports a replay. Committed at once, before anything
/// else of the sign-in: an assertion is used up by its first presentation, even when the
/// sign-in then fails (so it is not folded into the sign-in's transaction, whose rollback
/// would make it usable again).
pub async fn consume(
    store: &Store,
    tenant: TenantId,
    connection: ConnectionId,
    assertion_id: &str,
    until: Timestamp,
) -> Result<Result<(), Rejection>, crate::Error> {
    Ok(
        match first_use(store, tenant, connection, assertion_id, until).await? {
            true => Ok(()),
            false => Err(Rejection::Replayed),
        },
    )
}

/// Records `id` as used at `connection` until `until`; false when it was used before.
pub async fn first_use(
    store: &Store,
    tenant: TenantId,
    connection: ConnectionId,
    id: &str,
    until: Timestamp,
) -> Result<bool, crate::Error> {
    match store::sso::insert_replay(store, tenant, connection, id, until).await {
        Ok(()) => Ok(true),
        Err(StoreError::UniqueViolation(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
