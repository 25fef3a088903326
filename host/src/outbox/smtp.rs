//! Email by SMTP, with the `lettre` crate (pooled connections, STARTTLS or TLS by the URL,
//! rustls with the webpki roots). The message id is the outbox row's id, so a receiver can
//! drop a repeat of an at-least-once delivery. Errors are the relay's words, kept for the
//! destination's health; they never carry the message.

use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::Email;
use crate::config::SmtpConfig;
use crate::store::outbox::OutboxRow;

/// A connection pool to the relay and the `From` address.
pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Sender {
    /// The sender of the configured relay; `None` when none is configured. A URL or `From`
    /// that does not parse is reported once and sends nothing (the rows wait).
    pub fn from_config(config: &SmtpConfig) -> Option<Self> {
        let url = config.url.as_ref()?;
        let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret()) {
            Ok(builder) => builder.build(),
            Err(e) => {
                tracing::error!(error = %e, "smtp.url is not a usable SMTP URL; no email is sent");
                return None;
            }
        };
        let from = match config.from.parse() {
            Ok(from) => from,
            Err(e) => {
                tracing::error!(error = %e, "smtp.from is not an email address; no email is sent");
                return None;
            }
        };
        Some(Self { transport, from })
    }

    /// Sends one email; the error is for the health record.
    pub async fn send(&self, row: &OutboxRow, email: &Email) -> Result<(), String> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| format!("the recipient is not an email address: {e}"))?;
        let host = self.from.email.domain().to_string();
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .message_id(Some(format!("<{}@{host}>", row.id)))
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| format!("the message could not be built: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the relay refused or could not be reached: {e}"))
    }
}
