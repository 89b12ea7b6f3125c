//! Black-box tests over real sockets: the proxy in-process on 127.0.0.1:0, a scripted mock of
//! the Codex backend and its OAuth endpoint, and a temp token directory.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn simple() -> Value {
    json!({"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]})
}

#[test]
fn streams_text_with_anthropic_grammar() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["Hel", "lo", "!"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200);
    assert!(
        a.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let evs = a.events();
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(evs[0].1["message"]["model"], "claude-sonnet-4-5");
    let text: String = evs
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello!");
    assert_eq!(evs[6].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(
        evs[6].1["usage"],
        json!({"input_tokens":60,"cache_creation_input_tokens":0,"cache_read_input_tokens":40,"output_tokens":7})
    );
    // What went upstream.
    let up = mock.last();
    assert_eq!(
        up.header("authorization").unwrap(),
        format!("Bearer {}", jwt(4_000_000_000))
    );
    assert_eq!(up.header("chatgpt-account-id"), Some("acc-1"));
    assert_eq!(up.header("originator"), Some("codex_cli_rs"));
    assert_eq!(up.header("openai-beta"), Some("responses=experimental"));
    assert_eq!(up.header("accept"), Some("text/event-stream"));
    assert!(up.header("session_id").is_some_and(|s| !s.is_empty()));
    assert!(
        up.header("user-agent")
            .unwrap()
            .contains("codex-claude-proxy/")
    );
    let body = up.json();
    assert_eq!(
        (body["stream"].clone(), body["store"].clone()),
        (json!(true), json!(false))
    );
    assert!(body.get("max_tokens").is_none());
    p.stop();
}

#[test]
fn non_streaming_answer_is_one_message() {
    let mock = Mock::start(|_, _| Reply::sse(fixture("upstream/text_then_function_call.sse")));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let mut req = simple();
    req["stream"] = json!(false);
    let a = post_messages(p.addr, &req);
    assert_eq!(a.status, 200, "{}", a.text());
    let m = a.json();
    assert_eq!(m["type"], "message");
    assert!(a.header("request-id").unwrap().starts_with("req_"));
    assert!(m["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(m["content"][0]["type"], "text");
    assert_eq!(m["content"][1]["type"], "tool_use");
    assert!(m["content"][1]["input"].is_object());
    assert_eq!(m["stop_reason"], "tool_use");
    assert!(m["usage"]["input_tokens"].is_u64());
    p.stop();
}

#[test]
fn tool_loop_round_trip_with_image_result() {
    let mock = Mock::start(|_, n| match n {
        0 => Reply::sse(fixture("upstream/function_call_single.sse")),
        _ => Reply::sse(text_stream(&["done"])),
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let mut req = simple();
    req["tools"] = json!([{"name":"Read","description":"read","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}]);
    let a = post_messages(p.addr, &req);
    let evs = a.events();
    let tool = evs
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .unwrap();
    let (id, name) = (
        tool.1["content_block"]["id"].as_str().unwrap(),
        tool.1["content_block"]["name"].as_str().unwrap(),
    );
    assert_eq!(name, "Read");
    let args: String = evs
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    let input: Value = serde_json::from_str(&args).unwrap();
    // Turn 2: Claude Code replays the call and sends the result with an image.
    req["messages"] = json!([{"role":"user","content":"read the png"},
        {"role":"assistant","content":[{"type":"tool_use","id":id,"name":"Read","input":input}]},
        {"role":"user","content":[{"tool_use_id":id,"type":"tool_result","content":[{"type":"image","source":{"type":"base64","data":"iVBORw0KGgo=","media_type":"image/png"}}]}]}]);
    let a = post_messages(p.addr, &req);
    assert_eq!(a.status, 200);
    let body = mock.last().json();
    let input = body["input"].as_array().unwrap();
    // The lite lane: the tools first, then the conversation.
    assert_eq!(input[0]["type"], "additional_tools");
    assert_eq!(input[2]["type"], "function_call");
    assert_eq!(input[2]["call_id"], id);
    assert_eq!(input[2]["name"], "Read");
    assert_eq!(input[3]["type"], "function_call_output");
    assert_eq!(input[3]["call_id"], id);
    assert_eq!(
        input[3]["output"][0],
        json!({"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="})
    );
    assert!(
        input.iter().all(|i| i.get("id").is_none()),
        "no item ids upstream"
    );
    p.stop();
}

#[test]
fn system_role_messages_become_developer() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &cc_request("01-plain-text"));
    assert_eq!(a.status, 200, "{}", a.text());
    let body = mock.last().json();
    let roles: Vec<&str> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["role"].as_str())
        .collect();
    // The system prompt leads as a developer message (lite lane), after the tools.
    assert_eq!(roles, ["developer", "developer", "user", "developer"]);
    assert!(
        !body["input"][1]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("x-anthropic-billing-header")
    );
    p.stop();
}

#[test]
fn events_already_read_leave_together() {
    // The whole stream arrives in one write: the proxy reads it at once, so its events need
    // not cost a write each; they still all arrive, in order.
    let pieces: Vec<String> = (0..100).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let stream = text_stream(&refs);
    let mock = Mock::start(move |_, _| Reply::sse(stream.clone()));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    let events = a.events();
    let text: String = events
        .iter()
        .filter_map(|(_, e)| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, pieces.concat());
    assert!(
        a.chunks.len() * 4 <= events.len(),
        "{} events in {} chunks",
        events.len(),
        a.chunks.len()
    );
    p.stop();
}

#[test]
fn first_event_arrives_while_upstream_is_silent() {
    let full = text_stream(&["first", "second"]);
    let events: Vec<String> = full.split_inclusive("\n\n").map(str::to_owned).collect();
    // created, item added, first delta — then 1.5 s of silence — then the rest.
    let head = events[..3].concat();
    let tail = events[3..].concat();
    let mock = Mock::start(move |_, _| {
        Reply::slow_sse(vec![
            (Duration::ZERO, head.clone()),
            (Duration::from_millis(1500), tail.clone()),
        ])
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    let first_text = a
        .chunks
        .iter()
        .find(|(_, c)| String::from_utf8_lossy(c).contains("\"first\""))
        .unwrap()
        .0;
    assert!(
        first_text < Duration::from_millis(1000),
        "first delta took {first_text:?}: buffered"
    );
    let last = a.chunks.last().unwrap().0;
    assert!(
        last >= Duration::from_millis(1400),
        "the rest came after the pause"
    );
    p.stop();
}

#[test]
fn pings_while_the_model_thinks() {
    let full = text_stream(&["x"]);
    let events: Vec<String> = full.split_inclusive("\n\n").map(str::to_owned).collect();
    let head = events[0].clone(); // response.created only
    let tail = events[1..].concat();
    let mock = Mock::start(move |_, _| {
        Reply::slow_sse(vec![
            (Duration::ZERO, head.clone()),
            (Duration::from_millis(1200), tail.clone()),
        ])
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(200)
    });
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200);
    let evs = a.events();
    assert_eq!(
        evs[0].0, "message_start",
        "message_start comes first, even before content"
    );
    let pings = evs.iter().filter(|(n, _)| n == "ping").count();
    assert!(pings >= 3, "{pings} pings in 1.2 s of silence");
    let first = a.chunks[0].0;
    assert!(
        first < Duration::from_millis(800),
        "first bytes after {first:?}"
    );
    assert_eq!(evs.last().unwrap().0, "message_stop");
    p.stop();
}

#[test]
fn client_disconnect_closes_the_upstream() {
    let full = text_stream(&["a"]);
    let events: Vec<String> = full.split_inclusive("\n\n").map(str::to_owned).collect();
    let head = events[..3].concat();
    let mock = Mock::start(move |_, _| {
        // The upstream keeps thinking for a long time after the first delta.
        let mut parts = vec![(Duration::ZERO, head.clone())];
        for _ in 0..100 {
            parts.push((Duration::from_millis(100), ": keep-alive\n\n".to_owned()));
        }
        Reply::slow_sse(parts)
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.ping_interval = Duration::from_millis(200)
    });
    let mut s = TcpStream::connect(p.addr).unwrap();
    send(
        &mut s,
        "POST",
        "/v1/messages",
        &[("Content-Type", "application/json")],
        simple().to_string().as_bytes(),
    );
    let mut buf = [0u8; 512];
    std::io::Read::read(&mut s, &mut buf).unwrap(); // the stream has started
    drop(s);
    let t0 = Instant::now();
    while mock.write_failures.load(Ordering::SeqCst) == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        mock.write_failures.load(Ordering::SeqCst),
        1,
        "the proxy should drop the upstream connection"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t0.elapsed()
    );
    p.stop();
}

fn expired_home() -> CodexHome {
    CodexHome::new(
        json!({"auth_mode":"chatgpt","OPENAI_API_KEY":null,"custom_field":{"kept":true},
        "tokens":{"id_token":jwt(1),"access_token":jwt(1000),"refresh_token":"rt-old","account_id":"acc-1","extra":"kept too"},
        "last_refresh":"2020-01-01T00:00:00Z"}),
    )
}

#[test]
fn expired_token_is_refreshed_and_saved_atomically() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = expired_home();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 1);
    let saved = home.read();
    assert_eq!(saved["tokens"]["access_token"], jwt(4_000_000_000));
    assert_eq!(saved["tokens"]["refresh_token"], "rt-new");
    assert_eq!(saved["tokens"]["account_id"], "acc-1");
    assert_eq!(saved["tokens"]["extra"], "kept too");
    assert_eq!(saved["custom_field"], json!({"kept": true}));
    assert_ne!(saved["last_refresh"], "2020-01-01T00:00:00Z");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.auth_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        std::fs::read_dir(&home.dir).unwrap().count(),
        1,
        "no temp files left"
    );
    assert_eq!(
        mock.last().header("authorization").unwrap(),
        format!("Bearer {}", jwt(4_000_000_000))
    );
    p.stop();
}

#[test]
fn upstream_401_refreshes_once_and_retries() {
    let mock = Mock::start(|seen, _| {
        if seen.header("authorization") == Some(&format!("Bearer {}", jwt(3_999_999_999))) {
            Reply::json(
                401,
                json!({"error":{"message":"Provided authentication token is expired.","code":"token_expired"}}),
            )
        } else {
            Reply::sse(text_stream(&["ok"]))
        }
    });
    let home = CodexHome::new(
        json!({"tokens":{"access_token":jwt(3_999_999_999),"refresh_token":"rt","account_id":"a"}}),
    );
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(mock.requests().len(), 2);
    p.stop();
}

#[test]
fn a_401_after_refresh_is_an_authentication_error() {
    let mock = Mock::start(|_, _| {
        Reply::json(
            401,
            json!({"error":{"message":"nope","code":"token_expired"}}),
        )
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["type"], "authentication_error");
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("codex login")
    );
    assert_eq!(
        mock.refreshes.load(Ordering::SeqCst),
        1,
        "one refresh, no loop"
    );
    p.stop();
}

#[test]
fn concurrent_requests_share_one_refresh() {
    let mock = Mock::start_with_refresh(
        |_, _| Reply::sse(text_stream(&["ok"])),
        |_| {
            std::thread::sleep(Duration::from_millis(300));
            Reply::json(
                200,
                json!({"access_token": jwt(4_000_000_000), "refresh_token": "rt-new"}),
            )
        },
    );
    let home = expired_home();
    let p = proxy(&mock, &home, |_| {});
    let addr = p.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || post_messages(addr, &simple()).status))
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(mock.refreshes.load(Ordering::SeqCst), 1);
    p.stop();
}

#[test]
fn failed_refresh_leaves_the_file_untouched() {
    let mock = Mock::start_with_refresh(
        |_, _| Reply::sse(text_stream(&["ok"])),
        |_| {
            Reply::json(
                401,
                json!({"error":{"code":"refresh_token_reused","message":"already used"}}),
            )
        },
    );
    let home = expired_home();
    let before = std::fs::read(home.auth_path()).unwrap();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 401);
    let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("refresh_token_reused") && msg.contains("codex login"),
        "{msg}"
    );
    assert_eq!(std::fs::read(home.auth_path()).unwrap(), before);
    p.stop();
}

