//! `login` / `logout` against a fake OAuth issuer (tiny_http on 127.0.0.1:0): the browser PKCE
//! flow driven by calling the callback the way a browser would, the device-code flow, and the
//! `auth.json` they leave behind. Every test uses its own temp `CODEX_HOME` and never port 1455.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use codex_claude_proxy::Config;
use codex_claude_proxy::login::{LoginOptions, code_challenge, login_with, logout, sign_out};
use codex_claude_proxy::oauth::CLIENT_ID;
use common::{CodexHome, call};
use serde_json::{Value, json};

/// The fake issuer: `/oauth/token`, the two device-code endpoints, and what it saw.
struct Issuer {
    url: String,
    /// The PKCE challenge from the authorize URL, set by the test once it has read the URL.
    challenge: Arc<Mutex<String>>,
    token_calls: Arc<AtomicUsize>,
    polls: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
}

impl Issuer {
    fn start(device_enabled: bool) -> Issuer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!(
            "http://127.0.0.1:{}",
            server.server_addr().to_ip().unwrap().port()
        );
        let challenge = Arc::new(Mutex::new(String::new()));
        let token_calls = Arc::new(AtomicUsize::new(0));
        let polls = Arc::new(AtomicUsize::new(0));
        let (srv, base, ch, tc, pl) = (
            server.clone(),
            url.clone(),
            challenge.clone(),
            token_calls.clone(),
            polls.clone(),
        );
        std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let mut body = String::new();
                req.as_reader().read_to_string(&mut body).unwrap();
                let (status, answer) = match req.url() {
                    "/oauth/token" => {
                        tc.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(
                            header(&req, "content-type").as_deref(),
                            Some("application/x-www-form-urlencoded")
                        );
                        token(&params(&body), &ch.lock().unwrap(), &base)
                    }
                    "/api/accounts/deviceauth/usercode" if !device_enabled => {
                        (404, json!({"error": "not_found"}))
                    }
                    "/api/accounts/deviceauth/usercode" => {
                        let v: Value = serde_json::from_str(&body).unwrap();
                        assert_eq!(v, json!({"client_id": CLIENT_ID}));
                        (
                            200,
                            json!({"device_auth_id": "dev-1", "user_code": "ABCD-1234", "interval": "1"}),
                        )
                    }
                    "/api/accounts/deviceauth/token" => {
                        let v: Value = serde_json::from_str(&body).unwrap();
                        assert_eq!(
                            v,
                            json!({"device_auth_id": "dev-1", "user_code": "ABCD-1234"})
                        );
                        if pl.fetch_add(1, Ordering::SeqCst) == 0 {
                            (403, json!({"error": "authorization_pending"}))
                        } else {
                            (
                                200,
                                json!({"authorization_code": "dev-code",
                                       "code_challenge": code_challenge("dev-verifier"),
                                       "code_verifier": "dev-verifier"}),
                            )
                        }
                    }
                    _ => (404, json!({"error": "not_found"})),
                };
                let resp = tiny_http::Response::from_string(answer.to_string())
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap(),
                    );
                let _ = req.respond(resp);
            }
        });
        Issuer {
            url,
            challenge,
            token_calls,
            polls,
            server,
        }
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn header(req: &tiny_http::Request, name: &str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.to_string())
}

