//! OpenAI Responses API types as the ChatGPT Codex backend speaks them: the request body we
//! send and the stream events we read. Unknown events parse as `Other` and are ignored, as the
//! Codex CLI does.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub use crate::json_str::JsonStr;
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
        delta: JsonStr<'a>,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgsDelta {
        #[serde(borrow)]
        item_id: Cow<'a, str>,
        #[serde(borrow)]
        delta: JsonStr<'a>,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    SummaryDelta {
        #[serde(borrow)]
        item_id: Cow<'a, str>,
        #[serde(default)]
        summary_index: u32,
        #[serde(borrow)]
        delta: JsonStr<'a>,
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

/// Parses one upstream event. The backend writes `"type"` first, so the event is known before
/// it is parsed: the deltas, almost the whole stream, are read by [`scan_delta`], which borrows
/// the delta's JSON literal as it is; items and terminal responses go straight into their
/// structs (the tagged enum would first copy the whole event, and `response.completed` repeats
/// the whole answer); events the translator ignores are not parsed at all. Anything else, and
/// whatever the scan does not take, goes through serde, which decides what it is (or that it is
/// not JSON).
pub fn parse_event(data: &str) -> serde_json::Result<Event<'_>> {
    #[derive(Deserialize)]
    struct WithItem {
        item: OutItem,
    }
    #[derive(Deserialize)]
    struct WithResponse {
        response: Response,
    }
    let item = || serde_json::from_str::<WithItem>(data).map(|w| w.item);
    let response = || serde_json::from_str::<WithResponse>(data).map(|w| w.response);
    let Some(kind) = leading_type(data) else {
        return serde_json::from_str(data);
    };
    match kind {
        "response.output_text.delta"
        | "response.refusal.delta"
        | "response.function_call_arguments.delta"
        | "response.reasoning_summary_text.delta" => match scan_delta(data, kind) {
            Some(ev) => Ok(ev),
            None => serde_json::from_str(data),
        },
        "response.output_item.added" => item().map(|item| Event::ItemAdded { item }),
        "response.output_item.done" => item().map(|item| Event::ItemDone { item }),
        "response.completed" => response().map(|response| Event::Completed { response }),
        "response.incomplete" => response().map(|response| Event::Incomplete { response }),
        "response.failed" => response().map(|response| Event::Failed { response }),
        "response.created" => Ok(Event::Created),
        "error" => serde_json::from_str(data),
        _ => Ok(Event::Other),
    }
}

