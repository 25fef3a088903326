//! The macros that connect a guest's generated WIT bindings to this crate. Each guest calls one
//! of them once, at its crate root, after `wit_bindgen::generate!`, so the conversions exist in
//! one place instead of a copy per crate. They name the generated items by their paths under
//! `crate::gatehouse::plugin`, which every world of the contract generates.

/// Defines `HostConfig`, the guest's configuration read through the host, implementing
/// [`Config`](crate::Config); and `From<guest_kit::Error>` for the generated `PluginError`.
#[macro_export]
#[allow(
    clippy::crate_in_macro_def,
    reason = "the bindings live in the calling guest's crate"
)]
macro_rules! config_glue {
    () => {
        /// This plugin's tenant-set configuration, read through the host.
        struct HostConfig;

        impl $crate::Config for HostConfig {
            fn get(&self, key: &str) -> Result<Option<String>, $crate::Error> {
                crate::gatehouse::plugin::config::get(key).map_err(|_| {
                    $crate::Error::InvalidConfig(format!("the host refused to read key `{key}`"))
                })
            }

            fn keys(&self) -> Result<Vec<String>, $crate::Error> {
                crate::gatehouse::plugin::config::keys().map_err(|_| {
                    $crate::Error::InvalidConfig("the host refused to list the keys".into())
                })
            }
        }

        impl From<$crate::Error> for crate::gatehouse::plugin::types::PluginError {
            fn from(e: $crate::Error) -> Self {
                match e {
                    $crate::Error::Rejected(m) => Self::Rejected(m),
                    $crate::Error::InvalidConfig(m) => Self::InvalidConfig(m),
                    $crate::Error::Unsupported(m) => Self::Unsupported(m),
                }
            }
        }
    };
}

/// Everything [`config_glue!`] defines, plus conversions from the generated `RawIdentity` to
/// [`Raw`](crate::Raw) and from [`Canonical`](crate::Canonical) to the generated `Identity`,
/// for the `idp-adapter` world.
#[macro_export]
#[allow(
    clippy::crate_in_macro_def,
    reason = "the bindings live in the calling guest's crate"
)]
macro_rules! adapter_glue {
    () => {
        $crate::config_glue!();

        impl From<crate::gatehouse::plugin::types::RawIdentity> for $crate::Raw {
            fn from(raw: crate::gatehouse::plugin::types::RawIdentity) -> Self {
                use crate::gatehouse::plugin::types::Protocol;
                Self {
                    protocol: match raw.protocol {
                        Protocol::Saml => $crate::Protocol::Saml,
                        Protocol::Oidc => $crate::Protocol::Oidc,
                    },
                    issuer: raw.issuer,
                    subject: raw.subject,
                    attributes: raw
                        .attributes
                        .into_iter()
                        .map(|a| $crate::Attr {
                            name: a.name,
                            values: a.values,
                        })
                        .collect(),
                }
            }
        }

        impl From<$crate::Canonical> for crate::gatehouse::plugin::types::Identity {
            fn from(c: $crate::Canonical) -> Self {
                Self {
                    subject: c.subject,
                    email: c.email,
                    email_verified: c.email_verified,
                    given_name: c.given_name,
                    family_name: c.family_name,
                    display_name: c.display_name,
                    groups: c.groups,
                    attributes: c
                        .attributes
                        .into_iter()
                        .map(|a| crate::gatehouse::plugin::types::Attribute {
                            name: a.name,
                            values: a.values,
                        })
                        .collect(),
                }
            }
        }
    };
}
