//! The checks on an audit stream's settings before they are stored: a name, a destination
//! whose every field is bounded (URLs https unless private networks are allowed, a syslog
//! host and port, PEM certificates, S3 bucket and region names), and the secret each kind
//! needs.

use super::stream::Destination;
use crate::error::Error;

/// Longest secret accepted, and the shortest HMAC key (128 bits of hex or more).
const MAX_SECRET_CHARS: usize = 512;
const MIN_HMAC_KEY_CHARS: usize = 32;

pub(super) fn check_name(name: &str) -> Result<(), Error> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "`name` must be 1-100 characters"));
    }
    Ok(())
}

/// An http(s) URL; plain http only where private networks are allowed (a test receiver on
/// this machine). Every call is also guarded against internal addresses when sent.
fn check_url(field: &'static str, url: &str, allow_private: bool) -> Result<(), Error> {
    let parsed = url::Url::parse(url)
        .map_err(|_| Error::invalid(field, format!("`{field}` is not a URL")))?;
    let scheme_ok = parsed.scheme() == "https" || (allow_private && parsed.scheme() == "http");
    if !scheme_ok || url.len() > 2048 || parsed.host_str().is_none() {
        return Err(Error::invalid(
            field,
            format!("`{field}` must be an https:// URL"),
        ));
    }
    Ok(())
}

pub(super) fn check_destination(d: &Destination, allow_private: bool) -> Result<(), Error> {
    match d {
        Destination::Webhook { url } => check_url("url", url, allow_private),
        Destination::Syslog {
            host, port, ca_pem, ..
        } => {
            if host.is_empty()
                || host.len() > 253
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
            {
                return Err(Error::invalid(
                    "host",
                    "`host` must be a host name or address",
                ));
            }
            if *port == 0 {
                return Err(Error::invalid("port", "`port` must be 1-65535"));
            }
            if let Some(pem) = ca_pem {
                if pem.len() > 64 * 1024
                    || openssl::x509::X509::stack_from_pem(pem.as_bytes())
                        .map_or(true, |s| s.is_empty())
                {
                    return Err(Error::invalid(
                        "ca_pem",
                        "`ca_pem` must be PEM certificates",
                    ));
                }
            }
            Ok(())
        }
        Destination::S3 {
            endpoint,
            bucket,
            region,
            prefix,
            access_key_id,
        } => {
            check_url("endpoint", endpoint, allow_private)?;
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !bucket_ok {
                return Err(Error::invalid(
                    "bucket",
                    "`bucket` must be an S3 bucket name",
                ));
            }
            if region.is_empty()
                || region.len() > 64
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(Error::invalid(
                    "region",
                    "`region` must be a region name such as us-east-1",
                ));
            }
            if prefix.len() > 512 || prefix.starts_with('/') || prefix.chars().any(char::is_control)
            {
                return Err(Error::invalid(
                    "prefix",
                    "`prefix` must be at most 512 characters, not starting with /",
                ));
            }
            if access_key_id.is_empty()
                || access_key_id.len() > 128
                || access_key_id.chars().any(char::is_control)
            {
                return Err(Error::invalid(
                    "access_key_id",
                    "`access_key_id` must be 1-128 characters",
                ));
            }
            Ok(())
        }
    }
}

/// A webhook needs an HMAC key and a bucket its secret key (on create; a change may keep the
/// stored one); syslog takes none.
pub(super) fn check_secret(
    d: &Destination,
    secret: Option<&str>,
    creating: bool,
) -> Result<(), Error> {
    match (d, secret) {
        (Destination::Syslog { .. }, Some(_)) => Err(Error::invalid(
            "secret",
            "a syslog stream takes no `secret`",
        )),
        (Destination::Syslog { .. }, None) => Ok(()),
        (_, None) if creating => Err(Error::invalid(
            "secret",
            "`secret` is required: the webhook's HMAC key, or the bucket's secret access key",
        )),
        (_, None) => Ok(()),
        (Destination::Webhook { .. }, Some(s))
            if s.len() < MIN_HMAC_KEY_CHARS || s.len() > MAX_SECRET_CHARS =>
        {
            Err(Error::invalid(
                "secret",
                format!("the HMAC key must be {MIN_HMAC_KEY_CHARS}-{MAX_SECRET_CHARS} characters"),
            ))
        }
        (_, Some(s)) if s.is_empty() || s.len() > MAX_SECRET_CHARS => Err(Error::invalid(
            "secret",
            format!("`secret` must be 1-{MAX_SECRET_CHARS} characters"),
        )),
        (_, Some(_)) => Ok(()),
    }
}
