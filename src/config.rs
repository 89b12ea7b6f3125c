//! Configuration: command-line flags, then environment variables, then defaults, validated once
//! into a [`Config`]. Parsing takes the environment as a function so tests never touch the real
//! process environment.

use std::path::PathBuf;
use std::time::Duration;

use crate::catalogue::{DEFAULT_CLIENT_VERSION, ModelSettings, Version};

/// What `--version` prints after the name: the version, the git commit it was built from and
/// the target it was built for (both set by `build.rs`; the commit is `unknown` outside git).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CCP_COMMIT"),
    ", ",
    env!("CCP_TARGET"),
    ")"
);

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    /// Do `Action` with this configuration.
    Run(Action, Box<Config>),
    /// Print this text to stdout and exit 0 (`--help`, `--version`).
    Print(String),
}

/// The subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run the proxy (no subcommand, or `serve`).
    Serve,
    /// Start a proxy (or reuse one) and run `claude` with these arguments through it.
    Claude(Vec<String>),
    /// Sign in with a ChatGPT account and write `auth.json`; `device` picks the device-code flow.
    Login { device: bool },
    /// Remove the tokens from `auth.json`.
    Logout,
    /// Print the account, token expiry, backend reachability and usage limits.
    Status,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated settings for one proxy process.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub upstream_url: String,
    pub codex_home: PathBuf,
    pub refresh_url: String,
    /// `CODEX_*_MODEL`; `None` lets the backend's model list choose (see [`crate::catalogue`]).
    pub thinking_model: Option<String>,
    pub big_model: Option<String>,
    pub small_model: Option<String>,
    /// The Codex CLI version announced to the backend (`version` header, User-Agent, model list).
    pub client_version: Version,
    pub log_level: log::LevelFilter,
    /// Clients must present this key (`x-api-key` or `Authorization: Bearer`) when set.
    pub api_key: Option<String>,
    /// Silence on the client connection after which a `ping` event is sent.
    pub ping_interval: Duration,
    pub connect_timeout: Duration,
    /// Time for the upstream to send response headers.
    pub first_byte_timeout: Duration,
    /// Longest silence between upstream events before the stream is abandoned.
    pub idle_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    /// How long a client may stall: the whole request head, each pause in a body (which must
    /// also keep up a minimum rate), each blocked write of an answer.
    pub client_timeout: Duration,
    /// How long an idle client connection waits for its next request.
    pub keep_alive_timeout: Duration,
    /// OAuth issuer for `login` (authorize, token and device-code endpoints).
    pub auth_url: String,
    pub log_format: LogFormat,
    /// Extra `Host` names and `Origin`s the proxy answers (see [`crate::guard`]).
    pub allow_hosts: Vec<String>,
    pub allow_origins: Vec<String>,
    /// Longest wait for the OAuth token endpoint during a refresh.
    pub refresh_timeout: Duration,
    /// The flags of the settings the user chose (by flag or environment variable), e.g.
    /// `--thinking-model`: a running proxy is reused only if it has the same values for them.
    pub explicit: Vec<&'static str>,
}

pub const DEFAULT_PORT: u16 = 8082;
pub const DEFAULT_UPSTREAM: &str = "https://chatgpt.com/backend-api/codex/responses";
pub const DEFAULT_REFRESH_URL: &str = "https://auth.openai.com/oauth/token";
pub const DEFAULT_AUTH_URL: &str = "https://auth.openai.com";
/// A model setting with this value (the default) is chosen from the backend's model list.
pub const AUTO_MODEL: &str = "auto";
/// The OAuth token endpoint answers in about a second; a refresh that takes this long has failed.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(15);

/// One row of the settings table: flag, environment variable, default, meaning.
struct Setting {
    flag: &'static str,
    env: &'static str,
    default: &'static str,
    help: &'static str,
}

