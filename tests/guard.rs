//! Issue 10, items 9–16: web pages and other local programs, the token file, bounded upstream.
//! Each test replays one attack (or failure) against the proxy in-process or the real binary,
//! on 127.0.0.1 with temp token directories, and checks what the attacker (or the user) gets.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_codex-claude-proxy");

fn simple() -> Value {
    json!({"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]})
}

/// Sends `POST /v1/messages` with exactly the header lines in `head` (no Host added).
fn raw_post(addr: SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /v1/messages HTTP/1.1\r\n{head}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    read_answer(&mut BufReader::new(s), Instant::now(), false)
}

fn error_of(a: &Answer) -> (u16, String, String) {
    let v = a.json();
    (
        a.status,
        v["error"]["type"].as_str().unwrap_or("").to_owned(),
        v["error"]["message"].as_str().unwrap_or("").to_owned(),
    )
}

// ---------------------------------------------------------------- 9: browsers, DNS rebinding

#[test]
fn cross_origin_simple_post_is_refused_before_it_costs_anything() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["spent"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let body = simple().to_string();
    let host = format!("Host: {}\r\n", p.addr);
    // What a page on evil.example can send without a CORS preflight.
    let a = raw_post(
        p.addr,
        &format!("{host}Origin: https://evil.example\r\nContent-Type: text/plain\r\n"),
        body.as_bytes(),
    );
    let (status, kind, message) = error_of(&a);
    assert_eq!((status, kind.as_str()), (403, "permission_error"));
    assert!(
        message.contains("--allow-origin https://evil.example"),
        "{message}"
    );
    // Even declared as JSON (which a page cannot do without a preflight we never answer).
    let a = raw_post(
        p.addr,
        &format!("{host}Origin: https://evil.example\r\nContent-Type: application/json\r\n"),
        body.as_bytes(),
    );
    assert_eq!(a.status, 403);
    // Without Origin (a privacy extension strips it), the text/plain body alone is refused.
    let a = raw_post(
        p.addr,
        &format!("{host}Content-Type: text/plain\r\n"),
        body.as_bytes(),
    );
    let (status, kind, message) = error_of(&a);
    assert_eq!((status, kind.as_str()), (400, "invalid_request_error"));
    assert!(
        message.contains("content-type: application/json"),
        "{message}"
    );
    assert!(mock.requests().is_empty(), "nothing reached the backend");
    p.stop();
}

#[test]
fn dns_rebinding_host_is_refused_on_every_route() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["spent"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let port = p.addr.port();
    let a = raw_post(
        p.addr,
        &format!("Host: attacker.example:{port}\r\nContent-Type: application/json\r\n"),
        simple().to_string().as_bytes(),
    );
    let (status, kind, message) = error_of(&a);
    assert_eq!((status, kind.as_str()), (403, "permission_error"));
    assert!(
        message.contains("--allow-host attacker.example"),
        "{message}"
    );
    for path in ["/health", "/usage", "/v1/models"] {
        let mut s = TcpStream::connect(p.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: attacker.example:{port}\r\n\r\n"
        )
        .unwrap();
        let a = read_answer(&mut BufReader::new(s), Instant::now(), false);
        assert_eq!(a.status, 403, "{path}: {}", a.text());
        assert!(!a.text().contains("auth.json"), "{path} leaks nothing");
    }
    assert!(mock.requests().is_empty());
    p.stop();
}

#[test]
fn api_clients_and_probes_keep_working() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let body = simple().to_string();
    // Claude Code's own headers (tests/fixtures/claude-code: no Origin).
    let claude_code = format!(
        "Host: {}\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-proxy\r\n\
         anthropic-version: 2023-06-01\r\nanthropic-dangerous-direct-browser-access: true\r\n",
        p.addr
    );
    assert_eq!(raw_post(p.addr, &claude_code, body.as_bytes()).status, 200);
    // The Python SDK (httpx) and curl -H 'content-type: application/json', by name.
    let port = p.addr.port();
    for head in [
        format!("Host: localhost:{port}\r\nContent-Type: application/json; charset=utf-8\r\n"),
        format!("Host: [::1]:{port}\r\ncontent-type: application/json\r\n"),
        // The proxy's own origin (a browser console on http://127.0.0.1:PORT).
        format!(
            "Host: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        ),
    ] {
        let a = raw_post(p.addr, &head, body.as_bytes());
        assert_eq!(a.status, 200, "{head}: {}", a.text());
    }
    // Probes: HEAD anywhere, /health without Host (HTTP/1.0), both say who they are.
    let head = call(p.addr, "HEAD", "/", &[], b"");
    assert_eq!(head.status, 200);
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let health = read_answer(&mut BufReader::new(s), Instant::now(), false);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["service"], "codex-claude-proxy");
    p.stop();
}

#[test]
fn allow_lists_admit_a_reverse_proxy() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.allow_hosts = vec!["chat.example.com".into()];
        c.allow_origins = vec!["https://chat.example.com".into()];
    });
    let body = simple().to_string();
    let a = raw_post(
        p.addr,
        "Host: chat.example.com\r\nOrigin: https://chat.example.com\r\nContent-Type: application/json\r\n",
        body.as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let a = raw_post(
        p.addr,
        "Host: chat.example.com\r\nOrigin: https://evil.example\r\nContent-Type: application/json\r\n",
        body.as_bytes(),
    );
    assert_eq!(a.status, 403);
    p.stop();
}

