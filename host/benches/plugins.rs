//! Plugin host figures: cold compile time per built-in, load time from the compiled cache,
//! instantiate time alone, and the three-stage sign-in pipeline (idp-adapter →
//! attribute-mapper → role-mapper) with a fresh instance per stage, as p50/p99 over many
//! runs. Run with `cargo bench -p gatehouse --bench plugins`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::plugins::{types, CacheUse, Limits, PluginConfig, PluginHost};

const BUILTINS: &[(&str, &[u8])] = &[
    (
        "generic-adapter",
        include_bytes!("../../plugins/dist/generic-adapter.wasm"),
    ),
    (
        "okta-adapter",
        include_bytes!("../../plugins/dist/okta-adapter.wasm"),
    ),
    (
        "entra-adapter",
        include_bytes!("../../plugins/dist/entra-adapter.wasm"),
    ),
    (
        "google-adapter",
        include_bytes!("../../plugins/dist/google-adapter.wasm"),
    ),
    (
        "default-attribute-mapper",
        include_bytes!("../../plugins/dist/default-attribute-mapper.wasm"),
    ),
    (
        "default-role-mapper",
        include_bytes!("../../plugins/dist/default-role-mapper.wasm"),
    ),
];
const RUNS: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label} ({} runs): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        samples.len(),
        micros(percentile(&samples, 0.50)),
        micros(percentile(&samples, 0.99)),
        micros(samples[samples.len() - 1]),
    );
}

fn wasm(name: &str) -> &'static [u8] {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("built-in")
        .1
}

fn main() {
    let cache = tempfile::tempdir().expect("cache dir");
    let host = PluginHost::with_cache(Limits::default(), Some(cache.path().to_path_buf()))
        .expect("engine");
    for (name, wasm) in BUILTINS {
        let started = Instant::now();
        let (_, used) = host.load_traced(name, wasm).expect("compile");
        assert_eq!(used, CacheUse::Compiled);
        println!(
            "cold compile {name:<26} {:>7.1} ms ({} bytes)",
            started.elapsed().as_secs_f64() * 1e3,
            wasm.len()
        );
    }
    // A restarted node: a new engine, the same cache directory.
    let host = PluginHost::with_cache(Limits::default(), Some(cache.path().to_path_buf()))
        .expect("engine");
    for (name, wasm) in BUILTINS {
        let started = Instant::now();
        let (_, used) = host.load_traced(name, wasm).expect("load");
        assert_eq!(used, CacheUse::Hit);
        println!(
            "load from compiled cache {name:<26} {:>6.2} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
    }

    let adapter = host
        .load("generic-adapter", wasm("generic-adapter"))
        .unwrap();
    let mapper = host
        .load("default-attribute-mapper", wasm("default-attribute-mapper"))
        .unwrap();
    let roles = host
        .load("default-role-mapper", wasm("default-role-mapper"))
        .unwrap();

    let attr = |name: &str, values: &[&str]| types::Attribute {
        name: name.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    let raw = types::RawIdentity {
        protocol: types::Protocol::Saml,
        issuer: "https://idp.example.com/saml".into(),
        subject: "ada@example.com".into(),
        attributes: vec![
            attr("email", &["Ada.Lovelace@Example.com"]),
            attr("givenName", &["Ada"]),
            attr("sn", &["Lovelace"]),
            attr("groups", &["engineering", "admins"]),
            attr("space_name", &["Berlin, London"]),
            attr("space_role", &["editor"]),
            attr("locale", &["en-GB"]),
        ],
    };
    let scope = |name: &str| types::ScopeRef {
        kind: "space".into(),
        name: name.into(),
    };
    let catalogue = types::Catalogue {
        roles: vec!["admin".into(), "editor".into(), "member".into()],
        default_role: "member".into(),
        scopes: vec![scope("Berlin"), scope("London"), scope("Paris")],
        group_mappings: vec![types::GroupMapping {
            group_id: "admins".into(),
            role: "admin".into(),
            scope: None,
        }],
    };
    let config: PluginConfig = Arc::new(BTreeMap::new());

    let pipeline = || {
        let identity = host.adapt(&adapter, &config, &raw).result.expect("adapt");
        let profile = host
            .map_profile(&mapper, &config, &identity)
            .result
            .expect("profile");
        let assigned = host
            .map_roles(&roles, &config, &identity, &catalogue)
            .result
            .expect("roles");
        std::hint::black_box((profile, assigned));
    };
    for _ in 0..2_000 {
        pipeline();
    }

    let mut instantiate = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        host.instantiate_only(&roles).expect("instantiate");
        instantiate.push(started.elapsed());
    }
    summary("instantiate alone (role mapper, fresh store)", instantiate);

    let mut single = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let identity = host.adapt(&adapter, &config, &raw).result.expect("adapt");
        single.push(started.elapsed());
        std::hint::black_box(identity);
    }
    summary("one stage (generic adapter, fresh instance)", single);

    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        pipeline();
        runs.push(started.elapsed());
    }
    summary("3-stage pipeline, fresh instance per stage", runs);
}
