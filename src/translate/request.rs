//! Anthropic Messages request → Codex Responses request, in the dialect of the model's lane: the
//! full lane (`instructions`, top-level `tools`) or Responses Lite (system prompt and tools as
//! leading `developer` items, upstream.md §9). A pure function: the same request, mapping and
//! model list always give the same upstream body (golden-tested on real Claude Code captures).
//! The rules are listed in README "Request translation".

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::ids::{ToolNames, fnv64};
use super::input;
use super::models::{ModelInfo, ModelMap, effort};
use crate::anthropic::{Block, Content, Request, Tool};
use crate::catalogue::{self, Lane};
use crate::error::Error;
use crate::responses::{self, Item, Json, Part, Reasoning, Schema, ToolDef};

/// Used when the client sends no system prompt: the full lane requires non-empty instructions.
pub const DEFAULT_INSTRUCTIONS: &str = "You are a helpful coding assistant.";
/// Claude Code's per-session billing line; meaningless upstream and it would defeat caching.
const BILLING_PREFIX: &str = "x-anthropic-billing-header:";
/// Claude Code's stand-in for tools it has not loaded yet; never offered to the model.
const PLACEHOLDER_TOOL: &str = "DeferredToolPlaceholder";

/// How thinking blocks are produced for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkingMode {
    /// No thinking blocks (thinking absent or disabled).
    Off,
    /// Reasoning summaries stream as `thinking_delta`.
    Summarized,
    /// Thinking blocks carry only the signature (`display: "omitted"`).
    Omitted,
}

/// Inputs besides the request itself.
pub struct Context<'a> {
    pub map: &'a ModelMap,
    /// The backend's model list; empty means the built-in table decides lanes and limits.
    pub models: &'a [ModelInfo],
    /// Claude Code's `X-Claude-Code-Session-Id` header.
    pub session_header: Option<&'a str>,
}

/// The upstream body plus what the stream translator needs to map the answer back.
#[derive(Debug)]
pub struct Translated<'a> {
    pub body: responses::Request<'a>,
    /// The dialect of `body` (the lite lane also needs its header).
    pub lane: Lane,
    pub names: ToolNames,
    pub thinking: ThinkingMode,
    pub stream: bool,
}

/// Translates one request; errors are the client's (400) with a message naming the problem.
pub fn translate<'a>(req: &'a Request<'a>, ctx: &Context) -> Result<Translated<'a>, Error> {
    if req.model.trim().is_empty() {
        return Err(Error::BadRequest(
            "model: must be a non-empty string".into(),
        ));
    }
    if req.messages.is_empty() {
        return Err(Error::BadRequest(
            "messages: at least one message is required".into(),
        ));
    }
    let tools_in = req.tools.as_deref().unwrap_or(&[]);
    let (model, lane, web_search) = route(ctx, ctx.map.resolve(&req.model), tools_in);
    let info = catalogue::entry(ctx.models, &model);

    let system = match &req.system {
        Some(system) => system_text(system),
        None => String::new(),
    };
    let instructions = if system.trim().is_empty() {
        DEFAULT_INSTRUCTIONS
    } else {
        system.as_str()
    };
    let prompt_cache_key = Some(cache_key(req, ctx.session_header, instructions));

    let mut names = ToolNames::default();
    let referenced = referenced_tools(req);
    let tools = translate_tools(tools_in, &referenced, web_search, &mut names);
    let mut input = input::build(req, &model, lane == Lane::Lite, &mut names)?;
    if !info.is_none_or(ModelInfo::accepts_images) {
        input::strip_images(&mut input, &model);
    }

    let thinking = match &req.thinking {
        None => ThinkingMode::Off,
        Some(t) if t.kind == "disabled" => ThinkingMode::Off,
        Some(t) if t.display.as_deref() == Some("omitted") => ThinkingMode::Omitted,
        Some(_) => ThinkingMode::Summarized,
    };
    let summaries_allowed =
        info.and_then(|i| i.supports_reasoning_summary_parameter) != Some(false);
    let reasoning = Reasoning {
        effort: effort(req, info),
        summary: (thinking == ThinkingMode::Summarized && summaries_allowed).then_some("auto"),
        context: (lane == Lane::Lite).then_some("all_turns"),
    };

    let (tool_choice, parallel) = tool_choice(req, &mut names);
    let format = req
        .output_config
        .as_ref()
        .and_then(|o| o.format.as_ref())
        .and_then(text_format);

    let mut body = responses::Request {
        model,
        instructions: None,
        input: Vec::new(),
        tools: None,
        tool_choice,
        parallel_tool_calls: None,
        reasoning: Some(reasoning),
        store: false,
        stream: true,
        include: vec!["reasoning.encrypted_content"],
        prompt_cache_key,
        text: None,
    };
    match lane {
        Lane::Full => {
            body.instructions = Some(instructions.to_owned());
            body.input = input;
            body.parallel_tool_calls = (!tools.is_empty()).then_some(parallel);
            body.tools = Some(tools);
            body.text = format.map(|f| json!({ "format": f }));
        }
        Lane::Lite => {
            // Tools first, then the system prompt, then the conversation (upstream.md §9).
            let mut lead = Vec::with_capacity(input.len() + 2);
            if !tools.is_empty() {
                lead.push(Item::AdditionalTools {
                    role: "developer",
                    tools,
                });
            }
            if !system.trim().is_empty() {
                lead.push(Item::Message {
                    role: "developer",
                    content: vec![Part::InputText {
                        text: system.into(),
                    }],
                    phase: None,
                });
            }
            lead.append(&mut input);
            body.input = lead;
            // The lane rejects parallel calls.
            body.parallel_tool_calls = Some(false);
            let mut text = serde_json::Map::new();
            if let Some(v) = info.and_then(ModelInfo::verbosity) {
                text.insert("verbosity".into(), json!(v));
            }
            if let Some(f) = format {
                text.insert("format".into(), f);
            }
            body.text = (!text.is_empty()).then_some(Value::Object(text));
        }
    }
    Ok(Translated {
        body,
        lane,
        names,
        thinking,
        stream: req.stream.unwrap_or(false),
    })
}