/// Shorthand that keeps the table one row per line.
const fn s(
    flag: &'static str,
    env: &'static str,
    default: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        flag,
        env,
        default,
        help,
    }
}

#[rustfmt::skip]
const SETTINGS: &[Setting] = &[
    s("--host", "PROXY_HOST", "127.0.0.1", "address to listen on"),
    s("--port", "PROXY_PORT", "8082", "port to listen on (0 picks a free one)"),
    s("--upstream-url", "CHATGPT_API_URL", DEFAULT_UPSTREAM, "Codex Responses endpoint"),
    s("--codex-home", "CODEX_HOME", "~/.codex", "directory holding auth.json from `codex login`"),
    s("--auth-url", "CODEX_AUTH_URL", DEFAULT_AUTH_URL, "OAuth issuer used by `login`"),
    s("--refresh-url", "CODEX_REFRESH_URL", DEFAULT_REFRESH_URL, "OAuth token endpoint"),
    s("--thinking-model", "CODEX_THINKING_MODEL", AUTO_MODEL, "model for claude-*opus* (auto: the backend's top current model)"),
    s("--big-model", "CODEX_BIG_MODEL", AUTO_MODEL, "model for claude-*sonnet* and unrecognised ids (auto: the same)"),
    s("--small-model", "CODEX_SMALL_MODEL", AUTO_MODEL, "model for claude-*haiku* (auto: the backend's fast, affordable one)"),
    s("--client-version", "CODEX_CLIENT_VERSION", DEFAULT_CLIENT_VERSION, "Codex CLI version announced to the backend (newer models need a newer one)"),
    s("--log-format", "PROXY_LOG_FORMAT", "text", "text, or json (one object per line)"),
    s("--log-level", "PROXY_LOG", "info", "error, warn, info, debug or trace"),
    s("--api-key", "PROXY_API_KEY", "", "key clients must send (x-api-key or Bearer); empty: none"),
    s("--ping-interval", "PROXY_PING_SECS", "5", "seconds of silence before a ping event"),
    s("--connect-timeout", "PROXY_CONNECT_TIMEOUT_SECS", "10", "seconds to connect to the upstream"),
    s("--first-byte-timeout", "PROXY_FIRST_BYTE_TIMEOUT_SECS", "120", "seconds for the upstream to start answering"),
    s("--idle-timeout", "PROXY_IDLE_TIMEOUT_SECS", "300", "seconds of upstream silence before giving up"),
    s("--max-body", "PROXY_MAX_BODY_MB", "32", "largest request body in MiB"),
    s("--max-connections", "PROXY_MAX_CONNECTIONS", "512", "requests served at once; more get 529 (lowered to fit the open-file limit)"),
    s("--client-timeout", "PROXY_CLIENT_TIMEOUT_SECS", "60", "seconds a client may stall while sending a request or reading an answer"),
    s("--keep-alive-timeout", "PROXY_KEEP_ALIVE_SECS", "120", "seconds an idle client connection stays open"),
    s("--allow-host", "PROXY_ALLOW_HOSTS", "", "extra Host names to answer, comma-separated (* = any)"),
    s("--allow-origin", "PROXY_ALLOW_ORIGINS", "", "web origins allowed to call, comma-separated (* = any)"),
];

