//! Gatehouse: a self-hosted enterprise-security add-on for multi-tenant SaaS products.
//!
//! Each customer organisation of the SaaS app is a *tenant*. This crate is the host: it owns
//! tenancy, API tokens, envelope-encrypted secrets, the hash-chained audit trail and the HTTP
//! surface, the WebAssembly plugin platform (runtime, registry, per-tenant pipelines), and
//! SAML and OIDC single sign-on into the directory and browser sessions, and SCIM 2.0
//! provisioning into the same directory, and TOTP multi-factor sign-in. Later areas (roles,
//! policy) plug into the same modules.
//!
//! # Codemap
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | typed, layered configuration (defaults → TOML file → `GATEHOUSE_…` env) |
//! | [`app`] | start-up (database, migrations, master key, first-start bootstrap), serving, housekeeping; only the CLI imports it |
//! | [`services`] | [`services::Services`]: what every domain module may take (config, store, clock, keys, caches, failure log, plugin runtime); imports only the files of the parts it holds, none of which imports it |
//! | [`cache`] | the per-node cache of read-mostly tenant data on the sign-in path (tenant, connection, domains, pipeline), invalidated on change, at most [`cache::STALE_AFTER`] stale across nodes |
//! | [`cli`] | the `gatehouse` command line: `serve`, `migrate`, `audit verify`, `operator rotate-token`, `config check`, `plugin check` |
//! | [`tenancy`] | tenants, verified email domains, the opaque public tenant token and its rotation, per-tenant features, usage |
//! | [`sessions`] | tenant API tokens and operator tokens (hashed, shown once, constant-time checks); SCIM clients and their client-credentials access tokens; browser sessions, listed and ended by users and admins; local passwords and the one-time links (invitation, reset) that set them |
//! | [`sso`] | SSO connections and the sign-in flow by step (start, login state, ACS / callback, the one pipeline tail, an app's token exchange); [`sso::saml`] is the SAML 2.0 service provider, [`sso::oidc`] the OIDC relying party |
//! | [`identity`] | who signs in, in our own types: raw identity, identity, profile, role grants (the plugin contract's records are converted at the plugin boundary) |
//! | [`provider`] | Gatehouse as OIDC provider to the app: discovery, JWKS and key rotation, registered apps, code + PKCE flow, userinfo, logout; the Shared Signals transmitter (`ssf`) |
//! | [`policy`] | the tenant security policy document (SSO-only, MFA, sessions, networks, passwords, classification), its presets, and [`policy::admit`], the one enforcement point on every path that makes a session or a token |
//! | [`outbox`] | what leaves Gatehouse: rows written with the change that caused them, the delivery worker (at least once, backoff, per-destination health), the SMTP sender |
//! | [`mfa`] | TOTP authenticators (RFC 6238) and recovery codes: enrolment, the sign-in's second step with its throttle and lock, the administrator's list, reset and unlock |
//! | [`directory`] | the one writer of users, IdP identities, groups, memberships and role assignments, with the per-attribute authority rules; just-in-time provisioning and linking; deprovisioning and SCIM-derived roles |
//! | [`scim`] | the SCIM 2.0 server: Users, Groups, Bulk, filters, PATCH, ETags, discovery |
//! | [`rbac`] | scopes and the one permission check, which mints [`rbac::Authorized`] proofs; each tenant's role catalogue ([`rbac::catalogue`]) |
//! | [`audit`] | append-only, per-tenant hash-chained events; listing; chain verification |
//! | [`secrets`] | master key, per-tenant data keys, AES-256-GCM envelope encryption |
//! | [`http`] | [`http::state::AppState`], axum routers, extractors (`Require<P>`), middleware, page templates, the single error → response mapping, the OpenAPI document of the APIs ([`http::openapi`]) |
//! | [`plugins`] | the engine (wasmtime runtime and limits, per-world calls with output checks, compiled cache, registry) and the operations on it (upload and deletion, built-ins, tenant pipelines, dry-runs) |
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
//!    [`services::Services`], so tests run many servers in one process.
//! 4. Secrets are typed and never logged; tokens are stored hashed; stored secrets are
//!    encrypted with the tenant's data key.
//! 5. An audit event commits in the same transaction as the change it records.
//! 6. Privileged operations take a proof of permission made only by [`rbac`].
//! 7. Everything a plugin returns is untrusted and bounded; a failing plugin fails the
//!    operation closed (and a real run audits it), never open.
//! 8. No import circle between files: the leaves (`types`, `error`, `identity`, `store`)
//!    import no domain module, `services` only the parts it holds, domain modules take
//!    `Services` (not the HTTP state), and only `http` and the CLI sit above them.

pub mod app;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod config;
pub mod directory;
pub mod error;
pub mod http;
pub mod identity;
pub mod mfa;
pub mod outbox;
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