/// The model and lane that serve the request, and whether the web search tool goes along. Hosted
/// tools are rejected on the lite lane: a request offering web search moves to a full-lane model
/// when the catalogue has one, else runs without the tool; the log says which.
fn route(ctx: &Context, model: String, tools: &[Tool]) -> (String, Lane, bool) {
    let lane = catalogue::lane(ctx.models, &model);
    let search = tools.iter().any(is_web_search);
    if !search || lane == Lane::Full {
        return (model, lane, search);
    }
    match catalogue::full_lane_model(ctx.models) {
        Some(full) => {
            log::info!(
                "web search cannot run on the Responses Lite lane of {model}: {full} (full lane) \
                 serves this request"
            );
            (full.to_owned(), Lane::Full, true)
        }
        None => {
            log::info!(
                "web search cannot run on the Responses Lite lane of {model} and the model list \
                 has no full-lane model: {model} answers without the web search tool"
            );
            (model, lane, false)
        }
    }
}

fn is_web_search(tool: &Tool) -> bool {
    tool.kind
        .as_deref()
        .is_some_and(|k| k.starts_with("web_search"))
}

/// System blocks joined by blank lines, without Claude Code's billing line.
fn system_text(system: &Content) -> String {
    if let Content::Text(t) = system {
        return t.as_str().into_owned(); // the billing line is always a block of its own
    }
    let texts: Vec<Cow<str>> = system
        .texts()
        .filter(|t| !t.starts_with(BILLING_PREFIX))
        .collect();
    texts.join("\n\n")
}

/// Names of deferred tools that a `tool_reference` block has loaded somewhere in the history.
fn referenced_tools<'a>(req: &'a Request) -> HashSet<&'a str> {
    fn walk<'a>(blocks: &'a [Block], out: &mut HashSet<&'a str>) {
        for b in blocks {
            match b {
                Block::ToolReference { tool_name } => {
                    out.insert(tool_name.as_str());
                }
                Block::ToolResult {
                    content: Some(Content::Blocks(inner)),
                    ..
                } => walk(inner, out),
                _ => {}
            }
        }
    }
    let mut out = HashSet::new();
    for m in &req.messages {
        if let Content::Blocks(blocks) = &m.content {
            walk(blocks, &mut out);
        }
    }
    out
}

