//! Token estimate for `count_tokens` and for `message_start`, computed on the translated
//! upstream request (what the model really sees): each text estimated by [`text`], plus what
//! the backend adds per item and charges for images, files and encrypted reasoning.
//! `tests/tokens.rs` checks the estimate against exact counts (README "count_tokens").

use crate::responses::{Item, Output, Part, Request, Summary};

pub use super::o200k::text;

/// Tokens the backend adds around each input item (role markers and separators).
const PER_ITEM: u64 = 4;
/// An image of unknown size: what a 1024×1024 picture costs.
const DEFAULT_IMAGE: u64 = 765;

/// Estimated input tokens of an upstream request.
pub fn estimate(req: &Request) -> u64 {
    count(req, &mut text)
}

/// Input tokens of an upstream request, with `tokens` counting each text the model reads: the
/// instructions, each tool as JSON, message texts, call names and arguments, tool outputs.
/// Role markers, images, files and encrypted reasoning are costed here, so `tests/tokens.rs` can
/// pass an exact tokenizer's counts and check `text` alone against it.
pub fn count(req: &Request, tokens: &mut impl FnMut(&str) -> u64) -> u64 {
    let mut n = req
        .instructions
        .as_deref()
        .map_or(0, |i| tokens(i) + PER_ITEM);
    for tool in req.tools.iter().flatten() {
        n += tokens(&tool.to_string());
    }
    for item in &req.input {
        n += match item {
            // The lite lane's tool list is the same schema text the full lane sends as `tools`.
            Item::AdditionalTools { tools, .. } => {
                tools.iter().map(|t| tokens(&t.to_string())).sum()
            }
            _ => PER_ITEM,
        } + match item {
            Item::AdditionalTools { .. } => 0,
            Item::Message { content, .. } => content.iter().map(|p| part(p, tokens)).sum(),
            Item::FunctionCall {
                name, arguments, ..
            } => tokens(name) + tokens(arguments),
            Item::FunctionCallOutput {
                output: Output::Text(t),
                ..
            } => tokens(t),
            Item::FunctionCallOutput {
                output: Output::Parts(parts),
                ..
            } => parts.iter().map(|p| part(p, tokens)).sum(),
            // Encrypted reasoning is re-read by the model: roughly its plaintext size.
            Item::Reasoning {
                summary,
                encrypted_content,
            } => {
                let s: u64 = summary
                    .iter()
                    .map(|Summary::SummaryText { text: t }| tokens(t))
                    .sum();
                s + encrypted_content.len() as u64 / 8
            }
        };
    }
    n
}

fn part(p: &Part, tokens: &mut impl FnMut(&str) -> u64) -> u64 {
    match p {
        Part::InputText { text: t } | Part::OutputText { text: t } => tokens(t),
        Part::InputImage { image_url } => image(image_url),
        Part::InputFile { file_data, .. } => file_data
            .as_ref()
            .map_or(DEFAULT_IMAGE, |d| d.len() as u64 / 6),
    }
}

/// Image cost from its pixel size when the header is readable (PNG), else a typical size.
/// OpenAI's rule: scale into 2048×2048, shortest side to 768, then 170 per 512-px tile + 85.
fn image(url: &str) -> u64 {
    let Some(b64) = url.strip_prefix("data:image/png;base64,") else {
        return DEFAULT_IMAGE;
    };
    let head = crate::base64::decode(b64.as_bytes(), 24);
    if head.len() < 24 || &head[1..4] != b"PNG" {
        return DEFAULT_IMAGE;
    }
    let w = u32::from_be_bytes([head[16], head[17], head[18], head[19]]) as f64;
    let h = u32::from_be_bytes([head[20], head[21], head[22], head[23]]) as f64;
    if w < 1.0 || h < 1.0 {
        return DEFAULT_IMAGE;
    }
    let fit = (2048.0 / w.max(h)).min(1.0);
    let (w, h) = (w * fit, h * fit);
    let short = (768.0 / w.min(h)).min(1.0);
    let (w, h) = (w * short, h * short);
    85 + 170 * ((w / 512.0).ceil() * (h / 512.0).ceil()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_size_drives_image_cost() {
        // 8×8 PNG header.
        let url = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAA";
        assert_eq!(image(url), 85 + 170);
        assert_eq!(image("https://example.com/a.png"), DEFAULT_IMAGE);
    }
}
