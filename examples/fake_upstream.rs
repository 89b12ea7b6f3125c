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
//! the Codex CLI 0.171.0 model catalogue (`tests/fixtures/upstream/models-codex-0.171.0.json`,
//! filtered by `client_version` like the real list) and `POST /oauth/token` with fresh tokens.
//! Like the real backend it first refuses what breaks a rule (`tests/common/rules.rs`, shared with
//! the test mock): a model newer than the `version` header, `-luna` on the full lane, a Responses
//! Lite request with `instructions`, top-level `tools`, parallel tool calls or without
//! `reasoning.context: all_turns`, a full-lane request without instructions. The last SSE event
//! is a `response.completed` with an empty `output`, as on the lite lane. Like a tiny model, it
//! looks at the request's `input` list (trailing `developer` messages and user messages holding
//! only `<system-reminder>` text are skipped) and:
//! * a last user message containing "CRITICAL: Respond with TEXT ONLY" (Claude Code's compaction
//!   prompt) → `<analysis>…</analysis><summary>FAKE-SUMMARY …</summary>`;
//! * a user message containing "three steps" starts a task; by the number of tool results since
//!   it, the fake answers Bash `echo step-one`, Bash `echo step-two`, a `Read` of the first
//!   absolute path in the message (default `/etc/hostname`), then a closing text. Every turn
//!   starts with a reasoning item whose `encrypted_content` is `enc-<model>-turn<N>`. With
//!   "overflow" in the message, the third turn fails with `context_length_exceeded` instead
//!   (in-stream `response.failed`; "overflow http": an HTTP 400; "overflow late": the in-stream
//!   failure after 7 s of silence, so the proxy has already started its answer) until the input
//!   holds a FAKE-SUMMARY, i.e. until Claude Code has compacted;
//! * a user message containing "find cron" starts a task: `ToolSearch` with
//!   `{"query":"select:CronList"}`, then `CronList` with `{}` once the request offers `CronList`
//!   (else a text saying it is missing), then a text quoting CronList's output;
//! * a user message containing "run echo" (and a `Bash` tool offered) → a reasoning item, then a
//!   `Bash` call running `echo hello-from-bash`;
//! * the output of that `Bash` call → a `Read` call for the first `/….png` path named in the
//!   first user message (when there is one and a `Read` tool is offered), else the text below;
//! * the output of a `Read` call → a text answer saying how many input items arrived and whether
//!   the output held an `input_image` ("Saw image: yes");
//! * the output of any other call → a text answer quoting its first line;
//! * faults, by a phrase in the last user message: "fail upstream" → HTTP 429
//!   `usage_limit_reached` with `resets_in_seconds: 60` ("fail upstream for hours": 7800);
//!   "flaky upstream" → HTTP 503 the first time a given input is seen, the echo answer on the
//!   retry; "drop stream" → half an answer, then the stream ends without a terminal event;
//!   "server error" → `response.failed` with `server_error` after `response.created`;
//!   "long answer" → a 300-word text at 5 words a second;
//! * a user message containing "take your time" → the echo answer, with 12 s of silence after
//!   `response.created` (the proxy should ping the client meanwhile); "slow headers" → the same
//!   silence before the HTTP response headers;
//! * anything else → a short text echoing the last user text.
//!
//! Every reply carries `x-codex-*` usage headers: a 5-hour window at `FAKE_UPSTREAM_USED_PERCENT`
//! (default 42) and a weekly one at 20 %.
//!
//! Every request is logged to stderr on one line (Unix time in ms first) with the model, its lane
//! (`lite` when the Responses Lite header is set), the announced client version, effort, the
//! number of tools (and `+CronList` when offered), the types of its input items and the
//! `encrypted_content` of each `reasoning` item; with `FAKE_UPSTREAM_DUMP=<dir>` each request body
//! is also saved there as `NNN-<answer>.json`. A stream the client abandons is logged with the
//! number of events written and the seconds it lasted.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

#[path = "../tests/common/rules.rs"]
mod rules;

/// The model catalogue served on `/models`, as the Codex CLI 0.171.0 bundles it.
const CATALOGUE: &str = include_str!("../tests/fixtures/upstream/models-codex-0.171.0.json");
/// The catalogue's etag, also announced in every reply's `x-models-etag`.
const CATALOGUE_ETAG: &str = "codex-0.171.0";

