//! A scripted fake of the ChatGPT Codex backend, for trying the proxy offline with a real client
//! (Claude Code, the Anthropic SDKs, curl) and no ChatGPT account.
//!
//! ```text
//! cargo run --example fake_upstream -- 9000
//! codex-claude-proxy --upstream-url http://127.0.0.1:9000/backend-api/codex/responses \
//!     --refresh-url http://127.0.0.1:9000/oauth/token --codex-home /tmp/fake-codex
//! ```
//! (`/tmp/fake-codex/auth.json` needs any access token whose JWT `exp` lies in the future.)
//!
//! It answers `POST …/responses` with an SSE stream in the backend's grammar, `GET …/models` with
//! three models and `POST /oauth/token` with fresh tokens. Like a tiny model, it looks at the
//! request's `input` list (trailing `developer` messages and user messages holding only
//! `<system-reminder>` text are skipped) and:
//! * a user message containing "run echo" (and a `Bash` tool offered) → a reasoning item, then a
//!   `Bash` call running `echo hello-from-bash`;
//! * the output of that `Bash` call (and a `Read` tool offered) → a `Read` call for the first
//!   `/….png` path named in the first user message;
//! * the output of a `Read` call → a text answer saying how many input items arrived and whether
//!   the output held an `input_image` ("Saw image: yes");
//! * the output of any other call → a text answer quoting its first line;
//! * a user message containing "fail upstream" → HTTP 429 `usage_limit_reached`;
//! * a user message containing "take your time" → the echo answer, with 12 s of silence after
//!   `response.created` (the proxy should ping the client meanwhile); "slow headers" → the same
//!   silence before the HTTP response headers;
//! * anything else → a short text echoing the last user text.
//!
//! Every request is logged to stderr on one line with the types of its input items; with
//! `FAKE_UPSTREAM_DUMP=<dir>` each request body is also saved there as `NNN-<answer>.json`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

