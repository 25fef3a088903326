//! The default role mapper: the group table, the six rules for `space_name` / `space_role`,
//! case-insensitive matching, configuration, and the log budget.

use super::{attributes, config, host};
use gatehouse::plugins::types::{Catalogue, GroupMapping, Identity, RoleAssignment, ScopeRef};
use gatehouse::plugins::{LogLine, PluginError, MAX_LOG_LINES_PER_CALL};

const ROLES: &[u8] = include_bytes!("../../../plugins/dist/default-role-mapper.wasm");

fn space(name: &str) -> Option<ScopeRef> {
    Some(ScopeRef {
        kind: "space".into(),
        name: name.into(),
    })
}

fn catalogue() -> Catalogue {
    let row = |group: &str, role: &str, scope: Option<ScopeRef>| GroupMapping {
        group_id: group.into(),
        role: role.into(),
        scope,
    };
    Catalogue {
        roles: ["Admin", "Editor", "Viewer", "Member"]
            .map(String::from)
            .to_vec(),
        default_role: "Member".into(),
        scopes: vec![
            space("Berlin").unwrap(),
            space("Munich").unwrap(),
            space("Hamburg").unwrap(),
            ScopeRef {
                kind: "team".into(),
                name: "Platform".into(),
            },
        ],
        group_mappings: vec![
            row("g-admins", "Admin", None),
            row("g-berlin-editors", "Editor", space("Berlin")),
            row("g-stale", "Ghost", None),
            row("g-closed", "Viewer", space("Atlantis")),
        ],
    }
}

fn member(groups: &[&str], attrs: &[(&str, &[&str])]) -> Identity {
    Identity {
        subject: "u1".into(),
        email: Some("ada@example.com".into()),
        email_verified: true,
        given_name: None,
        family_name: None,
        display_name: None,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        attributes: attributes(attrs),
    }
}

/// `Role` for a tenant-wide assignment, `Role kind:name` for a scoped one.
fn shown(assignments: &[RoleAssignment]) -> Vec<String> {
    assignments
        .iter()
        .map(|a| match &a.scope {
            None => a.role.clone(),
            Some(s) => format!("{} {}:{}", a.role, s.kind, s.name),
        })
        .collect()
}

fn map_roles_with(
    cfg: &[(&str, &str)],
    identity: &Identity,
    catalogue: &Catalogue,
) -> (Result<Vec<String>, PluginError>, Vec<LogLine>) {
    let host = host();
    let plugin = host.load("default-role-mapper", ROLES).unwrap();
    let outcome = host.map_roles(&plugin, &config(cfg), identity, catalogue);
    (outcome.result.map(|r| shown(&r)), outcome.logs)
}

/// Maps the `space_name` and `space_role` values with no groups and no config.
fn spaces(names: &[&str], roles: &[&str]) -> Vec<String> {
    let identity = member(&[], &[("space_name", names), ("space_role", roles)]);
    map_roles_with(&[], &identity, &catalogue()).0.unwrap()
}

/// True when some log line has a field with this value.
fn logged(logs: &[LogLine], value: &str) -> bool {
    logs.iter()
        .any(|l| l.fields.iter().any(|(_, v)| v == value))
}

#[test]
fn group_table_rows_matching_the_groups_give_their_roles_in_table_order() {
    let identity = member(
        &["g-berlin-editors", "unmapped", "g-admins", "G-ADMINS"],
        &[],
    );
    let (result, _) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(result.unwrap(), ["Admin", "Editor space:Berlin"]);
}

#[test]
fn group_table_rows_with_an_unknown_role_or_scope_are_skipped_and_logged() {
    let identity = member(&["g-stale", "g-closed", "g-admins"], &[]);
    let (result, logs) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(result.unwrap(), ["Admin"]);
    assert!(logged(&logs, "Ghost"), "{logs:?}");
    assert!(logged(&logs, "Atlantis"), "{logs:?}");
}

#[test]
fn one_role_applies_to_every_space() {
    assert_eq!(
        spaces(&["Berlin, Munich, Hamburg"], &["Editor"]),
        [
            "Editor space:Berlin",
            "Editor space:Munich",
            "Editor space:Hamburg"
        ]
    );
}

#[test]
fn the_first_valid_role_wins_for_a_single_space() {
    assert_eq!(
        spaces(&["Berlin"], &["Ghost, Viewer, Editor"]),
        ["Viewer space:Berlin"]
    );
    assert_eq!(
        spaces(&["Berlin"], &["Ghost, Phantom"]),
        ["Member space:Berlin"]
    );
}

#[test]
fn an_unknown_role_gives_the_space_the_default_role() {
    assert_eq!(
        spaces(&["Berlin, Munich"], &["Ghost"]),
        ["Member space:Berlin", "Member space:Munich"]
    );
    let identity = member(
        &[],
        &[
            ("space_name", &["Berlin, Munich"]),
            ("space_role", &["Editor, Ghost"]),
        ],
    );
    let (result, logs) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(
        result.unwrap(),
        ["Editor space:Berlin", "Member space:Munich"]
    );
    assert!(logged(&logs, "Ghost"), "{logs:?}");
}

