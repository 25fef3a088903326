//! The runtime against real components: the default mapper, and the hostile guest for every
//! way a plugin can misbehave, each contained with its own typed error while the host keeps
//! serving.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;

const MAPPER: &[u8] = include_bytes!("../../../plugins/dist/default-attribute-mapper.wasm");
const HOSTILE: &[u8] = include_bytes!("../../../plugins/dist/hostile-mapper.wasm");

fn identity(email: Option<&str>) -> types::Identity {
    types::Identity {
        subject: "u1".into(),
        email: email.map(str::to_string),
        email_verified: true,
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        display_name: None,
        groups: vec![],
        attributes: vec![types::Attribute {
            name: "locale".into(),
            values: vec!["en-GB".into()],
        }],
    }
}

/// Default limits with a deadline a loaded test machine cannot miss by accident; the tests
/// that are about the deadline set their own.
fn relaxed_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(2),
        ..Limits::default()
    }
}

fn relaxed_host() -> PluginHost {
    PluginHost::new(relaxed_limits()).unwrap()
}

fn no_config() -> PluginConfig {
    PluginConfig::default()
}

#[test]
fn the_default_attribute_mapper_runs_in_a_fresh_instance() {
    let host = relaxed_host();
    let plugin = host.load("default-attribute-mapper", MAPPER).unwrap();
    assert_eq!(plugin.world(), World::AttributeMapper);
    let profile = host
        .map_profile(&plugin, &no_config(), &identity(Some("Ada@Example.COM")))
        .result
        .unwrap();
    assert_eq!(profile.email, "ada@example.com");
    assert_eq!(profile.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(profile.locale.as_deref(), Some("en-GB"));
    let err = host
        .map_profile(&plugin, &no_config(), &identity(None))
        .result
        .unwrap_err();
    assert!(matches!(err, PluginError::Rejected(_)), "{err:?}");
}

#[test]
fn a_plugin_called_for_another_world_is_refused_before_it_runs() {
    let host = relaxed_host();
    let plugin = host.load("default-attribute-mapper", MAPPER).unwrap();
    let raw = types::RawIdentity {
        protocol: types::Protocol::Oidc,
        issuer: "https://idp.example".into(),
        subject: "u1".into(),
        attributes: vec![],
    };
    let err = host.adapt(&plugin, &no_config(), &raw).result.unwrap_err();
    assert_eq!(
        err,
        PluginError::WrongWorld {
            expected: World::IdpAdapter,
            actual: World::AttributeMapper
        }
    );
}

#[test]
fn the_compiled_cache_serves_the_second_load_and_survives_a_new_host() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Some(dir.path().join("compiled"));
    let host = PluginHost::with_cache(relaxed_limits(), cache.clone()).unwrap();
    let (_, first) = host.load_traced("m", MAPPER).unwrap();
    let (_, second) = host.load_traced("m", MAPPER).unwrap();
    assert_eq!((first, second), (CacheUse::Compiled, CacheUse::Hit));
    drop(host);

    let restarted = PluginHost::with_cache(relaxed_limits(), cache.clone()).unwrap();
    let (plugin, used) = restarted.load_traced("m", MAPPER).unwrap();
    assert_eq!(used, CacheUse::Hit);
    let profile = restarted
        .map_profile(&plugin, &no_config(), &identity(Some("a@b.example")))
        .result
        .unwrap();
    assert_eq!(profile.email, "a@b.example");

    // A corrupt cache file is dropped and the component recompiled.
    for entry in std::fs::read_dir(cache.as_ref().unwrap()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let (_, used) = restarted.load_traced("m", MAPPER).unwrap();
    assert_eq!(used, CacheUse::Compiled);
}

fn hostile(host: &PluginHost, mode: &str) -> Result<types::Profile, PluginError> {
    let plugin = host.load("hostile-mapper", HOSTILE).unwrap();
    let config = Arc::new(BTreeMap::from([("mode".to_string(), mode.to_string())]));
    host.map_profile(&plugin, &config, &identity(Some("a@b.example")))
        .result
}

fn behaves(host: &PluginHost) {
    assert_eq!(hostile(host, "behave").unwrap().email, "u1@example.com");
}

#[test]
fn an_infinite_loop_times_out_and_the_host_keeps_serving() {
    // Unlimited fuel, so only the wall-time deadline can stop it. The deadline is above the
    // default so the well-behaved call afterwards cannot miss it on a loaded test machine.
    let limits = Limits {
        fuel: u64::MAX,
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let host = PluginHost::new(limits).unwrap();
    let started = std::time::Instant::now();
    let result = hostile(&host, "loop");
    assert!(matches!(result, Err(PluginError::Timeout)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    behaves(&host);
}

#[test]
fn fuel_runs_out_before_a_long_deadline() {
    let limits = Limits {
        fuel: 100_000,
        timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let host = PluginHost::new(limits).unwrap();
    assert_eq!(hostile(&host, "loop"), Err(PluginError::OutOfFuel));
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let limits = Limits {
        timeout: Duration::from_secs(5),
        fuel: u64::MAX,
        ..Limits::default()
    };
    let host = PluginHost::new(limits.clone()).unwrap();
    assert_eq!(
        hostile(&host, "memory"),
        Err(PluginError::MemoryLimit(limits.memory_bytes))
    );
    behaves(&host);
}

#[test]
fn a_trap_is_a_typed_error() {
    let limits = Limits {
        timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let host = PluginHost::new(limits).unwrap();
    let err = hostile(&host, "trap").unwrap_err();
    assert!(matches!(err, PluginError::Trap(_)), "{err:?}");
    behaves(&host);
}

#[test]
fn oversize_output_is_refused() {
    let limits = Limits {
        timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let host = PluginHost::new(limits).unwrap();
    // 8 MiB in one string: refused while crossing, before the host copies it.
    assert_eq!(
        hostile(&host, "huge-output"),
        Err(PluginError::OutputTooLarge(runtime::MAX_TRANSFER_BYTES))
    );
}

#[test]
fn a_list_naming_one_block_many_times_is_refused_before_the_host_copies_it() {
    let host = relaxed_host();
    // 1,500 values naming the same 64 KiB: 96 MiB for the host from 64 KiB of guest memory.
    // The bound stops the copy at 2 MiB; without it the host copied all 96 MiB and only then
    // counted the entries.
    assert_eq!(
        hostile(&host, "wide-output"),
        Err(PluginError::OutputTooLarge(runtime::MAX_TRANSFER_BYTES))
    );
    behaves(&host);
}

#[test]
fn a_plugin_waiting_on_a_clock_traps_instead_of_holding_a_host_thread() {
    let host = Arc::new(relaxed_host());
    let (done, result) = std::sync::mpsc::channel();
    let caller = host.clone();
    std::thread::spawn(move || {
        let _ = done.send(hostile(&caller, "sleep"));
    });
    // Neither fuel nor the deadline reaches host code: without the fix this never returns.
    let result = result
        .recv_timeout(Duration::from_secs(30))
        .expect("a plugin blocked a host thread on a clock");
    assert!(
        matches!(&result, Err(PluginError::Trap(m)) if m.contains("cannot wait")),
        "{result:?}"
    );
    behaves(&host);
}

const SOCKET_MAPPER: &[u8] = include_bytes!("../../../plugins/dist/socket-mapper.wasm");

#[test]
fn a_component_importing_sockets_is_refused_naming_the_import() {
    let host = relaxed_host();
    let err = host.load("socket-mapper", SOCKET_MAPPER).unwrap_err();
    assert!(
        matches!(&err, PluginError::Invalid(m) if m.contains("`wasi:sockets/")),
        "{err:?}"
    );
    // The built-ins and the std-built guests import only what is allowed.
    for wasm in [MAPPER, HOSTILE, SCIM_FIXER] {
        host.load("ok", wasm).unwrap();
    }
}

#[test]
fn a_log_flood_is_cut_off_at_the_line_limit() {
    let host = relaxed_host();
    let err = hostile(&host, "log-flood").unwrap_err();
    let refused = 1000 - log::MAX_LINES_PER_CALL;
    assert_eq!(
        err,
        PluginError::Rejected(format!("{refused} log lines were refused"))
    );
}

#[test]
fn invalid_output_is_refused() {
    let host = relaxed_host();
    let err = hostile(&host, "invalid-output").unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidOutput(m) if m.contains("not a valid email address")),
        "{err:?}"
    );
}

#[test]
fn garbage_and_core_modules_are_not_components() {
    let host = relaxed_host();
    assert!(matches!(
        host.load("x", b"not wasm"),
        Err(PluginError::Invalid(_))
    ));
    // The smallest core module: magic and version 1.
    let err = host.load("x", b"\0asm\x01\0\0\0").unwrap_err();
    assert!(
        matches!(&err, PluginError::Invalid(m) if m.contains("core WebAssembly module")),
        "{err:?}"
    );
}

const SCIM_FIXER: &[u8] = include_bytes!("../../../plugins/dist/scim-fixer.wasm");

#[test]
fn a_scim_adapter_rewrites_a_request_and_bad_rewrites_are_refused() {
    let host = relaxed_host();
    let plugin = host.load("scim-fixer", SCIM_FIXER).unwrap();
    assert_eq!(plugin.world(), World::ScimAdapter);
    let request = |body: &str| types::ScimRequest {
        method: types::HttpMethod::Patch,
        path: "/Users/42".into(),
        body: Some(body.into()),
    };
    let fixed = host
        .normalize(
            &plugin,
            &no_config(),
            &request(r#"{"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#),
        )
        .result
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(fixed.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})
    );
    assert_eq!(fixed.path, "/Users/42");
    let err = host
        .normalize(&plugin, &no_config(), &request("not json"))
        .result
        .unwrap_err();
    assert!(matches!(err, PluginError::Rejected(_)), "{err:?}");
}

#[test]
fn a_rewritten_scim_path_must_stay_below_the_scim_base() {
    for path in [
        "Users",
        "//evil.example/Users",
        "/Users/../../admin",
        "/Users\n",
    ] {
        let request = types::ScimRequest {
            method: types::HttpMethod::Get,
            path: path.into(),
            body: None,
        };
        let err = super::calls::check_scim(&request).unwrap_err();
        assert!(
            matches!(err, PluginError::InvalidOutput(_)),
            "{path}: {err:?}"
        );
    }
}

#[test]
fn a_component_over_the_per_component_pool_limits_is_refused_at_load() {
    let host = relaxed_host();
    // Three core instances with a memory each (one per module is the pool's module limit):
    // more memories than one component may take from the pool.
    let wasm = wat::parse_str(
        r#"(component
            (core module $m (memory 1))
            (core instance $a (instantiate $m))
            (core instance $b (instantiate $m))
            (core instance $c (instantiate $m)))"#,
    )
    .unwrap();
    let err = host.load("greedy", &wasm).unwrap_err();
    assert!(
        matches!(&err, PluginError::Invalid(m) if m.contains("memor")),
        "{err:?}"
    );
}
