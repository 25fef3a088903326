//! Envelope encryption of stored secrets. A master key (config, environment or a 0600 file;
//! generated on first start of the embedded default) wraps one random AES-256-GCM data key per
//! tenant; the data key encrypts that tenant's secrets. Destroying a tenant's data key makes
//! everything it encrypted unreadable. Nothing here logs key material or plaintext.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::store::{self, Store};
use crate::types::TenantId;

/// First byte of every ciphertext, so the format can change without guessing.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
/// Name of the master key file generated for the embedded default.
pub const MASTER_KEY_FILE: &str = "master.key";
/// Settings key remembering which master key this database was set up with.
const MASTER_KEY_ID_SETTING: &str = "master_key_id";

/// A decryption failure. Deliberately says nothing about why (wrong key, tampering, format).
#[derive(Debug, thiserror::Error)]
#[error("stored secret could not be decrypted")]
pub struct DecryptError;

/// The instance master key. Never leaves memory except as the file it came from.
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    /// Public fingerprint stored beside wrapped keys, so a wrong key is caught at start.
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = Zeroizing::new(
            B64.decode(text.trim())
                .context("the master key is not valid base64")?,
        );
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!(
                "the master key must be 32 bytes (44 base64 characters); generate one with `openssl rand -base64 32`"
            )
        })?;
        Ok(Self::from_bytes(key))
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"gatehouse master key id v1");
        h.update(key);
        let id = hex::encode(&h.finalize()[..8]);
        Self {
            key: Zeroizing::new(key),
            id,
        }
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, tenant: TenantId, data_key: &DataKey) -> Result<Vec<u8>, EncryptError> {
        seal_raw(&self.key, &wrap_aad(tenant), data_key.0.as_slice())
    }

    fn unwrap(&self, tenant: TenantId, wrapped: &[u8]) -> Result<DataKey, DecryptError> {
        let plain = Zeroizing::new(open_raw(&self.key, &wrap_aad(tenant), wrapped)?);
        let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| DecryptError)?;
        Ok(DataKey(Zeroizing::new(key)))
    }
}

fn wrap_aad(tenant: TenantId) -> Vec<u8> {
    format!("gatehouse:tenant-data-key:{tenant}").into_bytes()
}

/// A tenant's data key, unwrapped.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(Zeroizing::new(key))
    }
}

/// An encryption failure (only possible for inputs over AES-GCM's 64 GiB limit).
#[derive(Debug, thiserror::Error)]
#[error("secret could not be encrypted")]
pub struct EncryptError;

fn seal_raw(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| EncryptError)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_raw(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != FORMAT_V1 {
        return Err(DecryptError);
    }
    let cipher = Aes256Gcm::new(key.into());
    let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| DecryptError)
}

/// Envelope encryption for the running instance.
#[derive(Debug)]
pub struct Secrets {
    master: MasterKey,
}

impl Secrets {
    pub fn new(master: MasterKey) -> Self {
        Self { master }
    }

    /// A new data key for `tenant`, wrapped and ready to store with the tenant.
    pub fn new_tenant_key(
        &self,
        tenant: TenantId,
    ) -> Result<store::keys::WrappedKeyRecord, crate::Error> {
        Ok(store::keys::WrappedKeyRecord {
            master_key_id: self.master.id().to_string(),
            wrapped_key: self
                .master
                .wrap(tenant, &DataKey::generate())
                .map_err(|e| crate::Error::Internal(e.into()))?,
        })
    }

    async fn data_key(&self, store: &Store, tenant: TenantId) -> Result<DataKey, crate::Error> {
        let wrapped = store::keys::tenant_key(store, tenant)
            .await?
            .ok_or(crate::Error::NotFound("tenant data key"))?;
        if wrapped.master_key_id != self.master.id() {
            return Err(crate::Error::Internal(anyhow::anyhow!(
                "tenant data key is wrapped by master key {}, not the configured {}",
                wrapped.master_key_id,
                self.master.id()
            )));
        }
        self.master
            .unwrap(tenant, &wrapped.wrapped_key)
            .map_err(|e| crate::Error::Internal(e.into()))
    }

