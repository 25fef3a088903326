//! What a plugin can return: every output record, with any strings and lists, through the
//! host's output checks and their JSON forms, without a panic.
#![no_main]

use arbitrary::Arbitrary;
use gatehouse::plugins::types::{
    Attribute, Catalogue, HttpMethod, Identity, Profile, RoleAssignment, ScimRequest, ScopeRef,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Output {
    subject: String,
    email: Option<String>,
    names: (Option<String>, Option<String>, Option<String>),
    groups: Vec<String>,
    attributes: Vec<(String, Vec<String>)>,
    roles: Vec<(String, Option<(String, String)>)>,
    catalogue_roles: Vec<String>,
    catalogue_scopes: Vec<(String, String)>,
    path: String,
    body: Option<String>,
    method: u8,
}

fn attrs(list: &[(String, Vec<String>)]) -> Vec<Attribute> {
    list.iter()
        .map(|(name, values)| Attribute {
            name: name.clone(),
            values: values.clone(),
        })
        .collect()
}

fn scope((kind, name): &(String, String)) -> ScopeRef {
    ScopeRef {
        kind: kind.clone(),
        name: name.clone(),
    }
}

fuzz_target!(|o: Output| {
    let identity = Identity {
        subject: o.subject.clone(),
        email: o.email.clone(),
        email_verified: true,
        given_name: o.names.0.clone(),
        family_name: o.names.1.clone(),
        display_name: o.names.2.clone(),
        groups: o.groups.clone(),
        attributes: attrs(&o.attributes),
    };
    let profile = Profile {
        email: o.email.clone().unwrap_or_default(),
        display_name: o.names.2.clone(),
        given_name: o.names.0.clone(),
        family_name: o.names.1.clone(),
        timezone: None,
        locale: None,
        custom: attrs(&o.attributes),
    };
    let roles: Vec<RoleAssignment> = o
        .roles
        .iter()
        .map(|(role, s)| RoleAssignment {
            role: role.clone(),
            scope: s.as_ref().map(scope),
        })
        .collect();
    let catalogue = Catalogue {
        roles: o.catalogue_roles.clone(),
        default_role: o.catalogue_roles.first().cloned().unwrap_or_default(),
        scopes: o.catalogue_scopes.iter().map(scope).collect(),
        group_mappings: Vec::new(),
    };
    let method = match o.method % 5 {
        0 => HttpMethod::Get,
        1 => HttpMethod::Post,
        2 => HttpMethod::Put,
        3 => HttpMethod::Patch,
        _ => HttpMethod::Delete,
    };
    let scim = ScimRequest {
        method,
        path: o.path.clone(),
        body: o.body.clone(),
    };
    gatehouse::plugins::check_outputs(&identity, &profile, &roles, &catalogue, &scim);
});