// ------------------------------------------------------------ 10, 11, 15: the real binary

/// A scratch directory with a stub `claude` that writes the URL it was given to `stub.out`.
fn scratch_with_stub() -> CodexHome {
    let scratch = CodexHome::new(Value::Null);
    let stub = scratch.dir.join("claude");
    std::fs::write(
        &stub,
        "#!/bin/sh\necho \"$ANTHROPIC_BASE_URL\" > \"$STUB_OUT\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    scratch
}

/// Runs the binary with only `env` (plus the scratch dir as HOME, TMPDIR and first on PATH),
/// until it exits, or until its stderr contains `until` (then it is killed). Returns stdout
/// and stderr.
fn run(
    args: &[&str],
    env: &[(&str, String)],
    scratch: &Path,
    until: Option<&str>,
) -> (String, String) {
    let (out, err) = (scratch.join("out.txt"), scratch.join("err.txt"));
    let dir = scratch.display().to_string();
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs([
            ("HOME", dir.clone()),
            ("TMPDIR", dir.clone()),
            ("PATH", format!("{dir}:/usr/bin:/bin")),
            ("STUB_OUT", format!("{dir}/stub.out")),
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        let done = child.try_wait().unwrap().is_some() || until.is_some_and(|u| stderr.contains(u));
        if done || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            assert!(done, "{args:?} did not finish: {stderr}");
            return (std::fs::read_to_string(&out).unwrap(), stderr);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn backend_env(mock: &Mock, home: &CodexHome) -> Vec<(&'static str, String)> {
    vec![
        ("CODEX_HOME", home.dir.display().to_string()),
        ("CHATGPT_API_URL", mock.url.clone()),
        (
            "CODEX_REFRESH_URL",
            mock.url
                .replace("/backend-api/codex/responses", "/oauth/token"),
        ),
    ]
}

/// Something else on the port that answers `/health` like v0.1 did (no `service` field), and
/// remembers every request it got.
fn fake_proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = String::new();
            let mut r = BufReader::new(conn.try_clone().unwrap());
            while r.read_line(&mut head).unwrap_or(0) > 2 {}
            log.lock().unwrap().push(head);
            let body = r#"{"status":"ok","version":"0.1.0","auth":{"ok":true,"expires_in":999},"available":true}"#;
            let _ = write!(
                conn,
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, seen)
}

#[test]
fn launcher_and_status_ignore_a_fake_proxy_on_their_port() {
    let mock = Mock::start(|seen, _| {
        if seen.method == "GET" {
            Reply::json(200, json!({"models": []}))
        } else {
            Reply::sse(text_stream(&["ok"]))
        }
    });
    let home = CodexHome::valid();
    let scratch = scratch_with_stub();
    let (fake, seen) = fake_proxy();
    let mut env = backend_env(&mock, &home);
    env.push(("PROXY_PORT", fake.port().to_string()));
    env.push(("PROXY_API_KEY", "sk-secret-key-123".into()));
    run(&["claude"], &env, &scratch.dir, None);
    let base = std::fs::read_to_string(scratch.dir.join("stub.out")).unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_ne!(base.trim(), format!("http://{fake}"), "not reused");
    let (stdout, _) = run(&["status"], &env, &scratch.dir, None);
    assert!(
        stdout.contains("from the model list reply") || stdout.contains("unknown"),
        "{stdout}"
    );
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the fake was probed");
    for head in seen.iter() {
        assert!(head.starts_with("GET /health "), "only probed: {head}");
        assert!(
            !head.contains("sk-secret-key-123"),
            "the key went to the fake: {head}"
        );
    }
}

#[test]
fn launcher_log_never_follows_a_planted_symlink() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({"models": []})));
    let home = CodexHome::valid();
    let scratch = scratch_with_stub();
    let victim = scratch.dir.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, scratch.dir.join("codex-claude-proxy.log")).unwrap();
    let mut env = backend_env(&mock, &home);
    env.push(("PROXY_PORT", "0".into()));
    let (_, stderr) = run(&["claude"], &env, &scratch.dir, None);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    // The log went to a private directory instead.
    let uid = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    let dir = scratch
        .dir
        .join(format!("codex-claude-proxy-{}", uid.unwrap_or(0)));
    let log = dir.join("codex-claude-proxy.log");
    assert!(stderr.contains(&*log.to_string_lossy()), "{stderr}");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("listening on")
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&dir), mode(&log)), (0o700, 0o600));
}