/// The `--help` text, built from the same table the parser uses.
pub fn help() -> String {
    let mut s = format!(
        "codex-claude-proxy {}\n\
         Anthropic Messages API on a ChatGPT Plus/Pro subscription's Codex models.\n\n\
         USAGE: codex-claude-proxy [OPTIONS] [COMMAND]\n\n\
         COMMANDS:\n\
         \x20 (none), serve          run the proxy\n\
         \x20 claude [ARGS...]       run Claude Code through the proxy (started if needed)\n\
         \x20 login [--device-auth]  sign in with ChatGPT and write auth.json\n\
         \x20 logout                 remove the tokens from auth.json\n\
         \x20 status                 account, token expiry, backend and usage limits\n\n\
         Or run the proxy, then:\n\
         \x20 ANTHROPIC_BASE_URL=http://127.0.0.1:8082 ANTHROPIC_AUTH_TOKEN=sk-proxy claude\n\
         \x20 (with --api-key / PROXY_API_KEY set: ANTHROPIC_AUTH_TOKEN must be that key)\n\n\
         OPTIONS (flag, environment variable, default):\n",
        env!("CARGO_PKG_VERSION")
    );
    for st in SETTINGS {
        let default = if st.default.is_empty() {
            "-"
        } else {
            st.default
        };
        s.push_str(&format!(
            "  {:<22} {:<30} {}\n      {}\n",
            st.flag, st.env, default, st.help
        ));
    }
    s.push_str("  -h, --help               print this help\n  -V, --version            print the version\n");
    s
}

