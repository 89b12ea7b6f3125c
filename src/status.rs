//! `codex-claude-proxy status`: account, token expiry, backend reachability and usage limits.
//!
//! Reads `auth.json` itself (the token is shown only as an expiry, never printed), asks the
//! backend for the model list to prove the login works, and takes the usage limits from a proxy
//! running on the configured address (it has seen real traffic) or else from the model list
//! reply's headers. Exit 0 when logged in and the backend answers, else 1.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use crate::clock;
use crate::config::Config;
use crate::launcher;
use crate::oauth::jwt_claims;
use crate::upstream::{self, Upstream};
use crate::usage::{self, Snapshot};

/// What `auth.json` says about the login (no secrets).
#[derive(Debug, Default, PartialEq)]
struct Login {
    email: Option<String>,
    plan: Option<String>,
    account_id: Option<String>,
    /// The access token's `exp`, Unix seconds.
    expires_at: Option<u64>,
    last_refresh: Option<String>,
}

/// Where the usage figures came from.
enum UsageSource {
    Proxy(std::net::SocketAddr),
    ModelList,
}

/// Prints the status report.
pub fn run(cfg: &Config) -> Result<ExitCode, String> {
    let path = cfg.codex_home.join("auth.json");
    let mut lines: Vec<(&str, String)> = Vec::new();
    let mut healthy = true;
    let upstream = Upstream::new(cfg, upstream::agent(cfg));
    match read_login(&path) {
        Err(why) => {
            healthy = false;
            lines.push(("login file", path.display().to_string()));
            lines.push(("login", format!("none: {why}")));
            lines.push(("backend", "not checked (no login)".into()));
        }
        Ok(_) => {
            // Check the backend first: the call may refresh the token, and the report should
            // show the token as it is afterwards.
            let backend = upstream.fetch_models();
            let login = read_login(&path).unwrap_or_default();
            lines.extend(describe_login(&login, &path, clock::unix_now()));
            match backend {
                Ok(models) => {
                    lines.push(("backend", format!("OK, {} models", models.len())));
                    let cat = upstream.cached_catalogue();
                    lines.push(("models", cat.describe()));
                    for w in cat.warnings() {
                        lines.push(("", format!("warning: {w}")));
                    }
                }
                Err(e) => {
                    healthy = false;
                    lines.push(("backend", format!("error: {e}")));
                    let cat = upstream.cached_catalogue();
                    lines.push(("models", format!("{} (built-in table)", cat.describe())));
                }
            }
            lines.push((
                "client",
                format!(
                    "announces Codex CLI {} (CODEX_CLIENT_VERSION)",
                    cfg.client_version
                ),
            ));
        }
    }
    // Logged by the proxy at start; `status` hides log lines, so it says them itself.
    if let Ok(target) = crate::tokenfile::resolve(&path) {
        for w in crate::tokenfile::permission_warnings(&cfg.codex_home, &target) {
            lines.push(("warning", w));
        }
    }
    let now = clock::unix_now();
    let (snapshot, source) = match proxy_usage(cfg) {
        Some((addr, s)) => (Some(s), Some(UsageSource::Proxy(addr))),
        None => match upstream.usage.latest() {
            Some(s) => (Some(s), Some(UsageSource::ModelList)),
            None => (None, None),
        },
    };
    match (snapshot, source) {
        (Some(s), Some(src)) => {
            let mut text = usage::describe(&s, now);
            let seen = format!(
                "seen {} ({} ago)",
                clock::rfc3339(s.seen_at),
                usage::human_duration(now.saturating_sub(s.seen_at))
            );
            text.push(match src {
                UsageSource::Proxy(addr) => format!("(from the proxy on {addr}, {seen})"),
                UsageSource::ModelList => format!("(from the model list reply, {seen})"),
            });
            for (i, t) in text.into_iter().enumerate() {
                lines.push((if i == 0 { "usage" } else { "" }, t));
            }
        }
        _ => lines.push(("usage", "unknown (no request yet)".into())),
    }
    let mut out = format!("codex-claude-proxy {}\n", env!("CARGO_PKG_VERSION"));
    for (label, value) in lines {
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("{label}:")
        };
        out.push_str(&format!("{label:<14}{value}\n"));
    }
    print!("{out}");
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The usage a proxy running on the configured address has seen, if it has seen any.
fn proxy_usage(cfg: &Config) -> Option<(std::net::SocketAddr, Snapshot)> {
    let (addr, _) = launcher::find_running(cfg)?;
    let (status, v) = launcher::local_get(addr, "/usage", cfg.api_key.as_deref())?;
    if status != 200 || v["available"] != Value::Bool(true) {
        return None;
    }
    serde_json::from_value(v).ok().map(|s| (addr, s))
}

