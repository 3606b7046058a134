//! Parsers and checks for command-line values shared by every command.

use std::time::Duration;

/// Parses a duration such as `10s`, `500ms` or `2m` (clap value parser).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration such as 10s or 500ms: {e}"))
}