#[test]
fn new_login_on_disk_is_picked_up() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    std::thread::sleep(Duration::from_millis(20));
    let mut doc = home.read();
    doc["tokens"]["access_token"] = json!(jwt(4_100_000_000));
    doc["tokens"]["account_id"] = json!("acc-2");
    std::fs::write(home.auth_path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    assert_eq!(mock.last().header("chatgpt-account-id"), Some("acc-2"));
    p.stop();
}

#[test]
fn missing_token_file_says_run_codex_login() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::new(Value::Null);
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 401);
    let e = a.json();
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "authentication_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("codex login")
    );
    assert!(mock.requests().is_empty());
    p.stop();
}

#[test]
fn malformed_bodies_are_400_and_the_next_request_works() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let bad: [&[u8]; 8] = [
        b"",
        b"{",
        b"[]",
        b"\xff\xfe{}",
        br#"{"model":"m"}"#,
        br#"{"model":"m","messages":"hi"}"#,
        br#"{"model":"m","messages":[{"role":"user","content":12}]}"#,
        br#"{"model":"m","messages":[],"max_tokens":1e999}"#,
    ];
    for body in bad {
        let a = call(
            p.addr,
            "POST",
            "/v1/messages",
            &[("Content-Type", "application/json")],
            body,
        );
        assert_eq!(a.status, 400, "{:?}", String::from_utf8_lossy(body));
        let e = a.json();
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
    }
    let a = call(
        p.addr,
        "POST",
        "/v1/messages",
        &[("Content-Encoding", "gzip")],
        b"\x1f\x8b",
    );
    assert_eq!(a.status, 400);
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Encoding gzip")
    );
    // A wrong type names the field, not a line and column.
    let a = call(
        p.addr,
        "POST",
        "/v1/messages",
        &[],
        br#"{"model":"m","messages":[{"role":"user","content":{"text":"hi"}}]}"#,
    );
    assert_eq!(
        a.json()["error"]["message"],
        "messages[0].content: expected a string or an array of content blocks, got an object"
    );
    let deep = "[".repeat(10_000);
    let a = call(p.addr, "POST", "/v1/messages", &[], deep.as_bytes());
    assert_eq!(a.status, 400);
    assert!(mock.requests().is_empty());
    assert_eq!(post_messages(p.addr, &simple()).status, 200);
    p.stop();
}