/// A JWT (`alg: none`) that expires in 2096; the proxy only reads its `exp` and account claim.
const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJleHAiOjQwMDAwMDAwMDB9.sig";

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let server = tiny_http::Server::http(("127.0.0.1", port)).unwrap_or_else(|e| {
        eprintln!("fake upstream: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    let port = server.server_addr().to_ip().map_or(port, |a| a.port());
    println!("fake upstream on http://127.0.0.1:{port}");
    let _ = std::io::stdout().flush();
    for request in server.incoming_requests() {
        std::thread::spawn(move || {
            if let Err(e) = serve(request) {
                eprintln!("[fake] write failed: {e}");
            }
        });
    }
}

fn serve(mut request: tiny_http::Request) -> std::io::Result<()> {
    let mut body = Vec::new();
    request.as_reader().read_to_end(&mut body)?;
    let (method, url) = (request.method().to_string(), request.url().to_owned());
    let path = url.split('?').next().unwrap_or("").to_owned();
    if path.ends_with("/oauth/token") {
        eprintln!("[fake] {method} {path} -> new tokens");
        let tokens = json!({"access_token": TOKEN, "refresh_token": "rt-fake", "id_token": TOKEN, "expires_in": 3600});
        return write_json(request, 200, &tokens);
    }
    if method == "GET" && path.ends_with("/models") {
        eprintln!("[fake] GET {path} -> 3 models");
        let model = |slug: &str| {
            json!({"slug": slug, "context_window": 272000, "supports_reasoning_summary_parameter": true,
                "supported_reasoning_levels": [{"effort":"low"},{"effort":"medium"},{"effort":"high"},{"effort":"xhigh"}]})
        };
        let list = json!({"models": [model("gpt-5.6-sol"), model("gpt-5.6-terra"), model("gpt-5.6-luna")]});
        return write_json(request, 200, &list);
    }
    if method != "POST" || !path.ends_with("/responses") {
        eprintln!("[fake] {method} {path} -> 404");
        return write_json(request, 404, &json!({"detail": "Not Found"}));
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return write_json(request, 400, &json!({"detail": format!("invalid JSON: {e}")})),
    };
    let input = req["input"].as_array().cloned().unwrap_or_default();
    let (plan, events) = answer(&req, &input);
    let auth = header(&request, "authorization").is_some_and(|a| a.starts_with("Bearer "));
    eprintln!(
        "[fake] POST {path} model={} effort={} tools={} bearer={auth} input({})=[{}] -> {plan}",
        req["model"].as_str().unwrap_or("?"),
        req["reasoning"]["effort"].as_str().unwrap_or("-"),
        req["tools"].as_array().map_or(0, Vec::len),
        input.len(),
        input.iter().map(describe).collect::<Vec<_>>().join(", "),
    );
    if let Some(dir) = std::env::var_os("FAKE_UPSTREAM_DUMP") {
        let file = std::path::Path::new(&dir).join(format!("{:03}-{plan}.json", unique()));
        let _ = std::fs::write(file, serde_json::to_vec_pretty(&req).unwrap_or_default());
    }
    if plan == "429" {
        let err = json!({"error": {"type": "usage_limit_reached", "message": "You've hit your usage limit.", "resets_in_seconds": 60}});
        return write_json(request, 429, &err);
    }
    // Chunked by hand, one chunk and one flush per event, so the stream is real on the wire.
    let pause = std::time::Duration::from_secs(12);
    if plan == "slow_headers" {
        std::thread::sleep(pause);
    }
    let mut w = request.into_writer();
    w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")?;
    w.flush()?;
    for (seq, mut ev) in events.into_iter().enumerate() {
        ev["sequence_number"] = json!(seq);
        let frame = format!("event: {}\ndata: {ev}\n\n", ev["type"].as_str().unwrap_or("?"));
        write!(w, "{:x}\r\n{frame}\r\n", frame.len())?;
        w.flush()?;
        std::thread::sleep(if seq == 0 && plan == "slow_text" { pause } else { std::time::Duration::from_millis(20) });
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

/// Decides the answer: a short name for the log, and the SSE events to send.
fn answer(req: &Value, input: &[Value]) -> (&'static str, Vec<Value>) {
    let offered = |name: &str| req["tools"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == name));
    let last = input.iter().rev().find(|i| !is_aside(i)).cloned().unwrap_or(Value::Null);
    let mut s = Script::new(req, input);
    if last["type"] == "function_call_output" {
        let call = input.iter().find(|i| i["type"] == "function_call" && i["call_id"] == last["call_id"]);
        match call.and_then(|c| c["name"].as_str()) {
            Some("Bash") if offered("Read") => {
                let file = first_png(input).unwrap_or_else(|| "/tmp/e2e/pic.png".into());
                s.call("Read", &json!({"file_path": file}).to_string());
                return ("read_call", s.finish());
            }
            Some("Read") => {
                let image = last["output"].as_array().is_some_and(|p| p.iter().any(|p| p["type"] == "input_image"));
                let yes = if image { "yes" } else { "no" };
                s.text(&format!("The file is a small picture. I received {} input items. Saw image: {yes}.", input.len()));
                return ("final_text", s.finish());
            }
            _ => {
                let output = last["output"].as_str().unwrap_or("(non-text output)");
                s.text(&format!("The tool said: {}", output.lines().next().unwrap_or("")));
                return ("tool_output_text", s.finish());
            }
        }
    }
    let said = text_of(&last);
    if last["type"] == "message" && said.contains("fail upstream") {
        return ("429", Vec::new());
    }
    if last["type"] == "message" && said.contains("run echo") && offered("Bash") {
        s.reasoning("Planning the command", "enc-1");
        s.call("Bash", r#"{"command":"echo hello-from-bash","description":"Print a greeting"}"#);
        return ("bash_call", s.finish());
    }
    let plan = match () {
        _ if said.contains("take your time") => "slow_text",
        _ if said.contains("slow headers") => "slow_headers",
        _ => "echo_text",
    };
    let said = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let said: String = said.chars().take(80).collect();
    s.text(&format!("Hi! You said: {said}"));
    (plan, s.finish())
}

/// Builds one response's events in order.
struct Script {
    events: Vec<Value>,
    output: usize,
    input_tokens: usize,
}

impl Script {
    fn new(req: &Value, input: &[Value]) -> Script {
        let created = json!({"type": "response.created", "response": {"id": "resp_fake", "status": "in_progress", "model": req["model"]}});
        let tokens = (req["instructions"].to_string().len() + Value::from(input.to_vec()).to_string().len()) / 4;
        Script { events: vec![created], output: 0, input_tokens: tokens }
    }

    fn reasoning(&mut self, summary: &str, encrypted: &str) {
        let (i, id) = (self.output, format!("rs_{}", unique()));
        self.events.extend([
            json!({"type": "response.output_item.added", "output_index": i, "item": {"id": id, "type": "reasoning", "summary": []}}),
            json!({"type": "response.reasoning_summary_part.added", "item_id": id, "output_index": i, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": id, "output_index": i, "summary_index": 0, "delta": summary}),
            json!({"type": "response.reasoning_summary_text.done", "item_id": id, "output_index": i, "summary_index": 0, "text": summary}),
            json!({"type": "response.reasoning_summary_part.done", "item_id": id, "output_index": i, "summary_index": 0, "part": {"type": "summary_text", "text": summary}}),
            json!({"type": "response.output_item.done", "output_index": i, "item": {"id": id, "type": "reasoning",
                "summary": [{"type": "summary_text", "text": summary}], "encrypted_content": encrypted}}),
        ]);
        self.output += 1;
    }

    /// A function call whose arguments stream in a few pieces; name and call id come with `added`.
    fn call(&mut self, name: &str, arguments: &str) {
        let (i, n) = (self.output, unique());
        let (id, call_id) = (format!("fc_{n}"), format!("call_fake{n:015}"));
        self.events.push(json!({"type": "response.output_item.added", "output_index": i,
            "item": {"id": id, "type": "function_call", "status": "in_progress", "arguments": "", "call_id": call_id, "name": name}}));
        let chars: Vec<char> = arguments.chars().collect();
        for piece in chars.chunks(chars.len().div_ceil(4).max(1)) {
            let delta: String = piece.iter().collect();
            self.events.push(json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": i, "delta": delta}));
        }
        self.events.extend([
            json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": i, "arguments": arguments}),
            json!({"type": "response.output_item.done", "output_index": i, "item": {"id": id, "type": "function_call",
                "status": "completed", "arguments": arguments, "call_id": call_id, "name": name}}),
        ]);
        self.output += 1;
    }

    fn text(&mut self, text: &str) {
        let (i, id) = (self.output, format!("msg_{}", unique()));
        let part = |t: &str| json!({"type": "output_text", "annotations": [], "text": t});
        self.events.push(json!({"type": "response.output_item.added", "output_index": i,
            "item": {"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}));
        self.events.push(json!({"type": "response.content_part.added", "item_id": id, "output_index": i, "content_index": 0, "part": part("")}));
        for word in text.split_inclusive(' ') {
            self.events.push(json!({"type": "response.output_text.delta", "item_id": id, "output_index": i, "content_index": 0, "delta": word}));
        }
        self.events.extend([
            json!({"type": "response.output_text.done", "item_id": id, "output_index": i, "content_index": 0, "text": text}),
            json!({"type": "response.content_part.done", "item_id": id, "output_index": i, "content_index": 0, "part": part(text)}),
            json!({"type": "response.output_item.done", "output_index": i,
                "item": {"id": id, "type": "message", "status": "completed", "role": "assistant", "content": [part(text)]}}),
        ]);
        self.output += 1;
    }

    /// Ends with `response.completed` and usage (`input_tokens` includes the cached ones).
    fn finish(mut self) -> Vec<Value> {
        let (input, cached) = (self.input_tokens.max(1), self.input_tokens / 2);
        let usage = json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": 12 * self.output, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input + 12 * self.output});
        self.events.push(json!({"type": "response.completed", "response": {"id": "resp_fake", "status": "completed", "output": [], "usage": usage}}));
        self.events
    }
}

/// `message:user`, `function_call:Bash`, `function_call_output[input_text+input_image]`, …
fn describe(item: &Value) -> String {
    let kind = item["type"].as_str().unwrap_or("?");
    match kind {
        "message" => format!("message:{}", item["role"].as_str().unwrap_or("?")),
        "function_call" => format!("function_call:{}", item["name"].as_str().unwrap_or("?")),
        "function_call_output" => match item["output"].as_array() {
            Some(parts) => {
                let types: Vec<&str> = parts.iter().filter_map(|p| p["type"].as_str()).collect();
                format!("function_call_output[{}]", types.join("+"))
            }
            None => "function_call_output[text]".into(),
        },
        other => other.to_owned(),
    }
}

/// The text parts of a message item, joined.
fn text_of(item: &Value) -> String {
    let parts = item["content"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n")
}

/// Context Claude Code adds after the user's turn: a `developer` (Anthropic `system`) message,
/// or a user message whose every part is a `<system-reminder>`.
fn is_aside(item: &Value) -> bool {
    let parts = item["content"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let reminder = |p: &Value| p["text"].as_str().is_some_and(|t| t.trim_start().starts_with("<system-reminder>"));
    item["type"] == "message"
        && (item["role"] == "developer" || (item["role"] == "user" && !parts.is_empty() && parts.iter().all(reminder)))
}

/// The first absolute `.png` path in the first user message.
fn first_png(input: &[Value]) -> Option<String> {
    let first = input.iter().find(|i| i["type"] == "message" && i["role"] == "user")?;
    let text = text_of(first);
    let word = text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'').find(|w| w.starts_with('/') && w.contains(".png"))?;
    Some(word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned())
}

fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

fn header(request: &tiny_http::Request, name: &str) -> Option<String> {
    request.headers().iter().find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name)).map(|h| h.value.to_string())
}

fn write_json(request: tiny_http::Request, status: u16, body: &Value) -> std::io::Result<()> {
    let content_type = tiny_http::Header::from_bytes("Content-Type", "application/json").map_err(|()| std::io::Error::other("header"))?;
    request.respond(tiny_http::Response::from_string(body.to_string()).with_status_code(status).with_header(content_type))
}
