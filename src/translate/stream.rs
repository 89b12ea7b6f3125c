//! Codex Responses stream → Anthropic stream: a state machine fed one upstream event at a time,
//! emitting Anthropic events into a [`Sink`]. It guarantees the grammar every Anthropic client
//! checks: `message_start` first; blocks opened before their deltas, closed before the next
//! opens, indexed 0, 1, 2…; one `signature_delta` at the end of a thinking block; a final
//! `message_delta` with a stop reason and usage, then `message_stop`, then nothing.

use serde_json::{Value, json};

use super::ids::{ToolNames, encode_signature};
use super::request::ThinkingMode;
use crate::anthropic::{BlockStart, Delta, Empty, Event, MessageStart, StopDelta, Usage};
use crate::error::Error;
use crate::responses::{self, OutItem};

/// Receives translated events (the SSE writer, or the collector for non-streaming answers).
pub trait Sink {
    fn event(&mut self, ev: &Event<'_>);
}

/// Whether the upstream stream has reached its terminal event.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Continue,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Tool,
    Thinking,
}

#[derive(Debug)]
struct Open {
    index: u32,
    kind: Kind,
    item_id: String,
    /// Whether any delta was emitted (else the `done` event's full content is used).
    streamed: bool,
    summary_index: u32,
    /// Whether a thinking block got its signature.
    signed: bool,
}

/// Per-request translation state.
pub struct StreamTranslator {
    message_id: String,
    model: String,
    upstream_model: String,
    thinking: ThinkingMode,
    names: ToolNames,
    input_estimate: u64,
    now: u64,
    started: bool,
    next_index: u32,
    open: Option<Open>,
    /// Item ids whose text was streamed and closed; their `done` event must not repeat it.
    finished_items: Vec<String>,
    tool_calls: u32,
    done: bool,
    /// Final usage and stop reason, for the request log.
    pub usage: Usage,
    pub stop_reason: Option<&'static str>,
}

impl StreamTranslator {
    /// `model` is the id the client asked for (echoed back); `upstream_model` signs reasoning;
    /// `input_estimate` goes in `message_start` until the real count arrives; `now` is Unix time.
    pub fn new(
        message_id: String,
        model: String,
        upstream_model: String,
        thinking: ThinkingMode,
        names: ToolNames,
        input_estimate: u64,
        now: u64,
    ) -> Self {
        StreamTranslator {
            message_id,
            model,
            upstream_model,
            thinking,
            names,
            input_estimate,
            now,
            started: false,
            next_index: 0,
            open: None,
            finished_items: Vec::new(),
            tool_calls: 0,
            done: false,
            usage: Usage::default(),
            stop_reason: None,
        }
    }

    /// Whether the upstream's terminal event (completed, incomplete, failed, error) was seen.
    pub fn finished(&self) -> bool {
        self.done
    }

    /// Number of tool calls emitted so far.
    pub fn tool_calls(&self) -> u32 {
        self.tool_calls
    }

    /// Emits `message_start` (once).
    pub fn start(&mut self, sink: &mut dyn Sink) {
        if self.started {
            return;
        }
        self.started = true;
        sink.event(&Event::MessageStart {
            message: MessageStart {
                id: &self.message_id,
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: [],
                stop_reason: None,
                stop_sequence: None,
                usage: Usage {
                    input_tokens: self.input_estimate,
                    output_tokens: 1,
                    ..Usage::default()
                },
            },
        });
    }