/// The token endpoint: accepts the browser code with a verifier matching the challenge, and the
/// device code with the device flow's redirect URI.
fn token(form: &HashMap<String, String>, challenge: &str, issuer: &str) -> (u16, Value) {
    let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    assert_eq!(f("grant_type"), "authorization_code");
    assert_eq!(f("client_id"), CLIENT_ID);
    let browser = f("code") == "good-code"
        && f("redirect_uri").starts_with("http://localhost:")
        && f("redirect_uri").ends_with("/auth/callback")
        && code_challenge(f("code_verifier")) == challenge;
    let device = f("code") == "dev-code"
        && f("redirect_uri") == format!("{issuer}/deviceauth/callback")
        && f("code_verifier") == "dev-verifier";
    if !(browser || device) {
        return (
            400,
            json!({"error": "invalid_grant", "error_description": "bad code"}),
        );
    }
    // The device login's id token has the e-mail only in the profile claim.
    let claims = if device {
        json!({"https://api.openai.com/profile": {"email": "dev@example.com"},
               "https://api.openai.com/auth": {"chatgpt_account_id": "acc-dev", "chatgpt_plan_type": "pro"}})
    } else {
        json!({"email": "user@example.com",
               "https://api.openai.com/auth": {"chatgpt_account_id": "acc-42", "chatgpt_plan_type": "plus"}})
    };
    (
        200,
        json!({"id_token": jwt(&claims), "access_token": "at-SECRET", "refresh_token": "rt-SECRET",
               "expires_in": 3600, "token_type": "Bearer"}),
    )
}

fn jwt(claims: &Value) -> String {
    codex_claude_proxy::oauth::unsigned_jwt(claims)
}

/// `a=b&c=d` (percent-encoded) into a map.
fn params(s: &str) -> HashMap<String, String> {
    let decode = |v: &str| {
        let mut out = Vec::new();
        let b = v.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    s.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect()
}

/// A login running in a thread, and the lines it says.
struct Run {
    lines: Receiver<String>,
    said: Vec<String>,
    done: JoinHandle<Result<(), String>>,
}

impl Run {
    fn start(issuer: &Issuer, codex_home: std::path::PathBuf, device: bool) -> Run {
        Run::start_with(issuer, codex_home, device, |_| {})
    }

    fn start_with(
        issuer: &Issuer,
        codex_home: std::path::PathBuf,
        device: bool,
        tweak: impl FnOnce(&mut LoginOptions),
    ) -> Run {
        let cfg = Config::for_test("http://127.0.0.1:9/backend-api/codex/responses", codex_home);
        let mut opts = LoginOptions::new(&cfg, device);
        assert_eq!(opts.ports, [1455, 1457]);
        opts.issuer = issuer.url.clone();
        opts.ports = vec![0];
        opts.open_browser = false;
        // A broken test fails instead of waiting the real 10 minutes.
        opts.timeout = Duration::from_secs(20);
        let (tx, lines) = channel();
        opts.say = Box::new(move |line| {
            let _ = tx.send(line.to_owned());
        });
        tweak(&mut opts);
        Run {
            lines,
            said: Vec::new(),
            done: std::thread::spawn(move || login_with(&opts)),
        }
    }

    /// Reads lines until one matches `pred`.
    fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("login never said it; said so far: {:?}", self.said));
            self.said.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }

    /// The authorize URL's parameters and the callback server's address.
    fn authorize(&mut self, issuer: &Issuer) -> (HashMap<String, String>, SocketAddr) {
        let prefix = format!("{}/oauth/authorize?", issuer.url);
        let url = self.wait_for(|l| l.starts_with(&prefix));
        let q = params(&url[prefix.len()..]);
        let port = q["redirect_uri"]
            .strip_prefix("http://localhost:")
            .and_then(|r| r.strip_suffix("/auth/callback"))
            .unwrap()
            .to_owned();
        *issuer.challenge.lock().unwrap() = q["code_challenge"].clone();
        (q, format!("127.0.0.1:{port}").parse().unwrap())
    }

    fn finish(mut self) -> (Result<(), String>, Vec<String>) {
        let result = self.done.join().unwrap();
        self.said.extend(self.lines.try_iter());
        (result, self.said)
    }
}

