//! `codex-claude-proxy claude [ARGS...]`: runs Claude Code through the proxy.

use std::process::ExitCode;

use crate::config::Config;

/// Starts (or reuses) a proxy and runs `claude` through it; returns claude's exit code.
pub fn run(_cfg: Config, _args: &[String]) -> Result<ExitCode, String> {
    Err("the claude launcher is not implemented yet".into())
}
