//! Signed checkpoints: on a schedule (`audit.checkpoint_interval_secs`), also when nothing
//! happened, the instance signs each chain's newest sequence and hash with Ed25519, linking
//! the previous checkpoint's signature. Whoever holds a checkpoint (an export, a stream, a
//! copy of the well-known keys) can prove that the events it covers were not changed,
//! removed or re-ordered, and that the chain was not cut back and re-grown past it.
//!
//! The instance's keys are made here (OpenSSL's Ed25519; the `ed25519-dalek` crate would do
//! the same, OpenSSL is already linked for SAML). The private half is sealed with the master
//! key, and a key is trusted only after its private half opens and matches the public one.
//! What is signed, and how a run of checkpoints is checked, is in [`signed_bytes`] and
//! [`check_run`], shared by `gatehouse audit verify` and by offline export verification.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::secrets::Secrets;
use crate::store::audit_checkpoints::{self as sql, CheckpointRow, KeyRow};
use crate::store::Store;
use crate::types::{Clock, Timestamp};

/// Version tag inside the signed payload; bump it if the layout ever changes.
const SIGNED_LAYOUT: &str = "gatehouse-audit-checkpoint-v1";
/// Associated data of a sealed private key.
const PURPOSE: &str = "audit-checkpoint-key";

/// Public keys by key id: the keys a run of checkpoints is checked against.
pub type Keys = HashMap<String, PKey<Public>>;

/// A checkpoint as the API, exports and streams show it; enough to check it offline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditCheckpoint)]
pub struct Checkpoint {
    pub chain: String,
    pub number: i64,
    pub last_seq: i64,
    /// Hex SHA-256 of the chain's newest event when signed.
    pub last_hash: String,
    /// Unix microseconds: signed exactly as stored.
    pub signed_at_us: i64,
    pub kid: String,
    /// Base64url; empty for a chain's first checkpoint.
    pub prev_signature: String,
    /// Base64url Ed25519 signature over the checkpoint's fields.
    pub signature: String,
}

impl From<&CheckpointRow> for Checkpoint {
    fn from(c: &CheckpointRow) -> Self {
        Self {
            chain: c.chain.clone(),
            number: c.number,
            last_seq: c.last_seq,
            last_hash: hex::encode(&c.last_hash),
            signed_at_us: c.signed_at,
            kid: c.kid.clone(),
            prev_signature: B64URL.encode(&c.prev_signature),
            signature: B64URL.encode(&c.signature),
        }
    }
}

/// The bytes a checkpoint's signature covers: a canonical JSON array of every field.
fn signed_bytes(c: &Checkpoint) -> Vec<u8> {
    let payload = (
        SIGNED_LAYOUT,
        &c.chain,
        c.number,
        c.last_seq,
        &c.last_hash,
        c.signed_at_us,
        &c.kid,
        &c.prev_signature,
    );
    // Serialising a tuple of strings and integers cannot fail.
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// A key's id: derived from the public key, so an id cannot be re-pointed at another key.
fn kid_of(public_key: &[u8]) -> String {
    B64URL.encode(&Sha256::digest(public_key)[..12])
}

/// The instance's published keys as a JWK set (`/.well-known/gatehouse-audit-keys`).
pub async fn jwks(store: &Store, secrets: &Secrets) -> Result<serde_json::Value, Error> {
    let keys: Vec<serde_json::Value> = trusted_rows(store, secrets)
        .await?
        .iter()
        .map(|k| jwk(&k.kid, &k.public_key))
        .collect();
    Ok(serde_json::json!({ "keys": keys }))
}

fn jwk(kid: &str, public_key: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
        "kid": kid, "x": B64URL.encode(public_key),
    })
}

