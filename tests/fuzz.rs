//! Randomized tests: mutated Claude Code requests and random upstream streams must never panic
//! the translation, and every stream the translator emits must keep the Anthropic grammar (or
//! end in an error). A small xorshift generator with fixed seeds keeps runs reproducible; set
//! FUZZ_ITERS to run longer.

use codex_claude_proxy::anthropic;
use codex_claude_proxy::sse::SseReader;
use codex_claude_proxy::translate::ids::ToolNames;
use codex_claude_proxy::translate::models::ModelMap;
use codex_claude_proxy::translate::request::{Context, ThinkingMode, translate};
use codex_claude_proxy::translate::stream::{SseSink, Step, StreamTranslator};
use codex_claude_proxy::{responses, translate::tokens};
use serde_json::{Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn iters(default: usize) -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn map() -> ModelMap {
    ModelMap {
        thinking: "gpt-5.6-sol".into(),
        big: "gpt-5.6-terra".into(),
        small: "gpt-5.6-luna".into(),
    }
}

/// Replaces a random node of `v` with a value of a random (often wrong) type.
fn mutate(v: &mut Value, rng: &mut Rng, depth: usize) {
    let replacement = || -> Vec<Value> {
        vec![
            Value::Null,
            json!(true),
            json!(-1),
            json!(1e308),
            json!(18446744073709551615u64),
            json!(""),
            json!("\u{0}\u{ffff}"),
            json!([]),
            json!({}),
            json!([{"type": "image", "source": {"type": "base64"}}]),
            json!({"type": "tool_result"}),
            json!([{"type": "thinking", "thinking": "x", "signature": "cxp1.gpt-5.6-sol.00.x"}]),
        ]
    };
    match v {
        Value::Object(m) if !m.is_empty() && depth < 8 && rng.below(4) != 0 => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = rng.pick(&keys).clone();
            if rng.below(10) == 0 {
                m.remove(&k);
            } else if let Some(child) = m.get_mut(&k) {
                mutate(child, rng, depth + 1);
            }
        }
        Value::Array(a) if !a.is_empty() && depth < 8 && rng.below(4) != 0 => {
            let i = rng.below(a.len());
            if rng.below(10) == 0 {
                a.remove(i);
            } else {
                mutate(&mut a[i], rng, depth + 1);
            }
        }
        _ => *v = rng.pick(&replacement()).clone(),
    }
}

#[test]
fn mutated_requests_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
    let mut bodies: Vec<Value> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".request.json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            bodies.push(v["body"].clone());
        }
    }
    let m = map();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut rejected) = (0, 0);
    for _ in 0..iters(600) {
        let mut body = rng.pick(&bodies).clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut body, &mut rng, 0);
        }
        let mut bytes = body.to_string().into_bytes();
        if rng.below(8) == 0 {
            let cut = rng.below(bytes.len());
            bytes.truncate(cut);
        }
        if rng.below(8) == 0 && !bytes.is_empty() {
            let i = rng.below(bytes.len());
            bytes[i] = rng.next() as u8;
        }
        match serde_json::from_slice::<anthropic::Request>(&bytes) {
            Err(e) => {
                assert!(!e.to_string().is_empty());
                rejected += 1;
            }
            Ok(req) => match translate(
                &req,
                &Context {
                    map: &m,
                    models: &[],
                    session_header: None,
                },
            ) {
                Ok(t) => {
                    serde_json::to_vec(&t.body).unwrap();
                    tokens::estimate(&t.body, &tokens::Memo::default());
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(e.status(), 400, "{e}");
                    rejected += 1;
                }
            },
        }
    }
    assert!(
        ok > 0 && rejected > 0,
        "ok={ok} rejected={rejected}: the mutations should hit both paths"
    );
}

