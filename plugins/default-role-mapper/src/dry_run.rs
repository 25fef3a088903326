//! The log lines that explain a mapping in an admin's dry-run, kept within the host's budget
//! of lines per call: past it the host refuses lines, so the last ones are spent on saying
//! how many were left out and on a summary.

use crate::gatehouse::plugin::log::{self, Field, Level};

/// Most lines the host accepts per call (`MAX_LINES_PER_CALL` on the host side).
const HOST_MAX_LINES: usize = 64;
/// Lines kept for the omission notice and the summary.
const RESERVED: usize = 2;
/// Longest field value logged, in bytes; longer values are cut so a line from a hostile IdP's
/// huge attribute still fits the host's line size limit.
const MAX_VALUE_BYTES: usize = 256;

/// Counts lines written and left out in one call.
#[derive(Debug, Default)]
pub struct DryRun {
    /// Lines handed to the host so far.
    written: usize,
    /// Lines not written because the budget was spent.
    omitted: usize,
}

impl DryRun {
    /// Writes one line, or counts it as omitted once the budget is spent.
    pub fn note(&mut self, level: Level, message: &str, fields: &[(&str, &str)]) {
        if self.written + RESERVED < HOST_MAX_LINES {
            emit(level, message, fields);
            self.written += 1;
        } else {
            self.omitted += 1;
        }
    }

    /// Writes the omission notice, if any, and a summary of the result.
    pub fn finish(self, from_groups: usize, from_spaces: usize) {
        if self.omitted > 0 {
            let omitted = self.omitted.to_string();
            emit(
                Level::Info,
                "further lines omitted",
                &[("lines", omitted.as_str())],
            );
        }
        let (g, s) = (from_groups.to_string(), from_spaces.to_string());
        emit(
            Level::Debug,
            "role assignments decided",
            &[("from_group_table", &g), ("from_space_attributes", &s)],
        );
    }
}

fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<Field> = fields
        .iter()
        .map(|(key, value)| Field {
            key: key.to_string(),
            value: clip(value).to_string(),
        })
        .collect();
    // Logging is best effort: a refused line must not change the mapping.
    let _ = log::emit(level, message, &fields);
}

/// `text` cut to at most [`MAX_VALUE_BYTES`], on a character boundary.
fn clip(text: &str) -> &str {
    let mut end = text.len().min(MAX_VALUE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