impl Config {
    /// Parses `args` (without the program name) and the environment into a command.
    pub fn parse<I, F>(args: I, env: F) -> Result<Command, String>
    where
        I: IntoIterator<Item = String>,
        F: Fn(&str) -> Option<String>,
    {
        let mut given: Vec<(usize, String)> = Vec::new();
        let mut action = Action::Serve;
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            if !arg.starts_with('-') {
                action = match (&action, arg.as_str()) {
                    (Action::Serve, "serve") => Action::Serve,
                    // Everything after `claude` belongs to claude.
                    (Action::Serve, "claude") => Action::Claude(args.by_ref().collect()),
                    (Action::Serve, "login") => Action::Login { device: false },
                    (Action::Serve, "logout") => Action::Logout,
                    (Action::Serve, "status") => Action::Status,
                    _ => {
                        return Err(format!(
                            "unknown command '{arg}'; run with --help for the commands"
                        ));
                    }
                };
                continue;
            }
            if matches!(action, Action::Login { .. })
                && matches!(arg.as_str(), "--device-auth" | "--device")
            {
                action = Action::Login { device: true };
                continue;
            }
            match arg.as_str() {
                "-h" | "--help" => return Ok(Command::Print(help())),
                "-V" | "--version" => {
                    return Ok(Command::Print(format!(
                        "codex-claude-proxy {LONG_VERSION}\n"
                    )));
                }
                _ => {}
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let Some(i) = SETTINGS.iter().position(|s| s.flag == flag) else {
                return Err(unknown_flag(&arg));
            };
            let value = match inline {
                Some(v) => v,
                // `--host --port 9000` is a forgotten value, not a host named "--port".
                None => match args.next_if(|next| !is_option(next)) {
                    Some(v) => v,
                    None => return Err(missing_value(&flag, args.peek())),
                },
            };
            given.push((i, value));
        }
        // The value of a setting, and its name as the user gave it (for error messages).
        let named = |flag: &str| -> (String, &'static str) {
            let i = SETTINGS.iter().position(|s| s.flag == flag).unwrap_or(0);
            if let Some((_, v)) = given.iter().rev().find(|(j, _)| *j == i) {
                return (v.clone(), SETTINGS[i].flag);
            }
            match env(SETTINGS[i].env) {
                Some(v) if !v.trim().is_empty() => (v.trim().to_owned(), SETTINGS[i].env),
                _ => (SETTINGS[i].default.to_owned(), SETTINGS[i].flag),
            }
        };
        let get = |flag: &str| named(flag).0;
        let explicit = SETTINGS
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                given.iter().any(|(j, _)| j == i)
                    || env(s.env).is_some_and(|v| !v.trim().is_empty())
            })
            .map(|(_, s)| s.flag)
            .collect();
        let codex_home = match get("--codex-home").as_str() {
            "~/.codex" => home::home_dir()
                .map(|h| h.join(".codex"))
                .ok_or("cannot find the home directory; set CODEX_HOME")?,
            other => PathBuf::from(expand_tilde(other)),
        };
        let api_key = Some(get("--api-key")).filter(|k| !k.is_empty());
        let cfg = Config {
            host: host(named("--host"))?,
            port: port(named("--port"))?,
            upstream_url: url(named("--upstream-url"))?,
            codex_home,
            refresh_url: url(named("--refresh-url"))?,
            thinking_model: model_setting(get("--thinking-model")),
            big_model: model_setting(get("--big-model")),
            small_model: model_setting(get("--small-model")),
            client_version: client_version(&get("--client-version"))?,
            log_level: get("--log-level").parse().map_err(|_| {
                "--log-level must be one of error, warn, info, debug, trace".to_owned()
            })?,
            api_key,
            ping_interval: secs(named("--ping-interval"))?,
            connect_timeout: secs(named("--connect-timeout"))?,
            first_byte_timeout: secs(named("--first-byte-timeout"))?,
            idle_timeout: secs(named("--idle-timeout"))?,
            max_body_bytes: number::<usize>(named("--max-body"))?.saturating_mul(1 << 20),
            max_connections: number(named("--max-connections"))?,
            client_timeout: secs(named("--client-timeout"))?,
            keep_alive_timeout: secs(named("--keep-alive-timeout"))?,
            auth_url: url(named("--auth-url"))?,
            log_format: match get("--log-format").as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => return Err(format!("--log-format: '{other}' must be text or json")),
            },
            allow_hosts: list(&get("--allow-host")),
            allow_origins: list(&get("--allow-origin")),
            refresh_timeout: REFRESH_TIMEOUT,
            explicit,
        };
        if let Some(bad) = cfg
            .allow_origins
            .iter()
            .find(|o| !crate::guard::valid_origin(o))
        {
            return Err(format!(
                "--allow-origin: '{bad}' must be an origin like https://chat.example.com (or *)"
            ));
        }
        if cfg.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        Ok(Command::Run(action, Box::new(cfg)))
    }

    /// Settings for tests and embedders: loopback, port 0, the given upstream and token dir.
    pub fn for_test(upstream_url: &str, codex_home: PathBuf) -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            upstream_url: upstream_url.into(),
            refresh_url: format!(
                "{}/oauth/token",
                upstream_url.trim_end_matches("/responses")
            ),
            codex_home,
            thinking_model: None,
            big_model: None,
            small_model: None,
            client_version: Version::DEFAULT,
            log_level: log::LevelFilter::Info,
            api_key: None,
            ping_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_body_bytes: 32 << 20,
            max_connections: 512,
            client_timeout: Duration::from_secs(60),
            keep_alive_timeout: Duration::from_secs(120),
            auth_url: upstream_url
                .split("/backend-api")
                .next()
                .unwrap_or(upstream_url)
                .to_owned(),
            log_format: LogFormat::Text,
            allow_hosts: Vec::new(),
            allow_origins: Vec::new(),
            refresh_timeout: REFRESH_TIMEOUT,
            explicit: Vec::new(),
        }
    }

    /// The settings a running proxy must share with a `claude` launcher to be reused by it, by
    /// flag, in one text form (`GET /health` shows them; the launcher compares them).
    pub fn shared_settings(&self) -> Vec<(&'static str, String)> {
        let secs = |d: Duration| d.as_secs_f64().to_string();
        let model = |m: &Option<String>| m.clone().unwrap_or_else(|| AUTO_MODEL.to_owned());
        // The same directory, however it was written.
        let home = std::fs::canonicalize(&self.codex_home).unwrap_or(self.codex_home.clone());
        vec![
            ("--codex-home", home.display().to_string()),
            ("--upstream-url", self.upstream_url.clone()),
            ("--refresh-url", self.refresh_url.clone()),
            ("--thinking-model", model(&self.thinking_model)),
            ("--big-model", model(&self.big_model)),
            ("--small-model", model(&self.small_model)),
            ("--client-version", self.client_version.to_string()),
            ("--ping-interval", secs(self.ping_interval)),
            ("--connect-timeout", secs(self.connect_timeout)),
            ("--first-byte-timeout", secs(self.first_byte_timeout)),
            ("--idle-timeout", secs(self.idle_timeout)),
            ("--max-body", (self.max_body_bytes >> 20).to_string()),
            ("--client-timeout", secs(self.client_timeout)),
            ("--keep-alive-timeout", secs(self.keep_alive_timeout)),
        ]
    }

    /// The backend's model list endpoint, next to the responses endpoint.
    pub fn models_url(&self) -> String {
        let base = self.upstream_url.trim_end_matches('/');
        let base = base.strip_suffix("/responses").unwrap_or(base);
        format!("{base}/models?client_version={}", self.client_version)
    }

    /// The model settings the user gave.
    pub fn model_settings(&self) -> ModelSettings {
        ModelSettings {
            thinking: self.thinking_model.clone(),
            big: self.big_model.clone(),
            small: self.small_model.clone(),
        }
    }
}