/// Parses the token file without refreshing anything.
fn read_login(path: &Path) -> Result<Login, String> {
    use crate::error::LOGIN_ADVICE;
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{} does not exist; {LOGIN_ADVICE}", path.display())
        }
        std::io::ErrorKind::PermissionDenied => {
            crate::tokenfile::permission_problem("reading", path)
        }
        _ => format!("cannot read {}: {e}; {LOGIN_ADVICE}", path.display()),
    })?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not valid JSON: {e}; {LOGIN_ADVICE}", path.display()))?;
    login_from(&doc)
        .ok_or_else(|| format!("{} holds no ChatGPT tokens; {LOGIN_ADVICE}", path.display()))
}

fn login_from(doc: &Value) -> Option<Login> {
    let tokens = &doc["tokens"];
    let access = tokens["access_token"].as_str().filter(|t| !t.is_empty())?;
    let access_claims = jwt_claims(access).unwrap_or(Value::Null);
    let id_claims = tokens["id_token"]
        .as_str()
        .and_then(jwt_claims)
        .unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let auth_claim = |c: &Value, key: &str| text(&c["https://api.openai.com/auth"][key]);
    Some(Login {
        email: text(&id_claims["email"])
            .or_else(|| text(&id_claims["https://api.openai.com/profile"]["email"])),
        plan: auth_claim(&id_claims, "chatgpt_plan_type")
            .or_else(|| auth_claim(&access_claims, "chatgpt_plan_type")),
        account_id: text(&tokens["account_id"])
            .or_else(|| auth_claim(&id_claims, "chatgpt_account_id")),
        expires_at: access_claims["exp"].as_u64(),
        last_refresh: text(&doc["last_refresh"]),
    })
}

fn describe_login(login: &Login, path: &Path, now: u64) -> Vec<(&'static str, String)> {
    let unknown = || "unknown".to_owned();
    let refresh = login
        .last_refresh
        .as_deref()
        .map(|r| format!(" (last refresh {r})"))
        .unwrap_or_default();
    let plan = login
        .plan
        .as_deref()
        .map(|p| format!(" (plan: {p})"))
        .unwrap_or_default();
    let expiry = match login.expires_at {
        Some(exp) if exp > now => format!(
            "expires {} (in {})",
            clock::rfc3339(exp),
            usage::human_duration(exp - now)
        ),
        Some(exp) => format!(
            "expired {} ({} ago; refreshed on next use)",
            clock::rfc3339(exp),
            usage::human_duration(now - exp)
        ),
        None => "expiry unknown".into(),
    };
    vec![
        ("login file", format!("{}{refresh}", path.display())),
        (
            "account",
            format!("{}{plan}", login.email.clone().unwrap_or_else(unknown)),
        ),
        (
            "account id",
            login.account_id.clone().unwrap_or_else(unknown),
        ),
        ("access token", expiry),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(claims: Value) -> String {
        crate::oauth::unsigned_jwt(&claims)
    }

    #[test]
    fn login_details_from_claims() {
        let id = jwt(json!({"https://api.openai.com/profile": {"email": "a@b.c"},
            "https://api.openai.com/auth": {"chatgpt_plan_type": "pro", "chatgpt_account_id": "acc-9"}}));
        let doc = json!({"tokens": {"id_token": id, "access_token": jwt(json!({"exp": 1000}))},
            "last_refresh": "2026-11-20T09:14:03Z"});
        let login = login_from(&doc).unwrap();
        assert_eq!(
            login,
            Login {
                email: Some("a@b.c".into()),
                plan: Some("pro".into()),
                account_id: Some("acc-9".into()),
                expires_at: Some(1000),
                last_refresh: Some("2026-11-20T09:14:03Z".into()),
            }
        );
        let lines = describe_login(&login, Path::new("/h/auth.json"), 1000 + 7_800);
        assert_eq!(lines[1].1, "a@b.c (plan: pro)");
        assert!(
            lines[3]
                .1
                .starts_with("expired 1970-01-01T00:16:40Z (2h 10m ago")
        );
        let lines = describe_login(&login, Path::new("/h/auth.json"), 400);
        assert_eq!(lines[3].1, "expires 1970-01-01T00:16:40Z (in 10m)");
        assert!(login_from(&json!({"tokens": {}})).is_none());
    }
}