/// A JWT (`alg: none`) that expires in 2096; the proxy only reads its `exp` and account claim.
const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJleHAiOjQwMDAwMDAwMDB9.sig";
/// Marks the fake's compaction summary, so a compacted conversation does not overflow again.
const SUMMARY_MARK: &str = "FAKE-SUMMARY";

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
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
                log(&format!("write failed: {e}"));
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
        log(&format!("{method} {path} -> new tokens"));
        let tokens = json!({"access_token": TOKEN, "refresh_token": "rt-fake", "id_token": TOKEN, "expires_in": 3600});
        return write_json(request, 200, &tokens);
    }
    let catalogue: Value = serde_json::from_str(CATALOGUE).unwrap_or(Value::Null);
    if method == "GET" && path.ends_with("/models") {
        let version = rules::client_version_query(&url);
        let Some(list) = rules::visible_models(&catalogue, version) else {
            log(&format!("GET {url} -> 400 (no client_version)"));
            return write_json(
                request,
                400,
                &json!({"detail": "client_version is required"}),
            );
        };
        let n = list["models"].as_array().map_or(0, Vec::len);
        log(&format!("GET {url} -> {n} models"));
        return write_json(request, 200, &list);
    }
    if method != "POST" || !path.ends_with("/responses") {
        log(&format!("{method} {path} -> 404"));
        return write_json(request, 404, &json!({"detail": "Not Found"}));
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return write_json(
                request,
                400,
                &json!({"detail": format!("invalid JSON: {e}")}),
            );
        }
    };
    let lane = if header(&request, rules::LITE).as_deref() == Some("true") {
        "lite"
    } else {
        "full"
    };
    let version = header(&request, "version").unwrap_or_else(|| "-".into());
    let lookup = |name: &str| header(&request, name);
    if let Some((status, refusal)) = rules::refusal(&lookup, &req, &catalogue) {
        log(&format!(
            "POST {path} model={} lane={lane} version={version} -> {status} {refusal}",
            req["model"].as_str().unwrap_or("?")
        ));
        return write_json(request, status, &refusal);
    }
    let input = req["input"].as_array().cloned().unwrap_or_default();
    let (plan, events) = answer(&req, &input);
    let auth = header(&request, "authorization").is_some_and(|a| a.starts_with("Bearer "));
    let cron = if offered(&req, "CronList") {
        "+CronList"
    } else {
        ""
    };
    let reasoning: Vec<&str> = input
        .iter()
        .filter(|i| i["type"] == "reasoning")
        .map(|i| i["encrypted_content"].as_str().unwrap_or("?"))
        .collect();
    log(&format!(
        "POST {path} model={} lane={lane} version={version} effort={} tools={}{cron} bearer={auth} input({})=[{}] reasoning=[{}] -> {plan}",
        req["model"].as_str().unwrap_or("?"),
        req["reasoning"]["effort"].as_str().unwrap_or("-"),
        tools(&req).len(),
        input.len(),
        input.iter().map(describe).collect::<Vec<_>>().join(", "),
        reasoning.join(", "),
    ));
    if let Some(dir) = std::env::var_os("FAKE_UPSTREAM_DUMP") {
        let file = std::path::Path::new(&dir).join(format!("{:03}-{plan}.json", unique()));
        let _ = std::fs::write(file, serde_json::to_vec_pretty(&req).unwrap_or_default());
    }
    match plan {
        "429" | "429_hours" => {
            let reset = if plan == "429" { 60 } else { 7_800 };
            let err = json!({"error": {"type": "usage_limit_reached", "message": "You've hit your usage limit.", "resets_in_seconds": reset}});
            return write_json(request, 429, &err);
        }
        "503" => {
            return write_json(
                request,
                503,
                &json!({"detail": "upstream connect error (fake, first try)"}),
            );
        }
        "overflow_http" => {
            let err = json!({"error": {"type": "invalid_request_error", "code": "context_length_exceeded", "param": "input",
                "message": "Your input exceeds the context window of this model. Please adjust your input and try again."}});
            return write_json(request, 400, &err);
        }
        _ => {}
    }
    // Chunked by hand, one chunk and one flush per event, so the stream is real on the wire.
    let pause = Duration::from_secs(12);
    if plan == "slow_headers" {
        std::thread::sleep(pause);
    }
    let started = Instant::now();
    let mut w = request.into_writer();
    let mut head = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n",
    );
    for (name, value) in usage_headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    w.write_all(format!("{head}\r\n").as_bytes())?;
    w.flush()?;
    let count = events.len();
    for (seq, mut ev) in events.into_iter().enumerate() {
        ev["sequence_number"] = json!(seq);
        let frame = format!(
            "event: {}\ndata: {}\n\n",
            ev["type"].as_str().unwrap_or("?"),
            type_first(&ev)
        );
        let sent = write!(w, "{:x}\r\n{frame}\r\n", frame.len()).and_then(|()| w.flush());
        if let Err(e) = sent {
            let secs = started.elapsed().as_secs_f32();
            log(&format!(
                "{plan}: the client went away after {seq} of {count} events, {secs:.1} s into the stream: {e}"
            ));
            return Ok(());
        }
        std::thread::sleep(match plan {
            "slow_text" if seq == 0 => pause,
            "overflow_late" if seq == 0 => Duration::from_secs(7),
            "long_text" => Duration::from_millis(200),
            _ => Duration::from_millis(20),
        });
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

/// Decides the answer: a short name for the log, and the SSE events to send.
fn answer(req: &Value, input: &[Value]) -> (&'static str, Vec<Value>) {
    let last = input
        .iter()
        .rev()
        .find(|i| !is_aside(i))
        .cloned()
        .unwrap_or(Value::Null);
    let mut s = Script::new(req, input);
    let said = text_of(&last);
    if last["type"] == "message" && said.contains("CRITICAL: Respond with TEXT ONLY") {
        s.text(&format!(
            "<analysis>The user asked for a multi-step task; the tools ran.</analysis>\n<summary>{SUMMARY_MARK}: \
             the user asked for a task; the first steps ran fine. Continue where it stopped.</summary>"
        ));
        return ("compact_summary", s.finish());
    }
    if let Some((task, done)) = task(input, "three steps") {
        return three_steps(req, input, &task, done, s);
    }
    if let Some((_, done)) = task(input, "find cron") {
        return find_cron(req, input, done, s);
    }
    if last["type"] == "function_call_output" {
        let call = input
            .iter()
            .find(|i| i["type"] == "function_call" && i["call_id"] == last["call_id"]);
        match call.and_then(|c| c["name"].as_str()) {
            Some("Bash") if offered(req, "Read") && first_png(input).is_some() => {
                let file = first_png(input).unwrap_or_default();
                s.call("Read", &json!({"file_path": file}).to_string());
                return ("read_call", s.finish());
            }
            Some("Read") => {
                let image = last["output"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["type"] == "input_image"));
                let yes = if image { "yes" } else { "no" };
                s.text(&format!(
                    "The file is a small picture. I received {} input items. Saw image: {yes}.",
                    input.len()
                ));
                return ("final_text", s.finish());
            }
            _ => {
                s.text(&format!("The tool said: {}", first_line(&last)));
                return ("tool_output_text", s.finish());
            }
        }
    }
    if last["type"] == "message" {
        if said.contains("fail upstream") {
            let plan = if said.contains("for hours") {
                "429_hours"
            } else {
                "429"
            };
            return (plan, Vec::new());
        }
        if said.contains("flaky upstream") && first_sighting(input) {
            return ("503", Vec::new());
        }
        if said.contains("server error") {
            s.events.push(json!({"type": "response.failed", "response": {"id": "resp_fake", "status": "failed",
                "error": {"code": "server_error", "message": "An error occurred while processing your request. (fake)"}}}));
            return ("server_error", s.events);
        }
        if said.contains("drop stream") {
            s.text(
                "This answer will be cut off in the middle of a sentence and never finish properly",
            );
            // Keep the first half of the text deltas; no `done` events, no `response.completed`.
            let keep = s.events.len() - 3 - 8;
            s.events.truncate(keep);
            return ("dropped_stream", s.events);
        }
        if said.contains("long answer") {
            let words: Vec<String> = (1..=300).map(|n| format!("word{n}")).collect();
            s.text(&words.join(" "));
            return ("long_text", s.finish());
        }
        if said.contains("run echo") && offered(req, "Bash") {
            s.reasoning("Planning the command", "enc-1");
            s.call(
                "Bash",
                r#"{"command":"echo hello-from-bash","description":"Print a greeting"}"#,
            );
            return ("bash_call", s.finish());
        }
    }
    let plan = match () {
        _ if said.contains("take your time") => "slow_text",
        _ if said.contains("slow headers") => "slow_headers",
        _ => "echo_text",
    };
    let said = said
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let said: String = said.chars().take(80).collect();
    s.text(&format!("Hi! You said: {said}"));
    (plan, s.finish())
}