fn get(addr: SocketAddr, path: &str) -> common::Answer {
    call(addr, "GET", path, &[], b"")
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn browser_login_writes_codex_auth_json() {
    let issuer = Issuer::start(true);
    let home = CodexHome::new(json!({"auth_mode": "apikey", "OPENAI_API_KEY": "sk-old",
        "tokens": {"access_token": "old", "extra": 1}, "custom": {"keep": true}}));
    let mut run = Run::start(&issuer, home.dir.clone(), false);
    let (q, addr) = run.authorize(&issuer);
    let want = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("scope", "openid profile email offline_access"),
        ("code_challenge_method", "S256"),
        ("id_token_add_organizations", "true"),
        ("codex_cli_simplified_flow", "true"),
        ("originator", "codex_cli_rs"),
    ];
    for (k, v) in want {
        assert_eq!(q[k], v, "{k}");
    }
    assert_eq!(q["state"].len(), 43, "32 random bytes, base64url");
    assert_eq!(q["code_challenge"].len(), 43, "SHA-256, base64url");
    assert!(
        run.said
            .last()
            .unwrap()
            .contains("%2Fauth%2Fcallback&scope=openid%20profile%20email%20offline_access&")
    );

    // Stray requests (a favicon) don't end the wait.
    assert_eq!(get(addr, "/favicon.ico").status, 404);
    let page = get(
        addr,
        &format!("/auth/callback?code=good-code&state={}", q["state"]),
    );
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Signed in"), "{}", page.text());
    let (result, said) = run.finish();
    result.unwrap();

    let doc = home.read();
    assert_eq!(doc["auth_mode"], "chatgpt");
    assert!(doc["OPENAI_API_KEY"].is_null() && doc.get("OPENAI_API_KEY").is_some());
    assert_eq!(doc["custom"], json!({"keep": true}), "unknown fields kept");
    let tokens = &doc["tokens"];
    assert_eq!(tokens["access_token"], "at-SECRET");
    assert_eq!(tokens["refresh_token"], "rt-SECRET");
    assert_eq!(tokens["account_id"], "acc-42");
    assert!(tokens["id_token"].as_str().unwrap().ends_with(".sig"));
    assert!(tokens.get("extra").is_none(), "tokens are replaced whole");
    let last = doc["last_refresh"].as_str().unwrap();
    assert!(
        last.len() == 20 && last.ends_with('Z') && last.as_bytes()[10] == b'T',
        "{last}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&home.auth_path()), 0o600);
    assert!(
        said.iter()
            .any(|l| l.starts_with("Signed in as user@example.com (plan plus)")),
        "{said:?}"
    );
    assert!(!said.iter().any(|l| l.contains("SECRET")), "tokens printed");
}

#[test]
fn browser_login_rejects_wrong_state() {
    let issuer = Issuer::start(true);
    let home = CodexHome::new(Value::Null);
    let mut run = Run::start(&issuer, home.dir.clone(), false);
    let (_, addr) = run.authorize(&issuer);
    let page = get(addr, "/auth/callback?code=good-code&state=forged");
    assert_eq!(page.status, 400);
    assert!(page.text().contains("Sign-in failed"));
    let (result, _) = run.finish();
    assert!(result.unwrap_err().contains("wrong state"));
    assert_eq!(
        issuer.token_calls.load(Ordering::SeqCst),
        0,
        "code not exchanged"
    );
    assert!(!home.auth_path().exists());
}

#[test]
fn browser_login_reports_token_endpoint_errors() {
    let issuer = Issuer::start(true);
    let home = CodexHome::new(Value::Null);
    let mut run = Run::start(&issuer, home.dir.clone(), false);
    let (q, addr) = run.authorize(&issuer);
    let page = get(
        addr,
        &format!("/auth/callback?code=bad-code&state={}", q["state"]),
    );
    assert_eq!(page.status, 400);
    let err = run.finish().0.unwrap_err();
    assert!(err.contains("400: invalid_grant (bad code)"), "{err}");
    assert!(page.text().contains("invalid_grant"));
    assert!(!home.auth_path().exists());
}

#[test]
fn browser_login_cancel_and_timeout() {
    let issuer = Issuer::start(true);
    let home = CodexHome::new(Value::Null);
    let mut run = Run::start(&issuer, home.dir.clone(), false);
    let (_, addr) = run.authorize(&issuer);
    assert_eq!(get(addr, "/cancel").status, 200);
    assert!(run.finish().0.unwrap_err().contains("cancelled"));

    let run = Run::start_with(&issuer, home.dir.clone(), false, |o| {
        o.timeout = Duration::from_millis(300)
    });
    let err = run.finish().0.unwrap_err();
    assert!(err.contains("no sign-in within"), "{err}");
    assert!(!home.auth_path().exists());
}

#[test]
fn device_login_polls_until_approved() {
    let issuer = Issuer::start(true);
    let home = CodexHome::new(Value::Null);
    let codex_home = home.dir.join("not/yet/there");
    let mut run = Run::start(&issuer, codex_home.clone(), true);
    let line = run.wait_for(|l| l.contains("/codex/device"));
    assert!(
        line.contains(&format!("{}/codex/device", issuer.url)) && line.contains("ABCD-1234"),
        "{line}"
    );
    let (result, said) = run.finish();
    result.unwrap();
    assert_eq!(
        issuer.polls.load(Ordering::SeqCst),
        2,
        "one pending, one approved"
    );
    let doc: Value =
        serde_json::from_slice(&std::fs::read(codex_home.join("auth.json")).unwrap()).unwrap();
    assert_eq!(doc["tokens"]["account_id"], "acc-dev");
    assert_eq!(doc["auth_mode"], "chatgpt");
    #[cfg(unix)]
    assert_eq!(mode(&codex_home.join("auth.json")), 0o600);
    assert!(
        said.iter()
            .any(|l| l.starts_with("Signed in as dev@example.com (plan pro)")),
        "{said:?}"
    );
    assert!(!said.iter().any(|l| l.contains("SECRET")));
}

#[test]
fn device_login_not_enabled_says_use_the_browser() {
    let issuer = Issuer::start(false);
    let home = CodexHome::new(Value::Null);
    let err = Run::start(&issuer, home.dir.clone(), true)
        .finish()
        .0
        .unwrap_err();
    assert!(
        err.contains("not enabled") && err.contains("browser flow"),
        "{err}"
    );
    assert!(!home.auth_path().exists());
}

#[test]
fn logout_keeps_other_fields() {
    let mut doc = CodexHome::valid().read();
    doc["custom"] = json!([1, 2]);
    let home = CodexHome::new(doc);
    let msg = sign_out(&home.dir).unwrap();
    assert!(msg.contains("removed the tokens"), "{msg}");
    assert_eq!(home.read(), json!({"custom": [1, 2]}));
    #[cfg(unix)]
    assert_eq!(mode(&home.auth_path()), 0o600);
}

#[test]
fn logout_deletes_a_file_with_only_the_login() {
    let home = CodexHome::valid();
    let cfg = Config::for_test("http://127.0.0.1:9/x", home.dir.clone());
    assert_eq!(logout(&cfg).unwrap(), std::process::ExitCode::SUCCESS);
    assert!(!home.auth_path().exists());
    let msg = sign_out(&home.dir).unwrap();
    assert!(msg.starts_with("Not signed in"), "{msg}");
    assert_eq!(logout(&cfg).unwrap(), std::process::ExitCode::SUCCESS);
}

#[cfg(unix)]
#[test]
fn logout_through_a_symlink_deletes_the_tokens_where_they_live() {
    let home = CodexHome::valid();
    let elsewhere = CodexHome::valid();
    std::fs::remove_file(home.auth_path()).unwrap();
    std::os::unix::fs::symlink(elsewhere.auth_path(), home.auth_path()).unwrap();
    let msg = sign_out(&home.dir).unwrap();
    assert!(msg.starts_with("Signed out"), "{msg}");
    assert!(
        !elsewhere.auth_path().exists(),
        "the link's target still holds the tokens"
    );
    assert!(
        std::fs::symlink_metadata(home.auth_path())
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link itself is kept for the next login"
    );
}
