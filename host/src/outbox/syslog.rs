//! Audit streams to syslog: one RFC 5424 message per event over TCP (RFC 6587 octet
//! counting, as RFC 5425 frames it over TLS), with TLS when asked (OpenSSL; the receiver's
//! certificate checked against the stream's CA, or the system's roots). The payload is the
//! event as JSON, or CEF for SIEMs that parse ArcSight's format. Syslog has no
//! acknowledgement, so a batch counts as delivered only when the receiver, after reading to
//! our end of stream, closes its side: a receiver that dies mid-batch fails it, and the
//! batch is sent again.

use std::net::SocketAddr;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::streams::Batch;
use crate::audit::stream::SyslogFormat;
use crate::audit::AuditEvent;
use crate::sso::outbound::is_public;

/// Time for the name lookup, the connection and the TLS handshake, each.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for writing a batch and for the receiver to close after it.
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Facility 13 ("log audit"); severity 6 (informational) or 4 (warning) for a failure.
const FACILITY: u8 = 13;

/// Where and how to send.
pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: bool,
    pub ca_pem: Option<&'a str>,
    pub format: SyslogFormat,
    pub allow_private: bool,
}

pub async fn send(t: &Target<'_>, batch: &Batch) -> Result<(), String> {
    let mut frames = Vec::new();
    for e in &batch.events {
        let message = message(e, t.format);
        frames.extend_from_slice(format!("{} {message}", message.len()).as_bytes());
    }
    let tcp = connect(t).await?;
    let at = format!("{}:{}", t.host, t.port);
    if t.tls {
        let mut connector =
            SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
        if let Some(pem) = t.ca_pem {
            let store = connector.cert_store_mut();
            for cert in
                openssl::x509::X509::stack_from_pem(pem.as_bytes()).map_err(|e| e.to_string())?
            {
                store.add_cert(cert).map_err(|e| e.to_string())?;
            }
        }
        let ssl = connector
            .build()
            .configure()
            .and_then(|c| c.into_ssl(t.host))
            .map_err(|e| e.to_string())?;
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
        timed(
            std::pin::Pin::new(&mut stream).connect(),
            CONNECT_TIMEOUT,
            &at,
            "TLS handshake",
        )
        .await?
        .map_err(|e| format!("{at}: the TLS handshake failed: {e}"))?;
        write_and_close(stream, &frames, &at).await
    } else {
        write_and_close(tcp, &frames, &at).await
    }
}

async fn connect(t: &Target<'_>) -> Result<TcpStream, String> {
    let at = format!("{}:{}", t.host, t.port);
    let addrs: Vec<SocketAddr> = timed(
        tokio::net::lookup_host((t.host, t.port)),
        CONNECT_TIMEOUT,
        &at,
        "name lookup",
    )
    .await?
    .map_err(|_| format!("{at} could not be resolved"))?
    .collect();
    if !t.allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(format!(
            "{at} is an internal address; receivers must be on public addresses"
        ));
    }
    let first = addrs.first().ok_or(format!("{at} has no address"))?;
    timed(
        TcpStream::connect(first),
        CONNECT_TIMEOUT,
        &at,
        "connection",
    )
    .await?
    .map_err(|e| format!("{at} refused the connection: {e}"))
}

async fn timed<F: std::future::Future>(
    f: F,
    limit: Duration,
    at: &str,
    what: &str,
) -> Result<F::Output, String> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| format!("{at}: the {what} timed out"))
}

/// Writes the frames, ends our side, and waits for the receiver to close its own.
async fn write_and_close<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    frames: &[u8],
    at: &str,
) -> Result<(), String> {
    let io = async {
        s.write_all(frames).await?;
        s.flush().await?;
        s.shutdown().await?;
        let mut sink = [0u8; 512];
        while s.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    timed(io, IO_TIMEOUT, at, "delivery")
        .await?
        .map_err(|e| format!("{at} broke off the delivery: {e}"))
}

/// One RFC 5424 message: `<PRI>1 TIMESTAMP HOST APP - MSGID - MSG`.
fn message(e: &AuditEvent, format: SyslogFormat) -> String {
    let severity = if e.outcome == "failure" { 4 } else { 6 };
    let pri = FACILITY * 8 + severity;
    let body = match format {
        SyslogFormat::Json => serde_json::to_string(e).unwrap_or_default(),
        SyslogFormat::Cef => cef(e),
    };
    format!(
        "<{pri}>1 {} gatehouse gatehouse - audit - {body}",
        e.occurred_at.to_rfc3339()
    )
}

/// The event in ArcSight's Common Event Format.
fn cef(e: &AuditEvent) -> String {
    let header = |s: &str| s.replace('\\', "\\\\").replace('|', "\\|");
    let value = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('=', "\\=")
            .replace('\r', "\\r")
            .replace('\n', "\\n")
    };
    let severity = if e.outcome == "failure" { 7 } else { 3 };
    let mut ext = vec![
        format!("rt={}", e.occurred_at.as_micros() / 1000),
        format!("externalId={}", value(&e.id)),
        format!("act={}", value(&e.action)),
        format!("outcome={}", value(&e.outcome)),
        format!("suid={}", value(&e.actor.id)),
        format!("suser={}", value(&e.actor.label)),
        format!("cs1Label=tenant cs1={}", value(&e.tenant_id)),
        format!(
            "cs2Label=target cs2={}",
            value(&format!("{}:{}", e.target.kind, e.target.id))
        ),
        format!("cn1Label=seq cn1={}", e.seq),
    ];
    if let Some(ip) = &e.ip {
        ext.push(format!("src={}", value(ip)));
    }
    if let Some(ua) = &e.user_agent {
        ext.push(format!("requestClientApplication={}", value(ua)));
    }
    if let Some(r) = &e.request_id {
        ext.push(format!("cs3Label=request cs3={}", value(r)));
    }
    format!(
        "CEF:0|Gatehouse|Gatehouse|{}|{}|{}|{severity}|{}",
        env!("CARGO_PKG_VERSION"),
        header(&e.action),
        header(&e.action),
        ext.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cef_escapes_its_separators() {
        let e: AuditEvent = serde_json::from_str(
            &serde_json::json!({
                "id": "e1", "tenant_id": "t", "seq": 3, "occurred_at": "2026-01-01T00:00:00Z",
                "actor": {"type": "user", "id": "u", "label": "a=b\\c"},
                "action": "x|y", "target": {"type": "doc", "id": "1"},
                "before": null, "after": null, "ip": "192.0.2.1", "user_agent": null,
                "request_id": null, "outcome": "failure", "prev_hash": "00", "hash": "11",
            })
            .to_string(),
        )
        .unwrap();
        let m = message(&e, SyslogFormat::Cef);
        assert!(
            m.starts_with("<108>1 2026-01-01T00:00:00Z gatehouse gatehouse - audit - CEF:0|"),
            "{m}"
        );
        assert!(m.contains("|x\\|y|x\\|y|7|"), "{m}");
        assert!(m.contains("suser=a\\=b\\\\c"), "{m}");
        assert!(m.contains("src=192.0.2.1"), "{m}");
    }
}
