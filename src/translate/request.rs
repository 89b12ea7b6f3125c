//! Anthropic Messages request → Codex Responses request. A pure function: the same request,
//! mapping and model list always give the same upstream body (golden-tested on real Claude Code
//! captures). The rules are listed in README "Request translation".

use std::collections::HashSet;

use serde_json::{Value, json};

use super::ids::{ToolNames, decode_signature, fnv64, upstream_call_id};
use super::models::{ModelInfo, ModelMap, effort};
use crate::anthropic::{Block, Content, Request, Role, Source, Tool};
use crate::error::Error;
use crate::responses::{self, Item, Output, Part, Reasoning, Summary};

/// Used when the client sends no system prompt: the backend requires non-empty instructions.
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
    /// The backend's model list, when it has been fetched.
    pub models: &'a [ModelInfo],
    /// Claude Code's `X-Claude-Code-Session-Id` header.
    pub session_header: Option<&'a str>,
}

/// The upstream body plus what the stream translator needs to map the answer back.
#[derive(Debug)]
pub struct Translated {
    pub body: responses::Request,
    pub names: ToolNames,
    pub thinking: ThinkingMode,
    pub stream: bool,
}

/// Translates one request; errors are the client's (400) with a message naming the problem.
pub fn translate(req: &Request, ctx: &Context) -> Result<Translated, Error> {
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
    let model = ctx.map.resolve(&req.model);
    let info = ctx.models.iter().find(|m| m.slug == model);

    let instructions = match &req.system {
        Some(system) => system_text(system),
        None => String::new(),
    };
    let instructions = if instructions.trim().is_empty() {
        DEFAULT_INSTRUCTIONS.to_owned()
    } else {
        instructions
    };

    let mut names = ToolNames::default();
    let referenced = referenced_tools(req);
    let tools = translate_tools(req.tools.as_deref().unwrap_or(&[]), &referenced, &mut names);
    let input = Input::build(req, &model, &mut names)?;

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
    };

    let (tool_choice, parallel) = tool_choice(req, &mut names);
    let text = req
        .output_config
        .as_ref()
        .and_then(|o| o.format.as_ref())
        .and_then(text_format);

    let body = responses::Request {
        model,
        prompt_cache_key: Some(cache_key(req, ctx.session_header, &instructions)),
        instructions,
        input,
        parallel_tool_calls: (!tools.is_empty()).then_some(parallel),
        tools,
        tool_choice,
        reasoning: Some(reasoning),
        store: false,
        stream: true,
        include: vec!["reasoning.encrypted_content"],
        text,
    };
    Ok(Translated {
        body,
        names,
        thinking,
        stream: req.stream.unwrap_or(false),
    })
}

/// System blocks joined by blank lines, without Claude Code's billing line.
fn system_text(system: &Content) -> String {
    match system {
        Content::Text(t) => t.clone(),
        Content::Blocks(blocks) => {
            let texts: Vec<&str> = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text { text } if !text.starts_with(BILLING_PREFIX) => {
                        Some(text.as_str())
                    }
                    _ => None,
                })
                .collect();
            texts.join("\n\n")
        }
    }
}

