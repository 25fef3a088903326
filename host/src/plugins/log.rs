//! Host side of `gatehouse:plugin/log`: bounded, per-call structured log lines, kept for the
//! dry-run output and forwarded to tracing. A plugin cannot flood the host's log.

use super::bindings::gatehouse::plugin::log::{Field, Level, LogError};

/// Most lines one call may write.
pub const MAX_LINES_PER_CALL: usize = 64;
/// Largest line (message plus fields), in bytes.
pub const MAX_LINE_BYTES: usize = 4096;

/// One line a plugin logged.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = PluginLogLine)]
pub struct LogLine {
    #[schema(value_type = String)]
    pub level: &'static str,
    pub message: String,
    /// `[key, value]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub fields: Vec<(String, String)>,
}

/// Keeps one line `plugin` logged in `logs`, within the per-call limits.
pub fn emit(
    logs: &mut Vec<LogLine>,
    plugin: &str,
    level: Level,
    message: String,
    fields: Vec<Field>,
) -> Result<(), LogError> {
    if logs.len() >= MAX_LINES_PER_CALL {
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
    tracing::debug!(plugin = %plugin, level, message = %message, "plugin log");
    logs.push(LogLine {
        level,
        message,
        fields: fields.into_iter().map(|f| (f.key, f.value)).collect(),
    });
    Ok(())
}