#[test]
fn routes_and_not_found() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    assert_eq!(call(p.addr, "HEAD", "/", &[], b"").status, 200);
    assert_eq!(call(p.addr, "HEAD", "/api/hello", &[], b"").status, 200);
    assert_eq!(call(p.addr, "GET", "/", &[], b"").status, 200);
    let h = call(p.addr, "GET", "/health", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["auth"]["ok"], true);
    assert!(
        !h.text().contains(&jwt(4_000_000_000)),
        "no token in /health"
    );
    let a = call(p.addr, "GET", "/v1/nothing", &[], b"");
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["type"], "not_found_error");
    let m = call(p.addr, "GET", "/v1/models", &[], b"");
    assert_eq!(m.status, 200);
    assert!(
        m.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == "claude-opus-5-5")
    );
    p.stop();
}

#[test]
fn count_tokens_estimates_the_translated_request() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let body = cc_request("10-count-tokens.count-tokens");
    let a = call(
        p.addr,
        "POST",
        "/v1/messages/count_tokens?beta=true",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let n = a.json()["input_tokens"].as_u64().unwrap();
    assert!(n > 5_000 && n < 20_000, "{n}");
    assert!(mock.requests().is_empty(), "count_tokens is local");
    p.stop();
}

#[test]
fn upstream_errors_map_to_anthropic_errors() {
    let cases: Vec<(u16, Value, u16, &str)> = vec![
        (
            429,
            serde_json::from_slice(&fixture("upstream/error_429_usage_limit_reached.json"))
                .unwrap(),
            429,
            "rate_limit_error",
        ),
        (
            400,
            serde_json::from_slice(&fixture("upstream/error_400_model_not_supported.json"))
                .unwrap(),
            400,
            "invalid_request_error",
        ),
        (
            400,
            serde_json::from_slice(&fixture("upstream/error_400_context_length_exceeded.json"))
                .unwrap(),
            400,
            "invalid_request_error",
        ),
        (403, json!({"detail":"forbidden"}), 403, "permission_error"),
        (500, json!({"error":{"message":"boom"}}), 500, "api_error"),
    ];
    for (status, body, want, kind) in cases {
        let body2 = body.clone();
        let mock = Mock::start(move |_, _| Reply::json(status, body2.clone()));
        let home = CodexHome::valid();
        let p = proxy(&mock, &home, |_| {});
        let a = post_messages(p.addr, &simple());
        assert_eq!(
            (a.status, a.json()["error"]["type"].as_str().unwrap()),
            (want, kind),
            "{body}"
        );
        if status == 429 {
            assert!(a.header("retry-after").is_some());
        }
        if kind == "invalid_request_error" && body.to_string().contains("context window") {
            assert!(
                a.json()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("prompt is too long")
            );
        }
        if body.to_string().contains("not supported") {
            let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(
                msg.contains("CODEX_BIG_MODEL") && msg.contains("gpt-5.6-terra"),
                "{msg}"
            );
        }
        p.stop();
    }
}

