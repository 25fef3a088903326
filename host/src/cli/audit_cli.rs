//! `gatehouse audit verify`: the database's chains and checkpoints, or one export file
//! offline. Both print one line per chain (or file) and the problems found, and exit 1 on
//! any. `gatehouse audit purge`: the retention purge, run now.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::audit::chain::{self, Expectations};
use crate::audit::{checkpoint, verify_export};
use crate::config::Config;
use crate::secrets::{load_master_key, Secrets};
use crate::store::Store;
use crate::types::Clock;

/// Verifies the chains in the configured database against the trusted checkpoint keys (a
/// key is trusted when its private half opens with the master key).
pub(super) async fn verify_database(
    config: &Config,
    only: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let secrets = Secrets::new(load_master_key(config)?);
    let store = Store::connect(&config.database_url(), 2).await?;
    let keys = checkpoint::trusted_keys(&store, &secrets)
        .await
        .map_err(|e| anyhow::anyhow!("reading the checkpoint keys: {e:?}"))?;
    let expect = Expectations {
        keys: &keys,
        now: Clock::system().now(),
        interval_secs: i64::try_from(config.audit.checkpoint_interval_secs).unwrap_or(3600),
        min_retention_days: i64::from(config.audit.min_retention_days),
    };
    let reports = chain::verify(&store, &expect, only).await;
    store.close().await;
    let reports = reports?;
    let mut intact = true;
    for r in &reports {
        let what = format!(
            "{} ({} events, {} checkpoints)",
            r.chain, r.events, r.checkpoints
        );
        if r.is_intact() {
            writeln!(out, "ok      {what}")?;
        } else {
            intact = false;
            writeln!(out, "FAILED  {what}")?;
            for p in &r.problems {
                writeln!(out, "          - {p}")?;
            }
        }
        for w in &r.warnings {
            writeln!(out, "          note: {w}")?;
        }
    }
    if reports.is_empty() {
        writeln!(out, "no audit chains found")?;
    }
    if intact {
        writeln!(
            out,
            "audit trail intact: {} chain(s) verified",
            reports.len()
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(out, "audit trail TAMPERED: see the failures above")?;
        Ok(ExitCode::FAILURE)
    }
}

/// Runs the retention purge over every chain and reports the rows and rate.
pub(super) async fn purge(config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url(), 2).await?;
    let started = std::time::Instant::now();
    let purged = crate::audit::retention::purge_due(&store, &Clock::system(), &config.audit).await;
    store.close().await;
    let purged = purged.map_err(|e| anyhow::anyhow!("the purge failed: {e:?}"))?;
    let secs = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "purged {purged} event(s) in {secs:.1} s ({:.0} rows/s)",
        purged as f64 / secs.max(0.001)
    )?;
    Ok(())
}

/// Verifies one JSON Lines export without the database.
pub(super) fn verify_export(
    file: &Path,
    keys: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let pinned = match keys {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the key set {}", path.display()))?;
            let set: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            Some(checkpoint::keys_from_jwks(&set).map_err(anyhow::Error::msg)?)
        }
    };
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let report = verify_export::verify(reader, pinned).map_err(anyhow::Error::msg)?;
    let what = format!(
        "{} ({} events, {} authenticated by {} checkpoints; keys {})",
        report.chain,
        report.events,
        report.authenticated,
        report.checkpoints,
        report.key_ids.join(", ")
    );
    if report.problems.is_empty() {
        writeln!(out, "ok      {what}")?;
        if keys.is_none() {
            writeln!(
                out,
                "          note: checked against the keys in the file; pass --keys with the \
                 instance's /.well-known/gatehouse-audit-keys to rule out a re-signed file"
            )?;
        }
        if report.authenticated < report.events {
            writeln!(
                out,
                "          note: {} event(s) are not linked to a checkpoint (newer than the \
                 newest checkpoint, or cut off by the export's filters): only their own hashes \
                 were checked",
                report.events - report.authenticated
            )?;
        }
        writeln!(out, "export intact")?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(out, "FAILED  {what}")?;
        for p in &report.problems {
            writeln!(out, "          - {p}")?;
        }
        writeln!(out, "export TAMPERED: see the failures above")?;
        Ok(ExitCode::FAILURE)
    }
}
