//! OpenAI Responses API types as the ChatGPT Codex backend speaks them: the request body we
//! send and the stream events we read. Unknown events parse as `Other` and are ignored, as the
//! Codex CLI does.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub use crate::json_text::{Args, Text, Url};

/// `POST /backend-api/codex/responses` body. Field order follows the Codex CLI's. On the
/// Responses Lite lane `instructions` and `tools` are absent: they travel as leading `developer`
/// and `additional_tools` input items (upstream.md §9). Texts, tool inputs and schemas borrow from
/// the client's request (see [`crate::json_text`]).
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    pub input: Vec<Item<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef<'a>>>,
    pub tool_choice: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    pub store: bool,
    pub stream: bool,
    pub include: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Reasoning {
    pub effort: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<&'static str>,
    /// `all_turns` on the lite lane (required there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<&'static str>,
}

/// A tool the model is offered. Fields in alphabetical order, as the backend has always seen
/// them.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ToolDef<'a> {
    Function {
        description: String,
        name: String,
        parameters: Schema<'a>,
        strict: bool,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    /// The hosted web search tool.
    Hosted {
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

/// A function's parameters: the client's schema with its top-level keys in order, values raw.
pub type Schema<'a> = BTreeMap<Cow<'a, str>, Json<'a>>;

/// A JSON value from the request, or one the proxy adds.
#[derive(Debug, Clone)]
pub enum Json<'a> {
    Raw(&'a RawValue),
    Str(&'static str),
    EmptyObject,
}

impl Serialize for Json<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Raw(r) => r.serialize(s),
            Json::Str(t) => s.serialize_str(t),
            Json::EmptyObject => s.serialize_map(Some(0))?.end(),
        }
    }
}

/// One `input` item. Items never carry an `id`: with `store: false` the backend 404s on them.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item<'a> {
    /// The lite lane's tool list: one item, first in `input`.
    AdditionalTools {
        role: &'static str,
        tools: Vec<ToolDef<'a>>,
    },
    Message {
        role: &'static str,
        content: Vec<Part<'a>>,
        /// An assistant message's `commentary` (before a tool call) or `final_answer` (lite lane).
        #[serde(skip_serializing_if = "Option::is_none")]
        phase: Option<&'static str>,
    },
    FunctionCall {
        name: String,
        arguments: Args<'a>,
        call_id: String,
    },
    FunctionCallOutput {
        call_id: String,
        output: Output<'a>,
    },
    Reasoning {
        summary: Vec<Summary>,
        encrypted_content: String,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Summary {
    SummaryText { text: String },
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Output<'a> {
    Text(Text<'a>),
    Parts(Vec<Part<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part<'a> {
    InputText {
        text: Text<'a>,
    },
    OutputText {
        text: Text<'a>,
    },
    InputImage {
        image_url: Url<'a>,
    },
    InputFile {
        #[serde(skip_serializing_if = "Option::is_none")]
        file_data: Option<Url<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        file_url: Option<String>,
        filename: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Stream events.

/// The events the translator acts on; everything else is `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum Event<'a> {
    #[serde(rename = "response.created")]
    Created,
    #[serde(rename = "response.output_item.added")]
    ItemAdded { item: OutItem },
    #[serde(rename = "response.output_item.done")]
    ItemDone { item: OutItem },
    #[serde(
        rename = "response.output_text.delta",
        alias = "response.refusal.delta"
    )]
    TextDelta {
        #[serde(borrow)]
        item_id: Cow<'a, str>,
        #[serde(borrow)]
        delta: Cow<'a, str>,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgsDelta {
        #[serde(borrow)]
        item_id: Cow<'a, str>,
        #[serde(borrow)]
        delta: Cow<'a, str>,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    SummaryDelta {
        #[serde(borrow)]
        item_id: Cow<'a, str>,
        #[serde(default)]
        summary_index: u32,
        #[serde(borrow)]
        delta: Cow<'a, str>,
    },
    #[serde(rename = "response.completed")]
    Completed { response: Response },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: Response },
    #[serde(rename = "response.failed")]
    Failed { response: Response },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        error: Option<Value>,
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    #[serde(other)]
    Other,
}

/// Parses one upstream event. The three delta events make up almost the whole stream, and the
/// backend writes `"type"` first: those take a direct path into a plain struct, skipping the
/// buffering a tagged enum needs (about a third of the parse time). Anything else, or a `type`
/// elsewhere in the object, goes through the general enum.
pub fn parse_event(data: &str) -> serde_json::Result<Event<'_>> {
    #[derive(Deserialize)]
    struct DeltaFields<'a> {
        #[serde(borrow)]
        item_id: Cow<'a, str>,
        #[serde(borrow)]
        delta: Cow<'a, str>,
        #[serde(default)]
        summary_index: u32,
    }
    let kind = data
        .strip_prefix(r#"{"type":""#)
        .and_then(|rest| rest.split('"').next());
    let fields = || serde_json::from_str::<DeltaFields>(data);
    match kind {
        Some("response.output_text.delta" | "response.refusal.delta") => {
            fields().map(|f| Event::TextDelta {
                item_id: f.item_id,
                delta: f.delta,
            })
        }
        Some("response.function_call_arguments.delta") => fields().map(|f| Event::ArgsDelta {
            item_id: f.item_id,
            delta: f.delta,
        }),
        Some("response.reasoning_summary_text.delta") => fields().map(|f| Event::SummaryDelta {
            item_id: f.item_id,
            summary_index: f.summary_index,
            delta: f.delta,
        }),
        _ => serde_json::from_str(data),
    }
}

