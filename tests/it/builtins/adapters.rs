//! The IdP adapters: generic, Okta, Entra ID and Google Workspace, each on SAML and OIDC
//! input shaped like what the IdP really sends.

use super::{attributes, config, host};
use gatehouse::plugins::types::{Identity, Protocol, RawIdentity};
use gatehouse::plugins::PluginError;

const GENERIC: &[u8] = include_bytes!("../../../plugins/dist/generic-adapter.wasm");
const OKTA: &[u8] = include_bytes!("../../../plugins/dist/okta-adapter.wasm");
const ENTRA: &[u8] = include_bytes!("../../../plugins/dist/entra-adapter.wasm");
const GOOGLE: &[u8] = include_bytes!("../../../plugins/dist/google-adapter.wasm");

fn raw(protocol: Protocol, subject: &str, attrs: &[(&str, &[&str])]) -> RawIdentity {
    RawIdentity {
        protocol,
        issuer: "https://idp.example".into(),
        subject: subject.into(),
        attributes: attributes(attrs),
    }
}

fn adapt(wasm: &[u8], cfg: &[(&str, &str)], raw: &RawIdentity) -> Result<Identity, PluginError> {
    let host = host();
    let plugin = host.load("adapter", wasm).unwrap();
    host.adapt(&plugin, &config(cfg), raw).result
}

/// The names of the attributes an identity passes on, in order.
fn passed_on(identity: &Identity) -> Vec<&str> {
    identity
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect()
}

fn opt(value: &Option<String>) -> Option<&str> {
    value.as_deref()
}

fn assert_invalid_config(result: Result<Identity, PluginError>, key: &str) {
    match result {
        Err(PluginError::InvalidConfig(m)) => assert!(m.contains(key), "{m}"),
        other => panic!("expected invalid-config naming {key}, got {other:?}"),
    }
}

// ---- generic adapter ----

#[test]
fn the_generic_adapter_reads_a_saml_assertion_with_ldap_oid_names() {
    let groups: &[&str] = &[
        "CN=Staff,OU=Groups,DC=example,DC=com",
        "CN=Engineering,OU=Groups,DC=example,DC=com",
    ];
    let raw = raw(
        Protocol::Saml,
        "_8f3a1c0e9b",
        &[
            ("urn:oid:0.9.2342.19200300.100.1.3", &["ada@example.com"]),
            ("urn:oid:2.5.4.42", &["Ada"]),
            ("urn:oid:2.5.4.4", &["Lovelace"]),
            ("urn:oid:2.16.840.1.113730.3.1.241", &["Ada Lovelace"]),
            ("memberOf", groups),
            ("space_name", &["Berlin, Munich"]),
            ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", &["ada@example.com"]),
        ],
    );
    let id = adapt(GENERIC, &[], &raw).unwrap();
    assert_eq!(id.subject, "_8f3a1c0e9b");
    assert_eq!(opt(&id.email), Some("ada@example.com"));
    assert!(id.email_verified, "SAML email is verified by default");
    assert_eq!(opt(&id.given_name), Some("Ada"));
    assert_eq!(opt(&id.family_name), Some("Lovelace"));
    assert_eq!(opt(&id.display_name), Some("Ada Lovelace"));
    assert_eq!(id.groups, groups, "DNs are not split on their commas");
    assert_eq!(
        passed_on(&id),
        ["space_name", "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"]
    );
}

#[test]
fn the_generic_adapter_reads_oidc_claims_and_passes_the_rest_on() {
    let raw = raw(
        Protocol::Oidc,
        "248289761001",
        &[
            ("email", &["Jane.Doe@Example.org"]),
            ("email_verified", &["True"]),
            ("given_name", &["Jane"]),
            ("family_name", &["Doe"]),
            ("name", &["Jane Doe"]),
            ("groups", &["staff", "admins", "staff"]),
            ("locale", &["de-DE"]),
            ("zoneinfo", &["Europe/Berlin"]),
            ("space_role", &["Editor"]),
        ],
    );
    let id = adapt(GENERIC, &[], &raw).unwrap();
    assert_eq!(id.subject, "248289761001");
    assert_eq!(opt(&id.email), Some("Jane.Doe@Example.org"));
    assert!(id.email_verified);
    assert_eq!(opt(&id.display_name), Some("Jane Doe"));
    assert_eq!(id.groups, ["staff", "admins"]);
    assert_eq!(passed_on(&id), ["locale", "zoneinfo", "space_role"]);
}

