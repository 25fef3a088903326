//! TOTP codes (RFC 6238) with the parameters every authenticator app reads: HMAC-SHA-1,
//! 6 digits, 30-second steps, a 160-bit secret. The HOTP arithmetic is `totp-rs`'s; the
//! acceptance rule is ours: a code passes for the current step or the one before (t and
//! t−1, never a future step) and only for a step later than the last one accepted, so a code
//! works once. Both candidate codes are always computed and compared in constant time.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::types::Timestamp;

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u8 = 6;
/// Bytes of a secret (160 bits, the size RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// A fresh random secret.
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn totp(secret: &[u8], account: &str, issuer: &str) -> Result<Totp, Error> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(0)
        .with_step_duration(STEP_SECS as u64)
        .with_secret(secret.to_vec())
        .with_account_name(account.replace(':', " "))
        .with_issuer(Some(issuer.replace(':', " ")))
        .build()
        .map_err(|e| Error::Internal(anyhow::anyhow!("building a TOTP: {e}")))
}

/// The time step `at` falls in.
pub fn step_of(at: Timestamp) -> i64 {
    at.as_micros().div_euclid(STEP_SECS * 1_000_000)
}

/// The code for `step`.
pub fn code_at_step(secret: &[u8], step: i64) -> Result<String, Error> {
    let t = totp(secret, "", "Gatehouse")?;
    let time = u64::try_from(step.max(0) * STEP_SECS).unwrap_or(0);
    Ok(t.generate(time).to_string())
}

/// The step `code` is valid for at `now` (t or t−1), if it is later than `last_step`.
/// Anything but six ASCII digits fails without computing a code.
pub fn matching_step(
    secret: &[u8],
    code: &str,
    now: Timestamp,
    last_step: Option<i64>,
) -> Result<Option<i64>, Error> {
    let code = code.trim();
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let current = step_of(now);
    let mut found = None;
    // The older step first, so that when both match (they cannot, but a code could repeat)
    // the later one wins.
    for step in [current - 1, current] {
        let expected = code_at_step(secret, step)?;
        let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if same && last_step.is_none_or(|last| step > last) {
            found = Some(step);
        }
    }
    Ok(found)
}

/// The secret in base32 (no padding), as people type it into an app.
pub fn secret_base32(secret: &[u8]) -> Result<String, Error> {
    Ok(totp(secret, "", "Gatehouse")?.secret().to_base32())
}

/// The `otpauth://totp/…` URI an app scans: `issuer` is the organisation's name, `account`
/// the user's email.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> Result<String, Error> {
    totp(secret, account, issuer)?
        .to_url()
        .map_err(|e| Error::Internal(anyhow::anyhow!("rendering an otpauth URI: {e}")))
}

/// The URI as a QR code, an SVG document.
pub fn qr_svg(uri: &str) -> Result<String, Error> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .map_err(|e| Error::Internal(anyhow::anyhow!("rendering a QR code: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the 20-byte ASCII secret, 8-digit codes.
    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let secret = b"12345678901234567890";
        let t = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(8)
            .with_step_duration(30)
            .with_secret(secret.to_vec())
            .build()
            .unwrap();
        for (time, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(t.generate(time).to_string(), code, "T = {time}");
        }
        // Our 6-digit codes are the last six digits of the same values.
        assert_eq!(code_at_step(secret, 59 / 30).unwrap(), "287082");
        assert_eq!(code_at_step(secret, 1_111_111_109 / 30).unwrap(), "081804");
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    #[test]
    fn accepts_t_and_t_minus_one_only_and_each_step_once() {
        let secret = b"12345678901234567890";
        let now = at(1_111_111_111);
        let step = step_of(now);
        let current = code_at_step(secret, step).unwrap();
        let previous = code_at_step(secret, step - 1).unwrap();
        let next = code_at_step(secret, step + 1).unwrap();
        let older = code_at_step(secret, step - 2).unwrap();
        assert_eq!(
            matching_step(secret, &current, now, None).unwrap(),
            Some(step)
        );
        assert_eq!(
            matching_step(secret, &previous, now, None).unwrap(),
            Some(step - 1)
        );
        assert_eq!(matching_step(secret, &next, now, None).unwrap(), None);
        assert_eq!(matching_step(secret, &older, now, None).unwrap(), None);
        // Once a step is used, neither it nor an earlier one passes again.
        assert_eq!(
            matching_step(secret, &current, now, Some(step)).unwrap(),
            None
        );
        assert_eq!(
            matching_step(secret, &previous, now, Some(step - 1)).unwrap(),
            None
        );
        assert_eq!(
            matching_step(secret, &current, now, Some(step - 1)).unwrap(),
            Some(step)
        );
        for junk in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(matching_step(secret, junk, now, None).unwrap(), None);
        }
    }

    #[test]
    fn the_uri_and_qr_code_carry_the_secret_for_apps() {
        let secret = new_secret();
        assert_eq!(secret.len(), 20);
        let b32 = secret_base32(&secret).unwrap();
        assert_eq!(b32.len(), 32, "160 bits is 32 base32 characters");
        let uri = otpauth_uri(&secret, "Acme: Inc", "ana@acme.example").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={b32}")), "{uri}");
        assert!(uri.contains("issuer=Acme"), "{uri}");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}