fn model_setting(v: String) -> Option<String> {
    Some(v).filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case(AUTO_MODEL))
}

fn client_version(v: &str) -> Result<Version, String> {
    Version::parse(v).ok_or_else(|| {
        format!(
            "--client-version: '{v}' is not a version like {}",
            Version::DEFAULT
        )
    })
}

fn unknown_flag(arg: &str) -> String {
    let name = arg.split('=').next().unwrap_or(arg).trim_start_matches('-');
    let close = SETTINGS
        .iter()
        .find(|s| {
            let f = s.flag.trim_start_matches('-');
            !name.is_empty() && (f.contains(name) || name.contains(f))
        })
        .map(|s| format!(" (did you mean {}?)", s.flag))
        .unwrap_or_default();
    format!("unknown argument '{arg}'{close}; run with --help for the list of options")
}

/// Whether a command-line word is one of our options rather than a value (`-1` is a value).
fn is_option(word: &str) -> bool {
    word.starts_with("--") || matches!(word, "-h" | "-V")
}

fn missing_value(flag: &str, next: Option<&String>) -> String {
    match next {
        Some(next) => format!(
            "{flag} needs a value, but the next argument is the option '{next}' \
             (write {flag}=VALUE for a value that starts with '--')"
        ),
        None => format!("{flag} needs a value"),
    }
}

/// A port number, with the range in the message when it is not one.
fn port((v, name): (String, &str)) -> Result<u16, String> {
    let range = "a port is a number from 1 to 65535, or 0 for a free one";
    match v.parse::<u64>() {
        Ok(n) => u16::try_from(n).map_err(|_| format!("{name}: {v} is out of range; {range}")),
        Err(_) => Err(format!("{name}: '{v}' is not a port number; {range}")),
    }
}

/// An IP address or a host name to listen on; dotted numbers must be a real IPv4 address.
fn host((v, name): (String, &str)) -> Result<String, String> {
    let dotted = v.contains('.') && v.chars().all(|c| c.is_ascii_digit() || c == '.');
    if v.is_empty() || (dotted && v.parse::<std::net::Ipv4Addr>().is_err()) {
        return Err(format!(
            "{name}: '{v}' is not an IP address or host name (e.g. 127.0.0.1, 0.0.0.0, ::1, localhost)"
        ));
    }
    Ok(v)
}

fn expand_tilde(path: &str) -> String {
    // Windows shells pass `~\.codex` through as typed.
    let rest = path
        .strip_prefix("~/")
        .or_else(|| path.strip_prefix("~\\").filter(|_| cfg!(windows)));
    match (rest, home::home_dir()) {
        (Some(rest), Some(h)) => h.join(rest).to_string_lossy().into_owned(),
        _ => path.to_owned(),
    }
}

/// A comma-separated list, without empty entries.
fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number<T: std::str::FromStr>((v, flag): (String, &str)) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: '{v}' is not a valid number"))
}

