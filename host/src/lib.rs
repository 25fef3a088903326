//! Gatehouse: a self-hosted enterprise-security add-on for multi-tenant SaaS products.
//!
//! Each customer organisation of the SaaS app is a *tenant*. This crate is the host: it owns
//! tenancy, API tokens, envelope-encrypted secrets, the hash-chained audit trail and the HTTP
//! surface, the WebAssembly plugin platform (runtime, registry, per-tenant pipelines), and
//! SAML and OIDC single sign-on into the directory and browser sessions, and SCIM 2.0
//! provisioning into the same directory. Later areas (MFA, roles) plug into the same modules.
//!
//! # Codemap
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | typed, layered configuration (defaults → TOML file → `GATEHOUSE_…` env) |
//! | [`app`] | [`app::AppState`], start-up (database, migrations, master key, first-start bootstrap), serving |
//! | [`cache`] | the per-node cache of read-mostly tenant data on the sign-in path (tenant, connection, domains, pipeline), invalidated on change, at most [`cache::STALE_AFTER`] stale across nodes |
//! | [`cli`] | the `gatehouse` command line: `serve`, `migrate`, `audit verify`, `operator rotate-token`, `config check`, `plugin check` |
//! | [`tenancy`] | tenants, verified email domains, the opaque public tenant token |
//! | [`sessions`] | tenant API tokens and operator tokens (hashed, shown once, constant-time checks); browser sessions |
//! | [`sso`] | SSO connections and the sign-in flow; [`sso::saml`] is the SAML 2.0 service provider, [`sso::oidc`] the OIDC relying party |
//! | [`provider`] | Gatehouse as OIDC provider to the app: discovery, JWKS and key rotation, registered apps, code + PKCE flow, userinfo, logout |
//! | [`policy`] | tenant security policy (SSO-only) |
//! | [`directory`] | users, IdP identities, groups, role assignments; just-in-time provisioning and linking; deprovisioning and SCIM-derived roles |
//! | [`scim`] | the SCIM 2.0 server: Users, Groups, Bulk, filters, PATCH, ETags, discovery |
//! | [`rbac`] | scopes and the one permission check, which mints [`rbac::Authorized`] proofs |
//! | [`audit`] | append-only, per-tenant hash-chained events; listing; chain verification |
//! | [`secrets`] | master key, per-tenant data keys, AES-256-GCM envelope encryption |
//! | [`http`] | axum routers, extractors, middleware, the single error → response mapping |
//! | [`plugins`] | the wasmtime runtime and limits, per-world calls with output checks, the plugin registry and built-ins, tenant pipelines, the role catalogue, dry-runs |
//! | [`store`] | the database (SQLite or PostgreSQL), migrations, every SQL statement |
//! | [`throttle`] | per-node rate limits (keyed GCRA, bounded table) for the anonymous paths |
//! | [`types`] | parse-don't-validate newtypes shared by all modules (ids, slugs, domains, time) |
//!
//! # Invariants
//!
//! 1. Only `http` imports axum, only `store` imports sqlx, only `plugins` imports wasmtime.
//! 2. Every query on tenant-owned rows takes a [`types::TenantId`]; there is no lookup of a
//!    tenant-owned row by its id alone.
//! 3. No global mutable state: configuration, pools, keys and the clock travel in
//!    [`app::AppState`], so tests run many servers in one process.
//! 4. Secrets are typed and never logged; tokens are stored hashed; stored secrets are
//!    encrypted with the tenant's data key.
//! 5. An audit event commits in the same transaction as the change it records.
//! 6. Privileged operations take a proof of permission made only by [`rbac`].
//! 7. Everything a plugin returns is untrusted and bounded; a failing plugin fails the
//!    operation closed (and a real run audits it), never open.

pub mod app;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod config;
pub mod directory;
pub mod error;
pub mod http;
pub mod identity;
pub mod plugins;
pub mod policy;
pub mod provider;
pub mod rbac;
pub mod scim;
pub mod secrets;
pub mod services;
pub mod sessions;
pub mod sso;
pub mod store;
pub mod tenancy;
pub mod throttle;
pub mod types;

pub use error::Error;
