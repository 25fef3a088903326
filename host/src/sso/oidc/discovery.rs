//! The IdPs' discovery documents and signing keys, fetched over HTTP and cached per node.
//! Everything here is public data, so a cache per node is safe across nodes: each fetches
//! its own copy. Metadata is kept for [`METADATA_TTL`]; an ID token signed with a key id the
//! cached JWKS lacks triggers one refresh of the keys (at most every
//! [`JWKS_REFRESH_INTERVAL`], so forged tokens cannot make us hammer the IdP). Every fetch
//! goes through [`Outbound`]: bounded, no redirects, no internal addresses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{HttpRequest, HttpResponse, IssuerUrl};

pub use crate::sso::outbound::FetchError;
use crate::sso::outbound::Outbound;

/// How long discovery metadata is trusted before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Least time between two key refreshes of one issuer.
const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Most issuers kept; past it the cache starts again (issuers are per connection, so this is
/// only reached by a deployment with thousands of OIDC connections).
const MAX_ISSUERS: usize = 10_000;

/// A provider's metadata with its keys.
pub type Metadata = Arc<CoreProviderMetadata>;

struct Entry {
    metadata: Metadata,
    fetched: Instant,
    /// When the keys were last fetched again because of an unknown key id; `None` until the
    /// first such refresh (a key rotated just after discovery is picked up at once).
    keys_refreshed: Option<Instant>,
}

/// The per-node cache, with the guarded HTTP client every call to an IdP goes through.
pub struct ProviderCache {
    outbound: Outbound,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for ProviderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderCache").finish_non_exhaustive()
    }
}

impl ProviderCache {
    /// `allow_private`: whether IdPs may live on internal addresses (see [`Outbound`]).
    pub fn new(allow_private: bool) -> Self {
        Self {
            outbound: Outbound::new(allow_private),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The guarded client, for other calls to IdPs (SAML metadata by URL).
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// An HTTP client for the openidconnect crate: guarded, bounded, no redirects.
    pub fn client(
        &self,
    ) -> impl Fn(
        HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, FetchError>> + Send>,
    > + '_ {
        move |request| Box::pin(self.outbound.send(request))
    }

    /// The issuer's metadata and keys, from the cache or discovered now.
    pub async fn metadata(&self, issuer: &str) -> Result<Metadata, String> {
        if let Some(hit) = self.cached(issuer, |e| e.fetched.elapsed() < METADATA_TTL) {
            return Ok(hit);
        }
        let url = IssuerUrl::new(issuer.to_string()).map_err(|e| format!("bad issuer: {e}"))?;
        let metadata = CoreProviderMetadata::discover_async(url, &self.client())
            .await
            .map_err(|e| format!("discovery at {issuer} failed: {}", describe(&e)))?;
        let metadata = Arc::new(metadata);
        self.store(issuer, metadata.clone());
        Ok(metadata)
    }

    /// Fetches the issuer's keys again after a token named a key we do not hold. `None`
    /// when they were refreshed too recently to try again.
    pub async fn refresh_keys(&self, issuer: &str) -> Result<Option<Metadata>, String> {
        let current = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.get_mut(issuer) {
                Some(e)
                    if e.keys_refreshed
                        .is_some_and(|t| t.elapsed() < JWKS_REFRESH_INTERVAL) =>
                {
                    return Ok(None)
                }
                Some(e) => {
                    e.keys_refreshed = Some(Instant::now());
                    Some(e.metadata.clone())
                }
                None => None,
            }
        };
        let Some(current) = current else {
            return self.metadata(issuer).await.map(Some);
        };
        let keys = CoreJsonWebKeySet::fetch_async(current.jwks_uri(), &self.client())
            .await
            .map_err(|e| format!("fetching the keys of {issuer} failed: {}", describe(&e)))?;
        let metadata = Arc::new((*current).clone().set_jwks(keys));
        self.store(issuer, metadata.clone());
        Ok(Some(metadata))
    }

    fn cached(&self, issuer: &str, fresh: impl Fn(&Entry) -> bool) -> Option<Metadata> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(issuer)
            .filter(|e| fresh(e))
            .map(|e| e.metadata.clone())
    }

    fn store(&self, issuer: &str, metadata: Metadata) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ISSUERS && !entries.contains_key(issuer) {
            entries.clear();
        }
        let keys_refreshed = entries.get(issuer).and_then(|e| e.keys_refreshed);
        entries.insert(
            issuer.to_string(),
            Entry {
                metadata,
                fetched: Instant::now(),
                keys_refreshed,
            },
        );
    }

    /// Forgets an issuer (after an admin changed a connection), so the next sign-in
    /// discovers it afresh.
    pub fn forget(&self, issuer: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(issuer);
    }
}

/// The error and its causes on one line (the openidconnect errors keep the useful part in
/// their sources).
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    crate::types::truncate(&text, 300).to_string()
}