    /// Feeds one upstream event. An in-stream failure comes back as the error to report.
    pub fn on_event(
        &mut self,
        ev: &responses::Event<'_>,
        sink: &mut dyn Sink,
    ) -> Result<Step, Error> {
        use responses::Event as E;
        if self.done {
            return Ok(Step::Done);
        }
        match ev {
            E::ItemAdded { item } if item.kind == "function_call" => {
                self.start(sink);
                self.open_tool(item, sink);
            }
            E::TextDelta { item_id, delta } => {
                if !delta.is_empty() {
                    self.start(sink);
                    self.ensure_open(Kind::Text, item_id, sink);
                    self.delta(Delta::TextDelta { text: delta.view() }, sink);
                }
            }
            E::ArgsDelta { item_id, delta } => match &self.open {
                Some(o) if o.kind == Kind::Tool && o.item_id == *item_id => {
                    if !delta.is_empty() {
                        self.delta(
                            Delta::InputJsonDelta {
                                partial_json: delta.view(),
                            },
                            sink,
                        );
                    }
                }
                _ => log::debug!(
                    "ignoring argument delta for item {item_id}, which is not the open tool call"
                ),
            },
            E::SummaryDelta {
                item_id,
                summary_index,
                delta,
            } => {
                if self.thinking != ThinkingMode::Summarized || delta.is_empty() {
                    return Ok(Step::Continue);
                }
                self.start(sink);
                self.ensure_open(Kind::Thinking, item_id, sink);
                let next_part = self
                    .open
                    .as_ref()
                    .is_some_and(|o| o.streamed && o.summary_index != *summary_index);
                if next_part {
                    self.delta(
                        Delta::ThinkingDelta {
                            thinking: "\n\n".into(),
                        },
                        sink,
                    );
                }
                if let Some(o) = self.open.as_mut() {
                    o.summary_index = *summary_index;
                }
                self.delta(
                    Delta::ThinkingDelta {
                        thinking: delta.view(),
                    },
                    sink,
                );
            }
            E::ItemDone { item } => self.item_done(item, sink),
            E::Completed { response } | E::Incomplete { response } => {
                self.start(sink);
                self.close(sink);
                let usage = response.usage.as_ref();
                let cached = usage
                    .and_then(|u| u.input_tokens_details.as_ref())
                    .map_or(0, |d| d.cached_tokens);
                self.usage = Usage {
                    input_tokens: usage.map_or(0, |u| u.input_tokens.saturating_sub(cached)),
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: cached,
                    output_tokens: usage.map_or(0, |u| u.output_tokens),
                };
                let reason = response
                    .incomplete_details
                    .as_ref()
                    .and_then(|d| d.reason.as_deref());
                let stop = match reason {
                    Some("max_output_tokens") => "max_tokens",
                    Some("content_filter") => "refusal",
                    _ if self.tool_calls > 0 => "tool_use",
                    _ => "end_turn",
                };
                self.stop_reason = Some(stop);
                sink.event(&Event::MessageDelta {
                    delta: StopDelta {
                        stop_reason: stop,
                        stop_sequence: None,
                    },
                    usage: self.usage,
                });
                sink.event(&Event::MessageStop);
                self.done = true;
                return Ok(Step::Done);
            }
            E::Failed { response } => {
                self.done = true;
                let err = response.error.clone().unwrap_or_else(|| json!({}));
                return Err(Error::from_stream_failure(&err, self.now));
            }
            E::Error {
                error,
                code,
                message,
            } => {
                self.done = true;
                let err = match error {
                    Some(e @ Value::Object(_)) => e.clone(),
                    _ => json!({"code": code, "message": message}),
                };
                return Err(Error::from_stream_failure(&err, self.now));
            }
            E::Created | E::ItemAdded { .. } | E::Other => {}
        }
        Ok(Step::Continue)
    }

    /// The error to report when the upstream ended without a terminal event.
    pub fn truncated(&self) -> Error {
        Error::Upstream {
            status: 502,
            message: "the ChatGPT backend closed the stream before the response completed".into(),
        }
    }

    fn item_done(&mut self, item: &OutItem, sink: &mut dyn Sink) {
        let id = item.id.as_deref().unwrap_or("");
        match item.kind.as_str() {
            "function_call" => {
                if !self.is_open(Kind::Tool, id) {
                    self.start(sink);
                    self.open_tool(item, sink);
                }
                let streamed = self.open.as_ref().is_some_and(|o| o.streamed);
                if let (false, Some(args)) = (streamed, item.arguments.as_deref())
                    && !args.is_empty()
                {
                    self.delta(
                        Delta::InputJsonDelta {
                            partial_json: args.into(),
                        },
                        sink,
                    );
                }
                self.close(sink);
            }
            "message" => {
                if self.is_open(Kind::Text, id) {
                    self.close(sink);
                } else if !self.finished_items.iter().any(|f| f == id) {
                    // Nothing was streamed for this item: take the text from the finished item.
                    let text: String = item
                        .content
                        .iter()
                        .flatten()
                        .filter_map(|c| c.text.as_deref().or(c.refusal.as_deref()))
                        .collect();
                    if !text.is_empty() {
                        self.start(sink);
                        self.ensure_open(Kind::Text, id, sink);
                        self.delta(
                            Delta::TextDelta {
                                text: text.as_str().into(),
                            },
                            sink,
                        );
                        self.close(sink);
                    }
                }
            }
            "reasoning" => self.reasoning_done(item, id, sink),
            "web_search_call" => self.web_search_done(item, id, sink),
            _ => {}
        }
    }