#[test]
fn loose_token_file_permissions_are_warned_about() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({"models": []})));
    let home = CodexHome::valid();
    let scratch = CodexHome::new(Value::Null);
    std::fs::set_permissions(home.auth_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&home.dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut env = backend_env(&mock, &home);
    env.push(("PROXY_PORT", "0".into()));
    let (_, stderr) = run(&[], &env, &scratch.dir, Some("chmod 700"));
    assert!(
        stderr.contains("readable or writable by other users (mode 644)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("chmod 600 {}", home.auth_path().display())),
        "{stderr}"
    );
    // `status` says it too (it hides log lines).
    let (stdout, _) = run(&["status"], &env, &scratch.dir, None);
    assert!(
        stdout.contains("warning:") && stdout.contains("chmod 700"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------- 12–15: the token file

/// A login whose access token has expired: the next request refreshes it.
fn expired_login() -> Value {
    json!({"auth_mode":"chatgpt","tokens":{"id_token":jwt(1),"access_token":jwt(1000),
        "refresh_token":"rt-old","account_id":"acc-1"},"last_refresh":"2020-01-01T00:00:00Z"})
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn planted_temp_files_are_neither_used_nor_deleted() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::new(expired_login());
    // v0.1's temp names were predictable (PID 1 in a container): plant them all.
    let planted: Vec<PathBuf> = [std::process::id(), 1]
        .iter()
        .map(|pid| home.dir.join(format!(".auth.json.{pid}.0.tmp")))
        .collect();
    for f in &planted {
        std::fs::write(f, "not yours").unwrap();
    }
    let p = proxy(&mock, &home, |_| {});
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(home.read()["tokens"]["refresh_token"], "rt-new");
    for f in &planted {
        assert_eq!(std::fs::read_to_string(f).unwrap(), "not yours");
    }
    assert_eq!(names(&home.dir).len(), 3, "{:?}", names(&home.dir));
    p.stop();
}

#[test]
fn no_refresh_token_is_spent_when_its_successor_could_not_be_saved() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::new(Value::Null);
    // auth.json links to a file whose name is so long that no temp file can be created beside
    // it (ENAMETOOLONG, even for root): the save is doomed before the refresh.
    let long = "a".repeat(250);
    let login = serde_json::to_vec_pretty(&expired_login()).unwrap();
    std::fs::write(home.dir.join(&long), &login).unwrap();
    std::os::unix::fs::symlink(&long, home.auth_path()).unwrap();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    let (status, kind, message) = error_of(&a);
    assert_eq!((status, kind.as_str()), (401, "authentication_error"));
    assert!(message.contains("create a temp file"), "{message}");
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 0, "token not spent");
    assert_eq!(std::fs::read(home.dir.join(&long)).unwrap(), login);
    assert!(mock.requests().is_empty());
    p.stop();
}

#[test]
fn a_failed_save_keeps_the_new_login_and_saves_it_later() {
    let home = CodexHome::new(expired_login());
    let dir = home.dir.clone();
    // The token endpoint answers, but meanwhile the prepared temp file disappears: the rename
    // after the refresh fails, with the old refresh token already spent.
    let mock = Mock::start_with_refresh(
        |_, _| Reply::sse(text_stream(&["ok"])),
        move |_| {
            for name in names(&dir) {
                if name.starts_with(".auth.json.") {
                    std::fs::remove_file(dir.join(name)).unwrap();
                }
            }
            Reply::json(
                200,
                json!({"access_token": jwt(4_000_000_000), "refresh_token": "rt-new"}),
            )
        },
    );
    let p = proxy(&mock, &home, |_| {});
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    let bearer = format!("Bearer {}", jwt(4_000_000_000));
    assert_eq!(mock.last().header("authorization"), Some(bearer.as_str()));
    assert_eq!(
        home.read()["tokens"]["refresh_token"],
        "rt-old",
        "not saved yet"
    );
    // Later requests use the new tokens from memory and save them (retried once a second).
    let deadline = Instant::now() + Duration::from_secs(20);
    while home.read()["tokens"]["refresh_token"] != "rt-new" {
        assert!(Instant::now() < deadline, "never saved");
        assert_eq!(post_messages(p.addr, &simple()).status, 200);
        assert_eq!(mock.last().header("authorization"), Some(bearer.as_str()));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 1, "spent once");
    assert_eq!(names(&home.dir), ["auth.json"]);
    p.stop();
}

/// Sets a file's modification time `secs` seconds into the past.
fn age(path: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn tokens_left_in_a_temp_file_by_a_killed_save_are_adopted() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::new(expired_login());
    age(&home.auth_path(), 60);
    // Killed between fsync and rename: the only valid refresh token is in the temp file.
    let mut newer = expired_login();
    newer["tokens"]["access_token"] = json!(jwt(4_000_000_001));
    newer["tokens"]["refresh_token"] = json!("rt-survivor");
    let leftover = home.dir.join(".auth.json.0123456789abcdef.tmp");
    std::fs::write(&leftover, serde_json::to_vec_pretty(&newer).unwrap()).unwrap();
    // An older leftover is not adopted (nor deleted).
    let stale = home.dir.join(".auth.json.fedcba9876543210.tmp");
    std::fs::write(&stale, serde_json::to_vec_pretty(&expired_login()).unwrap()).unwrap();
    age(&stale, 120);
    let p = proxy(&mock, &home, |_| {});
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    let bearer = format!("Bearer {}", jwt(4_000_000_001));
    assert_eq!(mock.last().header("authorization"), Some(bearer.as_str()));
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 0);
    assert_eq!(home.read(), newer);
    assert!(!leftover.exists() && stale.exists());

    // Before a refresh too: another process was killed mid-save while this one runs.
    let mut newest = newer.clone();
    newest["tokens"]["access_token"] = json!(jwt(1001));
    std::fs::write(
        home.auth_path(),
        serde_json::to_vec_pretty(&newest).unwrap(),
    )
    .unwrap();
    age(&home.auth_path(), 30);
    newest["tokens"]["access_token"] = json!(jwt(4_000_000_002));
    newest["tokens"]["refresh_token"] = json!("rt-survivor-2");
    std::fs::write(&leftover, serde_json::to_vec_pretty(&newest).unwrap()).unwrap();
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    let bearer = format!("Bearer {}", jwt(4_000_000_002));
    assert_eq!(mock.last().header("authorization"), Some(bearer.as_str()));
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 0);
    assert_eq!(home.read(), newest);
    p.stop();
}

