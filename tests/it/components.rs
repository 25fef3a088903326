//! The plugin template in the two shapes an author's build can produce, for the plugin tests:
//! a wasm32-wasip2 component straight from rustc, and what `cargo component build` makes (a
//! wasm32-wasip1 core module wrapped with the `wasi_snapshot_preview1` reactor adapter). The
//! wrapping is done here, from the committed core module, so CI needs no extra tool. Both
//! files in `plugins/dist/` are checked against their source by CI.

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse::plugins::types::{Attribute, Identity, Profile};
use gatehouse::plugins::{Limits, PluginConfig, PluginError, PluginHost};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::ComponentEncoder;

/// The template built for wasm32-wasip2: already a component.
const TEMPLATE_WASIP2: &[u8] = include_bytes!("../../plugins/dist/plugin-template.wasm");

/// The template built for wasm32-wasip1: a core module carrying its WIT world in a custom
/// section, not yet a component.
const TEMPLATE_WASIP1_CORE: &[u8] =
    include_bytes!("../../plugins/dist/wasip1/plugin-template.core.wasm");

/// The template as built with `--target wasm32-wasip2`.
pub fn template_wasip2() -> Vec<u8> {
    TEMPLATE_WASIP2.to_vec()
}

/// The template as `cargo component build` shapes it: the wasip1 core module, its WASI
/// preview 1 imports adapted to preview 2, encoded as a validated component.
pub fn template_cargo_component_shape() -> Vec<u8> {
    ComponentEncoder::default()
        .module(TEMPLATE_WASIP1_CORE)
        .expect("the committed core module carries a component-type section")
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .expect("the reactor adapter loads")
        .validate(true)
        .encode()
        .expect("the wrapped template is a valid component")
}

fn config(entries: &[(&str, &str)]) -> PluginConfig {
    Arc::new(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn attribute(name: &str, values: &[&str]) -> Attribute {
    Attribute {
        name: name.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

/// A profile as plain values, since the generated record has no `PartialEq`.
type ProfileFields = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Vec<(String, Vec<String>)>,
);

fn fields(p: Profile) -> ProfileFields {
    (
        p.email,
        p.display_name,
        p.given_name,
        p.family_name,
        p.timezone,
        p.locale,
        p.custom.into_iter().map(|a| (a.name, a.values)).collect(),
    )
}

#[test]
fn both_build_shapes_of_the_template_map_the_same_profile() {
    let host = PluginHost::new(Limits {
        timeout: std::time::Duration::from_secs(2),
        ..Limits::default()
    })
    .unwrap();
    let identity = Identity {
        subject: "u1".into(),
        email: Some(" Ada@Example.COM ".into()),
        email_verified: true,
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        display_name: None,
        groups: vec![],
        attributes: vec![
            attribute("Department", &["Engineering"]),
            attribute("space_name", &["Berlin office"]),
        ],
    };
    let good = config(&[("custom_attributes", "department, cost_center")]);
    let bad = config(&[("custom_attributes", "department,,cost_center")]);

    let mut profiles = Vec::new();
    for (name, wasm) in [
        ("template-wasip2", template_wasip2()),
        ("template-wasip1-adapted", template_cargo_component_shape()),
    ] {
        let plugin = host.load(name, &wasm).unwrap();
        let outcome = host.map_profile(&plugin, &good, &identity);
        let profile = outcome.result.unwrap();
        assert_eq!(outcome.logs.len(), 1, "{name}: {:?}", outcome.logs);
        assert_eq!(outcome.logs[0].level, "info");
        assert_eq!(
            outcome.logs[0].fields,
            [
                ("custom_copied".to_string(), "1".to_string()),
                ("custom_missing".to_string(), "cost_center".to_string()),
            ]
        );
        let err = host
            .map_profile(&plugin, &bad, &identity)
            .result
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidConfig(m) if m.contains("custom_attributes")),
            "{name}: {err:?}"
        );
        profiles.push(fields(profile));
    }

    let expected: ProfileFields = (
        "ada@example.com".into(),
        Some("Ada Lovelace".into()),
        Some("Ada".into()),
        Some("Lovelace".into()),
        None,
        None,
        vec![("department".into(), vec!["Engineering".into()])],
    );
    assert_eq!(profiles[0], expected);
    assert_eq!(profiles[1], expected);
}
