//! Extractors that turn raw requests into typed input or a specific [`ApiError`]: JSON bodies,
//! query strings, the bearer-token caller and the audit context (request id, IP, user agent).

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::middleware::RequestId;
use super::state::AppState;
use crate::audit::RequestContext;
use crate::error::Error;
use crate::rbac::Principal;

/// A JSON body, with precise errors for syntax, shape, size and content type.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::BodyTooLarge {
            limit: "server.max_body_bytes",
        };
    }
    match r {
        JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(inner_message(&e.body_text())),
        JsonRejection::JsonDataError(e) => ApiError::InvalidBody(inner_message(&e.body_text())),
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType {
            expected: "application/json",
        },
        other => ApiError::MalformedJson(inner_message(&other.body_text())),
    }
}

/// axum prefixes serde's message with its own sentence ("Failed to …: "); keep serde's part,
/// which names the field and the position.
fn inner_message(text: &str) -> String {
    let msg = text.split_once(": ").map(|(_, m)| m).unwrap_or(text);
    crate::types::truncate(msg, 300)
}

/// A WebAssembly component upload: `Content-Type: application/wasm`, at most
/// `plugins.max_component_bytes` (the route sets that body limit).
pub struct WasmBody(pub Vec<u8>);

impl<S: Send + Sync> FromRequest<S> for WasmBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_wasm = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().map(str::trim) == Some("application/wasm"));
        if !is_wasm {
            return Err(ApiError::UnsupportedMediaType {
                expected: "application/wasm",
            });
        }
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(WasmBody(bytes.to_vec())),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::BodyTooLarge {
                limit: "plugins.max_component_bytes",
            }),
            Err(r) => Err(ApiError::InvalidBody(inner_message(&r.body_text()))),
        }
    }
}

/// A query string; unknown parameters are rejected (structs use `deny_unknown_fields`).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::InvalidQuery(inner_message(&e.body_text())))
            }
            Err(other) => Err(ApiError::InvalidQuery(inner_message(&other.body_text()))),
        }
    }
}

/// The token of an `Authorization: Bearer …` header; the error says what is wrong with it.
pub fn bearer(headers: &HeaderMap) -> Result<SecretString, &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or("send the token as `Authorization: Bearer <token>`")?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| SecretString::from(t.trim().to_string()))
        .ok_or("the Authorization header must use the Bearer scheme")
}

/// The header a signed-in browser sends on a changing admin-API call: the value of its CSRF
/// cookie, which a cross-site page cannot read.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller: `Authorization: Bearer …` (an API or operator token) or, without
/// one, the browser-session cookie of a signed-in user (else a setup link's session cookie).
/// A cookie-authenticated call that can change something must also carry the CSRF cookie's
/// value in `X-CSRF-Token`.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let has_bearer = parts.headers.contains_key(header::AUTHORIZATION);
        let session = (!has_bearer)
            .then(|| {
                let headers = &parts.headers;
                super::account::session_cookie(state, headers)
                    .map(|c| (c, false))
                    .or_else(|| super::account::setup_cookie(state, headers).map(|c| (c, true)))
            })
            .flatten();
        let principal = match session {
            None => {
                let token = bearer(&parts.headers).map_err(|e| Error::Unauthenticated(e.into()))?;
                crate::sessions::authenticate(state, &token).await?
            }
            Some((cookie, setup)) => {
                if !parts.method.is_safe() {
                    let csrf = super::csrf::Csrf::from_request_parts(parts, state)
                        .await
                        .unwrap_or_else(|never| match never {});
                    let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                    if !csrf.verify(sent) {
                        return Err(Error::Forbidden(
                            "a signed-in browser must send its gatehouse_csrf cookie's value \
                             in the X-CSRF-Token header"
                                .into(),
                        )
                        .into());
                    }
                }
                let Ctx(ctx) = Ctx::from_request_parts(parts, state).await?;
                let principal = if setup {
                    crate::sessions::setup_links::principal(state, &cookie).await?
                } else {
                    crate::sessions::session_principal(state, &cookie, &ctx).await?
                };
                principal.ok_or_else(|| {
                    Error::Unauthenticated(
                        "send a token as `Authorization: Bearer <token>`, or sign in".into(),
                    )
                })?
            }
        };
        if let Principal::ApiToken { tenant, .. }
        | Principal::User { tenant, .. }
        | Principal::SetupLink { tenant, .. } = &principal
        {
            tracing::Span::current().record("tenant", tracing::field::display(tenant));
        }
        Ok(Caller(principal))
    }
}

/// The audit context of this request.
pub struct Ctx(pub RequestContext);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let ip = client_ip(peer, forwarded, &state.config.server.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Ctx(RequestContext {
            request_id,
            ip: ip.map(|ip| ip.to_string()),
            user_agent,
        }))
    }
}

/// The client's address: the TCP peer, unless the peer is one of the `trusted` proxies; then
/// the rightmost `X-Forwarded-For` entry (over every such header, in order) that is not a
/// trusted proxy. Entries left of that are the client's own claims and are never believed.
fn client_ip<'a>(
    peer: Option<IpAddr>,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An entry that is not an address (or is garbage) ends the chain we can trust.
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// The request's cookies as (name, value) pairs, from every `Cookie` header.
pub fn cookies(headers: &axum::http::HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

/// The value of Gatehouse's own cookie `base` as the browser sent it: under its `__Host-`
/// name on https (`secure`), its plain name otherwise (see
/// [`crate::sessions::browser::cookie_name`]); a cookie under the other name is ignored.
pub fn own_cookie<'a>(
    headers: &'a axum::http::HeaderMap,
    base: &str,
    secure: bool,
) -> Option<&'a str> {
    let name = crate::sessions::browser::cookie_name(secure, base);
    cookies(headers).find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Parses a path segment into a newtype, or a 400 naming what was expected.
pub fn path_param<T: std::str::FromStr<Err = crate::types::ParseError>>(
    raw: &str,
) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|e: crate::types::ParseError| ApiError::InvalidPath(e.0))
}

#[cfg(test)]
mod tests {
    use super::client_ip;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_rightmost_hop_that_is_not_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("10.0.0.5"));
        // The client put a fake address first; the proxy appended the real one.
        let xff = ["203.0.113.9, 198.51.100.7"];
        assert_eq!(
            client_ip(peer, xff.into_iter(), &trusted),
            Some(ip("198.51.100.7"))
        );
        // Two proxies of ours in a row are skipped, across several headers.
        let xff = ["198.51.100.7", "10.1.1.1"];
        assert_eq!(
            client_ip(peer, xff.into_iter(), &trusted),
            Some(ip("198.51.100.7"))
        );
        // Not from a trusted proxy: the header is the client's own claim, ignored.
        assert_eq!(
            client_ip(Some(ip("198.51.100.7")), ["1.2.3.4"].into_iter(), &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(peer, ["1.2.3.4"].into_iter(), &[]),
            Some(ip("10.0.0.5"))
        );
        // Garbage ends the chain at the last trusted hop.
        assert_eq!(
            client_ip(peer, ["1.2.3.4, nonsense"].into_iter(), &trusted),
            Some(ip("10.0.0.5"))
        );
    }
}
