//! Calls from Gatehouse to identity providers (OIDC discovery, keys, token, userinfo; SAML
//! metadata by URL). A tenant admin chooses those URLs, so every call is guarded: bounded in
//! time and size, no redirects followed, and, unless the operator allows private networks
//! (`sso.allow_private_networks`), no call reaches a loopback, private, link-local or other
//! internal address — checked on the addresses a name resolves to, so a DNS answer cannot
//! smuggle an internal address past a check on the URL (server-side request forgery).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use openidconnect::http;
use openidconnect::{HttpRequest, HttpResponse};

/// Largest answer read (discovery, JWKS, token, userinfo, metadata are a few KiB; this
/// stops a hostile or broken IdP from filling memory). Equal to the SAML metadata limit.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Whole-request time limit (a sign-in waits on these calls).
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A failed call to an IdP.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Http(String),
    #[error("the response is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("{0} is an internal address; IdPs must be reachable on public addresses")]
    Private(String),
}

/// The guarded HTTP client.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    allow_private: bool,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    pub fn new(allow_private: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Self {
            http: builder.build().unwrap_or_default(),
            allow_private,
        }
    }

    /// Sends one request and reads at most [`MAX_DOCUMENT_BYTES`] of the answer.
    pub fn send(
        &self,
        request: HttpRequest,
    ) -> impl std::future::Future<Output = Result<HttpResponse, FetchError>> + Send + 'static {
        let http = self.http.clone();
        let allow_private = self.allow_private;
        async move {
            let (parts, body) = request.into_parts();
            let url = parts.uri.to_string();
            if !allow_private {
                if let Some(ip) = literal_ip(&url) {
                    if !is_public(ip) {
                        return Err(FetchError::Private(ip.to_string()));
                    }
                }
            }
            let mut builder = http.request(parts.method, &url).body(body);
            for (name, value) in &parts.headers {
                builder = builder.header(name, value);
            }
            let mut response = builder.send().await.map_err(|e| {
                let private =
                    std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |s| {
                        s.source()
                    })
                    .any(|s| s.to_string().contains(PRIVATE_ONLY));
                FetchError::Http(if private {
                    format!("{url} resolves only to internal addresses")
                } else if e.is_timeout() {
                    format!("{url} did not answer in time")
                } else {
                    format!("{url} could not be reached")
                })
            })?;
            if response
                .content_length()
                .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
            {
                return Err(FetchError::TooLarge);
            }
            let mut out = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                out = out.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|_| FetchError::Http(format!("{url} broke off its answer")))?
            {
                if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                    return Err(FetchError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            out.body(body)
                .map_err(|_| FetchError::Http(format!("{url} sent a malformed answer")))
        }
    }

    /// GETs `url` with `accept`; the body of a 200 answer.
    pub async fn get(&self, url: &str, accept: &str) -> Result<Vec<u8>, FetchError> {
        let request = http::Request::get(url)
            .header("Accept", accept)
            .body(Vec::new())
            .map_err(|_| FetchError::Http(format!("{url} is not a URL")))?;
        let response = self.send(request).await?;
        if response.status() != http::StatusCode::OK {
            return Err(FetchError::Http(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        Ok(response.into_body())
    }
}

/// Text the resolver's error carries, so [`Outbound::send`] can say why.
const PRIVATE_ONLY: &str = "resolves only to internal addresses";

/// A resolver that drops every internal address a name resolves to.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} {PRIVATE_ONLY}").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The host of `url` when it is an IP literal.
fn literal_ip(url: &str) -> Option<IpAddr> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// False for loopback, private, shared (CGNAT), link-local (cloud metadata lives there),
/// unspecified, broadcast, documentation, multicast and unique-local addresses, and for
/// IPv6 forms of IPv4 ones.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn internal_targets_are_refused_before_any_connection() {
        let out = Outbound::new(false);
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "https://169.254.169.254/latest",
        ] {
            let err = out.get(url, "application/json").await.unwrap_err();
            assert!(matches!(err, FetchError::Private(_)), "{url}: {err}");
        }
        let err = out
            .get("http://localhost:9/x", "application/json")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("internal"), "{err}");
    }
}
