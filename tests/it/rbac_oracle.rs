//! A differential test of the decision function against an independent policy engine: random
//! catalogues (custom roles with random grants, the built-in member and viewer roles, a
//! location tree), random users with random assignments, and random records are translated
//! into Cedar policies and entities straight from the documented semantics (not from
//! Gatehouse's compiled rules; Cedar walks the scope hierarchy itself with `in`). Gatehouse
//! and Cedar must decide the same on every request.

use std::collections::BTreeMap;

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use gatehouse::rbac::catalogue::{Catalogue, ScopeRef};
use gatehouse::rbac::compile::{for_user, Held};
use gatehouse::rbac::decide::{decide, Record};
use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*): the same seed, the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const MODULES: [&str; 2] = ["work_orders", "assets"];
const ACTIONS: [&str; 5] = ["view", "create", "edit", "delete", "export"];
const REACHES: [&str; 5] = ["tenant", "own", "location", "team", "territory"];
/// (kind, name, parent)
const SCOPES: [(&str, &str, Option<&str>); 9] = [
    ("location", "emea", None),
    ("location", "plant3", Some("emea")),
    ("location", "linea", Some("plant3")),
    ("location", "plant5", Some("emea")),
    ("location", "apac", None),
    ("team", "blue", None),
    ("team", "red", None),
    ("territory", "north", None),
    ("territory", "south", None),
];
const USERS: [&str; 3] = ["u1", "u2", "u3"];

fn random_catalogue(rng: &mut Rng) -> Value {
    let mut roles = vec![json!("member"), json!("viewer")];
    for r in 0..1 + rng.below(4) {
        let mut grants: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
        for _ in 0..rng.below(7) {
            grants
                .entry(*rng.pick(&MODULES))
                .or_default()
                .insert(*rng.pick(&ACTIONS), *rng.pick(&REACHES));
        }
        roles.push(json!({"name": format!("r{r}"), "grants": grants}));
    }
    let scopes: Vec<Value> = SCOPES
        .iter()
        .map(|(kind, name, parent)| match parent {
            Some(p) => json!({"kind": kind, "name": name, "parent": p}),
            None => json!({"kind": kind, "name": name}),
        })
        .collect();
    json!({"roles": roles, "default_role": "member", "scopes": scopes})
}

fn random_held(rng: &mut Rng, roles: &[String]) -> Vec<Held> {
    (0..rng.below(4))
        .map(|_| {
            let scope = (rng.below(3) > 0).then(|| {
                let (kind, name, _) = rng.pick(&SCOPES);
                ScopeRef {
                    kind: kind.to_string(),
                    name: name.to_string(),
                }
            });
            Held {
                role: rng.pick(roles).clone(),
                scope,
                source: "manual".into(),
            }
        })
        .collect()
}

/// The grants of a role as the documentation states them.
fn grants_of(catalogue: &Value, role: &str) -> Vec<(String, String, String)> {
    let app_actions = |keep: &dyn Fn(&str) -> Option<&'static str>| {
        let mut out = Vec::new();
        for m in MODULES {
            for a in ACTIONS {
                if let Some(reach) = keep(a) {
                    out.push((m.to_string(), a.to_string(), reach.to_string()));
                }
            }
        }
        out
    };
    match role {
        "member" => app_actions(&|a| match a {
            "view" => Some("tenant"),
            "create" | "edit" | "delete" => Some("own"),
            _ => None,
        }),
        "viewer" => app_actions(&|a| (a == "view").then_some("tenant")),
        custom => {
            let def = catalogue["roles"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == custom)
                .unwrap();
            let mut out = Vec::new();
            for (m, actions) in def["grants"].as_object().unwrap() {
                for (a, reach) in actions.as_object().unwrap() {
                    out.push((m.clone(), a.clone(), reach.as_str().unwrap().to_string()));
                }
            }
            out
        }
    }
}

fn scope_uid(kind: &str, name: &str) -> String {
    format!("Scope::\"{kind}/{name}\"")
}

