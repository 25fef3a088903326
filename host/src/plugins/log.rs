//! Host side of `gatehouse:plugin/log`: bounded, per-call structured log lines, kept for the
//! dry-run output and forwarded to tracing. A plugin cannot flood the host's log.

use super::bindings::gatehouse::plugin::log::{Field, Host, Level, LogError};
use super::runtime::HostState;

/// Most lines one call may write.
pub const MAX_LINES_PER_CALL: usize = 64;
/// Largest line (message plus fields), in bytes.
pub const MAX_LINE_BYTES: usize = 4096;

/// One line a plugin logged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl Host for HostState {
    fn emit(&mut self, level: Level, message: String, fields: Vec<Field>) -> Result<(), LogError> {
        if self.logs.len() >= MAX_LINES_PER_CALL {
            return Err(LogError::RateLimited);
        }
        let size = message.len()
            + fields
                .iter()
                .map(|f| f.key.len() + f.value.len())
                .sum::<usize>();
        if size > MAX_LINE_BYTES {
            return Err(LogError::TooLarge);
        }
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        tracing::debug!(plugin = %self.plugin, level, message = %message, "plugin log");
        self.logs.push(LogLine {
            level,
            message,
            fields: fields.into_iter().map(|f| (f.key, f.value)).collect(),
        });
        Ok(())
    }
}
