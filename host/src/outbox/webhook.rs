//! Audit streams to an HTTPS webhook: one `POST` per batch with
//! `{"stream", "tenant_id", "events": [...], "checkpoints": [...]}`, signed the way Stripe
//! signs webhooks: `Gatehouse-Signature: t=UNIX_SECONDS,v1=HEX(HMAC-SHA256(key, "T.BODY"))`,
//! so a receiver checks the body and the time (to refuse a replayed old delivery). Any 2xx
//! answer is a delivery; anything else, or no answer within the client's time limit, is a
//! failure that is retried.

use openidconnect::http;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

use super::streams::{batch_json, Batch};
use crate::sso::outbound::Outbound;
use crate::types::Timestamp;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "Gatehouse-Signature";

/// `HEX(HMAC-SHA256(key, "{t}.{body}"))`.
pub fn signature(key: &[u8], t: i64, body: &[u8]) -> Result<String, String> {
    let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let key = PKey::hmac(key)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
        signer.update(t.to_string().as_bytes())?;
        signer.update(b".")?;
        signer.update(body)?;
        signer.sign_to_vec()
    };
    sign()
        .map(hex::encode)
        .map_err(|_| "the batch could not be signed".to_string())
}

pub async fn send(
    http: &Outbound,
    url: &str,
    key: Option<&[u8]>,
    batch: &Batch,
    now: Timestamp,
) -> Result<(), String> {
    let key = key.ok_or("the webhook has no HMAC key")?;
    let body = serde_json::to_vec(&batch_json(batch)).map_err(|e| e.to_string())?;
    let t = now.as_micros() / 1_000_000;
    let header = format!("t={t},v1={}", signature(key, t, &body)?);
    let request = http::Request::post(url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, header)
        .header("Gatehouse-Stream", batch.stream.id.to_string())
        .body(body)
        .map_err(|_| format!("{url} is not a usable URL"))?;
    post(http, request, url).await
}

/// Sends `request` (to `url`): any 2xx answer is a delivery; anything else, or no answer
/// within the client's time limit, is a failure to retry. Every HTTPS sender of the outbox
/// ends so.
pub async fn post(
    http: &Outbound,
    request: http::Request<Vec<u8>>,
    url: &str,
) -> Result<(), String> {
    let response = http.send(request).await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        // HMAC-SHA256("key", "1.{}"), computed independently (Python's hmac module).
        assert_eq!(
            super::signature(b"key", 1, b"{}").unwrap(),
            "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }
}