#[test]
fn failures_inside_the_stream_become_error_events() {
    // Content first, then the upstream fails: the 200 is already out, so an `error` event.
    let mut body = text_stream(&["partial"]);
    body.truncate(body.find("event: response.output_item.done").unwrap());
    body.push_str(
        &String::from_utf8(fixture("upstream/response_failed_server_error.sse")).unwrap(),
    );
    let mock = Mock::start(move |_, _| Reply::sse(body.clone()));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200);
    let evs = a.events();
    let (name, data) = evs.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "api_error");
    // A failure before any content is still a plain HTTP error.
    let mock =
        Mock::start(|_, _| Reply::sse(fixture("upstream/response_failed_context_length.sse")));
    let p2 = proxy(&mock, &home, |_| {});
    let a = post_messages(p2.addr, &simple());
    assert_eq!(a.status, 400);
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("prompt is too long")
    );
    p.stop();
    p2.stop();
}

#[test]
fn truncated_upstream_stream_ends_cleanly_with_an_error_event() {
    let mut body = text_stream(&["cut"]);
    body.truncate(body.find("event: response.completed").unwrap());
    let mock = Mock::start(move |_, _| Reply::sse(body.clone()));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let a = post_messages(p.addr, &simple());
    assert_eq!(a.status, 200);
    let evs = a.events();
    assert_eq!(evs.last().unwrap().0, "error");
    assert!(!evs.iter().any(|(n, _)| n == "message_stop"));
    p.stop();
}