#[test]
fn a_failing_token_endpoint_neither_serialises_requests_nor_blocks_health() {
    let release = Arc::new(AtomicBool::new(false));
    let gate = Arc::clone(&release);
    let mock = Mock::start_with_refresh(
        |_, _| Reply::sse(text_stream(&["ok"])),
        move |_| {
            // Slow, then failing: held until the test has looked at /health.
            let t0 = Instant::now();
            while !gate.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(10));
            }
            Reply::json(500, json!({"error": "server_error"}))
        },
    );
    let home = CodexHome::new(expired_login());
    let p = proxy(&mock, &home, |_| {});
    let addr = p.addr;
    let clients: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || post_messages(addr, &simple())))
        .collect();
    let t0 = Instant::now();
    while mock.refreshes.load(Ordering::SeqCst) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(10), "no refresh started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The refresh is in flight and held: /health answers anyway.
    let health = call(p.addr, "GET", "/health", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["auth"]["ok"], true, "{}", health.text());
    release.store(true, Ordering::SeqCst);
    for c in clients {
        let (status, kind, message) = error_of(&c.join().unwrap());
        assert_eq!(
            (status, kind.as_str()),
            (529, "overloaded_error"),
            "{message}"
        );
        assert!(message.contains("token endpoint answered 500"), "{message}");
    }
    assert_eq!(
        mock.refreshes.load(Ordering::SeqCst),
        1,
        "one attempt for all"
    );
    // Backing off: the next request fails at once, without another attempt.
    let (status, _, message) = error_of(&post_messages(p.addr, &simple()));
    assert_eq!(status, 529);
    assert!(message.contains("next attempt in"), "{message}");
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 1);
    let health = call(p.addr, "GET", "/health", &[], b"").json();
    assert_eq!(health["auth"]["ok"], false);
    assert!(health["auth"]["error"].as_str().unwrap().contains("500"));
    assert!(
        mock.requests().is_empty(),
        "no backend call without a token"
    );
    p.stop();
}