/// Reads public keys from a JWK set (as [`jwks`] publishes, or an export carries).
pub fn keys_from_jwks(set: &serde_json::Value) -> Result<Keys, String> {
    let mut keys = Keys::new();
    for k in set["keys"]
        .as_array()
        .ok_or("the key set has no `keys` list")?
    {
        let (Some(kid), Some(x)) = (k["kid"].as_str(), k["x"].as_str()) else {
            return Err("a key has no `kid` or `x`".into());
        };
        let raw = B64URL
            .decode(x)
            .map_err(|_| format!("key {kid}: `x` is not base64url"))?;
        if kid_of(&raw) != kid {
            return Err(format!("key {kid}: the id does not belong to the key"));
        }
        let key = PKey::public_key_from_raw_bytes(&raw, Id::ED25519)
            .map_err(|_| format!("key {kid}: not an Ed25519 public key"))?;
        keys.insert(kid.to_string(), key);
    }
    Ok(keys)
}

/// Key rows whose private half opens with the master key and matches the public half.
async fn trusted_rows(store: &Store, secrets: &Secrets) -> Result<Vec<KeyRow>, Error> {
    let mut trusted = Vec::new();
    for row in sql::keys(store).await? {
        if private_key(secrets, &row).is_ok() {
            trusted.push(row);
        }
    }
    Ok(trusted)
}

/// The trusted public keys, for verification inside the instance.
pub async fn trusted_keys(store: &Store, secrets: &Secrets) -> Result<Keys, Error> {
    let set = jwks(store, secrets).await?;
    keys_from_jwks(&set).map_err(|e| Error::Internal(anyhow::anyhow!(e)))
}

/// Opens a key row's private half; fails unless it matches the stored public half and id.
fn private_key(secrets: &Secrets, row: &KeyRow) -> anyhow::Result<PKey<openssl::pkey::Private>> {
    let der = secrets
        .open_instance(PURPOSE, &row.private_sealed)
        .map_err(|_| anyhow::anyhow!("the key does not open with the master key"))?;
    let key = PKey::private_key_from_pkcs8(&der)?;
    let public = key.raw_public_key()?;
    anyhow::ensure!(
        public == row.public_key && kid_of(&public) == row.kid,
        "the key's halves do not match"
    );
    Ok(key)
}

/// The newest trusted key, made on first use.
async fn signing_key(
    store: &Store,
    secrets: &Secrets,
    now: Timestamp,
) -> Result<(String, PKey<openssl::pkey::Private>), Error> {
    if let Some(row) = trusted_rows(store, secrets).await?.pop() {
        let key = private_key(secrets, &row).map_err(Error::Internal)?;
        return Ok((row.kid, key));
    }
    let key = PKey::generate_ed25519().map_err(|e| Error::Internal(e.into()))?;
    let public = key
        .raw_public_key()
        .map_err(|e| Error::Internal(e.into()))?;
    let der = zeroize::Zeroizing::new(
        key.private_key_to_pkcs8()
            .map_err(|e| Error::Internal(e.into()))?,
    );
    let row = KeyRow {
        kid: kid_of(&public),
        public_key: public,
        private_sealed: secrets.seal_instance(PURPOSE, &der)?,
        created_at: now,
    };
    let mut tx = store.begin().await?;
    sql::insert_key(&mut tx, &row).await?;
    tx.commit().await?;
    Ok((row.kid, key))
}

/// Signs a checkpoint of every chain whose newest one is older than `interval_secs` (all of
/// them with 0). Returns how many were written.
pub async fn write_due(
    store: &Store,
    secrets: &Secrets,
    clock: &Clock,
    interval_secs: i64,
) -> Result<usize, Error> {
    let now = clock.now();
    let due: Vec<String> = sql::chain_states(store)
        .await?
        .into_iter()
        .filter(|c| {
            c.last_signed_at
                .is_none_or(|t| t <= now.plus_seconds(-interval_secs).as_micros())
        })
        .map(|c| c.chain)
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let (kid, key) = signing_key(store, secrets, now).await?;
    let mut written = 0;
    for chain in due {
        if sign(store, (&kid, &key), &chain, clock.now()).await? {
            written += 1;
        }
    }
    Ok(written)
}

/// The instance's current signing key (made on first use), for [`sign`].
pub async fn current_key(
    store: &Store,
    secrets: &Secrets,
    now: Timestamp,
) -> Result<(String, PKey<openssl::pkey::Private>), Error> {
    signing_key(store, secrets, now).await
}

