//! Test harness: a scripted mock of the Codex backend and its OAuth endpoint (on 127.0.0.1:0), a
//! temp `CODEX_HOME`, a proxy started in-process, and a raw HTTP client that reads chunked answers
//! event by event with timestamps.
//!
//! The mock behaves like today's backend around the script: it serves the Codex CLI 0.171.0
//! model catalogue (filtered by `client_version`, with an `ETag`) on `GET …/models`, stamps every
//! `/responses` reply with `x-models-etag`, and refuses what the real backend refuses before the
//! script sees it: a model newer than the announced client version, `-luna` on the full lane, and
//! a request that breaks its lane's rules (see [`rules`], shared with the fake backend).

#![allow(dead_code)]

pub mod rules;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codex_claude_proxy::{Config, Running};
use serde_json::{Value, json};

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The proxy's end of the TCP connection (the same for requests on one connection).
    pub peer: Option<std::net::SocketAddr>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the mock answers: status, headers, and body pieces sent with a pause before each.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub parts: Vec<(Duration, Vec<u8>)>,
    /// Pause before the status line (a backend slow to answer).
    pub delay: Duration,
}

impl Reply {
    pub fn sse(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/event-stream".into())],
            parts: vec![(Duration::ZERO, body.into())],
            delay: Duration::ZERO,
        }
    }
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            parts: vec![(Duration::ZERO, body.to_string().into_bytes())],
            delay: Duration::ZERO,
        }
    }
    /// SSE sent as separate pieces, each after its pause.
    pub fn slow_sse(parts: Vec<(Duration, String)>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/event-stream".into())],
            parts: parts
                .into_iter()
                .map(|(d, s)| (d, s.into_bytes()))
                .collect(),
            delay: Duration::ZERO,
        }
    }
    /// The same reply, with its status line sent only after `d`.
    pub fn after(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
    /// The same reply with an extra header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// The mock backend. `/oauth/token` answers refreshes; every other path runs the script
/// (given the request and how many non-OAuth requests came before it).
pub struct Mock {
    pub url: String,
    /// `/responses` (and, for [`Mock::scripted_models`], `/models`) requests, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The model-list reads the mock answered itself.
    pub model_reads: Arc<Mutex<Vec<Seen>>>,
    /// The catalogue served on `/models` and its etag.
    catalogue: Arc<Mutex<(Value, String)>>,
    pub refreshes: Arc<AtomicUsize>,
    /// Set when writing a reply to the proxy failed (the proxy closed the connection).
    pub write_failures: Arc<AtomicUsize>,
    /// Connections currently open to the mock (each holds one mock thread).
    pub connections: Arc<AtomicUsize>,
    port: u16,
    stop: Arc<AtomicBool>,
}

/// What the connection threads share.
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    model_reads: Arc<Mutex<Vec<Seen>>>,
    catalogue: Arc<Mutex<(Value, String)>>,
    /// The script answers `/models` too (no catalogue from the mock).
    scripted_models: bool,
    refreshes: Arc<AtomicUsize>,
    write_failures: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    counter: AtomicUsize,
    script: Box<Script>,
    refresh: Box<dyn Fn(&Seen) -> Reply + Send + Sync>,
}

/// Serves requests on one connection until the proxy closes it.
fn serve_connection(conn: TcpStream, shared: &Shared) {
    let peer = conn.peer_addr().ok();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let s = Seen {
            method,
            path,
            headers,
            body,
            peer,
        };
        let is_models = s.method == "GET" && s.path.contains("/codex/models");
        let reply = if s.path.starts_with("/oauth/token") {
            shared.refreshes.fetch_add(1, Ordering::SeqCst);
            (shared.refresh)(&s)
        } else if is_models && !shared.scripted_models {
            shared.model_reads.lock().unwrap().push(s.clone());
            let (list, etag) = shared.catalogue.lock().unwrap().clone();
            models_reply(&s, &list).header("ETag", &format!("\"{etag}\""))
        } else {
            let refused = lane_violation(&s, &shared.catalogue.lock().unwrap().0);
            shared.seen.lock().unwrap().push(s.clone());
            let mut reply = match refused {
                Some(r) => r,
                None => (shared.script)(&s, shared.counter.fetch_add(1, Ordering::SeqCst)),
            };
            let etag = shared.catalogue.lock().unwrap().1.clone();
            if s.path.ends_with("/responses")
                && !reply
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("x-models-etag"))
            {
                reply = reply.header("x-models-etag", &etag);
            }
            reply
        };
        if write_reply(&mut writer, reply).is_err() {
            shared.write_failures.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}

impl Mock {
    pub fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Mock {
        Mock::start_with_refresh(script, default_refresh)
    }