/// An output item as announced by `output_item.added` / `.done`.
#[derive(Debug, Deserialize)]
pub struct OutItem {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
    #[serde(default)]
    pub content: Option<Vec<OutContent>>,
    #[serde(default)]
    pub summary: Option<Vec<OutContent>>,
    #[serde(default)]
    pub encrypted_content: Option<String>,
    /// A `web_search_call`'s action (`{"type":"search","query":…}`).
    #[serde(default)]
    pub action: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct OutContent {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
}

/// The `response` object of a terminal event; only the fields we use.
#[derive(Debug, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub usage: Option<ResponseUsage>,
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct IncompleteDetails {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResponseUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub input_tokens_details: Option<InputDetails>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InputDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_and_unknown_events() {
        let e: Event = serde_json::from_str(
            r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"He\"llo","logprobs":[]}"#,
        )
        .unwrap();
        assert!(matches!(e, Event::TextDelta { ref delta, .. } if delta == "He\"llo"));
        let e: Event = serde_json::from_str(r#"{"type":"response.new_tool_event","x":1}"#).unwrap();
        assert!(matches!(e, Event::Other));
        let e: Event = serde_json::from_str(
            r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":10,"input_tokens_details":null,"output_tokens":3,"total_tokens":13}}}"#,
        )
        .unwrap();
        assert!(
            matches!(e, Event::Completed { response } if response.usage.as_ref().unwrap().input_tokens == 10)
        );
    }

    #[test]
    fn fast_path_agrees_with_the_general_parser() {
        let cases = [
            r#"{"type":"response.output_text.delta","item_id":"m","output_index":1,"content_index":0,"delta":"a\"b","logprobs":[],"obfuscation":"x"}"#,
            r#"{"type":"response.function_call_arguments.delta","item_id":"fc","delta":"{\"k\":"}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs","summary_index":2,"delta":"**"}"#,
            r#"{"item_id":"m","type":"response.output_text.delta","delta":"late type"}"#,
            r#"{"type":"response.created","response":{"id":"r"}}"#,
        ];
        for data in cases {
            let fast = format!("{:?}", parse_event(data).unwrap());
            let general = format!("{:?}", serde_json::from_str::<Event>(data).unwrap());
            assert_eq!(fast, general, "{data}");
        }
        assert!(parse_event(r#"{"type":"response.output_text.delta","delta":"no item"}"#).is_err());
    }

    #[test]
    fn items_serialize_without_ids() {
        let item = Item::FunctionCall {
            name: "Bash".into(),
            arguments: Args(None),
            call_id: "call_1".into(),
        };
        assert_eq!(
            serde_json::to_string(&item).unwrap(),
            r#"{"type":"function_call","name":"Bash","arguments":"{}","call_id":"call_1"}"#
        );
        let out = Item::FunctionCallOutput {
            call_id: "c".into(),
            output: Output::Text("hi".into()),
        };
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"type":"function_call_output","call_id":"c","output":"hi"}"#
        );
    }
}