/// Cedar policies for `user` holding `held`, following the documented meaning of each reach.
fn policies_for(catalogue: &Value, user: &str, held: &[Held]) -> String {
    let mut text = String::new();
    for h in held {
        for (module, action, reach) in grants_of(catalogue, &h.role) {
            let assigned = h
                .scope
                .as_ref()
                .map(|s| format!("resource in {}", scope_uid(&s.kind, &s.name)));
            let condition = match (reach.as_str(), &assigned) {
                ("tenant", None) => "true".to_string(),
                ("tenant", Some(a)) => a.clone(),
                ("own", None) => format!("resource.owner == \"{user}\""),
                ("own", Some(a)) => format!("resource.owner == \"{user}\" && {a}"),
                (kind, _) if h.scope.as_ref().is_some_and(|s| s.kind == kind) => {
                    assigned.clone().unwrap()
                }
                (kind, _) => {
                    let mine: Vec<String> = held
                        .iter()
                        .filter_map(|o| o.scope.as_ref())
                        .filter(|s| s.kind == kind)
                        .map(|s| format!("resource in {}", scope_uid(&s.kind, &s.name)))
                        .collect();
                    let mine = if mine.is_empty() {
                        "false".to_string()
                    } else {
                        format!("({})", mine.join(" || "))
                    };
                    match &assigned {
                        None => mine,
                        Some(a) => format!("{mine} && {a}"),
                    }
                }
            };
            text.push_str(&format!(
                "permit(principal == User::\"{user}\", action == Action::\"{module}.{action}\", resource) when {{ {condition} }};\n"
            ));
        }
    }
    text
}

/// The record entity (attached to `attached` scopes) and the scope tree.
fn entities(owner: &str, attached: &[(&str, &str)]) -> Entities {
    let mut list: Vec<Value> = SCOPES
        .iter()
        .map(|(kind, name, parent)| {
            let parents: Vec<Value> = parent
                .iter()
                .map(|p| json!({"type": "Scope", "id": format!("{kind}/{p}")}))
                .collect();
            json!({"uid": {"type": "Scope", "id": format!("{kind}/{name}")}, "attrs": {}, "parents": parents})
        })
        .collect();
    let parents: Vec<Value> = attached
        .iter()
        .map(|(kind, name)| json!({"type": "Scope", "id": format!("{kind}/{name}")}))
        .collect();
    list.push(json!({"uid": {"type": "Record", "id": "r"}, "attrs": {"owner": owner}, "parents": parents}));
    Entities::from_json_value(Value::Array(list), None).expect("entities")
}

#[test]
fn gatehouse_and_cedar_decide_alike_on_random_requests() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let app: Vec<String> = MODULES.iter().map(|m| m.to_string()).collect();
    let authorizer = Authorizer::new();
    let (mut checked, mut allowed) = (0, 0);
    for _ in 0..300 {
        let doc = random_catalogue(&mut rng);
        let catalogue: Catalogue = serde_json::from_value(doc.clone()).unwrap();
        catalogue.validate(&app).expect("a valid random catalogue");
        let roles = catalogue.role_names();
        let user = *rng.pick(&USERS);
        let held = random_held(&mut rng, &roles);
        let perms = for_user(&catalogue, &app, user, false, &held);
        let policies: PolicySet = policies_for(&doc, user, &held).parse().expect("policies");
        for _ in 0..40 {
            let module = *rng.pick(&MODULES);
            let action = *rng.pick(&ACTIONS);
            let owner = *rng.pick(&["u1", "u2", "u3", ""]);
            let attached: Vec<(&str, &str)> = (0..rng.below(3))
                .map(|_| {
                    let (kind, name, _) = rng.pick(&SCOPES);
                    (*kind, *name)
                })
                .collect();
            let record = Record {
                owner: (!owner.is_empty()).then_some(owner),
                scopes: &attached,
            };
            let ours = decide(&perms, module, action, &record).allowed();
            let principal: EntityUid = format!("User::\"{user}\"").parse().unwrap();
            let act: EntityUid = format!("Action::\"{module}.{action}\"").parse().unwrap();
            let resource: EntityUid = "Record::\"r\"".parse().unwrap();
            let request = Request::new(principal, act, resource, Context::empty(), None).unwrap();
            let theirs = authorizer
                .is_authorized(&request, &policies, &entities(owner, &attached))
                .decision()
                == Decision::Allow;
            assert_eq!(
                ours, theirs,
                "{user} {module}.{action} owner={owner} scopes={attached:?}\nheld={held:?}\ncatalogue={doc}"
            );
            checked += 1;
            allowed += usize::from(ours);
        }
    }
    // The cases must exercise both answers in earnest.
    assert_eq!(checked, 12_000);
    assert!(
        allowed > 1_000 && checked - allowed > 1_000,
        "allowed {allowed} of {checked}"
    );
}
