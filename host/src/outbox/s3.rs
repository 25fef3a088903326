//! Audit streams to an S3-compatible bucket: one gzip JSON Lines object per batch (the
//! events, then the checkpoints that cover them as `{"checkpoint": …}` lines), named
//! `PREFIX/TENANT/YYYY/MM/DD/HHMMSSZ-FIRST-LAST.jsonl.gz` by the batch's first event's time
//! and its sequence range, so objects list in order and a repeat overwrites or duplicates
//! whole events only. Requests are signed with AWS Signature V4 by the `rusty-s3` crate
//! (a pre-signed PUT) and sent through the guarded outbound client.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use openidconnect::http;

use super::streams::Batch;
use crate::sso::outbound::Outbound;

/// How long a signed request stays valid (it is sent at once).
const SIGNATURE_TTL: Duration = Duration::from_secs(300);

/// The bucket and credentials.
pub struct Target<'a> {
    pub endpoint: &'a str,
    pub bucket: &'a str,
    pub region: &'a str,
    pub prefix: &'a str,
    pub access_key_id: &'a str,
}

/// The object name of a batch.
pub fn object_key(prefix: &str, batch: &Batch) -> String {
    let first = &batch.events[0];
    let stamp = first.occurred_at.to_rfc3339();
    // 2026-12-01T16:05:09.123Z -> 2026/12/01/160509Z
    let (date, time) = stamp.split_once('T').unwrap_or((&stamp, ""));
    let hms: String = time.chars().filter(char::is_ascii_digit).take(6).collect();
    format!(
        "{prefix}{}/{}/{hms}Z-{:012}-{:012}.jsonl.gz",
        batch.stream.tenant_id,
        date.replace('-', "/"),
        first.seq,
        batch.events.last().map_or(first.seq, |e| e.seq)
    )
}

pub async fn send(
    http: &Outbound,
    t: &Target<'_>,
    secret: Option<&[u8]>,
    batch: &Batch,
) -> Result<(), String> {
    let secret = secret.ok_or("the bucket's secret key is missing")?;
    let secret = std::str::from_utf8(secret).map_err(|_| "the bucket's secret key is not text")?;
    let endpoint = url::Url::parse(t.endpoint).map_err(|_| "the endpoint is not a URL")?;
    let bucket = rusty_s3::Bucket::new(
        endpoint,
        rusty_s3::UrlStyle::Path,
        t.bucket.to_string(),
        t.region.to_string(),
    )
    .map_err(|e| format!("the bucket cannot be addressed: {e}"))?;
    let credentials = rusty_s3::Credentials::new(t.access_key_id, secret);
    let key = object_key(t.prefix, batch);
    let url = rusty_s3::S3Action::sign(&bucket.put_object(Some(&credentials), &key), SIGNATURE_TTL);
    let body = gzip_lines(batch)?;
    let request = http::Request::put(url.as_str())
        .header("Content-Type", "application/gzip")
        .body(body)
        .map_err(|_| "the object request could not be built".to_string())?;
    let response = http.send(request).await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the bucket answered {} for {key}",
            response.status()
        ))
    }
}

fn gzip_lines(batch: &Batch) -> Result<Vec<u8>, String> {
    let mut lines: Vec<Vec<u8>> = batch.events.iter().map(json_line).collect();
    lines.extend(
        batch
            .checkpoints
            .iter()
            .map(|c| json_line(&serde_json::json!({ "checkpoint": c }))),
    );
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    for line in lines {
        gz.write_all(&line).map_err(|e| e.to_string())?;
    }
    gz.finish().map_err(|e| e.to_string())
}

/// A value as one JSON line.
fn json_line(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
