//! `codex-claude-proxy claude [ARGS...]`: runs Claude Code through the proxy.
//!
//! Reuses a proxy already answering on the configured address, else starts one in-process on a
//! free loopback port for the life of the `claude` process. Claude Code gets the proxy's URL and
//! key, a compaction window matching the Codex model's context, and no telemetry; its stdio is
//! the terminal's, its arguments pass through untouched, and its exit code becomes ours.
//!
//! Ctrl-C: the terminal sends SIGINT (and Ctrl-\ SIGQUIT) to the whole foreground process group,
//! so `claude` gets it directly. The launcher must not die first (that would take the in-process
//! proxy away from a still-running `claude`), so it catches both with a handler that does
//! nothing. A caught signal (unlike an ignored one) is reset to the default by `exec`, so `claude`
//! still reacts normally (see [`crate::signals`]).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use serde_json::Value;

use crate::app::App;
use crate::catalogue::{Catalogue, ModelInfo};
use crate::config::Config;
use crate::server;
use crate::upstream::{self, Upstream};

/// Compaction window when the backend's model list does not give the big model's context:
/// 272 000 is the context of every current general Codex model; Codex itself plans with 95 % of
/// it, which also leaves room for a tokenizer that counts differently.
pub const FALLBACK_COMPACT_WINDOW: u64 = 258_400;
/// How long to wait for the model list before launching with the fallback window.
const MODELS_WAIT: Duration = Duration::from_secs(8);
/// Timeouts for talking to a local proxy: it answers at once or it is not ours.
const LOCAL_CONNECT: Duration = Duration::from_millis(500);
const LOCAL_IO: Duration = Duration::from_secs(2);
const INSTALL_HINT: &str =
    "claude not found on PATH; install Claude Code: npm install -g @anthropic-ai/claude-code";

/// Where the launcher's proxy logs: `codex-claude-proxy.log` in the temp directory, appended to,
/// private to the user. The temp directory is shared, so the file is opened without following
/// links and must be ours ([`crate::private::open_append`]); if something else holds the name,
/// the log goes to a private `codex-claude-proxy-<uid>` directory there instead. Says where on
/// stderr (before Claude Code takes the terminal); `None` (log to stderr) if nothing works.
pub fn open_log() -> Option<std::fs::File> {
    let tmp = std::env::temp_dir();
    let shared = tmp.join(LOG_NAME);
    let opened = crate::private::open_append(&shared)
        .map(|f| (shared.clone(), f))
        .or_else(|why| {
            eprintln!(
                "codex-claude-proxy: not logging to {} ({why})",
                shared.display()
            );
            let owner = crate::private::euid().map_or("user".to_owned(), |u| u.to_string());
            let dir = crate::private::private_dir(&tmp, &format!("codex-claude-proxy-{owner}"))?;
            let path = dir.join(LOG_NAME);
            crate::private::open_append(&path).map(|f| (path, f))
        });
    match opened {
        Ok((path, f)) => {
            eprintln!("codex-claude-proxy: logging to {}", path.display());
            Some(f)
        }
        Err(e) => {
            eprintln!("codex-claude-proxy: cannot open a log file ({e}); logging to stderr");
            None
        }
    }
}

const LOG_NAME: &str = "codex-claude-proxy.log";

