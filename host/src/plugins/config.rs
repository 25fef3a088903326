//! Host side of `gatehouse:plugin/config`: the plugin's own tenant-set configuration, read-only.

use super::bindings::gatehouse::plugin::config::{ConfigError, Host};
use super::runtime::HostState;

/// Longest configuration key a plugin may ask for.
pub const MAX_KEY_BYTES: usize = 256;

impl Host for HostState {
    fn get(&mut self, key: String) -> Result<Option<String>, ConfigError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(ConfigError::KeyTooLong);
        }
        Ok(self.config.get(&key).cloned())
    }

    fn keys(&mut self) -> Result<Vec<String>, ConfigError> {
        Ok(self.config.keys().cloned().collect())
    }
}
