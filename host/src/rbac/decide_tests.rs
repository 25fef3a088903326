//! The decision function against hand-worked cases: each reach, the assignment scope, the
//! location hierarchy, the owner, the default assignment, filters and explanations.

use serde_json::json;

use super::catalogue::{Catalogue, ScopeRef};
use super::compile::{for_token, for_user, Held};
use super::decide::{decide, filter, Record};
use super::Scope;

fn catalogue() -> Catalogue {
    serde_json::from_value(json!({
        "roles": [
            "member", "viewer", "auditor",
            {"name": "site_tech", "grants": {
                "work_orders": {"view": "location", "edit": "location"},
                "assets": {"view": "tenant"}
            }},
            {"name": "team_lead", "grants": {"work_orders": {"delete": "team", "edit": "own"}}}
        ],
        "default_role": "member",
        "scopes": [
            {"kind": "location", "name": "EMEA"},
            {"kind": "location", "name": "Plant 3", "parent": "EMEA"},
            {"kind": "location", "name": "Line A", "parent": "Plant 3"},
            {"kind": "location", "name": "Plant 5"},
            {"kind": "team", "name": "Blue"}
        ]
    }))
    .unwrap()
}

fn app() -> Vec<String> {
    vec!["work_orders".into(), "assets".into()]
}

fn held(role: &str, scope: Option<(&str, &str)>, source: &str) -> Held {
    Held {
        role: role.into(),
        scope: scope.map(|(kind, name)| ScopeRef {
            kind: kind.into(),
            name: name.into(),
        }),
        source: source.into(),
    }
}

#[test]
fn a_location_grant_reaches_the_assigned_location_and_below() {
    let c = catalogue();
    c.validate(&app()).unwrap();
    let p = for_user(
        &c,
        &app(),
        "u1",
        false,
        &[held("site_tech", Some(("location", "Plant 3")), "sso")],
    );
    let in_line_a = Record {
        owner: None,
        scopes: &[("location", "Line A")],
    };
    let in_plant_5 = Record {
        owner: None,
        scopes: &[("location", "Plant 5")],
    };
    let in_emea = Record {
        owner: None,
        scopes: &[("location", "EMEA")],
    };
    let d = decide(&p, "work_orders", "edit", &in_line_a);
    assert!(d.allowed());
    assert_eq!(
        d.explain("work_orders", "edit"),
        "allowed by role site_tech (sso): work_orders.edit within location Plant 3"
    );
    assert!(!decide(&p, "work_orders", "edit", &in_plant_5).allowed());
    assert!(
        !decide(&p, "work_orders", "edit", &in_emea).allowed(),
        "a parent is not inside"
    );
    let why = decide(&p, "work_orders", "edit", &in_plant_5).explain("work_orders", "edit");
    assert!(
        why.contains("within location Plant 3 (role site_tech (sso))"),
        "{why}"
    );
    // The tenant-wide grant is limited by the assignment's scope too.
    assert!(!decide(&p, "assets", "view", &Record::default()).allowed());
    assert!(decide(&p, "assets", "view", &in_line_a).allowed());
    assert!(!decide(&p, "work_orders", "delete", &in_line_a).allowed());
    assert_eq!(
        filter(&p, "work_orders", "edit"),
        json!({"any_of": [{"location_in": ["Line A", "Plant 3"]}]})
    );
}

#[test]
fn own_and_my_teams_come_from_the_user_and_their_placements() {
    let c = catalogue();
    let p = for_user(
        &c,
        &app(),
        "u1",
        false,
        &[
            held("team_lead", None, "manual"),
            held("viewer", Some(("team", "Blue")), "scim"),
        ],
    );
    let mine = Record {
        owner: Some("u1"),
        scopes: &[],
    };
    let theirs = Record {
        owner: Some("u2"),
        scopes: &[],
    };
    let blue = Record {
        owner: Some("u2"),
        scopes: &[("team", "Blue"), ("team", "Red")],
    };
    assert!(decide(&p, "work_orders", "edit", &mine).allowed());
    assert!(!decide(&p, "work_orders", "edit", &theirs).allowed());
    assert!(
        decide(&p, "work_orders", "delete", &blue).allowed(),
        "my teams: Blue"
    );
    assert!(!decide(&p, "work_orders", "delete", &mine).allowed());
    // The viewer assignment is limited to Blue: view within Blue only.
    assert!(decide(&p, "assets", "view", &blue).allowed());
    assert!(!decide(&p, "assets", "view", &mine).allowed());
    assert_eq!(
        filter(&p, "work_orders", "edit"),
        json!({"any_of": [{"owner": "u1"}]})
    );
    assert_eq!(filter(&p, "work_orders", "export"), json!(false));
}