/// Signs one checkpoint of `chain` at `at`: one short transaction that reads the head and
/// the previous checkpoint, signs (microseconds) and inserts. False when another node wrote
/// that checkpoint first, or the chain has no head.
pub async fn sign(
    store: &Store,
    (kid, key): (&str, &PKey<openssl::pkey::Private>),
    chain: &str,
    at: Timestamp,
) -> Result<bool, Error> {
    let mut tx = store.begin().await?;
    let Some((last_seq, last_hash)) = sql::head(&mut tx, chain).await? else {
        return Ok(false);
    };
    let previous = sql::latest(&mut tx, chain).await?;
    let mut c = Checkpoint {
        chain: chain.to_string(),
        number: previous.as_ref().map_or(1, |p| p.number + 1),
        last_seq,
        last_hash: hex::encode(&last_hash),
        signed_at_us: at.as_micros(),
        kid: kid.to_string(),
        prev_signature: previous
            .as_ref()
            .map(|p| B64URL.encode(&p.signature))
            .unwrap_or_default(),
        signature: String::new(),
    };
    let signature = Signer::new_without_digest(key)
        .and_then(|mut s| s.sign_oneshot_to_vec(&signed_bytes(&c)))
        .map_err(|e| Error::Internal(e.into()))?;
    c.signature = B64URL.encode(&signature);
    let row = CheckpointRow {
        chain: chain.to_string(),
        number: c.number,
        last_seq,
        last_hash,
        signed_at: c.signed_at_us,
        kid: kid.to_string(),
        prev_signature: previous.map(|p| p.signature).unwrap_or_default(),
        signature,
    };
    let inserted = sql::insert(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(inserted)
}

/// Every checkpoint of `chain`, oldest first, as shown.
pub async fn of_chain(store: &Store, chain: &str) -> Result<Vec<Checkpoint>, Error> {
    Ok(sql::of_chain(store, chain)
        .await?
        .iter()
        .map(Checkpoint::from)
        .collect())
}

/// Checks a run of one chain's checkpoints (consecutive numbers, oldest first): each
/// signature under a trusted key, each linked to the one before, sequences never going back.
/// Returns the problems found.
pub fn check_run(run: &[Checkpoint], keys: &Keys) -> Vec<String> {
    let mut problems = Vec::new();
    let mut previous: Option<&Checkpoint> = None;
    for c in run {
        let n = c.number;
        match keys.get(&c.kid) {
            None => problems.push(format!(
                "checkpoint {n} is signed by key {}, which is not a trusted key",
                c.kid
            )),
            Some(key) => {
                let valid = B64URL.decode(&c.signature).ok().is_some_and(|sig| {
                    Verifier::new_without_digest(key)
                        .and_then(|mut v| v.verify_oneshot(&sig, &signed_bytes(c)))
                        .unwrap_or(false)
                });
                if !valid {
                    problems.push(format!(
                        "checkpoint {n}'s signature does not verify (it was altered)"
                    ));
                }
            }
        }
        match previous {
            None if n == 1 && !c.prev_signature.is_empty() => {
                problems.push("checkpoint 1 names a predecessor".into())
            }
            None => {}
            Some(p) => {
                if p.number + 1 != n {
                    problems.push(format!(
                        "checkpoints {}..{} are missing",
                        p.number + 1,
                        n - 1
                    ));
                } else if c.prev_signature != p.signature {
                    problems.push(format!(
                        "checkpoint {n} does not link to checkpoint {}",
                        p.number
                    ));
                }
                if c.last_seq == p.last_seq && c.last_hash != p.last_hash {
                    problems.push(format!(
                        "checkpoints {} and {n} name event {} with different hashes: \
                         the chain was rewritten",
                        p.number, c.last_seq
                    ));
                }
                if c.last_seq < p.last_seq {
                    problems.push(format!(
                        "checkpoint {n} names event {} but checkpoint {} already named {}: \
                         the chain was cut back and re-grown",
                        c.last_seq, p.number, p.last_seq
                    ));
                }
            }
        }
        previous = Some(c);
    }
    problems
}
