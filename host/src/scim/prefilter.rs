//! A SCIM filter as a database condition that a listing reads through, so a filtered list
//! reads an index range instead of the whole tenant. The condition is a *superset* of what
//! the filter matches (the filter itself is then applied exactly, in memory, to what was
//! read): a term that cannot be said in SQL without risking a missed match is left out of
//! an `and`, and makes an `or` or a `not` untranslatable.
//!
//! Said in SQL: `id`, `userName` (case-insensitive, by its lower-cased key), `externalId`,
//! group `displayName` (ASCII), `active`, `meta.created` and `meta.lastModified` with their
//! comparison operators and `pr`; and `eq`/`co`/`sw`/`ew` on any other string attribute the
//! client wrote (`emails`, `displayName` of users, `name.familyName`, extension attributes…)
//! as a case-folded match on the stored JSON, when the value is ASCII.

use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::schema;
use crate::store::listing::{Col, Cond, TextOp, TimeOp};

/// Which resource type a filter is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

/// The condition for `filter` over resources of `kind`, or `None` when nothing can be said
/// in SQL (every row of the tenant is a candidate).
pub fn condition(filter: &Filter, kind: Kind) -> Option<Cond> {
    match filter {
        Filter::And(a, b) => match (condition(a, kind), condition(b, kind)) {
            (Some(a), Some(b)) => Some(Cond::And(Box::new(a), Box::new(b))),
            (one, other) => one.or(other),
        },
        Filter::Or(a, b) => Some(Cond::Or(
            Box::new(condition(a, kind)?),
            Box::new(condition(b, kind)?),
        )),
        Filter::Not(_) | Filter::ValuePath { .. } => None,
        Filter::Present(path) => present(path, kind),
        Filter::Compare { path, op, value } => compare(path, *op, value, kind),
    }
}

/// The attribute a path names, lower-cased, with its sub-attribute (`None` for a path into
/// another schema than the resource's core or enterprise extension).
fn name_of(path: &AttrPath, kind: Kind) -> Option<(String, Option<String>)> {
    let core = match kind {
        Kind::User => schema::USER,
        Kind::Group => schema::GROUP,
    };
    if let Some(urn) = &path.urn {
        let known = urn.eq_ignore_ascii_case(core)
            || (kind == Kind::User && urn.eq_ignore_ascii_case(schema::ENTERPRISE_USER));
        if !known {
            return None;
        }
        if !urn.eq_ignore_ascii_case(core) {
            // An extension attribute: only ever in the stored JSON.
            return Some((format!("ext:{}", path.name.to_ascii_lowercase()), None));
        }
    }
    Some((
        path.name.to_ascii_lowercase(),
        path.sub.as_ref().map(|s| s.to_ascii_lowercase()),
    ))
}

fn present(path: &AttrPath, kind: Kind) -> Option<Cond> {
    let (name, sub) = name_of(path, kind)?;
    match (name.as_str(), sub.as_deref(), kind) {
        ("externalid", None, _) => Some(Cond::NotNull(Col::ExternalId)),
        _ => None,
    }
}

fn compare(path: &AttrPath, op: CompareOp, value: &CompValue, kind: Kind) -> Option<Cond> {
    let (name, sub) = name_of(path, kind)?;
    match (name.as_str(), sub.as_deref(), kind, value) {
        ("id", None, _, CompValue::Str(v)) if op == CompareOp::Eq => Some(Cond::Text {
            col: Col::Id,
            op: TextOp::Eq,
            value: v.clone(),
        }),
        ("id", ..) => None,
        ("username", None, Kind::User, CompValue::Str(v)) => Some(Cond::Text {
            col: Col::UserNameKey,
            op: text_op(op)?,
            value: v.to_lowercase(),
        }),
        ("externalid", None, _, CompValue::Str(v)) => Some(Cond::Text {
            col: Col::ExternalId,
            op: text_op(op)?,
            value: v.clone(),
        }),
        ("displayname", None, Kind::Group, CompValue::Str(v)) if v.is_ascii() => Some(Cond::Text {
            col: Col::GroupNameLower,
            op: text_op(op)?,
            value: v.to_ascii_lowercase(),
        }),
        ("active", None, Kind::User, CompValue::Bool(b)) => match op {
            CompareOp::Eq => Some(Cond::Deactivated(!b)),
            CompareOp::Ne => Some(Cond::Deactivated(*b)),
            _ => None,
        },
        ("meta", Some(which @ ("created" | "lastmodified")), _, CompValue::Str(v)) => {
            let col = if which == "created" {
                Col::CreatedAt
            } else {
                Col::UpdatedAt
            };
            time_cond(col, op, v)
        }
        // Rendered from other rows or columns, never from the stored JSON.
        ("meta" | "groups" | "members" | "schemas" | "username" | "active", ..) => None,
        (_, _, _, CompValue::Str(v)) => json_text(op, v),
        _ => None,
    }
}

