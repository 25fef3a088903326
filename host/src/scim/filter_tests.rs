//! Tests of the SCIM filter parser: grammar, precedence, case, bounds and errors.

use super::filter::*;

fn path(name: &str) -> AttrPath {
    AttrPath::parse(name).unwrap()
}

fn eq(name: &str, v: &str) -> Filter {
    Filter::Compare {
        path: path(name),
        op: CompareOp::Eq,
        value: CompValue::Str(v.into()),
    }
}

#[test]
fn the_rfc_examples_parse() {
    for text in [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        "title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        "active eq true",
        "x.y eq null",
        "age ge 21.5",
    ] {
        text.parse::<Filter>()
            .unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn precedence_and_case() {
    let f: Filter = r#"a EQ "1" Or b eq "2" AND c eq "3""#.parse().unwrap();
    assert_eq!(
        f,
        Filter::Or(
            Box::new(eq("a", "1")),
            Box::new(Filter::And(Box::new(eq("b", "2")), Box::new(eq("c", "3"))))
        )
    );
    let f: Filter = r#"emails[type eq "work"]"#.parse().unwrap();
    assert_eq!(
        f,
        Filter::ValuePath {
            path: path("emails"),
            filter: Box::new(eq("type", "work"))
        }
    );
    let p = path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
    assert_eq!(
        p.urn.as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(
        (p.name.as_str(), p.sub.as_deref()),
        ("manager", Some("value"))
    );
    let f: Filter = r#"userName eq "a \"quoted\" \u00e9""#.parse().unwrap();
    assert_eq!(f, eq("userName", "a \"quoted\" é"));
}

#[test]
fn bad_filters_are_refused_with_a_reason() {
    for text in [
        "",
        "userName",
        r#"userName xx "a""#,
        r#"userName eq"#,
        r#"userName eq bare"#,
        r#"userName eq "open"#,
        r#"(userName eq "a""#,
        r#"userName eq "a")"#,
        r#"not userName eq "a""#,
        r#"emails[type eq "work""#,
        r#"emails[type[value eq "x"] eq "y"]"#,
        r#"emails.value[type eq "x"]"#,
        r#"userName eq "a" and"#,
        r#"1abc eq "a""#,
        r#"http://x:y eq "a""#,
    ] {
        assert!(text.parse::<Filter>().is_err(), "{text}");
    }
}

#[test]
fn limits_hold() {
    let deep = format!("{}a pr{}", "(".repeat(17), ")".repeat(17));
    let err = deep.parse::<Filter>().unwrap_err();
    assert!(err.0.contains("deeper"), "{err}");
    let nots = format!("{}(a pr){}", "not (".repeat(40), ")".repeat(40));
    assert!(nots.parse::<Filter>().is_err());
    let long = vec!["a pr"; 65].join(" or ");
    assert!(long
        .parse::<Filter>()
        .unwrap_err()
        .0
        .contains("comparisons"));
    let huge = format!(r#"a eq "{}""#, "x".repeat(MAX_FILTER_BYTES));
    assert!(huge.parse::<Filter>().unwrap_err().0.contains("longer"));
    let ok = format!("{}a pr{}", "(".repeat(16), ")".repeat(16));
    assert!(ok.parse::<Filter>().is_ok());
}
