//! The plugin boundary: Gatehouse's own identity types ([`crate::identity`]) and SCIM
//! requests to and from the records generated from the plugin contract. Nothing outside
//! `plugins` sees the generated records.

use super::bindings::types;
use crate::identity::{
    Attribute, Identity, Mapped, Profile, Protocol, RawIdentity, RoleGrant, ScopeRef,
};
use crate::rbac::catalogue::Catalogue;
use crate::scim::request::{Method, Sent};

fn attributes_to_wit(attributes: &[Attribute]) -> Vec<types::Attribute> {
    attributes
        .iter()
        .map(|a| types::Attribute {
            name: a.name.clone(),
            values: a.values.clone(),
        })
        .collect()
}

fn attributes_of(attributes: Vec<types::Attribute>) -> Vec<Attribute> {
    attributes
        .into_iter()
        .map(|a| Attribute {
            name: a.name,
            values: a.values,
        })
        .collect()
}

pub(super) fn raw_identity(raw: &RawIdentity) -> types::RawIdentity {
    types::RawIdentity {
        protocol: match raw.protocol {
            Protocol::Saml => types::Protocol::Saml,
            Protocol::Oidc => types::Protocol::Oidc,
        },
        issuer: raw.issuer.clone(),
        subject: raw.subject.clone(),
        attributes: attributes_to_wit(&raw.attributes),
    }
}

pub(super) fn identity_to_wit(identity: &Identity) -> types::Identity {
    types::Identity {
        subject: identity.subject.clone(),
        email: identity.email.clone(),
        email_verified: identity.email_verified,
        given_name: identity.given_name.clone(),
        family_name: identity.family_name.clone(),
        display_name: identity.display_name.clone(),
        groups: identity.groups.clone(),
        attributes: attributes_to_wit(&identity.attributes),
    }
}

fn identity_of(identity: types::Identity) -> Identity {
    Identity {
        subject: identity.subject,
        email: identity.email,
        email_verified: identity.email_verified,
        given_name: identity.given_name,
        family_name: identity.family_name,
        display_name: identity.display_name,
        groups: identity.groups,
        attributes: attributes_of(identity.attributes),
    }
}

fn profile_of(profile: types::Profile) -> Profile {
    Profile {
        email: profile.email,
        display_name: profile.display_name,
        given_name: profile.given_name,
        family_name: profile.family_name,
        timezone: profile.timezone,
        locale: profile.locale,
        custom: attributes_of(profile.custom),
    }
}

fn scope_to_wit(scope: &ScopeRef) -> types::ScopeRef {
    types::ScopeRef {
        kind: scope.kind.clone(),
        name: scope.name.clone(),
    }
}

pub(super) fn grants_of(roles: Vec<types::RoleAssignment>) -> Vec<RoleGrant> {
    roles
        .into_iter()
        .map(|r| RoleGrant {
            role: r.role,
            scope: r.scope.map(|s| ScopeRef {
                kind: s.kind,
                name: s.name,
            }),
        })
        .collect()
}

pub(super) fn mapped_of(
    identity: types::Identity,
    profile: types::Profile,
    roles: Vec<types::RoleAssignment>,
) -> Mapped {
    Mapped {
        identity: identity_of(identity),
        profile: profile_of(profile),
        roles: grants_of(roles),
    }
}

pub(super) fn scim_request_to_wit(sent: &Sent) -> types::ScimRequest {
    types::ScimRequest {
        method: match sent.method {
            Method::Get => types::HttpMethod::Get,
            Method::Post => types::HttpMethod::Post,
            Method::Put => types::HttpMethod::Put,
            Method::Patch => types::HttpMethod::Patch,
            Method::Delete => types::HttpMethod::Delete,
        },
        path: sent.path.clone(),
        body: sent.body.clone(),
    }
}

pub(super) fn scim_request_of(request: types::ScimRequest) -> Sent {
    Sent {
        method: match request.method {
            types::HttpMethod::Get => Method::Get,
            types::HttpMethod::Post => Method::Post,
            types::HttpMethod::Put => Method::Put,
            types::HttpMethod::Patch => Method::Patch,
            types::HttpMethod::Delete => Method::Delete,
        },
        path: request.path,
        body: request.body,
    }
}

/// The catalogue as the role-mapper world takes it.
pub(super) fn catalogue_to_wit(catalogue: &Catalogue) -> types::Catalogue {
    types::Catalogue {
        roles: catalogue.role_names(),
        default_role: catalogue.default_role.clone(),
        scopes: catalogue
            .scopes
            .iter()
            .map(|s| scope_to_wit(&s.to_ref()))
            .collect(),
        group_mappings: catalogue
            .group_mappings
            .iter()
            .map(|m| types::GroupMapping {
                group_id: m.group_id.clone(),
                role: m.role.clone(),
                scope: m.scope.as_ref().map(scope_to_wit),
            })
            .collect(),
    }
}
