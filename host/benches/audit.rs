//! The audit trail at scale. `gatehouse audit generate` writes N events (env
//! `GATEHOUSE_BENCH_AUDIT_EVENTS`, default 10,000,000) into one tenant's chain, spread over
//! a year with a hundred checkpoints; then, from this process over HTTP as a client
//! would: search latency (p50, p95) for each filter and for free text (free text again once
//! the newest 100,000 events lack its words), a whole-chain export's
//! rows per second and the server's memory while it streams, ingest of the app's events in
//! batches, and the retention purge's rows per second (`gatehouse audit purge`). SQLite, then
//! PostgreSQL (`GATEHOUSE_BENCH_POSTGRES_URL`, `none` to skip; `GATEHOUSE_BENCH_SQLITE=none`
//! skips SQLite). Run with `cargo bench -p gatehouse --bench audit`. With
//! `GATEHOUSE_BENCH_KEEP=DIR` the data is kept, and a later run with the same `DIR` and
//! number of events measures again without generating them (each run adds 120,000 app
//! events, so its first searches too find the newest without the generated words, and its
//! purge drops the days that have passed the retention since).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

/// Queries per search case, one after another.
const QUERIES: usize = 40;
/// Events per batch the app posts.
const BATCH: usize = 100;
const ACTIONS: &[&str] = &[
    "document.viewed",
    "document.exported",
    "document.deleted",
    "document.shared",
    "record.created",
    "record.updated",
    "record.deleted",
    "report.downloaded",
];
const WORDS: &[&str] = &["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];

fn main() {
    common::on_each_database(bench);
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// A search case: its name and the query string of its i-th run.
type Case = (&'static str, Box<dyn Fn(usize) -> String>);

fn cases(days_ago: impl Fn(u64) -> String + 'static) -> Vec<Case> {
    let mut cases: Vec<Case> = vec![
        ("newest page, no filter", Box::new(|_| String::new())),
        (
            "time range (one day)",
            Box::new(move |i| {
                let d = 1 + (i as u64 * 7) % 360;
                format!("from={}&to={}", days_ago(d + 1), days_ago(d))
            }),
        ),
        (
            "actor id",
            Box::new(|i| format!("actor=user-{}", i * 37 % 1000)),
        ),
        (
            "actor email",
            Box::new(|i| format!("actor_email=user{}%40bench.example", i * 41 % 1000)),
        ),
        (
            "action, exact",
            Box::new(|i| format!("action={}", ACTIONS[i % ACTIONS.len()])),
        ),
        ("action, prefix", Box::new(|_| "action=document.*".into())),
        (
            "actions, several",
            Box::new(|_| "action=record.created,record.deleted".into()),
        ),
        (
            "target type and id",
            Box::new(|i| format!("target_type=document&target_id=doc-{}", i * 101 % 100_000)),
        ),
        (
            "target, a further one of an event's",
            Box::new(|i| format!("target_type=folder&target_id=folder-{}", i * 7 % 1000)),
        ),
        (
            "ip, exact",
            Box::new(|i| format!("ip=10.{}.0.{}", i % 200, i % 200)),
        ),
        (
            "ip, CIDR /16",
            Box::new(|i| format!("ip=10.{}.0.0/16", i % 200)),
        ),
        ("outcome=failure", Box::new(|_| "outcome=failure".into())),
        (
            "request id",
            Box::new(|i| format!("request_id=req-{}", i * 7919)),
        ),
    ];
    cases.extend(free_text_cases());
    cases
}

/// The free-text cases, measured again once the newest events lack their words.
fn free_text_cases() -> Vec<Case> {
    vec![
        (
            "free text, two words",
            Box::new(|i| format!("q={}%20{}", WORDS[i % WORDS.len()], i * 13 % 9973)),
        ),
        (
            "free text, common word",
            Box::new(|i| format!("q={}", WORDS[i % WORDS.len()])),
        ),
        ("free text, prefix", Box::new(|_| "q=fox*".into())),
    ]
}

async fn bench(backend: &'static str, database_url: Option<String>) {
    let events: u64 = std::env::var("GATEHOUSE_BENCH_AUDIT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let server = common::Server::start(database_url).await;
    let http = reqwest::Client::new();
    // A kept run (`GATEHOUSE_BENCH_KEEP`) that generated these events before reuses them.
    let marker = common::kept_dir().map(|dir| {
        dir.join(if backend == "SQLite" {
            "sqlite"
        } else {
            "postgres"
        })
        .join("audit-bench-events")
    });
    let kept = marker
        .as_ref()
        .and_then(|m| std::fs::read_to_string(m).ok())
        .is_some_and(|n| n.trim() == events.to_string());
    let tenant = if kept {
        let r = http
            .get(format!("{}/operator/v1/tenants/big", server.base))
            .bearer_auth(&server.operator_token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        r.json::<serde_json::Value>().await.unwrap()
    } else {
        server.tenant(&http, "big").await
    };
    let tenant_id = tenant["id"].as_str().unwrap().to_string();
    let token = server.token(&http, &tenant_id, &["admin"]).await;
    if kept {
        println!("{backend}: the {events} events a kept earlier run generated are reused");
    } else {
        // A hundred checkpoints over the year, as hourly housekeeping would sign thousands.
        let checkpoint_every = (events / 100).max(1000).to_string();
        let began = Instant::now();
        let said = server.command(&[
            "audit",
            "generate",
            "--tenant",
            &tenant_id,
            "--events",
            &events.to_string(),
            "--days",
            "365",
            "--checkpoint-every",
            &checkpoint_every,
        ]);
        println!(
            "{backend}: {} (the whole command: {:.0} s)",
            said.trim(),
            began.elapsed().as_secs_f64()
        );
        if let Some(marker) = &marker {
            std::fs::write(marker, events.to_string()).unwrap();
        }
    }

    let base = server.base.clone();
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{base}/api/v1/audit-events?{query}");
        let token = token.clone();
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let days_ago = move |d: u64| {
        (now - time::Duration::days(d as i64))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
            .replace('+', "%2B")
    };
    searches(backend, "", cases(days_ago), &get).await;
    // The next page of a filtered search, from its cursor.
    let mut times = Vec::new();
    for i in 0..QUERIES {
        let first = get(format!("action={}&limit=50", ACTIONS[i % ACTIONS.len()])).await;
        let cursor = first["next_cursor"].as_str().unwrap().to_string();
        let started = Instant::now();
        get(format!(
            "action={}&limit=50&cursor={cursor}",
            ACTIONS[i % ACTIONS.len()]
        ))
        .await;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "{backend}: search next page (cursor): p50 {:.1} ms, p95 {:.1} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );

    // Free text again once the newest 100,000 events are app events without its words: the
    // windows of newest events a search looks in first hold few matches or none.
    let url = format!("{}/api/v1/audit-events/batch", server.base);
    for i in 0..1000 {
        post_batch(&http, &url, &token, i).await;
    }
    searches(
        backend,
        " (newest 100,000 events without the words)",
        free_text_cases(),
        &get,
    )
    .await;

    export(backend, &server, &http, &token, "jsonl").await;
    export(backend, &server, &http, &token, "csv").await;
    ingest(backend, &server, &http, &token).await;

    // Retention: keep 355 days, so the purge removes the oldest 10 days up to the checkpoint
    // before them: about 2% of the chain.
    let r = http
        .put(format!("{}/api/v1/audit-retention", server.base))
        .bearer_auth(&token)
        .json(&json!({ "days": 355 }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // The purge a first run of housekeeping would do, from the CLI (no request limit).
    let said = server.command(&["audit", "purge"]);
    println!("{backend}: retention purge: {}", said.trim());
}

/// Each case's page of 50, [`QUERIES`] times, with its latency.
async fn searches<F, R>(backend: &str, suffix: &str, cases: Vec<Case>, get: &F)
where
    F: Fn(String) -> R,
    R: std::future::Future<Output = serde_json::Value>,
{
    for (name, query) in cases {
        let mut times = Vec::with_capacity(QUERIES);
        let mut found = 0;
        for i in 0..QUERIES {
            let started = Instant::now();
            let page = get(format!("limit=50&{}", query(i))).await;
            times.push(started.elapsed());
            found += page["events"].as_array().map_or(0, Vec::len);
        }
        times.sort();
        println!(
            "{backend}: search {name}{suffix}: p50 {:.1} ms, p95 {:.1} ms ({QUERIES} queries, {:.0} events per page)",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            found as f64 / QUERIES as f64
        );
    }
}

/// The whole chain as JSON Lines (written by the database) or CSV (formatted by Gatehouse),
/// counted as it arrives, with the server's memory sampled.
async fn export(
    backend: &str,
    server: &common::Server,
    http: &reqwest::Client,
    token: &str,
    format: &str,
) {
    let before = server.memory_kib();
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let pid_memory = {
        let peak = peak.clone();
        let sampling = sampling.clone();
        let sample = server.memory_sampler();
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some((rss, _)) = sample() {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let started = Instant::now();
    let response = http
        .get(format!(
            "{}/api/v1/audit-events/export?format={format}",
            server.base
        ))
        .bearer_auth(token)
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let mut lines = 0u64;
    let mut bytes = 0u64;
    let mut response = response;
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    pid_memory.await.unwrap();
    // The header and end lines (CSV: the header) are not events.
    let rows = lines.saturating_sub(if format == "jsonl" { 2 } else { 1 });
    println!(
        "{backend}: export ({format}, whole chain): {rows} rows, {:.0} MB in {secs:.1} s = {:.0} rows/s; \
         server RSS before {} MiB, peak while streaming {} MiB",
        bytes as f64 / 1e6,
        rows as f64 / secs,
        before.map_or(0, |(rss, _)| rss / 1024),
        peak.load(Ordering::Relaxed) / 1024
    );
}

/// The app's events in batches of 100 from 4 workers.
async fn ingest(backend: &str, server: &common::Server, http: &reqwest::Client, token: &str) {
    let url = Arc::new(format!("{}/api/v1/audit-events/batch", server.base));
    let http = http.clone();
    let token = Arc::new(token.to_string());
    let rate = common::measure(
        &format!("{backend}: ingest, batches of {BATCH}"),
        common::Load {
            warmup: 10,
            runs: 200,
            concurrency: 4,
        },
        move |i| {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            async move { post_batch(&http, &url, &token, i).await }
        },
    )
    .await;
    println!("{backend}: ingest: {:.0} events/s", rate * BATCH as f64);
}

/// The `i`-th batch of 100 app events (`BATCH`), posted: exports of documents, whose words
/// are none of the generated notes'.
async fn post_batch(http: &reqwest::Client, url: &str, token: &str, i: usize) {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let events: Vec<serde_json::Value> = (0..BATCH)
        .map(|j| {
            json!({
                "action": "document.exported",
                "occurred_at": now,
                "actor": { "type": "user", "id": format!("app-user-{}", j % 50) },
                "targets": [{ "type": "document", "id": format!("doc-{i}-{j}") }],
                "context": { "location": "198.51.100.7" },
                "metadata": { "rows": j },
            })
        })
        .collect();
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}