#[test]
fn an_oidc_email_is_verified_only_when_email_verified_says_true() {
    for (claim, verified) in [
        (Some("true"), true),
        (Some("TRUE"), true),
        (Some("false"), false),
        (Some("yes"), false),
        (Some("1"), false),
        (None, false),
    ] {
        let mut attrs: Vec<(&str, &[&str])> = vec![("email", &["a@example.com"])];
        let values = claim.map(|c| [c]);
        if let Some(values) = &values {
            attrs.push(("email_verified", values));
        }
        let id = adapt(GENERIC, &[], &raw(Protocol::Oidc, "s1", &attrs)).unwrap();
        assert_eq!(id.email_verified, verified, "email_verified = {claim:?}");
    }
}

#[test]
fn a_saml_nameid_shaped_like_an_email_is_the_email_and_the_config_decides_verification() {
    let saml = raw(
        Protocol::Saml,
        "ada@example.com",
        &[("givenName", &["Ada"])],
    );
    let id = adapt(GENERIC, &[], &saml).unwrap();
    assert_eq!(opt(&id.email), Some("ada@example.com"));
    assert!(id.email_verified);
    let id = adapt(GENERIC, &[("saml_email_verified", "false")], &saml).unwrap();
    assert_eq!(opt(&id.email), Some("ada@example.com"));
    assert!(!id.email_verified);
}

#[test]
fn an_oidc_subject_is_never_taken_as_the_email() {
    let oidc = raw(
        Protocol::Oidc,
        "ada@example.com",
        &[("email_verified", &["true"])],
    );
    let id = adapt(GENERIC, &[], &oidc).unwrap();
    assert_eq!(id.email, None);
    assert!(!id.email_verified, "nothing to vouch for");
}

#[test]
fn a_malformed_email_value_is_skipped_for_the_next_name_and_passed_on() {
    let saml = raw(
        Protocol::Saml,
        "_x",
        &[("email", &["not an email"]), ("mail", &["ada@example.com"])],
    );
    let id = adapt(GENERIC, &[], &saml).unwrap();
    assert_eq!(opt(&id.email), Some("ada@example.com"));
    assert_eq!(passed_on(&id), ["email"]);
}

#[test]
fn configured_attribute_names_replace_the_defaults() {
    let cfg = [
        ("email_attribute", "primaryMail"),
        ("groups_attribute", "roles"),
        ("display_name_attribute", "cn"),
    ];
    let oidc = raw(
        Protocol::Oidc,
        "s1",
        &[
            ("email", &["old@example.com"]),
            ("primaryMail", &["new@example.com"]),
            ("groups", &["ignored"]),
            ("roles", &["r1", "r2"]),
            ("cn", &["Ada L."]),
        ],
    );
    let id = adapt(GENERIC, &cfg, &oidc).unwrap();
    assert_eq!(opt(&id.email), Some("new@example.com"));
    assert_eq!(id.groups, ["r1", "r2"]);
    assert_eq!(opt(&id.display_name), Some("Ada L."));
    assert_eq!(passed_on(&id), ["email", "groups"]);
}

#[test]
fn an_empty_subject_is_rejected() {
    let err = adapt(GENERIC, &[], &raw(Protocol::Oidc, " ", &[])).unwrap_err();
    assert!(matches!(err, PluginError::Rejected(_)), "{err:?}");
}

#[test]
fn bad_generic_adapter_config_names_the_key() {
    let saml = raw(Protocol::Saml, "ada@example.com", &[]);
    assert_invalid_config(
        adapt(GENERIC, &[("saml_email_verified", "maybe")], &saml),
        "saml_email_verified",
    );
    assert_invalid_config(
        adapt(GENERIC, &[("email_atribute", "mail")], &saml),
        "email_atribute",
    );
    assert_invalid_config(
        adapt(GENERIC, &[("groups_attribute", "  ")], &saml),
        "groups_attribute",
    );
}

