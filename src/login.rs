//! `codex-claude-proxy login` / `logout`: ChatGPT sign-in without the Codex CLI.

use std::process::ExitCode;

use crate::config::Config;

/// Signs in and writes `auth.json` as the Codex CLI would.
pub fn login(_cfg: &Config, _device: bool) -> Result<ExitCode, String> {
    Err("login is not implemented yet; use `codex login`".into())
}

/// Removes the tokens from `auth.json`.
pub fn logout(_cfg: &Config) -> Result<ExitCode, String> {
    Err("logout is not implemented yet".into())
}