    fn reasoning_done(&mut self, item: &OutItem, id: &str, sink: &mut dyn Sink) {
        if self.thinking == ThinkingMode::Off {
            return;
        }
        let encrypted = item.encrypted_content.as_deref().filter(|e| !e.is_empty());
        if !self.is_open(Kind::Thinking, id) {
            let summary: Vec<&str> = item
                .summary
                .iter()
                .flatten()
                .filter_map(|s| s.text.as_deref())
                .collect();
            let summary = if self.thinking == ThinkingMode::Summarized {
                summary.join("\n\n")
            } else {
                String::new()
            };
            if encrypted.is_none() && summary.is_empty() {
                return;
            }
            self.start(sink);
            self.ensure_open(Kind::Thinking, id, sink);
            if !summary.is_empty() {
                self.delta(
                    Delta::ThinkingDelta {
                        thinking: summary.as_str().into(),
                    },
                    sink,
                );
            }
        }
        let signature = encrypted
            .map(|e| encode_signature(&self.upstream_model, e))
            .unwrap_or_default();
        self.delta(
            Delta::SignatureDelta {
                signature: signature.as_str().into(),
            },
            sink,
        );
        self.close(sink);
    }

    /// The backend searched the web: report it as Anthropic's server tool blocks (the results
    /// themselves arrive as citations in the text, so the result block is empty).
    fn web_search_done(&mut self, item: &OutItem, id: &str, sink: &mut dyn Sink) {
        self.start(sink);
        let tool_id = format!("srvtoolu_{}", id.trim_start_matches("ws_"));
        let query = item
            .action
            .as_ref()
            .and_then(|a| a["query"].as_str())
            .unwrap_or("");
        let input = serde_json::json!({ "query": query }).to_string();
        let call = BlockStart::ServerToolUse {
            id: &tool_id,
            name: "web_search",
            input: Empty {},
        };
        self.open_block(Kind::Tool, id, call, sink);
        self.delta(
            Delta::InputJsonDelta {
                partial_json: input.as_str().into(),
            },
            sink,
        );
        let result = BlockStart::WebSearchToolResult {
            tool_use_id: &tool_id,
            content: [],
        };
        self.open_block(Kind::Tool, id, result, sink);
        self.close(sink);
    }

