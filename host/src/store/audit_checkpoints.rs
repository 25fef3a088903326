//! SQL for the audit trail's signed checkpoints and the instance's checkpoint keys. Rows are
//! only ever inserted; `audit::checkpoint` owns what is signed and how it is checked.

use sqlx::Row;

use super::{Store, StoreResult, Tx};
use crate::types::Timestamp;

/// A checkpoint exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// The chain: a tenant id, or `operator`.
    pub chain: String,
    /// 1, 2, … within the chain.
    pub number: i64,
    /// The chain's newest event when signed (0 and the genesis hash for an empty chain).
    pub last_seq: i64,
    pub last_hash: Vec<u8>,
    pub signed_at: i64,
    /// Which key signed it.
    pub kid: String,
    /// The previous checkpoint's signature (empty for the first).
    pub prev_signature: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A checkpoint key as stored.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    pub public_key: Vec<u8>,
    /// The PKCS#8 private key, sealed with the master key.
    pub private_sealed: Vec<u8>,
    pub created_at: Timestamp,
}

/// A chain's head beside its newest checkpoint, for the scheduler.
#[derive(Debug, Clone)]
pub struct ChainState {
    pub chain: String,
    /// When the newest checkpoint was signed; `None` before the first.
    pub last_signed_at: Option<i64>,
}

pub(super) const COLUMNS: &str =
    "tenant_id, number, last_seq, last_hash, signed_at, kid, prev_signature, signature";

pub(super) fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<CheckpointRow> {
    Ok(CheckpointRow {
        chain: r.try_get("tenant_id")?,
        number: r.try_get("number")?,
        last_seq: r.try_get("last_seq")?,
        last_hash: r.try_get("last_hash")?,
        signed_at: r.try_get("signed_at")?,
        kid: r.try_get("kid")?,
        prev_signature: r.try_get("prev_signature")?,
        signature: r.try_get("signature")?,
    })
}

/// Every chain with the time of its newest checkpoint.
pub async fn chain_states(store: &Store) -> StoreResult<Vec<ChainState>> {
    let rows = sqlx::query(
        // The newest checkpoint by number: one index probe per chain.
        "SELECT h.tenant_id, c.signed_at AS last_signed_at FROM audit_heads h \
         LEFT JOIN audit_checkpoints c ON c.tenant_id = h.tenant_id AND c.number = \
         (SELECT MAX(m.number) FROM audit_checkpoints m WHERE m.tenant_id = h.tenant_id) \
         ORDER BY h.tenant_id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ChainState {
                chain: r.try_get("tenant_id")?,
                last_signed_at: r.try_get("last_signed_at")?,
            })
        })
        .collect()
}

/// The chain's head (sequence and hash of its newest event) as of `tx`.
pub async fn head(tx: &mut Tx, chain: &str) -> StoreResult<Option<(i64, Vec<u8>)>> {
    let row = sqlx::query("SELECT last_seq, last_hash FROM audit_heads WHERE tenant_id = $1")
        .bind(chain)
        .fetch_optional(tx.conn())
        .await?;
    row.map(|r| Ok((r.try_get("last_seq")?, r.try_get("last_hash")?)))
        .transpose()
}

/// The chain's newest checkpoint as of `tx`.
pub async fn latest(tx: &mut Tx, chain: &str) -> StoreResult<Option<CheckpointRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY number DESC LIMIT 1"
    ))
    .bind(chain)
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Inserts a checkpoint; false when another node wrote that number first.
pub async fn insert(tx: &mut Tx, c: &CheckpointRow) -> StoreResult<bool> {
    let done = sqlx::query(&format!(
        "INSERT INTO audit_checkpoints ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, number) DO NOTHING"
    ))
    .bind(&c.chain)
    .bind(c.number)
    .bind(c.last_seq)
    .bind(c.last_hash.clone())
    .bind(c.signed_at)
    .bind(&c.kid)
    .bind(c.prev_signature.clone())
    .bind(c.signature.clone())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every checkpoint of `chain`, oldest first.
pub async fn of_chain(store: &Store, chain: &str) -> StoreResult<Vec<CheckpointRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY number"
    ))
    .bind(chain)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Every checkpoint key, oldest first.
pub async fn keys(store: &Store) -> StoreResult<Vec<KeyRow>> {
    let rows = sqlx::query(
        "SELECT kid, public_key, private_sealed, created_at FROM audit_signing_keys ORDER BY created_at, kid",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                kid: r.try_get("kid")?,
                public_key: r.try_get("public_key")?,
                private_sealed: r.try_get("private_sealed")?,
                created_at: Timestamp::from_micros(r.try_get("created_at")?),
            })
        })
        .collect()
}

pub async fn insert_key(tx: &mut Tx, k: &KeyRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_signing_keys (kid, public_key, private_sealed, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&k.kid)
    .bind(k.public_key.clone())
    .bind(k.private_sealed.clone())
    .bind(k.created_at.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}
