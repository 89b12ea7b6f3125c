//! The `claude` launcher and `status` run as the real binary (with an explicit environment and a
//! stub `claude` script), and `GET /usage` fed by the mock backend's rate-limit headers.
//! Nothing here reads ~/.codex or changes this process's environment; everything is 127.0.0.1.

#![cfg(unix)]

mod common;

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codex_claude_proxy::Running;
use common::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_codex-claude-proxy");

/// Records what Claude Code would see, proves the proxy answers `/health`, exits 7.
const STUB: &str = r#"#!/bin/bash
{
  echo "base=$ANTHROPIC_BASE_URL"
  echo "token=$ANTHROPIC_AUTH_TOKEN"
  echo "window=$CLAUDE_CODE_AUTO_COMPACT_WINDOW"
  echo "traffic=$CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"
  echo "apikey=${ANTHROPIC_API_KEY-unset}"
  for a in "$@"; do echo "arg=$a"; done
  # From a child: bash ignores SIGQUIT for itself, but restores what it inherited for children.
  echo "sigign=$(grep SigIgn /proc/self/status | cut -f2)"
} > "$STUB_OUT.tmp"
mv "$STUB_OUT.tmp" "$STUB_OUT"
hp=${ANTHROPIC_BASE_URL#http://}
exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || exit 99
printf 'GET /health HTTP/1.0\r\nConnection: close\r\n\r\n' >&3
while IFS= read -r line <&3 || [ -n "$line" ]; do echo "$line"; done > "$STUB_OUT.health"
[ -n "$STUB_SLEEP" ] && sleep "$STUB_SLEEP"
exit 7
"#;

/// An empty temp dir (removed on drop).
fn temp_dir() -> CodexHome {
    CodexHome::new(Value::Null)
}

/// A port nothing listens on (bound once, then released).
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_stub(dir: &Path) {
    let path = dir.join("claude");
    std::fs::write(&path, STUB).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The backend's model list as the mock serves it, with rate-limit headers.
fn models_reply() -> Reply {
    let mut r = Reply::json(
        200,
        json!({"models": [
            {"slug": "gpt-5.6-terra", "context_window": 123_456},
            {"slug": "gpt-5.6-luna", "context_window": 272_000}
        ]}),
    );
    r.headers.extend(limit_headers("42", "7"));
    r
}

fn limit_headers(primary: &str, secondary: &str) -> Vec<(String, String)> {
    [
        ("x-codex-primary-used-percent", primary),
        ("x-codex-primary-window-minutes", "300"),
        ("x-codex-primary-reset-at", "4000000000"),
        ("x-codex-secondary-used-percent", secondary),
        ("x-codex-secondary-window-minutes", "10080"),
        ("x-codex-secondary-reset-at", "4000500000"),
        ("x-codex-credits-has-credits", "false"),
        ("x-codex-credits-unlimited", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A mock answering the model list and, for anything else, a short text stream.
fn backend() -> Mock {
    Mock::scripted_models(|seen, _| {
        if seen.method == "GET" && seen.path.contains("/models") {
            models_reply()
        } else {
            Reply::sse(text_stream(&["ok"]))
        }
    })
}

/// The environment the binary gets: nothing inherited from this process.
fn env(
    mock: &Mock,
    home: &CodexHome,
    fake_home: &Path,
    path: &str,
    port: u16,
) -> Vec<(String, String)> {
    [
        ("PATH", path.to_owned()),
        ("HOME", fake_home.display().to_string()),
        ("CODEX_HOME", home.dir.display().to_string()),
        ("CHATGPT_API_URL", mock.url.clone()),
        (
            "CODEX_REFRESH_URL",
            mock.url
                .replace("/backend-api/codex/responses", "/oauth/token"),
        ),
        ("PROXY_PORT", port.to_string()),
        // The launcher's log file goes to the temp directory: keep it in the test's own.
        ("TMPDIR", fake_home.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The ignored-signal mask from a `/proc/PID/status` text.
#[cfg(target_os = "linux")]
fn sig_ign(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with exactly `env`, killing it if it takes longer than 60 s.
fn run_bin(args: &[&str], env: &[(String, String)], scratch: &Path) -> Run {
    run_bin_with(args, env, scratch, |_| {})
}

/// [`run_bin`], calling `meanwhile` with the child's pid once it runs.
fn run_bin_with(
    args: &[&str],
    env: &[(String, String)],
    scratch: &Path,
    meanwhile: impl FnOnce(u32),
) -> Run {
    let (out, err) = (scratch.join("bin.stdout"), scratch.join("bin.stderr"));
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    meanwhile(child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{BIN} {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

/// The stub's `key=value` lines.
fn stub_report(out: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(out)
        .unwrap_or_else(|e| panic!("the stub claude did not run ({e})"))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn value<'a>(report: &'a [(String, String)], key: &str) -> &'a str {
    report
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {report:?}"))
}

#[test]
fn launcher_starts_a_proxy_and_runs_claude_through_it() {
    let mock = backend();
    let home = CodexHome::valid();
    let scratch = temp_dir();
    write_stub(&scratch.dir);
    let port = dead_port();
    let stub_out = scratch.dir.join("stub.out");
    let mut env = env(
        &mock,
        &home,
        &scratch.dir,
        &format!("{}:/usr/bin:/bin", scratch.dir.display()),
        port,
    );
    env.push(("STUB_OUT".into(), stub_out.display().to_string()));
    env.push(("ANTHROPIC_API_KEY".into(), "sk-ant-real-key".into()));
    let run = run_bin(&["claude", "-p", "hi", "--foo"], &env, &scratch.dir);
    assert_eq!(run.code, Some(7), "stderr: {}", run.stderr);
    let report = stub_report(&stub_out);
    let base = value(&report, "base");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_ne!(
        base,
        format!("http://127.0.0.1:{port}"),
        "must not bind the busy-or-dead default port"
    );
    assert_eq!(value(&report, "token"), "sk-proxy");
    assert_eq!(
        value(&report, "window"),
        "123456",
        "the big model's context window"
    );
    assert_eq!(value(&report, "traffic"), "1");
    assert_eq!(value(&report, "apikey"), "unset");
    let args: Vec<&str> = report
        .iter()
        .filter(|(k, _)| k == "arg")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(args, ["-p", "hi", "--foo"]);
    let health = std::fs::read_to_string(scratch.dir.join("stub.out.health")).unwrap();
    assert!(
        health.starts_with("HTTP/1.") && health.contains(" 200 "),
        "{health}"
    );
    assert!(health.contains(r#""status":"ok""#), "{health}");
    // Claude Code owns the terminal: the proxy's log goes to a file, named once on stderr.
    let log_path = scratch.dir.join("codex-claude-proxy.log");
    assert!(
        !run.stderr.contains("INFO") && run.stderr.contains(&*log_path.to_string_lossy()),
        "stderr: {}",
        run.stderr
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
}

#[cfg(target_os = "linux")]
#[test]
fn launcher_survives_ctrl_c_and_claude_keeps_default_signals() {
    let mock = backend();
    let home = CodexHome::valid();
    let scratch = temp_dir();
    write_stub(&scratch.dir);
    let stub_out = scratch.dir.join("stub.out");
    let mut env = env(
        &mock,
        &home,
        &scratch.dir,
        &format!("{}:/usr/bin:/bin", scratch.dir.display()),
        dead_port(),
    );
    env.push(("STUB_OUT".into(), stub_out.display().to_string()));
    env.push(("STUB_SLEEP".into(), "1".into()));
    let run = run_bin_with(&["claude"], &env, &scratch.dir, |pid| {
        // Once claude runs, interrupt the launcher alone: it must wait for claude, not die.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stub_out.exists() {
            assert!(Instant::now() < deadline, "the stub claude never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    });
    assert_eq!(run.code, Some(7), "stderr: {}", run.stderr);
    // claude got the launcher's dispositions through exec: SIGINT/SIGQUIT not ignored, unless
    // this test itself was started with them ignored (a background job), which it inherits.
    let ours = sig_ign(&std::fs::read_to_string("/proc/self/status").unwrap());
    let report = stub_report(&stub_out);
    let theirs = u64::from_str_radix(value(&report, "sigign"), 16).unwrap();
    let int_quit = 0b110; // bits for signals 2 and 3
    assert_eq!(theirs & int_quit, ours & int_quit);
}

#[test]
fn launcher_without_claude_says_how_to_install_it() {
    let mock = backend();
    let home = CodexHome::valid();
    let scratch = temp_dir();
    let empty = temp_dir();
    let env = env(
        &mock,
        &home,
        &scratch.dir,
        &empty.dir.display().to_string(),
        dead_port(),
    );
    let run = run_bin(&["claude", "-p", "hi"], &env, &scratch.dir);
    assert_ne!(run.code, Some(0));
    assert!(run.code.is_some());
    assert!(
        run.stderr.contains("claude not found on PATH")
            && run
                .stderr
                .contains("npm install -g @anthropic-ai/claude-code"),
        "{}",
        run.stderr
    );
    assert!(
        mock.requests().is_empty(),
        "nothing started before the check"
    );
}

/// The environment the binary runs with.
type Env = Vec<(String, String)>;

/// A proxy running with an API key, a stub `claude`, and the launcher's environment for both;
/// the last item (the login and the mock) must live as long as the test.
fn running_proxy() -> (Running, CodexHome, PathBuf, Env, (CodexHome, Mock)) {
    let mock = backend();
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| c.api_key = Some("sk-shared".into()));
    let scratch = temp_dir();
    write_stub(&scratch.dir);
    let stub_out = scratch.dir.join("stub.out");
    let path = format!("{}:/usr/bin:/bin", scratch.dir.display());
    let mut env = env(&mock, &home, &scratch.dir, &path, p.addr.port());
    env.push(("STUB_OUT".into(), stub_out.display().to_string()));
    env.push(("PROXY_API_KEY".into(), "sk-shared".into()));
    (p, scratch, stub_out, env, (home, mock))
}

#[test]
fn launcher_reuses_a_running_proxy() {
    let (p, scratch, stub_out, mut env, _keep) = running_proxy();
    env.push(("CLAUDE_CODE_AUTO_COMPACT_WINDOW".into(), "100000".into()));
    let run = run_bin(&["claude"], &env, &scratch.dir);
    assert_eq!(run.code, Some(7), "stderr: {}", run.stderr);
    let report = stub_report(&stub_out);
    assert_eq!(value(&report, "base"), format!("http://{}", p.addr));
    assert_eq!(value(&report, "token"), "sk-shared");
    assert_eq!(
        value(&report, "window"),
        "100000",
        "the user's setting wins"
    );
    assert!(report.iter().all(|(k, _)| k != "arg"));
    let health = std::fs::read_to_string(scratch.dir.join("stub.out.health")).unwrap();
    assert!(health.contains(r#""status":"ok""#), "{health}");
    let said = format!("using the proxy already running on {} (opus → ", p.addr);
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    // No proxy runs in the launcher, so it has no log to name or create.
    assert!(!run.stderr.contains("logging to"), "{}", run.stderr);
    assert!(!scratch.dir.join("codex-claude-proxy.log").exists());
    p.stop();
}

#[test]
fn launcher_with_other_settings_than_the_running_proxy_starts_its_own() {
    let (p, scratch, stub_out, mut env, _keep) = running_proxy();
    let other_home = CodexHome::valid();
    let home_flag = other_home.dir.display().to_string();
    let args = [
        "--thinking-model",
        "gpt-x",
        "--codex-home",
        &home_flag,
        "claude",
    ];
    let run = run_bin(&args, &env, &scratch.dir);
    assert_eq!(run.code, Some(7), "stderr: {}", run.stderr);
    let base = value(&stub_report(&stub_out), "base").to_owned();
    assert_ne!(base, format!("http://{}", p.addr), "not the running proxy");
    for said in [
        format!("the proxy on {} runs with other settings", p.addr),
        "you asked for --thinking-model gpt-x, it uses gpt-".to_owned(),
        format!("you asked for --codex-home {}", home_flag),
        "starting a private proxy for this session".to_owned(),
    ] {
        assert!(run.stderr.contains(&said), "{said}: {}", run.stderr);
    }
    // The private proxy has what was asked for.
    let health = std::fs::read_to_string(scratch.dir.join("stub.out.health")).unwrap();
    assert!(health.contains(r#""thinking-model":"gpt-x""#), "{health}");
    // Same settings, but no key for a proxy that wants one: also a private proxy, saying why.
    env.retain(|(k, _)| k != "PROXY_API_KEY");
    let run = run_bin(&["claude"], &env, &scratch.dir);
    assert_eq!(run.code, Some(7), "stderr: {}", run.stderr);
    assert!(
        run.stderr
            .contains("it requires an API key: set PROXY_API_KEY to use it"),
        "{}",
        run.stderr
    );
    let base = value(&stub_report(&stub_out), "base").to_owned();
    assert_ne!(base, format!("http://{}", p.addr));
    p.stop();
}

#[test]
fn usage_endpoint_reports_the_latest_limits() {
    let mock = Mock::start(|_, n| {
        let mut r = if n == 0 {
            Reply::sse(text_stream(&["hi"]))
        } else {
            Reply::json(
                429,
                json!({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached", "resets_in_seconds": 60}}),
            )
        };
        r.headers
            .extend(limit_headers(if n == 0 { "42.5" } else { "100" }, "7"));
        r
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let before = call(p.addr, "GET", "/usage", &[], b"");
    assert_eq!(
        (before.status, before.json()),
        (200, json!({"available": false}))
    );

    let req = json!({"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]});
    assert_eq!(post_messages(p.addr, &req).status, 200);
    let u = call(p.addr, "GET", "/usage", &[], b"").json();
    assert_eq!(u["available"], true);
    assert_eq!(
        u["primary"],
        json!({"used_percent": 42.5, "window_minutes": 300, "resets_at": 4_000_000_000u64})
    );
    assert_eq!(u["secondary"]["used_percent"], 7.0);
    assert_eq!(u["secondary"]["window_minutes"], 10080);
    assert_eq!(u["credits"]["has_credits"], false);
    assert!(u["seen_at"].as_u64().unwrap() > 1_700_000_000);

    // An error reply carries them too.
    assert_eq!(post_messages(p.addr, &req).status, 429);
    let u = call(p.addr, "GET", "/usage", &[], b"").json();
    assert_eq!(u["primary"]["used_percent"], 100.0);
    p.stop();

    // Behind an API key, /usage needs it like /v1/*; /health does not.
    let p = proxy(&mock, &home, |c| c.api_key = Some("sk-k".into()));
    assert_eq!(call(p.addr, "GET", "/usage", &[], b"").status, 401);
    assert_eq!(
        call(p.addr, "GET", "/usage", &[("x-api-key", "sk-k")], b"").status,
        200
    );
    assert_eq!(call(p.addr, "GET", "/health", &[], b"").status, 200);
    p.stop();
}

fn home_with_profile() -> (CodexHome, String) {
    let access = jwt(4_000_000_000);
    let id = jwt_with(json!({"email": "ada@example.com",
        "https://api.openai.com/auth": {"chatgpt_plan_type": "plus", "chatgpt_account_id": "acc-from-jwt"}}));
    let home = CodexHome::new(json!({"auth_mode": "chatgpt", "OPENAI_API_KEY": null,
        "tokens": {"id_token": id, "access_token": access, "refresh_token": "rt-secret", "account_id": "acc-1"},
        "last_refresh": "2026-11-20T09:14:03Z"}));
    (home, access)
}

#[test]
fn status_reports_account_backend_and_usage() {
    let mock = backend();
    let (home, access) = home_with_profile();
    let scratch = temp_dir();
    let env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", dead_port());
    let run = run_bin(&["status"], &env, &scratch.dir);
    assert_eq!(
        run.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    let out = &run.stdout;
    for want in [
        "ada@example.com (plan: plus)",
        "acc-1",
        "expires 2096-10-02T07:06:40Z (in ",
        "last refresh 2026-11-20T09:14:03Z",
        "auth.json",
        "OK, 2 models",
        "5h limit: 42% used, resets 2096-10-02T07:06:40Z",
        "weekly limit: 7% used",
        "from the model list reply",
        "models:       opus → gpt-5.6-terra (lite), sonnet → gpt-5.6-terra (lite), haiku → gpt-5.6-luna (lite)",
        "client:       announces Codex CLI 0.171.0",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains(&access) && !run.stderr.contains(&access));
    assert!(!out.contains("rt-secret") && !run.stderr.contains("rt-secret"));
    let seen = mock.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .path
            .contains("/backend-api/codex/models?client_version=")
    );
    assert_eq!(seen[0].header("chatgpt-account-id"), Some("acc-1"));
}

#[test]
fn status_prefers_a_running_proxys_usage() {
    let mock = Mock::scripted_models(|seen, _| {
        if seen.path.contains("/models") {
            Reply::json(200, json!({"models": []}))
        } else {
            let mut r = Reply::sse(text_stream(&["hi"]));
            r.headers.extend(limit_headers("81", "3"));
            r
        }
    });
    let (home, _) = home_with_profile();
    let p = proxy(&mock, &home, |_| {});
    let req = json!({"model":"claude-sonnet-4-5","max_tokens":100,"stream":false,"messages":[{"role":"user","content":"hi"}]});
    assert_eq!(post_messages(p.addr, &req).status, 200);
    let scratch = temp_dir();
    let env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", p.addr.port());
    let run = run_bin(&["status"], &env, &scratch.dir);
    assert_eq!(
        run.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("5h limit: 81% used"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("from the proxy on {}", p.addr)),
        "{}",
        run.stdout
    );
    p.stop();
}

#[test]
fn status_without_login_fails_with_a_hint() {
    let mock = backend();
    let home = CodexHome::new(Value::Null);
    let scratch = temp_dir();
    let env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", dead_port());
    let run = run_bin(&["status"], &env, &scratch.dir);
    assert_eq!(
        run.code,
        Some(1),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("codex login"), "{}", run.stdout);
    assert!(run.stdout.contains("does not exist"), "{}", run.stdout);
    assert!(
        run.stdout.contains("unknown (no request yet)"),
        "{}",
        run.stdout
    );
    assert!(mock.requests().is_empty());
}

/// Starts the binary (`status`, or the proxy if `serve`) unable to read the login as a user
/// would be: as root, it runs as uid 65534 and the login directory is private (mode 0700, the
/// Docker-without-`--user` case); otherwise `auth.json` has mode 000. Returns what it printed
/// and, for the proxy, its answer to a request.
fn run_without_read_access(
    home: &CodexHome,
    scratch: &Path,
    serve: bool,
) -> (String, Option<Answer>) {
    let mock = backend();
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let mut cmd = if root {
        std::fs::set_permissions(&home.dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        std::fs::set_permissions(home.auth_path(), std::fs::Permissions::from_mode(0o000)).unwrap();
        Command::new(BIN)
    };
    let err_path = scratch.join("perm.stderr");
    let out_path = scratch.join("perm.stdout");
    let mut child = cmd
        .args(if serve {
            vec!["--port", "0"]
        } else {
            vec!["status"]
        })
        .env_clear()
        .envs(env(&mock, home, scratch, "/usr/bin:/bin", 0))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut answer = None;
    if serve {
        let addr = listening_addr(&err_path);
        let body =
            json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]});
        answer = Some(post_messages(addr, &body));
        let _ = child.kill();
    }
    child.wait().unwrap();
    assert!(mock.requests().is_empty());
    let printed =
        std::fs::read_to_string(&out_path).unwrap() + &std::fs::read_to_string(&err_path).unwrap();
    (printed, answer)
}

#[test]
fn unreadable_login_is_reported_as_a_permission_problem() {
    let home = CodexHome::valid();
    let scratch = temp_dir();
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let says_what_to_do = |text: &str| {
        assert!(
            text.contains(&format!(
                "permission denied reading {}",
                home.auth_path().display()
            )),
            "{text}"
        );
        if root {
            let whose = format!(
                "the proxy runs as uid 65534, and {} belongs to uid 0 (mode 0700)",
                home.dir.display()
            );
            assert!(text.contains(&whose), "{text}");
        } else {
            assert!(text.contains("(mode 0000)"), "{text}");
        }
        assert!(
            text.contains(r#"docker run --user "$(id -u):$(id -g)""#),
            "{text}"
        );
        assert!(
            !text.contains("codex login"),
            "signing in again would not help: {text}"
        );
    };
    let (printed, _) = run_without_read_access(&home, &scratch.dir, false);
    says_what_to_do(&printed);
    let (printed, answer) = run_without_read_access(&home, &scratch.dir, true);
    says_what_to_do(&printed);
    let a = answer.unwrap();
    assert_eq!((a.status, a.header("x-should-retry")), (401, Some("false")));
    says_what_to_do(a.json()["error"]["message"].as_str().unwrap());
}

#[test]
fn json_log_format_gives_one_object_per_line() {
    let mock = backend();
    let home = CodexHome::valid();
    let scratch = temp_dir();
    let env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", 0);
    let err_path = scratch.dir.join("bin.stderr");
    let run = run_bin_with(&["--log-format", "json"], &env, &scratch.dir, |pid| {
        // Wait for the listening line, use the proxy once, then stop it.
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let log = std::fs::read_to_string(&err_path).unwrap_or_default();
            if let Some(a) = log.split("listening on http://").nth(1) {
                break a.split('"').next().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "no listening line: {log}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let body = json!({"model":"claude-haiku-5-5","stream":true,"messages":[{"role":"user","content":"hi"}]});
        let a = post_messages(addr.parse().unwrap(), &body);
        assert_eq!(a.status, 200);
        std::thread::sleep(Duration::from_millis(100));
        Command::new("kill").arg(pid.to_string()).status().unwrap();
    });
    assert_eq!(run.code, Some(0), "a clean stop on SIGTERM");
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["time"].is_string() && l["level"].is_string() && l["message"].is_string())
    );
    let req = lines
        .iter()
        .find(|l| l["event"] == "request")
        .expect("a request line");
    assert_eq!(req["model"], "claude-haiku-5-5");
    assert_eq!(req["upstream_model"], "gpt-5.6-luna");
    assert_eq!(req["status"], 200);
    assert_eq!(req["stream"], true);
    assert!(
        req["duration_ms"].is_u64()
            && req["output_tokens"].is_u64()
            && req["cached_tokens"].is_u64()
    );
    assert!(
        !run.stderr.contains(&jwt(4_000_000_000)),
        "no token in the log"
    );
}

/// Where the proxy whose log is at `err_path` listens, once it says so (at most 20 s).
fn listening_addr(err_path: &Path) -> std::net::SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(err_path).unwrap_or_default();
        if let Some(a) = log.split("listening on http://").nth(1) {
            return a.split_whitespace().next().unwrap().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no listening line: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the proxy binary with `args`, makes one request through it (if `request`), stops it and
/// returns its stderr.
fn proxy_log(
    args: &[&str],
    env: &[(String, String)],
    scratch: &Path,
    request: Option<Value>,
) -> String {
    let err_path = scratch.join("bin.stderr");
    let run = run_bin_with(args, env, scratch, |pid| {
        let addr = listening_addr(&err_path);
        if let Some(body) = request {
            let port = addr.port();
            let a = call(
                ([127, 0, 0, 1], port).into(),
                "POST",
                "/v1/messages",
                &[
                    ("x-api-key", "proxy-key-123"),
                    ("Authorization", "Bearer client-secret-456"),
                ],
                body.to_string().as_bytes(),
            );
            assert_eq!(a.status, 200, "{}", a.text());
        }
        std::thread::sleep(Duration::from_millis(100));
        Command::new("kill").arg(pid.to_string()).status().unwrap();
    });
    run.stderr
}

#[test]
fn secrets_never_reach_the_log_even_at_trace_level() {
    let mock = backend();
    // An expired token, so a refresh (with both tokens in flight) happens during the request.
    let home = CodexHome::new(
        json!({"tokens": {"access_token": jwt(1000), "refresh_token": "rt-secret-789", "account_id": "a"}}),
    );
    let scratch = temp_dir();
    let env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", 0);
    let body = json!({"model": "claude-sonnet-4-5", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let log = proxy_log(
        &["--log-level", "trace", "--api-key", "proxy-key-123"],
        &env,
        &scratch.dir,
        Some(body),
    );
    assert!(log.contains("refreshing the ChatGPT access token"), "{log}");
    assert!(log.contains("→ gpt-5.6-terra"), "{log}");
    for secret in [
        jwt(1000),
        jwt(4_000_000_000),
        "rt-secret-789".into(),
        "rt-new".into(),
        "proxy-key-123".into(),
        "client-secret-456".into(),
    ] {
        assert!(
            !log.contains(&secret),
            "secret {secret:?} in the log:\n{log}"
        );
    }
}

#[test]
fn startup_shows_the_models_chosen_and_warns_about_legacy_settings() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let scratch = temp_dir();
    let mut env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", 0);
    env.push(("CODEX_BIG_MODEL".into(), "gpt-5.6-terra".into()));
    let hi = json!({"model":"claude-haiku-5-5","stream":true,"messages":[{"role":"user","content":"hi"}]});
    let log = proxy_log(&[], &env, &scratch.dir, Some(hi.clone()));
    assert!(
        log.contains(
            "models (from the backend's model list, client 0.171.0): opus → gpt-6.2-sol (lite), \
             sonnet → gpt-5.6-terra (lite, set), haiku → gpt-6-luna (lite)"
        ),
        "{log}"
    );
    assert!(
        log.contains("CODEX_BIG_MODEL=gpt-5.6-terra is a legacy model; its successor is gpt-6-sol"),
        "{log}"
    );
    assert!(
        log.contains("claude-haiku-5-5 → gpt-6-luna (lite)"),
        "{log}"
    );

    // The list cannot be read: the log says why, once, and the built-in table serves.
    let down = Mock::scripted_models(|seen, _| {
        if seen.path.contains("/models") {
            Reply::json(503, json!({"detail": "models are resting"}))
        } else {
            Reply::sse(text_stream(&["ok"]))
        }
    });
    let env = self::env(&down, &home, &scratch.dir, "/usr/bin:/bin", 0);
    let log = proxy_log(&[], &env, &scratch.dir, Some(hi));
    let why = "could not read the backend's model list (the ChatGPT backend is unavailable (503): models are resting)";
    assert_eq!(log.matches(why).count(), 1, "{log}");
    assert!(
        log.contains("models (from the built-in table, client 0.171.0)"),
        "{log}"
    );
}

#[test]
fn exposed_address_without_a_key_warns_loudly() {
    let mock = backend();
    let home = CodexHome::valid();
    let scratch = temp_dir();
    let env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", 0);
    let log = proxy_log(&["--host", "0.0.0.0"], &env, &scratch.dir, None);
    assert!(log.contains("WITHOUT an API key"), "{log}");
    let log = proxy_log(
        &["--host", "0.0.0.0", "--api-key", "k"],
        &env,
        &scratch.dir,
        None,
    );
    assert!(!log.contains("WITHOUT an API key"), "{log}");
    let log = proxy_log(&[], &env, &scratch.dir, None);
    assert!(
        log.contains("listening on http://127.0.0.1:"),
        "loopback by default: {log}"
    );
}

#[test]
fn a_taken_port_names_the_address_and_the_way_out() {
    let mock = backend();
    let home = CodexHome::valid();
    let scratch = temp_dir();
    // Taken by a codex-claude-proxy: say so, and that it can be used as it is.
    let p = proxy(&mock, &home, |_| {});
    let env1 = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", p.addr.port());
    let run = run_bin(&[], &env1, &scratch.dir);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let want = format!(
        "cannot listen on {}: a codex-claude-proxy {} is already running there",
        p.addr,
        env!("CARGO_PKG_VERSION")
    );
    assert!(run.stderr.contains(&want), "{}", run.stderr);
    assert!(
        run.stderr.contains("`codex-claude-proxy claude` reuses it")
            && run.stderr.contains("--port"),
        "{}",
        run.stderr
    );
    p.stop();
    // Taken by something else: name the address and suggest another port.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let env2 = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", port);
    let run = run_bin(&[], &env2, &scratch.dir);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let want = format!(
        "cannot listen on 127.0.0.1:{port}: the address is already in use by another program"
    );
    assert!(
        run.stderr.contains(&want) && run.stderr.contains("--port"),
        "{}",
        run.stderr
    );
    // Flag mistakes are caught before anything starts, with exit code 2.
    let run = run_bin(&["--host", "--port", "18090"], &env2, &scratch.dir);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("--host needs a value"),
        "{}",
        run.stderr
    );
}

#[test]
fn startup_hint_works_with_an_api_key_and_never_shows_it() {
    let mock = backend();
    let home = CodexHome::valid();
    let scratch = temp_dir();
    let env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", 0);
    let log = proxy_log(&["--api-key", "k-9f8e7d"], &env, &scratch.dir, None);
    let hint = log
        .lines()
        .find(|l| l.contains("use it with:"))
        .unwrap_or_else(|| panic!("no hint: {log}"));
    assert!(
        hint.contains(r#"ANTHROPIC_AUTH_TOKEN="$PROXY_API_KEY" claude"#),
        "{hint}"
    );
    assert!(
        !log.contains("k-9f8e7d") && !log.contains("sk-proxy"),
        "{log}"
    );
    // Without a key any token works; on a wildcard address the hint names loopback.
    let log = proxy_log(&["--host", "0.0.0.0"], &env, &scratch.dir, None);
    assert!(
        log.contains("use it with: ANTHROPIC_BASE_URL=http://127.0.0.1:")
            && log.contains("ANTHROPIC_AUTH_TOKEN=sk-proxy claude"),
        "{log}"
    );
}

#[test]
fn sigterm_lets_streams_in_flight_finish_then_exits_0() {
    let full = text_stream(&["before", "after"]);
    let events: Vec<String> = full.split_inclusive("\n\n").map(str::to_owned).collect();
    let (head, tail) = (events[..3].concat(), events[3..].concat());
    let mock = Mock::start(move |_, _| {
        Reply::slow_sse(vec![
            (Duration::ZERO, head.clone()),
            (Duration::from_millis(1500), tail.clone()),
        ])
    });
    let home = CodexHome::valid();
    let scratch = temp_dir();
    let env = env(&mock, &home, &scratch.dir, "/usr/bin:/bin", 0);
    let err_path = scratch.dir.join("bin.stderr");
    let answer = std::sync::Arc::new(std::sync::Mutex::new(None));
    let answer2 = answer.clone();
    let t0 = Instant::now();
    let run = run_bin_with(&[], &env, &scratch.dir, move |pid| {
        let addr = listening_addr(&err_path);
        let body = json!({"model": "claude-sonnet-4-5", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let client = std::thread::spawn(move || post_messages(addr, &body));
        std::thread::sleep(Duration::from_millis(400));
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        *answer2.lock().unwrap() = Some(client.join().unwrap());
    });
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("shutting down"), "{}", run.stderr);
    let a = answer.lock().unwrap().take().unwrap();
    let evs = a.events();
    assert_eq!(
        evs.last().unwrap().0,
        "message_stop",
        "the stream in flight completed"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    // With nothing in flight it exits at once.
    let scratch = temp_dir();
    let env2 = self::env(&mock, &home, &scratch.dir, "/usr/bin:/bin", 0);
    let err_path = scratch.dir.join("bin.stderr");
    let t1 = Instant::now();
    let run = run_bin_with(&[], &env2, &scratch.dir, move |pid| {
        while !std::fs::read_to_string(&err_path)
            .unwrap_or_default()
            .contains("listening on")
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
    });
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(t1.elapsed() < Duration::from_secs(3));
}
