//! Anthropic Messages API types: the request as clients send it (parsed leniently: unknown fields
//! and block types are accepted) and the stream events we emit (serialized without allocation
//! beyond the output buffer).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/messages` and `/v1/messages/count_tokens` body.
#[derive(Debug, Deserialize)]
pub struct Request {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub thinking: Option<Thinking>,
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub stream: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Content,
    /// Per-turn effort carried by `role: "system"` messages (Claude Code `per-turn-control`).
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    System,
}

/// A `content` field: a plain string or a list of blocks.
#[derive(Debug)]
pub enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

impl Content {
    /// The text of every text block, joined by `sep`.
    pub fn joined_text(&self, sep: &str) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Blocks(blocks) => {
                let texts: Vec<&str> = blocks
                    .iter()
                    .filter_map(|b| match b {
                        Block::Text { text } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                texts.join(sep)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(b) = seq.next_element()? {
                    blocks.push(b);
                }
                Ok(Content::Blocks(blocks))
            }
        }
        d.deserialize_any(V)
    }
}

/// One content block. Types the proxy does not translate land in `Other` and are dropped.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
    },
    Image {
        source: Source,
    },
    Document {
        source: Source,
        #[serde(default)]
        title: Option<String>,
    },
    SearchResult {
        #[serde(default)]
        source: String,
        #[serde(default)]
        title: String,
        #[serde(default)]
        content: Vec<Block>,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        is_error: Option<bool>,
    },
    ToolReference {
        tool_name: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        #[serde(default)]
        data: String,
    },
    #[serde(other)]
    Other,
}

/// Where an image or document comes from: `base64`, `url`, `text`, `content` or `file`.
#[derive(Debug, Deserialize)]
pub struct Source {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub content: Option<Content>,
}

#[derive(Debug, Deserialize)]
pub struct Tool {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Value>,
    /// `custom` (or absent) for client tools; `web_search_20250305` etc. for server tools.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub defer_loading: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Thinking {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub budget_tokens: Option<u64>,
    #[serde(default)]
    pub display: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OutputConfig {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub format: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub user_id: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Stream events we emit.

/// One Anthropic stream event. `name()` is both the SSE `event:` line and the JSON `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    MessageStart {
        message: MessageStart<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: BlockStart<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopDelta,
        usage: Usage,
    },
    MessageStop,
    Ping,
}

impl Event<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
            Event::Ping => "ping",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct MessageStart<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: &'a str,
    pub content: [(); 0],
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'static str>,
    pub usage: Usage,
}

/// An object with no fields, serialized as `{}`.
#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockStart<'a> {
    Text {
        text: &'static str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Empty,
    },
    Thinking {
        thinking: &'static str,
        signature: &'static str,
    },
    ServerToolUse {
        id: &'a str,
        name: &'static str,
        input: Empty,
    },
    WebSearchToolResult {
        tool_use_id: &'a str,
        content: [(); 0],
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
    ThinkingDelta { thinking: &'a str },
    SignatureDelta { signature: &'a str },
}

#[derive(Debug, Serialize)]
pub struct StopDelta {
    pub stop_reason: &'static str,
    pub stop_sequence: Option<&'static str>,
}

/// Token usage in Anthropic terms: `input_tokens` excludes cache reads.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_claude_code_request() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".request.json") {
                continue;
            }
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let r: Request =
                serde_json::from_value(v["body"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!r.messages.is_empty(), "{name}");
        }
    }

    #[test]
    fn content_forms_and_unknown_blocks() {
        let r: Request = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"},
                {"role":"assistant","content":[{"type":"text","text":"a"},{"type":"mystery","x":1}]}]}"#,
        )
        .unwrap();
        assert!(matches!(&r.messages[0].content, Content::Text(t) if t == "hi"));
        assert!(
            matches!(&r.messages[1].content, Content::Blocks(b) if matches!(b[1], Block::Other))
        );
    }

    #[test]
    fn wrong_types_name_the_problem() {
        let e = serde_json::from_str::<Request>(
            r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a string or an array of content blocks"), "{e}");
        let e = serde_json::from_str::<Request>(r#"{"model":"m"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `messages`"), "{e}");
        let e = serde_json::from_str::<Request>(
            r#"{"model":"m","messages":[{"role":"bot","content":""}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown variant `bot`"), "{e}");
    }

    #[test]
    fn events_serialize_like_the_api() {
        let ev = Event::ContentBlockStart {
            index: 1,
            content_block: BlockStart::ToolUse {
                id: "call_1",
                name: "Bash",
                input: Empty {},
            },
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_1","name":"Bash","input":{}}}"#
        );
        assert_eq!(
            serde_json::to_string(&Event::MessageStop).unwrap(),
            r#"{"type":"message_stop"}"#
        );
        let start = Event::MessageStart {
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
        };
        let v: Value = serde_json::to_value(&start).unwrap();
        assert_eq!(v["message"]["content"], serde_json::json!([]));
        assert_eq!(v["message"]["usage"]["output_tokens"], 0);
    }
}