// ---- Okta ----

#[test]
fn the_okta_adapter_reads_okta_saml_attribute_statements() {
    let saml = raw(
        Protocol::Saml,
        "00u1a2b3c4D5e6F7g8h9",
        &[
            ("email", &["ada@example.com"]),
            ("firstName", &["Ada"]),
            ("lastName", &["Lovelace"]),
            ("given_name", &["Augusta"]),
            ("groups", &["Everyone", "Engineering"]),
        ],
    );
    let id = adapt(OKTA, &[], &saml).unwrap();
    assert_eq!(id.subject, "00u1a2b3c4D5e6F7g8h9");
    assert_eq!(opt(&id.email), Some("ada@example.com"));
    assert!(id.email_verified);
    assert_eq!(opt(&id.given_name), Some("Ada"), "Okta's firstName wins");
    assert_eq!(opt(&id.family_name), Some("Lovelace"));
    assert_eq!(id.groups, ["Everyone", "Engineering"]);
    assert_eq!(passed_on(&id), ["given_name"]);
}

#[test]
fn the_okta_adapter_reads_okta_oidc_claims() {
    let oidc = raw(
        Protocol::Oidc,
        "00u1a2b3c4D5e6F7g8h9",
        &[
            ("email", &["ada@example.com"]),
            ("email_verified", &["true"]),
            ("given_name", &["Ada"]),
            ("family_name", &["Lovelace"]),
            ("name", &["Ada Lovelace"]),
            ("preferred_username", &["ada.lovelace@example.com"]),
            ("groups", &["Engineering"]),
            ("zoneinfo", &["America/Los_Angeles"]),
        ],
    );
    let id = adapt(OKTA, &[], &oidc).unwrap();
    assert_eq!(id.subject, "00u1a2b3c4D5e6F7g8h9");
    assert_eq!(opt(&id.email), Some("ada@example.com"));
    assert!(id.email_verified);
    assert_eq!(opt(&id.display_name), Some("Ada Lovelace"));
    assert_eq!(id.groups, ["Engineering"]);
    assert_eq!(passed_on(&id), ["preferred_username", "zoneinfo"]);
}

// ---- Entra ID ----

const TENANT: &str = "3f2b9c4e-8a1d-4e6f-9b0c-7d5e2a1f4c8b";
const OTHER_TENANT: &str = "c0ffee00-1234-4abc-8def-0123456789ab";
const OID: &str = "6e0d1a7c-2b3f-4c5d-9e8f-1a2b3c4d5e6f";
const SAML_CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";
const MS_CLAIMS: &str = "http://schemas.microsoft.com/identity/claims";

fn entra_saml(extra: &[(&str, &[&str])]) -> RawIdentity {
    let names = [
        format!("{MS_CLAIMS}/tenantid"),
        format!("{MS_CLAIMS}/objectidentifier"),
        format!("{SAML_CLAIMS}/emailaddress"),
        format!("{SAML_CLAIMS}/name"),
        format!("{SAML_CLAIMS}/givenname"),
        format!("{SAML_CLAIMS}/surname"),
        format!("{MS_CLAIMS}/displayname"),
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups".to_string(),
    ];
    let values: [&[&str]; 8] = [
        &[TENANT],
        &[OID],
        &["ada@contoso.com"],
        &["ada@contoso.onmicrosoft.com"],
        &["Ada"],
        &["Lovelace"],
        &["Ada Lovelace"],
        &[
            "b7a1c2d3-0000-4000-8000-000000000001",
            "b7a1c2d3-0000-4000-8000-000000000002",
        ],
    ];
    let mut attrs: Vec<(&str, &[&str])> = names.iter().map(String::as_str).zip(values).collect();
    attrs.extend_from_slice(extra);
    raw(Protocol::Saml, "ada@contoso.onmicrosoft.com", &attrs)
}

