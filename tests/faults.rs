//! Faults and limits: retries, timeouts, the connection cap, slow clients, context overflow
//! numbers. Each test scripts the mock backend on 127.0.0.1 and checks what the client sees.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn simple() -> Value {
    json!({"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]})
}

#[test]
fn transient_5xx_is_retried_before_the_stream_starts() {
    let mock = Mock::start(|_, n| {
        if n < 2 {
            Reply::json(503, json!({"detail": "upstream connect error"}))
        } else {
            Reply::sse(text_stream(&["ok"]))
        }
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(mock.requests().len(), 3);
    p.stop();
}

#[test]
fn persistent_5xx_gives_up_with_overloaded() {
    let mock = Mock::start(|_, _| Reply::json(502, json!({"detail": "bad gateway"})));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 529);
    assert_eq!(a.json()["error"]["type"], "overloaded_error");
    assert_eq!(a.header("x-should-retry"), Some("true"));
    assert_eq!(mock.requests().len(), 3, "two retries, then give up");
    p.stop();
}

#[test]
fn client_errors_are_never_retried() {
    let mock = Mock::start(|_, _| Reply::json(400, json!({"detail": "Unsupported parameter: x"})));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["message"], "Unsupported parameter: x");
    assert_eq!(mock.requests().len(), 1);
    p.stop();
}

#[test]
fn unreachable_backend_is_overloaded() {
    let home = CodexHome::valid();
    // A port nobody listens on: a privileged one, since an ephemeral port released here could
    // be taken at once by another test's server running in parallel.
    let port = 1;
    let mut cfg = codex_claude_proxy::Config::for_test(
        &format!("http://127.0.0.1:{port}/backend-api/codex/responses"),
        home.dir.clone(),
    );
    cfg.connect_timeout = Duration::from_millis(500);
    let p = codex_claude_proxy::start(cfg).unwrap();
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 529, "{}", a.text());
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach")
    );
    p.stop();
}

#[test]
fn slow_first_byte_times_out() {
    let mock =
        Mock::start(|_, _| Reply::sse(text_stream(&["late"])).after(Duration::from_millis(1500)));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.first_byte_timeout = Duration::from_millis(300)
    });
    let t0 = Instant::now();
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 504, "{}", a.text());
    assert_eq!(a.json()["error"]["type"], "timeout_error");
    assert!(t0.elapsed() < Duration::from_millis(1400));
    p.stop();
}

#[test]
fn slow_headers_wait_for_the_first_byte_timeout_not_the_ping_interval() {
    let mock =
        Mock::start(|_, _| Reply::sse(text_stream(&["ok"])).after(Duration::from_millis(900)));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(200);
        c.first_byte_timeout = Duration::from_secs(5);
    });
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.events().last().unwrap().0, "message_stop");
    p.stop();
}

#[test]
fn silent_upstream_mid_stream_ends_with_an_error_event() {
    let full = text_stream(&["a", "b"]);
    let events: Vec<String> = full.split_inclusive("\n\n").map(str::to_owned).collect();
    let head = events[..3].concat();
    let tail = events[3..].concat();
    let mock = Mock::start(move |_, _| {
        Reply::slow_sse(vec![
            (Duration::ZERO, head.clone()),
            (Duration::from_secs(3), tail.clone()),
        ])
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(200);
        c.idle_timeout = Duration::from_millis(900);
    });
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200);
    let evs = a.events();
    let (name, data) = evs.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "timeout_error");
    assert!(evs.iter().any(|(n, _)| n == "ping"));
    p.stop();
}

#[test]
fn streams_still_open_when_the_shutdown_drain_ends_get_an_error_event() {
    let full = text_stream(&["a", "b"]);
    let events: Vec<String> = full.split_inclusive("\n\n").map(str::to_owned).collect();
    let head = events[..3].concat();
    let tail = events[3..].concat();
    let mock = Mock::start(move |seen, _| {
        let pause = if seen.body.windows(4).any(|w| w == b"late") {
            30
        } else {
            0
        };
        Reply::slow_sse(vec![
            (Duration::ZERO, head.clone()),
            (Duration::from_secs(pause), tail.clone()),
        ])
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(200)
    });
    let addr = p.addr;
    let mut long = simple();
    long["messages"][0]["content"] = json!("late");
    let streaming = std::thread::spawn(move || post_messages(addr, &long));
    let mut waiting = simple();
    waiting["stream"] = json!(false);
    waiting["messages"][0]["content"] = json!("late");
    let collecting = std::thread::spawn(move || post_messages(addr, &waiting));
    // Both requests reached the backend, and the stream's first events reached the client.
    while mock.requests().len() < 2 {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    p.shutdown(Duration::from_millis(300), || false);
    let a = streaming.join().unwrap();
    assert_eq!(a.status, 200);
    let evs = a.events();
    assert_eq!(evs[0].0, "message_start");
    let (name, data) = evs.last().unwrap();
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(name, "error", "{names:?}");
    assert_eq!(data["error"]["type"], "overloaded_error");
    assert!(
        data["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{data}"
    );
    let a = collecting.join().unwrap();
    assert_eq!((a.status, a.header("x-should-retry")), (529, Some("true")));
}

#[test]
fn over_the_connection_cap_is_a_fast_529() {
    let full = text_stream(&["slow"]);
    let mock =
        Mock::start(move |_, _| Reply::slow_sse(vec![(Duration::from_millis(1500), full.clone())]));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| c.max_connections = 1);
    let addr = p.addr;
    let busy = std::thread::spawn(move || post_messages(addr, &simple()).status);
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 529);
    assert_eq!(a.json()["error"]["type"], "overloaded_error");
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "rejected at once, not queued"
    );
    assert_eq!(busy.join().unwrap(), 200);
    // The slot is free again once the busy request's thread has ended, which can be a moment
    // after its client read the last byte (a loaded machine): wait for that, then use it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while call(p.addr, "GET", "/health", &[], b"").status == 529 {
        assert!(Instant::now() < deadline, "the slot was never released");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    p.stop();
}