#[test]
fn a_token_endpoint_that_never_answers_is_given_up_on() {
    let mock = Mock::start_with_refresh(
        |_, _| Reply::sse(text_stream(&["ok"])),
        |_| Reply::json(500, json!({})).after(Duration::from_secs(10)),
    );
    let home = CodexHome::new(expired_login());
    let p = proxy(&mock, &home, |c| {
        c.refresh_timeout = Duration::from_millis(300)
    });
    let (status, kind, message) = error_of(&post_messages(p.addr, &simple()));
    assert_eq!(
        (status, kind.as_str()),
        (529, "overloaded_error"),
        "{message}"
    );
    assert!(message.contains("could not refresh"), "{message}");
    assert_eq!(error_of(&post_messages(p.addr, &simple())).0, 529);
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(home.read(), expired_login(), "file untouched");
    p.stop();
}

#[test]
fn a_token_endpoint_slower_than_the_ping_interval_still_refreshes() {
    let mock = Mock::start_with_refresh(
        |_, _| Reply::sse(text_stream(&["ok"])),
        |_| {
            Reply::json(
                200,
                json!({"access_token": jwt(4_000_000_000), "refresh_token": "rt-new"}),
            )
            .after(Duration::from_millis(800))
        },
    );
    let home = CodexHome::new(expired_login());
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(200)
    });
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(home.read()["tokens"]["refresh_token"], "rt-new");
    p.stop();
}