/// "three steps": Bash, Bash, Read, then a text; each turn opens with its own reasoning item.
fn three_steps(
    req: &Value,
    input: &[Value],
    task: &str,
    done: usize,
    mut s: Script,
) -> (&'static str, Vec<Value>) {
    let model = req["model"].as_str().unwrap_or("?");
    let turn = done + 1;
    if done == 2
        && task.contains("overflow")
        && !input.iter().any(|i| text_of(i).contains(SUMMARY_MARK))
    {
        if task.contains("overflow http") {
            return ("overflow_http", Vec::new());
        }
        s.events.push(json!({"type": "response.failed", "response": {"id": "resp_fake", "status": "failed",
            "error": {"code": "context_length_exceeded", "message": "Your input exceeds the context window of this model. Please adjust your input and try again."}}}));
        let plan = if task.contains("overflow late") {
            "overflow_late"
        } else {
            "overflow_stream"
        };
        return (plan, s.events);
    }
    s.reasoning(
        &format!("Turn {turn} of the three-step task"),
        &format!("enc-{model}-turn{turn}"),
    );
    match done {
        0 | 1 => {
            let word = if done == 0 { "one" } else { "two" };
            let args = json!({"command": format!("echo step-{word}"), "description": format!("Step {word}")});
            s.call("Bash", &args.to_string());
            ("step_bash", s.finish())
        }
        2 => {
            let file = task
                .split_whitespace()
                .find(|w| w.starts_with('/'))
                .unwrap_or("/etc/hostname");
            s.call("Read", &json!({"file_path": file}).to_string());
            ("step_read", s.finish())
        }
        _ => {
            let back = input.iter().filter(|i| i["type"] == "reasoning").count();
            s.text(&format!(
                "All three steps are done; {back} reasoning items came back to me."
            ));
            ("steps_done", s.finish())
        }
    }
}