fn entra_oidc(extra: &[(&str, &[&str])]) -> RawIdentity {
    let mut attrs: Vec<(&str, &[&str])> = vec![
        ("tid", &[TENANT]),
        ("oid", &[OID]),
        ("email", &["ada@contoso.com"]),
        ("name", &["Ada Lovelace"]),
        ("preferred_username", &["ada@contoso.onmicrosoft.com"]),
        ("groups", &["b7a1c2d3-0000-4000-8000-000000000001"]),
    ];
    attrs.extend_from_slice(extra);
    raw(
        Protocol::Oidc,
        "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        &attrs,
    )
}

#[test]
fn entra_saml_uses_the_object_id_as_subject_and_passes_group_ids_as_they_are() {
    let id = adapt(ENTRA, &[("tenant_id", TENANT)], &entra_saml(&[])).unwrap();
    assert_eq!(id.subject, OID);
    assert_eq!(opt(&id.email), Some("ada@contoso.com"));
    assert!(id.email_verified);
    assert_eq!(opt(&id.given_name), Some("Ada"));
    assert_eq!(opt(&id.family_name), Some("Lovelace"));
    assert_eq!(opt(&id.display_name), Some("Ada Lovelace"));
    assert_eq!(
        id.groups,
        [
            "b7a1c2d3-0000-4000-8000-000000000001",
            "b7a1c2d3-0000-4000-8000-000000000002"
        ]
    );
    let tenant = format!("{MS_CLAIMS}/tenantid");
    let upn = format!("{SAML_CLAIMS}/name");
    assert_eq!(passed_on(&id), [tenant.as_str(), upn.as_str()]);
}

#[test]
fn entra_never_takes_the_upn_nameid_as_the_email() {
    let raw = raw(Protocol::Saml, "ada@contoso.onmicrosoft.com", &[]);
    let id = adapt(ENTRA, &[], &raw).unwrap();
    assert_eq!(id.subject, "ada@contoso.onmicrosoft.com");
    assert_eq!(id.email, None);
    assert!(!id.email_verified);
}

#[test]
fn entra_oidc_email_is_verified_only_with_xms_edov() {
    let id = adapt(ENTRA, &[], &entra_oidc(&[("email_verified", &["true"])])).unwrap();
    assert_eq!(id.subject, OID);
    assert_eq!(opt(&id.email), Some("ada@contoso.com"));
    assert!(!id.email_verified, "Entra's email claim is not verified");
    assert_eq!(opt(&id.display_name), Some("Ada Lovelace"));
    assert_eq!(
        passed_on(&id),
        ["tid", "preferred_username", "email_verified"]
    );

    let id = adapt(ENTRA, &[], &entra_oidc(&[("xms_edov", &["true"])])).unwrap();
    assert!(id.email_verified);
}

fn assert_overage(result: Result<Identity, PluginError>) {
    match result {
        Err(PluginError::Unsupported(m)) => {
            assert!(m.contains("groups overage"), "{m}");
            assert!(m.contains("Groups assigned to the application"), "{m}");
        }
        other => panic!("expected unsupported, got {other:?}"),
    }
}

#[test]
fn entra_saml_groups_overage_is_unsupported() {
    let link: &[&str] = &["https://graph.windows.net/{tenant}/users/{oid}/getMemberObjects"];
    assert_overage(adapt(
        ENTRA,
        &[],
        &entra_saml(&[("http://schemas.microsoft.com/claims/groups.link", link)]),
    ));
}

