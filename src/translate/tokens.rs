//! Token estimate for `count_tokens` and for `message_start`, computed on the translated
//! upstream request (what the model really sees). It approximates the `o200k_base` tokenizer
//! with a pre-tokenizer-shaped scan instead of shipping its 3.6 MB vocabulary; the estimate is
//! checked against exact counts of the Claude Code fixtures in `tests/` (README "count_tokens").

use crate::responses::{Item, Output, Part, Request, Summary};

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
    let mut n = tokens(&req.instructions) + PER_ITEM;
    for tool in &req.tools {
        n += tokens(&tool.to_string());
    }
    for item in &req.input {
        n += PER_ITEM
            + match item {
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

/// Estimated tokens of a text, shaped after o200k's pre-tokenizer: words (with their leading
/// space), digit groups of up to three, punctuation runs and whitespace runs each become one or
/// more tokens; long words split into pieces; non-ASCII letters cost more.
pub fn text(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut tokens = 0f64;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphabetic()
            || (c == b' ' && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic))
        {
            let start = i;
            i += 1;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let len = (i - start) as f64;
            tokens += if len <= 7.0 { 1.0 } else { (len / 5.5).ceil() };
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            tokens += ((i - start) as f64 / 3.0).ceil();
        } else if c == b'\n' || c == b'\r' {
            while i < b.len() && (b[i] == b'\n' || b[i] == b'\r') {
                i += 1;
            }
            tokens += 1.0;
        } else if c == b' ' || c == b'\t' {
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            tokens += 1.0;
        } else if c < 0x80 {
            let start = i;
            while i < b.len() && b[i] < 0x80 && b[i].is_ascii_punctuation() {
                i += 1;
            }
            tokens += ((i - start) as f64 / 2.0).ceil();
        } else {
            let start = i;
            while i < b.len() && b[i] >= 0x80 {
                i += 1;
            }
            // CJK is about one token per character (3 bytes); accents and symbols cost less.
            tokens += ((i - start) as f64 / 3.0).ceil();
        }
    }
    tokens.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_estimates_are_sane() {
        assert_eq!(text(""), 0);
        assert_eq!(text("Hello"), 1);
        let n = text("Hello, world! fn main() { println!(\"hi\"); }");
        assert!((10..=18).contains(&n), "{n}"); // o200k: 13
        let prose = "The quick brown fox jumps over the lazy dog. ".repeat(100);
        let n = text(&prose);
        assert!((900..=1100).contains(&n), "{n}"); // o200k: 1000
    }

    #[test]
    fn png_size_drives_image_cost() {
        // 8×8 PNG header.
        let url = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAA";
        assert_eq!(image(url), 85 + 170);
        assert_eq!(image("https://example.com/a.png"), DEFAULT_IMAGE);
    }
}
