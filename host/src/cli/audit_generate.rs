//! `gatehouse audit generate`: fills a tenant's chain with synthetic events for benchmarks
//! and trials (never on a tenant whose trail matters: the events are made up, though hashed
//! and chained like real ones). Events are spread evenly over the past `days` days, oldest
//! first, with varied actors, actions, targets (one event in ten names a second, a folder,
//! as an app's event may), addresses, request ids and outcomes, in
//! transactions of [`BATCH`]; a checkpoint is signed, dated with the event time, every
//! `checkpoint_every` events, as hourly housekeeping would have.

use std::io::Write;
use std::time::Instant;

use serde_json::json;

use crate::audit::{self, checkpoint, Chain, Draft, RequestContext};
use crate::config::Config;
use crate::secrets::{load_master_key, Secrets};
use crate::store::Store;
use crate::tenancy;
use crate::types::{Clock, Timestamp};

/// Events per transaction.
const BATCH: u64 = 5000;
const ACTIONS: &[&str] = &[
    "document.viewed",
    "document.exported",
    "document.deleted",
    "document.shared",
    "record.created",
    "record.updated",
    "record.deleted",
    "report.downloaded",
    "settings.changed",
    "invoice.paid",
    "login.succeeded",
    "login.failed",
    "access.denied",
    "user.invited",
    "api_token.created",
    "export.upload_failed",
];
const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
];

pub(super) async fn generate(
    config: &Config,
    tenant: &str,
    events: u64,
    days: u64,
    checkpoint_every: u64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let secrets = Secrets::new(load_master_key(config)?);
    let store = Store::connect(&config.database_url(), 2).await?;
    let tenant = tenancy::resolve(&store, tenant)
        .await
        .map_err(|e| anyhow::anyhow!("tenant {tenant}: {e}"))?
        .id;
    let now = Clock::system().now();
    let key = checkpoint::current_key(&store, &secrets, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let span_us = i64::try_from(days * 86_400 * 1_000_000)?;
    let step = (span_us / i64::try_from(events.max(1))?).max(1);
    let start = now.as_micros() - span_us;
    let began = Instant::now();
    let mut done = 0u64;
    while done < events {
        // Up to the next checkpoint, at most one batch.
        let end = (done + BATCH).min(events);
        let end = match done.checked_div(checkpoint_every) {
            Some(signed) => end.min((signed + 1) * checkpoint_every),
            None => end,
        };
        let mut batch = Vec::new();
        for i in done..end {
            batch.push(synthetic(tenant, start, step, i)?);
        }
        let last_at = batch.last().map(|(at, _, _)| *at);
        let mut tx = store.begin().await?;
        audit::append_all(&mut tx, batch)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tx.commit().await?;
        if let (true, Some(at)) = (checkpoint_every > 0 && end % checkpoint_every == 0, last_at) {
            checkpoint::sign(&store, (&key.0, &key.1), &tenant.to_string(), at)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        done = end;
    }
    // A bulk load: give the query planner statistics for the new rows at once.
    store.optimize().await?;
    let secs = began.elapsed().as_secs_f64();
    writeln!(
        out,
        "generated {events} events in {secs:.1} s ({:.0} events/s)",
        events as f64 / secs.max(1e-9)
    )?;
    store.close().await;
    Ok(())
}

/// The `i`-th synthetic event.
fn synthetic(
    tenant: crate::types::TenantId,
    start: i64,
    step: i64,
    i: u64,
) -> anyhow::Result<(Timestamp, RequestContext, Draft)> {
    let n = usize::try_from(i)?;
    let at = Timestamp::from_micros(start + i64::try_from(i)? * step);
    let ip = if n % 5 == 0 {
        format!("2001:db8::{:x}", n % 65_000)
    } else {
        format!("10.{}.{}.{}", n % 200, (n / 200) % 250, n % 250)
    };
    let ctx = RequestContext {
        request_id: Some(format!("req-{i}")),
        ip: Some(ip),
        user_agent: Some("bench/1.0".into()),
    };
    let user = n % 1000;
    // One event in ten also names the document's folder: a further target.
    let doc = format!("doc-{}", n % 100_000);
    let folder =
        (n % 10 == 0).then(|| ("folder".to_string(), format!("folder-{}", (n / 10) % 1000)));
    let mut targets = vec![json!({ "type": "document", "id": doc })];
    if let Some((kind, id)) = &folder {
        targets.push(json!({ "type": kind, "id": id }));
    }
    let draft = Draft {
        chain: Chain::Tenant(tenant),
        actor_type: "user".into(),
        actor_id: format!("user-{user}"),
        actor_label: format!("user{user}@bench.example"),
        action: ACTIONS[n % ACTIONS.len()].into(),
        target_type: "document".into(),
        target_id: doc.clone(),
        before: None,
        after: Some(json!({
            "source": { "kind": "app", "token": "generated" },
            "targets": targets,
            "note": format!("{} {} {}", WORDS[n % WORDS.len()], WORDS[(n / 7) % WORDS.len()], n % 9973),
            "size": n % 4096,
        })),
        more_targets: folder.into_iter().collect(),
    };
    Ok((at, ctx, draft))
}