#[test]
fn a_symlinked_token_file_is_written_through() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::new(Value::Null);
    let real = home.dir.join("dotfiles");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(
        real.join("auth.json"),
        serde_json::to_vec_pretty(&expired_login()).unwrap(),
    )
    .unwrap();
    std::os::unix::fs::symlink("dotfiles/auth.json", home.auth_path()).unwrap();
    let p = proxy(&mock, &home, |_| {});
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 1);
    let link = std::fs::symlink_metadata(home.auth_path()).unwrap();
    assert!(link.file_type().is_symlink(), "still a link");
    assert_eq!(home.read()["tokens"]["refresh_token"], "rt-new");
    assert_eq!(names(&real), ["auth.json"]);
    assert_eq!(names(&home.dir), ["auth.json", "dotfiles"]);
    p.stop();
}

// ----------------------------------------------------------------------- 16: bounded upstream

#[test]
fn an_event_that_never_ends_is_cut_off() {
    // 17 data lines of 1 MiB each and no blank line: one event over the 16 MiB limit.
    let line = format!("data: {}\n", "x".repeat(1 << 20));
    let mock = Mock::start(move |_, _| {
        Reply::slow_sse((0..17).map(|_| (Duration::ZERO, line.clone())).collect())
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let (status, kind, message) = error_of(&post_messages(p.addr, &simple()));
    assert_eq!((status, kind.as_str()), (502, "api_error"));
    assert!(message.contains("event larger than"), "{message}");
    p.stop();
}

#[test]
fn a_trickling_upstream_times_out_and_the_client_gets_pings_meanwhile() {
    let created = text_stream(&[])
        .split_inclusive("\n\n")
        .next()
        .unwrap()
        .to_owned();
    let mock = Mock::start(move |_, _| {
        // One byte every 100 ms: each read succeeds, no event ever completes.
        let mut parts = vec![(Duration::ZERO, created.clone())];
        parts.push((Duration::ZERO, "data: {\"type\":".into()));
        parts.extend((0..80).map(|_| (Duration::from_millis(100), " ".to_owned())));
        Reply::slow_sse(parts)
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(300);
        c.idle_timeout = Duration::from_millis(1500);
    });
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200);
    let evs = a.events();
    assert!(evs.iter().any(|(n, _)| n == "ping"), "{evs:?}");
    let (name, data) = evs.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "timeout_error", "{data}");
    p.stop();
}

#[test]
fn a_model_list_slower_than_the_ping_interval_is_still_read() {
    let mock = Mock::scripted_models(|seen, _| {
        if seen.method == "GET" {
            Reply::json(200, json!({"models": [{"slug": "gpt-slow"}]}))
                .after(Duration::from_millis(800))
        } else {
            Reply::sse(text_stream(&["ok"]))
        }
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(200)
    });
    let a = call(p.addr, "GET", "/v1/models", &[], b"");
    assert_eq!(a.status, 200);
    assert!(a.text().contains("gpt-slow"), "{}", a.text());
    p.stop();
}

#[test]
fn tokens_echoed_in_upstream_errors_are_redacted() {
    let token = jwt(4_000_000_000);
    let echoed = format!("invalid header Authorization: Bearer {token} (rejected)");
    let mock = Mock::start(move |_, n| match n {
        0 => Reply::json(
            400,
            json!({"error": {"message": echoed, "type": "invalid_request_error"}}),
        ),
        _ => Reply {
            status: 418,
            headers: vec![],
            parts: vec![(
                Duration::ZERO,
                b"<pre>authorization: bearer abc.def</pre>".to_vec(),
            )],
            delay: Duration::ZERO,
        },
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let (status, _, message) = error_of(&post_messages(p.addr, &simple()));
    assert_eq!(status, 400);
    assert!(!message.contains(&token), "{message}");
    assert!(
        message.contains("Bearer [redacted] (rejected)"),
        "{message}"
    );
    let (status, _, message) = error_of(&post_messages(p.addr, &simple()));
    assert_eq!(status, 502);
    assert!(!message.contains("abc.def"), "{message}");
    p.stop();
}