/// A random upstream event: mostly well-formed, sometimes odd, sometimes garbage.
fn random_event(rng: &mut Rng, items: &[&str]) -> String {
    let item = *rng.pick(items);
    let kind = *rng.pick(&[
        "message",
        "function_call",
        "reasoning",
        "web_search_call",
        "mystery",
    ]);
    let delta = *rng.pick(&["", "x", "{\"a\":", "1}", "\u{1F600}", "\\\"", "\n\n"]);
    let v = match rng.below(14) {
        0 => json!({"type":"response.created","response":{"id":"r"}}),
        1 | 2 => {
            json!({"type":"response.output_item.added","item":{"id":item,"type":kind,"call_id":format!("call_{item}"),"name":"Bash"}})
        }
        3 | 4 => json!({"type":"response.output_text.delta","item_id":item,"delta":delta}),
        5 => json!({"type":"response.function_call_arguments.delta","item_id":item,"delta":delta}),
        6 => {
            json!({"type":"response.reasoning_summary_text.delta","item_id":item,"summary_index":rng.below(3),"delta":delta})
        }
        7 => {
            json!({"type":"response.output_item.done","item":{"id":item,"type":kind,"arguments":"{}","encrypted_content":"e","content":[{"type":"output_text","text":"t"}],"summary":[{"type":"summary_text","text":"s"}]}})
        }
        8 => json!({"type":"response.output_item.done","item":{"type":kind}}),
        9 => {
            json!({"type":"response.completed","response":{"usage":{"input_tokens":rng.below(100),"output_tokens":3}}})
        }
        10 => {
            json!({"type":"response.incomplete","response":{"incomplete_details":{"reason":"max_output_tokens"}}})
        }
        11 => {
            json!({"type":"response.failed","response":{"error":{"code":"server_error","message":"m"}}})
        }
        12 => json!({"type":"response.output_text.delta","item_id":7,"delta":null}),
        _ => {
            return rng
                .pick(&[
                    "data: {not json\n\n",
                    ": ping\n\n",
                    "event: x\n\n",
                    "data\n\n",
                    "garbage\n\n",
                ])
                .to_string();
        }
    };
    format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""))
}

/// Checks the Anthropic grammar of a translated stream; `ended` says whether it reached a
/// terminal event (else the caller reports an error and the stream stops early).
fn check_grammar(sse: &str, ended: bool) {
    let evs: Vec<Value> = sse
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.split("data: ").nth(1).unwrap()).unwrap())
        .collect();
    if evs.is_empty() {
        assert!(!ended, "a finished stream has at least message_start");
        return;
    }
    assert_eq!(evs[0]["type"], "message_start");
    let (mut open, mut next) = (None::<u64>, 0u64);
    let mut kinds = std::collections::HashMap::new();
    for (i, ev) in evs.iter().enumerate().skip(1) {
        match ev["type"].as_str().unwrap() {
            "content_block_start" => {
                assert!(open.is_none());
                assert_eq!(ev["index"], next);
                kinds.insert(
                    next,
                    ev["content_block"]["type"].as_str().unwrap().to_owned(),
                );
                open = Some(next);
                next += 1;
            }
            "content_block_delta" => {
                assert_eq!(ev["index"].as_u64(), open, "delta outside its block");
                let kind = &kinds[&open.unwrap()];
                let allowed: &[&str] = match ev["delta"]["type"].as_str().unwrap() {
                    "text_delta" => &["text"],
                    "input_json_delta" => &["tool_use", "server_tool_use"],
                    "thinking_delta" | "signature_delta" => &["thinking"],
                    other => panic!("unknown delta {other}"),
                };
                assert!(allowed.contains(&kind.as_str()), "{kind} got {ev}");
            }
            "content_block_stop" => {
                assert_eq!(ev["index"].as_u64(), open);
                open = None;
            }
            "message_delta" => {
                assert!(open.is_none());
                assert!(ev["delta"]["stop_reason"].is_string());
                assert_eq!(evs[i + 1]["type"], "message_stop");
                assert_eq!(i + 2, evs.len(), "nothing after message_stop");
            }
            "message_stop" => {}
            other => panic!("unexpected {other}"),
        }
    }
    if ended {
        assert_eq!(evs.last().unwrap()["type"], "message_stop");
    }
}

#[test]
fn random_upstream_streams_keep_the_grammar() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..iters(2_000) {
        let mut upstream = String::new();
        let items = ["a", "b", "c"];
        for _ in 0..rng.below(30) {
            upstream.push_str(&random_event(&mut rng, &items));
        }
        let mode = *rng.pick(&[
            ThinkingMode::Off,
            ThinkingMode::Summarized,
            ThinkingMode::Omitted,
        ]);
        let mut t = StreamTranslator::new(
            "msg_f".into(),
            "claude".into(),
            "gpt-5.6-sol".into(),
            mode,
            ToolNames::default(),
            1,
            0,
        );
        let mut sink = SseSink::default();
        let mut reader = SseReader::new(upstream.as_bytes(), 1 << 20);
        let mut ended = false;
        while let Some(ev) = reader.next_event().unwrap() {
            if ev.comment {
                continue;
            }
            let Ok(parsed) = responses::parse_event(ev.data) else {
                continue;
            };
            match t.on_event(&parsed, &mut sink) {
                Ok(Step::Done) => {
                    ended = true;
                    break;
                }
                Ok(Step::Continue) => {}
                Err(e) => {
                    assert!(e.status() >= 400);
                    break;
                }
            }
        }
        check_grammar(&String::from_utf8(sink.buf).unwrap(), ended);
    }
}