/// Starts (or reuses) a proxy and runs `claude` through it; returns claude's exit code.
pub fn run(cfg: Config, args: &[String]) -> Result<ExitCode, String> {
    let claude = find_on_path("claude", std::env::var_os("PATH")).ok_or(INSTALL_HINT)?;
    let reusable =
        find_running(&cfg).and_then(|(addr, health)| match why_not_reuse(&cfg, addr, &health) {
            Some(why) => {
                eprintln!(
                    "codex-claude-proxy: the proxy on {addr} runs with other settings ({why}); \
                     starting a private proxy for this session"
                );
                None
            }
            None => Some((addr, health)),
        });
    let (addr, running) = match reusable {
        Some((addr, health)) => {
            if health["auth"]["ok"] == Value::Bool(false) {
                let why = health["auth"]["error"]
                    .as_str()
                    .unwrap_or("no usable login");
                return Err(format!("the proxy on {addr} cannot use its login: {why}"));
            }
            let models = ["opus", "sonnet", "haiku"]
                .map(|k| health["models"][k].as_str().unwrap_or("?").to_owned());
            eprintln!(
                "codex-claude-proxy: using the proxy already running on {addr} \
                 (opus → {}, sonnet → {}, haiku → {}); it logs where it was started",
                models[0], models[1], models[2]
            );
            (addr, None)
        }
        None => {
            if let Some(file) = open_log() {
                crate::logging::to_file(file);
            }
            let running = start_private(&cfg)?;
            (running.addr, Some(running))
        }
    };
    let cat = catalogue_within(running.as_ref().map(|r| Arc::clone(&r.app)), &cfg);
    if let Some(r) = &running {
        server::announce(r);
    }
    let map = &cat.map;
    let window = compact_window(&cat.models, &[&map.thinking, &map.big, &map.small]);

    let mut cmd = Command::new(&claude);
    cmd.args(args)
        .env("ANTHROPIC_BASE_URL", format!("http://{addr}"))
        .env(
            "ANTHROPIC_AUTH_TOKEN",
            cfg.api_key.as_deref().unwrap_or("sk-proxy"),
        )
        // Claude Code prefers ANTHROPIC_API_KEY over the token, and would send the user's real
        // Anthropic key to the proxy.
        .env_remove("ANTHROPIC_API_KEY");
    for (name, value) in [
        ("CLAUDE_CODE_AUTO_COMPACT_WINDOW", window.to_string()),
        // Telemetry, feature flags and update checks go to Anthropic, not through the proxy.
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
    ] {
        if std::env::var_os(name).is_none_or(|v| v.is_empty()) {
            cmd.env(name, value);
        }
    }
    crate::signals::survive_terminal();
    let status = cmd.status();
    if let Some(r) = running {
        r.stop();
    }
    let status = status.map_err(|e| format!("cannot run {}: {e}", claude.display()))?;
    Ok(ExitCode::from(exit_byte(status)))
}