#[test]
fn extra_spaces_get_the_default_role() {
    assert_eq!(
        spaces(&["Berlin, Munich, Hamburg"], &["Editor, Viewer"]),
        [
            "Editor space:Berlin",
            "Viewer space:Munich",
            "Member space:Hamburg"
        ]
    );
}

#[test]
fn extra_roles_are_ignored() {
    let identity = member(
        &[],
        &[
            ("space_name", &["Berlin, Munich"]),
            ("space_role", &["Editor, Viewer, Admin"]),
        ],
    );
    let (result, logs) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(
        result.unwrap(),
        ["Editor space:Berlin", "Viewer space:Munich"]
    );
    assert!(logged(&logs, "Admin"), "{logs:?}");
}

#[test]
fn an_unknown_space_is_ignored_together_with_its_role() {
    let identity = member(
        &[],
        &[
            ("space_name", &["Berlin, Atlantis, Munich"]),
            ("space_role", &["Editor, Admin, Viewer"]),
        ],
    );
    let (result, logs) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(
        result.unwrap(),
        ["Editor space:Berlin", "Viewer space:Munich"]
    );
    assert!(logged(&logs, "Atlantis"), "{logs:?}");
}

#[test]
fn spaces_without_roles_each_get_the_default_role() {
    let identity = member(&[], &[("space_name", &["Berlin, Atlantis, Munich"])]);
    let (result, _) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(
        result.unwrap(),
        ["Member space:Berlin", "Member space:Munich"]
    );
}

#[test]
fn roles_without_spaces_assign_nothing() {
    let identity = member(&[], &[("space_role", &["Admin"])]);
    let (result, logs) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(result.unwrap(), Vec::<String>::new());
    assert!(logged(&logs, "Admin"), "{logs:?}");
}

#[test]
fn roles_and_spaces_match_case_insensitively_in_the_catalogue_spelling() {
    assert_eq!(
        spaces(&[" berlin ,, MUNICH "], &["eDiToR"]),
        ["Editor space:Berlin", "Editor space:Munich"]
    );
}

#[test]
fn several_attribute_values_count_as_several_parts() {
    assert_eq!(
        spaces(&["Berlin", "Munich,Hamburg"], &["Editor", "Viewer, Admin"]),
        [
            "Editor space:Berlin",
            "Viewer space:Munich",
            "Admin space:Hamburg"
        ]
    );
}

#[test]
fn group_table_assignments_come_first_and_repeats_are_dropped() {
    let identity = member(
        &["g-berlin-editors"],
        &[
            ("space_name", &["Munich, Berlin"]),
            ("space_role", &["Viewer, Editor"]),
        ],
    );
    let (result, _) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(
        result.unwrap(),
        ["Editor space:Berlin", "Viewer space:Munich"]
    );
}

#[test]
fn attribute_names_and_scope_kind_are_configurable() {
    let cfg = [
        ("space_name_attribute", "team"),
        ("space_role_attribute", "team_role"),
        ("scope_kind", "team"),
    ];
    let identity = member(
        &[],
        &[
            ("team", &["platform"]),
            ("team_role", &["admin"]),
            ("space_name", &["Berlin"]),
        ],
    );
    let (result, _) = map_roles_with(&cfg, &identity, &catalogue());
    assert_eq!(result.unwrap(), ["Admin team:Platform"]);
}

#[test]
fn a_default_role_outside_the_catalogue_is_a_config_error() {
    let mut catalogue = catalogue();
    catalogue.default_role = "Guest".into();
    let (result, _) = map_roles_with(&[], &member(&[], &[]), &catalogue);
    match result {
        Err(PluginError::InvalidConfig(m)) => assert!(m.contains("Guest"), "{m}"),
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

#[test]
fn an_unknown_role_mapper_key_is_a_config_error() {
    let (result, _) = map_roles_with(&[("space_kind", "team")], &member(&[], &[]), &catalogue());
    match result {
        Err(PluginError::InvalidConfig(m)) => assert!(m.contains("space_kind"), "{m}"),
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

#[test]
fn a_flood_of_unknown_spaces_stays_within_the_log_budget() {
    let names: Vec<String> = (0..200).map(|i| format!("Nowhere {i}")).collect();
    let joined = names.join(",") + ",Berlin";
    let identity = member(&[], &[("space_name", &[joined.as_str()])]);
    let (result, logs) = map_roles_with(&[], &identity, &catalogue());
    assert_eq!(result.unwrap(), ["Member space:Berlin"]);
    assert_eq!(logs.len(), MAX_LOG_LINES_PER_CALL, "{logs:?}");
    assert!(logs.iter().any(|l| l.message == "further lines omitted"));
}
