//! `codex-claude-proxy status`: account, token expiry, backend reachability and usage limits.

use std::process::ExitCode;

use crate::config::Config;

/// Prints the status report.
pub fn run(_cfg: &Config) -> Result<ExitCode, String> {
    Err("status is not implemented yet".into())
}