/// Why the proxy answering on `addr` cannot serve this launcher: a setting the user chose
/// (flag or environment) that it does not share, or an API key it does not accept.
fn why_not_reuse(cfg: &Config, addr: SocketAddr, health: &Value) -> Option<String> {
    let mut why: Vec<String> = cfg
        .shared_settings()
        .into_iter()
        .filter(|(flag, _)| cfg.explicit.contains(flag))
        .filter_map(|(flag, mine)| {
            // A model you named is compared with the model it uses (its "auto" may be it).
            let family = match flag {
                "--thinking-model" => "opus",
                "--big-model" => "sonnet",
                "--small-model" => "haiku",
                _ => "",
            };
            let theirs = match health["models"][family].as_str() {
                Some(used) if !family.is_empty() && mine != crate::config::AUTO_MODEL => Some(used),
                _ => health["settings"][flag.trim_start_matches('-')].as_str(),
            };
            match theirs {
                Some(theirs) if theirs == mine => None,
                Some(theirs) => Some(format!("you asked for {flag} {mine}, it uses {theirs}")),
                None => Some(format!("you asked for {flag} {mine}, it does not say")),
            }
        })
        .collect();
    if local_get(addr, "/usage", cfg.api_key.as_deref()).is_some_and(|(status, _)| status == 401) {
        why.push(match cfg.api_key {
            Some(_) => "it does not accept your PROXY_API_KEY".to_owned(),
            None => "it requires an API key: set PROXY_API_KEY to use it".to_owned(),
        });
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Starts the launcher's own proxy: same settings, but a free port on loopback, since only the
/// `claude` child uses it (a `--host 0.0.0.0` meant for `serve` should not expose it).
fn start_private(cfg: &Config) -> Result<server::Running, String> {
    let mut own = cfg.clone();
    own.port = 0;
    if !own.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        own.host = Ipv4Addr::LOCALHOST.to_string();
    }
    let running = crate::start(own).map_err(|e| format!("cannot start the proxy: {e}"))?;
    if let Err(e) = running.app.upstream.auth.credentials() {
        running.stop();
        return Err(e.to_string());
    }
    Ok(running)
}

/// The model catalogue (and the mapping it implies), from the running app or a fresh client,
/// waiting at most [`MODELS_WAIT`]: a slow backend should delay the launch a little, not
/// indefinitely. Without an answer, the built-in table.
fn catalogue_within(app: Option<Arc<App>>, cfg: &Config) -> Arc<Catalogue> {
    let (tx, rx) = mpsc::channel();
    let own = cfg.clone();
    let spawned = std::thread::Builder::new()
        .name("models".into())
        .spawn(move || {
            let cat = match app {
                Some(app) => app.upstream.catalogue(),
                None => Upstream::new(&own, upstream::agent(&own)).catalogue(),
            };
            let _ = tx.send(cat);
        });
    let fallback = || {
        Arc::new(Catalogue::built_in(
            cfg.model_settings(),
            cfg.client_version.clone(),
        ))
    };
    match spawned {
        Ok(_) => rx.recv_timeout(MODELS_WAIT).unwrap_or_else(|_| fallback()),
        Err(_) => fallback(),
    }
}

/// `CLAUDE_CODE_AUTO_COMPACT_WINDOW`: the smallest context window among the mapped models the
/// backend's list knows (Claude Code sets one window for every model it may switch to), or
/// [`FALLBACK_COMPACT_WINDOW`]. Claude Code subtracts its own output reserve from this.
pub fn compact_window(models: &[ModelInfo], slugs: &[&str]) -> u64 {
    models
        .iter()
        .filter(|m| slugs.contains(&m.slug.as_str()))
        .filter_map(|m| m.context_window)
        .filter(|w| *w > 0)
        .min()
        .unwrap_or(FALLBACK_COMPACT_WINDOW)
}

/// The proxy answering `GET /health` on `cfg.host:cfg.port`, with its health report: only a
/// codex-claude-proxy (by its `service` field) run by this user (or root) counts.
pub fn find_running(cfg: &Config) -> Option<(SocketAddr, Value)> {
    if cfg.port == 0 {
        return None;
    }
    local_addrs(&cfg.host, cfg.port)
        .into_iter()
        .find_map(|addr| {
            let (status, v) = local_get(addr, "/health", None)?;
            if status != 200 || v["service"] != crate::http::SERVICE {
                log::warn!("something that is not a codex-claude-proxy answers on {addr}");
                return None;
            }
            if let Some(uid) = crate::owner::foreign_listener(addr) {
                log::warn!("the proxy on {addr} belongs to another user (uid {uid}); not using it");
                return None;
            }
            Some((addr, v))
        })
}

/// Why `serve` cannot listen on `cfg.host:cfg.port`, naming the address and the way out: when
/// the address is taken by a codex-claude-proxy, that proxy can simply be used.
pub fn cannot_listen(cfg: &Config, e: &std::io::Error) -> String {
    let addr = match cfg.host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, cfg.port).to_string(),
        Err(_) => format!("{}:{}", cfg.host, cfg.port),
    };
    let other_port =
        "start this one on another port with --port (or PROXY_PORT; 0 picks a free one)";
    match e.kind() {
        std::io::ErrorKind::AddrInUse => match find_running(cfg) {
            Some((at, health)) => format!(
                "cannot listen on {addr}: a codex-claude-proxy {} is already running there. \
                 Use it (ANTHROPIC_BASE_URL=http://{at}; `codex-claude-proxy claude` reuses it), \
                 or {other_port}",
                health["version"].as_str().unwrap_or("")
            ),
            None => format!(
                "cannot listen on {addr}: the address is already in use by another program; {other_port}"
            ),
        },
        std::io::ErrorKind::AddrNotAvailable => format!(
            "cannot listen on {addr}: {} is not an address of this machine ({e}); \
             use 127.0.0.1 (the default) or 0.0.0.0 for every interface",
            cfg.host
        ),
        std::io::ErrorKind::PermissionDenied if cfg.port < 1024 => format!(
            "cannot listen on {addr}: ports below 1024 need privileges ({e}); use a port above 1023"
        ),
        _ => format!("cannot listen on {addr}: {e}"),
    }
}

/// Where to reach a server bound to `host`: a wildcard bind is reachable on loopback.
fn local_addrs(host: &str, port: u16) -> Vec<SocketAddr> {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => {
            vec![SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)]
        }
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => {
            vec![SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port)]
        }
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default(),
    }
}

