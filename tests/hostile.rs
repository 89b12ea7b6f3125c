//! Hostile clients against the real binary (issue 10, items 1–7): each attack from the audit,
//! what it gets now, and that the proxy still answers afterwards. Where descriptors matter the
//! binary runs under `ulimit -n`. The patched tiny_http has its own tests in `vendor/tiny_http`.
//! Linux only: they read the proxy's threads, descriptors and memory from `/proc`.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_codex-claude-proxy");

/// Longest wait for anything that should happen; a failure shows as an error, not a hang.
const PATIENCE: Duration = Duration::from_secs(20);

/// The proxy binary, killed on drop.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _home: CodexHome,
}

impl Proxy {
    /// Starts the binary against `mock` with `args`, under `ulimit -n` when `nofile` is given.
    fn start(mock: &Mock, args: &[&str], nofile: Option<u32>) -> Proxy {
        let home = CodexHome::valid();
        let log = home.dir.join("proxy.log");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), BIN]);
                c
            }
            None => Command::new(BIN),
        };
        let child = cmd
            .args(["--port", "0"])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home.dir)
            .env("CODEX_HOME", &home.dir)
            .env("CHATGPT_API_URL", &mock.url)
            .env(
                "CODEX_REFRESH_URL",
                mock.url
                    .replace("/backend-api/codex/responses", "/oauth/token"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(a) = text.split("listening on http://").nth(1) {
                break a.split_whitespace().next().unwrap().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "no listening line: {text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Proxy {
            child,
            addr,
            log,
            _home: home,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A `/proc/PID/status` field (kB for sizes).
    fn status(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    /// Still running, and answering `GET /health` with 200 (allowing a moment for connections
    /// still queued to be accepted).
    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the proxy exited: {}",
            self.log()
        );
        let deadline = Instant::now() + PATIENCE;
        loop {
            match raw(
                self.addr,
                b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
            ) {
                Ok(a) if a.starts_with("HTTP/1.1 200") => return,
                other => assert!(
                    Instant::now() < deadline,
                    "the proxy no longer answers: {other:?}\n{}",
                    self.log()
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `f` holds of the proxy (at most [`PATIENCE`]).
    fn settles(&self, what: &str, f: impl Fn(&Proxy) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: threads {}, fds {}",
                self.status("Threads"),
                self.fds()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mock backend answering every request with a short text stream.
fn backend() -> Mock {
    Mock::start(|_, _| Reply::sse(text_stream(&["hi"])))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Sends `request` and reads until the proxy closes the connection.
fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(PATIENCE))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The JSON body of a raw answer.
fn body_json(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

// Item 1: a declared body of 30 GB, on any route, before the API key is checked.
#[test]
fn a_30_gb_content_length_gets_an_answer_and_the_proxy_lives() {
    let mock = backend();
    let mut p = Proxy::start(&mock, &["--api-key", "k"], None);
    for (method, path, status) in [
        ("POST", "/v1/messages", 401),
        ("POST", "/nowhere", 404),
        ("GET", "/", 200),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 30000000000\r\n\r\n{{\"a\":"
        );
        let answer = raw(p.addr, head.as_bytes()).unwrap();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {answer}"
        );
    }
    p.assert_alive();
}

// Item 2: at a low open-file limit, connections beyond the descriptors leave the proxy alive
// and listening; streams beyond what the limit holds get 529, not a dead listener.
#[test]
fn running_out_of_descriptors_never_leaves_the_proxy_deaf() {
    let mock = Mock::start(|_, _| {
        let events: Vec<String> = text_stream(&["slow ", "stream"])
            .split_inclusive("\n\n")
            .map(str::to_owned)
            .collect();
        Reply::slow_sse(vec![
            (Duration::ZERO, events[..3].concat()),
            (Duration::from_millis(800), events[3..].concat()),
        ])
    });
    let mut p = Proxy::start(&mock, &[], Some(128));
    // (128 - 64 reserved) / 3 per request.
    assert!(
        p.log().contains("serving at most 21 requests at once"),
        "{}",
        p.log()
    );

    // 40 streams at once: 21 served, the rest 529, every one answered.
    let body = json!({"model": "claude-sonnet-4-5", "stream": true, "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}]});
    let clients: Vec<_> = (0..40)
        .map(|_| {
            let (addr, body) = (p.addr, body.clone());
            std::thread::spawn(move || post_messages(addr, &body).status)
        })
        .collect();
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 529),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    p.assert_alive();

    // 200 connections that never send anything: more than the descriptors.
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect_timeout(&p.addr, Duration::from_millis(100)).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    drop(idle);
    p.assert_alive();
    assert!(
        p.log().contains("cannot accept connections"),
        "the limit was never reached: {}",
        p.log()
    );
}

// Item 3: `HTTP/2.0` then close used to leak a thread and two descriptors each time.
#[test]
fn http_2_requests_get_505_and_leak_nothing() {
    let mock = backend();
    let mut p = Proxy::start(&mock, &[], None);
    p.assert_alive();
    std::thread::sleep(Duration::from_millis(200));
    let (fds, threads) = (p.fds(), p.status("Threads"));
    for _ in 0..100 {
        let answer = raw(p.addr, b"GET /health HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        assert!(answer.starts_with("HTTP/1.1 505"), "{answer}");
        assert_eq!(body_json(&answer)["error"]["type"], "invalid_request_error");
    }
    // Pool threads beyond the 4 kept wait 5 s for work before they exit.
    p.settles("threads and descriptors back to where they were", |p| {
        p.fds() <= fds + 2 && p.status("Threads") <= threads + 2
    });
    p.assert_alive();
}

// Item 4: requests over the cap are answered on their own threads: slow uploads over the cap
// used to stall the accept thread, and with it everyone else, until they finished.
#[test]
fn slow_uploads_over_the_cap_hold_up_nobody() {
    let mock = backend();
    let mut p = Proxy::start(&mock, &["--max-connections", "2"], None);
    let upload = b"POST /v1/messages HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"model\":";
    // Two fill the cap, five more are over it; all stay connected, never finishing their bodies.
    let mut uploads: Vec<TcpStream> = Vec::new();
    for _ in 0..7 {
        let mut s = connect(p.addr);
        s.write_all(upload).unwrap();
        uploads.push(s);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The five over the cap got their 529 while still uploading.
    let mut over = 0;
    for s in &mut uploads[2..] {
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 529");
        over += 1;
    }
    assert_eq!(over, 5);
    // Anyone else gets an answer (a 529 too while the cap is full).
    let answer = raw(p.addr, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    assert!(answer.starts_with("HTTP/1.1 529"), "{answer}");
    drop(uploads);
    p.assert_alive();
}

// Item 5: the request head is bounded (64 KiB, 100 headers).
#[test]
fn request_heads_are_bounded() {
    let mock = backend();
    let mut p = Proxy::start(&mock, &[], None);
    p.assert_alive();
    let hwm = p.status("VmHWM");

    // An endless header line: answered after 64 KiB, however much more is sent.
    let mut s = connect(p.addr);
    s.write_all(b"GET /health HTTP/1.1\r\nX-Endless: ").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0;
    while sent < 256 << 20 && s.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(
        body_json(&answer)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65536 bytes"),
        "{answer}"
    );
    // It reads (and discards) at most 64 MiB more before it closes, so that the client gets
    // the answer rather than a reset.
    assert!(sent < 256 << 20, "the proxy kept reading the line");
    // Nothing near the line's size was held.
    assert!(p.status("VmHWM") < hwm + 16 * 1024, "peak RSS grew");

    // 10,000 headers.
    let mut request = String::from("GET /health HTTP/1.1\r\n");
    for i in 0..10_000 {
        request += &format!("X-{i}: v\r\n");
    }
    request += "\r\n";
    let answer = raw(p.addr, request.as_bytes()).unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(
        body_json(&answer)["error"]["message"],
        "more than 100 header lines"
    );
    p.assert_alive();
}

// Item 6: client-side timeouts (short here; the defaults are 60 s and 120 s idle).
#[test]
fn slow_and_idle_clients_are_timed_out() {
    let mock = Mock::start(|_, _| {
        // A long answer, for the client that stops reading.
        let pieces: Vec<String> = (0..200_000).map(|i| format!("word{i} ")).collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        Reply::sse(text_stream(&pieces))
    });
    let mut p = Proxy::start(
        &mock,
        &["--client-timeout", "1", "--keep-alive-timeout", "1"],
        None,
    );
    p.assert_alive();

    // Slowloris: a head trickled a byte at a time gets 408 once its time is up.
    let mut s = connect(p.addr);
    let mut answer = Vec::new();
    for b in b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(body_json(&answer)["error"]["type"], "timeout_error");

    // An idle kept-alive connection is closed, without an answer.
    let mut s = connect(p.addr);
    s.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&answer).matches("HTTP/1.1").count(),
        1
    );

    // A body that stops: 408.
    let mut s = connect(p.addr);
    s.write_all(b"POST /v1/messages HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"model\":").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A client that stops reading a long stream: the proxy gives up on it (and on the upstream).
    let mut s = connect(p.addr);
    let body = json!({"model": "claude-sonnet-4-5", "stream": true, "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    write!(
        s,
        "POST /v1/messages HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    p.settles("the stream to a client that stopped reading ended", |p| {
        p.log().contains("client disconnected")
    });
    assert!(
        p.log().contains("the client stopped reading"),
        "{}",
        p.log()
    );
    drop(s);
    p.assert_alive();
}

// Item 7: ambiguous framing gets 400 (not retryable) and a close.
#[test]
fn ambiguous_framing_is_refused() {
    let mock = backend();
    let mut p = Proxy::start(&mock, &[], None);
    for head in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Content-Length: 5\r\nContent-Length: 7",
        "Content-Length: -1",
        "Transfer-Encoding: gzip",
    ] {
        let request = format!(
            "POST /v1/messages HTTP/1.1\r\nContent-Type: application/json\r\n{head}\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n"
        );
        let answer = raw(p.addr, request.as_bytes()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{head}: {answer}");
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
        assert!(answer.contains("x-should-retry: false"), "{answer}");
        let err = body_json(&answer);
        assert_eq!(err["error"]["type"], "invalid_request_error");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("ambiguous request framing"),
            "{err}"
        );
    }
    p.assert_alive();
}
