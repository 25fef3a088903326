//! Newtypes parsed at the edge and shared by every module: ids, slugs, email domains and
//! timestamps, plus the injectable [`Clock`]. Nothing here touches the database or HTTP.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// Why a value from outside did not parse; the message is shown to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Describes a newtype shown as a JSON string in the OpenAPI document (`http::openapi`):
/// `format` is the JSON Schema format, or `None`; `doc` is what the value is.
macro_rules! string_schema {
    ($name:ty, $format:expr, $doc:expr) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let format: Option<&str> = $format;
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(
                        format
                            .map(|f| utoipa::openapi::schema::SchemaFormat::Custom(f.to_string())),
                    )
                    .description(Some($doc))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use string_schema;

/// An enum whose values are stored and shown as fixed words: `as_str`, `FromStr` (a
/// [`ParseError`] naming the unknown word), `Display`, and `Serialize` as the word. Used for
/// the closed vocabularies the database and the audit log hold as text (statuses, sources,
/// actions), so code matches on variants and a typo is a compile error.
macro_rules! text_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word stored and shown for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::types::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::types::ParseError(format!(
                        "unknown {} {s:?}",
                        stringify!($name)
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text,)+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use text_enum;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        string_schema!($name, Some("uuid"), $what);

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| ParseError(format!("`{}` is not a valid {} (expected a UUID)", truncate(s, 64), $what)))
            }
        }
    };
}

uuid_id!(
    /// A tenant's internal id. Used in the operator API and as the key of every tenant-owned row;
    /// URLs that end users see carry the opaque public token instead.
    TenantId,
    "tenant id"
);
uuid_id!(
    /// An API or operator token's id: the public half of the token, safe to log and show.
    TokenId,
    "token id"
);
uuid_id!(
    /// An uploaded plugin version's id.
    PluginId,
    "plugin id"
);
uuid_id!(
    /// An SSO connection's id (a tenant may have several).
    ConnectionId,
    "connection id"
);
uuid_id!(
    /// A user's id in a tenant's directory.
    UserId,
    "user id"
);
uuid_id!(
    /// A group's id in a tenant's directory.
    GroupId,
    "group id"
);
uuid_id!(
    /// A browser session's id (not its cookie, which is a separate secret).
    SessionId,
    "session id"
);
uuid_id!(
    /// An audit event's id.
    EventId,
    "event id"
);
uuid_id!(
    /// An audit stream's id (a tenant may have several).
    StreamId,
    "stream id"
);

uuid_id!(
    /// A stored replay of a candidate plugin version over recorded inputs.
    ReplayId,
    "replay id"
);

/// Shortens client input quoted back in an error message.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// A tenant's human-readable handle: 3–63 characters of `a-z`, `0-9` and inner `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_schema!(
    Slug,
    None,
    "a tenant slug: 3-63 characters of a-z, 0-9 and inner -"
);

impl FromStr for Slug {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(3..=63).contains(&s.len()) || !ok_chars || s.starts_with('-') || s.ends_with('-') {
            return Err(ParseError(format!(
                "`{}` is not a valid slug: use 3-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
                truncate(s, 80)
            )));
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email domain (`example.com`), lower-cased, with at least two labels. Internationalised
/// domains must be given in their ASCII (punycode) form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_schema!(DomainName, Some("hostname"), "an email domain, lower-cased");

impl FromStr for DomainName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let lower = s.trim_end_matches('.').to_ascii_lowercase();
        let bad = || {
            ParseError(format!(
                "`{}` is not a valid email domain: expected a name such as example.com (ASCII letters, digits, '-', at least two labels; punycode for internationalised names)",
                truncate(s, 80)
            ))
        };
        if lower.is_empty() || lower.len() > 253 {
            return Err(bad());
        }
        let labels: Vec<&str> = lower.split('.').collect();
        if labels.len() < 2 {
            return Err(bad());
        }
        for label in &labels {
            let valid = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid {
                return Err(bad());
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(Self(lower))
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address: a local part (kept as given, 1–64 bytes, no whitespace, control
/// characters or `@`) and a [`DomainName`] (lower-cased). Quoted local parts and IP-literal
/// domains are refused: no identity provider issues them for work accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part, as routed to a tenant by its verified domains.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

string_schema!(Email, Some("email"), "an email address");

impl FromStr for Email {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = |why: &str| {
            ParseError(format!(
                "`{}` is not a valid email address: {why}",
                truncate(s, 80)
            ))
        };
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| bad("it has no `@`"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before `@` must be 1 to 64 bytes"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '"')
        {
            return Err(bad(
                "the part before `@` contains whitespace, a control character, `@` or `\"`",
            ));
        }
        let domain: DomainName = domain.parse().map_err(|e: ParseError| bad(&e.0))?;
        Ok(Self(format!("{local}@{domain}")))
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fresh 256-bit random secret as 43 base64url characters: session cookies, CSRF tokens,
/// login states, browser bindings and authorization codes.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A UTC instant with microsecond precision, stored as unix microseconds and shown as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_micros(micros: i64) -> Self {
        Self(micros)
    }
    pub fn as_micros(self) -> i64 {
        self.0
    }
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }
    pub fn to_rfc3339(self) -> String {
        let mut out = Vec::with_capacity(32);
        self.write_rfc3339(&mut out);
        String::from_utf8(out).unwrap_or_else(|_| "invalid-timestamp".to_string())
    }

    /// Appends [`to_rfc3339`](Self::to_rfc3339)'s text to `out`, without a `String` of its
    /// own (an export writes one per event).
    pub fn write_rfc3339(self, out: &mut Vec<u8>) {
        let start = out.len();
        let nanos = i128::from(self.0) * 1000;
        let written = OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .is_some_and(|t| t.format_into(out, &Rfc3339).is_ok());
        if !written {
            out.truncate(start);
            out.extend_from_slice(b"invalid-timestamp");
        }
    }
}

string_schema!(Timestamp, Some("date-time"), "an RFC 3339 instant in UTC");

impl FromStr for Timestamp {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
            ParseError(format!(
                "`{}` is not an RFC 3339 timestamp (for example 2026-01-31T09:30:00Z)",
                truncate(s, 64)
            ))
        })?;
        let micros = t.unix_timestamp_nanos() / 1000;
        i64::try_from(micros)
            .map(Self)
            .map_err(|_| ParseError("timestamp out of range".into()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The source of "now". Injected through `Services` so tests can move time forward (token
/// expiry, session timeouts) without sleeping. In production the offset stays zero.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Microseconds added to the system time; only tests change it.
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> Timestamp {
        let real = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
        let real = i64::try_from(real).unwrap_or(i64::MAX);
        Timestamp(real.saturating_add(self.offset_micros.load(Ordering::Relaxed)))
    }

    /// Moves this clock (and every clone of it) forward. For tests.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(
            "Example.COM.".parse::<DomainName>().unwrap().as_str(),
            "example.com"
        );
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.com",
            "a-.com",
            "exa mple.com",
            "1.2.3.4",
            "é.com",
        ] {
            assert!(
                bad.parse::<DomainName>().is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn slugs_are_checked() {
        assert!("acme-corp".parse::<Slug>().is_ok());
        for bad in ["ab", "Acme", "-acme", "acme-", "ac_me"] {
            assert!(bad.parse::<Slug>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let t: Timestamp = "2026-01-31T09:30:00.123456Z".parse().unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-31T09:30:00.123456Z");
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn clock_advances_every_clone() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.now();
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(other.now().as_micros() - before.as_micros() >= 3_600_000_000);
    }
}
