//! The built-in components (`plugins/dist/`) against realistic inputs, through the real
//! runtime: how each IdP adapter reads SAML assertions and OIDC claims and what it refuses
//! (`adapters`), and every rule of the default role mapper (`role_mapper`), asserted on exact
//! outputs.

mod adapters;
mod role_mapper;

use std::sync::Arc;
use std::time::Duration;

use gatehouse::plugins::types::Attribute;
use gatehouse::plugins::{Limits, PluginConfig, PluginHost};

/// Default limits with a generous deadline: these tests are about behaviour, and a loaded
/// two-core machine must not turn them into timeouts.
fn host() -> PluginHost {
    PluginHost::new(Limits {
        timeout: Duration::from_secs(2),
        ..Limits::default()
    })
    .unwrap()
}

fn config(pairs: &[(&str, &str)]) -> PluginConfig {
    Arc::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn attributes(pairs: &[(&str, &[&str])]) -> Vec<Attribute> {
    pairs
        .iter()
        .map(|(name, values)| Attribute {
            name: name.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
        })
        .collect()
}
