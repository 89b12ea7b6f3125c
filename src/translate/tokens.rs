//! Token estimate for `count_tokens` and for `message_start`, computed on the translated
//! upstream request (what the model really sees). It approximates the `o200k_base` tokenizer
//! with a pre-tokenizer-shaped scan instead of shipping its 3.6 MB vocabulary; `tests/tokens.rs`
//! checks the estimate against exact counts of the Claude Code fixtures (README "count_tokens").

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

/// Estimated tokens of a text. `o200k_base` first cuts text into pre-tokens with a regex (words
/// with the space or mark before them, digit groups of up to three, punctuation runs with their
/// leading space and trailing newlines, whitespace runs), then merges each pre-token's bytes
/// from its vocabulary. This scan finds the same pre-tokens and, without the vocabulary, charges
/// each one its average cost measured with the real tokenizer on the Claude Code fixtures, prose
/// and code (`tests/tokens.rs`).
pub fn text(s: &str) -> u64 {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(b' '); // past the end reads as a blank
    let mut tokens = 0.0;
    let mut i = 0;
    while i < b.len() {
        let (c, start) = (b[i], i);
        if is_letter(c)
            || (matches!(c, b' ' | b'\t') || c.is_ascii_punctuation()) && is_letter(at(i + 1))
        {
            // A word takes the blank or mark before it; a camelCase hump starts a new word.
            i += usize::from(!is_letter(c));
            let first = i;
            i += 1;
            while i < b.len()
                && (is_letter(b[i]) || is_continuation(b[i]))
                && !(b[i].is_ascii_uppercase() && b[i - 1].is_ascii_lowercase())
            {
                i += 1;
            }
            tokens += word(i - first);
        } else if c.is_ascii_digit() {
            i = skip(b, i, |c| c.is_ascii_digit());
            tokens += ((i - start) as f64 / 3.0).ceil();
        } else if is_punct(c) || c == b' ' && is_punct(at(i + 1)) {
            // Common pairs like `("` or `},` are one token; longer runs split about every 2.5
            // characters. Trailing newlines are part of the run.
            i = skip(b, i + 1, is_punct);
            tokens += (0.4 * (chars(&b[start..i]) - 1) as f64).max(1.0);
            i = skip(b, i, |c| c == b'\n' || c == b'\r');
        } else if is_cjk(c) || c == b' ' && is_cjk(at(i + 1)) {
            let first = i + usize::from(c == b' ');
            i = skip(b, first, is_cjk);
            tokens += 0.65 * chars(&b[first..i]) as f64;
        } else {
            // Whitespace: the newlines with the blanks before them are one token, the blanks after
            // the last newline another, except that the last blank before a non-blank is cut off:
            // the next word or mark takes it, or it is a token of its own (next pass).
            i = skip(b, i, |c| c.is_ascii_whitespace());
            let run = &b[start..i];
            let mut blanks = run.len();
            if let Some(last) = run.iter().rposition(|&c| c == b'\n' || c == b'\r') {
                tokens += 1.0;
                blanks -= last + 1;
            }
            if blanks > 0 && i < b.len() && run.len() > 1 {
                i -= 1;
                blanks -= 1;
            }
            if blanks > 0 {
                tokens += 1.0;
            }
        }
    }
    tokens.round() as u64
}

/// A word of `len` bytes, its leading blank or mark not counted. Words of up to three letters
/// are all in the vocabulary; from four, about one in eight is not (names, rare words) and
/// splits in two; past eight letters, long words and compounds split further.
fn word(len: usize) -> f64 {
    match len {
        0..=3 => 1.0,
        4..=8 => 1.125,
        _ => 1.125 + 0.04 * (len - 8) as f64,
    }
}

/// A letter: ASCII, or the first byte of a two-byte character (accented Latin, Greek, Cyrillic,
/// Hebrew, Arabic); the vocabulary has fewer of those merges, so counting bytes costs them more.
fn is_letter(c: u8) -> bool {
    c.is_ascii_alphabetic() || (0xC2..=0xDF).contains(&c)
}

/// First byte of a CJK ideograph, kana or Hangul syllable (U+3000..U+DFFF): o200k reads them
/// as words, at about two tokens for three characters.
fn is_cjk(c: u8) -> bool {
    (0xE3..=0xED).contains(&c)
}

/// Punctuation and symbols, ASCII or not (dashes, arrows, emoji).
fn is_punct(c: u8) -> bool {
    !(c.is_ascii_alphanumeric()
        || c.is_ascii_whitespace()
        || is_letter(c)
        || is_cjk(c)
        || is_continuation(c))
}

fn is_continuation(c: u8) -> bool {
    c & 0xC0 == 0x80
}

/// The end of the run from `i` of bytes matching `class`; a character's continuation bytes
/// stay with it.
fn skip(b: &[u8], mut i: usize, class: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && (class(b[i]) || is_continuation(b[i])) {
        i += 1;
    }
    i
}

/// Characters in a run of UTF-8.
fn chars(b: &[u8]) -> usize {
    b.iter().filter(|&&c| !is_continuation(c)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_estimates_are_within_ten_percent_of_o200k() {
        assert_eq!(text(""), 0);
        assert_eq!(text("Hello"), 1);
        // (text, its exact o200k_base count)
        let prose = "The quick brown fox jumps over the lazy dog. ".repeat(100);
        let cases = [
            ("Hello, world! fn main() { println!(\"hi\"); }", 13),
            (
                r#"{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to read"}},"required":["file_path"]}"#,
                32,
            ),
            (
                "fn main() {\n    let x = vec![1, 2, 3];\n    for i in &x {\n        println!(\"{i}\");\n    }\n}\n",
                33,
            ),
            ("     1\tuse std::io;\n     2\t\n     3\tfn main() {}\n", 19),
            ("人工智能是计算机科学的一个分支，它企图了解智能的实质。", 19),
            ("Москва — столица России.", 6),
            (&prose, 1001),
        ];
        for (s, exact) in cases {
            let n = text(s);
            let head: String = s.chars().take(40).collect();
            assert!(
                n.abs_diff(exact) <= exact.div_ceil(10),
                "{head:?}: {n}, o200k {exact}"
            );
        }
    }

    #[test]
    fn png_size_drives_image_cost() {
        // 8×8 PNG header.
        let url = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAA";
        assert_eq!(image(url), 85 + 170);
        assert_eq!(image("https://example.com/a.png"), DEFAULT_IMAGE);
    }
}
