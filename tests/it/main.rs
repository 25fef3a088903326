//! Gatehouse's one integration-test binary. Every test starts the real server on port 0
//! against a fresh database (a temporary SQLite file, or a new PostgreSQL database when
//! `GATEHOUSE_TEST_DATABASE_URL` is set) and talks HTTP to it.

mod app_tokens;
mod app_webhooks;
mod audit;
mod audit_checkpoints;
mod audit_ingest;
mod audit_retention;
mod audit_search;
mod audit_streams;
mod backchannel_logout;
mod bad_input;
mod browser;
mod builtins;
mod cli;
mod components;
mod faults;
mod features;
mod helpers;
mod hostile;
mod isolation;
mod local_accounts;
mod local_login;
mod mfa;
mod node_cache;
mod oidc;
mod oidc_attacks;
mod oidc_provider;
mod operations;
mod peers;
mod plugins;
mod policy;
mod provisioning;
mod rbac_oracle;
mod roles;
mod saml;
mod saml_attacks;
mod scim;
mod scim_conformance;
mod scim_cursors;
mod scim_limits;
mod shared_signals;
mod sign_in_hints;
mod tenancy;
mod token_exchange;
mod tokens;