/// The event type of `{"type":"…"` at the very start of an event's data.
fn leading_type(data: &str) -> Option<&str> {
    let rest = data.strip_prefix(r#"{"type":""#)?;
    let end = memchr::memchr2(b'"', b'\\', rest.as_bytes())?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

/// A delta event of type `kind` written the way the backend writes them: compact JSON, `"type"`
/// first, then fields whose values are strings, integers, `[]`, `true`, `false` or `null`. Its
/// `delta` is lent out as its JSON literal, quotes included, when that is already serde_json's
/// escaping ([`crate::json_str::canonical_len`]). Anything else is `None`, for serde to read:
/// whitespace, other values, other escapes, a repeated or missing field.
fn scan_delta<'a>(data: &'a str, kind: &str) -> Option<Event<'a>> {
    let b = data.as_bytes();
    let (mut item_id, mut delta, mut summary_index) = (None, None, None);
    let mut i = r#"{"type":""#.len() + kind.len() + 1;
    loop {
        match b.get(i)? {
            b'}' if i + 1 == b.len() => break,
            b',' => i += 1,
            _ => return None,
        }
        // A key without escapes, then its value.
        let key_len = memchr::memchr2(b'"', b'\\', b.get(i + 1..)?)?;
        if b.get(i) != Some(&b'"') || b.get(i + 1 + key_len) != Some(&b'"') {
            return None;
        }
        let key = &data[i + 1..i + 1 + key_len];
        i += key_len + 2;
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        match b.get(i)? {
            b'"' => {
                let len = crate::json_str::canonical_len(&b[i + 1..])?;
                let (literal, inside) = (&data[i..i + len + 2], &data[i + 1..i + 1 + len]);
                i += len + 2;
                let (slot, value) = match key {
                    "item_id" if !inside.contains('\\') => (&mut item_id, inside),
                    "item_id" => return None,
                    "delta" => (&mut delta, literal),
                    _ => continue,
                };
                if slot.replace(value).is_some() {
                    return None;
                }
            }
            b'0'..=b'9' | b'-' => {
                // An integer: an optional minus, then 0 or digits not starting with 0.
                let sign = usize::from(b[i] == b'-');
                let digits = b[i + sign..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                if digits == 0 || (digits > 1 && b[i + sign] == b'0') {
                    return None;
                }
                let number = &data[i..i + sign + digits];
                i += sign + digits;
                if key == "summary_index"
                    && summary_index.replace(number.parse::<u32>().ok()?).is_some()
                {
                    return None;
                }
            }
            _ => {
                let word = ["[]", "true", "false", "null"]
                    .into_iter()
                    .find(|w| data[i..].starts_with(w))?;
                if matches!(key, "item_id" | "delta" | "summary_index") {
                    return None;
                }
                i += word.len();
            }
        }
    }
    let (item_id, delta) = (Cow::Borrowed(item_id?), JsonStr::Escaped(delta?));
    Some(match kind {
        "response.function_call_arguments.delta" => Event::ArgsDelta { item_id, delta },
        "response.reasoning_summary_text.delta" => Event::SummaryDelta {
            item_id,
            summary_index: summary_index.unwrap_or(0),
            delta,
        },
        "response.output_text.delta" | "response.refusal.delta" => {
            Event::TextDelta { item_id, delta }
        }
        _ => return None,
    })
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
        assert!(matches!(e, Event::TextDelta { ref delta, .. } if delta.text() == "He\"llo"));
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

    /// An event as the translator sees it: the delta's text, not how it was held.
    fn seen(e: &Event) -> String {
        match e {
            Event::TextDelta { item_id, delta } => format!("text {item_id} {:?}", delta.text()),
            Event::ArgsDelta { item_id, delta } => format!("args {item_id} {:?}", delta.text()),
            Event::SummaryDelta {
                item_id,
                summary_index,
                delta,
            } => format!("summary {item_id} {summary_index} {:?}", delta.text()),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn the_delta_scan_agrees_with_serde() {
        let scanned = [
            r#"{"type":"response.output_text.delta","item_id":"m","output_index":1,"content_index":0,"delta":"a\"b\\c\n","logprobs":[],"obfuscation":"x"}"#,
            r#"{"type":"response.output_text.delta","content_index":0,"delta":"The tests","item_id":"msg_7","logprobs":[],"obfuscation":"xx","output_index":0,"sequence_number":4}"#,
            r#"{"type":"response.function_call_arguments.delta","item_id":"fc","delta":"{\"k\":"}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs","summary_index":2,"delta":"**"}"#,
            r#"{"type":"response.refusal.delta","item_id":"m","delta":"no","x":true,"y":false,"z":null,"n":-10}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":""}"#,
        ];
        // Left to serde: another event, other layouts, escapes and values.
        let general = [
            r#"{"item_id":"m","type":"response.output_text.delta","delta":"late type"}"#,
            r#"{"type":"response.created","response":{"id":"r"}}"#,
            r#"{"type":"response.output_text.delta", "item_id":"m","delta":"spaced"}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"\u00e9\/"}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"x","logprobs":[{"p":1}]}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"x","meta":{}}"#,
            r#"{"type":"response.output_text.delta","item_id":"m\"","delta":"x"}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"x","n":1.5}"#,
        ];
        for data in scanned.iter().chain(&general) {
            let fast = seen(&parse_event(data).unwrap());
            let slow = seen(&serde_json::from_str::<Event>(data).unwrap());
            assert_eq!(fast, slow, "{data}");
        }
        fn scanned_ok(d: &str) -> bool {
            leading_type(d)
                .and_then(|kind| scan_delta(d, kind))
                .is_some()
        }
        assert!(scanned.iter().all(|d| scanned_ok(d)));
        assert!(general.iter().all(|d| !scanned_ok(d)));
        // What serde refuses is refused, whichever path saw it first.
        for bad in [
            r#"{"type":"response.output_text.delta","delta":"no item"}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"a","delta":"b"}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":null}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"x","n":01}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"x","n":-}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"r","summary_index":-1,"delta":"x"}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"x"}junk"#,
            r#"{"type":"response.output_text.delta","item_id":"m","delta":"x""#,
        ] {
            assert!(parse_event(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn items_and_responses_are_read_straight_into_their_structs() {
        let same = [
            r#"{"type":"response.output_item.added","output_index":0,"item":{"id":"fc_1","type":"function_call","call_id":"c","name":"Bash","arguments":""},"sequence_number":2}"#,
            r#"{"type":"response.output_item.done","item":{"id":"msg_1","type":"message","content":[{"type":"output_text","text":"hi"}]}}"#,
            r#"{"type":"response.completed","response":{"id":"r","output":[{"type":"message","content":[]}],"usage":{"input_tokens":10,"output_tokens":3,"input_tokens_details":{"cached_tokens":4}}}}"#,
            r#"{"type":"response.incomplete","response":{"incomplete_details":{"reason":"max_output_tokens"}}}"#,
            r#"{"type":"response.failed","response":{"error":{"code":"server_error","message":"boom"}}}"#,
            r#"{"type":"error","code":"x","message":"y"}"#,
            r#"{"type":"response.created","response":{"id":"r","instructions":"long…"}}"#,
            r#"{"type":"response.content_part.added","part":{"type":"output_text","text":""}}"#,
            r#"{"type":"response.some_future_event","x":[1,{"y":2}]}"#,
        ];
        for data in same {
            let fast = seen(&parse_event(data).unwrap());
            let slow = seen(&serde_json::from_str::<Event>(data).unwrap());
            assert_eq!(fast, slow, "{data}");
        }
        // What the translator acts on must be whole; what it ignores is not even parsed.
        assert!(parse_event(r#"{"type":"response.completed","response":{"usage":5}}"#).is_err());
        assert!(parse_event(r#"{"type":"response.output_item.done"}"#).is_err());
        assert!(matches!(
            parse_event(r#"{"type":"response.in_progress","response":{"#),
            Ok(Event::Other)
        ));
        assert_eq!(leading_type(r#"{"type":"a\"b","x":1}"#), None);
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