#[test]
fn api_key_is_enforced_when_set() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| c.api_key = Some("s3cret".into()));
    let body = simple().to_string();
    let a = call(
        p.addr,
        "POST",
        "/v1/messages",
        &[("x-api-key", "wrong")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["type"], "authentication_error");
    assert_eq!(
        call(
            p.addr,
            "POST",
            "/v1/messages",
            &[("x-api-key", "s3cret")],
            body.as_bytes()
        )
        .status,
        200
    );
    assert_eq!(
        call(
            p.addr,
            "POST",
            "/v1/messages",
            &[("Authorization", "Bearer s3cret")],
            body.as_bytes()
        )
        .status,
        200
    );
    assert_eq!(
        call(p.addr, "GET", "/health", &[], b"").status,
        200,
        "health stays open"
    );
    p.stop();
}

#[test]
fn oversized_body_is_413() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| c.max_body_bytes = 1000);
    let a = call(p.addr, "POST", "/v1/messages", &[], &vec![b' '; 5000]);
    assert_eq!(a.status, 413);
    assert_eq!(a.json()["error"]["type"], "request_too_large");
    p.stop();
}

#[test]
fn upstream_connections_are_reused() {
    let mock = Mock::start(|_, n| {
        if n % 2 == 0 {
            Reply::sse(text_stream(&["one"]))
        } else {
            Reply::sse(fixture("upstream/response_failed_context_length.sse"))
        }
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    for i in 0..4 {
        let want = if i % 2 == 0 { 200 } else { 400 };
        assert_eq!(post_messages(p.addr, &simple()).status, want);
        // The proxy answers first and then reads the upstream's end of body to pool the
        // connection; a client faster than that (no real one is) would get a second connection.
        std::thread::sleep(Duration::from_millis(50));
    }
    let peers: std::collections::HashSet<_> = mock.requests().iter().map(|s| s.peer).collect();
    assert_eq!(
        peers.len(),
        1,
        "one upstream connection for four requests: {peers:?}"
    );
    p.stop();
}

#[test]
fn keep_alive_connection_serves_two_streams() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["one"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let mut s = TcpStream::connect(p.addr).unwrap();
    let body = simple().to_string();
    send(&mut s, "POST", "/v1/messages", &[], body.as_bytes());
    let mut r = BufReader::new(s.try_clone().unwrap());
    let a = read_answer(&mut r, Instant::now(), false);
    assert_eq!(a.events().last().unwrap().0, "message_stop");
    send(&mut s, "POST", "/v1/messages", &[], body.as_bytes());
    let b = read_answer(&mut r, Instant::now(), false);
    assert_eq!(b.events().last().unwrap().0, "message_stop");
    p.stop();
}

#[test]
fn models_list_maps_claude_ids_and_lists_the_account_models() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    mock.set_catalogue(
        json!({"models": [
            {"slug": "gpt-5.6-terra", "display_name": "GPT-5.6-Terra", "context_window": 272000, "use_responses_lite": true},
            {"slug": "gpt-5.5", "context_window": 272000, "use_responses_lite": false},
            {"slug": "codex-auto-review", "visibility": "hide"}]}),
        "small",
    );
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let m = call(p.addr, "GET", "/v1/models?limit=1000", &[], b"").json();
    let data = m["data"].as_array().unwrap();
    let sonnet = data
        .iter()
        .find(|d| d["id"] == "claude-sonnet-5-5")
        .unwrap();
    assert_eq!(sonnet["display_name"], "Sonnet → gpt-5.6-terra");
    assert_eq!(sonnet["max_input_tokens"], 272000);
    assert!(data.iter().any(|d| d["id"] == "gpt-5.5"));
    assert!(
        !data.iter().any(|d| d["id"] == "codex-auto-review"),
        "hidden models stay hidden"
    );
    assert_eq!(m["has_more"], false);
    // An explicit Codex model goes straight through, `[1m]` ignored.
    let body = json!({"model": "gpt-5.5[1m]", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post_messages(p.addr, &body).status, 200);
    assert_eq!(mock.last().json()["model"], "gpt-5.5");
    p.stop();
}

/// Every error answer says whether a retry can help (`x-should-retry`), so Claude Code gives up
/// at once on what only the user can fix instead of retrying it for minutes.
#[test]
fn every_error_says_whether_a_retry_can_help() {
    let upstream =
        |status: u16, body: Value| Mock::start(move |_, _| Reply::json(status, body.clone()));
    let file = |name: &str| -> Value {
        serde_json::from_slice(&fixture(&format!("upstream/{name}.json"))).unwrap()
    };
    let ok = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let revoked = Mock::start_with_refresh(
        |_, _| Reply::sse(text_stream(&["ok"])),
        |_| Reply::json(400, json!({"error":{"code":"refresh_token_invalidated"}})),
    );
    let too_old = json!({"detail": "The 'gpt-6-sol' model requires a newer version of Codex. \
        Please upgrade to the latest app or CLI and try again."});
    let valid = CodexHome::valid;
    let check = |what: &str, a: &Answer, status: u16, retry: &str| {
        assert_eq!(a.status, status, "{what}: {}", a.text());
        assert_eq!(a.header("x-should-retry"), Some(retry), "{what}");
        assert_eq!(a.json()["type"], "error", "{what}");
    };
    // (what, backend, login, status, x-should-retry) for a plain request.
    let cases = [
        ("no login", &ok, CodexHome::new(Value::Null), 401, "false"),
        (
            "refresh token revoked",
            &revoked,
            expired_home(),
            401,
            "false",
        ),
        (
            "backend rejects the token",
            &upstream(401, json!({"error":{"code":"token_expired"}})),
            valid(),
            401,
            "false",
        ),
        (
            "model not offered",
            &upstream(400, file("error_400_model_not_supported")),
            valid(),
            400,
            "false",
        ),
        (
            "client too old",
            &upstream(400, too_old),
            valid(),
            400,
            "false",
        ),
        (
            "prompt too long",
            &upstream(400, file("error_400_context_length_exceeded")),
            valid(),
            400,
            "false",
        ),
        (
            "backend refuses",
            &upstream(403, json!({"detail":"no"})),
            valid(),
            403,
            "false",
        ),
        (
            "usage limit",
            &upstream(429, file("error_429_usage_limit_reached")),
            valid(),
            429,
            "true",
        ),
        (
            "backend error",
            &upstream(500, json!({"detail":"boom"})),
            valid(),
            500,
            "true",
        ),
        (
            "backend down",
            &upstream(503, json!({"detail":"down"})),
            valid(),
            529,
            "true",
        ),
    ];
    for (what, mock, home, status, retry) in cases {
        let p = proxy(mock, &home, |_| {});
        let a = post_messages(p.addr, &simple());
        check(what, &a, status, retry);
        if status == 429 {
            assert!(
                a.header("retry-after").is_some(),
                "{what} keeps retry-after"
            );
        }
        p.stop();
    }
    // Errors of the proxy's own making.
    let home = valid();
    let p = proxy(&ok, &home, |c| {
        c.api_key = Some("k".into());
        c.max_body_bytes = 1000;
    });
    let key = [("x-api-key", "k")];
    let body = simple().to_string();
    let a = call(p.addr, "POST", "/v1/messages", &[], body.as_bytes());
    check("wrong proxy key", &a, 401, "false");
    let a = call(p.addr, "POST", "/v1/messages", &key, b"{");
    check("malformed request", &a, 400, "false");
    let a = call(p.addr, "POST", "/v1/nothing", &key, b"");
    check("unknown route", &a, 404, "false");
    let a = call(p.addr, "POST", "/v1/messages", &key, &[b' '; 5000]);
    check("body too large", &a, 413, "false");
    p.stop();
    // A backend that does not answer in time: worth a retry.
    let late = Mock::start(|_, _| Reply::sse(text_stream(&["late"])).after(Duration::from_secs(2)));
    let p = proxy(&late, &home, |c| {
        c.first_byte_timeout = Duration::from_millis(300)
    });
    check(
        "first-byte timeout",
        &post_messages(p.addr, &simple()),
        504,
        "true",
    );
    p.stop();
}

/// A long request is counted on a second thread while it travels upstream; message_start still
/// carries that estimate, the same count_tokens gives for it.
#[test]
fn a_long_request_is_counted_while_it_travels() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let long = "The parser keeps its buffer between reads. ".repeat(8_000);
    let body = json!({"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,
        "messages":[{"role":"user","content":long}]});
    assert!(body.to_string().len() > 300 * 1024);
    let counted = call(
        p.addr,
        "POST",
        "/v1/messages/count_tokens",
        &[],
        body.to_string().as_bytes(),
    );
    let want = counted.json()["input_tokens"].as_u64().unwrap();
    assert!(want > 50_000, "{want}");
    let a = post_messages(p.addr, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    let start = &a.events()[0].1;
    assert_eq!(start["message"]["usage"]["input_tokens"], want);
    p.stop();
}