fn secs((v, flag): (String, &str)) -> Result<Duration, String> {
    let f: f64 = number((v.clone(), flag))?;
    if !(f > 0.0 && f < 1e7) {
        return Err(format!(
            "{flag}: '{v}' must be a positive number of seconds"
        ));
    }
    Ok(Duration::from_secs_f64(f))
}

fn url((v, flag): (String, &str)) -> Result<String, String> {
    if v.starts_with("http://") || v.starts_with("https://") {
        Ok(v.trim_end_matches('/').to_owned())
    } else {
        Err(format!("{flag}: '{v}' must start with http:// or https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match Config::parse(args.iter().map(|s| s.to_string()), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })? {
            Command::Run(_, c) => Ok(*c),
            Command::Print(_) => Err("printed".into()),
        }
    }

    #[test]
    fn defaults() {
        let c = parse(&["--codex-home", "/tmp/x"], &[]).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 8082));
        assert_eq!(c.upstream_url, DEFAULT_UPSTREAM);
        assert_eq!(c.big_model, None, "chosen from the model list");
        assert_eq!(c.client_version.to_string(), DEFAULT_CLIENT_VERSION);
        assert_eq!(c.codex_home, PathBuf::from("/tmp/x"));
        assert_eq!(c.ping_interval, Duration::from_secs(5));
        assert!(c.api_key.is_none());
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let env = [
            ("PROXY_PORT", "9000"),
            ("CODEX_BIG_MODEL", "gpt-5.5"),
            ("PROXY_HOST", "0.0.0.0"),
        ];
        let c = parse(&["--port=9100", "--codex-home", "/h"], &env).unwrap();
        assert_eq!(c.port, 9100);
        assert_eq!(c.big_model.as_deref(), Some("gpt-5.5"));
        assert_eq!(c.host, "0.0.0.0");
        let c = parse(&["--codex-home", "/h"], &env).unwrap();
        assert_eq!(c.port, 9000);
    }

    #[test]
    fn errors_are_helpful() {
        let e = parse(&["--prot", "1"], &[]).unwrap_err();
        assert!(
            e.contains("unknown argument '--prot'") && e.contains("--help"),
            "{e}"
        );
        let e = parse(&["--port"], &[]).unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        let e = parse(&["--max-connections", "many"], &[]).unwrap_err();
        assert!(e.contains("not a valid number"), "{e}");
        let e = parse(&["--upstream-url", "chatgpt.com"], &[]).unwrap_err();
        assert!(e.contains("http://"), "{e}");
        assert!(parse(&["--log-level", "loud"], &[]).is_err());
        assert!(parse(&["--ping-interval", "0"], &[]).is_err());
        let e = parse(&["--client-version", "latest"], &[]).unwrap_err();
        assert!(e.contains("not a version like 0.171.0"), "{e}");
    }

    #[test]
    fn a_missing_value_does_not_swallow_the_next_flag() {
        let e = parse(&["--host", "--port", "18090"], &[]).unwrap_err();
        assert!(
            e.starts_with("--host needs a value") && e.contains("'--port'"),
            "{e}"
        );
        let e = parse(&["--codex-home", "-h"], &[]).unwrap_err();
        assert!(e.starts_with("--codex-home needs a value"), "{e}");
        // A value that starts with '-' can still be given inline.
        let c = parse(&["--api-key=--k", "--codex-home", "/h"], &[]).unwrap();
        assert_eq!(c.api_key.as_deref(), Some("--k"));
        let e = parse(&["--ping-interval", "-1"], &[]).unwrap_err();
        assert!(e.contains("must be a positive number"), "{e}");
    }

    #[test]
    fn ports_and_hosts_are_checked_and_named() {
        let e = parse(&["--port", "70000"], &[]).unwrap_err();
        assert!(
            e.contains("--port: 70000 is out of range") && e.contains("65535"),
            "{e}"
        );
        let e = parse(&[], &[("PROXY_PORT", "http")]).unwrap_err();
        assert!(
            e.starts_with("PROXY_PORT: 'http' is not a port number"),
            "{e}"
        );
        let e = parse(&["--host", "999.1.1.1"], &[]).unwrap_err();
        assert!(
            e.starts_with("--host: '999.1.1.1' is not an IP address"),
            "{e}"
        );
        let e = parse(&[], &[("PROXY_MAX_BODY_MB", "lots")]).unwrap_err();
        assert!(e.starts_with("PROXY_MAX_BODY_MB: 'lots'"), "{e}");
        for ok in ["0.0.0.0", "::1", "localhost", "10.1.2.3"] {
            assert_eq!(
                parse(&["--host", ok, "--codex-home", "/h"], &[])
                    .unwrap()
                    .host,
                ok
            );
        }
    }

    #[test]
    fn explicit_settings_are_recorded() {
        let c = parse(
            &["--thinking-model", "m", "--codex-home", "/h"],
            &[("CODEX_SMALL_MODEL", "s"), ("CODEX_BIG_MODEL", " ")],
        )
        .unwrap();
        assert_eq!(
            c.explicit,
            ["--codex-home", "--thinking-model", "--small-model"]
        );
    }

    #[test]
    fn subcommands() {
        let run = |args: &[&str]| match Config::parse(args.iter().map(|s| s.to_string()), |_| None)
        {
            Ok(Command::Run(a, c)) => Ok((a, c)),
            Ok(Command::Print(_)) => Err("printed".to_owned()),
            Err(e) => Err(e),
        };
        assert_eq!(run(&["--codex-home", "/h"]).unwrap().0, Action::Serve);
        let (a, c) = run(&["--port", "0", "claude", "-p", "hi", "--port", "1"]).unwrap();
        let want: Vec<String> = ["-p", "hi", "--port", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(a, Action::Claude(want));
        assert_eq!(c.port, 0);
        assert_eq!(
            run(&["login", "--device-auth"]).unwrap().0,
            Action::Login { device: true }
        );
        assert_eq!(run(&["logout"]).unwrap().0, Action::Logout);
        assert_eq!(run(&["status", "--port", "9"]).unwrap().0, Action::Status);
        assert!(
            run(&["frobnicate"])
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(run(&["--log-format", "xml"]).is_err());
    }

    #[test]
    fn help_lists_every_setting() {
        let h = help();
        for s in SETTINGS {
            assert!(h.contains(s.flag) && h.contains(s.env), "{}", s.flag);
        }
        assert!(matches!(
            Config::parse(["--help".to_string()], |_| None),
            Ok(Command::Print(_))
        ));
    }

    #[test]
    fn client_version_and_model_settings() {
        let env = [
            ("CODEX_CLIENT_VERSION", "0.180.2"),
            ("CODEX_SMALL_MODEL", "auto"),
        ];
        let c = parse(&["--thinking-model", "gpt-6.2-astra"], &env).unwrap();
        assert_eq!(c.client_version.to_string(), "0.180.2");
        assert_eq!(c.thinking_model.as_deref(), Some("gpt-6.2-astra"));
        assert_eq!(c.small_model, None, "auto means: from the model list");
        assert!(c.models_url().ends_with("/models?client_version=0.180.2"));
        let c = parse(&["--client-version", "v0.172.0-alpha.1"], &[]).unwrap();
        assert_eq!(c.client_version.to_string(), "0.172.0-alpha.1");
    }

    #[test]
    fn models_url_sits_beside_responses() {
        let c = Config::for_test(
            "http://127.0.0.1:9/backend-api/codex/responses",
            "/t".into(),
        );
        assert!(
            c.models_url()
                .starts_with("http://127.0.0.1:9/backend-api/codex/models?client_version=")
        );
    }
}
