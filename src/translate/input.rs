//! Anthropic `messages` → the Responses `input` list, in conversation order: texts, images and
//! documents become message parts, `tool_use` / `tool_result` become `function_call` /
//! `function_call_output` items, our thinking signatures become `reasoning` items again, and
//! calls without results (or results without calls) are repaired. Pure.

use std::collections::HashSet;

use super::ids::{ToolNames, decode_signature, upstream_call_id};
use crate::anthropic::{Block, Content, Request, Role, Source};
use crate::error::Error;
use crate::json_text::{Args, Text, Url};
use crate::responses::{Item, Output, Part, Summary};

/// Builds the `input` list, keeping the conversation's order of messages, calls and results.
/// `lite` marks assistant messages with the `phase` the backend gave them: `commentary` for text
/// before a tool call of the same turn, `final_answer` otherwise (upstream.md §9).
pub fn build<'a>(
    req: &'a Request<'a>,
    model: &str,
    lite: bool,
    names: &mut ToolNames,
) -> Result<Vec<Item<'a>>, Error> {
    let mut b = Input {
        items: Vec::with_capacity(req.messages.len() * 2),
        role: "user",
        parts: Vec::new(),
        model,
        phase: None,
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
            Content::Text(t) => {
                b.phase = (lite && role == "assistant").then_some("final_answer");
                b.push_text(t.clone());
            }
            Content::Blocks(blocks) => {
                let last_call = blocks
                    .iter()
                    .rposition(|b| matches!(b, Block::ToolUse { .. }));
                for (j, block) in blocks.iter().enumerate() {
                    // A text's phase is fixed when it is collected; calls flush it.
                    if lite && role == "assistant" && matches!(block, Block::Text { .. }) {
                        b.phase = Some(match last_call {
                            Some(c) if j < c => "commentary",
                            _ => "final_answer",
                        });
                    }
                    b.block(block, names)
                        .map_err(|e| Error::BadRequest(format!("messages.{i}.content.{j}: {e}")))?;
                }
            }
        }
        b.flush();
    }
    Ok(pair_calls(b.items))
}

/// Replaces images with a note, for a model whose entry does not list image input.
pub fn strip_images(items: &mut [Item], model: &str) {
    let note = || Part::InputText {
        text: format!("[an image was omitted: {model} does not accept images]").into(),
    };
    let mut n = 0;
    for item in items {
        let parts = match item {
            Item::Message { content, .. } => content,
            Item::FunctionCallOutput {
                output: Output::Parts(parts),
                ..
            } => parts,
            _ => continue,
        };
        for p in parts.iter_mut() {
            if matches!(p, Part::InputImage { .. }) {
                *p = note();
                n += 1;
            }
        }
    }
    if n > 0 {
        log::info!("{n} image(s) left out: the model list says {model} does not accept images");
    }
}

struct Input<'a, 'm> {
    items: Vec<Item<'a>>,
    role: &'static str,
    parts: Vec<Part<'a>>,
    model: &'m str,
    /// The phase of the assistant text being collected (lite lane only).
    phase: Option<&'static str>,
}