fn text_op(op: CompareOp) -> Option<TextOp> {
    Some(match op {
        CompareOp::Eq => TextOp::Eq,
        CompareOp::Ne => TextOp::Ne,
        CompareOp::Co => TextOp::Contains,
        CompareOp::Sw => TextOp::StartsWith,
        CompareOp::Ew => TextOp::EndsWith,
        CompareOp::Gt => TextOp::Gt,
        CompareOp::Ge => TextOp::Ge,
        CompareOp::Lt => TextOp::Lt,
        CompareOp::Le => TextOp::Le,
    })
}

/// A time comparison, widened by a microsecond each way: the stored value has microsecond
/// precision, the client's text may have more.
fn time_cond(col: Col, op: CompareOp, text: &str) -> Option<Cond> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let micros = i64::try_from(at.unix_timestamp_nanos() / 1000).ok()?;
    let (op, value) = match op {
        CompareOp::Eq => {
            return Some(Cond::And(
                Box::new(Cond::Time {
                    col,
                    op: TimeOp::Ge,
                    micros: micros - 1,
                }),
                Box::new(Cond::Time {
                    col,
                    op: TimeOp::Le,
                    micros: micros + 1,
                }),
            ))
        }
        CompareOp::Gt | CompareOp::Ge => (TimeOp::Ge, micros - 1),
        CompareOp::Lt | CompareOp::Le => (TimeOp::Le, micros + 1),
        _ => return None,
    };
    Some(Cond::Time {
        col,
        op,
        micros: value,
    })
}

/// `eq`/`co`/`sw`/`ew` on a string the client wrote: the stored JSON, case-folded, holds
/// the value as JSON text (inside the quotes of a string; at its start for `sw`, its end for
/// `ew`, both for `eq`).
fn json_text(op: CompareOp, value: &str) -> Option<Cond> {
    if !value.is_ascii() {
        return None;
    }
    let encoded = serde_json::to_string(&value.to_ascii_lowercase()).ok()?;
    let inner = &encoded[1..encoded.len() - 1];
    let fragment = match op {
        CompareOp::Eq => format!("\"{inner}\""),
        CompareOp::Sw => format!("\"{inner}"),
        CompareOp::Ew => format!("{inner}\""),
        CompareOp::Co => inner.to_string(),
        _ => return None,
    };
    Some(Cond::JsonHas(fragment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::Filter;

    fn cond(text: &str) -> Option<Cond> {
        condition(&text.parse::<Filter>().unwrap(), Kind::User)
    }

    #[test]
    fn common_filters_become_conditions_and_the_rest_does_not() {
        assert!(matches!(
            cond(r#"userName eq "Ada@Example.com""#),
            Some(Cond::Text { col: Col::UserNameKey, op: TextOp::Eq, ref value }) if value == "ada@example.com"
        ));
        assert_eq!(
            cond(r#"emails.value co "EXAMPLE.com""#),
            Some(Cond::JsonHas("example.com".into()))
        );
        assert_eq!(
            cond(r#"emails[type eq "work"] and active eq true"#),
            Some(Cond::Deactivated(false))
        );
        assert!(
            cond(r#"userName sw "a" or emails pr"#).is_none(),
            "or needs both sides"
        );
        assert!(cond(r#"not (userName eq "a")"#).is_none());
        assert!(
            cond(r#"displayName eq "Zoë""#).is_none(),
            "non-ASCII is not folded in SQL"
        );
        assert!(cond(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#).is_some());
        assert!(cond(r#"urn:other:schema:x eq "1""#).is_none());
        // The JSON fragment escapes what JSON escapes, so it matches the stored text.
        assert_eq!(
            cond(r#"title eq "a\"b""#),
            Some(Cond::JsonHas("\"a\\\"b\"".into()))
        );
    }
}