    fn is_open(&self, kind: Kind, item_id: &str) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| o.kind == kind && o.item_id == item_id)
    }

    fn open_tool(&mut self, item: &OutItem, sink: &mut dyn Sink) {
        self.tool_calls += 1;
        let call_id = match item.call_id.as_deref().or(item.id.as_deref()) {
            Some(id) => id.to_owned(),
            None => format!(
                "call_{}_{}",
                self.message_id.trim_start_matches("msg_"),
                self.next_index
            ),
        };
        let name = self
            .names
            .original(item.name.as_deref().unwrap_or(""))
            .to_owned();
        let start = BlockStart::ToolUse {
            id: &call_id,
            name: &name,
            input: Empty {},
        };
        self.open_block(Kind::Tool, item.id.as_deref().unwrap_or(""), start, sink);
    }

    /// Makes sure a text or thinking block for `item_id` is open, closing any other block first.
    fn ensure_open(&mut self, kind: Kind, item_id: &str, sink: &mut dyn Sink) {
        if self.is_open(kind, item_id) {
            return;
        }
        let start = match kind {
            Kind::Thinking => BlockStart::Thinking {
                thinking: "",
                signature: "",
            },
            Kind::Text | Kind::Tool => BlockStart::Text { text: "" },
        };
        self.open_block(kind, item_id, start, sink);
    }

    /// Closes the open block, then starts `start` as the next block.
    fn open_block(
        &mut self,
        kind: Kind,
        item_id: &str,
        start: BlockStart<'_>,
        sink: &mut dyn Sink,
    ) {
        self.close(sink);
        let index = self.next_index;
        self.next_index += 1;
        sink.event(&Event::ContentBlockStart {
            index,
            content_block: start,
        });
        self.open = Some(Open {
            index,
            kind,
            item_id: item_id.to_owned(),
            streamed: false,
            summary_index: 0,
            signed: false,
        });
    }

    fn delta(&mut self, delta: Delta<'_>, sink: &mut dyn Sink) {
        if let Some(o) = self.open.as_mut() {
            o.streamed = true;
            o.signed |= matches!(delta, Delta::SignatureDelta { .. });
            sink.event(&Event::ContentBlockDelta {
                index: o.index,
                delta,
            });
        }
    }

    fn close(&mut self, sink: &mut dyn Sink) {
        if let Some(o) = self.open.take() {
            if o.kind == Kind::Thinking && !o.signed {
                // Every thinking block ends with exactly one signature.
                sink.event(&Event::ContentBlockDelta {
                    index: o.index,
                    delta: Delta::SignatureDelta {
                        signature: "".into(),
                    },
                });
            }
            sink.event(&Event::ContentBlockStop { index: o.index });
            if o.kind == Kind::Text {
                self.finished_items.push(o.item_id);
            }
        }
    }
}

/// A sink that encodes events as SSE into a byte buffer.
#[derive(Default)]
pub struct SseSink {
    pub buf: Vec<u8>,
}

