//! PATCH operation paths (RFC 7644 §3.5.2): `attrPath / valuePath [subAttr]`, such as
//! `name.familyName`, `emails[type eq "work"].value`, `members[value eq "2819c223"]` or an
//! extension attribute named with its schema URN. The value filter reuses [`super::filter`].

use super::filter::{AttrPath, Filter, FilterError};

/// A parsed PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute when no value filter is given).
    pub attr: AttrPath,
    /// `attr[filter]`: which values of a multi-valued attribute the operation targets.
    pub filter: Option<Filter>,
    /// `attr[filter].sub`: the sub-attribute of the selected values.
    pub sub: Option<String>,
}

impl std::str::FromStr for PatchPath {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.len() > super::filter::MAX_FILTER_BYTES {
            return Err(FilterError("the path is too long".into()));
        }
        let Some(open) = first_bracket(text) else {
            return Ok(PatchPath {
                attr: AttrPath::parse(text)?,
                filter: None,
                sub: None,
            });
        };
        let close = closing_bracket(text, open)
            .ok_or_else(|| FilterError(format!("`{text}`: a `[` is not closed")))?;
        let attr = AttrPath::parse(&text[..open])?;
        if attr.sub.is_some() {
            return Err(FilterError(format!(
                "`{text}`: a value filter applies to an attribute, not a sub-attribute"
            )));
        }
        let filter: Filter = text[open + 1..close].parse()?;
        let rest = &text[close + 1..];
        let sub = match rest {
            "" => None,
            _ => {
                let name = rest.strip_prefix('.').ok_or_else(|| {
                    FilterError(format!("`{text}`: unexpected `{rest}` after `]`"))
                })?;
                let check = AttrPath::parse(name)?;
                if check.urn.is_some() || check.sub.is_some() {
                    return Err(FilterError(format!("`{name}` is not a sub-attribute")));
                }
                Some(check.name)
            }
        };
        Ok(PatchPath {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}

/// The first `[` outside a string.
fn first_bracket(text: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '[' if !in_string => return Some(i),
            _ => {}
        }
    }
    None
}

/// The `]` that closes the `[` at `open`, skipping strings.
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[open + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ']' if !in_string => return Some(open + 1 + i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let p: PatchPath = "name.familyName".parse().unwrap();
        assert_eq!(
            (p.attr.name.as_str(), p.attr.sub.as_deref()),
            ("name", Some("familyName"))
        );
        assert!(p.filter.is_none());
        let p: PatchPath = r#"emails[type eq "work"].value"#.parse().unwrap();
        assert_eq!(p.attr.name, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p: PatchPath = r#"members[value eq "a]b"]"#.parse().unwrap();
        assert_eq!(p.attr.name, "members");
        assert_eq!(p.sub, None);
        let p: PatchPath = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
            .parse()
            .unwrap();
        assert_eq!(p.attr.name, "manager");
        assert!(p.attr.urn.is_some());
    }

    #[test]
    fn bad_paths_are_refused() {
        for text in [
            "",
            r#"emails[type eq "work""#,
            r#"emails[type eq "work"]value"#,
            r#"emails[type eq "work"].a.b"#,
            r#"name.givenName[type eq "x"]"#,
            r#"emails[]"#,
            "9lives",
        ] {
            assert!(text.parse::<PatchPath>().is_err(), "{text}");
        }
    }
}