#[test]
fn slow_clients_do_not_wedge_the_proxy() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| c.max_connections = 2);
    // Headers promise 100 kB (large bodies are streamed to the handler); 10 bytes arrive, then nothing: it holds one request slot.
    let mut slow = TcpStream::connect(p.addr).unwrap();
    slow.write_all(
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"model\":",
    )
    .unwrap();
    // A client stuck in its headers holds no request slot at all.
    let mut stuck = TcpStream::connect(p.addr).unwrap();
    stuck
        .write_all(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    // The trickler gives up: its slot is released, and its half body is a clean 400.
    slow.shutdown(std::net::Shutdown::Write).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    drop(stuck);
    let addr = p.addr;
    let both: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || post_messages(addr, &simple()).status))
        .collect();
    for t in both {
        assert_eq!(t.join().unwrap(), 200, "both slots are free again");
    }
    p.stop();
}

#[test]
fn context_overflow_carries_numbers_claude_code_parses() {
    let mock =
        Mock::start(|_, _| Reply::sse(fixture("upstream/response_failed_context_length.sse")));
    mock.set_catalogue(
        json!({"models":[{"slug":"gpt-6.2-sol","context_window":100,"use_responses_lite":true}]}),
        "tiny",
    );
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 400);
    let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
    let nums: Vec<u64> = msg
        .trim_start_matches("prompt is too long: ")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    assert!(msg.ends_with(" maximum"), "{msg}");
    assert_eq!(nums.len(), 2, "{msg}");
    assert!(nums[0] > nums[1] && nums[1] == 100, "{msg}");
    p.stop();
}

#[test]
fn garbage_from_upstream_does_not_break_the_stream() {
    let mut body =
        String::from(": hello\n\ndata: not json\n\nevent: weird\n\ngarbage line without colon\n\n");
    body.push_str(&text_stream(&["fine"]));
    let mock = Mock::start(move |_, _| Reply::sse(body.clone()));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200);
    let text: String = a
        .events()
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "fine");
    assert_eq!(a.events().last().unwrap().0, "message_stop");
    p.stop();
}

#[test]
fn upstream_disconnect_counts_are_not_retried_after_output() {
    // The stream breaks after content: nothing is retried (the client already saw output).
    let mut body = text_stream(&["half"]);
    body.truncate(body.find("event: response.output_item.done").unwrap());
    let mock = Mock::start(move |_, _| Reply::sse(body.clone()));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.events().last().unwrap().0, "error");
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(mock.write_failures.load(Ordering::SeqCst), 0);
    p.stop();
}

/// Many clients connecting at once, against the real binary in its own process, while the
/// streams keep the CPUs busy. (The tiny_http pool race fixed in `vendor/tiny_http` needs
/// heavier load than a test should make here; `make bench` shows it, and the pool's own test
/// `a_burst_of_blocking_tasks_all_run_at_once` pins it down.)
#[test]
fn a_burst_of_new_connections_is_served_at_once() {
    // Busy streams: 100 deltas 40 ms apart keep the cores working while clients connect.
    let pieces: Vec<String> = (0..100).map(|i| format!("d{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let events: Vec<String> = text_stream(&pieces)
        .split_inclusive("\n\n")
        .map(str::to_owned)
        .collect();
    let mock = Mock::start(move |_, _| {
        Reply::slow_sse(
            events
                .iter()
                .map(|e| (Duration::from_millis(40), e.clone()))
                .collect(),
        )
    });
    let home = CodexHome::valid();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_codex-claude-proxy"))
        .args(["--port", "0", "--upstream-url", &mock.url, "--codex-home"])
        .arg(&home.dir)
        .env_clear()
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let addr: std::net::SocketAddr = loop {
        let mut line = String::new();
        assert!(log.read_line(&mut line).unwrap() > 0, "the proxy exited");
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().parse().unwrap();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    let clients = 150;
    let start = Arc::new(std::sync::Barrier::new(clients));
    let t0 = Instant::now();
    let firsts: Vec<Duration> = (0..clients)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let t = Instant::now();
                let mut s = TcpStream::connect(addr).unwrap();
                send(
                    &mut s,
                    "POST",
                    "/v1/messages",
                    &[],
                    simple().to_string().as_bytes(),
                );
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = [0u8; 1];
                s.read_exact(&mut buf).unwrap();
                t.elapsed()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let slowest = firsts.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_millis(2500),
        "a request waited {slowest:?} for its first byte (all done after {:?})",
        t0.elapsed()
    );
}

#[test]
fn huge_upstream_error_bodies_are_read_bounded() {
    let big = "x".repeat(5 << 20);
    let mock = Mock::start(move |_, _| Reply::json(400, json!({"detail": big.clone()})));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 400);
    assert!(
        a.body.len() < 4096,
        "the error body is {} bytes",
        a.body.len()
    );
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("{\"detail\":\"xxx")
    );
    p.stop();
}
