//! The `codex-claude-proxy` binary: parse the command line, start logging, run the command.

use std::process::ExitCode;

use codex_claude_proxy::config::{Action, Command, Config};

fn main() -> ExitCode {
    let (action, cfg) = match Config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(Command::Run(action, cfg)) => (action, *cfg),
        Ok(Command::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("codex-claude-proxy: {msg}");
            return ExitCode::from(2);
        }
    };
    // Under `claude`, a proxy the launcher starts logs to a file (the terminal belongs to
    // Claude Code); see `launcher::run`.
    codex_claude_proxy::logging::init(&cfg);
    if matches!(action, Action::Status) && cfg.log_level < log::LevelFilter::Debug {
        // `status` prints its own report; internal warnings (e.g. usage thresholds) would
        // only repeat it on stderr.
        log::set_max_level(log::LevelFilter::Error);
    }
    let result = match action {
        Action::Serve => match codex_claude_proxy::start(cfg.clone()) {
            Ok(running) => codex_claude_proxy::server::serve(running),
            Err(e) => Err(codex_claude_proxy::launcher::cannot_listen(&cfg, &e)),
        },
        Action::Claude(args) => codex_claude_proxy::launcher::run(cfg, &args),
        Action::Login { device } => codex_claude_proxy::login::login(&cfg, device),
        Action::Logout => codex_claude_proxy::login::logout(&cfg),
        Action::Status => codex_claude_proxy::status::run(&cfg),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("codex-claude-proxy: {msg}");
            ExitCode::FAILURE
        }
    }
}
