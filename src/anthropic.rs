//! Anthropic Messages API types: the request as clients send it (parsed leniently: unknown fields
//! and block types are accepted; texts, tool inputs and schemas borrowed from the body, not
//! copied) and the stream events we emit (serialized without allocation beyond the output
//! buffer).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::json_str::JsonStr;
use crate::json_text::Text;

/// `POST /v1/messages` and `/v1/messages/count_tokens` body, borrowing from the body's bytes:
/// texts, tool inputs and tool schemas are not copied (see [`crate::json_text`]).
#[derive(Debug, Deserialize)]
pub struct Request<'a> {
    pub model: String,
    #[serde(borrow)]
    pub messages: Vec<Message<'a>>,
    #[serde(default, borrow)]
    pub system: Option<Content<'a>>,
    #[serde(default, borrow)]
    pub tools: Option<Vec<Tool<'a>>>,
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
pub struct Message<'a> {
    pub role: Role,
    #[serde(borrow)]
    pub content: Content<'a>,
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
pub enum Content<'a> {
    Text(Text<'a>),
    Blocks(Vec<Block<'a>>),
}

impl Content<'_> {
    /// The text of every text block, in order (the whole content when it is a plain string).
    pub fn texts(&self) -> impl Iterator<Item = Cow<'_, str>> {
        let (plain, blocks) = match self {
            Content::Text(t) => (Some(t.as_str()), &[][..]),
            Content::Blocks(blocks) => (None, &blocks[..]),
        };
        plain
            .into_iter()
            .chain(blocks.iter().filter_map(|b| match b {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            }))
    }

    /// The text of every text block, joined by `sep`.
    pub fn joined_text(&self, sep: &str) -> String {
        self.texts().collect::<Vec<_>>().join(sep)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Content<'a>, E> {
                Ok(Content::Text(Text::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content<'a>, E> {
                Ok(Content::Text(Text::from(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Content<'a>, E> {
                Ok(Content::Text(Text::from(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content<'a>, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(b) = seq.next_element()? {
                    blocks.push(b);
                }
                Ok(Content::Blocks(blocks))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// One content block. Types the proxy does not translate land in `Other` and are dropped.
#[derive(Debug)]
pub enum Block<'a> {
    Text {
        text: Text<'a>,
    },
    Image {
        source: Source<'a>,
    },
    Document {
        source: Source<'a>,
        title: Option<String>,
    },
    SearchResult {
        source: String,
        title: String,
        content: Vec<Block<'a>>,
    },
    ToolUse {
        id: String,
        name: String,
        /// Raw JSON, passed on as the call's `arguments` (`None`: absent).
        input: Option<&'a RawValue>,
    },
    ToolResult {
        tool_use_id: String,
        content: Option<Content<'a>>,
        is_error: Option<bool>,
    },
    ToolReference {
        tool_name: String,
    },
    Thinking {
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    Other,
}

/// A block's fields as they come, before its type says what they are: one pass over the block,
/// no buffering of its contents, and fields of unknown block types never fail the request.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    source: Option<&'a RawValue>,
    #[serde(default, borrow)]
    title: Option<&'a RawValue>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    name: Option<&'a RawValue>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_use_id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    is_error: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_name: Option<&'a RawValue>,
    #[serde(default, borrow)]
    thinking: Option<&'a RawValue>,
    #[serde(default, borrow)]
    signature: Option<&'a RawValue>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Block<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Fields::deserialize(d)?.block().map_err(de::Error::custom)
    }
}

impl<'a> Fields<'a> {
    fn block(self) -> Result<Block<'a>, String> {
        Ok(match &*self.kind {
            "text" => Block::Text {
                text: text(self.text)?,
            },
            "image" => Block::Image {
                source: required(self.source, "source")?,
            },
            "document" => Block::Document {
                source: required(self.source, "source")?,
                title: optional(self.title)?,
            },
            "search_result" => Block::SearchResult {
                source: optional(self.source)?.unwrap_or_default(),
                title: optional(self.title)?.unwrap_or_default(),
                content: optional(self.content)?.unwrap_or_default(),
            },
            "tool_use" => Block::ToolUse {
                id: required(self.id, "id")?,
                name: required(self.name, "name")?,
                input: self.input,
            },
            "tool_result" => Block::ToolResult {
                tool_use_id: required(self.tool_use_id, "tool_use_id")?,
                content: match self.content {
                    None => None,
                    Some(raw) if raw.get() == "null" => None,
                    Some(raw) => Some(match Text::literal(raw) {
                        Some(t) => Content::Text(t),
                        None => Content::Blocks(parse(raw)?),
                    }),
                },
                is_error: optional(self.is_error)?,
            },
            "tool_reference" => Block::ToolReference {
                tool_name: required(self.tool_name, "tool_name")?,
            },
            "thinking" => Block::Thinking {
                thinking: optional(self.thinking)?.unwrap_or_default(),
                signature: optional(self.signature)?,
            },
            "redacted_thinking" => Block::RedactedThinking {
                data: optional(self.data)?.unwrap_or_default(),
            },
            _ => Block::Other,
        })
    }
}

/// A text field: kept raw when it is a string; anything else is the usual type error.
fn text(raw: Option<&RawValue>) -> Result<Text<'_>, String> {
    let Some(raw) = raw else {
        return Err("missing field `text`".into());
    };
    match Text::literal(raw) {
        Some(t) => Ok(t),
        None => parse::<String>(raw).map(Text::from),
    }
}

fn required<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>, name: &str) -> Result<T, String> {
    parse(raw.ok_or_else(|| format!("missing field `{name}`"))?)
}

/// An optional field; `null` counts as absent.
fn optional<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Result<Option<T>, String> {
    match raw {
        Some(raw) if raw.get() != "null" => parse(raw).map(Some),
        _ => Ok(None),
    }
}

/// Parses a field's JSON; the error reads as serde's own, without a position (the caller's
/// parser adds the block's).
fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| {
        let text = e.to_string();
        let at = format!(" at line {} column {}", e.line(), e.column());
        text.strip_suffix(&at).unwrap_or(&text).to_owned()
    })
}

/// A string field kept as its literal (`null` counts as absent).
fn optional_text<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Text<'a>>, D::Error> {
    match Option::<&'a RawValue>::deserialize(d)? {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => text(Some(raw)).map(Some).map_err(de::Error::custom),
    }
}

/// Where an image or document comes from: `base64`, `url`, `text`, `content` or `file`.
#[derive(Debug, Deserialize)]
pub struct Source<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub media_type: Option<String>,
    /// Base64 (or, for a text document, the text): borrowed from the body.
    #[serde(default, borrow, deserialize_with = "optional_text")]
    pub data: Option<Text<'a>>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, borrow)]
    pub content: Option<Content<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct Tool<'a> {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Raw JSON: only its top level is looked at (see `request::schema`).
    #[serde(default, borrow)]
    pub input_schema: Option<&'a RawValue>,
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
    TextDelta { text: JsonStr<'a> },
    InputJsonDelta { partial_json: JsonStr<'a> },
    ThinkingDelta { thinking: JsonStr<'a> },
    SignatureDelta { signature: JsonStr<'a> },
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
            let text = v["body"].to_string();
            let r: Request = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
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