#[test]
fn a_scoped_own_grant_needs_both() {
    let c = catalogue();
    let p = for_user(
        &c,
        &app(),
        "u1",
        false,
        &[held("member", Some(("location", "Plant 5")), "manual")],
    );
    let own_there = Record {
        owner: Some("u1"),
        scopes: &[("location", "Plant 5")],
    };
    let own_elsewhere = Record {
        owner: Some("u1"),
        scopes: &[("location", "Line A")],
    };
    assert!(decide(&p, "work_orders", "edit", &own_there).allowed());
    assert!(!decide(&p, "work_orders", "edit", &own_elsewhere).allowed());
    assert_eq!(
        filter(&p, "work_orders", "edit"),
        json!({"any_of": [{"all_of": [{"owner": "u1"}, {"location_in": ["Plant 5"]}]}]})
    );
}

#[test]
fn the_owner_may_do_everything_and_strangers_nothing() {
    let c = catalogue();
    let owner = for_user(&c, &app(), "o", true, &[]);
    assert!(decide(&owner, "gatehouse.policy", "edit", &Record::default()).allowed());
    assert!(decide(&owner, "work_orders", "delete", &Record::default()).allowed());
    assert_eq!(filter(&owner, "assets", "export"), json!(true));
    let nobody = for_user(&c, &app(), "n", false, &[]);
    let d = decide(&nobody, "work_orders", "view", &Record::default());
    assert!(!d.allowed());
    assert_eq!(
        d.explain("work_orders", "view"),
        "denied: nothing grants work_orders.view"
    );
    // Unknown module or action: denied, not an error.
    assert!(!decide(&owner, "nope", "view", &Record::default()).allowed());
}

#[test]
fn a_user_with_no_assignment_gets_the_default_one() {
    let mut c = catalogue();
    c.default_assignment = Some(super::catalogue::Assignment {
        role: "viewer".into(),
        scope: Some(ScopeRef {
            kind: "location".into(),
            name: "EMEA".into(),
        }),
    });
    c.validate(&app()).unwrap();
    let p = for_user(&c, &app(), "n", false, &[]);
    let line_a = Record {
        owner: None,
        scopes: &[("location", "Line A")],
    };
    let d = decide(&p, "assets", "view", &line_a);
    assert!(d.allowed());
    assert!(d
        .explain("assets", "view")
        .contains("role viewer (default)"));
    // Someone holding anything does not get the default too.
    let q = for_user(&c, &app(), "m", false, &[held("auditor", None, "manual")]);
    assert!(!decide(&q, "assets", "view", &line_a).allowed());
    assert!(decide(&q, "gatehouse.audit", "export", &Record::default()).allowed());
}

#[test]
fn roles_the_catalogue_no_longer_lists_give_nothing() {
    let c = catalogue();
    let p = for_user(&c, &app(), "u", false, &[held("admin", None, "sso")]);
    assert!(!decide(&p, "gatehouse.users", "view", &Record::default()).allowed());
}

#[test]
fn a_token_gets_what_its_scopes_say() {
    let t = for_token(&[Scope::TenantRead, Scope::UsersWrite]);
    assert!(decide(&t, "gatehouse.users", "edit", &Record::default()).allowed());
    assert!(decide(&t, "gatehouse.sso", "view", &Record::default()).allowed());
    assert!(!decide(&t, "gatehouse.sso", "edit", &Record::default()).allowed());
    let why = decide(&t, "gatehouse.users", "edit", &Record::default())
        .explain("gatehouse.users", "edit");
    assert_eq!(
        why,
        "allowed by the token's `users:write` scope: gatehouse.users.edit on every record"
    );
}

#[test]
fn catalogue_checks_name_the_problem() {
    let bad = |patch: serde_json::Value| {
        let mut doc = serde_json::to_value(catalogue()).unwrap();
        for (k, v) in patch.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let c: Catalogue = serde_json::from_value(doc).unwrap();
        c.validate(&app()).unwrap_err().to_string()
    };
    assert!(bad(
        json!({"roles": ["member", {"name": "x", "grants": {"nope": {"view": "tenant"}}}]})
    )
    .contains("unknown module `nope`"));
    assert!(bad(
        json!({"roles": ["member", {"name": "x", "grants": {"assets": {"fly": "tenant"}}}]})
    )
    .contains("has no action `fly`"));
    assert!(bad(
        json!({"roles": ["member", {"name": "x", "grants": {"assets": {"view": "galaxy"}}}]})
    )
    .contains("reaches `galaxy`"));
    assert!(
        bad(json!({"roles": ["member", {"name": "admin", "grants": {}}]})).contains("built-in")
    );
    assert!(bad(json!({"roles": ["member", "owner"]})).contains("implicit"));
    assert!(bad(json!({"scopes": [{"kind": "location", "name": "A", "parent": "B"}, {"kind": "location", "name": "B", "parent": "A"}]}))
        .contains("its own ancestor"));
    assert!(
        bad(json!({"scopes": [{"kind": "location", "name": "A", "parent": "Z"}]}))
            .contains("not a location scope")
    );
    assert!(bad(json!({"modules": [{"name": "gatehouse.x"}]})).contains("not a usable module name"));
    assert!(bad(json!({"modules": [{"name": "assets"}]})).contains("already defined"));
    assert!(bad(json!({"default_assignment": {"role": "ghost"}})).contains("not one of the roles"));
}