/// The function tools (and, with `web_search`, the hosted search tool) the model is offered.
fn translate_tools<'a>(
    tools: &'a [Tool<'a>],
    referenced: &HashSet<&str>,
    web_search: bool,
    names: &mut ToolNames,
) -> Vec<ToolDef<'a>> {
    let mut out = Vec::with_capacity(tools.len());
    let mut seen = HashSet::new();
    for tool in tools {
        let kind = tool.kind.as_deref().unwrap_or("custom");
        if is_web_search(tool) {
            if web_search && seen.insert("\0web_search") {
                out.push(ToolDef::Hosted { kind: "web_search" });
            }
            continue;
        }
        if kind != "custom" || tool.input_schema.is_none() {
            log::debug!(
                "dropping tool {:?} of type {kind}: the backend has no equivalent",
                tool.name
            );
            continue;
        }
        if tool.name == PLACEHOLDER_TOOL
            || (tool.defer_loading == Some(true) && !referenced.contains(tool.name.as_str()))
        {
            continue;
        }
        if !seen.insert(tool.name.as_str()) {
            continue; // the backend rejects duplicate names; the first definition wins
        }
        out.push(ToolDef::Function {
            description: tool.description.clone().unwrap_or_default(),
            name: names.add(&tool.name),
            parameters: schema(tool.input_schema),
            strict: false,
            kind: "function",
        });
    }
    out
}

/// A tool's JSON schema as the backend wants it: an object schema, without `$schema`. Only the
/// top level is read; the values below it pass through as they came.
fn schema(input: Option<&RawValue>) -> Schema<'_> {
    let top: BTreeMap<Cow<str>, &RawValue> = input
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    let mut s: Schema = top.into_iter().map(|(k, v)| (k, Json::Raw(v))).collect();
    s.remove("$schema");
    let object = match s.get("type") {
        None => {
            s.insert(Cow::Borrowed("type"), Json::Str("object"));
            true
        }
        Some(Json::Raw(t)) => t.get() == "\"object\"",
        Some(_) => false,
    };
    if object {
        s.entry(Cow::Borrowed("properties"))
            .or_insert(Json::EmptyObject);
    }
    s
}

fn tool_choice(req: &Request, names: &mut ToolNames) -> (Value, bool) {
    let Some(choice) = &req.tool_choice else {
        return (json!("auto"), true);
    };
    let parallel = choice.disable_parallel_tool_use != Some(true);
    let value = match (choice.kind.as_str(), &choice.name) {
        ("any", _) => json!("required"),
        ("none", _) => json!("none"),
        ("tool", Some(name)) => json!({"type": "function", "name": names.add(name)}),
        _ => json!("auto"),
    };
    (value, parallel)
}

/// `output_config.format` (structured output) → `text.format`.
fn text_format(format: &Value) -> Option<Value> {
    if format["type"] != "json_schema" {
        return None;
    }
    let schema = format.get("schema")?.clone();
    Some(json!({"type": "json_schema", "name": "output", "schema": schema, "strict": false}))
}

