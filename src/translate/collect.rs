//! Folds translated stream events into one Anthropic `message` object, for clients that asked
//! for `stream: false` (the backend only streams). Using the same events as the streaming path
//! means both answers always agree.

use serde_json::{Map, Value, json};

use super::stream::Sink;
use crate::anthropic::{BlockStart, Delta, Event};

/// Accumulates a message the way the Anthropic SDKs do.
#[derive(Default)]
pub struct Collector {
    message: Map<String, Value>,
    content: Vec<Value>,
    /// Raw `partial_json` of the tool block being built.
    json: String,
}

impl Collector {
    /// The finished message (call after `message_stop`).
    pub fn finish(mut self) -> Value {
        self.message
            .insert("content".into(), Value::Array(self.content));
        Value::Object(self.message)
    }
}

impl Sink for Collector {
    fn event(&mut self, ev: &Event<'_>) {
        match ev {
            Event::MessageStart { message } => {
                if let Ok(Value::Object(m)) = serde_json::to_value(message) {
                    self.message = m;
                }
            }
            Event::ContentBlockStart { content_block, .. } => {
                self.json.clear();
                self.content.push(match content_block {
                    BlockStart::Text { .. } => json!({"type": "text", "text": ""}),
                    BlockStart::ToolUse { id, name, .. } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                    BlockStart::ServerToolUse { id, name, .. } => {
                        json!({"type": "server_tool_use", "id": id, "name": name, "input": {}})
                    }
                    BlockStart::WebSearchToolResult { tool_use_id, .. } => {
                        json!({"type": "web_search_tool_result", "tool_use_id": tool_use_id, "content": []})
                    }
                    BlockStart::Thinking { .. } => {
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    }
                });
            }
            Event::ContentBlockDelta { delta, .. } => {
                let Some(block) = self.content.last_mut() else {
                    return;
                };
                let (field, piece) = match delta {
                    Delta::TextDelta { text } => ("text", text.text()),
                    Delta::ThinkingDelta { thinking } => ("thinking", thinking.text()),
                    Delta::SignatureDelta { signature } => ("signature", signature.text()),
                    Delta::InputJsonDelta { partial_json } => {
                        self.json.push_str(&partial_json.text());
                        return;
                    }
                };
                if let Some(Value::String(s)) = block.get_mut(field) {
                    s.push_str(&piece);
                }
            }
            Event::ContentBlockStop { .. } => {
                if let Some(block) = self.content.last_mut()
                    && (block["type"] == "tool_use" || block["type"] == "server_tool_use")
                    && !self.json.is_empty()
                {
                    // Invalid JSON from the model is kept as a string rather than lost.
                    block["input"] = serde_json::from_str(&self.json)
                        .unwrap_or_else(|_| json!({"_raw": self.json}));
                }
                self.json.clear();
            }
            Event::MessageDelta { delta, usage } => {
                self.message
                    .insert("stop_reason".into(), json!(delta.stop_reason));
                self.message
                    .insert("stop_sequence".into(), json!(delta.stop_sequence));
                self.message.insert("usage".into(), json!(usage));
            }
            Event::MessageStop | Event::Ping => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::{Empty, MessageStart, StopDelta, Usage};

    #[test]
    fn folds_a_tool_call() {
        let mut c = Collector::default();
        c.event(&Event::MessageStart {
            message: MessageStart {
                id: "msg_1",
                kind: "message",
                role: "assistant",
                model: "claude",
                content: [],
                stop_reason: None,
                stop_sequence: None,
                usage: Usage::default(),
            },
        });
        c.event(&Event::ContentBlockStart {
            index: 0,
            content_block: BlockStart::Text { text: "" },
        });
        c.event(&Event::ContentBlockDelta {
            index: 0,
            delta: Delta::TextDelta { text: "Hi".into() },
        });
        c.event(&Event::ContentBlockStop { index: 0 });
        c.event(&Event::ContentBlockStart {
            index: 1,
            content_block: BlockStart::ToolUse {
                id: "call_1",
                name: "Bash",
                input: Empty {},
            },
        });
        c.event(&Event::ContentBlockDelta {
            index: 1,
            delta: Delta::InputJsonDelta {
                partial_json: "{\"a\":".into(),
            },
        });
        c.event(&Event::ContentBlockDelta {
            index: 1,
            delta: Delta::InputJsonDelta {
                partial_json: "1}".into(),
            },
        });
        c.event(&Event::ContentBlockStop { index: 1 });
        let usage = Usage {
            input_tokens: 5,
            output_tokens: 7,
            ..Usage::default()
        };
        c.event(&Event::MessageDelta {
            delta: StopDelta {
                stop_reason: "tool_use",
                stop_sequence: None,
            },
            usage,
        });
        c.event(&Event::MessageStop);
        let m = c.finish();
        assert_eq!(m["content"][0], json!({"type":"text","text":"Hi"}));
        assert_eq!(m["content"][1]["input"], json!({"a": 1}));
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["usage"]["output_tokens"], 7);
        assert_eq!(m["type"], "message");
    }
}