/// Names of deferred tools that a `tool_reference` block has loaded somewhere in the history.
fn referenced_tools(req: &Request) -> HashSet<&str> {
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

fn translate_tools(
    tools: &[Tool],
    referenced: &HashSet<&str>,
    names: &mut ToolNames,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(tools.len());
    let mut seen = HashSet::new();
    for tool in tools {
        let kind = tool.kind.as_deref().unwrap_or("custom");
        if kind.starts_with("web_search") {
            if seen.insert("\0web_search") {
                out.push(json!({"type": "web_search"}));
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
        out.push(json!({
            "type": "function",
            "name": names.add(&tool.name),
            "description": tool.description.as_deref().unwrap_or(""),
            "strict": false,
            "parameters": schema(tool.input_schema.as_ref()),
        }));
    }
    out
}

/// A tool's JSON schema as the backend wants it: an object schema, without `$schema`.
fn schema(input: Option<&Value>) -> Value {
    let mut s = match input {
        Some(Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    };
    s.remove("$schema");
    s.entry("type").or_insert_with(|| json!("object"));
    if s.get("type") == Some(&json!("object")) {
        s.entry("properties").or_insert_with(|| json!({}));
    }
    Value::Object(s)
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
    Some(
        json!({"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": false}}),
    )
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

/// Builds the `input` list, keeping the conversation's order of messages, calls and results.
struct Input<'a> {
    items: Vec<Item>,
    role: &'static str,
    parts: Vec<Part>,
    model: &'a str,
}

impl<'a> Input<'a> {
    fn build(req: &Request, model: &'a str, names: &mut ToolNames) -> Result<Vec<Item>, Error> {
        let mut b = Input {
            items: Vec::with_capacity(req.messages.len() * 2),
            role: "user",
            parts: Vec::new(),
            model,
        };
        for (i, msg) in req.messages.iter().enumerate() {
            let role = match msg.role {
                Role::User => "user",
                Role::Assistant => "assistant",
                // The backend rejects role `system` inside `input`; `developer` is its equivalent.
                Role::System => "developer",
            };
            b.switch_role(role);
            match &msg.content {
                Content::Text(t) => b.push_text(t),
                Content::Blocks(blocks) => {
                    for (j, block) in blocks.iter().enumerate() {
                        b.block(block, names).map_err(|e| {
                            Error::BadRequest(format!("messages.{i}.content.{j}: {e}"))
                        })?;
                    }
                }
            }
            b.flush();
        }
        Ok(pair_calls(b.items))
    }

    fn switch_role(&mut self, role: &'static str) {
        if self.role != role {
            self.flush();
            self.role = role;
        }
    }

    fn flush(&mut self) {
        if !self.parts.is_empty() {
            let content = std::mem::take(&mut self.parts);
            self.items.push(Item::Message {
                role: self.role,
                content,
            });
        }
    }

    fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let text = text.to_owned();
        self.parts.push(if self.role == "assistant" {
            Part::OutputText { text }
        } else {
            Part::InputText { text }
        });
    }

    fn block(&mut self, block: &Block, names: &mut ToolNames) -> Result<(), String> {
        match block {
            Block::Text { text } => self.push_text(text),
            Block::Image { source } | Block::Document { source, .. }
                if self.role == "assistant" =>
            {
                log::debug!(
                    "dropping an image/document in an assistant message ({})",
                    source.kind
                );
            }
            Block::ToolUse { id, name, input } => {
                self.flush();
                let arguments = match input {
                    Value::Null => "{}".to_owned(),
                    v => v.to_string(),
                };
                self.items.push(Item::FunctionCall {
                    name: names.add(name),
                    arguments,
                    call_id: upstream_call_id(id),
                });
            }
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                self.flush();
                let output = tool_output(content.as_ref(), *is_error == Some(true))?;
                self.items.push(Item::FunctionCallOutput {
                    call_id: upstream_call_id(tool_use_id),
                    output,
                });
            }
            Block::Thinking {
                thinking,
                signature,
            } => {
                let sig = signature.as_deref().unwrap_or("");
                match decode_signature(sig, self.model) {
                    Some(encrypted) => {
                        self.flush();
                        let summary = if thinking.is_empty() {
                            Vec::new()
                        } else {
                            vec![Summary::SummaryText {
                                text: thinking.clone(),
                            }]
                        };
                        self.items.push(Item::Reasoning {
                            summary,
                            encrypted_content: encrypted.to_owned(),
                        });
                    }
                    None => log::debug!(
                        "dropping a thinking block whose signature is not ours or not for {}",
                        self.model
                    ),
                }
            }
            Block::RedactedThinking { data } => {
                if let Some(encrypted) = decode_signature(data, self.model) {
                    self.flush();
                    self.items.push(Item::Reasoning {
                        summary: Vec::new(),
                        encrypted_content: encrypted.to_owned(),
                    });
                }
            }
            other => {
                if !input_parts(other, &mut self.parts)? {
                    log::debug!("dropping a content block of a type the proxy does not translate");
                }
            }
        }
        Ok(())
    }
}

/// The parts for a block that user messages and tool results share: text, images, documents,
/// search results and loaded-tool references. False for any other block type.
fn input_parts(block: &Block, out: &mut Vec<Part>) -> Result<bool, String> {
    let text = |text: String| Part::InputText { text };
    match block {
        Block::Text { text: t } if !t.is_empty() => out.push(text(t.clone())),
        Block::Text { .. } => {}
        Block::Image { source } => out.push(image(source)?),
        Block::Document { source, title } => out.extend(document(source, title.as_deref())?),
        Block::ToolReference { tool_name } => out.push(text(format!("Tool {tool_name} loaded."))),
        Block::SearchResult {
            source,
            title,
            content,
        } => {
            let mut body = String::new();
            for b in content {
                if let Block::Text { text: t } = b {
                    body.push('\n');
                    body.push_str(t);
                }
            }
            out.push(text(format!("Search result: {title} ({source}){body}")));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn image(source: &Source) -> Result<Part, String> {
    match source.kind.as_str() {
        "base64" => {
            let media = source.media_type.as_deref().unwrap_or("image/png");
            let data = source
                .data
                .as_deref()
                .ok_or("image source of type base64 needs `data`")?;
            Ok(Part::InputImage {
                image_url: format!("data:{media};base64,{data}"),
            })
        }
        "url" => {
            let url = source
                .url
                .as_deref()
                .ok_or("image source of type url needs `url`")?;
            Ok(Part::InputImage {
                image_url: url.to_owned(),
            })
        }
        other => Err(format!(
            "image source type `{other}` is not supported by the proxy (send base64 data or a URL)"
        )),
    }
}

fn document(source: &Source, title: Option<&str>) -> Result<Vec<Part>, String> {
    let filename = title.unwrap_or("document.pdf").to_owned();
    match source.kind.as_str() {
        "base64" => {
            let media = source.media_type.as_deref().unwrap_or("application/pdf");
            let data = source
                .data
                .as_deref()
                .ok_or("document source of type base64 needs `data`")?;
            Ok(vec![Part::InputFile {
                file_data: Some(format!("data:{media};base64,{data}")),
                file_url: None,
                filename,
            }])
        }
        "url" => {
            let url = source
                .url
                .as_deref()
                .ok_or("document source of type url needs `url`")?;
            Ok(vec![Part::InputFile {
                file_data: None,
                file_url: Some(url.to_owned()),
                filename,
            }])
        }
        "text" => {
            let data = source.data.as_deref().unwrap_or("");
            let text = match title {
                Some(t) => format!("{t}\n\n{data}"),
                None => data.to_owned(),
            };
            Ok(vec![Part::InputText { text }])
        }
        "content" => {
            let mut parts = Vec::new();
            match &source.content {
                Some(Content::Text(t)) => parts.push(Part::InputText { text: t.clone() }),
                Some(Content::Blocks(blocks)) => {
                    for b in blocks {
                        // A document inside a document is not a thing; skip rather than recurse.
                        if !matches!(b, Block::Document { .. }) {
                            input_parts(b, &mut parts)?;
                        }
                    }
                }
                None => {}
            }
            Ok(parts)
        }
        other => Err(format!(
            "document source type `{other}` is not supported by the proxy (send base64, text or a URL)"
        )),
    }
}

/// A `tool_result` body: plain text when it is only text, else text and image parts.
fn tool_output(content: Option<&Content>, is_error: bool) -> Result<Output, String> {
    let prefix = if is_error { "Error: " } else { "" };
    let blocks = match content {
        None => {
            return Ok(Output::Text(
                format!("{prefix}(no output)").trim_end().to_owned(),
            ));
        }
        Some(Content::Text(t)) => return Ok(Output::Text(format!("{prefix}{t}"))),
        Some(Content::Blocks(blocks)) => blocks,
    };
    let mut parts = Vec::new();
    for b in blocks {
        if !input_parts(b, &mut parts)? {
            log::debug!("dropping a tool_result block of a type the proxy does not translate");
        }
    }
    let all_text = parts.iter().all(|p| matches!(p, Part::InputText { .. }));
    if all_text {
        let texts: Vec<String> = parts
            .into_iter()
            .filter_map(|p| {
                if let Part::InputText { text } = p {
                    Some(text)
                } else {
                    None
                }
            })
            .collect();
        let joined = texts.join("\n");
        return Ok(Output::Text(if joined.is_empty() {
            format!("{prefix}(no output)")
        } else {
            format!("{prefix}{joined}")
        }));
    }
    if is_error {
        parts.insert(
            0,
            Part::InputText {
                text: "Error:".into(),
            },
        );
    }
    Ok(Output::Parts(parts))
}

/// The backend requires every `function_call` to have a `function_call_output` and vice versa.
/// Claude Code histories can break that (an interrupted tool, a compacted call), so a missing
/// output is filled in after its call and an orphan output becomes plain user text.
fn pair_calls(items: Vec<Item>) -> Vec<Item> {
    let outputs: HashSet<String> = items
        .iter()
        .filter_map(|i| {
            if let Item::FunctionCallOutput { call_id, .. } = i {
                Some(call_id.clone())
            } else {
                None
            }
        })
        .collect();
    let calls: HashSet<String> = items
        .iter()
        .filter_map(|i| {
            if let Item::FunctionCall { call_id, .. } = i {
                Some(call_id.clone())
            } else {
                None
            }
        })
        .collect();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::FunctionCall { ref call_id, .. } if !outputs.contains(call_id) => {
                let call_id = call_id.clone();
                out.push(item);
                out.push(Item::FunctionCallOutput {
                    call_id,
                    output: Output::Text(
                        "The tool call was interrupted; there is no result.".into(),
                    ),
                });
            }
            Item::FunctionCallOutput { call_id, output } if !calls.contains(&call_id) => {
                let text = match output {
                    Output::Text(t) => t,
                    Output::Parts(_) => "(non-text content)".to_owned(),
                };
                out.push(Item::Message {
                    role: "user",
                    content: vec![Part::InputText {
                        text: format!("Result of an earlier tool call {call_id}:\n{text}"),
                    }],
                });
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::ids::encode_signature;

    fn map() -> ModelMap {
        ModelMap {
            thinking: "gpt-5.6-sol".into(),
            big: "gpt-5.6-terra".into(),
            small: "gpt-5.6-luna".into(),
        }
    }

    fn run(json: Value) -> Value {
        let req: Request = serde_json::from_value(json).unwrap();
        let m = map();
        let t = translate(
            &req,
            &Context {
                map: &m,
                models: &[],
                session_header: None,
            },
        )
        .unwrap();
        serde_json::to_value(&t.body).unwrap()
    }

    #[test]
    fn minimal_request() {
        let body = run(
            json!({"model":"claude-sonnet-4-5","max_tokens":100,"temperature":0.5,"stop_sequences":["x"],
            "messages":[{"role":"user","content":"hi"}]}),
        );
        assert_eq!(body["model"], "gpt-5.6-terra");
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
        let ours = encode_signature("gpt-5.6-sol", "ENC");
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
        let req: Request = serde_json::from_value(json!({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]})).unwrap();
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
        let req: Request = serde_json::from_value(json!({"model":"m","messages":[]})).unwrap();
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
}
