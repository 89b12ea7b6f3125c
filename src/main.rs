//! The `codex-claude-proxy` binary: parse the configuration, start logging, serve.

use std::process::ExitCode;

use codex_claude_proxy::config::{Command, Config};

fn main() -> ExitCode {
    let cfg = match Config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(Command::Serve(cfg)) => cfg,
        Ok(Command::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("codex-claude-proxy: {msg}");
            return ExitCode::from(2);
        }
    };
    // ureq and rustls log request headers (tokens included) at trace level: keep them quieter.
    let logger = simple_logger::SimpleLogger::new()
        .with_level(cfg.log_level)
        .with_module_level("ureq", log::LevelFilter::Warn)
        .with_module_level("ureq_proto", log::LevelFilter::Warn)
        .with_module_level("rustls", log::LevelFilter::Warn)
        .with_utc_timestamps();
    if let Err(e) = logger.init() {
        eprintln!("codex-claude-proxy: cannot start logging: {e}");
    }
    let running = match codex_claude_proxy::start(*cfg) {
        Ok(r) => r,
        Err(e) => {
            log::error!("cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    codex_claude_proxy::server::announce(&running);
    running.wait();
    ExitCode::SUCCESS
}