/// A one-shot `GET` to a local proxy, with short timeouts: status and JSON body, or `None` if
/// nothing (or something that is not JSON over HTTP) answers. Plain HTTP/1.0 on a socket, so no
/// `HTTP_PROXY` setting can send a loopback probe elsewhere.
pub fn local_get(addr: SocketAddr, path: &str, api_key: Option<&str>) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect_timeout(&addr, LOCAL_CONNECT).ok()?;
    s.set_read_timeout(Some(LOCAL_IO)).ok()?;
    s.set_write_timeout(Some(LOCAL_IO)).ok()?;
    let key = api_key
        .map(|k| format!("x-api-key: {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n{key}\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    // A timeout after the whole answer arrived still leaves it in `raw`.
    let _ = s.take(1 << 20).read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = serde_json::from_slice(&raw[split + 4..]).ok()?;
    Some((status, body))
}

/// The first executable `name` in `path` (a `PATH` value). On Windows, as the shell looks it up:
/// `name` with each extension of `PATHEXT` in turn (`claude.exe` from the native installer,
/// `claude.cmd` from npm).
pub fn find_on_path(name: &str, path: Option<OsString>) -> Option<PathBuf> {
    let names: Vec<String> = if cfg!(windows) {
        with_extensions(name, std::env::var("PATHEXT").ok().as_deref())
    } else {
        vec![name.to_owned()]
    };
    std::env::split_paths(&path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| is_executable(p))
}

/// `name` with each extension of a `PATHEXT` value (Windows' default list when unset).
fn with_extensions(name: &str, pathext: Option<&str>) -> Vec<String> {
    let exts = pathext
        .filter(|v| !v.trim().is_empty())
        .unwrap_or(".COM;.EXE;.BAT;.CMD");
    exts.split(';')
        .map(str::trim)
        .filter(|e| e.starts_with('.') && e.len() > 1)
        .map(|e| format!("{name}{}", e.to_ascii_lowercase()))
        .collect()
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Claude's exit status as a shell would report it: its code, or 128 + the signal that ended it.
fn exit_byte(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return u8::try_from(128 + sig).unwrap_or(1);
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(slug: &str, window: Option<u64>) -> ModelInfo {
        ModelInfo {
            slug: slug.into(),
            context_window: window,
            ..ModelInfo::default()
        }
    }

    #[test]
    fn window_from_the_model_list_or_fallback() {
        let list = [
            info("a", Some(128_000)),
            info("b", None),
            info("c", Some(272_000)),
        ];
        assert_eq!(compact_window(&list, &["a", "c"]), 128_000);
        assert_eq!(compact_window(&list, &["c", "b"]), 272_000);
        assert_eq!(compact_window(&list, &["b"]), FALLBACK_COMPACT_WINDOW);
        assert_eq!(compact_window(&[], &["a"]), FALLBACK_COMPACT_WINDOW);
    }

    #[test]
    fn wildcard_hosts_are_probed_on_loopback() {
        assert_eq!(
            local_addrs("0.0.0.0", 9),
            ["127.0.0.1:9".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            local_addrs("::", 9),
            ["[::1]:9".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            local_addrs("127.0.0.1", 9),
            ["127.0.0.1:9".parse::<SocketAddr>().unwrap()]
        );
    }

    #[cfg(unix)]
    #[test]
    fn exit_status_mapping() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_byte(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_byte(ExitStatus::from_raw(2)), 130); // killed by SIGINT
    }

    #[test]
    fn windows_lookup_follows_pathext() {
        assert_eq!(
            with_extensions("claude", Some(".COM;.EXE; .Cmd;;bad")),
            ["claude.com", "claude.exe", "claude.cmd"]
        );
        assert_eq!(
            with_extensions("claude", None),
            ["claude.com", "claude.exe", "claude.bat", "claude.cmd"]
        );
        assert_eq!(with_extensions("claude", Some(" ")).len(), 4);
    }

    #[cfg(unix)]
    #[test]
    fn path_lookup_wants_an_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ccp-launcher-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("claude");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = Some(OsString::from(format!("/nonexistent:{}", dir.display())));
        assert_eq!(find_on_path("claude", path.clone()), None);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_on_path("claude", path), Some(file));
        assert_eq!(find_on_path("claude", None), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