    pub fn start_with_refresh(
        script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
        refresh: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Mock {
        Mock::launch(Box::new(script), Box::new(refresh), false)
    }

    /// A mock whose script answers the model list too (and sees those requests in `seen`).
    pub fn scripted_models(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Mock {
        Mock::launch(Box::new(script), Box::new(default_refresh), true)
    }

    fn launch(
        script: Box<Script>,
        refresh: Box<dyn Fn(&Seen) -> Reply + Send + Sync>,
        scripted_models: bool,
    ) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let catalogue: Value =
            serde_json::from_slice(&fixture("upstream/models-codex-0.171.0.json")).unwrap();
        let catalogue = Arc::new(Mutex::new((
            json!({"models": catalogue["models"]}),
            "cat-1".to_owned(),
        )));
        let shared = Arc::new(Shared {
            seen: Arc::new(Mutex::new(Vec::new())),
            model_reads: Arc::new(Mutex::new(Vec::new())),
            catalogue: catalogue.clone(),
            scripted_models,
            refreshes: Arc::new(AtomicUsize::new(0)),
            write_failures: Arc::new(AtomicUsize::new(0)),
            connections: Arc::new(AtomicUsize::new(0)),
            counter: AtomicUsize::new(0),
            script,
            refresh,
        });
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (shared, stop) = (shared.clone(), stop.clone());
            // A thread per connection, keep-alive honoured: the proxy pools its connections.
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let shared = shared.clone();
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    std::thread::spawn(move || {
                        serve_connection(conn, &shared);
                        shared.connections.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            });
        }
        Mock {
            url: format!("http://127.0.0.1:{port}/backend-api/codex/responses"),
            seen: shared.seen.clone(),
            model_reads: shared.model_reads.clone(),
            catalogue,
            refreshes: shared.refreshes.clone(),
            write_failures: shared.write_failures.clone(),
            connections: shared.connections.clone(),
            port,
            stop,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many times the mock served the model list.
    pub fn model_reads(&self) -> usize {
        self.model_reads.lock().unwrap().len()
    }

    /// Serves `list` (`{"models": [...]}`) from now on, under a new etag.
    pub fn set_catalogue(&self, list: Value, etag: &str) {
        *self.catalogue.lock().unwrap() = (list, etag.to_owned());
    }

    pub fn last(&self) -> Seen {
        self.requests()
            .last()
            .cloned()
            .expect("the mock saw no request")
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn default_refresh(_: &Seen) -> Reply {
    Reply::json(
        200,
        json!({"access_token": jwt(4_000_000_000), "refresh_token": "rt-new", "id_token": jwt(4_000_000_000)}),
    )
}

/// The catalogue entries a client of the version in `?client_version=` may see.
fn models_reply(s: &Seen, list: &Value) -> Reply {
    match rules::visible_models(list, rules::client_version_query(&s.path)) {
        Some(visible) => Reply::json(200, visible),
        None => Reply::json(400, json!({"detail": "client_version is required"})),
    }
}

/// The backend's refusal of a `/responses` request, if it breaks a rule ([`rules::refusal`]).
pub fn lane_violation(s: &Seen, catalogue: &Value) -> Option<Reply> {
    if s.method != "POST" || !s.path.ends_with("/responses") {
        return None;
    }
    let body: Value = serde_json::from_slice(&s.body).ok()?;
    let header = |name: &str| s.header(name).map(str::to_owned);
    rules::refusal(&header, &body, catalogue).map(|(status, body)| Reply::json(status, body))
}

/// Writes a reply by hand, chunked and flushed per piece, so pauses are real on the wire.
fn write_reply(w: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    std::thread::sleep(reply.delay);
    write!(w, "HTTP/1.1 {} X\r\n", reply.status)?;
    for (k, v) in &reply.headers {
        write!(w, "{k}: {v}\r\n")?;
    }
    write!(w, "Transfer-Encoding: chunked\r\n\r\n")?;
    w.flush()?;
    for (pause, bytes) in reply.parts {
        std::thread::sleep(pause);
        if bytes.is_empty() {
            continue;
        }
        write!(w, "{:x}\r\n", bytes.len())?;
        w.write_all(&bytes)?;
        w.write_all(b"\r\n")?;
        w.flush()?;
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

/// An unsigned JWT whose payload has the given `exp` and the ChatGPT account claim.
pub fn jwt(exp: u64) -> String {
    jwt_with(
        json!({"exp": exp, "https://api.openai.com/auth": {"chatgpt_account_id": "acc-from-jwt"}}),
    )
}

/// An unsigned JWT with these claims.
pub fn jwt_with(claims: Value) -> String {
    codex_claude_proxy::oauth::unsigned_jwt(&claims)
}

/// A temp dir standing in for `~/.codex`, removed on drop.
pub struct CodexHome {
    pub dir: PathBuf,
}

impl CodexHome {
    pub fn new(tokens: Value) -> CodexHome {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ccp-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if !tokens.is_null() {
            std::fs::write(
                dir.join("auth.json"),
                serde_json::to_vec_pretty(&tokens).unwrap(),
            )
            .unwrap();
        }
        CodexHome { dir }
    }

    /// A valid login that does not expire during the test.
    pub fn valid() -> CodexHome {
        CodexHome::new(json!({"auth_mode":"chatgpt","OPENAI_API_KEY":null,
            "tokens":{"id_token":jwt(4_000_000_000),"access_token":jwt(4_000_000_000),"refresh_token":"rt-old","account_id":"acc-1"},
            "last_refresh":"2026-11-20T09:14:03Z"}))
    }

    pub fn auth_path(&self) -> PathBuf {
        self.dir.join("auth.json")
    }

    pub fn read(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.auth_path()).unwrap()).unwrap()
    }
}

impl Drop for CodexHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the proxy in-process against `mock` with tokens from `home`; `tweak` adjusts config.
pub fn proxy(mock: &Mock, home: &CodexHome, tweak: impl FnOnce(&mut Config)) -> Running {
    let mut cfg = Config::for_test(&mock.url, home.dir.clone());
    cfg.refresh_url = mock
        .url
        .replace("/backend-api/codex/responses", "/oauth/token");
    tweak(&mut cfg);
    codex_claude_proxy::start(cfg).unwrap()
}

/// A parsed HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Each body chunk with the time it arrived, relative to when the request was sent.
    pub chunks: Vec<(Duration, Vec<u8>)>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// SSE events as (event name, data JSON).
    pub fn events(&self) -> Vec<(String, Value)> {
        sse_events(&self.text())
    }
}

pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = String::new();
            for line in e.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            (name, serde_json::from_str(&data).unwrap_or(Value::Null))
        })
        .collect()
}

