//! Soak: 1,000 requests, 16 at a time, against a backend that injects a random fault into most
//! answers (dropped streams, stalls, 5xx, 429, garbage, in-stream failures) while some clients
//! hang up mid-stream. Afterwards every answer must have been well formed, the thread count and
//! memory must be back near their baseline, and `auth.json` must be intact.

mod common;

use std::io::{BufReader, Read};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const REQUESTS: usize = 1_000;
const PARALLEL: usize = 16;

fn proc_status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Picks the fault for upstream request `n` (deterministic, so failures reproduce).
fn fault(n: usize) -> Reply {
    let events: Vec<String> = text_stream(&["soak ", "test"])
        .split_inclusive("\n\n")
        .map(str::to_owned)
        .collect();
    let whole = events.concat();
    let x = (n.wrapping_mul(2_654_435_761)) % 10;
    match x {
        0 => Reply::json(503, json!({"detail": "try later"})),
        1 => Reply::json(
            429,
            json!({"error": {"type": "usage_limit_reached", "message": "limit", "resets_in_seconds": 60}}),
        ),
        2 => Reply::sse(events[..3].concat()), // dropped mid-stream
        3 => Reply::slow_sse(vec![
            (Duration::ZERO, events[..2].concat()),
            (Duration::from_millis(250), events[2..].concat()),
        ]),
        4 => Reply::sse(format!("data: {{garbage\n\n: hi\n\nnonsense\n\n{whole}")),
        5 => Reply::sse(format!(
            "{}{}",
            events[..3].concat(),
            String::from_utf8(fixture("upstream/response_failed_server_error.sse")).unwrap()
        )),
        _ => Reply::sse(whole),
    }
}

/// Checks one answer: a JSON error, or a stream that keeps the grammar and ends properly.
fn check(a: &Answer) -> Result<(), String> {
    if a.status != 200 {
        let e = a.json();
        if e["type"] != "error" || !e["error"]["type"].is_string() {
            return Err(format!("bad error body {e}"));
        }
        return Ok(());
    }
    if a.header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        let m = a.json();
        return if m["type"] == "message" && m["stop_reason"].is_string() {
            Ok(())
        } else {
            Err(format!("bad message {m}"))
        };
    }
    let evs = a.events();
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    if names.first() != Some(&"message_start") {
        return Err(format!("no message_start: {names:?}"));
    }
    match names.last() {
        Some(&"message_stop") | Some(&"error") => Ok(()),
        _ => Err(format!("stream did not end properly: {names:?}")),
    }
}

#[test]
fn a_thousand_faulty_requests_leave_no_trace() {
    let mock = Mock::start(|_, n| fault(n));
    // The token needs a refresh during the soak.
    let home = CodexHome::new(json!({"auth_mode": "chatgpt", "mine": [1, 2, 3],
        "tokens": {"access_token": jwt(1000), "refresh_token": "rt", "account_id": "a"}}));
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_secs(5);
    });
    let addr = p.addr;
    std::thread::sleep(Duration::from_millis(100));
    // The mock's own connection threads are not the proxy's: leave them out of the count.
    // (Without /proc, on macOS, both counts read 0 and the checks below hold trivially.)
    let threads =
        || proc_status("Threads:").saturating_sub(mock.connections.load(Ordering::SeqCst) as u64);
    let threads_before = threads();
    let rss_before = proc_status("VmRSS:");

    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (next, failures) = (next.clone(), failures.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= REQUESTS {
                        break;
                    }
                    let mut body = json!({"model": "claude-sonnet-4-5", "max_tokens": 10, "stream": i % 4 != 0,
                        "messages": [{"role": "user", "content": format!("request {i}")}]});
                    if i % 50 == 7 {
                        // A client that hangs up as soon as the stream starts.
                        body["stream"] = Value::Bool(true);
                        let mut s = TcpStream::connect(addr).unwrap();
                        send(&mut s, "POST", "/v1/messages", &[], body.to_string().as_bytes());
                        let mut buf = [0u8; 64];
                        let _ = s.read(&mut buf);
                        continue;
                    }
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    send(&mut s, "POST", "/v1/messages", &[], body.to_string().as_bytes());
                    let a = read_answer(&mut BufReader::new(s), Instant::now(), false);
                    if let Err(e) = check(&a) {
                        failures.lock().unwrap().push(format!("request {i}: {e}"));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = t0.elapsed();
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} bad answers, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // Threads: request threads end with their requests; tiny_http's idle pool threads retire
    // after 5 s. Give them a little longer.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut threads_after = threads();
    while threads_after > threads_before + 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        threads_after = threads();
    }
    let rss_after = proc_status("VmRSS:");
    eprintln!(
        "soak: {REQUESTS} requests in {elapsed:?}; threads {threads_before} -> {threads_after}; RSS {rss_before} -> {rss_after} kB; upstream calls {}",
        mock.requests().len()
    );
    assert!(
        threads_after <= threads_before + 4,
        "threads {threads_before} -> {threads_after}"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} kB"
    );

    let saved = home.read();
    assert_eq!(saved["mine"], json!([1, 2, 3]), "unknown fields kept");
    assert_eq!(saved["tokens"]["refresh_token"], "rt-new");
    assert_eq!(
        mock.refreshes.load(Ordering::SeqCst),
        1,
        "one refresh for the whole soak"
    );
    p.stop();
}