    /// Encrypts `plaintext` for `tenant`. `purpose` (e.g. `oidc-client-secret:<id>`) is bound
    /// as associated data, so a ciphertext cannot be moved to another field or tenant.
    pub async fn seal(
        &self,
        store: &Store,
        tenant: TenantId,
        purpose: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, crate::Error> {
        let key = self.data_key(store, tenant).await?;
        seal_raw(&key.0, &field_aad(tenant, purpose), plaintext)
            .map_err(|e| crate::Error::Internal(e.into()))
    }

    pub async fn open(
        &self,
        store: &Store,
        tenant: TenantId,
        purpose: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, crate::Error> {
        let key = self.data_key(store, tenant).await?;
        open_raw(&key.0, &field_aad(tenant, purpose), sealed)
            .map(Zeroizing::new)
            .map_err(|e| crate::Error::Internal(e.into()))
    }

    /// Encrypts an instance-level secret (not a tenant's: e.g. the OIDC provider's signing
    /// keys) with the master key; `purpose` is bound as associated data.
    pub fn seal_instance(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, crate::Error> {
        seal_raw(&self.master.key, &instance_aad(purpose), plaintext)
            .map_err(|e| crate::Error::Internal(e.into()))
    }

    pub fn open_instance(
        &self,
        purpose: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, crate::Error> {
        open_raw(&self.master.key, &instance_aad(purpose), sealed)
            .map(Zeroizing::new)
            .map_err(|e| crate::Error::Internal(e.into()))
    }

    /// Fails closed when the database was set up with a different master key.
    pub async fn check_against(&self, store: &Store) -> anyhow::Result<()> {
        let mut tx = store.begin().await?;
        let stored =
            store::keys::setting_insert_once(&mut tx, MASTER_KEY_ID_SETTING, self.master.id())
                .await?;
        tx.commit().await?;
        if stored != self.master.id() {
            bail!(
                "the configured master key (id {}) is not the one this database was set up with (id {stored}); \
                 restore the original key (secrets.master_key or secrets.master_key_file)",
                self.master.id()
            );
        }
        Ok(())
    }
}

fn instance_aad(purpose: &str) -> Vec<u8> {
    format!("gatehouse:instance-secret:{purpose}").into_bytes()
}

fn field_aad(tenant: TenantId, purpose: &str) -> Vec<u8> {
    format!("gatehouse:secret:{tenant}:{purpose}").into_bytes()
}

/// Where the master key comes from, in order: `secrets.master_key`, `secrets.master_key_file`,
/// and for the embedded database `{data_dir}/master.key` (generated 0600 when missing).
/// PostgreSQL deployments must configure one, since every node needs the same key.
pub fn load_master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(key) = &config.secrets.master_key {
        return MasterKey::from_base64(key.expose_secret());
    }
    if let Some(path) = &config.secrets.master_key_file {
        return read_key_file(path);
    }
    if !config.is_embedded_database() {
        bail!(
            "no master key configured: with PostgreSQL every node must share one. Create it with \
             `openssl rand -base64 32 > master.key && chmod 600 master.key` and set \
             secrets.master_key_file (or GATEHOUSE_SECRETS__MASTER_KEY_FILE)"
        );
    }
    let path = config.data_dir.join(MASTER_KEY_FILE);
    if path.exists() {
        return read_key_file(&path);
    }
    generate_key_file(&path)
}

fn read_key_file(path: &Path) -> anyhow::Result<MasterKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading master key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "master key file {} is readable by other users (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading master key file {}", path.display()))?,
    );
    MasterKey::from_base64(&text).with_context(|| format!("in master key file {}", path.display()))
}

fn generate_key_file(path: &PathBuf) -> anyhow::Result<MasterKey> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating master key file {}", path.display()))?;
    let encoded = Zeroizing::new(B64.encode(key.key.as_slice()));
    file.write_all(encoded.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), key_id = key.id(), "generated a new master key; back it up");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_seal_round_trip_and_bind_context() {
        let master = MasterKey::generate();
        let tenant = TenantId::generate();
        let dk = DataKey::generate();
        let wrapped = master.wrap(tenant, &dk).unwrap();
        let back = master.unwrap(tenant, &wrapped).unwrap();
        assert_eq!(back.0.as_slice(), dk.0.as_slice());
        // Wrong tenant (AAD) or wrong master key fails.
        assert!(master.unwrap(TenantId::generate(), &wrapped).is_err());
        assert!(MasterKey::generate().unwrap(tenant, &wrapped).is_err());

        let sealed = seal_raw(&dk.0, b"a", b"hunter2").unwrap();
        assert_eq!(open_raw(&dk.0, b"a", &sealed).unwrap(), b"hunter2");
        assert!(open_raw(&dk.0, b"b", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open_raw(&dk.0, b"a", &tampered).is_err());
        assert!(open_raw(&dk.0, b"a", &[1, 2, 3]).is_err());
    }

    #[test]
    fn key_file_is_generated_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let first = load_master_key(&config).unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load_master_key(&config)
                .unwrap_err()
                .to_string()
                .contains("chmod 600"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(load_master_key(&config).unwrap().id(), first.id());
    }

    #[test]
    fn postgres_needs_an_explicit_key() {
        let mut config = Config::default();
        config.database.url = Some("postgres://localhost/x".into());
        assert!(load_master_key(&config)
            .unwrap_err()
            .to_string()
            .contains("openssl rand"));
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }
}