/// Sends one request on a fresh connection and reads the whole answer.
pub fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    send(&mut s, method, path, headers, body);
    read_answer(&mut BufReader::new(s), Instant::now(), method == "HEAD")
}

/// Sends a request head and body. Like every real API client, a POST declares a JSON body
/// unless `headers` name their own `Content-Type`.
pub fn send(s: &mut TcpStream, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    if method == "POST"
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s.flush().unwrap();
}

pub fn read_answer(r: &mut BufReader<TcpStream>, t0: Instant, head: bool) -> Answer {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("bad status line {line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    let mut chunks = Vec::new();
    if head {
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let size = usize::from_str_radix(line.trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size {line:?}"));
            let mut chunk = vec![0; size];
            r.read_exact(&mut chunk).unwrap();
            let mut crlf = [0; 2];
            r.read_exact(&mut crlf).unwrap();
            if size == 0 {
                break;
            }
            chunks.push((t0.elapsed(), chunk.clone()));
            body.extend_from_slice(&chunk);
        }
    } else if let Some(n) = get("content-length") {
        body = vec![0; n.parse().unwrap()];
        r.read_exact(&mut body).unwrap();
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Answer {
        status,
        headers,
        body,
        chunks,
    }
}

/// POSTs a JSON body to /v1/messages.
pub fn post_messages(addr: std::net::SocketAddr, body: &Value) -> Answer {
    call(
        addr,
        "POST",
        "/v1/messages?beta=true",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer sk-proxy"),
        ],
        body.to_string().as_bytes(),
    )
}

pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel),
    )
    .unwrap()
}

/// The `body` of a captured Claude Code request.
pub fn cc_request(name: &str) -> Value {
    let v: Value =
        serde_json::from_slice(&fixture(&format!("claude-code/{name}.request.json"))).unwrap();
    v["body"].clone()
}

/// Upstream SSE for a text answer, one delta per piece.
pub fn text_stream(pieces: &[&str]) -> String {
    let mut s = String::new();
    let mut ev = |v: Value| {
        s.push_str(&format!(
            "event: {}\ndata: {}\n\n",
            v["type"].as_str().unwrap(),
            v
        ))
    };
    ev(json!({"type":"response.created","response":{"id":"resp_1"}}));
    ev(
        json!({"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}),
    );
    for p in pieces {
        ev(
            json!({"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":p}),
        );
    }
    ev(
        json!({"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"output_text","text":pieces.concat()}]}}),
    );
    // Like the lite lane, the terminal event's `output` is empty: the answer is the streamed items.
    ev(
        json!({"type":"response.completed","response":{"id":"resp_1","output":[],"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":40},"output_tokens":7,"total_tokens":107}}}),
    );
    s
}