/// "find cron": ToolSearch for CronList, then CronList once it is offered, then a text.
fn find_cron(
    req: &Value,
    input: &[Value],
    done: usize,
    mut s: Script,
) -> (&'static str, Vec<Value>) {
    match done {
        0 if offered(req, "ToolSearch") => {
            s.call("ToolSearch", r#"{"query":"select:CronList"}"#);
            ("tool_search", s.finish())
        }
        0 => {
            s.text("No ToolSearch tool was offered.");
            ("no_tool_search", s.finish())
        }
        1 if offered(req, "CronList") => {
            s.call("CronList", "{}");
            ("cron_list", s.finish())
        }
        1 => {
            s.text("CronList is still not offered after ToolSearch.");
            ("cron_missing", s.finish())
        }
        _ => {
            let last = input
                .iter()
                .rev()
                .find(|i| i["type"] == "function_call_output")
                .unwrap_or(&Value::Null);
            s.text(&format!("CronList said: {}", first_line(last)));
            ("cron_done", s.finish())
        }
    }
}

/// The text of the latest user message containing `phrase`, and how many tool results followed it.
fn task(input: &[Value], phrase: &str) -> Option<(String, usize)> {
    let user = |i: &Value| i["type"] == "message" && i["role"] == "user" && !is_aside(i);
    let at = input
        .iter()
        .rposition(|i| user(i) && text_of(i).contains(phrase))?;
    let done = input[at..]
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .count();
    Some((text_of(&input[at]), done))
}

/// Whether this exact input is new (for "flaky upstream": fail once, succeed on the retry).
fn first_sighting(input: &[Value]) -> bool {
    static SEEN: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
    let mut h = DefaultHasher::new();
    Value::from(input.to_vec()).to_string().hash(&mut h);
    SEEN.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(h.finish())
}

/// Whether a tool is offered: in top-level `tools` (full lane) or the `additional_tools` item
/// (Responses Lite).
fn offered(req: &Value, name: &str) -> bool {
    tools(req).iter().any(|t| t["name"] == name)
}

fn tools(req: &Value) -> Vec<Value> {
    let lite = req["input"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["type"] == "additional_tools"))
        .map(|i| i["tools"].clone());
    lite.unwrap_or_else(|| req["tools"].clone())
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The first line of a `function_call_output`.
fn first_line(output: &Value) -> String {
    let text = output["output"].as_str().unwrap_or("(non-text output)");
    text.lines().next().unwrap_or("").to_owned()
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
        let tokens = (req["instructions"].to_string().len()
            + Value::from(input.to_vec()).to_string().len())
            / 4;
        Script {
            events: vec![created],
            output: 0,
            input_tokens: tokens,
        }
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
    parts
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Context Claude Code adds after the user's turn: a `developer` (Anthropic `system`) message,
/// or a user message whose every part is a `<system-reminder>`.
fn is_aside(item: &Value) -> bool {
    let parts = item["content"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let reminder = |p: &Value| {
        p["text"]
            .as_str()
            .is_some_and(|t| t.trim_start().starts_with("<system-reminder>"))
    };
    item["type"] == "message"
        && (item["role"] == "developer"
            || (item["role"] == "user" && !parts.is_empty() && parts.iter().all(reminder)))
}

/// The first absolute `.png` path in the first user message.
fn first_png(input: &[Value]) -> Option<String> {
    let first = input
        .iter()
        .find(|i| i["type"] == "message" && i["role"] == "user")?;
    let text = text_of(first);
    let word = text
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .find(|w| w.starts_with('/') && w.contains(".png"))?;
    Some(
        word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_owned(),
    )
}

fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

fn header(request: &tiny_http::Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.to_string())
}

fn write_json(request: tiny_http::Request, status: u16, body: &Value) -> std::io::Result<()> {
    let mut response = tiny_http::Response::from_string(body.to_string()).with_status_code(status);
    let usage = usage_headers();
    for (name, value) in [("Content-Type", "application/json".to_owned())]
        .into_iter()
        .chain(usage)
    {
        let h = tiny_http::Header::from_bytes(name, value)
            .map_err(|()| std::io::Error::other("header"))?;
        response.add_header(h);
    }
    request.respond(response)
}

/// The model list's etag and the usage-limit headers: 5-hour window at
/// `FAKE_UPSTREAM_USED_PERCENT`, weekly at 20 %.
fn usage_headers() -> Vec<(&'static str, String)> {
    let used = std::env::var("FAKE_UPSTREAM_USED_PERCENT").unwrap_or_else(|_| "42".into());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    vec![
        ("x-models-etag", CATALOGUE_ETAG.into()),
        ("x-codex-primary-used-percent", used),
        ("x-codex-primary-window-minutes", "300".into()),
        ("x-codex-primary-reset-at", (now + 7_800).to_string()),
        ("x-codex-secondary-used-percent", "20".into()),
        ("x-codex-secondary-window-minutes", "10080".into()),
        ("x-codex-secondary-reset-at", (now + 3 * 86_400).to_string()),
    ]
}

/// One stderr line, stamped with Unix time in milliseconds.
fn log(line: &str) {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    eprintln!("[fake {}.{:03}] {line}", ms / 1000, ms % 1000);
}

/// An event's JSON with `"type"` first, as the real backend writes it (and the proxy's fast paths
/// expect; `json!` objects sort their keys).
fn type_first(ev: &Value) -> String {
    let Some(map) = ev.as_object().filter(|m| m.contains_key("type")) else {
        return ev.to_string();
    };
    let mut rest = map.clone();
    let kind = rest.remove("type").unwrap_or_default();
    let rest = Value::Object(rest).to_string();
    match rest.strip_prefix('{').filter(|r| *r != "}") {
        Some(fields) => format!("{{\"type\":{kind},{fields}"),
        None => format!("{{\"type\":{kind}}}"),
    }
}