#[test]
fn entra_oidc_groups_overage_is_unsupported_in_both_forms() {
    let claim_names = entra_oidc(&[
        ("_claim_names", &[r#"{"groups":"src1"}"#]),
        (
            "_claim_sources",
            &[
                r#"{"src1":{"endpoint":"https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}"#,
            ],
        ),
    ]);
    assert_overage(adapt(ENTRA, &[], &claim_names));
    assert_overage(adapt(ENTRA, &[], &entra_oidc(&[("hasgroups", &["true"])])));
}

#[test]
fn entra_rejects_a_login_from_another_tenant_naming_both() {
    let err = adapt(ENTRA, &[("tenant_id", OTHER_TENANT)], &entra_oidc(&[])).unwrap_err();
    match err {
        PluginError::Rejected(m) => {
            assert!(m.contains(TENANT) && m.contains(OTHER_TENANT), "{m}")
        }
        other => panic!("expected rejected, got {other:?}"),
    }
    let no_tid = raw(Protocol::Oidc, "s1", &[("oid", &[OID])]);
    let err = adapt(ENTRA, &[("tenant_id", TENANT)], &no_tid).unwrap_err();
    assert!(matches!(err, PluginError::Rejected(_)), "{err:?}");
    // The tenant id compares case-insensitively.
    let upper = TENANT.to_uppercase();
    assert!(adapt(ENTRA, &[("tenant_id", &upper)], &entra_oidc(&[])).is_ok());
}

#[test]
fn an_entra_tenant_id_that_is_not_a_guid_is_a_config_error() {
    assert_invalid_config(
        adapt(
            ENTRA,
            &[("tenant_id", "contoso.onmicrosoft.com")],
            &entra_oidc(&[]),
        ),
        "tenant_id",
    );
}

// ---- Google Workspace ----

fn google_oidc(hd: Option<&str>) -> RawIdentity {
    let hd_values = hd.map(|d| [d]);
    let mut attrs: Vec<(&str, &[&str])> = vec![
        ("email", &["ada@example.com"]),
        ("email_verified", &["true"]),
        ("given_name", &["Ada"]),
        ("family_name", &["Lovelace"]),
        ("name", &["Ada Lovelace"]),
        ("locale", &["en-GB"]),
    ];
    if let Some(values) = &hd_values {
        attrs.push(("hd", values));
    }
    raw(Protocol::Oidc, "109876543210987654321", &attrs)
}

#[test]
fn google_oidc_reads_a_workspace_account_in_an_allowed_domain() {
    let cfg = [("hosted_domain", "Example.com, example.org")];
    let id = adapt(GOOGLE, &cfg, &google_oidc(Some("example.com"))).unwrap();
    assert_eq!(id.subject, "109876543210987654321");
    assert_eq!(opt(&id.email), Some("ada@example.com"));
    assert!(id.email_verified);
    assert_eq!(opt(&id.given_name), Some("Ada"));
    assert_eq!(opt(&id.family_name), Some("Lovelace"));
    assert_eq!(opt(&id.display_name), Some("Ada Lovelace"));
    assert_eq!(passed_on(&id), ["locale", "hd"]);
}

#[test]
fn google_rejects_a_consumer_account_when_a_hosted_domain_is_required() {
    let cfg = [("hosted_domain", "example.com")];
    match adapt(GOOGLE, &cfg, &google_oidc(None)) {
        Err(PluginError::Rejected(m)) => assert!(m.contains("example.com"), "{m}"),
        other => panic!("expected rejected, got {other:?}"),
    }
    // Without the setting, any Google account signs in.
    assert!(adapt(GOOGLE, &[], &google_oidc(None)).is_ok());
}

#[test]
fn google_rejects_another_hosted_domain_naming_it() {
    let cfg = [("hosted_domain", "example.com")];
    match adapt(GOOGLE, &cfg, &google_oidc(Some("evil.example"))) {
        Err(PluginError::Rejected(m)) => {
            assert!(
                m.contains("evil.example") && m.contains("example.com"),
                "{m}"
            )
        }
        other => panic!("expected rejected, got {other:?}"),
    }
}

#[test]
fn google_saml_takes_the_nameid_as_email_and_checks_its_domain() {
    let saml = raw(
        Protocol::Saml,
        "ada@example.com",
        &[("firstName", &["Ada"]), ("lastName", &["Lovelace"])],
    );
    let id = adapt(GOOGLE, &[("hosted_domain", "example.com")], &saml).unwrap();
    assert_eq!(opt(&id.email), Some("ada@example.com"));
    assert!(id.email_verified);
    assert_eq!(opt(&id.given_name), Some("Ada"));
    assert_eq!(opt(&id.family_name), Some("Lovelace"));
    let err = adapt(GOOGLE, &[("hosted_domain", "example.org")], &saml).unwrap_err();
    assert!(matches!(err, PluginError::Rejected(_)), "{err:?}");
}

#[test]
fn a_google_hosted_domain_list_without_a_domain_is_a_config_error() {
    assert_invalid_config(
        adapt(GOOGLE, &[("hosted_domain", " , ")], &google_oidc(None)),
        "hosted_domain",
    );
}
