//! Plugin host figures: cold compile time per built-in component, and the latency of one
//! attribute-mapper call in a fresh instance (new store, instantiate from `InstancePre`, call,
//! drop), as p50/p99 over many calls. Run with `cargo bench -p gatehouse --bench plugins`.

use std::time::{Duration, Instant};

use gatehouse::plugins::{types, Limits, PluginConfig, PluginHost};

const BUILTINS: &[(&str, &[u8])] = &[(
    "default-attribute-mapper",
    include_bytes!("../../plugins/dist/default-attribute-mapper.wasm"),
)];
const CALLS: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() {
    let host = PluginHost::new(Limits::default()).expect("engine");
    for (name, wasm) in BUILTINS {
        let started = Instant::now();
        host.load(name, wasm).expect("compile");
        println!(
            "cold compile {name:<28} {:>8.2} ms ({} bytes)",
            started.elapsed().as_secs_f64() * 1e3,
            wasm.len()
        );
    }
    let plugin = host
        .load("default-attribute-mapper", BUILTINS[0].1)
        .expect("compile");
    let identity = types::Identity {
        subject: "00u1abcd".into(),
        email: Some("Ada.Lovelace@Example.com".into()),
        email_verified: true,
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        display_name: None,
        groups: vec!["engineering".into(), "admins".into()],
        attributes: vec![types::Attribute {
            name: "locale".into(),
            values: vec!["en-GB".into()],
        }],
    };
    for _ in 0..1_000 {
        host.map_profile(&plugin, &PluginConfig::default(), &identity)
            .result
            .expect("warm-up");
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        let profile = host
            .map_profile(&plugin, &PluginConfig::default(), &identity)
            .result
            .expect("call");
        samples.push(started.elapsed());
        std::hint::black_box(profile);
    }
    samples.sort();
    println!(
        "attribute mapper, fresh instance per call ({CALLS} calls): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples[samples.len() - 1].as_secs_f64() * 1e6,
    );
}