impl<'a> Input<'a, '_> {
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
                phase: if self.role == "assistant" {
                    self.phase
                } else {
                    None
                },
            });
        }
    }

    fn push_text(&mut self, text: Text<'a>) {
        if text.is_empty() {
            return;
        }
        self.parts.push(if self.role == "assistant" {
            Part::OutputText { text }
        } else {
            Part::InputText { text }
        });
    }

    fn block(&mut self, block: &'a Block<'a>, names: &mut ToolNames) -> Result<(), String> {
        match block {
            Block::Text { text } => self.push_text(text.clone()),
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
                self.items.push(Item::FunctionCall {
                    name: names.add(name),
                    arguments: Args(*input),
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
fn input_parts<'a>(block: &'a Block<'a>, out: &mut Vec<Part<'a>>) -> Result<bool, String> {
    let text = |text: String| Part::InputText { text: text.into() };
    match block {
        Block::Text { text: t } if !t.is_empty() => out.push(Part::InputText { text: t.clone() }),
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
                    body.push_str(&t.as_str());
                }
            }
            out.push(text(format!("Search result: {title} ({source}){body}")));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn image<'a>(source: &'a Source<'a>) -> Result<Part<'a>, String> {
    match source.kind.as_str() {
        "base64" => {
            let media = source.media_type.as_deref().unwrap_or("image/png");
            let data = source
                .data
                .clone()
                .ok_or("image source of type base64 needs `data`")?;
            Ok(Part::InputImage {
                image_url: Url::Data {
                    media: media.to_owned(),
                    base64: data.into_str(),
                },
            })
        }
        "url" => {
            let url = source
                .url
                .as_deref()
                .ok_or("image source of type url needs `url`")?;
            Ok(Part::InputImage {
                image_url: Url::Plain(url.to_owned()),
            })
        }
        other => Err(format!(
            "image source type `{other}` is not supported by the proxy (send base64 data or a URL)"
        )),
    }
}

fn document<'a>(source: &'a Source<'a>, title: Option<&str>) -> Result<Vec<Part<'a>>, String> {
    let filename = title.unwrap_or("document.pdf").to_owned();
    match source.kind.as_str() {
        "base64" => {
            let media = source.media_type.as_deref().unwrap_or("application/pdf");
            let data = source
                .data
                .clone()
                .ok_or("document source of type base64 needs `data`")?;
            Ok(vec![Part::InputFile {
                file_data: Some(Url::Data {
                    media: media.to_owned(),
                    base64: data.into_str(),
                }),
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
            let data = source.data.as_ref().map(Text::as_str).unwrap_or_default();
            let text = match title {
                Some(t) => format!("{t}\n\n{data}"),
                None => data.into_owned(),
            };
            Ok(vec![Part::InputText { text: text.into() }])
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
fn tool_output<'a>(content: Option<&'a Content<'a>>, is_error: bool) -> Result<Output<'a>, String> {
    let prefix = if is_error { "Error: " } else { "" };
    let blocks = match content {
        None => {
            return Ok(Output::Text(
                format!("{prefix}(no output)").trim_end().to_owned().into(),
            ));
        }
        // The usual case, a string, passes as it came.
        Some(Content::Text(t)) if !is_error => return Ok(Output::Text(t.clone())),
        Some(Content::Text(t)) => {
            return Ok(Output::Text(format!("{prefix}{}", t.as_str()).into()));
        }
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
        let mut texts: Vec<Text> = parts
            .into_iter()
            .filter_map(|p| {
                if let Part::InputText { text } = p {
                    Some(text)
                } else {
                    None
                }
            })
            .collect();
        // One text block passes as it came.
        if texts.len() == 1 && !is_error {
            return Ok(Output::Text(texts.remove(0)));
        }
        let joined: Vec<std::borrow::Cow<str>> = texts.iter().map(Text::as_str).collect();
        let joined = joined.join("\n");
        return Ok(Output::Text(
            if joined.is_empty() {
                format!("{prefix}(no output)")
            } else {
                format!("{prefix}{joined}")
            }
            .into(),
        ));
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
    let (mut calls, mut outputs) = (HashSet::new(), HashSet::new());
    for item in &items {
        match item {
            Item::FunctionCall { call_id, .. } => calls.insert(call_id.clone()),
            Item::FunctionCallOutput { call_id, .. } => outputs.insert(call_id.clone()),
            _ => false,
        };
    }
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
                let text = match &output {
                    Output::Text(t) => t.as_str(),
                    Output::Parts(_) => "(non-text content)".into(),
                };
                out.push(Item::Message {
                    role: "user",
                    content: vec![Part::InputText {
                        text: format!("Result of an earlier tool call {call_id}:\n{text}").into(),
                    }],
                    phase: None,
                });
            }
            other => out.push(other),
        }
    }
    out
}