/// A stable per-conversation key, so the backend's prompt cache hits across turns: Claude
/// Code's session id plus a hash of the system prompt (a subagent shares the session id but has
/// its own prompt, and must not share the cache line).
fn cache_key(req: &Request, header: Option<&str>, instructions: &str) -> String {
    let from_metadata = req
        .metadata
        .as_ref()
        .and_then(|m| m.user_id.as_ref())
        .and_then(|u| match u {
            Value::String(s) => serde_json::from_str::<Value>(s).ok(),
            other => Some(other.clone()),
        })
        .and_then(|v| v["session_id"].as_str().map(str::to_owned));
    let session = from_metadata
        .or_else(|| header.map(str::to_owned))
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 40
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let prompt = fnv64(instructions.as_bytes()) as u32;
    match session {
        Some(s) => format!("{s}-{prompt:08x}"),
        None => {
            let first = req
                .messages
                .first()
                .map(|m| m.content.joined_text("\n"))
                .unwrap_or_default();
            format!("cc-{prompt:08x}-{:016x}", fnv64(first.as_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::ids::encode_signature;

    /// Every Claude family on `model`.
    fn map_to(model: &str) -> ModelMap {
        ModelMap {
            thinking: model.into(),
            big: model.into(),
            small: model.into(),
        }
    }

    fn map() -> ModelMap {
        map_to("gpt-5.5")
    }

    /// A request parsed from `json` (the text is leaked: requests borrow from their body).
    fn parsed(json: Value) -> serde_json::Result<Request<'static>> {
        serde_json::from_str(Box::leak(json.to_string().into_boxed_str()))
    }

    fn translate_on(model: &str, json: Value) -> Translated<'static> {
        let req: &'static Request = Box::leak(Box::new(parsed(json).unwrap()));
        let m = map_to(model);
        translate(
            req,
            &Context {
                map: &m,
                models: &[],
                session_header: None,
            },
        )
        .unwrap()
    }

    /// The body for the full lane (`gpt-5.5`).
    fn run(json: Value) -> Value {
        serde_json::to_value(translate_on("gpt-5.5", json).body).unwrap()
    }

    /// The body for the lite lane (`gpt-6.2-sol`).
    fn run_lite(json: Value) -> Value {
        let t = translate_on("gpt-6.2-sol", json);
        assert_eq!(t.lane, Lane::Lite);
        serde_json::to_value(t.body).unwrap()
    }

    #[test]
    fn minimal_request() {
        let body = run(
            json!({"model":"claude-sonnet-4-5","max_tokens":100,"temperature":0.5,"stop_sequences":["x"],
            "messages":[{"role":"user","content":"hi"}]}),
        );
        assert_eq!(body["model"], "gpt-5.5");
        assert_eq!(body["instructions"], DEFAULT_INSTRUCTIONS);
        assert_eq!(
            body["input"],
            json!([{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}])
        );
        assert_eq!(
            (body["store"].clone(), body["stream"].clone()),
            (json!(false), json!(true))
        );
        for dropped in [
            "max_tokens",
            "max_output_tokens",
            "temperature",
            "stop_sequences",
            "top_p",
            "metadata",
        ] {
            assert!(body.get(dropped).is_none(), "{dropped}");
        }
        assert!(
            body.get("parallel_tool_calls").is_none(),
            "no tools, no parallel flag"
        );
    }

    #[test]
    fn system_messages_become_developer_in_place() {
        let body = run(
            json!({"model":"m","system":[{"type":"text","text":"x-anthropic-billing-header: cc=1;"},{"type":"text","text":"A"},{"type":"text","text":"B"}],
            "messages":[{"role":"user","content":"u"},{"role":"system","content":"s"},{"role":"assistant","content":[{"type":"text","text":"a"}]}]}),
        );
        assert_eq!(body["instructions"], "A\n\nB");
        let roles: Vec<&str> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "developer", "assistant"]);
        assert_eq!(body["input"][2]["content"][0]["type"], "output_text");
    }

    #[test]
    fn tool_round_trip_with_image_result() {
        let body = run(
            json!({"model":"m","tools":[{"name":"Read","input_schema":{"$schema":"x","type":"object","properties":{"p":{"type":"string"}}}}],
            "tool_choice":{"type":"any","disable_parallel_tool_use":true},
            "messages":[{"role":"user","content":"read it"},
              {"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"call_1","name":"Read","input":{"p":"a.png"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":[{"type":"text","text":"img"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]},{"type":"text","text":"next"}]}]}),
        );
        assert_eq!(
            body["tools"][0]["parameters"],
            json!({"type":"object","properties":{"p":{"type":"string"}}})
        );
        assert_eq!(
            (
                body["tool_choice"].clone(),
                body["parallel_tool_calls"].clone()
            ),
            (json!("required"), json!(false))
        );
        let input = body["input"].as_array().unwrap();
        assert_eq!(input[1]["content"][0]["text"], "ok");
        assert_eq!(
            input[2],
            json!({"type":"function_call","name":"Read","arguments":"{\"p\":\"a.png\"}","call_id":"call_1"})
        );
        assert_eq!(
            input[3]["output"][1],
            json!({"type":"input_image","image_url":"data:image/png;base64,AAAA"})
        );
        assert_eq!(input[4]["content"][0]["text"], "next");
    }

    #[test]
    fn deferred_tools_load_only_when_referenced() {
        let tools = json!([{"name":"ToolSearch","input_schema":{"type":"object"}},
            {"name":"DeferredToolPlaceholder","input_schema":{},"defer_loading":true},
            {"name":"WebFetch","input_schema":{"type":"object"},"defer_loading":true},
            {"name":"CronList","input_schema":{"type":"object"},"defer_loading":true}]);
        let names = |body: &Value| -> Vec<String> {
            body["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let body =
            run(json!({"model":"m","tools":tools,"messages":[{"role":"user","content":"hi"}]}));
        assert_eq!(names(&body), ["ToolSearch"]);
        let body = run(
            json!({"model":"m","tools":tools,"messages":[{"role":"user","content":"hi"},
            {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"ToolSearch","input":{"query":"select:CronList"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"tool_reference","tool_name":"CronList"}]},{"type":"text","text":"Tool loaded."}]}]}),
        );
        assert_eq!(names(&body), ["ToolSearch", "CronList"]);
        assert_eq!(body["input"][2]["output"], "Tool CronList loaded.");
    }

    #[test]
    fn thinking_signatures_replay_only_when_ours() {
        let ours = encode_signature("gpt-5.5", "ENC");
        let body = run(
            json!({"model":"claude-opus-5-5","thinking":{"type":"adaptive"},"messages":[{"role":"user","content":"q"},
            {"role":"assistant","content":[{"type":"thinking","thinking":"plan","signature":ours},{"type":"thinking","thinking":"x","signature":"EqQBforeign"},{"type":"text","text":"a"}]},
            {"role":"user","content":"more"}]}),
        );
        let input = body["input"].as_array().unwrap();
        assert_eq!(
            input[1],
            json!({"type":"reasoning","summary":[{"type":"summary_text","text":"plan"}],"encrypted_content":"ENC"})
        );
        assert_eq!(input[2]["role"], "assistant");
        assert_eq!(input.len(), 4);
        assert_eq!(
            body["reasoning"],
            json!({"effort":"medium","summary":"auto"})
        );
        assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    }

    #[test]
    fn unpaired_calls_and_outputs_are_repaired() {
        let body = run(
            json!({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"gone","content":"old"}]},
            {"role":"assistant","content":[{"type":"tool_use","id":"c2","name":"Bash","input":{}}]},{"role":"user","content":"go on"}]}),
        );
        let input = body["input"].as_array().unwrap();
        assert_eq!(input[0]["type"], "message");
        assert!(
            input[0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("old")
        );
        assert_eq!(input[2]["type"], "function_call_output");
        assert_eq!(input[2]["call_id"], "c2");
    }

    #[test]
    fn bad_input_names_the_block() {
        let req: Request = parsed(json!({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]})).unwrap();
        let m = map();
        let e = translate(
            &req,
            &Context {
                map: &m,
                models: &[],
                session_header: None,
            },
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("messages.0.content.0: image source type `file`"),
            "{e}"
        );
        let req: Request = parsed(json!({"model":"m","messages":[]})).unwrap();
        assert!(
            translate(
                &req,
                &Context {
                    map: &m,
                    models: &[],
                    session_header: None
                }
            )
            .is_err()
        );
    }

    #[test]
    fn cache_key_follows_the_session() {
        let user_id = r#"{"device_id":"d","account_uuid":"","session_id":"11111111-1111-4111-8111-111111111111"}"#;
        let a = run(
            json!({"model":"m","system":"S","metadata":{"user_id":user_id},"messages":[{"role":"user","content":"1"}]}),
        );
        let b = run(
            json!({"model":"m","system":"S","metadata":{"user_id":user_id},"messages":[{"role":"user","content":"2"}]}),
        );
        let c = run(
            json!({"model":"m","system":"sub","metadata":{"user_id":user_id},"messages":[{"role":"user","content":"1"}]}),
        );
        assert_eq!(a["prompt_cache_key"], b["prompt_cache_key"]);
        assert_ne!(a["prompt_cache_key"], c["prompt_cache_key"]);
        assert!(
            a["prompt_cache_key"]
                .as_str()
                .unwrap()
                .starts_with("11111111-1111-4111-8111-111111111111-")
        );
    }

    #[test]
    fn structured_output_and_tool_choice_by_name() {
        let body = run(
            json!({"model":"m","tools":[{"name":"a.b","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"a.b"},
            "output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}},"messages":[{"role":"user","content":"x"}]}),
        );
        assert_eq!(body["tool_choice"]["name"], body["tools"][0]["name"]);
        assert_ne!(body["tools"][0]["name"], "a.b");
        assert_eq!(body["text"]["format"]["type"], "json_schema");
    }
    #[test]
    fn lite_lane_puts_tools_and_system_first_in_input() {
        let body = run_lite(
            json!({"model":"claude-opus-5-5","system":[{"type":"text","text":"x-anthropic-billing-header: cc=1;"},{"type":"text","text":"A"},{"type":"text","text":"B"}],
            "tools":[{"name":"Read","input_schema":{"type":"object"}},{"name":"Bash","input_schema":{"type":"object"}}],
            "output_config":{"effort":"max","format":{"type":"json_schema","schema":{"type":"object"}}},
            "messages":[{"role":"user","content":"hi"}]}),
        );
        assert_eq!(body["model"], "gpt-6.2-sol");
        assert!(body.get("instructions").is_none(), "{body}");
        assert!(body.get("tools").is_none(), "{body}");
        let input = body["input"].as_array().unwrap();
        assert_eq!(input[0]["type"], "additional_tools");
        assert_eq!(input[0]["role"], "developer");
        let names: Vec<&str> = input[0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Read", "Bash"]);
        assert_eq!(
            input[1],
            json!({"type":"message","role":"developer","content":[{"type":"input_text","text":"A\n\nB"}]})
        );
        assert_eq!(input[2]["role"], "user");
        assert_eq!(
            input
                .iter()
                .filter(|i| i["type"] == "additional_tools")
                .count(),
            1
        );
        assert_eq!(body["parallel_tool_calls"], false);
        assert_eq!(
            body["reasoning"],
            json!({"effort":"max","context":"all_turns"})
        );
        assert_eq!(body["text"]["verbosity"], "low");
        assert_eq!(body["text"]["format"]["type"], "json_schema");
        assert_eq!(body["store"], false);
        assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    }

    #[test]
    fn lite_lane_without_tools_or_system() {
        let body = run_lite(json!({"model":"m","messages":[{"role":"user","content":"hi"}]}));
        let input = body["input"].as_array().unwrap();
        assert_eq!(input.len(), 1);
        assert_eq!(input[0]["role"], "user");
        assert_eq!(body["parallel_tool_calls"], false, "the lane rejects true");
        assert_eq!(body["reasoning"]["context"], "all_turns");
    }

    #[test]
    fn assistant_history_keeps_its_phase_on_the_lite_lane() {
        let messages = json!([{"role":"user","content":"go"},
            {"role":"assistant","content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"c1","name":"Bash","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"ok"}]},
            {"role":"assistant","content":[{"type":"text","text":"Done."}]},
            {"role":"assistant","content":"Plain string."},
            {"role":"user","content":"thanks"}]);
        let body = run_lite(json!({"model":"m","messages":messages}));
        let phases: Vec<(String, Value)> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["role"] == "assistant")
            .map(|i| {
                (
                    i["content"][0]["text"].as_str().unwrap().to_owned(),
                    i["phase"].clone(),
                )
            })
            .collect();
        assert_eq!(
            phases,
            [
                ("Let me look.".to_owned(), json!("commentary")),
                ("Done.".to_owned(), json!("final_answer")),
                ("Plain string.".to_owned(), json!("final_answer"))
            ]
        );
        // The full lane is left as it was.
        let body = run(json!({"model":"m","messages":messages}));
        assert!(
            body["input"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i.get("phase").is_none())
        );
    }

    #[test]
    fn a_tool_loaded_by_tool_search_joins_additional_tools() {
        let tools = json!([{"name":"ToolSearch","input_schema":{"type":"object"}},
            {"name":"CronList","input_schema":{"type":"object"},"defer_loading":true}]);
        let names = |body: &Value| -> Vec<String> {
            body["input"][0]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let body = run_lite(
            json!({"model":"m","tools":tools,"messages":[{"role":"user","content":"hi"}]}),
        );
        assert_eq!(names(&body), ["ToolSearch"]);
        let body = run_lite(
            json!({"model":"m","tools":tools,"messages":[{"role":"user","content":"hi"},
            {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"ToolSearch","input":{"query":"select:CronList"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"tool_reference","tool_name":"CronList"}]}]}]}),
        );
        assert_eq!(names(&body), ["ToolSearch", "CronList"]);
    }

    #[test]
    fn web_search_moves_to_the_full_lane_or_goes_without() {
        let req = json!({"model":"claude-sonnet-5-5","tools":[{"type":"web_search_20250305","name":"web_search","max_uses":8}],
            "messages":[{"role":"user","content":"Perform a web search for: rust 2027"}]});
        let t = translate_on("gpt-6.2-sol", req.clone());
        assert_eq!((t.lane, t.body.model.as_str()), (Lane::Full, "gpt-5.5"));
        let body = serde_json::to_value(&t.body).unwrap();
        assert_eq!(body["tools"], json!([{"type":"web_search"}]));
        // A catalogue without a full-lane model: the lite model answers without the tool.
        let lite_only = vec![ModelInfo {
            slug: "gpt-6.2-sol".into(),
            use_responses_lite: Some(true),
            ..ModelInfo::default()
        }];
        let r: Request = parsed(req).unwrap();
        let m = map_to("gpt-6.2-sol");
        let t = translate(
            &r,
            &Context {
                map: &m,
                models: &lite_only,
                session_header: None,
            },
        )
        .unwrap();
        assert_eq!((t.lane, t.body.model.as_str()), (Lane::Lite, "gpt-6.2-sol"));
        let body = serde_json::to_value(&t.body).unwrap();
        assert!(body["input"][0]["type"] != "additional_tools", "{body}");
    }

    #[test]
    fn luna_never_takes_the_full_lane() {
        for model in ["gpt-5.6-luna", "gpt-6-luna", "gpt-7-luna"] {
            assert_eq!(
                translate_on(
                    model,
                    json!({"model":"claude-haiku-5-5","messages":[{"role":"user","content":"t"}]})
                )
                .lane,
                Lane::Lite,
                "{model}"
            );
        }
    }

    #[test]
    fn images_are_left_out_for_a_text_only_model() {
        let text_only = vec![ModelInfo {
            slug: "gpt-6-text".into(),
            use_responses_lite: Some(true),
            input_modalities: Some(vec!["text".into()]),
            ..ModelInfo::default()
        }];
        let r: Request = parsed(json!({"model":"m","messages":[{"role":"user","content":[
            {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"text","text":"what is it"}]}]})).unwrap();
        let m = map_to("gpt-6-text");
        let t = translate(
            &r,
            &Context {
                map: &m,
                models: &text_only,
                session_header: None,
            },
        )
        .unwrap();
        let body = serde_json::to_value(&t.body).unwrap();
        let part = &body["input"][0]["content"][0];
        assert_eq!(part["type"], "input_text");
        assert!(
            part["text"]
                .as_str()
                .unwrap()
                .contains("does not accept images")
        );
    }

    #[test]
    fn texts_and_tool_inputs_pass_as_the_client_wrote_them() {
        // Built from text, not a Value: key order and escapes as a client writes them.
        let body = r#"{"model":"m","messages":[
            {"role":"user","content":[{"type":"text","text":"caf\u00e9 \"x\"\n"}]},
            {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Edit",
              "input":{ "file_path": "/a b", "old_string": "x  y", "new_string": "z" }}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok\u0021"},
              {"type":"mystery","text":5,"content":{"a":1}}]}]}"#;
        let req: Request = serde_json::from_str(body).unwrap();
        let m = map();
        let ctx = Context {
            map: &m,
            models: &[],
            session_header: None,
        };
        let out = serde_json::to_string(&translate(&req, &ctx).unwrap().body).unwrap();
        assert!(out.contains(r#""text":"caf\u00e9 \"x\"\n""#), "{out}");
        assert!(
            out.contains(r#""arguments":"{\"file_path\":\"/a b\",\"old_string\":\"x  y\",\"new_string\":\"z\"}""#),
            "{out}"
        );
        assert!(out.contains(r#""output":"ok\u0021""#), "{out}");
    }
}