impl Sink for SseSink {
    fn event(&mut self, ev: &Event<'_>) {
        // The JSON goes straight into the buffer (it is one line: newlines in strings are
        // escaped). Serializing our own plain structs into a Vec cannot fail; if it did, the
        // event's partial bytes are taken back.
        let start = self.buf.len();
        if let Event::ContentBlockDelta { index, delta } = ev {
            // Most of a stream: written directly, as serde would, from pieces of fixed size
            // (copied without a call to `memcpy`, which musl makes slow for small copies).
            let buf = &mut self.buf;
            buf.extend_from_slice(
                b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
            );
            push_decimal(buf, *index);
            let text = match delta {
                Delta::TextDelta { text } => {
                    buf.extend_from_slice(b",\"delta\":{\"type\":\"text_delta\",\"text\":");
                    text
                }
                Delta::InputJsonDelta { partial_json } => {
                    buf.extend_from_slice(
                        b",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":",
                    );
                    partial_json
                }
                Delta::ThinkingDelta { thinking } => {
                    buf.extend_from_slice(b",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":");
                    thinking
                }
                Delta::SignatureDelta { signature } => {
                    buf.extend_from_slice(
                        b",\"delta\":{\"type\":\"signature_delta\",\"signature\":",
                    );
                    signature
                }
            };
            text.write_json(buf);
            buf.extend_from_slice(b"}}\n\n");
            return;
        }
        self.buf.extend_from_slice(b"event: ");
        self.buf.extend_from_slice(ev.name().as_bytes());
        self.buf.extend_from_slice(b"\ndata: ");
        if serde_json::to_writer(&mut self.buf, ev).is_ok() {
            self.buf.extend_from_slice(b"\n\n");
        } else {
            self.buf.truncate(start);
        }
    }
}

/// Appends `n` in decimal.
fn push_decimal(buf: &mut Vec<u8>, n: u32) {
    if n >= 10 {
        push_decimal(buf, n / 10);
    }
    buf.push(b'0' + (n % 10) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_str::JsonStr;
    use crate::sse::SseReader;

    /// Runs a whole upstream SSE stream through the translator, returning the Anthropic SSE
    /// text and the error (if the stream failed).
    pub fn translate_stream(upstream: &[u8], thinking: ThinkingMode) -> (String, Option<Error>) {
        let mut t = StreamTranslator::new(
            "msg_test".into(),
            "claude-opus-5-5".into(),
            "gpt-5.6-sol".into(),
            thinking,
            ToolNames::default(),
            100,
            0,
        );
        let mut sink = SseSink::default();
        let mut reader = SseReader::new(upstream, 1 << 24);
        let mut err = None;
        let mut done = false;
        while let Some(ev) = reader.next_event().unwrap() {
            if ev.comment {
                continue;
            }
            // As the handler does, an unreadable (here: cut-off) event is skipped.
            let Ok(parsed) = responses::parse_event(ev.data) else {
                continue;
            };
            match t.on_event(&parsed, &mut sink) {
                Ok(Step::Done) => done = true,
                Ok(Step::Continue) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        if !done && err.is_none() {
            err = Some(t.truncated());
        }
        (String::from_utf8(sink.buf).unwrap(), err)
    }

    fn events(sse: &str) -> Vec<Value> {
        sse.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let mut lines = e.lines();
                let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
                let data: Value =
                    serde_json::from_str(lines.next().unwrap().strip_prefix("data: ").unwrap())
                        .unwrap();
                assert_eq!(data["type"], name, "event name matches type");
                data
            })
            .collect()
    }

    /// Checks the grammar Claude Code and the SDKs enforce.
    fn assert_grammar(evs: &[Value]) {
        assert_eq!(evs[0]["type"], "message_start");
        let mut open: Option<u64> = None;
        let mut next = 0;
        for ev in &evs[1..evs.len() - 2] {
            match ev["type"].as_str().unwrap() {
                "content_block_start" => {
                    assert!(open.is_none(), "block opened while another is open");
                    assert_eq!(ev["index"], next);
                    open = Some(next);
                    next += 1;
                }
                "content_block_delta" => {
                    assert_eq!(ev["index"].as_u64(), open, "delta outside its block")
                }
                "content_block_stop" => {
                    assert_eq!(ev["index"].as_u64(), open);
                    open = None;
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert!(open.is_none());
        assert_eq!(evs[evs.len() - 2]["type"], "message_delta");
        assert!(evs[evs.len() - 2]["delta"]["stop_reason"].is_string());
        assert_eq!(evs[evs.len() - 1]["type"], "message_stop");
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/upstream/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn plain_text() {
        let (out, err) = translate_stream(&fixture("text_plain.sse"), ThinkingMode::Summarized);
        assert!(err.is_none());
        let evs = events(&out);
        assert_grammar(&evs);
        let text: String = evs
            .iter()
            .filter_map(|e| e["delta"]["text"].as_str())
            .collect();
        assert!(!text.is_empty());
        assert_eq!(evs[evs.len() - 2]["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn tool_calls_take_name_and_id_from_item_added() {
        let (out, _) = translate_stream(&fixture("function_call_parallel.sse"), ThinkingMode::Off);
        let evs = events(&out);
        assert_grammar(&evs);
        let starts: Vec<&Value> = evs
            .iter()
            .filter(|e| e["type"] == "content_block_start")
            .collect();
        assert_eq!(starts.len(), 2);
        for s in &starts {
            assert_eq!(s["content_block"]["type"], "tool_use");
            assert!(
                s["content_block"]["id"]
                    .as_str()
                    .unwrap()
                    .starts_with("call_")
            );
            assert!(!s["content_block"]["name"].as_str().unwrap().is_empty());
        }
        for idx in 0..2 {
            let json: String = evs
                .iter()
                .filter(|e| e["index"] == idx)
                .filter_map(|e| e["delta"]["partial_json"].as_str())
                .collect();
            serde_json::from_str::<Value>(&json).unwrap();
        }
        assert_eq!(evs[evs.len() - 2]["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn reasoning_becomes_a_signed_thinking_block() {
        let (out, _) = translate_stream(
            &fixture("reasoning_then_text.sse"),
            ThinkingMode::Summarized,
        );
        let evs = events(&out);
        assert_grammar(&evs);
        assert_eq!(evs[1]["content_block"]["type"], "thinking");
        let sig: Vec<&str> = evs
            .iter()
            .filter_map(|e| e["delta"]["signature"].as_str())
            .collect();
        assert_eq!(sig.len(), 1);
        assert!(crate::translate::ids::decode_signature(sig[0], "gpt-5.6-sol").is_some());
        let usage = &evs[evs.len() - 2]["usage"];
        assert!(usage["cache_read_input_tokens"].as_u64().unwrap() > 0);

        let (out, _) = translate_stream(&fixture("reasoning_then_text.sse"), ThinkingMode::Off);
        assert!(
            !out.contains("thinking"),
            "no thinking block unless asked for"
        );
        let (out, _) = translate_stream(&fixture("reasoning_then_text.sse"), ThinkingMode::Omitted);
        assert!(!out.contains("thinking_delta") && out.contains("signature_delta"));
    }

    #[test]
    fn failures_and_truncation_are_errors() {
        let (_, err) = translate_stream(
            &fixture("response_failed_context_length.sse"),
            ThinkingMode::Off,
        );
        assert!(matches!(err, Some(Error::PromptTooLong { .. })));
        let (_, err) = translate_stream(
            &fixture("response_failed_server_error.sse"),
            ThinkingMode::Off,
        );
        assert_eq!(err.unwrap().kind(), "api_error");
        let full = fixture("text_plain.sse");
        let (_, err) = translate_stream(&full[..full.len() / 2], ThinkingMode::Off);
        assert!(err.unwrap().to_string().contains("closed the stream"));
    }

    #[test]
    fn web_search_becomes_server_tool_blocks() {
        let ws = r#"{"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"rust 2026"}}"#;
        let upstream = format!(
            "event: response.output_item.done\ndata: {{\"type\":\"response.output_item.done\",\"item\":{ws}}}\n\n{}",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{}}\n\n"
        );
        let (out, err) = translate_stream(upstream.as_bytes(), ThinkingMode::Off);
        assert!(err.is_none());
        let evs = events(&out);
        assert_eq!(evs[1]["content_block"]["type"], "server_tool_use");
        assert_eq!(evs[1]["content_block"]["id"], "srvtoolu_1");
        assert_eq!(evs[2]["delta"]["partial_json"], r#"{"query":"rust 2026"}"#);
        assert_eq!(evs[4]["content_block"]["type"], "web_search_tool_result");
        assert_eq!(evs[4]["index"], 1);
        assert_eq!(evs[evs.len() - 2]["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn incomplete_maps_to_max_tokens() {
        let (out, err) = translate_stream(
            &fixture("response_incomplete_max_output_tokens.sse"),
            ThinkingMode::Off,
        );
        assert!(err.is_none());
        let evs = events(&out);
        assert_grammar(&evs);
        assert_eq!(evs[evs.len() - 2]["delta"]["stop_reason"], "max_tokens");
    }

    #[test]
    fn every_fixture_keeps_the_grammar() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upstream");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("sse") {
                continue;
            }
            for mode in [
                ThinkingMode::Off,
                ThinkingMode::Summarized,
                ThinkingMode::Omitted,
            ] {
                let (out, err) = translate_stream(&std::fs::read(&path).unwrap(), mode);
                if err.is_none() {
                    assert_grammar(&events(&out));
                }
            }
        }
    }

    #[test]
    fn deltas_written_directly_match_serde() {
        let deltas = [
            Delta::TextDelta {
                text: "a \"b\"\n\u{1}é".into(),
            },
            Delta::TextDelta {
                text: JsonStr::Escaped(r#""a \"b\"\n\\ é""#),
            },
            Delta::InputJsonDelta {
                partial_json: "{\"k\":".into(),
            },
            Delta::InputJsonDelta {
                partial_json: JsonStr::Escaped(r#""{\"k\":""#),
            },
            Delta::ThinkingDelta {
                thinking: "hm".into(),
            },
            Delta::SignatureDelta {
                signature: "sig".into(),
            },
        ];
        // One sink throughout: the start it keeps per block must follow the index and the kind.
        let mut sink = SseSink::default();
        for (i, delta) in deltas.into_iter().enumerate() {
            let ev = Event::ContentBlockDelta {
                index: 12 + (i as u32 / 3),
                delta,
            };
            sink.buf.clear();
            sink.event(&ev);
            let mut want = Vec::new();
            let json = serde_json::to_vec(&ev).unwrap();
            crate::sse::encode(&mut want, ev.name(), &json);
            assert_eq!(
                String::from_utf8(sink.buf.clone()).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }
}
